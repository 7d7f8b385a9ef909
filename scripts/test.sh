#!/usr/bin/env bash
# The project's test command: fetches the models if needed (the embedder's and the chat
# model), then runs every test in the workspace against the real models, the real
# fixtures and (from the gateway on) real databases. Usage: scripts/test.sh [extra nextest args]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

"$root/scripts/fetch-model.sh"
"$root/scripts/fetch-chat-model.sh"
[ -f "$root/../shared/fixtures/minilm-l6-v2-reference.json" ] || [ -n "${FIREBREAK_FIXTURES:-}" ] || {
  echo "test: ../shared/fixtures is missing (set FIREBREAK_FIXTURES)" >&2; exit 1; }

profile=default
[ -n "${CI:-}" ] && profile=ci
# The tests build in the release profile by default: the binaries they start are the ones
# eval, the load-test smokes and the images use, so CI compiles every dependency once
# (qdrant-edge alone is minutes). FIREBREAK_TEST_PROFILE=dev for quicker local rebuilds.
cargo_profile=${FIREBREAK_TEST_PROFILE:-release}
# The Qdrant-server backend's tests need a Qdrant server, which cannot be installed on the
# project's machines: they are #[ignore]d and run only when one is named. With
# FIREBREAK_TEST_INDEX=server as well, the end-to-end tests' gateways index into that server
# instead of qdrant-edge shards (gateway/tests/common; docs/benchmarks.md, Qdrant server).
extra=()
if [ -n "${FIREBREAK_TEST_QDRANT_URL:-}" ]; then
  extra=(--run-ignored all)
else
  echo "test: FIREBREAK_TEST_QDRANT_URL is unset: the Qdrant-server backend tests are SKIPPED (qdrant-edge runs the same contract)" >&2
fi
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --cargo-profile "$cargo_profile" --profile "$profile" "${extra[@]}" "$@"
else
  echo "test: cargo-nextest not found, falling back to cargo test" >&2
  if [ ${#extra[@]} -gt 0 ]; then extra=(-- --include-ignored); fi
  cargo test --workspace --profile "$cargo_profile" "$@" "${extra[@]}"
fi
