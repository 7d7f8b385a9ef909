#!/usr/bin/env bash
# The release binaries as they ship: target/release/firebreak{,-embedder} without their
# debug info (105 MB -> 67 MB for the gateway; symbols stay, so a backtrace still names
# its functions), into target/dist/, and the line tables split off beside them
# (target/dist/debug/NAME.debug, linked by .gnu_debuglink: gdb and addr2line find them).
# The Dockerfile's BINARIES=prebuilt copies target/dist; its source stage does the same.
# usage: scripts/dist.sh   (after cargo build --release --workspace --bins)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/target/dist}
mkdir -p "$out/debug"
for bin in firebreak firebreak-embedder; do
  src=$root/target/release/$bin
  [ -x "$src" ] || { echo "dist: $src is missing: cargo build --release --workspace --bins" >&2; exit 1; }
  objcopy --only-keep-debug "$src" "$out/debug/$bin.debug"
  objcopy --strip-debug --add-gnu-debuglink="$out/debug/$bin.debug" "$src" "$out/$bin.tmp"
  mv "$out/$bin.tmp" "$out/$bin"
  echo "dist: $out/$bin $(( $(stat -c %s "$out/$bin") / 1048576 )) MiB (debug info: $out/debug/$bin.debug)"
done
