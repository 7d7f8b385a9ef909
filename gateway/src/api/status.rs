//! `GET /v1/status`: what an SRE looks at first: queues, in-flight batches, the outbox
//! backlog, and the state of each dependency. Every dependency check has a short
//! deadline, so status answers even when a dependency hangs.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::ApiState;
use crate::clock::now_millis;
use crate::pipeline::embedding::Class;
use crate::pipeline::index::{Field, IndexFilter};

const CHECK: Duration = Duration::from_secs(2);

#[utoipa::path(get, path = "/v1/status", tag = "operations", responses((status = 200, description = "Queues, backlog and dependencies", body = Object)))]
pub async fn status(State(state): State<ApiState>) -> Json<Value> {
    let backlog = tokio::time::timeout(CHECK, state.store.backlog(now_millis())).await;
    let (store, backlog) = match backlog {
        Ok(Ok(b)) => (json!({"state": "up"}), json!(b)),
        Ok(Err(e)) => (json!({"state": "down", "error": e.to_string()}), Value::Null),
        Err(_) => (json!({"state": "down", "error": "no answer within 2 s"}), Value::Null),
    };
    // Every point, and the incidents' cause and notes points among them
    // (docs/retrieval.md): the rest are text chunks, one or more per item.
    let causes = IndexFilter { fields: vec![Field::Cause], ..Default::default() };
    let notes = IndexFilter { fields: vec![Field::Notes], ..Default::default() };
    let all = IndexFilter::default();
    let counts = async {
        let (n, c, t, k) =
            tokio::join!(state.index.count(&all), state.index.count(&causes), state.index.count(&notes), state.index.count_keyword_only());
        Ok::<_, crate::pipeline::index::IndexError>((n?, c?, t?, k?))
    };
    let index = match tokio::time::timeout(CHECK, counts).await {
        // keyword_only_points: written by the keyword phase, waiting for their dense
        // vector (found by keyword search, not yet by dense search).
        Ok(Ok((n, c, t, k))) => {
            json!({"state": "up", "backend": state.index.backend(), "points": n, "cause_points": c, "notes_points": t, "keyword_only_points": k})
        }
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
            json!({
                "classes": per_class,
                "in_flight_batches": s.in_flight_batches,
                "overdue_batches": s.overdue_batches,
                "concurrency": s.concurrency,
            })
        }
        None => Value::Null,
    };
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "scheduler": queues,
        "outbox": backlog,
        "storm": state.storm.status(),
        "breakers": state.breakers.iter().map(|b| (b.dependency(), b.state().as_str())).collect::<std::collections::BTreeMap<_, _>>(),
        // How long each breaker that is not closed has been so.
        "breakers_open_for_ms": state
            .breakers
            .iter()
            .filter_map(|b| b.open_for().map(|d| (b.dependency(), d.as_millis() as u64)))
            .collect::<std::collections::BTreeMap<_, _>>(),
        "pressure": state.pressure.level().as_str(),
        // The PSI figure behind the level and the thresholds it is compared with.
        "pressure_detail": state.pressure.status(),
        "dependencies": {
            "store": store,
            "index": index,
            "embedder": {"backend": backend.describe(), "model": backend.model(), "dim": backend.dim()},
        },
    }))
}
