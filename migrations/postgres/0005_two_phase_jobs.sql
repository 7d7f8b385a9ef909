-- Two-phase indexing: a job first writes its item's keyword vectors (stage 0, never
-- waiting on the embedder), then its dense vectors (stage 1). `keywords_at` is when the
-- keyword phase ended: the age of the oldest job at stage 1 is how long an item has been
-- findable by its words but not yet by its meaning. Jobs from before this migration
-- start again at stage 0, which rewrites points they may already have (ids are
-- deterministic: nothing is duplicated).
ALTER TABLE embedding_jobs ADD COLUMN stage BIGINT NOT NULL DEFAULT 0;
ALTER TABLE embedding_jobs ADD COLUMN keywords_at BIGINT;
CREATE INDEX embedding_jobs_ready_by_stage ON embedding_jobs (state, stage, priority, available_at, id);
