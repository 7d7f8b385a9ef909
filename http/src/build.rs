//! `firebreak_build_info{version, commit}`: which build is running, so a dashboard can
//! mark a rollout and an alert can name the version that misbehaves.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The commit this build came from (`FIREBREAK_COMMIT` at build time, else git's HEAD,
/// else `unknown`).
pub const COMMIT: &str = env!("FIREBREAK_BUILD_COMMIT");

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    commit: &'static str,
}

/// Registers the build-info gauge (always 1) for a binary of `version` (its
/// `CARGO_PKG_VERSION`).
pub fn register(registry: &mut Registry, version: &'static str) {
    let info: Family<BuildLabels, Gauge> = Family::default();
    info.get_or_create(&BuildLabels { version, commit: COMMIT }).set(1);
    registry.register("firebreak_build_info", "The running build: always 1, its version and commit as labels", info);
}
