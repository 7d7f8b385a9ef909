#!/usr/bin/env bash
# Short versions of the death-spiral replay, the crash drill, the dependency drills, fifty
# people asking for answers at once, and the real Prometheus → Alertmanager path
# (docs/loadtests.md), as CI runs them: each against a real `firebreak serve` on loopback,
# with the real model (and, for the drills, a private PostgreSQL cluster and a real
# `firebreak-embedder serve`).
# Usage: scripts/loadtest-smoke.sh [DURATION]   (default 10s of storm each; the dependency
# drills always run 40s: a shorter hang is over before the embedder's breaker can open)
# Reports and charts go to loadtests/reports/ (not committed). Exits non-zero when an
# invariant breaks.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
duration=${1:-10s}
"$root/scripts/fetch-model.sh"
# The whole workspace's release binaries, as eval.sh builds them (why: see there).
cargo build --quiet --release --workspace --bins
mkdir -p loadtests/reports
status=0
for scenario in death-spiral crash; do
  target/release/firebreak-loadtest "$scenario" --duration "$duration" --drain-timeout 5m \
    --report "loadtests/reports/smoke-$scenario.json" || status=1
done
target/release/firebreak-loadtest deps --duration 40s --drain-timeout 5m \
  --report loadtests/reports/smoke-deps.json || status=1
# Fifty people in conversation with the answer endpoint during an alert storm, the chat
# model in-process on the embedder's CPU budget (about 45 s).
"$root/scripts/fetch-chat-model.sh" >/dev/null
target/release/firebreak-loadtest answers --duration 20s --concurrency 50 --drain-timeout 2m \
  --report loadtests/reports/smoke-answers.json || status=1
# Real Prometheus and Alertmanager in front of the gateway (about 65 s).
target/release/firebreak-loadtest alertmanager --drain-timeout 2m \
  --report loadtests/reports/smoke-alertmanager.json || status=1
exit $status
