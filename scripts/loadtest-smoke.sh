#!/usr/bin/env bash
# Short versions of the death-spiral replay and the crash drill (docs/loadtests.md), as CI
# runs them: each against a real `firebreak serve` on loopback, with the real model.
# Usage: scripts/loadtest-smoke.sh [DURATION]   (default 10s of storm each)
# Reports and charts go to loadtests/reports/ (not committed). Exits non-zero when an
# invariant breaks.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
duration=${1:-10s}
"$root/scripts/fetch-model.sh"
cargo build --quiet -p firebreak-gateway --bin firebreak -p firebreak-loadtests --bin firebreak-loadtest
mkdir -p loadtests/reports
status=0
for scenario in death-spiral crash; do
  target/debug/firebreak-loadtest "$scenario" --duration "$duration" --drain-timeout 5m \
    --report "loadtests/reports/smoke-$scenario.json" || status=1
done
exit $status
