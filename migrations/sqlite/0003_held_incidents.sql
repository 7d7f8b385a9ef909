-- Occurrences stored but not embedded yet: `held` says why ('self': an alert about
-- Firebreak itself, held while it fires; 'storm': deferred during an alert storm), and
-- `job_queued` whether its embedding job was written. Rows from before this migration
-- already had their job.
ALTER TABLE incidents ADD COLUMN held TEXT;
ALTER TABLE incidents ADD COLUMN job_queued BIGINT NOT NULL DEFAULT 1;
