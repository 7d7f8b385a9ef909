//! The report of a scenario: what was sent, what the gateway did, each invariant with its
//! evidence, and the verdict. Written as JSON (one file per scenario), with a chart per
//! run beside it.

use serde::Serialize;

use crate::latency::Percentiles;
use crate::sampler::Sample;

/// One property the scenario must show, and the figures that show it (or not).
#[derive(Debug, Clone, Serialize)]
pub struct Invariant {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

impl Invariant {
    pub fn check(name: &'static str, ok: bool, detail: impl Into<String>) -> Self {
        Invariant { name, ok, detail: detail.into() }
    }
}

/// CPU of the gateway process over the run, in cores.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Cpu {
    /// Cores the configuration allows: inference threads plus the async runtime's.
    pub budget_cores: f64,
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
    /// Of the node's cores, for scale.
    pub node_cores: usize,
}

impl Cpu {
    pub fn of(samples: &[Sample], budget_cores: f64) -> Self {
        let v: Vec<f64> = samples.iter().filter_map(|s| s.cpu_cores).map(|c| c * 1000.0).collect();
        let p = Percentiles::of(&v);
        Cpu {
            budget_cores,
            p50: p.p50_ms / 1000.0,
            p95: p.p95_ms / 1000.0,
            max: p.max_ms / 1000.0,
            node_cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        }
    }
}

/// One server under one load.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// `protected` (the defaults) or `relaxed` (every guard off).
    pub label: String,
    pub server_args: Vec<String>,
    pub figures: serde_json::Value,
    pub cpu: Cpu,
    pub max_rss_mib: f64,
    pub invariants: Vec<Invariant>,
    pub chart: Option<String>,
    pub samples: Vec<Sample>,
}

impl Run {
    pub fn passed(&self) -> bool {
        self.invariants.iter().all(|i| i.ok)
    }
}

/// The file `--report` names.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub verdict: &'static str,
    pub started_at: String,
    pub duration_seconds: f64,
    pub runs: Vec<Run>,
}
