//! What an SRE looks at first: queues, in-flight batches, the outbox backlog, the storm
//! and pressure guards and the state of each dependency, for `GET /v1/status` and the MCP
//! `status` tool alike. Every dependency check has a short deadline, so the report comes
//! even when a dependency hangs.

use std::time::Duration;

use serde_json::{json, Value};

use crate::clock::now_millis;
use crate::guards::breaker::Breaker;
use crate::guards::pressure::Pressure;
use crate::guards::storm::Storm;
use crate::pipeline::embedding::Class;
use crate::pipeline::index::{Field, IndexFilter, VectorIndex};
use crate::pipeline::scheduler::Scheduler;
use crate::pipeline::store::SqlStore;

const CHECK: Duration = Duration::from_secs(2);

/// The parts the report reads.
pub struct StatusReport {
    pub store: std::sync::Arc<dyn SqlStore>,
    pub index: std::sync::Arc<dyn VectorIndex>,
    pub scheduler: Scheduler,
    pub storm: Storm,
    pub breakers: Vec<Breaker>,
    pub pressure: Pressure,
    /// This process's name in job leases (`HOSTNAME-pid-start`): with several replicas on
    /// one database, which one answered, and whose leases the outbox shows.
    pub replica: String,
}

impl StatusReport {
    /// The report, as JSON.
    pub async fn report(&self) -> Value {
        let backlog = tokio::time::timeout(CHECK, self.store.backlog(now_millis())).await;
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
                tokio::join!(self.index.count(&all), self.index.count(&causes), self.index.count(&notes), self.index.count_keyword_only());
            Ok::<_, crate::pipeline::index::IndexError>((n?, c?, t?, k?))
        };
        let index = match tokio::time::timeout(CHECK, counts).await {
            // keyword_only_points: written by the keyword phase, waiting for their dense
            // vector (found by keyword search, not yet by dense search).
            Ok(Ok((n, c, t, k))) => {
                json!({"state": "up", "backend": self.index.backend(), "points": n, "cause_points": c, "notes_points": t, "keyword_only_points": k})
            }
            Ok(Err(e)) => json!({"state": "down", "backend": self.index.backend(), "error": e.to_string()}),
            Err(_) => json!({"state": "down", "backend": self.index.backend(), "error": "no answer within 2 s"}),
        };
        let backend = self.scheduler.backend();
        let queues = match self.scheduler.status().await {
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
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "replica": self.replica,
            // What searches and answers are running without right now (empty: nothing).
            "degraded": self.degraded(),
            "scheduler": queues,
            "outbox": backlog,
            "storm": self.storm.status(),
            "breakers": self.breakers.iter().map(|b| (b.dependency(), b.state().as_str())).collect::<std::collections::BTreeMap<_, _>>(),
            // How long each breaker that is not closed has been so.
            "breakers_open_for_ms": self
                .breakers
                .iter()
                .filter_map(|b| b.open_for().map(|d| (b.dependency(), d.as_millis() as u64)))
                .collect::<std::collections::BTreeMap<_, _>>(),
            "pressure": self.pressure.level().as_str(),
            // The PSI figure behind the level and the thresholds it is compared with.
            "pressure_detail": self.pressure.status(),
            "dependencies": {
                "store": store,
                "index": index,
                "embedder": {"backend": backend.describe(), "model": backend.model(), "dim": backend.dim()},
            },
        })
    }

    /// What searches and answers run without right now: a dependency behind an open
    /// breaker, node pressure above normal (embedding held back), an alert storm (new
    /// occurrences stored but embedded later).
    pub fn degraded(&self) -> Vec<String> {
        let mut why: Vec<String> =
            self.breakers.iter().filter(|b| b.open_for().is_some()).map(|b| format!("{} breaker {}", b.dependency(), b.state().as_str())).collect();
        let level = self.pressure.level().as_str();
        if level != "normal" {
            why.push(format!("node pressure {level}"));
        }
        if self.storm.status().on {
            why.push("alert storm: new occurrences are stored and embedded later".into());
        }
        why
    }
}
