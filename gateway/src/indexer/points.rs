//! From a job to the points that index it: which text, which payload.

use crate::index::point_id::point_id;
use crate::index::{IndexPoint, Keywords, PointPayload};
use crate::render;
use crate::store::{Job, JobKind, SqlStore, StoreResult};

/// A job's item, rendered for embedding, with the payload every chunk shares.
pub(crate) struct Item {
    pub text: String,
    pub payload: PointPayload,
}

/// Reads the job's item back from the store (`None` if it is gone).
pub(crate) async fn load(store: &dyn SqlStore, job: &Job) -> StoreResult<Option<Item>> {
    Ok(match job.kind {
        JobKind::Incident => store.incident(job.target_id).await?.map(|i| {
            let summary = i.annotations.get("summary").and_then(|v| v.as_str()).map(str::to_owned);
            Item {
                text: render::incident(&i),
                payload: PointPayload {
                    kind: JobKind::Incident,
                    target_id: i.head.id,
                    chunk: 0,
                    source: "alertmanager".into(),
                    namespace: i.head.namespace.clone(),
                    alertname: Some(i.head.alertname.clone()),
                    severity: i.head.severity.clone(),
                    time: i.head.starts_at,
                    title: Some(summary.unwrap_or_else(|| i.head.alertname.clone())),
                    text: String::new(),
                },
            }
        }),
        JobKind::Document => store.document(job.target_id).await?.map(|d| Item {
            text: render::document(&d),
            payload: PointPayload {
                kind: JobKind::Document,
                target_id: d.id,
                chunk: 0,
                source: d.source.clone(),
                namespace: d.metadata.get("namespace").and_then(|v| v.as_str()).map(str::to_owned),
                alertname: d.metadata.get("alertname").and_then(|v| v.as_str()).map(str::to_owned),
                severity: None,
                time: d.time,
                title: d.title.clone(),
                text: String::new(),
            },
        }),
    })
}

/// One point per chunk, under deterministic ids.
pub(crate) fn build(job: &Job, item: &Item, chunks: Vec<String>, vectors: Vec<Vec<f32>>, keywords: &Keywords) -> Vec<IndexPoint> {
    chunks
        .into_iter()
        .zip(vectors)
        .enumerate()
        .map(|(n, (text, dense))| IndexPoint {
            id: point_id(job.kind, job.target_id, n as u32),
            dense,
            keywords: keywords.document(&text),
            payload: PointPayload { chunk: n as u32, text, ..item.payload.clone() },
        })
        .collect()
}
