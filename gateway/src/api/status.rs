//! `GET /v1/status`: what an SRE looks at first: queues, in-flight batches, the outbox
//! backlog, and the state of each dependency. Every dependency check has a short
//! deadline, so status answers even when a dependency hangs.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::ApiState;
use crate::clock::now_millis;
use crate::embedding::Class;
use crate::index::{Field, IndexFilter};

const CHECK: Duration = Duration::from_secs(2);

#[utoipa::path(get, path = "/v1/status", tag = "operations", responses((status = 200, description = "Queues, backlog and dependencies", body = Object)))]
pub async fn status(State(state): State<ApiState>) -> Json<Value> {
    let backlog = tokio::time::timeout(CHECK, state.store.backlog(now_millis())).await;
    let (store, backlog) = match backlog {
        Ok(Ok(b)) => (json!({"state": "up"}), json!(b)),
        Ok(Err(e)) => (json!({"state": "down", "error": e.to_string()}), Value::Null),
        Err(_) => (json!({"state": "down", "error": "no answer within 2 s"}), Value::Null),
    };
    // Every point, and the incidents' cause points among them (docs/retrieval.md): the
    // rest are text chunks, one or more per item.
    let causes = IndexFilter { fields: vec![Field::Cause], ..Default::default() };
    let counts = async { Ok::<_, crate::index::IndexError>((state.index.count(&Default::default()).await?, state.index.count(&causes).await?)) };
    let index = match tokio::time::timeout(CHECK, counts).await {
        Ok(Ok((n, c))) => json!({"state": "up", "backend": state.index.backend(), "points": n, "cause_points": c}),
        Ok(Err(e)) => json!({"state": "down", "backend": state.index.backend(), "error": e.to_string()}),
        Err(_) => json!({"state": "down", "backend": state.index.backend(), "error": "no answer within 2 s"}),
    };
    let backend = state.scheduler.backend();
    let queues = match state.scheduler.status().await {
        Some(s) => {
            let per_class: serde_json::Map<String, Value> = Class::ALL
                .iter()
                .map(|c| {
                    let i = *c as usize;
                    (c.as_str().to_owned(), json!({"queued": s.queued[i], "oldest_wait_ms": s.oldest_wait_ms[i]}))
                })
                .collect();
            json!({"classes": per_class, "in_flight_batches": s.in_flight_batches, "concurrency": s.concurrency})
        }
        None => Value::Null,
    };
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "scheduler": queues,
        "outbox": backlog,
        "storm": state.storm.status(),
        "breakers": state.breakers.iter().map(|b| (b.dependency(), b.state().as_str())).collect::<std::collections::BTreeMap<_, _>>(),
        "pressure": state.pressure.level().as_str(),
        "dependencies": {
            "store": store,
            "index": index,
            "embedder": {"backend": backend.describe(), "model": backend.model(), "dim": backend.dim()},
        },
    }))
}
