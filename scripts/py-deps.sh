#!/usr/bin/env bash
# Installs pinned PyPI packages (test tooling only, never run time) into DIR, once: the
# stamp names the package list, so changing a pin reinstalls. Shared by the scripts that
# drive real clients and testers (clients-check, contract-check, helm-test).
# usage: scripts/py-deps.sh DIR PACKAGE... ; env: PYTHON (default python3)
set -euo pipefail
dir=$1; shift
python=${PYTHON:-python3}
stamp="$dir/.installed-$(printf '%s\n' "$@" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  rm -rf "$dir"
  "$python" -m pip install --quiet --disable-pip-version-check --target "$dir" "$@"
  touch "$stamp"
fi
