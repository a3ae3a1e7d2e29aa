-- 001_init.sql - the call bridge's schema.
--
-- Applied by persister at start (inside one transaction under an advisory
-- lock, recorded in schema_migrations) into the first schema of the
-- search_path.  Written to be re-runnable: every object is created only if
-- missing, so applying this file twice leaves the same schema.
--
-- Phone numbers are never stored in plain text: *_phone_enc columns hold
-- AES-256-GCM sealed values (v1 || nonce || ciphertext || tag) and the
-- rate limiter keeps only HMAC-SHA256 hashes.

CREATE TABLE IF NOT EXISTS businesses (
	id			text PRIMARY KEY DEFAULT gen_random_uuid()::text,
	name			text NOT NULL,
	description		text NOT NULL DEFAULT '',
	voicemail_message	text NOT NULL DEFAULT '',
	created_at		timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS leads (
	id		text PRIMARY KEY DEFAULT gen_random_uuid()::text,
	business_id	text REFERENCES businesses (id) ON DELETE SET NULL,
	name		text NOT NULL DEFAULT '',
	phone_enc	bytea,
	status		text NOT NULL DEFAULT 'new',
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);

-- lead_id and business_id carry no foreign key: a call is recorded even
-- when its lead lives elsewhere or was deleted.
CREATE TABLE IF NOT EXISTS calls (
	id		bigserial PRIMARY KEY,
	call_sid	text NOT NULL UNIQUE,
	direction	text NOT NULL DEFAULT 'unspecified',
	provider	text NOT NULL DEFAULT 'unspecified',
	status		text NOT NULL DEFAULT 'created',
	lead_id		text,
	business_id	text,
	objective	text NOT NULL DEFAULT '',
	context		jsonb,
	to_phone_enc	bytea,
	from_phone_enc	bytea,
	created_at	timestamptz NOT NULL DEFAULT now(),
	started_at	timestamptz,
	ended_at	timestamptz,
	duration_s	integer,
	transcript	text,
	summary		jsonb,
	summary_pending	boolean NOT NULL DEFAULT false,
	outcome		text,
	interest_level	text,
	next_action	text,
	appointment	text,
	quote		text,
	end_reason	text,
	answered_by	text,
	updated_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS calls_lead_id ON calls (lead_id);

CREATE TABLE IF NOT EXISTS call_events (
	id		bigserial PRIMARY KEY,
	call_sid	text NOT NULL,
	kind		text NOT NULL,
	status		text NOT NULL DEFAULT '',
	payload		jsonb,
	seq		integer NOT NULL DEFAULT 0,
	at		timestamptz NOT NULL DEFAULT now(),
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS call_events_call_sid ON call_events (call_sid);

CREATE TABLE IF NOT EXISTS transcript_turns (
	id		bigserial PRIMARY KEY,
	call_sid	text NOT NULL,
	seq		integer NOT NULL,
	role		text NOT NULL,
	text		text NOT NULL,
	item_id		text NOT NULL DEFAULT '',
	at		timestamptz NOT NULL DEFAULT now(),
	created_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (call_sid, seq)
);

-- Written by rate-limiter: one row per counted call and key.  key_hash is
-- HMAC-SHA256 (hex) of the phone number or of "ip:<address>".
CREATE TABLE IF NOT EXISTS rate_limit_hits (
	id		bigserial PRIMARY KEY,
	scope		text NOT NULL,
	key_hash	text NOT NULL,
	kind		text NOT NULL DEFAULT '',
	hit_at		timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS rate_limit_hits_key
	ON rate_limit_hits (scope, key_hash, hit_at);
CREATE INDEX IF NOT EXISTS rate_limit_hits_at ON rate_limit_hits (hit_at);

-- Every applied write's idempotency key, inserted in the same transaction
-- as the write: a retry finds its key and changes nothing.
CREATE TABLE IF NOT EXISTS idempotency_keys (
	key		text PRIMARY KEY,
	kind		text NOT NULL,
	call_sid	text NOT NULL DEFAULT '',
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created
	ON idempotency_keys (created_at);

-- Supabase exposes tables of public schemas through its Data API: enable
-- RLS with no policy (server-only tables) and revoke the client roles
-- where they exist.  Our role owns the tables, so RLS does not bind it.
ALTER TABLE businesses ENABLE ROW LEVEL SECURITY;
ALTER TABLE leads ENABLE ROW LEVEL SECURITY;
ALTER TABLE calls ENABLE ROW LEVEL SECURITY;
ALTER TABLE call_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE transcript_turns ENABLE ROW LEVEL SECURITY;
ALTER TABLE rate_limit_hits ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;

DO $$
DECLARE
	r text;
	t text;
BEGIN
	FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
		IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
			FOREACH t IN ARRAY ARRAY['businesses', 'leads', 'calls',
			    'call_events', 'transcript_turns', 'rate_limit_hits',
			    'idempotency_keys'] LOOP
				EXECUTE format('REVOKE ALL ON TABLE %I FROM %I',
				    t, r);
			END LOOP;
		END IF;
	END LOOP;
END
$$;
