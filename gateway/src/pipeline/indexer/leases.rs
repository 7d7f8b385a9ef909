//! Keeping a live replica's leases alive while it works.
//!
//! A claimed job's lease is what lets another replica take the job over when its claimer
//! dies. But a job may rightly take longer than the lease — queued behind bulk batches,
//! waiting on a slow embedder — and a lease that runs out under a *live* worker hands the
//! job to a second replica: the work is done twice and the first worker's outcome is
//! refused. So every job in hand has its lease renewed every third of `--job-lease-secs`
//! for as long as its task lives; the lease then only has to cover noticing a death, not
//! the slowest job, and a dead replica's jobs still return after one lease.
//!
//! A job is in hand from its claim until its task ends, however it ends: the [`Held`]
//! guard leaves the set when dropped, a panicking task included, so a lost task's lease is
//! not renewed for ever.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use crate::clock::now_millis;
use crate::pipeline::store::SqlStore;

/// The jobs this process is working on.
#[derive(Default)]
pub struct InHand {
    ids: Mutex<BTreeSet<i64>>,
}

/// One job in hand; leaves the set when dropped.
pub struct Held {
    in_hand: Arc<InHand>,
    id: i64,
}

impl InHand {
    pub fn hold(self: &Arc<Self>, id: i64) -> Held {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).insert(id);
        Held { in_hand: self.clone(), id }
    }

    pub fn ids(&self) -> Vec<i64> {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).iter().copied().collect()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.in_hand.ids.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
    }
}

/// Renewal counts (`firebreak_outbox_lease_*`).
#[derive(Clone, Default)]
pub struct LeaseMetrics {
    renewed: Counter,
    lost: Counter,
    failures: Counter,
}

impl LeaseMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = LeaseMetrics::default();
        let r = registry.sub_registry_with_prefix("firebreak_outbox");
        r.register("lease_renewals", "Leases of jobs in progress renewed (every third of --job-lease-secs)", m.renewed.clone());
        r.register(
            "leases_lost",
            "Jobs in progress whose lease was found taken by another replica at renewal (it ran out first: the work is done twice)",
            m.lost.clone(),
        );
        r.register("lease_renewal_failures", "Lease renewals the store refused or did not answer within a third of the lease", m.failures.clone());
        m
    }
}

/// Renews the leases of the jobs in hand every third of `lease`, until dropped. Logs when
/// renewing starts failing and when it works again, and each time a lease was found lost.
pub async fn keep(store: Arc<dyn SqlStore>, owner: String, lease: Duration, in_hand: Arc<InHand>, metrics: LeaseMetrics) {
    let every = (lease / 3).max(Duration::from_millis(100));
    let mut failing = false;
    loop {
        tokio::time::sleep(every).await;
        let ids = in_hand.ids();
        if ids.is_empty() {
            continue;
        }
        // Bounded by the interval: a store that hangs must not hang the renewals with it
        // (the next tick tries again, well inside the lease).
        let renewed = match tokio::time::timeout(every, store.renew_leases(&owner, &ids, lease, now_millis())).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no answer within {every:?}")),
        };
        match renewed {
            Ok(n) => {
                if std::mem::take(&mut failing) {
                    tracing::info!("renewing job leases works again");
                }
                metrics.renewed.inc_by(n);
                // Jobs that ended since the set was read were not renewed and are not lost:
                // only those still in hand and not renewed are.
                let still = in_hand.ids().iter().filter(|id| ids.contains(id)).count() as u64;
                let lost = still.saturating_sub(n);
                if lost > 0 {
                    metrics.lost.inc_by(lost);
                    tracing::warn!(jobs = lost, lease = ?lease, "leases of jobs in progress ran out and were taken by another replica; raise --job-lease-secs");
                }
            }
            Err(e) => {
                metrics.failures.inc();
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(error = e, "renewing job leases failed; jobs in progress may be taken over when their leases run out");
                }
            }
        }
    }
}
