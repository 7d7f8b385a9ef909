//! One ingest run: inputs read on their own thread, filtered, batched and delivered within
//! the deadline, and a [`Summary`] of what was done and what was left.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::backoff;
use crate::client::{Answer, Client};
use crate::document::Document;
use crate::inputs::{self, InputError};
use crate::progress::Progress;
use crate::state::State;

/// Stack of the reader thread: a LibreChat export nests one level per message.
pub const READER_STACK: usize = 64 << 20;
/// Documents read ahead of the sender: bounds the client's memory, whatever the input.
const READ_AHEAD: usize = 256;
/// Input errors and refusals listed in the summary (all are logged, and all counted).
const LISTED_ERRORS: usize = 50;
/// At most one "waiting as asked" line this often (every wait is counted in `waits`).
const WAIT_LINE_EVERY: Duration = Duration::from_secs(60);
/// How long a stopped run keeps reading to count what it left.
const COUNT_LEFT_FOR: Duration = Duration::from_secs(10);

/// Everything `firebreak ingest` can be told.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// The gateway's base URL.
    pub url: String,
    /// Bearer token with the `ingest:write` scope.
    pub token: Option<String>,
    /// The documents' source name (`librechat`, `wiki`, …).
    pub source: String,
    /// Defaults to `<source>-<UTC time>`.
    pub run_id: Option<String>,
    pub inputs: Vec<PathBuf>,
    /// Where delivered hashes are kept; `None`: nothing is kept between runs.
    pub state: Option<PathBuf>,
    /// The run stops when this has passed, whatever is left.
    pub deadline: Duration,
    /// Documents whose `updated_at` is older are skipped.
    pub since: Option<DateTime<Utc>>,
    /// Most documents per call (the gateway refuses more than its --max-documents-per-ingest).
    pub batch_documents: usize,
    /// Most request bytes per call (the gateway refuses more than its --max-body-bytes).
    pub batch_bytes: usize,
    /// Input files larger than this are skipped.
    pub max_file_bytes: u64,
    /// Each call gives up after this.
    pub request_timeout: Duration,
    /// A live progress line (on a terminal) instead of log lines.
    pub interactive: bool,
}

impl IngestConfig {
    /// Defaults safe against a default gateway: 64 documents and 1 MiB per call, 30 min.
    pub fn new(url: impl Into<String>, source: impl Into<String>, inputs: Vec<PathBuf>) -> Self {
        IngestConfig {
            url: url.into(),
            token: None,
            source: source.into(),
            run_id: None,
            inputs,
            state: None,
            deadline: Duration::from_secs(30 * 60),
            since: None,
            batch_documents: 64,
            batch_bytes: 1 << 20,
            max_file_bytes: 64 << 20,
            request_timeout: Duration::from_secs(30),
            interactive: false,
        }
    }
}

/// Running counts.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    /// Documents read from the inputs.
    pub read: u64,
    /// Stored by the gateway as new or changed.
    pub sent: u64,
    /// Sent, and the gateway already had them.
    pub unchanged: u64,
    /// Not sent: delivered by an earlier run (state file).
    pub skipped_delivered: u64,
    /// Not sent: older than `--since`.
    pub skipped_since: u64,
    /// Inputs that are not documents (named in `errors`).
    pub bad_inputs: u64,
    /// Documents the gateway refused (named in `errors`).
    pub refused: u64,
    /// Documents not delivered because the run stopped early.
    pub left: u64,
    /// Calls the gateway answered "not now" (429/503) or did not answer; each was waited out.
    pub waits: u64,
}

/// What a run did and left.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub run_id: String,
    pub source: String,
    #[serde(flatten)]
    pub counts: Counts,
    /// `left` is a lower bound: counting stopped after a while.
    pub left_at_least: bool,
    /// Why the run stopped before the end of its inputs; `None`: it finished.
    pub stopped: Option<String>,
    pub elapsed_seconds: f64,
    /// Time spent waiting as the gateway asked.
    pub waited_seconds: f64,
    /// The first input errors and refusals, each naming its file (and line) or document.
    pub errors: Vec<String>,
}

impl Summary {
    /// Every input was read and every document delivered, refused or skipped.
    pub fn finished(&self) -> bool {
        self.stopped.is_none()
    }
}

/// Why delivery stopped.
enum Stop {
    Deadline,
    RunExpired(String),
    Fatal(String),
}

enum Read {
    Doc(Box<Document>),
    Bad(InputError),
}

/// A batch and the hashes it will record once delivered.
struct Batch {
    docs: Vec<Document>,
    hashes: Vec<String>,
    bytes: usize,
}

impl Batch {
    fn new() -> Self {
        Batch { docs: Vec::new(), hashes: Vec::new(), bytes: 0 }
    }

    fn split(mut self) -> (Batch, Batch) {
        let at = self.docs.len() / 2;
        let docs = self.docs.split_off(at);
        let hashes = self.hashes.split_off(at);
        (Batch { docs: self.docs, hashes: self.hashes, bytes: self.bytes / 2 }, Batch { docs, hashes, bytes: self.bytes / 2 })
    }
}

struct Runner {
    cfg: IngestConfig,
    run_id: String,
    client: Client,
    state: State,
    deadline: Instant,
    counts: Counts,
    waited: Duration,
    errors: Vec<String>,
    progress: Progress,
    last_wait_line: Option<Instant>,
}

/// Runs one ingest. `Err` only for what no retry can fix (a bad token, an unusable state
/// file); everything else ends in a [`Summary`].
pub async fn run(cfg: IngestConfig) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let state = match &cfg.state {
        Some(p) => State::open(p, &cfg.source)?,
        None => State::ephemeral(&cfg.source),
    };
    let run_id = cfg.run_id.clone().unwrap_or_else(|| format!("{}-{}", cfg.source, Utc::now().format("%Y%m%dT%H%M%SZ")));
    let client = Client::new(&cfg.url, cfg.token.clone(), cfg.request_timeout)?;
    tracing::info!(%run_id, source = %cfg.source, inputs = cfg.inputs.len(), delivered_before = state.len(), deadline_s = cfg.deadline.as_secs(), "ingest run starting");
    let mut r = Runner {
        deadline: started + cfg.deadline,
        progress: Progress::new(cfg.interactive),
        run_id,
        client,
        state,
        counts: Counts::default(),
        waited: Duration::ZERO,
        errors: Vec::new(),
        last_wait_line: None,
        cfg,
    };
    let mut rx = spawn_reader(r.cfg.inputs.clone(), r.cfg.max_file_bytes)?;
    let mut batch = Batch::new();
    let mut stop = None;
    loop {
        let next = tokio::select! {
            next = rx.recv() => next,
            () = tokio::time::sleep_until(r.deadline) => { stop = Some(Stop::Deadline); None }
        };
        let doc = match next {
            None => break,
            Some(Read::Bad(e)) => {
                r.bad(e);
                continue;
            }
            Some(Read::Doc(d)) => *d,
        };
        let Some((doc, hash)) = r.wanted(doc) else { continue };
        let bytes = doc.wire_bytes();
        if !batch.docs.is_empty() && (batch.docs.len() >= r.cfg.batch_documents || batch.bytes + bytes > r.cfg.batch_bytes) {
            let full = std::mem::replace(&mut batch, Batch::new());
            if let Err((s, left)) = r.deliver(full).await {
                r.counts.left += left;
                stop = Some(s);
            }
        }
        batch.docs.push(doc);
        batch.hashes.push(hash);
        batch.bytes += bytes;
        if stop.is_some() {
            break;
        }
        r.progress.update(&r.counts, None);
    }
    if stop.is_none() && !batch.docs.is_empty() {
        if let Err((s, left)) = r.deliver(std::mem::replace(&mut batch, Batch::new())).await {
            r.counts.left += left;
            stop = Some(s);
        }
    }
    r.counts.left += batch.docs.len() as u64;
    let mut left_at_least = false;
    if stop.is_some() {
        left_at_least = r.count_left(&mut rx).await;
    }
    drop(rx);
    r.progress.finish();
    r.state.compact()?;
    let stopped = match stop {
        None => None,
        Some(Stop::Deadline) => Some(format!("the deadline of {} s was reached (--deadline)", r.cfg.deadline.as_secs())),
        Some(Stop::RunExpired(why)) => Some(format!("the gateway ended the run: {why}")),
        Some(Stop::Fatal(why)) => anyhow::bail!("the gateway refuses this client: {why}"),
    };
    let summary = Summary {
        run_id: r.run_id,
        source: r.cfg.source,
        counts: r.counts,
        left_at_least,
        stopped,
        elapsed_seconds: started.elapsed().as_secs_f64(),
        waited_seconds: r.waited.as_secs_f64(),
        errors: r.errors,
    };
    tracing::info!(run_id = %summary.run_id, finished = summary.finished(), sent = summary.counts.sent, left = summary.counts.left, "ingest run over");
    Ok(summary)
}

/// Reads the inputs on a thread of its own, a bounded channel ahead of the sender.
fn spawn_reader(paths: Vec<PathBuf>, max_file_bytes: u64) -> anyhow::Result<mpsc::Receiver<Read>> {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    std::thread::Builder::new().name("ingest-reader".into()).stack_size(READER_STACK).spawn(move || {
        let (files, errors) = inputs::discover(&paths);
        for e in errors {
            if tx.blocking_send(Read::Bad(e)).is_err() {
                return;
            }
        }
        for f in &files {
            for item in inputs::read(f, max_file_bytes) {
                let msg = match item {
                    Ok(d) => Read::Doc(Box::new(d)),
                    Err(e) => Read::Bad(e),
                };
                if tx.blocking_send(msg).is_err() {
                    return; // the run stopped
                }
            }
        }
    })?;
    Ok(rx)
}

/// Halves a batch the gateway refused as a whole, until the culprit stands alone.
fn split(b: Batch, why: &str, work: &mut Vec<Batch>) {
    tracing::debug!(documents = b.docs.len(), %why, "batch refused as a whole: splitting it");
    let (first, second) = b.split();
    work.push(second);
    work.push(first);
}

impl Runner {
    fn note(&mut self, error: String) {
        if self.errors.len() < LISTED_ERRORS {
            self.errors.push(error);
        }
    }

    fn bad(&mut self, e: InputError) {
        tracing::warn!(file = %e.file.display(), line = e.line, detail = %e.detail, "input skipped");
        self.counts.bad_inputs += 1;
        self.note(e.to_string());
    }

    /// The document and its hash, unless it is older than `--since` or was delivered before.
    fn wanted(&mut self, doc: Document) -> Option<(Document, String)> {
        self.counts.read += 1;
        if let (Some(since), Some(t)) = (self.cfg.since, doc.updated_at) {
            if t < since {
                self.counts.skipped_since += 1;
                return None;
            }
        }
        let hash = doc.content_hash();
        if self.state.delivered(&doc.id, &hash) {
            self.counts.skipped_delivered += 1;
            return None;
        }
        Some((doc, hash))
    }

    /// Delivers `batch`, split as the gateway requires, waiting as it asks. On a stop,
    /// returns why and how many documents of the batch were not delivered.
    async fn deliver(&mut self, batch: Batch) -> Result<(), (Stop, u64)> {
        let mut work = vec![batch];
        while let Some(b) = work.pop() {
            if let Err(stop) = self.deliver_one(b, &mut work).await {
                return Err((stop, work.iter().map(|b| b.docs.len() as u64).sum()));
            }
        }
        Ok(())
    }

    /// One batch until it is stored, split (pushed onto `work`), or the run stops; on a
    /// stop the batch goes back onto `work`, so it is counted as left.
    async fn deliver_one(&mut self, b: Batch, work: &mut Vec<Batch>) -> Result<(), Stop> {
        let mut attempt = 0u32;
        loop {
            if Instant::now() >= self.deadline {
                work.push(b);
                return Err(Stop::Deadline);
            }
            let answer = match tokio::time::timeout_at(self.deadline, self.client.send(&self.cfg.source, &self.run_id, &b.docs)).await {
                Ok(a) => a,
                Err(_) => {
                    work.push(b);
                    return Err(Stop::Deadline);
                }
            };
            let wait = match answer {
                Answer::Stored(s) => {
                    self.state.record(b.docs.iter().map(|d| d.id.as_str()).zip(b.hashes.iter().map(String::as_str))).map_err(|e| Stop::Fatal(format!("{e:#}")))?;
                    self.counts.sent += s.accepted;
                    self.counts.unchanged += s.unchanged;
                    return Ok(());
                }
                Answer::Wait { after, why } => (after.map(backoff::honour).unwrap_or_else(|| backoff::blind(attempt)), why),
                Answer::Unreachable(why) => (backoff::blind(attempt), why),
                Answer::TooLarge(why) if b.docs.len() > 1 => {
                    // Later batches start no bigger than what the gateway took as too big.
                    self.cfg.batch_documents = (b.docs.len() / 2).max(1);
                    self.cfg.batch_bytes = (b.bytes / 2).max(1);
                    split(b, &why, work);
                    return Ok(());
                }
                Answer::Refused(why) if b.docs.len() > 1 => {
                    split(b, &why, work);
                    return Ok(());
                }
                Answer::TooLarge(why) | Answer::Refused(why) => {
                    let id = &b.docs[0].id;
                    tracing::warn!(document = %id, %why, "document refused by the gateway");
                    self.counts.refused += 1;
                    let line = format!("document {id:?}: {why}");
                    self.note(line);
                    return Ok(());
                }
                Answer::RunExpired(why) => {
                    work.push(b);
                    return Err(Stop::RunExpired(why));
                }
                Answer::Fatal(why) => {
                    work.push(b);
                    return Err(Stop::Fatal(why));
                }
            };
            let (wait, why) = wait;
            self.counts.waits += 1;
            let wait = wait.min(self.deadline.saturating_duration_since(Instant::now()));
            // A long throttle means a wait every second or so: one line a minute says it.
            if self.last_wait_line.is_none_or(|t| t.elapsed() >= WAIT_LINE_EVERY) {
                self.last_wait_line = Some(Instant::now());
                tracing::info!(retry_in_ms = wait.as_millis() as u64, attempt, waits_so_far = self.counts.waits, %why, "gateway busy: waiting as asked");
            } else {
                tracing::debug!(retry_in_ms = wait.as_millis() as u64, attempt, %why, "gateway busy: waiting as asked");
            }
            self.progress.update(&self.counts, Some(&why));
            tokio::time::sleep(wait).await;
            self.waited += wait;
            attempt += 1;
        }
    }

    /// After a stop: keeps reading for a while to count what is left to send; whether the
    /// count is only a lower bound.
    async fn count_left(&mut self, rx: &mut mpsc::Receiver<Read>) -> bool {
        let until = Instant::now() + COUNT_LEFT_FOR;
        loop {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Err(_) => return true,
                Ok(None) => return false,
                Ok(Some(Read::Bad(e))) => self.bad(e),
                Ok(Some(Read::Doc(d))) => {
                    if self.wanted(*d).is_some() {
                        self.counts.left += 1;
                    }
                }
            }
        }
    }
}
