//! From a job to the points that index it: which texts, which payload.
//!
//! Every item is indexed by its text, one point per chunk (field `text`). An incident is
//! also indexed by its cause (field `cause`, one more point after the chunks): the
//! description beyond its alert's template, learnt from the other incidents of the same
//! alertname, without instance names; and by its notes (field `notes`, the point after
//! that, once there are any): what fixed it ([`crate::analysis`]). Alert queries rank
//! incidents by those two fields; the text field serves free-text questions and
//! everything else. Every field's keyword vector includes the glossary concepts its text
//! mentions.

use crate::analysis::{cause_text, notes_text, Glossary, Template, DESCRIBING};
use crate::pipeline::index::point_id::point_id;
use crate::pipeline::index::{Field, IndexPoint, Keywords, PointPayload};
use crate::pipeline::render;
use crate::pipeline::store::{Incident, Job, JobKind, SqlStore, StoreResult};

/// Other incidents of an alertname its template is learnt from: enough to tell
/// boilerplate from chance, few enough that indexing stays one small query.
pub(crate) const TEMPLATE_SIBLINGS: usize = 20;

/// A job's item, rendered for embedding, with the payload every point shares.
pub(crate) struct Item {
    pub text: String,
    /// An incident's cause text, when it has one.
    pub cause: Option<String>,
    /// An incident's notes, when it has any.
    pub notes: Option<String>,
    pub payload: PointPayload,
}

/// The first describing annotation of a JSON annotation object.
pub(crate) fn description(annotations: &serde_json::Value) -> &str {
    DESCRIBING.iter().find_map(|k| annotations.get(*k).and_then(|v| v.as_str())).unwrap_or("")
}

/// The template of an incident's alertname, from the store's history of it.
pub(crate) async fn template_for(store: &dyn SqlStore, alertname: &str, fingerprint: &str) -> StoreResult<Template> {
    let siblings = store.alert_siblings(alertname, fingerprint, TEMPLATE_SIBLINGS).await?;
    let descriptions: Vec<&str> =
        siblings.iter().filter_map(|a| DESCRIBING.iter().find_map(|k| a.get(*k).map(String::as_str))).collect();
    Ok(Template::learn(&descriptions))
}

fn non_empty(text: String) -> Option<String> {
    (!text.trim().is_empty()).then_some(text)
}

async fn incident_cause(store: &dyn SqlStore, i: &Incident) -> StoreResult<Option<String>> {
    let template = template_for(store, &i.head.alertname, &i.head.fingerprint).await?;
    Ok(non_empty(cause_text(description(&i.annotations), &template)))
}

/// Reads the job's item back from the store (`None` if it is gone).
pub(crate) async fn load(store: &dyn SqlStore, job: &Job) -> StoreResult<Option<Item>> {
    Ok(match job.kind {
        JobKind::Incident => match store.incident(job.target_id).await? {
            None => None,
            Some(i) => {
                let cause = incident_cause(store, &i).await?;
                let summary = i.annotations.get("summary").and_then(|v| v.as_str()).map(str::to_owned);
                Some(Item {
                    text: render::incident(&i),
                    cause,
                    notes: non_empty(notes_text(i.notes.iter().map(|n| n.text.as_str()))),
                    payload: PointPayload {
                        kind: JobKind::Incident,
                        target_id: i.head.id,
                        chunk: 0,
                        field: Field::Text,
                        source: "alertmanager".into(),
                        namespace: i.head.namespace.clone(),
                        alertname: Some(i.head.alertname.clone()),
                        severity: i.head.severity.clone(),
                        time: i.head.starts_at,
                        title: Some(summary.unwrap_or_else(|| i.head.alertname.clone())),
                        text: String::new(),
                        keyword_only: false,
                    },
                })
            }
        },
        JobKind::Document => store.document(job.target_id).await?.map(|d| Item {
            text: render::document(&d),
            cause: None,
            notes: None,
            payload: PointPayload {
                kind: JobKind::Document,
                target_id: d.id,
                chunk: 0,
                field: Field::Text,
                source: d.source.clone(),
                namespace: d.metadata.get("namespace").and_then(|v| v.as_str()).map(str::to_owned),
                alertname: d.metadata.get("alertname").and_then(|v| v.as_str()).map(str::to_owned),
                severity: None,
                time: d.time,
                title: d.title.clone(),
                text: String::new(),
                keyword_only: false,
            },
        }),
    })
}

/// What gets indexed, in point order, with the field of each: the text's chunks, then
/// the cause, then the notes.
pub(crate) fn texts(item: &Item, chunks: Vec<String>) -> Vec<(Field, String)> {
    let mut out: Vec<(Field, String)> = chunks.into_iter().map(|c| (Field::Text, c)).collect();
    out.extend(item.cause.clone().map(|c| (Field::Cause, c)));
    out.extend(item.notes.clone().map(|n| (Field::Notes, n)));
    out
}

/// One point per text, under deterministic ids (the point's number in `texts`). A point
/// without its dense vector (the keyword phase, before the embedder got to it) says so
/// in its payload.
pub(crate) fn build(
    job: &Job,
    item: &Item,
    texts: Vec<(Field, String)>,
    vectors: Vec<Option<Vec<f32>>>,
    keywords: &Keywords,
    glossary: &Glossary,
) -> Vec<IndexPoint> {
    texts
        .into_iter()
        .zip(vectors)
        .enumerate()
        .map(|(n, ((field, text), dense))| IndexPoint {
            id: point_id(job.kind, job.target_id, n as u32),
            keywords: keywords.document(&glossary.expand(&text)),
            payload: PointPayload {
                chunk: n as u32,
                field,
                text,
                keyword_only: dense.is_none(),
                ..item.payload.clone()
            },
            dense,
        })
        .collect()
}
