#!/usr/bin/env bash
# The project's test command: fetches the model if needed, then runs every test in the
# workspace against the real model, the real fixtures and (from the gateway on) real
# databases. Usage: scripts/test.sh [extra nextest args]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

"$root/scripts/fetch-model.sh"
[ -f "$root/../shared/fixtures/minilm-l6-v2-reference.json" ] || [ -n "${FIREBREAK_FIXTURES:-}" ] || {
  echo "test: ../shared/fixtures is missing (set FIREBREAK_FIXTURES)" >&2; exit 1; }

profile=default
[ -n "${CI:-}" ] && profile=ci
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --profile "$profile" "$@"
else
  echo "test: cargo-nextest not found, falling back to cargo test" >&2
  cargo test --workspace "$@"
fi
