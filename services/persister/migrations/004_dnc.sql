-- 004_dnc.sql - the do-not-call list, written and read by rate-limiter.
--
-- key_hash is HMAC-SHA256 (hex) of the E.164 number under
-- RATE_LIMIT_HMAC_KEY, the same as rate_limit_hits.key_hash of scope
-- 'phone': the number itself is never stored.  Re-runnable.

CREATE TABLE IF NOT EXISTS do_not_call (
	key_hash	text PRIMARY KEY,
	added_at	timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE do_not_call ENABLE ROW LEVEL SECURITY;

DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
		IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
			EXECUTE format('REVOKE ALL ON TABLE do_not_call FROM %I',
			    r);
		END IF;
	END LOOP;
END
$$;
