//! A private PostgreSQL cluster for the dependency drill: a real server the drill may stop
//! and start again without touching any database someone else uses. Created with
//! `initdb` in a scratch directory, listening on a free loopback port and a socket in
//! that directory; removed when dropped. Run as root, the server runs as `postgres`
//! (PostgreSQL refuses root), the way Debian's packages run it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// One cluster: its binaries, data and port.
pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Running as root: every command runs as `postgres` through `runuser`.
    as_postgres: bool,
    running: bool,
}

/// The directory holding `initdb` and `pg_ctl`: `given`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian), else whatever is on the PATH.
pub fn find_bin(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").is_file())
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Ok(bin);
    }
    let which = Command::new("sh").args(["-c", "command -v initdb"]).output()?;
    let path = String::from_utf8_lossy(&which.stdout).trim().to_owned();
    match Path::new(&path).parent() {
        Some(dir) if which.status.success() && !path.is_empty() => Ok(dir.to_path_buf()),
        _ => bail!("no PostgreSQL server binaries (initdb, pg_ctl): install postgresql or pass --pg-bin"),
    }
}

impl Cluster {
    /// `initdb` in a fresh directory, on a free port; not started yet.
    pub fn init(bin: PathBuf) -> anyhow::Result<Self> {
        let as_postgres = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
        let dir = tempfile::Builder::new().prefix("firebreak-pg-").tempdir()?;
        if as_postgres {
            run(Command::new("chown").arg("postgres").arg(dir.path()))?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let c = Cluster { bin, dir, port, as_postgres, running: false };
        let data = c.data();
        c.pg("initdb", &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"])?;
        Ok(c)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Runs the cluster binary `tool` with `args`, as `postgres` when we are root.
    fn pg(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        run(cmd.args(args).current_dir(self.dir.path()))
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    pub fn start(&mut self) -> anyhow::Result<()> {
        let (data, dir) = (self.data(), self.dir.path().display().to_string());
        let opts = format!("-p {} -k {dir} -c listen_addresses=127.0.0.1", self.port);
        let log = self.dir.path().join("log").display().to_string();
        self.pg("pg_ctl", &["-D", &data, "-o", &opts, "-l", &log, "-w", "start"])?;
        self.running = true;
        Ok(())
    }

    /// `pg_ctl stop -m fast`: sessions are cut, as in a failover or a node drain.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let data = self.data();
        self.pg("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"])?;
        self.running = false;
        Ok(())
    }

    /// Runs `sql` with `psql` and returns its rows, one a line, fields tab-separated: the
    /// scenarios read the outbox's own columns (leases, attempts) with it.
    pub fn query(&self, sql: &str) -> anyhow::Result<String> {
        let port = self.port.to_string();
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-d", "postgres", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .context("running psql")?;
        if !out.status.success() {
            bail!("psql {sql:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The gateway's `--database-url`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let data = self.data();
            let _ = self.pg("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        }
    }
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!("{:?} failed ({}): {}{}", cmd, out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}
