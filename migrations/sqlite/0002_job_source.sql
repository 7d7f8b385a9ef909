-- Who asked for each embedding job: the authenticated source of the webhook, ingest call
-- or note that wrote it. The embedding budget is charged per source, so a job carries
-- its source to the outbox worker. Jobs written before this migration belong to ''.
ALTER TABLE embedding_jobs ADD COLUMN source TEXT NOT NULL DEFAULT '';
