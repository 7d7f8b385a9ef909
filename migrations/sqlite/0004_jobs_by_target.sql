-- The outbox claims one job per item at a time (a job never runs while another job for
-- the same item is leased, so an older read can never overwrite a newer one in the
-- index); claiming looks jobs up by their item.
CREATE INDEX embedding_jobs_by_target ON embedding_jobs (target_id, kind, state);
