//! `firebreak ingest`: the CronJob client that replaces the seed incident's runaway job.
//!
//! A run reads its inputs on a thread of its own ([`inputs`]: LibreChat exports, JSON
//! Lines, Markdown and text files, RSS and Atom feeds), drops what the gateway already has
//! ([`state`]: content hashes of what was sent, kept in a small append-only file, and
//! `--since`), and sends the rest in batches ([`client`]) that honour the gateway's
//! `Retry-After` with jitter ([`backoff`]). It stops at its deadline whatever happens,
//! says what it did and what it left ([`run::Summary`]), and one bad document never stops
//! it: it is reported with its file and line, and skipped.

pub mod backoff;
pub mod client;
pub mod document;
pub mod duration;
pub mod inputs;
pub mod progress;
pub mod run;
pub mod state;

pub use document::Document;
pub use run::{run, IngestConfig, Summary};
