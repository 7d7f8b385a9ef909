//! A bulk chat export, as big as the scenario asks, sent by the real ingest client
//! (`firebreak_ingest`): the seed incident's CronJob, done right.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use firebreak_ingest::{IngestConfig, Summary};

const TOPICS: &[&str] = &[
    "the backup job ran long and the NFS mount went read-only",
    "photos app thumbnails failed after the GPU driver update",
    "mail delivery was delayed while the spam filter reloaded its rules",
    "the ingress controller returned 502 for a minute during the rollout",
    "a certificate expired on the internal registry",
    "DNS lookups were slow because the upstream resolver timed out",
    "the database connection pool was exhausted by a reporting query",
    "a node ran out of inodes in /var/lib/containerd",
];

/// The text of document `i`: also what the capacity probe embeds, so the load is sized
/// to the embedder's rate on texts like these.
pub fn document_text(i: usize) -> String {
    let a = TOPICS[i % TOPICS.len()];
    let b = TOPICS[(i / TOPICS.len() + 3) % TOPICS.len()];
    format!("User: yesterday {a}. Is it related to when {b}?\nAssistant: Probably not; conversation {i} has the logs. Check the events first.")
}

/// Writes `documents` chat-like documents as JSON Lines under `dir`.
pub fn export(dir: &Path, documents: usize) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("chat-export.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
    for i in 0..documents {
        let text = document_text(i);
        serde_json::to_writer(&mut f, &serde_json::json!({"id": format!("chat-{i}"), "text": text, "title": format!("chat {i}")}))?;
        f.write_all(b"\n")?;
    }
    f.flush()?;
    Ok(path)
}

/// Sends `input` with the ingest client; its deadline bounds the run.
pub async fn send(url: String, token: String, input: PathBuf, deadline: Duration) -> anyhow::Result<Summary> {
    let mut cfg = IngestConfig::new(url, "chat", vec![input]);
    cfg.token = Some(token);
    cfg.deadline = deadline;
    firebreak_ingest::run(cfg).await
}
