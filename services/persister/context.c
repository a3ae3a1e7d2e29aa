/*
 * context - GetCallContext: what ai-session needs to start (or resume) a
 * call: the call's direction and objective, its lead and business, and
 * the transcript stored so far.
 *
 * The reply points straight into the two PGresults; they are cleared by
 * the reply's cleanup after svc has packed it.
 * Threads: worker threads, each with its own struct pg.
 */
#include <stdlib.h>
#include <string.h>

#include "persister.h"
#include "svc.h"
#include "xmalloc.h"

static const char sql_call[]
    = "SELECT c.direction, coalesce(c.lead_id, ''), coalesce(l.name, ''), "
      " coalesce(b.name, ''), coalesce(b.description, ''), c.objective, "
      " coalesce(c.context::text, ''), coalesce(b.voicemail_message, ''), "
      " c.voice, c.instructions, c.language, c.greeting, "
      " coalesce(c.max_duration_s, 0), coalesce(c.metadata::text, '') "
      "FROM calls c "
      "LEFT JOIN leads l ON l.id = c.lead_id "
      "LEFT JOIN businesses b ON b.id = coalesce(c.business_id, "
      " l.business_id) "
      "WHERE c.call_sid = $1";

static const char sql_turns[]
    = "SELECT role, text, seq, (extract(epoch FROM at) * 1000)::bigint "
      "FROM transcript_turns WHERE call_sid = $1 ORDER BY seq LIMIT 10000";

struct ctx_hold {
	PGresult         *call, *turns;
	Bus__CallSettings settings;
	Bus__Turn        *tv;
	Bus__Turn       **tp;
};

static void
ctx_free(void *arg)
{
	struct ctx_hold *h = arg;

	PQclear(h->call);
	PQclear(h->turns);
	free(h->tv);
	free(h->tp);
	free(h);
}

static Bus__Direction
direction_of(const char *s)
{
	if (strcmp(s, "outbound") == 0)
		return (BUS__DIRECTION__OUTBOUND);
	if (strcmp(s, "inbound") == 0)
		return (BUS__DIRECTION__INBOUND);
	return (BUS__DIRECTION__DIRECTION_UNSPECIFIED);
}

static void
fill_turns(struct ctx_hold *h, Bus__CallContext *c)
{
	int i, n = PQntuples(h->turns);

	if (n == 0)
		return;
	h->tv = xcalloc((size_t)n, sizeof(*h->tv));
	h->tp = xcalloc((size_t)n, sizeof(*h->tp));
	for (i = 0; i < n; i++) {
		bus__turn__init(&h->tv[i]);
		h->tv[i].role = PQgetvalue(h->turns, i, 0);
		h->tv[i].text = PQgetvalue(h->turns, i, 1);
		h->tv[i].seq
		    = (uint32_t)strtoul(PQgetvalue(h->turns, i, 2), NULL, 10);
		h->tv[i].at_ms = strtoll(PQgetvalue(h->turns, i, 3), NULL, 10);
		h->tp[i] = &h->tv[i];
	}
	c->n_turns = (size_t)n;
	c->turns = h->tp;
}

enum store_rv
context_get(struct pg *pg, const char *call_sid, struct reply *out)
{
	Bus__CallContext *c = &out->u.call_context;
	struct ctx_hold  *h = xcalloc(1, sizeof(*h));
	const char       *v[1] = { call_sid };

	if ((h->call = pg_exec(pg, "call context", sql_call, 1, v, NULL, NULL))
	        == NULL
	    || (h->turns
	           = pg_exec(pg, "call turns", sql_turns, 1, v, NULL, NULL))
	        == NULL) {
		ctx_free(h);
		return (
		    pg_is_transient(pg) ? STORE_UNAVAILABLE : STORE_FAILED);
	}
	bus__call_context__init(c);
	if (PQntuples(h->call) > 0) {
		c->found = true;
		c->direction = direction_of(PQgetvalue(h->call, 0, 0));
		c->lead_id = PQgetvalue(h->call, 0, 1);
		c->lead_name = PQgetvalue(h->call, 0, 2);
		c->business_name = PQgetvalue(h->call, 0, 3);
		c->business_description = PQgetvalue(h->call, 0, 4);
		c->objective = PQgetvalue(h->call, 0, 5);
		c->context_json = PQgetvalue(h->call, 0, 6);
		c->voicemail_message = PQgetvalue(h->call, 0, 7);
		bus__call_settings__init(&h->settings);
		h->settings.voice = PQgetvalue(h->call, 0, 8);
		h->settings.instructions = PQgetvalue(h->call, 0, 9);
		h->settings.language = PQgetvalue(h->call, 0, 10);
		h->settings.greeting = PQgetvalue(h->call, 0, 11);
		h->settings.max_duration_s
		    = (uint32_t)strtoul(PQgetvalue(h->call, 0, 12), NULL, 10);
		h->settings.metadata_json = PQgetvalue(h->call, 0, 13);
		c->settings = &h->settings;
	}
	fill_turns(h, c);
	reply_body(out, BUS__ENVELOPE__BODY_CALL_CONTEXT, c);
	out->cleanup = ctx_free;
	out->cleanup_arg = h;
	return (STORE_OK);
}
