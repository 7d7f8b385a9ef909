#!/usr/bin/env bash
# The CUDA build, checked where there is no GPU (docs/gpu.md): assembles the toolkit and
# the driver stub (scripts/cuda-toolkit.sh), builds `firebreak-embedder --features cuda`
# in its own profile (target/cuda/), and runs it against the stub: it must say it falls
# back to the CPU, run the CPU path and match the fixture. CI runs it.
# Usage: scripts/cuda-check.sh [extra nextest args]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/fetch-model.sh"
# Through a file, not `eval "$(...)"`: a failed assembly (pip out of disk, say) must stop
# here, and a command substitution's failure does not stop `eval`.
env_file=$(mktemp)
trap 'rm -f "$env_file"' EXIT
"$root/scripts/cuda-toolkit.sh" > "$env_file"
# shellcheck disable=SC1090
. "$env_file"
started=$(date +%s)
cargo build --profile cuda -p firebreak-embedder --features cuda
echo "cuda-check: CUDA build in $(( $(date +%s) - started ))s" >&2
# The driver stub and the toolkit's libraries stand in for a GPU node's.
export LD_LIBRARY_PATH="$FIREBREAK_CUDA_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ldd target/cuda/firebreak-embedder | grep -E 'libcuda|libcublas|libcudart' >&2
# The fallback and parity modules of the embedder's one integration-test binary.
tests=(-p firebreak-embedder --features cuda --test main)
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --cargo-profile cuda "${tests[@]}" -E 'test(/^(cuda_fallback|parity)::/)' "$@"
else
  cargo test --profile cuda "${tests[@]}" "$@" -- cuda_fallback:: parity::
fi
