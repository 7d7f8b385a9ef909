#!/usr/bin/env bash
# Real clients nobody here wrote, against the real binaries, pinned from PyPI: the
# official OpenAI Python client asks the gateway's /v1/chat/completions, whose answers
# come from the real SmolLM2 served by `firebreak-embedder serve --chat-model`
# (clients/test_openai.py, docs/answers.md); the official MCP Python SDK calls every tool
# of /mcp, both protocol generations (clients/test_mcp.py, docs/mcp.md). The gateway
# runs with a token table, as in production. The Python packages go to
# target/clients-py (git-ignored). CI runs it as is.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python=${PYTHON:-python3}
"$root/scripts/fetch-model.sh" >/dev/null
"$root/scripts/fetch-chat-model.sh" >/dev/null
deps="$root/target/clients-py"
"$root/scripts/py-deps.sh" "$deps" "openai==3.63.0" "mcp==2.3.0"
cargo build --quiet --release --workspace --bins

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {
  for _ in $(seq 1 120); do curl -sf "$1" >/dev/null && return 0; sleep 0.5; done
  echo "clients-check: $1 never answered" >&2; return 1
}

llm_port=$(free_port)
target/release/firebreak-embedder serve --listen "127.0.0.1:$llm_port" --cpu-threads 1 \
  --chat-model models/SmolLM2-135M-Instruct >"$work/llm.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$llm_port/healthz"

# Who may do what (auth/tokens.rs): an admin that seeds, an agent, a reader without
# notes:write, and a source that floods /mcp on an allowance of its own.
tokens="$work/tokens"
gen() { "$python" -c 'import secrets; print(secrets.token_hex(16))'; }
FIREBREAK_TOKEN_ADMIN=$(gen) FIREBREAK_TOKEN_AGENT=$(gen) FIREBREAK_TOKEN_READER=$(gen) FIREBREAK_TOKEN_FLOOD=$(gen)
export FIREBREAK_TOKEN_ADMIN FIREBREAK_TOKEN_AGENT FIREBREAK_TOKEN_READER FIREBREAK_TOKEN_FLOOD
cat >"$tokens" <<EOF
admin   alerts:write,ingest:write,search:read,notes:write,embeddings,answers  $FIREBREAK_TOKEN_ADMIN
agent   search:read,notes:write,answers  $FIREBREAK_TOKEN_AGENT
reader  search:read  $FIREBREAK_TOKEN_READER
flood   search:read  $FIREBREAK_TOKEN_FLOOD
EOF

port=$(free_port)
# The node's own load is not this check's subject: the pressure guard reads nothing.
target/release/firebreak serve --data-dir "$work/data" --listen "127.0.0.1:$port" --cpu-threads 1 \
  --psi-files /nonexistent --tokens-file "$tokens" --llm-url "http://127.0.0.1:$llm_port" --llm-model smollm2 \
  --llm-first-token-timeout-ms 120000 >"$work/gateway.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$port/readyz"

status=0
FIREBREAK_URL="http://127.0.0.1:$port" FIREBREAK_LLM_URL="http://127.0.0.1:$llm_port" \
  PYTHONPATH="$deps:$root/clients${PYTHONPATH:+:$PYTHONPATH}" "$python" -m unittest -v clients/test_openai.py clients/test_mcp.py || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- gateway log"; tail -40 "$work/gateway.log"
  echo "--- LLM log"; tail -20 "$work/llm.log"
fi
exit "$status"
