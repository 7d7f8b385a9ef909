//! A private Qdrant server for the replicas scenario: the real server binary (no registry
//! ships one; docs/benchmarks.md, "Qdrant server", says how it was built here), on free
//! loopback ports with its storage in a scratch directory, so the scenario may stop it and
//! start it again on the same storage without touching anyone else's. Removed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// One server: its binary, storage and ports.
pub struct Qdrant {
    bin: PathBuf,
    dir: tempfile::TempDir,
    http_port: u16,
    grpc_port: u16,
    child: Option<Child>,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Qdrant {
    /// Starts `bin` on fresh storage and free ports, waiting until it is ready.
    pub async fn start(bin: PathBuf) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("firebreak-qdrant-").tempdir()?;
        let mut q = Qdrant { bin, dir, http_port: free_port()?, grpc_port: free_port()?, child: None };
        q.resume().await?;
        Ok(q)
    }

    /// The gateway's `--qdrant-url` (gRPC).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// Starts the server again on the same storage and ports, waiting (up to a minute)
    /// until `/readyz` answers.
    pub async fn resume(&mut self) -> anyhow::Result<()> {
        let storage = self.dir.path().join("storage");
        let log = std::fs::File::create(self.dir.path().join("qdrant.log"))?;
        let child = Command::new(&self.bin)
            .current_dir(self.dir.path())
            .env("QDRANT__SERVICE__HOST", "127.0.0.1")
            .env("QDRANT__SERVICE__HTTP_PORT", self.http_port.to_string())
            .env("QDRANT__SERVICE__GRPC_PORT", self.grpc_port.to_string())
            .env("QDRANT__STORAGE__STORAGE_PATH", &storage)
            .env("QDRANT__STORAGE__SNAPSHOTS_PATH", storage.join("snapshots"))
            .env("QDRANT__TELEMETRY_DISABLED", "true")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.child = Some(child);
        let ready = format!("http://127.0.0.1:{}/readyz", self.http_port);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            if http.get(&ready).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let log = std::fs::read_to_string(self.dir.path().join("qdrant.log")).unwrap_or_default();
        bail!("Qdrant did not become ready within 60 s:\n{}", log.lines().rev().take(30).collect::<Vec<_>>().join("\n"))
    }

    /// SIGKILL: the server is gone at once, as when its node fails (its storage stays).
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }

    /// `qdrant --version`, for the report.
    pub fn version(&self) -> String {
        Command::new(&self.bin)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|e| format!("unknown ({e})"))
    }
}

impl Drop for Qdrant {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}
