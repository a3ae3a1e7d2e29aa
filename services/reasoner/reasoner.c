/*
 * reasoner.c - start and stop the daemon, create and destroy workers,
 * and the two things every worker shares: the clock and a sleep that
 * shutdown can cut short.
 *
 * Shutdown order (reasoner_stop, from main): set r->stopping, broadcast
 * r->wake (ends retry waits) and curl_multi_wakeup() every worker (ends
 * transfers); each request in flight answers Error{UNAVAILABLE,
 * "shutting down"} within milliseconds.  Then svc_stop() closes the
 * socket and joins the workers, which run worker_fini on the way out.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"
#include "log.h"
#include "reasoner.h"
#include "util.h"
#include "xmalloc.h"

/* Longest wait for woken requests to be answered before closing. */
#define STOP_DRAIN_MS 2000

int64_t
reasoner_now_ms(void)
{
	return (util_mono_ms());
}

int
reasoner_sleep(struct reasoner *r, long ms)
{
	struct timespec until;
	int             rv = 0;

	util_deadline(&until, CLOCK_MONOTONIC, ms);
	pthread_mutex_lock(&r->lock);
	while (!atomic_load(&r->stopping)) {
		if (pthread_cond_timedwait(&r->wake, &r->lock, &until) != 0)
			break; /* ETIMEDOUT */
	}
	if (atomic_load(&r->stopping))
		rv = -1;
	pthread_mutex_unlock(&r->lock);
	return (rv);
}

/* svc worker_init, on the new worker thread. */
static void *
worker_init(struct svc *svc, int n)
{
	struct reasoner *r = svc_arg(svc);
	struct worker   *w = xcalloc(1, sizeof(*w));

	w->r = r;
	w->seed = (unsigned int)(time(NULL) ^ getpid() ^ (n * 2654435761u));
	if (upstream_init(w, &r->cfg) == -1) {
		free(w);
		return (NULL); /* dispatch answers UNAVAILABLE */
	}
	pthread_mutex_lock(&r->lock);
	w->next = r->workers;
	r->workers = w;
	pthread_mutex_unlock(&r->lock);
	return (w);
}

/* svc worker_fini, on the worker thread as it exits. */
static void
worker_fini(void *arg)
{
	struct worker *w = arg, **pp;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->r->lock);
	for (pp = &w->r->workers; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	pthread_mutex_unlock(&w->r->lock);
	upstream_fini(w);
	free(w);
}

/*
 * /health and /ready: always 200, since every instance shares the one
 * upstream and taking them all out of service would only turn fast
 * UNAVAILABLE answers into connection errors; the body says "degraded"
 * while the circuit is open.  lws service thread: the circuit lock is
 * held for a few instructions only.
 */
static int
health(struct svc *svc, int ready, char *buf, size_t len)
{
	struct reasoner *r = svc_arg(svc);
	const char      *status = "healthy";

	(void)ready;
	if (atomic_load(&r->stopping))
		status = "stopping";
	else if (circuit_get(&r->circuit, reasoner_now_ms()) != CIRCUIT_CLOSED)
		status = "degraded";
	httpd_health_json(buf, len, status, svc_active(svc), svc_uptime(svc));
	return (200);
}

int
reasoner_start(struct reasoner *r)
{
	struct svc_conf    sc = { 0 };
	pthread_condattr_t ca;

	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->wake, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&r->inflight, 0);
	atomic_init(&r->stopping, 0);
	atomic_init(&r->busy, 0);
	circuit_init(
	    &r->circuit, (int)r->cfg.circuit_failures, r->cfg.circuit_open_ms);
	r->circuit.on_change = stats_circuit;
	sc.name = REASONER_NAME;
	sc.about = "Anthropic Messages API: in-call decisions and summaries";
	sc.rep_url = r->cfg.listen_url;
	sc.workers = (int)r->cfg.workers;
	sc.handle = dispatch;
	sc.worker_init = worker_init;
	sc.worker_fini = worker_fini;
	sc.http_addr = r->cfg.http_addr;
	sc.http_port = r->cfg.http_port;
	sc.health = health;
	sc.arg = r;
	if (svc_start(&r->svc, &sc) == -1)
		return (-1);
	log_info("listening on %s, %ld workers, at most %ld in flight, "
	         "model %s at %s",
	    r->cfg.listen_url, r->cfg.workers, r->cfg.max_inflight,
	    r->cfg.model, r->cfg.base_url);
	return (0);
}

void
reasoner_stop(struct reasoner *r)
{
	struct worker *w;
	int            i;

	pthread_mutex_lock(&r->lock);
	atomic_store(&r->stopping, 1);
	pthread_cond_broadcast(&r->wake);
	for (w = r->workers; w != NULL; w = w->next)
		upstream_wake(w);
	pthread_mutex_unlock(&r->lock);
	/* Let the woken requests send their "shutting down" replies before
	 * the socket closes under them (nng 1.5.2 can abort when a context
	 * sends while its socket is being closed). */
	for (i = 0; atomic_load(&r->busy) > 0 && i < STOP_DRAIN_MS; i += 5)
		usleep(5000);
	svc_stop(r->svc);
	r->svc = NULL;
	circuit_fini(&r->circuit);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
}
