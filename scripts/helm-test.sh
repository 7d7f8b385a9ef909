#!/usr/bin/env bash
# The chart's tests (helm/tests, docs/deploy.md): lint and render with real Helm (Helm
# v4's Go SDK, embedded in the PyPI package helm-python-sdk: no helm binary needed),
# validate every object with kubernetes-validate, and check every lesson on the rendered
# manifests. The Python packages go to target/helm-py (git-ignored), pinned.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python=${PYTHON:-python3}
deps="$root/target/helm-py"
"$root/scripts/py-deps.sh" "$deps" "helm-python-sdk==0.2.2" "kubernetes-validate==1.37.0" "PyYAML>=6"
PYTHONPATH="$deps${PYTHONPATH:+:$PYTHONPATH}" "$python" -m unittest discover -s helm/tests -t helm/tests "$@"
