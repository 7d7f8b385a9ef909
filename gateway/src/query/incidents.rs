//! Past incidents by id, listed, and the notes people add to them ("what fixed it"): what
//! the REST routes under `/v1/incidents` and the MCP tools `get_incident` and `add_note`
//! share, so that the surfaces stay adapters and never reach the store themselves.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Notify;

use crate::clock::now_millis;
use crate::pipeline::store::{Incident, IncidentQuery, IncidentSummary, Note, SqlStore, StoreError};

/// Occurrences of the same alert listed with an incident.
const HISTORY: usize = 50;

/// One incident with its notes and the other occurrences of the same alert.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: Incident,
    /// Other occurrences of the same alert (same fingerprint), newest first, at most 50.
    pub history: Vec<IncidentSummary>,
}

/// Why a note was not added.
#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    #[error("a note needs text")]
    Empty,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The incident service.
pub struct Incidents {
    store: Arc<dyn SqlStore>,
    /// Rung after a note is stored: the note's re-embedding job is picked up at once.
    wake: Arc<Notify>,
}

impl Incidents {
    pub fn new(store: Arc<dyn SqlStore>, wake: Arc<Notify>) -> Self {
        Incidents { store, wake }
    }

    /// Occurrences matching the filters, newest first.
    pub async fn list(&self, q: &IncidentQuery) -> Result<Vec<IncidentSummary>, StoreError> {
        self.store.list_incidents(q).await
    }

    /// One incident with its notes and history, or `None` when there is no such id.
    pub async fn get(&self, id: i64) -> Result<Option<IncidentDetail>, StoreError> {
        let Some(incident) = self.store.incident(id).await? else { return Ok(None) };
        let mut history = self.store.occurrences(&incident.head.fingerprint, HISTORY + 1).await?;
        history.retain(|o| o.head.id != id);
        history.truncate(HISTORY);
        Ok(Some(IncidentDetail { incident, history }))
    }

    /// Stores a note by `source` (the authenticated caller) with its re-embedding job: once
    /// this returns, later searches will find the fix.
    pub async fn add_note(&self, source: &str, id: i64, author: Option<&str>, text: &str) -> Result<Note, NoteError> {
        if firebreak_intake::blank::is_blank(text) {
            return Err(NoteError::Empty);
        }
        let note = self.store.add_note(source, id, author, text, now_millis()).await?;
        self.wake.notify_one();
        Ok(note)
    }
}
