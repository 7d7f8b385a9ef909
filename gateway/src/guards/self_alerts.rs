//! Self-alert suppression: alerts about Firebreak itself are stored but not embedded while
//! they fire. In the seed incident every crash fired alerts and every alert made more
//! embedding work for the crashing gateway; here the gateway's own trouble can never
//! create more work for it. The occurrence is kept (it is searchable by keyword through
//! its stored text once resolved, and listed in `/v1/incidents` at once), and its resolved
//! notification queues the embedding, when the trouble is over.
//!
//! An alert is "about Firebreak" when any of its labels equals one of the configured
//! `label=value` matchers (`--self-alert-matchers`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use crate::alertmanager::Webhook;
use crate::log_throttle::Throttle;
use crate::pipeline::store::Hold;

/// The default matchers: the chart's namespace and the jobs Prometheus scrapes us as.
pub const DEFAULT_MATCHERS: &str = "namespace=firebreak,job=firebreak,job=firebreak-embedder";

/// The matchers and their counter.
pub struct SelfAlerts {
    matchers: Vec<(String, String)>,
    held: Counter,
    log: Throttle,
}

/// Parses `label=value[,label=value…]`; an empty string means no matchers.
pub fn parse_matchers(spec: &str) -> Result<Vec<(String, String)>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| match m.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
            _ => Err(format!("self-alert matcher {m:?}: expected label=value")),
        })
        .collect()
}

impl SelfAlerts {
    pub fn new(matchers: Vec<(String, String)>, registry: &mut Registry) -> Self {
        let held = Counter::default();
        registry.register(
            "firebreak_self_alerts",
            "Firing alerts about Firebreak itself, stored without embedding (--self-alert-matchers)",
            held.clone(),
        );
        SelfAlerts { matchers, held, log: Throttle::default() }
    }

    /// One entry per alert of `hook`: which to hold.
    pub fn holds(&self, hook: &Webhook) -> Vec<Option<Hold>> {
        hook.alerts
            .iter()
            .map(|a| {
                let ours = a.status == "firing" && self.matchers.iter().any(|(k, v)| a.labels.get(k) == Some(v));
                if ours {
                    self.held.inc();
                    let name = a.labels.get("alertname").map(String::as_str).unwrap_or("?");
                    if let Some(more) = self.log.due(name) {
                        tracing::info!(alertname = name, held_since_last_line = more, "alert about Firebreak itself: stored, not embedded while it fires");
                    }
                }
                ours.then_some(Hold::SelfAlert)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_matchers, DEFAULT_MATCHERS};

    #[test]
    fn matchers_parse_and_refuse_nonsense() {
        assert_eq!(parse_matchers(DEFAULT_MATCHERS).unwrap().len(), 3);
        assert_eq!(parse_matchers(" app = firebreak ").unwrap(), vec![("app".into(), "firebreak".into())]);
        assert!(parse_matchers("").unwrap().is_empty());
        assert!(parse_matchers("namespace").is_err());
        assert!(parse_matchers("=x").is_err());
    }
}
