#!/usr/bin/env bash
# The CUDA build, checked where there is no GPU (docs/gpu.md): assembles the toolkit and
# the driver stub (scripts/cuda-toolkit.sh), builds `firebreak-embedder --features cuda`
# in its own profile (target/cuda/), and runs it against the stub: it must say it falls
# back to the CPU, run the CPU path and match the fixture. CI runs it.
# Usage: scripts/cuda-check.sh [--build-only] [extra nextest args]
#   --build-only: the toolkit, the binary and the test binary, nothing run. CI starts this
#   beside the release build of the tests (both compile; neither is timed), so the two
#   long poles (qdrant-edge, nvcc on candle's kernels) share the machine's cores instead
#   of taking turns, and runs the check itself at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build_only=false
if [ "${1:-}" = "--build-only" ]; then
  build_only=true
  shift
fi
"$root/scripts/fetch-model.sh"
# Through a file, not `eval "$(...)"`: a failed assembly (pip out of disk, say) must stop
# here, and a command substitution's failure does not stop `eval`.
env_file=$(mktemp)
trap 'rm -f "$env_file"' EXIT
"$root/scripts/cuda-toolkit.sh" > "$env_file"
# shellcheck disable=SC1090
. "$env_file"
# The driver stub and the toolkit's libraries stand in for a GPU node's (nextest lists a
# test binary's tests by starting it, so even --no-run needs them).
export LD_LIBRARY_PATH="$FIREBREAK_CUDA_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The fallback and parity modules of the embedder's one integration-test binary.
tests=(-p firebreak-embedder --features cuda --test main)
have_nextest=false
cargo nextest --version >/dev/null 2>&1 && have_nextest=true
started=$(date +%s)
cargo build --profile cuda -p firebreak-embedder --features cuda
if $build_only; then
  if $have_nextest; then
    cargo nextest run --no-run --cargo-profile cuda "${tests[@]}"
  else
    cargo test --no-run --profile cuda "${tests[@]}"
  fi
  echo "cuda-check: CUDA build (binary and tests) in $(( $(date +%s) - started ))s" >&2
  exit 0
fi
echo "cuda-check: CUDA build in $(( $(date +%s) - started ))s" >&2
ldd target/cuda/firebreak-embedder | grep -E 'libcuda|libcublas|libcudart' >&2
if $have_nextest; then
  cargo nextest run --cargo-profile cuda "${tests[@]}" -E 'test(/^(cuda_fallback|parity)::/)' "$@"
else
  cargo test --profile cuda "${tests[@]}" "$@" -- cuda_fallback:: parity::
fi
