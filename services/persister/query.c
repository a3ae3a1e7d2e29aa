/*
 * query - CallQuery: the reads behind media-edge's calls API.
 *
 * One call (call_sid set): the calls row with its status timeline
 * (call_events), its transcript turns, summary, per-call settings,
 * token usage and lead status, as one JSON object built by PostgreSQL.  A page
 * of calls (call_sid empty): the filtered calls newest first by id, at most
 * PS_QUERY_MAX each, with a cursor (the id of the last row given) when
 * more rows match.  Phone numbers are never read: the API shows none.
 *
 * Values go only as parameters.
 * Threads: worker threads, each with its own struct pg.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "persister.h"
#include "svc.h"
#include "xmalloc.h"

#define PS_QUERY_MAX 100
#define PS_QUERY_DEFAULT 20

static const char sql_one[]
    = "SELECT json_build_object("
      " 'call_sid', c.call_sid, 'direction', c.direction,"
      " 'provider', c.provider, 'status', c.status,"
      " 'lead_id', c.lead_id, 'lead_status', l.status,"
      " 'business_id', c.business_id, 'objective', c.objective,"
      " 'context', c.context, 'created_at', c.created_at,"
      " 'started_at', c.started_at, 'ended_at', c.ended_at,"
      " 'duration_s', c.duration_s, 'end_reason', c.end_reason,"
      " 'answered_by', c.answered_by, 'outcome', c.outcome,"
      " 'interest_level', c.interest_level,"
      " 'next_action', c.next_action, 'appointment', c.appointment,"
      " 'summary', c.summary, 'summary_pending', c.summary_pending,"
      " 'settings', json_build_object('voice', c.voice,"
      "  'instructions', c.instructions, 'language', c.language,"
      "  'greeting', c.greeting, 'max_duration_s', c.max_duration_s),"
      " 'metadata', c.metadata,"
      " 'usage', json_build_object("
      "  'model_input_tokens', c.model_input_tokens,"
      "  'model_output_tokens', c.model_output_tokens,"
      "  'model_input_audio_tokens', c.model_input_audio_tokens,"
      "  'model_output_audio_tokens', c.model_output_audio_tokens,"
      "  'model_cached_tokens', c.model_cached_tokens,"
      "  'model_responses', c.model_responses,"
      "  'reasoner_input_tokens', c.reasoner_input_tokens,"
      "  'reasoner_output_tokens', c.reasoner_output_tokens),"
      " 'timeline', coalesce((SELECT json_agg(json_build_object("
      "  'kind', e.kind, 'status', e.status, 'at', e.at)"
      "  ORDER BY e.at, e.id) FROM call_events e"
      "  WHERE e.call_sid = c.call_sid), '[]'::json),"
      " 'transcript', coalesce((SELECT json_agg(json_build_object("
      "  'seq', t.seq, 'role', t.role, 'text', t.text, 'at', t.at)"
      "  ORDER BY t.seq) FROM transcript_turns t"
      "  WHERE t.call_sid = c.call_sid), '[]'::json)"
      ")::text "
      "FROM calls c LEFT JOIN leads l ON l.id = c.lead_id "
      "WHERE c.call_sid = $1";

static const char sql_list[]
    = "SELECT c.id, json_build_object("
      " 'call_sid', c.call_sid, 'direction', c.direction,"
      " 'status', c.status, 'lead_id', c.lead_id,"
      " 'lead_status', l.status, 'created_at', c.created_at,"
      " 'ended_at', c.ended_at, 'duration_s', c.duration_s,"
      " 'outcome', c.outcome, 'interest_level', c.interest_level,"
      " 'next_action', c.next_action,"
      " 'summary', c.summary ->> 'summary')::text "
      "FROM calls c LEFT JOIN leads l ON l.id = c.lead_id "
      "WHERE ($1 = '' OR c.status = $1) AND ($2 = '' OR c.lead_id = $2)"
      " AND ($3::bigint = 0"
      "  OR c.created_at >= to_timestamp($3::double precision / 1000))"
      " AND ($4::bigint = 0"
      "  OR c.created_at < to_timestamp($4::double precision / 1000))"
      " AND ($5::bigint = 0 OR c.id < $5::bigint) "
      "ORDER BY c.id DESC LIMIT $6::integer";

struct query_hold {
	Bus__CallQueryResult r;
	char                *json;
};

static void
hold_free(void *arg)
{
	struct query_hold *h = arg;

	free(h->json);
	free(h);
}

static enum store_rv
failed(struct pg *pg)
{
	return (pg_is_transient(pg) ? STORE_UNAVAILABLE : STORE_FAILED);
}

static enum store_rv
query_one(struct pg *pg, const char *sid, struct query_hold *h)
{
	const char *v[1] = { sid };
	PGresult   *res;

	if ((res = pg_exec(pg, "call query", sql_one, 1, v, NULL, NULL))
	    == NULL)
		return (failed(pg));
	h->r.found = PQntuples(res) > 0;
	h->json = xstrdup(h->r.found ? PQgetvalue(res, 0, 0) : "{}");
	PQclear(res);
	return (STORE_OK);
}

static enum store_rv
query_list(struct pg *pg, const Bus__CallQuery *q, struct query_hold *h)
{
	char        since[24], until[24], cursor[24], limit[16];
	const char *v[6]
	    = { q->status, q->lead_id, since, until, cursor, limit };
	unsigned  n = q->limit == 0 ? PS_QUERY_DEFAULT : q->limit;
	PGresult *res;
	json_t   *o, *a;
	int       i, rows;

	if (n > PS_QUERY_MAX)
		n = PS_QUERY_MAX;
	snprintf(since, sizeof(since), "%lld", (long long)q->since_ms);
	snprintf(until, sizeof(until), "%lld", (long long)q->until_ms);
	snprintf(cursor, sizeof(cursor), "%lld", (long long)q->cursor);
	snprintf(
	    limit, sizeof(limit), "%u", n + 1); /* one more: a next page */
	if ((res = pg_exec(pg, "call list", sql_list, 6, v, NULL, NULL))
	    == NULL)
		return (failed(pg));
	rows = PQntuples(res);
	a = json_array();
	for (i = 0; i < rows && i < (int)n; i++)
		json_array_append_new(
		    a, json_loads(PQgetvalue(res, i, 1), 0, NULL));
	if (rows > (int)n)
		h->r.next_cursor
		    = strtoll(PQgetvalue(res, n - 1, 0), NULL, 10);
	PQclear(res);
	o = json_pack("{s:o}", "calls", a);
	h->json = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	h->r.found = true;
	return (STORE_OK);
}

enum store_rv
query_calls(struct pg *pg, const Bus__CallQuery *q, struct reply *out)
{
	struct query_hold *h = xcalloc(1, sizeof(*h));
	enum store_rv      r;

	bus__call_query_result__init(&h->r);
	if (q->call_sid[0] != '\0')
		r = query_one(pg, q->call_sid, h);
	else
		r = query_list(pg, q, h);
	if (r != STORE_OK || h->json == NULL) {
		hold_free(h);
		return (r != STORE_OK ? r : STORE_FAILED);
	}
	h->r.json = h->json;
	reply_body(out, BUS__ENVELOPE__BODY_CALL_QUERY_RESULT, &h->r);
	out->cleanup = hold_free;
	out->cleanup_arg = h;
	return (STORE_OK);
}
