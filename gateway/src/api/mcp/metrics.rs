//! Per-tool metrics: calls by outcome and their latency, so an agent that loops on a tool,
//! or a tool that went slow, shows on a dashboard by name. Calls refused before they ran
//! (token, scope, rate) count as `refused` here and by reason in the auth and rate metrics.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabel {
    tool: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabel {
    tool: String,
}

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A result.
    Ok,
    /// A result marked `isError` (bad arguments, no such incident, a dependency down).
    Error,
    /// Never ran: no token, no scope, over the rate.
    Refused,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Refused => "refused",
        }
    }
}

#[derive(Clone)]
pub struct ToolMetrics {
    calls: Family<CallLabel, Counter>,
    seconds: Family<ToolLabel, Histogram>,
    /// Requests refused for their browser `Origin`.
    pub origin_refused: Counter,
    /// One log line a minute for those.
    pub log: std::sync::Arc<crate::log_throttle::Throttle>,
}

impl ToolMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = ToolMetrics {
            calls: Family::default(),
            // 1 ms to ~65 s: a keyword search to a generated answer.
            seconds: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 17))),
            origin_refused: Counter::default(),
            log: Default::default(),
        };
        registry.register(
            "firebreak_mcp_origin_refused",
            "Requests to /mcp refused for a browser Origin not in --mcp-allowed-origins",
            m.origin_refused.clone(),
        );
        registry.register("firebreak_mcp_tool_calls", "MCP tool calls by tool and outcome (ok, error, refused)", m.calls.clone());
        registry.register("firebreak_mcp_tool_duration_seconds", "Time to answer an MCP tool call that ran, by tool", m.seconds.clone());
        m
    }

    /// Counts one call; `took` for calls that ran. Unknown names are counted as `unknown`
    /// so a client cannot grow the label set.
    pub fn record(&self, tool: &str, outcome: Outcome, took: Option<Duration>) {
        let tool = if firebreak_intake::tools::access(tool).is_some() { tool } else { "unknown" };
        self.calls.get_or_create(&CallLabel { tool: tool.to_owned(), outcome: outcome.as_str() }).inc();
        if let Some(t) = took {
            self.seconds.get_or_create(&ToolLabel { tool: tool.to_owned() }).observe(t.as_secs_f64());
        }
    }
}
