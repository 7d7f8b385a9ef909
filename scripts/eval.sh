#!/usr/bin/env bash
# Retrieval quality (docs/retrieval.md): loads each dev set of past incidents into a fresh
# embedded gateway with the real model, searches for each new alert, prints top-1, top-3
# and MRR per mode, and fails when a figure is below the one recorded in
# docs/retrieval.md's "Regression gate" table. CI runs it as is.
# Usage: scripts/eval.sh [extra firebreak eval flags]   (FIREBREAK_FIXTURES: the fixtures dir)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fixtures=${FIREBREAK_FIXTURES:-$root/../shared/fixtures}
"$root/scripts/fetch-model.sh"
# The whole workspace's release binaries, as the tests (scripts/test.sh), the load-test
# smokes and the images use them: not `-p` one package, since cargo resolves features per
# selection, and a single package's selection differs from the test build's (plotters in
# loadtests turns on simd-adler32's features), which rebuilt most dependencies (14 min).
cargo build --quiet --release --workspace --bins
# Two sets, each gated on its own rows: the same-alertname one (many causes under one
# alertname) and the cross-alertname one (the same cause under another alertname).
target/release/firebreak eval --set "$fixtures/incident-dev-set.json" --set "$fixtures/incident-cross-dev-set.json" \
  --gate docs/retrieval.md --verbose "$@"
