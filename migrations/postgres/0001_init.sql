-- Firebreak schema, PostgreSQL flavour. Kept column-for-column identical to the SQLite
-- flavour: times are epoch milliseconds (BIGINT) and JSON is TEXT, so one set of queries
-- serves both stores.

-- One row per alert occurrence: Alertmanager's fingerprint plus its startsAt.
CREATE TABLE incidents (
    id              BIGSERIAL PRIMARY KEY,
    fingerprint     TEXT   NOT NULL,
    starts_at       BIGINT NOT NULL,
    alertname       TEXT   NOT NULL,
    namespace       TEXT,
    severity        TEXT,
    status          TEXT   NOT NULL,
    labels          TEXT   NOT NULL,
    annotations     TEXT   NOT NULL,
    generator_url   TEXT,
    first_seen      BIGINT NOT NULL,
    last_seen       BIGINT NOT NULL,
    times_notified  BIGINT NOT NULL DEFAULT 1,
    resolved_at     BIGINT,
    UNIQUE (fingerprint, starts_at)
);
CREATE INDEX incidents_by_alertname ON incidents (alertname, last_seen);
CREATE INDEX incidents_by_last_seen ON incidents (last_seen);

-- Every webhook as received, append-only: the audit trail and the replay source.
CREATE TABLE alert_events (
    id           BIGSERIAL PRIMARY KEY,
    received_at  BIGINT NOT NULL,
    receiver     TEXT   NOT NULL,
    group_key    TEXT   NOT NULL,
    status       TEXT   NOT NULL,
    alerts       BIGINT NOT NULL,
    payload      TEXT   NOT NULL
);

CREATE TABLE incident_notes (
    id           BIGSERIAL PRIMARY KEY,
    incident_id  BIGINT NOT NULL REFERENCES incidents (id),
    author       TEXT,
    body         TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX incident_notes_by_incident ON incident_notes (incident_id, id);

-- Ingested documents, idempotent by (source, external_id) and content hash.
CREATE TABLE documents (
    id            BIGSERIAL PRIMARY KEY,
    source        TEXT   NOT NULL,
    external_id   TEXT   NOT NULL,
    content_hash  TEXT   NOT NULL,
    title         TEXT,
    body          TEXT   NOT NULL,
    metadata      TEXT   NOT NULL,
    updated_at    BIGINT,
    created_at    BIGINT NOT NULL,
    stored_at     BIGINT NOT NULL,
    last_run_id   TEXT,
    UNIQUE (source, external_id)
);

CREATE TABLE ingest_runs (
    run_id      TEXT   PRIMARY KEY,
    source      TEXT   NOT NULL,
    started_at  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    accepted    BIGINT NOT NULL DEFAULT 0,
    unchanged   BIGINT NOT NULL DEFAULT 0
);

-- The embedding job outbox: written in the same transaction as the item it embeds.
CREATE TABLE embedding_jobs (
    id            BIGSERIAL PRIMARY KEY,
    kind          TEXT   NOT NULL,
    target_id     BIGINT NOT NULL,
    priority      BIGINT NOT NULL,
    state         TEXT   NOT NULL DEFAULT 'pending',
    attempts      BIGINT NOT NULL DEFAULT 0,
    available_at  BIGINT NOT NULL,
    lease_owner   TEXT,
    lease_until   BIGINT,
    last_error    TEXT,
    created_at    BIGINT NOT NULL,
    done_at       BIGINT
);
CREATE INDEX embedding_jobs_ready ON embedding_jobs (state, priority, available_at, id);

-- Vectors by content hash and model: identical text is never embedded twice.
CREATE TABLE vector_cache (
    model         TEXT   NOT NULL,
    content_hash  TEXT   NOT NULL,
    dim           BIGINT NOT NULL,
    vector        BYTEA  NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (model, content_hash)
);
