//! A real `firebreak serve` (or `firebreak-embedder serve`) as a child process: started on
//! an ephemeral loopback port with the flags a scenario chooses, its log kept (the tail
//! goes into failure messages), stopped with SIGTERM, killed with SIGKILL, frozen with
//! SIGSTOP, restarted on the same data directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Where the binary is and what every start shares.
#[derive(Debug, Clone)]
pub struct Launch {
    pub binary: PathBuf,
    pub model_dir: PathBuf,
    pub data_dir: PathBuf,
    /// Flags of this scenario (guards, budgets, database).
    pub args: Vec<String>,
    /// `127.0.0.1:0` for a fresh port; a drill that restarts the server reuses the old one,
    /// so clients find it again where they left it.
    pub listen: String,
}

impl Launch {
    pub fn new(binary: PathBuf, model_dir: PathBuf, data_dir: PathBuf, args: Vec<String>) -> Self {
        Launch { binary, model_dir, data_dir, args, listen: "127.0.0.1:0".into() }
    }
}

/// A running gateway process.
pub struct Server {
    child: Child,
    /// The program, for messages.
    what: String,
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `firebreak serve` and waits (up to a minute) until it listens.
    pub fn start(launch: &Launch) -> anyhow::Result<Server> {
        let mut cmd = Command::new(&launch.binary);
        cmd.arg("serve")
            .arg("--listen")
            .arg(&launch.listen)
            .arg("--data-dir")
            .arg(&launch.data_dir)
            .arg("--model")
            .arg(&launch.model_dir)
            .args(&launch.args);
        Self::spawn(cmd, "firebreak serving", "listen=")
    }

    /// Starts `firebreak-embedder serve` on a fresh loopback port with `cpu_threads`
    /// inference threads: the embedder of the GPU node, as the gateway reaches it remotely.
    pub fn embedder(binary: &Path, model_dir: &Path, cpu_threads: usize) -> anyhow::Result<Server> {
        let mut cmd = Command::new(binary);
        cmd.arg("serve").arg("--listen").arg("127.0.0.1:0").arg("--model").arg(model_dir).arg("--cpu-threads").arg(cpu_threads.to_string());
        Self::spawn(cmd, "serving /v1/embeddings", "listen=")
    }

    /// Runs `cmd` and waits until it logs a line with `ready` and its address after
    /// `addr_key` (`listen=`; Prometheus' and Alertmanager's `address=`).
    pub fn spawn(mut cmd: Command, ready: &'static str, addr_key: &'static str) -> anyhow::Result<Server> {
        let what = cmd.get_program().to_string_lossy().into_owned();
        let mut child = cmd
            .env("FIREBREAK_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {what}"))?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().context("no stderr")?;
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split(addr_key).nth(1).filter(|_| line.contains(ready)) {
                    let _ = tx.send(addr.split_whitespace().next().unwrap_or("").trim_matches('"').to_owned());
                }
                let mut l = sink.lock().unwrap_or_else(|p| p.into_inner());
                l.push(line);
                // Keep the tail only: a storm logs a lot.
                if l.len() > 4000 {
                    l.drain(..2000);
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => Ok(Server { child, what, url: format!("http://{addr}"), log }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("{what} did not start:\n{}", log.lock().unwrap_or_else(|p| p.into_inner()).join("\n"))
            }
        }
    }

    /// The address it listens on (`127.0.0.1:PORT`).
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last `n` log lines.
    pub fn log_tail(&self, n: usize) -> String {
        let l = self.log.lock().unwrap_or_else(|p| p.into_inner());
        l[l.len().saturating_sub(n)..].join("\n")
    }

    /// Log lines containing `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|l| l.contains(needle)).count()
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM`) to the process.
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let st = Command::new("kill").args([&format!("-{signal}"), &self.child.id().to_string()]).status()?;
        anyhow::ensure!(st.success(), "kill -{signal} {} failed: {st}", self.child.id());
        Ok(())
    }

    /// SIGTERM, and a clean exit within 30 s.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.signal("TERM")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self.child.try_wait()? {
                if !st.success() {
                    bail!("{} exited with {st}:\n{}", self.what, self.log_tail(40));
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} did not stop within 30 s of SIGTERM:\n{}", self.what, self.log_tail(40));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary `name` next to this one (they come from the same `cargo build`), else `name`
/// on the PATH.
pub fn sibling_binary(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// The model fetched by scripts/fetch-model.sh, relative to the repository.
pub fn default_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/all-MiniLM-L6-v2")
}
