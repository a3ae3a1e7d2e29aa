/*
 * store - the persister's writes: one transaction per write, with the
 * envelope's idempotency key inserted first in the same transaction.
 *
 *	BEGIN
 *	INSERT INTO idempotency_keys ... ON CONFLICT DO NOTHING
 *	    (no row: this key was applied before -> ROLLBACK, duplicate)
 *	the write (upserts on calls, inserts elsewhere)
 *	COMMIT
 *
 * Two deliveries of one key at once: the second INSERT waits on the
 * first's uncommitted key row, then sees the conflict.  A COMMIT whose
 * reply was lost may or may not have happened; the sender (or the
 * journal) retries and the key tells.  The upserts only fill what their
 * message knows (a CallOpen never overwrites what a CallRecord set, and
 * the other way round), so the order of writes of one call does not
 * matter when a spooled CallOpen is replayed after a later write.  A
 * CallRecord is a versioned document of its call: one whose version is
 * lower than the row's record_version changes nothing (a hand-over
 * record never overwrites the final record of the next holder).
 *
 * Values go only as parameters; phone numbers only sealed (seal.h).
 * Threads: worker threads and the maintenance thread, each with its own
 * struct pg.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "persister.h"
#include "wire.h"
#include "xmalloc.h"

#define BAD (-2)

static const char sql_key[]
    = "INSERT INTO idempotency_keys (key, kind, call_sid) "
      "VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING";

static const char sql_open[]
    = "INSERT INTO calls (call_sid, direction, provider, lead_id, "
      " business_id, objective, context, to_phone_enc, from_phone_enc, "
      " created_at) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, "
      " coalesce(to_timestamp($10::double precision / 1000), now())) "
      "ON CONFLICT (call_sid) DO UPDATE SET "
      " direction = CASE WHEN EXCLUDED.direction <> 'unspecified' "
      "  THEN EXCLUDED.direction ELSE calls.direction END, "
      " provider = EXCLUDED.provider, "
      " lead_id = coalesce(EXCLUDED.lead_id, calls.lead_id), "
      " business_id = coalesce(EXCLUDED.business_id, calls.business_id), "
      " objective = EXCLUDED.objective, "
      " context = coalesce(EXCLUDED.context, calls.context), "
      " to_phone_enc = coalesce(EXCLUDED.to_phone_enc, calls.to_phone_enc), "
      " from_phone_enc = coalesce(EXCLUDED.from_phone_enc, "
      "  calls.from_phone_enc), "
      " created_at = least(EXCLUDED.created_at, calls.created_at), "
      " updated_at = now()";

static const char sql_event[]
    = "INSERT INTO call_events (call_sid, kind, status, payload, seq, at) "
      "VALUES ($1, $2, $3, $4::jsonb, $5::integer, "
      " coalesce(to_timestamp($6::double precision / 1000), now()))";
/* A provider status moves the call's status until the record is in. */
static const char sql_event_status[]
    = "UPDATE calls SET status = $2, updated_at = now() "
      "WHERE call_sid = $1 AND ended_at IS NULL";

static const char sql_turn[]
    = "INSERT INTO transcript_turns (call_sid, seq, role, text, item_id, at) "
      "VALUES ($1, $2::integer, $3, $4, $5, "
      " coalesce(to_timestamp($6::double precision / 1000), now())) "
      "ON CONFLICT (call_sid, seq) DO UPDATE SET role = EXCLUDED.role, "
      " text = EXCLUDED.text, item_id = EXCLUDED.item_id, at = EXCLUDED.at";

static const char sql_record[]
    = "INSERT INTO calls (call_sid, direction, status, started_at, ended_at, "
      " duration_s, transcript, summary, summary_pending, outcome, "
      " interest_level, next_action, appointment, quote, end_reason, "
      " answered_by, record_version, record_partial) "
      "VALUES ($1, $2, $3, to_timestamp($4::double precision / 1000), "
      " to_timestamp($5::double precision / 1000), $6::integer, $7, "
      " $8::jsonb, $9::boolean, $10, $11, $12, $13, $14, $15, $16, "
      " $17::bigint, $18::boolean) "
      "ON CONFLICT (call_sid) DO UPDATE SET "
      " direction = CASE WHEN EXCLUDED.direction <> 'unspecified' "
      "  THEN EXCLUDED.direction ELSE calls.direction END, "
      " status = EXCLUDED.status, "
      " started_at = coalesce(EXCLUDED.started_at, calls.started_at), "
      " ended_at = coalesce(EXCLUDED.ended_at, calls.ended_at), "
      " duration_s = EXCLUDED.duration_s, "
      " transcript = coalesce(EXCLUDED.transcript, calls.transcript), "
      " summary = coalesce(EXCLUDED.summary, calls.summary), "
      " summary_pending = EXCLUDED.summary_pending, "
      " outcome = coalesce(EXCLUDED.outcome, calls.outcome), "
      " interest_level = coalesce(EXCLUDED.interest_level, "
      "  calls.interest_level), "
      " next_action = coalesce(EXCLUDED.next_action, calls.next_action), "
      " appointment = coalesce(EXCLUDED.appointment, calls.appointment), "
      " quote = coalesce(EXCLUDED.quote, calls.quote), "
      " end_reason = coalesce(EXCLUDED.end_reason, calls.end_reason), "
      " answered_by = coalesce(EXCLUDED.answered_by, calls.answered_by), "
      " record_version = EXCLUDED.record_version, "
      " record_partial = EXCLUDED.record_partial, "
      " updated_at = now() "
      "WHERE calls.record_version IS NULL "
      " OR EXCLUDED.record_version >= calls.record_version "
      "RETURNING lead_id";
static const char sql_lead[]
    = "UPDATE leads SET status = $2, updated_at = now() WHERE id = $1";

static const char sql_expire[]
    = "DELETE FROM idempotency_keys WHERE created_at < now() - "
      "$1::bigint * interval '1 millisecond'";

bool
store_is_write(int c)
{
	return (c == BUS__ENVELOPE__BODY_CALL_OPEN
	    || c == BUS__ENVELOPE__BODY_CALL_EVENT
	    || c == BUS__ENVELOPE__BODY_TRANSCRIPT_TURN
	    || c == BUS__ENVELOPE__BODY_CALL_RECORD);
}

static const char *
direction_name(Bus__Direction d)
{
	switch (d) {
	case BUS__DIRECTION__OUTBOUND:
		return ("outbound");
	case BUS__DIRECTION__INBOUND:
		return ("inbound");
	default:
		return ("unspecified");
	}
}

static const char *
provider_name(Bus__Provider p)
{
	switch (p) {
	case BUS__PROVIDER__TWILIO:
		return ("twilio");
	case BUS__PROVIDER__SIGNALWIRE:
		return ("signalwire");
	default:
		return ("unspecified");
	}
}

/* "" -> NULL, so empty fields do not overwrite known ones. */
static const char *
nz(const char *s)
{
	return (s != NULL && s[0] != '\0' ? s : NULL);
}

static const char *
ms_text(char *buf, size_t len, int64_t ms)
{
	if (ms <= 0)
		return (NULL);
	snprintf(buf, len, "%lld", (long long)ms);
	return (buf);
}

/* NULL or "" is fine (SQL NULL); otherwise it must parse as JSON. */
static int
json_ok(const char *s, const char *field, char *err, size_t errlen)
{
	json_error_t e;
	json_t      *j;

	if (s == NULL || s[0] == '\0')
		return (0);
	if ((j = json_loads(s, JSON_DECODE_ANY, &e)) == NULL) {
		snprintf(err, errlen, "%s is not JSON: %s (line %d)", field,
		    e.text, e.line);
		return (BAD);
	}
	json_decref(j);
	return (0);
}

/* Seal a phone number for column col; NULL when there is none. */
static unsigned char *
seal_phone(
    const unsigned char *key, const char *phone, const char *col, int *lenp)
{
	unsigned char *buf;
	size_t         n;
	int            len;

	if (phone == NULL || phone[0] == '\0')
		return (NULL);
	n = strlen(phone) + SEAL_OVERHEAD;
	buf = xmalloc(n);
	if ((len = seal_encrypt(key, phone, strlen(phone), col, buf, n))
	    == -1) {
		free(buf);
		return (NULL);
	}
	*lenp = len;
	return (buf);
}

static int
write_open(struct pg *pg, const unsigned char *key, const Bus__Envelope *env,
    char *err, size_t errlen)
{
	const Bus__CallOpen *o = env->call_open;
	unsigned char       *to, *from;
	const char          *v[10];
	int                  len[10] = { 0 }, fmt[10] = { 0 };
	char                 at[24];
	PGresult            *res;

	if (json_ok(o->context_json, "context_json", err, errlen) == BAD)
		return (BAD);
	to = seal_phone(key, o->to_phone, "calls.to_phone", &len[7]);
	from = seal_phone(key, o->from_phone, "calls.from_phone", &len[8]);
	if ((nz(o->to_phone) && to == NULL)
	    || (nz(o->from_phone) && from == NULL)) {
		free(to);
		free(from);
		snprintf(err, errlen, "cannot encrypt a phone number");
		return (-1);
	}
	v[0] = env->call_sid;
	v[1] = direction_name(o->direction);
	v[2] = provider_name(o->provider);
	v[3] = nz(o->lead_id);
	v[4] = nz(o->business_id);
	v[5] = o->objective;
	v[6] = nz(o->context_json);
	v[7] = (const char *)to;
	v[8] = (const char *)from;
	v[9] = ms_text(at, sizeof(at), o->created_at_ms);
	fmt[7] = fmt[8] = 1; /* bytea, binary */
	res = pg_exec(pg, "call open", sql_open, 10, v, len, fmt);
	free(to);
	free(from);
	if (res == NULL)
		return (-1);
	PQclear(res);
	return (0);
}

static int
write_event(struct pg *pg, const Bus__Envelope *env, char *err, size_t errlen)
{
	const Bus__CallEvent *e = env->call_event;
	const char           *v[6];
	char                  seq[16], at[24];

	if (e->kind == NULL || e->kind[0] == '\0') {
		snprintf(err, errlen, "call_event.kind is empty");
		return (BAD);
	}
	if (json_ok(e->payload_json, "payload_json", err, errlen) == BAD)
		return (BAD);
	snprintf(seq, sizeof(seq), "%u", e->seq);
	v[0] = env->call_sid;
	v[1] = e->kind;
	v[2] = e->status;
	v[3] = nz(e->payload_json);
	v[4] = seq;
	v[5] = ms_text(at, sizeof(at), e->at_ms);
	if (pg_cmd(pg, "call event", sql_event, 6, v) == -1)
		return (-1);
	if (strcmp(e->kind, "status") != 0 || nz(e->status) == NULL)
		return (0);
	v[1] = e->status;
	return (pg_cmd(pg, "call status", sql_event_status, 2, v));
}

static int
write_turn(struct pg *pg, const Bus__Envelope *env, char *err, size_t errlen)
{
	const Bus__TranscriptTurn *t = env->transcript_turn;
	const char                *v[6];
	char                       seq[16], at[24];

	if (t->turn == NULL || t->turn->role == NULL
	    || t->turn->role[0] == '\0') {
		snprintf(err, errlen, "transcript_turn.turn.role is empty");
		return (BAD);
	}
	snprintf(seq, sizeof(seq), "%u", t->turn->seq);
	v[0] = env->call_sid;
	v[1] = seq;
	v[2] = t->turn->role;
	v[3] = t->turn->text;
	v[4] = t->item_id;
	v[5] = ms_text(at, sizeof(at), t->turn->at_ms);
	return (pg_cmd(pg, "transcript turn", sql_turn, 6, v));
}

/* The summary as JSON text (malloc'd): its own json when that parses to
 * an object, else an object of its fields.  NULL without a summary. */
static char *
summary_json(const Bus__Summary *s)
{
	json_t *j;
	char   *out;

	if (s == NULL)
		return (NULL);
	if (nz(s->json) != NULL
	    && (j = json_loads(s->json, 0, NULL)) != NULL) {
		if (json_is_object(j)) {
			out = json_dumps(j, JSON_COMPACT);
			json_decref(j);
			return (out);
		}
		json_decref(j);
	}
	j = json_pack("{s:s?,s:s?,s:s?,s:s?,s:s?,s:s?,s:s?}", "outcome",
	    nz(s->outcome), "interest_level", nz(s->interest_level),
	    "next_action", nz(s->next_action), "appointment",
	    nz(s->appointment), "quote", nz(s->quote), "summary",
	    nz(s->summary), "model", nz(s->model));
	if (j == NULL)
		return (NULL);
	out = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return (out);
}

/* Upsert the call, then move its lead's status: one transaction. */
static int
write_record(struct pg *pg, const Bus__Envelope *env)
{
	const Bus__CallRecord *r = env->call_record;
	const Bus__Summary    *s = r->summary;
	const char            *v[18], *lead;
	char                   t0[24], t1[24], dur[16], ver[16], *sj;
	PGresult              *res;
	int                    rv = -1;

	sj = summary_json(s);
	snprintf(dur, sizeof(dur), "%u", r->duration_s);
	v[0] = env->call_sid;
	v[1] = direction_name(r->direction);
	v[2] = nz(r->status) != NULL ? r->status : "completed";
	v[3] = ms_text(t0, sizeof(t0), r->started_at_ms);
	v[4] = ms_text(t1, sizeof(t1), r->ended_at_ms);
	v[5] = dur;
	v[6] = nz(r->transcript);
	v[7] = sj;
	v[8] = r->summary_pending ? "true" : "false";
	v[9] = s != NULL ? nz(s->outcome) : NULL;
	v[10] = s != NULL ? nz(s->interest_level) : NULL;
	v[11] = s != NULL ? nz(s->next_action) : NULL;
	v[12] = s != NULL ? nz(s->appointment) : NULL;
	v[13] = s != NULL ? nz(s->quote) : NULL;
	v[14] = nz(r->end_reason);
	v[15] = nz(r->answered_by);
	snprintf(ver, sizeof(ver), "%u", r->version);
	v[16] = ver;
	v[17] = r->partial ? "true" : "false";
	res = pg_exec(pg, "call record", sql_record, 18, v, NULL, NULL);
	free(sj);
	if (res == NULL)
		return (-1);
	if (PQntuples(res) == 0) {
		/* a later holder of the call wrote a higher version */
		struct log_ctx lc = { env->call_sid, env->trace_id };

		logc_info(&lc,
		    "call record version %u superseded by the stored one",
		    r->version);
		PQclear(res);
		return (0);
	}
	lead = pg_value(res, 0, 0);
	if (lead != NULL && nz(r->lead_status) != NULL) {
		v[0] = lead;
		v[1] = r->lead_status;
		if (pg_cmd(pg, "lead status", sql_lead, 2, v) == -1)
			goto out;
	}
	rv = 0;
out:
	PQclear(res);
	return (rv);
}

static int
write_body(struct pg *pg, const unsigned char *key, const Bus__Envelope *env,
    char *err, size_t errlen)
{
	switch (env->body_case) {
	case BUS__ENVELOPE__BODY_CALL_OPEN:
		return (write_open(pg, key, env, err, errlen));
	case BUS__ENVELOPE__BODY_CALL_EVENT:
		return (write_event(pg, env, err, errlen));
	case BUS__ENVELOPE__BODY_TRANSCRIPT_TURN:
		return (write_turn(pg, env, err, errlen));
	case BUS__ENVELOPE__BODY_CALL_RECORD:
		return (write_record(pg, env));
	default:
		snprintf(err, errlen, "not a write");
		return (BAD);
	}
}

/* Why the transaction failed, for the caller and the sender. */
static enum store_rv
classify(struct pg *pg, const char *type, char *err, size_t errlen)
{
	if (pg_is_transient(pg))
		return (STORE_UNAVAILABLE);
	if (strncmp(pg->sqlstate, "22", 2) == 0
	    || strncmp(pg->sqlstate, "23", 2) == 0) {
		snprintf(err, errlen,
		    "%s rejected by the database "
		    "(sqlstate %s)",
		    type, pg->sqlstate);
		return (STORE_BAD);
	}
	if (err[0] == '\0')
		snprintf(err, errlen, "%s failed (sqlstate %s)", type,
		    pg->sqlstate[0] != '\0' ? pg->sqlstate : "none");
	return (STORE_FAILED);
}

enum store_rv
store_apply(struct pg *pg, const unsigned char *key, const Bus__Envelope *env,
    char *err, size_t errlen)
{
	const char *type = wire_type_name(env->body_case);
	const char *v[3];
	char        mkey[64];
	PGresult   *res;
	int         r;

	err[0] = '\0';
	if (env->call_sid == NULL || env->call_sid[0] == '\0') {
		snprintf(err, errlen, "%s without a call_sid", type);
		return (STORE_BAD);
	}
	v[0] = nz(env->idempotency_key);
	if (v[0] == NULL && nz(env->msg_id) != NULL) {
		/* bus_request keeps msg_id across its own retries */
		snprintf(mkey, sizeof(mkey), "msg:%.40s", env->msg_id);
		v[0] = mkey;
	}
	if (v[0] == NULL) {
		snprintf(err, errlen, "%s without an idempotency_key", type);
		return (STORE_BAD);
	}
	v[1] = type;
	v[2] = env->call_sid;
	if (pg_begin(pg) == -1)
		return (classify(pg, type, err, errlen));
	if ((res = pg_exec(pg, "idempotency key", sql_key, 3, v, NULL, NULL))
	    == NULL)
		goto fail;
	r = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	if (!r) {
		pg_rollback(pg);
		return (STORE_DUPLICATE);
	}
	if ((r = write_body(pg, key, env, err, errlen)) == BAD) {
		pg_rollback(pg);
		return (STORE_BAD);
	}
	if (r == -1 || pg_commit(pg) == -1)
		goto fail;
	return (STORE_OK);
fail:
	pg_rollback(pg);
	return (classify(pg, type, err, errlen));
}

long
store_expire_keys(struct pg *pg, long ttl_ms)
{
	const char *v[1];
	char        ms[24];
	PGresult   *res;
	long        n;

	snprintf(ms, sizeof(ms), "%ld", ttl_ms);
	v[0] = ms;
	if ((res = pg_exec(pg, "expire keys", sql_expire, 1, v, NULL, NULL))
	    == NULL)
		return (-1);
	n = strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return (n);
}
