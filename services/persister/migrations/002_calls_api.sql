-- 002_calls_api.sql - what the calls API reads and POST /calls chooses.
--
-- Per-call settings (CallOpen.settings): empty / NULL keeps ai-session's
-- default.  metadata is the business's own object, stored and shown by
-- the API, never sent to the model.  Re-runnable like 001.

ALTER TABLE calls ADD COLUMN IF NOT EXISTS voice text NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN IF NOT EXISTS instructions text NOT NULL
	DEFAULT '';
ALTER TABLE calls ADD COLUMN IF NOT EXISTS language text NOT NULL
	DEFAULT '';
ALTER TABLE calls ADD COLUMN IF NOT EXISTS greeting text NOT NULL
	DEFAULT '';
ALTER TABLE calls ADD COLUMN IF NOT EXISTS max_duration_s integer;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS metadata jsonb;

-- GET /calls pages newest first by id and filters by status and time.
CREATE INDEX IF NOT EXISTS calls_status ON calls (status, id);
CREATE INDEX IF NOT EXISTS calls_created_at ON calls (created_at);
