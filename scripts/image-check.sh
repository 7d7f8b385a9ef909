#!/usr/bin/env bash
# The container images, built and started as a user would (docs/deploy.md), on a machine
# with no Docker daemon and no registry: Buildah builds both targets of the Dockerfile from
# the release binaries (BINARIES=prebuilt) and the model scripts/fetch-model.sh installed
# (MODEL=local), on a debian:bookworm-slim made here with debootstrap; Podman then starts
# each image with a read-only root filesystem and checks it from outside:
#   gateway:  /healthz, /readyz, an Alertmanager webhook -> 200, a search that finds it
#             once embedded, a second alert with SIGTERM at once -> exit 0 within the
#             grace, and after a restart both found (the one in flight not lost);
#   embedder: /v1/embeddings answers a 384-dimension vector, and with the baked-in chat
#             model (FIREBREAK_CHAT_MODEL, as the chart sets --chat-model) a chat
#             completion, SIGTERM -> exit 0;
# both: running as uid 65532, labelled with the chart's appVersion. Prints each image's size.
# CI runs it. Needs root, buildah, podman, runc and debootstrap (Debian's packages).
#
# usage: scripts/image-check.sh          the whole check
#        scripts/image-check.sh base     only the base image (CI makes it beside the build)
# env:   FIREBREAK_DEBIAN_MIRROR (default http://deb.debian.org/debian),
#        FIREBREAK_IMAGE_PORT (8080) / FIREBREAK_EMBEDDER_IMAGE_PORT (8081): host ports
#        the containers serve on (host network), FIREBREAK_IMAGE_WORK (target/image)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python=${PYTHON:-python3}
work=${FIREBREAK_IMAGE_WORK:-$root/target/image}
mirror=${FIREBREAK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
gw_port=${FIREBREAK_IMAGE_PORT:-8080}
em_port=${FIREBREAK_EMBEDDER_IMAGE_PORT:-8081}
version=$(sed -nE 's/^appVersion: *"?([^"]+)"?$/\1/p' helm/firebreak/Chart.yaml)
gw_image=$(sed -nE '/^image:/,/^[a-z]/{s/^  repository: *//p}' helm/firebreak/values.yaml):$version
em_image=$(sed -nE '/^embedder:/,/^[a-z]/{s/^    repository: *//p}' helm/firebreak/values.yaml):$version
base=docker.io/library/debian:bookworm-slim
log() { echo "image-check: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

# A plain `docker build` labels the images with the Dockerfile's default version: it must
# be the chart's, or the chart would name a tag nobody built.
grep -qx "ARG VERSION=$version" Dockerfile || fail "the Dockerfile's default VERSION is not the chart's appVersion $version"

for tool in buildah podman runc debootstrap curl; do
  command -v "$tool" >/dev/null || fail "$tool is missing (Debian: apt-get install buildah podman runc debootstrap curl)"
done

# One storage and one engine configuration for both tools, written here: runc (crun fails
# on this machine kind's hybrid cgroups) and default ulimits the sandbox allows.
mkdir -p "$work"
cat > "$work/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$work/storage"
runroot = "$work/run"
EOF
cat > "$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_STORAGE_CONF="$work/storage.conf" CONTAINERS_CONF="$work/containers.conf"
export BUILDAH_ISOLATION=chroot

# ---- the base: debian:bookworm-slim, made locally so the Dockerfile's FROM resolves ----
if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  cache_root=${XDG_CACHE_HOME:-$HOME/.cache}
  if [ -d "$cache_root" ] || mkdir -p "$cache_root" 2>/dev/null; then cache="$cache_root/firebreak"; else cache="$work"; fi
  tarball="$cache/debian-bookworm-minbase-1.tar"
  if [ ! -s "$tarball" ]; then
    t0=$(date +%s)
    rootfs="$work/rootfs"
    rm -rf "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
      { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
    # What debian:bookworm-slim leaves out: package caches, docs, man pages, locales.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
           "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log
    find "$rootfs"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} +
    mkdir -p "$cache"
    tar -C "$rootfs" --numeric-owner -cf "$tarball.partial" .
    mv "$tarball.partial" "$tarball"
    rm -rf "$rootfs"
    log "debootstrap bookworm (minbase) in $(( $(date +%s) - t0 ))s, cached at $tarball"
  fi
  ctr=$(buildah from scratch)
  buildah add --quiet "$ctr" "$tarball" / >/dev/null
  buildah config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  buildah commit --quiet --rm "$ctr" "$base" >/dev/null
  log "base $base committed from the debootstrap rootfs"
fi

[ "${1:-}" = base ] && exit 0

# ---- the images, from the release binaries the rest of CI runs -------------------------
"$root/scripts/fetch-model.sh" >/dev/null
"$root/scripts/fetch-chat-model.sh" >/dev/null
cargo build --quiet --release --workspace --bins
# What the prebuilt path copies: the binaries without their debug info.
"$root/scripts/dist.sh" >&2
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
for target in gateway embedder; do
  tag=$gw_image; [ "$target" = embedder ] && tag=$em_image
  t0=$(date +%s)
  buildah bud --quiet --layers --target "$target" \
    --build-arg BINARIES=prebuilt --build-arg MODEL=local \
    --build-arg VERSION="$version" --build-arg REVISION="$revision" \
    -t "$tag" -f Dockerfile . >/dev/null
  size=$(podman image inspect --format '{{.Size}}' "$tag")
  log "built $tag in $(( $(date +%s) - t0 ))s: $(( size / 1024 / 1024 )) MiB"
  label=$(podman image inspect --format '{{index .Labels "org.opencontainers.image.version"}}' "$tag")
  [ "$label" = "$version" ] || fail "$tag is labelled version '$label', the chart's appVersion is $version"
  user=$(podman image inspect --format '{{.Config.User}}' "$tag")
  [ "$user" = "65532:65532" ] || fail "$tag runs as '$user', not 65532:65532"
done

# ---- starting them -------------------------------------------------------------------
containers=()
cleanup() {
  for c in "${containers[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
}
# Buildah 1.28 leaves the working containers of the `FROM scratch` stages mounted after a
# multi-stage build; the storage is this script's own, so all of them can go.
buildah rm --all >/dev/null 2>&1 || true
trap cleanup EXIT

# Waits until URL answers 200, or fails with the container's log.
wait_ok() {
  local url=$1 name=$2 secs=${3:-90}
  for _ in $(seq 1 $(( secs * 2 ))); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    [ "$(podman inspect --format '{{.State.Running}}' "$name")" = true ] || break
    sleep 0.5
  done
  podman logs --tail 30 "$name" >&2 || true
  fail "$url did not answer 200 (container $name)"
}
# SIGTERM (podman stop sends the image's STOPSIGNAL) must end it with exit code 0 well
# inside the grace: a pod killed at the end of its grace loses what it had in hand.
# podman kills at the deadline (exit 137), so a shutdown slower than the gateway's grace
# (FIREBREAK_SHUTDOWN_GRACE_SECS, 10 s) plus 2 s fails here.
stop_cleanly() {
  local name=$1 t0 code
  t0=$(date +%s)
  podman stop --time 12 "$name" >/dev/null
  code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
  [ "$code" = 0 ] || { podman logs --tail 30 "$name" >&2; fail "$name exited $code on SIGTERM"; }
  log "$name: SIGTERM -> exit 0 in $(( $(date +%s) - t0 ))s"
}
# The uid the container's first process runs as, read from the host's /proc.
check_uid() {
  local name=$1 pid uid
  pid=$(podman inspect --format '{{.State.Pid}}' "$name")
  uid=$(awk '/^Uid:/{print $2}' "/proc/$pid/status")
  [ "$uid" = 65532 ] || fail "$name runs as uid $uid"
}
json() { "$python" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# Host network: a port someone else holds would answer for the container, or refuse it.
port_free() { "$python" -c "import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', int(sys.argv[1])))" "$1" 2>/dev/null; }
for p in "$gw_port" "$em_port"; do
  port_free "$p" || fail "port $p is in use (set FIREBREAK_IMAGE_PORT / FIREBREAK_EMBEDDER_IMAGE_PORT)"
done

# The gateway: data on a host directory at /data, tokens from FIREBREAK_TOKENS.
token=image-check-$(date +%s)-$RANDOM
data="$work/gateway-data"
rm -rf "$data"; mkdir -p "$data"; chown 65532:65532 "$data"
gw=firebreak-image-check-gateway
podman rm -f -t 0 "$gw" >/dev/null 2>&1 || true
containers+=("$gw")
gw_env=(-e "FIREBREAK_TOKENS=image-check alerts:write,search:read $token")
[ "$gw_port" = 8080 ] || gw_env+=(-e "FIREBREAK_LISTEN=0.0.0.0:$gw_port")
podman run -d --name "$gw" --network host --read-only -v "$data:/data" "${gw_env[@]}" \
  -e FIREBREAK_CPU_THREADS=1 "$gw_image" >/dev/null
gw_url=http://127.0.0.1:$gw_port
wait_ok "$gw_url/healthz" "$gw"
wait_ok "$gw_url/readyz" "$gw"
check_uid "$gw"
log "gateway: /healthz and /readyz answer 200"

auth=(-H "authorization: Bearer $token" -H 'content-type: application/json')
# One Alertmanager notification for pod $1; the webhook must answer 200 (stored).
post_alert() {
  local pod=$1 code
  code=$(curl -sS -o "$work/alert.json" -w '%{http_code}' "${auth[@]}" "$gw_url/v1/alerts" -d @- <<EOF
{"version":"4","groupKey":"{}:{alertname=\"KubePodCrashLooping\"}","status":"firing","receiver":"firebreak",
 "alerts":[{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"mail","severity":"warning","pod":"$pod"},
 "annotations":{"summary":"Pod mail/$pod is restarting repeatedly (image check $token)"},
 "startsAt":"2026-11-23T08:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"$(printf '%s' "$pod" | sha256sum | cut -c1-16)"}]}
EOF
)
  [ "$code" = 200 ] || { cat "$work/alert.json" >&2; fail "the webhook answered $code"; }
  log "gateway: Alertmanager webhook for $pod -> 200 $(cat "$work/alert.json")"
}
# How many of this run's alerts a search in MODE finds.
search() {
  curl -sS "${auth[@]}" "$gw_url/v1/search" -d "{\"query\":\"postfix restarting repeatedly\",\"k\":5,\"mode\":\"$1\"}" |
    json "sum(1 for r in d.get('results', []) if '$token' in r.get('title', ''))"
}
# Waits (up to 120 s) until a search in MODE finds N of this run's alerts.
wait_found() {
  local mode=$1 want=$2 found=0
  for _ in $(seq 1 120); do
    found=$(search "$mode" 2>/dev/null || echo 0)
    [ "$found" -ge "$want" ] && return 0
    sleep 1
  done
  podman logs --tail 30 "$gw" >&2
  fail "a $mode search found $found of $want alerts"
}

post_alert postfix-0
wait_found dense 1
log "gateway: a dense search finds the alert once embedded"

# A second alert, and SIGTERM at once: its embedding job is in hand or still queued when
# the signal comes, and must be neither lost nor left leased after the restart.
post_alert postfix-1
stop_cleanly "$gw"
podman start "$gw" >/dev/null
wait_ok "$gw_url/readyz" "$gw"
wait_found keyword 2
wait_found dense 2
log "gateway: restarted on the same /data, both alerts found, the one in flight at SIGTERM embedded"
stop_cleanly "$gw"

# The embedder: its default command, the model baked in.
em=firebreak-image-check-embedder
podman rm -f -t 0 "$em" >/dev/null 2>&1 || true
containers+=("$em")
em_env=(-e FIREBREAK_CPU_THREADS=1 -e FIREBREAK_CHAT_MODEL=/models/SmolLM2-135M-Instruct)
[ "$em_port" = 8081 ] || em_env+=(-e "FIREBREAK_LISTEN=0.0.0.0:$em_port")
podman run -d --name "$em" --network host --read-only "${em_env[@]}" "$em_image" >/dev/null
em_url=http://127.0.0.1:$em_port
wait_ok "$em_url/healthz" "$em"
check_uid "$em"
dim=$(curl -sS -H 'content-type: application/json' "$em_url/v1/embeddings" \
        -d '{"input":["pod OOMKilled","node load 153"]}' | json "len(d['data'][0]['embedding'])")
[ "$dim" = 384 ] || fail "the embedder answered a $dim-dimension vector"
log "embedder: /v1/embeddings answers 384-dimension vectors"
said=$(curl -sS -H 'content-type: application/json' "$em_url/v1/chat/completions" \
        -d '{"messages":[{"role":"user","content":"What does OOMKilled mean?"}],"max_tokens":8}' |
        json "d['choices'][0]['message']['content'].strip()")
[ -n "$said" ] || fail "the embedder's chat model answered nothing"
log "embedder: the baked-in SmolLM2 answers a chat completion: $said"
stop_cleanly "$em"

for tag in "$gw_image" "$em_image"; do
  log "size of $tag: $(( $(podman image inspect --format '{{.Size}}' "$tag") / 1024 / 1024 )) MiB"
done
log "both images pass"
