-- 005_record_version.sql - a call record is a versioned document.
--
-- record_version is the version of the CallRecord that last wrote the
-- row (CallRecord.version: holder << 16 | the holder's own count).  A
-- record with a lower version than the row's is acknowledged and changes
-- nothing, so a partial record written by an ai-session handing the call
-- over (or replayed late from its journal) never overwrites the record of
-- the ai-session that held the call after it.  NULL: no record yet.
-- record_partial is true while the row holds such a hand-over record.
-- Re-runnable.

ALTER TABLE calls ADD COLUMN IF NOT EXISTS record_version bigint;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS record_partial boolean
	NOT NULL DEFAULT false;
