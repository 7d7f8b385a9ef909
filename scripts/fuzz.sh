#!/usr/bin/env bash
# Runs the fuzz targets in fuzz/ (cargo-fuzz, libFuzzer, AddressSanitizer) for a while each.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default: 15 s each, all targets)
#
# Installs cargo-fuzz from crates.io if missing. Needs a nightly compiler; where none is
# installed, the stable one is told to accept nightly flags (RUSTC_BOOTSTRAP=1), which is
# what cargo-fuzz needs from it. The model's tokenizer (scripts/fetch-model.sh) makes the
# chunk target cut by tokens as well as by words. A crash leaves its input under
# fuzz/artifacts/TARGET/ and fails the run; replay it with
#   cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
secs=${1:-15}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(webhook ingest search tools chat chunk)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install --locked --quiet cargo-fuzz
fi
if rustup run nightly rustc --version >/dev/null 2>&1; then
  fuzz=(cargo +nightly fuzz)
else
  echo "fuzz: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1" >&2
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi

"${fuzz[@]}" build --release --debug-assertions
failed=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  echo "fuzz: $t for ${secs}s" >&2
  # New corpus entries go to fuzz/corpus (ignored by git); fuzz/seeds holds the
  # hand-written starting points.
  set +e
  out=$("${fuzz[@]}" run --release --debug-assertions "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 2>&1)
  rc=$?
  set -e
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done )' <<<"$out" | sed "s/^/fuzz: $t: /" >&2 || true
  if [ $rc -ne 0 ]; then
    tail -40 <<<"$out" >&2
    echo "fuzz: $t FAILED (exit $rc); the input is under fuzz/artifacts/$t/" >&2
    failed+=("$t")
  fi
done
[ ${#failed[@]} -eq 0 ] || { echo "fuzz: failures in ${failed[*]}" >&2; exit 1; }
echo "fuzz: ${#targets[@]} targets ran ${secs}s each, no failure" >&2
