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
 * matter when a spooled CallOpen is replayed after a later write.
 *
 * Each write names its columns one by one through pgrow (common/pgrow.h):
 * the column, how its parameter is written, how an upsert treats it and
 * the value, on one line; a new column is one more line.  Values go only
 * as parameters; phone numbers only sealed (seal.h).
 * Threads: worker threads and the maintenance thread, each with its own
 * struct pg.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "persister.h"
#include "pgrow.h"
#include "wire.h"
#include "xmalloc.h"

#define BAD (-2)

/* A time in ms since the epoch as text; the server's now() without one. */
#define AT_MS "coalesce(to_timestamp($::double precision / 1000), now())"
#define MS "to_timestamp($::double precision / 1000)"
/* A message that does not know the direction leaves it as it was. */
#define SET_DIRECTION                                                         \
	"direction = CASE WHEN EXCLUDED.direction <> 'unspecified' "          \
	"THEN EXCLUDED.direction ELSE calls.direction END"

/* A provider status moves the call's status until the record is in. */
static const char sql_event_status[]
    = "UPDATE calls SET status = $2, updated_at = now() "
      "WHERE call_sid = $1 AND ended_at IS NULL";

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
	case BUS__PROVIDER__TELNYX:
		return ("telnyx");
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

/* The row's statement for rows that are not wanted: 0 or -1 (logged). */
static int
row_cmd(struct pg *pg, const char *what, const struct pgrow *row,
    const char *conflict)
{
	PGresult *res;

	if ((res = pgrow_exec(pg, what, row, conflict, NULL)) == NULL)
		return (-1);
	PQclear(res);
	return (0);
}

static int
write_open(struct pg *pg, const unsigned char *key, const Bus__Envelope *env,
    char *err, size_t errlen)
{
	const Bus__CallOpen     *o = env->call_open;
	const Bus__CallSettings *cs = o->settings;
	unsigned char           *to, *from;
	int                      tolen = 0, fromlen = 0, rv;
	char                     at[24], maxd[16];
	struct pgrow             row;

	if (json_ok(o->context_json, "context_json", err, errlen) == BAD
	    || (cs != NULL
	        && json_ok(cs->metadata_json, "settings.metadata_json", err,
	               errlen)
	            == BAD))
		return (BAD);
	to = seal_phone(key, o->to_phone, "calls.to_phone", &tolen);
	from = seal_phone(key, o->from_phone, "calls.from_phone", &fromlen);
	if ((nz(o->to_phone) && to == NULL)
	    || (nz(o->from_phone) && from == NULL)) {
		free(to);
		free(from);
		snprintf(err, errlen, "cannot encrypt a phone number");
		return (-1);
	}
	pgrow_init(&row, "calls");
	pgrow_add(&row, "call_sid", NULL, PGROW_KEY, env->call_sid);
	pgrow_add(
	    &row, "direction", NULL, PGROW_KEY, direction_name(o->direction));
	pgrow_add(
	    &row, "provider", NULL, PGROW_SET, provider_name(o->provider));
	pgrow_add(&row, "lead_id", NULL, PGROW_COALESCE, nz(o->lead_id));
	pgrow_add(
	    &row, "business_id", NULL, PGROW_COALESCE, nz(o->business_id));
	pgrow_add(&row, "objective", NULL, PGROW_SET, o->objective);
	pgrow_add(
	    &row, "context", "$::jsonb", PGROW_COALESCE, nz(o->context_json));
	pgrow_add_bytea(&row, "to_phone_enc", PGROW_COALESCE, to, tolen);
	pgrow_add_bytea(&row, "from_phone_enc", PGROW_COALESCE, from, fromlen);
	pgrow_add(&row, "created_at", AT_MS, PGROW_KEY,
	    ms_text(at, sizeof(at), o->created_at_ms));
	/* per-call settings: a column only when given, so a later
	 * CallOpen without them keeps what is stored */
	if (cs != NULL) {
		if (nz(cs->voice) != NULL)
			pgrow_add(&row, "voice", NULL, PGROW_SET, cs->voice);
		if (nz(cs->instructions) != NULL)
			pgrow_add(&row, "instructions", NULL, PGROW_SET,
			    cs->instructions);
		if (nz(cs->language) != NULL)
			pgrow_add(
			    &row, "language", NULL, PGROW_SET, cs->language);
		if (nz(cs->greeting) != NULL)
			pgrow_add(
			    &row, "greeting", NULL, PGROW_SET, cs->greeting);
		if (cs->max_duration_s > 0)
			pgrow_add(&row, "max_duration_s", "$::integer",
			    PGROW_SET,
			    ms_text(maxd, sizeof(maxd), cs->max_duration_s));
		if (nz(cs->metadata_json) != NULL)
			pgrow_add(&row, "metadata", "$::jsonb", PGROW_SET,
			    cs->metadata_json);
	}
	pgrow_set(&row, SET_DIRECTION);
	pgrow_set(&row,
	    "created_at = least(EXCLUDED.created_at, "
	    "calls.created_at)");
	pgrow_set(&row, "updated_at = now()");
	rv = row_cmd(pg, "call open", &row, "call_sid");
	free(to);
	free(from);
	return (rv);
}

static int
write_event(struct pg *pg, const Bus__Envelope *env, char *err, size_t errlen)
{
	const Bus__CallEvent *e = env->call_event;
	const char           *v[2];
	char                  seq[16], at[24];
	struct pgrow          row;

	if (e->kind == NULL || e->kind[0] == '\0') {
		snprintf(err, errlen, "call_event.kind is empty");
		return (BAD);
	}
	if (json_ok(e->payload_json, "payload_json", err, errlen) == BAD)
		return (BAD);
	snprintf(seq, sizeof(seq), "%u", e->seq);
	pgrow_init(&row, "call_events");
	pgrow_add(&row, "call_sid", NULL, PGROW_KEY, env->call_sid);
	pgrow_add(&row, "kind", NULL, PGROW_KEY, e->kind);
	pgrow_add(&row, "status", NULL, PGROW_KEY, e->status);
	pgrow_add(&row, "payload", "$::jsonb", PGROW_KEY, nz(e->payload_json));
	pgrow_add(&row, "seq", "$::integer", PGROW_KEY, seq);
	pgrow_add(
	    &row, "at", AT_MS, PGROW_KEY, ms_text(at, sizeof(at), e->at_ms));
	if (row_cmd(pg, "call event", &row, NULL) == -1)
		return (-1);
	if (strcmp(e->kind, "status") != 0 || nz(e->status) == NULL)
		return (0);
	v[0] = env->call_sid;
	v[1] = e->status;
	return (pg_cmd(pg, "call status", sql_event_status, 2, v));
}

static int
write_turn(struct pg *pg, const Bus__Envelope *env, char *err, size_t errlen)
{
	const Bus__TranscriptTurn *t = env->transcript_turn;
	char                       seq[16], at[24];
	struct pgrow               row;

	if (t->turn == NULL || t->turn->role == NULL
	    || t->turn->role[0] == '\0') {
		snprintf(err, errlen, "transcript_turn.turn.role is empty");
		return (BAD);
	}
	snprintf(seq, sizeof(seq), "%u", t->turn->seq);
	pgrow_init(&row, "transcript_turns");
	pgrow_add(&row, "call_sid", NULL, PGROW_KEY, env->call_sid);
	pgrow_add(&row, "seq", "$::integer", PGROW_KEY, seq);
	pgrow_add(&row, "role", NULL, PGROW_SET, t->turn->role);
	pgrow_add(&row, "text", NULL, PGROW_SET, t->turn->text);
	pgrow_add(&row, "item_id", NULL, PGROW_SET, t->item_id);
	pgrow_add(&row, "at", AT_MS, PGROW_SET,
	    ms_text(at, sizeof(at), t->turn->at_ms));
	return (row_cmd(pg, "transcript turn", &row, "call_sid, seq"));
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
/* The calls columns of Bus__Usage, in the order write_record() fills. */
static const char *const usage_cols[8] = { "model_input_tokens",
	"model_output_tokens", "model_input_audio_tokens",
	"model_output_audio_tokens", "model_cached_tokens", "model_responses",
	"reasoner_input_tokens", "reasoner_output_tokens" };

static int
write_record(struct pg *pg, const Bus__Envelope *env)
{
	const Bus__CallRecord *r = env->call_record;
	const Bus__Summary    *s = r->summary;
	const Bus__Usage      *u = r->usage;
	const char            *v[2], *lead;
	char                   t0[24], t1[24], dur[16], *sj, n[8][24];
	int                    i;
	struct pgrow           row;
	PGresult              *res;
	int                    rv = -1;

	sj = summary_json(s);
	snprintf(dur, sizeof(dur), "%u", r->duration_s);
	pgrow_init(&row, "calls");
	pgrow_add(&row, "call_sid", NULL, PGROW_KEY, env->call_sid);
	pgrow_add(
	    &row, "direction", NULL, PGROW_KEY, direction_name(r->direction));
	pgrow_add(&row, "status", NULL, PGROW_SET,
	    nz(r->status) != NULL ? r->status : "completed");
	pgrow_add(&row, "started_at", MS, PGROW_COALESCE,
	    ms_text(t0, sizeof(t0), r->started_at_ms));
	pgrow_add(&row, "ended_at", MS, PGROW_COALESCE,
	    ms_text(t1, sizeof(t1), r->ended_at_ms));
	pgrow_add(&row, "duration_s", "$::integer", PGROW_SET, dur);
	pgrow_add(&row, "transcript", NULL, PGROW_COALESCE, nz(r->transcript));
	pgrow_add(&row, "summary", "$::jsonb", PGROW_COALESCE, sj);
	pgrow_add(&row, "summary_pending", "$::boolean", PGROW_SET,
	    r->summary_pending ? "true" : "false");
	pgrow_add(&row, "outcome", NULL, PGROW_COALESCE,
	    s != NULL ? nz(s->outcome) : NULL);
	pgrow_add(&row, "interest_level", NULL, PGROW_COALESCE,
	    s != NULL ? nz(s->interest_level) : NULL);
	pgrow_add(&row, "next_action", NULL, PGROW_COALESCE,
	    s != NULL ? nz(s->next_action) : NULL);
	pgrow_add(&row, "appointment", NULL, PGROW_COALESCE,
	    s != NULL ? nz(s->appointment) : NULL);
	pgrow_add(&row, "quote", NULL, PGROW_COALESCE,
	    s != NULL ? nz(s->quote) : NULL);
	pgrow_add(&row, "end_reason", NULL, PGROW_COALESCE, nz(r->end_reason));
	pgrow_add(
	    &row, "answered_by", NULL, PGROW_COALESCE, nz(r->answered_by));
	/* cost: the model's and the reasoner's token counts; a record
	 * without them keeps what is stored */
	if (u != NULL) {
		const uint64_t un[8] = { u->model_input_tokens,
			u->model_output_tokens, u->model_input_audio_tokens,
			u->model_output_audio_tokens, u->model_cached_tokens,
			u->model_responses, u->reasoner_input_tokens,
			u->reasoner_output_tokens };

		for (i = 0; i < 8; i++) {
			snprintf(n[i], sizeof(n[i]), "%llu",
			    (unsigned long long)un[i]);
			pgrow_add(&row, usage_cols[i],
			    i == 5 ? "$::integer" : "$::bigint",
			    PGROW_COALESCE, n[i]);
		}
	}
	pgrow_set(&row, SET_DIRECTION);
	pgrow_set(&row, "updated_at = now()");
	res = pgrow_exec(pg, "call record", &row, "call_sid", "lead_id");
	free(sj);
	if (res == NULL)
		return (-1);
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
	const char  *type = wire_type_name(env->body_case), *k;
	char         mkey[64];
	struct pgrow row;
	PGresult    *res;
	int          r;

	err[0] = '\0';
	if (env->call_sid == NULL || env->call_sid[0] == '\0') {
		snprintf(err, errlen, "%s without a call_sid", type);
		return (STORE_BAD);
	}
	k = nz(env->idempotency_key);
	if (k == NULL && nz(env->msg_id) != NULL) {
		/* bus_request keeps msg_id across its own retries */
		snprintf(mkey, sizeof(mkey), "msg:%.40s", env->msg_id);
		k = mkey;
	}
	if (k == NULL) {
		snprintf(err, errlen, "%s without an idempotency_key", type);
		return (STORE_BAD);
	}
	pgrow_init(&row, "idempotency_keys");
	pgrow_add(&row, "key", NULL, PGROW_KEY, k);
	pgrow_add(&row, "kind", NULL, PGROW_KEY, type);
	pgrow_add(&row, "call_sid", NULL, PGROW_KEY, env->call_sid);
	if (pg_begin(pg) == -1)
		return (classify(pg, type, err, errlen));
	if ((res = pgrow_exec(pg, "idempotency key", &row, "key", NULL))
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
