//! The pure half of Firebreak's intake: the payloads clients send (Alertmanager webhooks,
//! ingest batches, searches), the checks that accept or refuse them, an alert read as
//! text, and long texts cut to the model's size.
//!
//! Hostile input reaches these functions before any other guard can help, so they live in
//! a crate of their own with no I/O and few dependencies: the gateway calls them, and the
//! fuzz targets in `fuzz/` drive them with arbitrary bytes without building the model,
//! the index or the database drivers.

pub mod alert_text;
pub mod alertmanager;
pub mod blank;
pub mod chat_task;
pub mod chunking;
pub mod ingest;
pub mod kind;
pub mod length;
pub mod number;
pub mod question;
pub mod rejection;
pub mod search;
pub mod shape;
pub mod time;
pub mod tools;

pub use rejection::{Rejection, Status};
