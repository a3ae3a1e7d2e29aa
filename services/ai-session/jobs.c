/*
 * jobs.c - a small pool of threads for blocking work that must not run
 * on the lws service thread or an nng callback: HangUp to media-edge,
 * and (record.c, context.c, tools.c) requests to persister and reasoner.
 *
 * jobs_push() queues a function and its argument on common/jobs; a job
 * thread runs it and the function frees its argument.  The queue is
 * bounded (AI_JOB_QUEUE_MAX): a job it refuses is either the caller's to
 * answer for (jobs_push returns -1, counted in
 * ai_jobs_refused_total{kind}: the context fetch, a reasoner question)
 * or, for what must never be lost (the call record, a turn, a HangUp:
 * jobs_push_kept), kept in order on a deferred list and resubmitted by
 * a retry thread every JOBS_RETRY_MS until the queue takes it (counted
 * in ai_jobs_deferred_total{kind}); at shutdown what is still deferred
 * runs on the main thread after the pool has drained.  Request sockets are
 * dialled once per distinct URL and shared (nng req sockets are thread-safe,
 * and bus_request opens a context per request).
 *
 * Threads: jobs_push and jobs_req_socket from any thread; jobs run on the
 * pool's threads; jobs_start/jobs_stop from main.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "ai.h"
#include "bus.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "wire.h"
#include "xmalloc.h"

#define HANGUP_ATTEMPTS 3
/* How often deferred jobs are offered to the queue again. */
#define JOBS_RETRY_MS 20

struct job {
	struct job *next; /* jb.deferred */
	const char *kind; /* a label: static */
	void (*fn)(void *);
	void *arg;
};

struct reqsock {
	struct reqsock *next;
	char           *url;
	nng_socket      s;
	bool            closed; /* {jb.mtx} by jobs_abort_requests() */
};

/* How long closing one request socket may take at shutdown (bus_close:
 * NNG 1.5 can hang in nng_close). */
#define REQ_CLOSE_MS 500

static struct {
	struct jobs          *q; /* common/jobs */
	pthread_mutex_t       mtx;
	bool                  stop; /* {mtx} */
	struct reqsock       *socks; /* {mtx} */
	struct job           *deferred, *deferred_tail; /* {mtx} */
	struct jobs_bg        retry; /* resubmits jb.deferred */
	struct metric_family *m_deferred, *m_refused;
} jb = { .mtx = PTHREAD_MUTEX_INITIALIZER };

/* A job thread: one job. */
static void
run(void *arg, void *ts)
{
	struct job *j = arg;

	j->fn(j->arg);
	free(j);
}

/* Offer the deferred jobs to the queue in order, until it refuses one:
 * true when none is left. */
static bool
retry_deferred(void)
{
	struct job *j, *next;
	bool        empty;

	pthread_mutex_lock(&jb.mtx);
	/* next read first: once submitted, j is the job thread's */
	while ((j = jb.deferred) != NULL && jb.q != NULL && jobs_has_room(jb.q)
	    && ((next = j->next), jobs_submit(jb.q, run, j) == 0))
		if ((jb.deferred = next) == NULL)
			jb.deferred_tail = NULL;
	empty = jb.deferred == NULL;
	pthread_mutex_unlock(&jb.mtx);
	return (empty);
}

static void
retry_main(struct jobs_bg *bg, void *arg)
{
	(void)arg;
	while (!jobs_bg_nap(bg, JOBS_RETRY_MS))
		(void)retry_deferred();
}

int
jobs_start(int n, long max_queued)
{
	struct jobs_conf jc = { 0 };

	jb.m_deferred = metrics_counter("ai_jobs_deferred_total",
	    "Jobs the full queue refused, kept and resubmitted, by kind",
	    "kind");
	jb.m_refused = metrics_counter("ai_jobs_refused_total",
	    "Jobs the full queue refused, given up by their call, by kind",
	    "kind");
	(void)metric_get(jb.m_deferred, "record");
	(void)metric_get(jb.m_deferred, "hangup");
	jc.name = "ai";
	jc.threads = n;
	jc.max_queued = (int)max_queued;
	if ((jb.q = jobs_new(&jc)) == NULL)
		return (-1);
	return (jobs_bg_start(&jb.retry, "ai job retry", retry_main, NULL));
}

int
jobs_push(const char *kind, void (*fn)(void *), void *arg)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->kind = kind;
	j->fn = fn;
	j->arg = arg;
	if (jb.q != NULL && jobs_submit(jb.q, run, j) == 0)
		return (0);
	metric_inc(metric_get(jb.m_refused, kind));
	free(j);
	return (-1);
}

void
jobs_push_kept(const char *kind, void (*fn)(void *), void *arg)
{
	struct job *j = xcalloc(1, sizeof(*j));
	bool        queued = false;

	j->kind = kind;
	j->fn = fn;
	j->arg = arg;
	pthread_mutex_lock(&jb.mtx);
	if (jb.q == NULL && jb.stop) {
		/* the pool is gone (shutdown): here and now */
		pthread_mutex_unlock(&jb.mtx);
		run(j, NULL);
		return;
	}
	/* behind what is deferred already: a call's writes stay in order */
	if (jb.deferred == NULL && jb.q != NULL
	    && jobs_submit(jb.q, run, j) == 0)
		queued = true;
	else {
		if (jb.deferred_tail != NULL)
			jb.deferred_tail->next = j;
		else
			jb.deferred = j;
		jb.deferred_tail = j;
	}
	pthread_mutex_unlock(&jb.mtx);
	if (!queued) {
		metric_inc(metric_get(jb.m_deferred, kind));
		log_warnx("job queue full: %s deferred", kind);
	}
}

/* Close every request socket not closed yet, outside jb.mtx (each close
 * is bounded): a request waiting on one returns at once (NNG_ECLOSED),
 * and jobs_req_socket() hands out no closed socket. */
void
jobs_abort_requests(void)
{
	struct reqsock *r;
	nng_socket     *ss = NULL;
	size_t          n = 0, i;

	pthread_mutex_lock(&jb.mtx);
	for (r = jb.socks; r != NULL; r = r->next) {
		if (r->closed)
			continue;
		r->closed = true;
		ss = xrealloc(ss, (n + 1) * sizeof(*ss));
		ss[n++] = r->s;
	}
	pthread_mutex_unlock(&jb.mtx);
	for (i = 0; i < n; i++)
		(void)bus_close(ss[i], "request", REQ_CLOSE_MS);
	free(ss);
}

long
jobs_pending(void)
{
	return (jb.q != NULL ? jobs_queued(jb.q) : 0);
}

void
jobs_stop(long deadline_ms)
{
	int64_t end = ai_mono_ms() + deadline_ms;
	long    left;

	/* Retry loops see jobs_stopping() and make one last try; queued
	 * work (call records of the calls ending now included) finishes
	 * while there is time; then the sockets close so that a job
	 * blocked on a dead peer returns. */
	struct job *j;

	pthread_mutex_lock(&jb.mtx);
	jb.stop = true;
	pthread_mutex_unlock(&jb.mtx);
	/* what was deferred goes first, while there is time */
	while (!retry_deferred() && ai_mono_ms() < end)
		nng_msleep(JOBS_RETRY_MS);
	jobs_bg_stop(&jb.retry);
	while ((left = jobs_pending()) > 0 && ai_mono_ms() < end)
		nng_msleep(20);
	if (left > 0) {
		/* blocked on a dead peer: closing makes bus_request return */
		log_warnx("shutdown: %ld jobs not finished", left);
		jobs_abort_requests();
	}
	jobs_free(jb.q, JOBS_DRAIN);
	pthread_mutex_lock(&jb.mtx);
	jb.q = NULL;
	j = jb.deferred;
	jb.deferred = jb.deferred_tail = NULL;
	pthread_mutex_unlock(&jb.mtx);
	/* never refused for good: the rest runs here, each bounded by its
	 * request timeout */
	if (j != NULL)
		log_warnx("shutdown: running the deferred jobs here");
	while (j != NULL) {
		struct job *next = j->next;

		run(j, NULL);
		j = next;
	}
}

void
jobs_close(void)
{
	struct reqsock *r;

	jobs_abort_requests();
	pthread_mutex_lock(&jb.mtx);
	while ((r = jb.socks) != NULL) {
		jb.socks = r->next;
		free(r->url);
		free(r);
	}
	pthread_mutex_unlock(&jb.mtx);
}

bool
jobs_stopping(void)
{
	bool b;

	pthread_mutex_lock(&jb.mtx);
	b = jb.stop;
	pthread_mutex_unlock(&jb.mtx);
	return (b);
}

int
jobs_req_socket(const char *url, nng_socket *sp)
{
	struct reqsock *r;
	int             rv = 0;

	pthread_mutex_lock(&jb.mtx);
	for (r = jb.socks; r != NULL; r = r->next)
		if (strcmp(r->url, url) == 0)
			break;
	if (r == NULL && !jb.stop) {
		r = xcalloc(1, sizeof(*r));
		if (bus_req_dial(&r->s, "req", url) != 0) {
			free(r);
			r = NULL;
		} else {
			r->url = xstrdup(url);
			r->next = jb.socks;
			jb.socks = r;
		}
	}
	if (r != NULL && !r->closed)
		*sp = r->s;
	else
		rv = -1;
	pthread_mutex_unlock(&jb.mtx);
	return (rv);
}

struct hangup {
	char *url;
	char *reason;
	bool  failed;
	char  sid[AI_SID_MAX];
	char  trace[33];
};

/* Job thread. */
static void
hangup_run(void *arg)
{
	struct hangup  *h = arg;
	Bus__Envelope   env = BUS__ENVELOPE__INIT, *rep = NULL;
	Bus__HangUp     hu = BUS__HANG_UP__INIT;
	struct wire_ids ids;
	struct log_ctx  lc = { h->sid, h->trace };
	nng_socket      s;
	char            key[AI_SID_MAX + 16];
	int             rv;

	wire_env_init(&env, &ids, h->sid, h->trace);
	snprintf(key, sizeof(key), "%s:hangup", h->sid);
	env.idempotency_key = key;
	hu.reason = h->reason;
	hu.failed = h->failed;
	env.body_case = BUS__ENVELOPE__BODY_HANG_UP;
	env.hang_up = &hu;
	if (jobs_req_socket(h->url, &s) != 0)
		logc_warnx(&lc, "HangUp: cannot dial media-edge");
	else if ((rv = bus_request(s, &env, &rep, (int)cfg.request_timeout_ms,
	              HANGUP_ATTEMPTS))
	    != 0)
		logc_warnx(
		    &lc, "HangUp to media-edge failed: %s", nng_strerror(rv));
	else if (rep->body_case == BUS__ENVELOPE__BODY_ERROR)
		logc_warnx(&lc, "HangUp refused by media-edge: %s",
		    rep->error->message);
	else
		logc_info(&lc, "HangUp sent to media-edge (%s)", h->reason);
	wire_free(rep);
	free(h->url);
	free(h->reason);
	free(h);
}

void
jobs_hangup(const char *url, const char *sid, const char *trace,
    const char *reason, bool failed)
{
	struct hangup *h;

	if (url == NULL || url[0] == '\0')
		return;
	h = xcalloc(1, sizeof(*h));
	h->url = xstrdup(url);
	h->reason = xstrdup(reason);
	h->failed = failed;
	snprintf(h->sid, sizeof(h->sid), "%s", sid);
	snprintf(h->trace, sizeof(h->trace), "%s", trace);
	jobs_push_kept("hangup", hangup_run, h);
}
