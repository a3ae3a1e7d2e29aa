/*
 * bridge.c - the request workers: SessionStart and SessionEnd to
 * ai-session over req/rep, so the lws thread never waits on another
 * daemon.
 *
 * The req socket dials every AI_SESSION_URL (comma-separated); nng
 * spreads requests over the connected instances.  SessionStart is tried
 * up to EDGE_SESSION_ATTEMPTS times with backoff while the answer is
 * OVERLOADED, UNAVAILABLE or a timeout, each retry landing on the next
 * instance, always with the same idempotency key.  After SessionStarted
 * the worker makes sure our sub socket is connected to the instance's
 * pub socket before telling the lws thread, so the first model audio is
 * not published into a pipe that is not there yet.  SessionEnd is
 * retried the same way; NOT_FOUND from an instance that does not hold
 * the call is retried too, so that with several instances it reaches
 * the owner.
 *
 * The threads and the bounded queue are common/jobs'; a job refused by a
 * full queue fails at once (bridge_submit).
 *
 * Threads: bridge_submit() from the lws thread; the workers block.
 */
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "bus.h"
#include "edge.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "wire.h"
#include "xmalloc.h"

/* NOT_FOUND: another ai-session behind the address may hold the call; nng
 * sends each try to the next connection, so try again at once. */
#define END_NOT_FOUND_TRIES 16
/* Jobs waiting for a request thread (a few per call); beyond, refused. */
#define BRIDGE_MAX_QUEUED 4096

static void
job_free(struct job *j)
{
	json_decref(j->params);
	json_decref(j->turns);
	free(j);
}

/* The carried turns as SessionStart.turns; entries point into j->turns.
 * *tpp and *bufp are freed by the caller. */
static size_t
build_turns(struct job *j, Bus__Turn ***tpp, Bus__Turn **bufp)
{
	Bus__Turn *t;
	json_t    *o;
	size_t     i, n = json_array_size(j->turns);

	*tpp = xcalloc(n + 1, sizeof(**tpp));
	*bufp = t = xcalloc(n + 1, sizeof(*t));
	json_array_foreach(j->turns, i, o)
	{
		bus__turn__init(&t[i]);
		t[i].role
		    = (char *)json_string_value(json_object_get(o, "role"));
		t[i].text
		    = (char *)json_string_value(json_object_get(o, "text"));
		t[i].seq
		    = (uint32_t)json_integer_value(json_object_get(o, "seq"));
		t[i].at_ms = json_integer_value(json_object_get(o, "at"));
		(*tpp)[i] = &t[i];
	}
	return (n);
}

static void
result(struct edge *e, struct job *j, enum ev_kind kind, const char *url,
    const char *text, const char *topic)
{
	struct ev *ev = xcalloc(1, sizeof(*ev));

	ev->kind = kind;
	ev->call_id = j->call_id;
	memcpy(ev->call_sid, j->call_sid, sizeof(ev->call_sid));
	snprintf(ev->url, sizeof(ev->url), "%s", url != NULL ? url : "");
	snprintf(ev->text, sizeof(ev->text), "%s", text != NULL ? text : "");
	snprintf(
	    ev->topic, sizeof(ev->topic), "%s", topic != NULL ? topic : "");
	evq_push(&e->evq, ev);
}

static void
count(struct edge *e, const char *type, const char *res)
{
	metric_inc(metric_get(e->m.session_req, type, res));
}

static void
backoff(int attempt)
{
	nng_msleep(50 << (attempt < 4 ? attempt : 4));
}

/* params as the SessionStart map; entries point into j->params. */
static Bus__SessionStart__ParamsEntry **
build_params(struct job *j, Bus__SessionStart__ParamsEntry *ents, size_t max,
    size_t *np)
{
	Bus__SessionStart__ParamsEntry **ptrs;
	const char                      *k;
	json_t                          *v;
	size_t                           n = 0;

	ptrs = xcalloc(max + 1, sizeof(*ptrs));
	json_object_foreach(j->params, k, v)
	{
		if (n == max || !json_is_string(v))
			continue;
		bus__session_start__params_entry__init(&ents[n]);
		ents[n].key = (char *)k;
		ents[n].value = (char *)json_string_value(v);
		ptrs[n] = &ents[n];
		n++;
	}
	*np = n;
	return (ptrs);
}

/* One answer to SessionStart: 1 taken (EV_STARTED sent), 0 try again,
 * -1 refused for good.  Frees rep. */
static int
start_answer(
    struct edge *e, struct job *j, Bus__Envelope *rep, const char **why)
{
	struct log_ctx lc = { j->call_sid, j->trace_id };
	char           url[EDGE_URL_MAX], inst[128], topic[ABATCH_TOPIC_MAX];
	int            rv = -1;

	/* audio travels only in batches: an answer without the
	 * ai-session's batch topic is refused below */
	if (rep->body_case == BUS__ENVELOPE__BODY_SESSION_STARTED
	    && rep->session_started->ai_pub_url[0] != '\0'
	    && abatch_is_topic(rep->session_started->batch_topic)) {
		snprintf(
		    url, sizeof(url), "%s", rep->session_started->ai_pub_url);
		snprintf(
		    inst, sizeof(inst), "%s", rep->session_started->instance);
		snprintf(topic, sizeof(topic), "%s",
		    rep->session_started->batch_topic);
		wire_free(rep);
		count(e, "start", "ok");
		/* model audio must not be published into a pipe that is
		 * not up yet */
		if (hop_connect(e, url, (int)e->cfg.connect_wait_ms) == -1)
			logc_warnx(&lc,
			    "no pipe to %s yet; model audio may be lost", url);
		result(e, j, EV_STARTED, url, inst, topic);
		return (1);
	}
	if (rep->body_case == BUS__ENVELOPE__BODY_ERROR
	    && (rep->error->code == BUS__ERROR__CODE__OVERLOADED
	        || rep->error->code == BUS__ERROR__CODE__UNAVAILABLE
	        || rep->error->code == BUS__ERROR__CODE__TIMEOUT)) {
		*why = rep->error->code == BUS__ERROR__CODE__OVERLOADED
		    ? "overloaded"
		    : "unavailable";
		count(e, "start", *why);
		logc_info(
		    &lc, "SessionStart: %s (%s)", *why, rep->error->message);
		rv = 0;
	} else {
		logc_warnx(&lc, "SessionStart refused: %s %s",
		    wire_type_name(rep->body_case),
		    rep->body_case == BUS__ENVELOPE__BODY_ERROR
		        ? rep->error->message
		        : "without ai_pub_url or batch_topic");
		*why = "refused";
	}
	wire_free(rep);
	return (rv);
}

static void
run_start(struct bridge *b, struct job *j)
{
	struct edge                   *e = b->edge;
	Bus__Envelope                  env = BUS__ENVELOPE__INIT, *rep;
	Bus__SessionStart              ss = BUS__SESSION_START__INIT;
	Bus__SessionStart__ParamsEntry ents[32], **ptrs;
	Bus__Turn                     *tbuf, **tptrs;
	struct wire_ids                ids;
	struct log_ctx                 lc = { j->call_sid, j->trace_id };
	const char                    *why = "timeout";
	int                            i, rv = 0;

	wire_env_init(&env, &ids, j->call_sid, j->trace_id);
	env.idempotency_key = j->key;
	ss.stream_sid = j->stream_sid;
	ss.account_sid = j->account_sid;
	ss.provider = j->provider;
	ss.direction = j->direction;
	ss.edge_pub_url = (char *)e->pub_adv;
	ss.edge_ctl_url = (char *)e->ctl_adv;
	ss.batch_topic = e->batch_topic;
	ss.started_at_ms = j->at_ms;
	ss.resume = j->resume;
	ss.holder = j->holder;
	ss.audio_acks = j->audio_acks;
	ptrs = build_params(j, ents, 32, &ss.n_params);
	ss.params = ptrs;
	ss.n_turns = build_turns(j, &tptrs, &tbuf);
	ss.turns = tptrs;
	env.body_case = BUS__ENVELOPE__BODY_SESSION_START;
	env.session_start = &ss;
	for (i = 0; i < e->cfg.session_attempts; i++) {
		if (i > 0)
			backoff(i);
		rv = bus_request(
		    b->req, &env, &rep, (int)e->cfg.session_timeout_ms, 1);
		if (rv == NNG_ECLOSED)
			break;
		if (rv != 0) {
			why = "timeout";
			count(e, "start", "timeout");
			logc_warnx(&lc, "SessionStart attempt %d: %s", i + 1,
			    nng_strerror(rv));
			continue;
		}
		if ((rv = start_answer(e, j, rep, &why)) == 1)
			break;
		if (rv == -1)
			break;
	}
	if (rv != 1) {
		count(e, "start", "failed");
		result(e, j, EV_START_FAILED, NULL, why, NULL);
	}
	free(ptrs);
	free(tptrs);
	free(tbuf);
}

static void
run_end(struct bridge *b, struct job *j)
{
	struct edge    *e = b->edge;
	Bus__Envelope   env = BUS__ENVELOPE__INIT, *rep;
	Bus__SessionEnd se = BUS__SESSION_END__INIT;
	struct wire_ids ids;
	struct log_ctx  lc = { j->call_sid, j->trace_id };
	int             i = 0, rv, notfound = 0;
	bool            now = false;

	wire_env_init(&env, &ids, j->call_sid, j->trace_id);
	env.idempotency_key = j->key;
	se.reason = j->reason;
	se.ended_at_ms = j->at_ms;
	env.body_case = BUS__ENVELOPE__BODY_SESSION_END;
	env.session_end = &se;
	while (i < e->cfg.session_attempts) {
		if (i > 0 && !now)
			backoff(i);
		now = false;
		rv = bus_request(
		    b->req, &env, &rep, (int)e->cfg.session_timeout_ms, 1);
		if (rv == NNG_ECLOSED)
			break;
		if (rv != 0) {
			count(e, "end", "timeout");
			i++;
			continue;
		}
		if (rep->body_case == BUS__ENVELOPE__BODY_ERROR
		    && rep->error->code == BUS__ERROR__CODE__NOT_FOUND
		    && ++notfound < END_NOT_FOUND_TRIES) {
			wire_free(rep);
			now = true; /* not a failure: the next instance */
			continue;
		}
		if (rep->body_case == BUS__ENVELOPE__BODY_ERROR
		    && rep->error->code != BUS__ERROR__CODE__NOT_FOUND
		    && rep->error->code != BUS__ERROR__CODE__BAD_REQUEST) {
			wire_free(rep);
			i++;
			continue;
		}
		count(e, "end",
		    rep->body_case == BUS__ENVELOPE__BODY_ERROR ? "not_found"
		                                                : "ok");
		wire_free(rep);
		return;
	}
	count(e, "end", "failed");
	logc_warnx(&lc, "SessionEnd not delivered after %d attempts", i);
}

/* common/jobs thread_init: each thread's state is the bridge. */
static void *
bridge_thread(void *arg, int n)
{
	return (arg);
}

/* A request thread: one job. */
static void
run(void *arg, void *ts)
{
	struct job *j = arg;

	if (j->kind == JOB_START)
		run_start(ts, j);
	else
		run_end(ts, j);
	job_free(j);
}

/* Refused by a full queue: the start fails at once (the call is told,
 * as for a start that failed), an end is counted as not delivered. */
void
bridge_submit(struct bridge *b, struct job *j)
{
	struct log_ctx lc = { j->call_sid, j->trace_id };

	if (b->q != NULL && jobs_submit(b->q, run, j) == 0)
		return;
	if (j->kind == JOB_START) {
		count(b->edge, "start", "failed");
		result(b->edge, j, EV_START_FAILED, NULL, "busy", NULL);
	} else {
		count(b->edge, "end", "failed");
		logc_warnx(&lc, "SessionEnd not sent: queue full");
	}
	job_free(j);
}

static int
dial_all(struct bridge *b, const char *list)
{
	char *copy = xstrdup(list), *p, *url;
	int   rv = -1;

	if (bus_req_dial(&b->req, "ai_session", strtok_r(copy, ",", &p)) != 0)
		goto out;
	while ((url = strtok_r(NULL, ",", &p)) != NULL)
		if (bus_dial(b->req, url, NULL) != 0)
			goto out;
	rv = 0;
out:
	free(copy);
	return (rv);
}

int
bridge_start(struct edge *e)
{
	struct bridge   *b = &e->bridge;
	struct jobs_conf jc;

	b->edge = e;
	if (dial_all(b, e->cfg.ai_session_url) == -1)
		return (-1);
	memset(&jc, 0, sizeof(jc));
	jc.name = "session";
	jc.threads = e->cfg.req_workers;
	jc.max_queued = BRIDGE_MAX_QUEUED;
	jc.thread_init = bridge_thread;
	jc.arg = b;
	if ((b->q = jobs_new(&jc)) == NULL)
		return (-1);
	return (0);
}

/* Let the workers finish what is queued (SessionEnds), then join. */
void
bridge_stop(struct bridge *b)
{
	jobs_free(b->q, JOBS_DRAIN);
	b->q = NULL;
	(void)bus_close(b->req, "ai-session request", BUS_CLOSE_MS);
}
