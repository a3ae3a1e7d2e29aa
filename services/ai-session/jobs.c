/*
 * jobs.c - a small pool of threads for blocking work that must not run
 * on the lws service thread or an nng callback: HangUp to media-edge,
 * and (record.c, context.c, tools.c) requests to persister and reasoner.
 *
 * jobs_push() queues a function and its argument on common/jobs; a job
 * thread runs it and the function frees its argument.  Request sockets are
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
#include "wire.h"
#include "xmalloc.h"

#define HANGUP_ATTEMPTS 3
/* Jobs waiting for a thread: a few per call and turn, so this is only
 * reached by a runaway (refusals: jobs_rejected_total{queue="ai"}). */
#define JOBS_MAX_QUEUED 65536

struct job {
	void (*fn)(void *);
	void *arg;
};

struct reqsock {
	struct reqsock *next;
	char           *url;
	nng_socket      s;
};

static struct {
	struct jobs    *q; /* common/jobs */
	pthread_mutex_t mtx;
	bool            stop; /* {mtx} */
	struct reqsock *socks; /* {mtx} */
} jb = { .mtx = PTHREAD_MUTEX_INITIALIZER };

/* A job thread: one job. */
static void
run(void *arg, void *ts)
{
	struct job *j = arg;

	j->fn(j->arg);
	free(j);
}

int
jobs_start(int n)
{
	struct jobs_conf jc = { 0 };

	jc.name = "ai";
	jc.threads = n;
	jc.max_queued = JOBS_MAX_QUEUED;
	if ((jb.q = jobs_new(&jc)) == NULL)
		return (-1);
	return (0);
}

void
jobs_push(void (*fn)(void *), void *arg)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->fn = fn;
	j->arg = arg;
	if (jb.q != NULL && jobs_submit(jb.q, run, j) == 0)
		return;
	/* TODO(#12): the callers give up their argument here; refusing
	 * needs each of them to answer for its job (the call lifecycle
	 * rework), until then only a runaway queue gets this far. */
	log_warnx("job dropped: queue full or stopped");
	free(j);
}

long
jobs_pending(void)
{
	return (jb.q != NULL ? jobs_queued(jb.q) : 0);
}

void
jobs_stop(long deadline_ms)
{
	int64_t         end = ai_mono_ms() + deadline_ms;
	struct reqsock *r;
	long            left;

	/* Retry loops see jobs_stopping() and make one last try; queued
	 * work (call records of the calls ending now included) finishes
	 * while there is time; then the sockets close so that a job
	 * blocked on a dead peer returns. */
	pthread_mutex_lock(&jb.mtx);
	jb.stop = true;
	pthread_mutex_unlock(&jb.mtx);
	while ((left = jobs_pending()) > 0 && ai_mono_ms() < end)
		nng_msleep(20);
	if (left > 0) {
		/* blocked on a dead peer: closing makes bus_request return */
		log_warnx("shutdown: %ld jobs not finished", left);
		pthread_mutex_lock(&jb.mtx);
		for (r = jb.socks; r != NULL; r = r->next)
			nng_close(r->s);
		pthread_mutex_unlock(&jb.mtx);
	}
	jobs_free(jb.q, JOBS_DRAIN);
	jb.q = NULL;
}

void
jobs_close(void)
{
	struct reqsock *r;

	pthread_mutex_lock(&jb.mtx);
	while ((r = jb.socks) != NULL) {
		jb.socks = r->next;
		nng_close(r->s);
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
	if (r != NULL)
		*sp = r->s;
	else
		rv = -1;
	pthread_mutex_unlock(&jb.mtx);
	return (rv);
}

struct hangup {
	char *url;
	char *reason;
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
jobs_hangup(
    const char *url, const char *sid, const char *trace, const char *reason)
{
	struct hangup *h;

	if (url == NULL || url[0] == '\0')
		return;
	h = xcalloc(1, sizeof(*h));
	h->url = xstrdup(url);
	h->reason = xstrdup(reason);
	snprintf(h->sid, sizeof(h->sid), "%s", sid);
	snprintf(h->trace, sizeof(h->trace), "%s", trace);
	jobs_push(hangup_run, h);
}
