//! What this client has already delivered: the content hash of each document the gateway
//! acknowledged, so the next run sends only what is new or changed, and a run cut short
//! (deadline, kill, node drain) resumes where it stopped instead of starting over.
//!
//! The file is JSON Lines, appended and synced after every acknowledged batch (a rewrite
//! per batch would cost the whole file each time) and compacted when the run ends. A
//! line half-written by a kill is ignored: its batch is sent again, and the gateway,
//! which keys documents by content, takes it as unchanged.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Header {
    firebreak_ingest_state: u32,
    source: String,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    id: String,
    hash: String,
}

/// Delivered documents by id, and the file that keeps them (none: this run only).
#[derive(Debug)]
pub struct State {
    sent: HashMap<String, String>,
    file: Option<(PathBuf, File)>,
    source: String,
}

impl State {
    /// A state that is not kept: every document is offered to the gateway, which still
    /// skips unchanged ones, at the cost of sending them.
    pub fn ephemeral(source: &str) -> Self {
        State { sent: HashMap::new(), file: None, source: source.to_owned() }
    }

    /// Opens (or creates) the state file of `source` at `path`.
    pub fn open(path: &Path, source: &str) -> anyhow::Result<Self> {
        let mut sent = HashMap::new();
        if path.exists() {
            let f = File::open(path).with_context(|| format!("reading state file {}", path.display()))?;
            let mut lines = BufReader::new(f).lines();
            let header: Header = match lines.next() {
                Some(l) => serde_json::from_str(&l?).with_context(|| format!("{}: not a firebreak ingest state file", path.display()))?,
                None => Header { firebreak_ingest_state: 1, source: source.to_owned() },
            };
            if header.source != source {
                bail!("{} holds the state of source {:?}, not {source:?}: give each source its own --state file", path.display(), header.source);
            }
            let mut torn = 0;
            for line in lines {
                match serde_json::from_str::<Entry>(&line?) {
                    Ok(e) => {
                        sent.insert(e.id, e.hash);
                    }
                    Err(_) => torn += 1,
                }
            }
            if torn > 0 {
                tracing::warn!(state = %path.display(), lines = torn, "ignoring unreadable state lines (a run was killed mid-write); their documents are sent again");
            }
        }
        let mut state = State { sent, file: None, source: source.to_owned() };
        state.rewrite(path)?;
        Ok(state)
    }

    /// Whether the gateway already acknowledged this version of document `id`.
    pub fn delivered(&self, id: &str, hash: &str) -> bool {
        self.sent.get(id).is_some_and(|h| h == hash)
    }

    /// Documents known delivered.
    pub fn len(&self) -> usize {
        self.sent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }

    /// Records an acknowledged batch, synced to disk before it returns.
    pub fn record<'a>(&mut self, delivered: impl IntoIterator<Item = (&'a str, &'a str)>) -> anyhow::Result<()> {
        let mut lines = Vec::new();
        for (id, hash) in delivered {
            self.sent.insert(id.to_owned(), hash.to_owned());
            serde_json::to_writer(&mut lines, &Entry { id: id.to_owned(), hash: hash.to_owned() })?;
            lines.push(b'\n');
        }
        if let Some((path, f)) = self.file.as_mut() {
            f.write_all(&lines).and_then(|()| f.sync_data()).with_context(|| format!("writing state file {}", path.display()))?;
        }
        Ok(())
    }

    /// Rewrites the file with one line per document (at the end of a run).
    pub fn compact(&mut self) -> anyhow::Result<()> {
        match self.file.take() {
            Some((path, _)) => self.rewrite(&path),
            None => Ok(()),
        }
    }

    /// Writes the whole state to a new file and moves it over `path`, so a crash leaves
    /// either the old file or the new one.
    fn rewrite(&mut self, path: &Path) -> anyhow::Result<()> {
        let tmp = path.with_extension("tmp");
        let ctx = || format!("writing state file {}", tmp.display());
        let mut out = Vec::with_capacity(self.sent.len() * 64);
        serde_json::to_writer(&mut out, &Header { firebreak_ingest_state: 1, source: self.source.clone() })?;
        out.push(b'\n');
        let mut ids: Vec<_> = self.sent.iter().collect();
        ids.sort();
        for (id, hash) in ids {
            serde_json::to_writer(&mut out, &Entry { id: id.clone(), hash: hash.clone() })?;
            out.push(b'\n');
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut f = File::create(&tmp).with_context(ctx)?;
        f.write_all(&out).and_then(|()| f.sync_all()).with_context(ctx)?;
        std::fs::rename(&tmp, path).with_context(|| format!("replacing state file {}", path.display()))?;
        let f = OpenOptions::new().append(true).open(path).with_context(|| format!("opening state file {}", path.display()))?;
        self.file = Some((path.to_owned(), f));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_restarts_and_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/state.jsonl");
        let mut s = State::open(&path, "chat").unwrap();
        s.record([("a", "h1"), ("b", "h2")]).unwrap();
        s.record([("a", "h3")]).unwrap();
        drop(s);
        // A kill mid-write leaves half a line.
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"id\":\"c\",\"ha").unwrap();
        let mut s = State::open(&path, "chat").unwrap();
        assert!(s.delivered("a", "h3") && !s.delivered("a", "h1") && s.delivered("b", "h2"));
        assert_eq!(s.len(), 2);
        s.compact().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
        assert!(State::open(&path, "wiki").unwrap_err().to_string().contains("holds the state of source \"chat\""));
    }
}
