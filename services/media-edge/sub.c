/*
 * sub.c - the one sub socket dialled to each ai-session pub socket we
 * were told about, its receive loop and pipe tracking.
 *
 * The socket subscribes to everything and the lws thread routes by call
 * sid through the call table: nng 1.x pub sends every message to every
 * subscriber anyway and filters on the receiving side by scanning its
 * topic list, which with a thousand calls costs more than one hash
 * lookup.  Messages for calls that are not ours are counted and dropped.
 *
 * Pipe events tell us when an ai-session is reachable (sub_connect waits
 * for it) and when it went away (EV_AI_GONE: its calls are resumed
 * elsewhere).  Registering our own pipe callbacks replaces bus.c's, so
 * the bus_peers_connected / bus_pipe_events_total series of this socket
 * are kept here.
 *
 * Threads: the callbacks run on nng threads and only take s->lock, push
 * onto the event queue and update metrics; sub_connect() blocks (request
 * workers only).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/supplemental/util/platform.h>

#include "bus.h"
#include "edge.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

#define SUB_NAME "ai_sub"
#define SUB_SETTLE_MS 50

static struct metric *peers_gauge, *ev_add, *ev_rem, *other_inst;

static struct sub_peer *
peer_by_dialer(struct sub *s, nng_dialer d)
{
	size_t i;

	for (i = 0; i < s->npeers; i++)
		if (nng_dialer_id(s->peers[i].dialer) == nng_dialer_id(d))
			return (&s->peers[i]);
	return (NULL);
}

/* nng callback: must not block. */
static void
pipe_cb(nng_pipe p, nng_pipe_ev what, void *arg)
{
	struct sub      *s = arg;
	struct sub_peer *peer;
	struct ev       *ev = NULL;

	pthread_mutex_lock(&s->lock);
	peer = peer_by_dialer(s, nng_pipe_dialer(p));
	if (what == NNG_PIPE_EV_ADD_POST) {
		metric_add(peers_gauge, 1);
		metric_inc(ev_add);
		if (peer != NULL) {
			peer->pipes++;
			pthread_cond_broadcast(&s->cond);
		}
	} else if (what == NNG_PIPE_EV_REM_POST) {
		metric_add(peers_gauge, -1);
		metric_inc(ev_rem);
		if (peer != NULL) {
			peer->pipes--;
			ev = xcalloc(1, sizeof(*ev));
			ev->kind = EV_AI_GONE;
			snprintf(ev->url, sizeof(ev->url), "%s", peer->url);
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (ev != NULL) {
		log_warnx("lost the pipe to ai-session %s", ev->url);
		evq_push(&s->edge->evq, ev);
	}
}

/*
 * A batch for another media-edge (an ai-session's pub socket sends every
 * message to every subscriber): dropped here, before it wakes the lws
 * thread.  Nothing else is decided on this thread.
 */
static bool
other_batch(struct sub *s, nng_msg *m)
{
	const char *body = nng_msg_body(m);
	size_t      tlen = strlen(s->edge->batch_topic) + 1;

	if (nng_msg_len(m) == 0 || !abatch_is_topic(body))
		return (false);
	return (nng_msg_len(m) < tlen
	    || memcmp(body, s->edge->batch_topic, tlen) != 0);
}

/* nng callback: must not block. */
static void
recv_cb(void *arg)
{
	struct sub *s = arg;
	nng_msg    *m;
	int         rv;

	rv = nng_aio_result(s->aio);
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
		return;
	if (rv == 0) {
		m = nng_aio_get_msg(s->aio);
		if (other_batch(s, m)) {
			metric_inc(other_inst);
			nng_msg_free(m);
		} else
			evq_push_msg(&s->edge->evq, m);
	}
	nng_recv_aio(s->sock, s->aio);
}

int
sub_start(struct edge *e)
{
	struct sub           *s = &e->sub;
	struct metric_family *fp, *fe;
	int                   rv;

	s->edge = e;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	if (bus_sub_open(&s->sock, SUB_NAME) != 0)
		return (-1);
	s->open = true;
	fp = metrics_gauge("bus_peers_connected",
	    "NNG pipes (peer connections) open on a socket", "socket");
	fe = metrics_counter("bus_pipe_events_total",
	    "NNG pipes added and removed", "socket,event");
	peers_gauge = metric_get(fp, SUB_NAME);
	ev_add = metric_get(fe, SUB_NAME, "add");
	ev_rem = metric_get(fe, SUB_NAME, "remove");
	other_inst = metric_get(e->m.batches, "other_instance");
	if ((rv = bus_subscribe_all(s->sock)) != 0
	    || (rv = bus_set_buffers(s->sock, (int)e->cfg.sub_recvbuf, 0)) != 0
	    || (rv = nng_pipe_notify(
	            s->sock, NNG_PIPE_EV_ADD_POST, pipe_cb, s))
	        != 0
	    || (rv = nng_pipe_notify(
	            s->sock, NNG_PIPE_EV_REM_POST, pipe_cb, s))
	        != 0
	    || (rv = nng_aio_alloc(&s->aio, recv_cb, s)) != 0) {
		log_warnx("sub socket: %s", nng_strerror(rv));
		return (-1);
	}
	nng_recv_aio(s->sock, s->aio);
	return (0);
}

void
sub_stop(struct sub *s)
{
	if (s->open) {
		nng_close(s->sock);
		s->open = false;
	}
	if (s->aio != NULL) {
		nng_aio_stop(s->aio);
		nng_aio_free(s->aio);
		s->aio = NULL;
	}
	free(s->peers);
	s->peers = NULL;
	s->npeers = 0;
}

static struct sub_peer *
peer_add(struct sub *s, const char *url)
{
	struct sub_peer *p;

	if (s->npeers == s->cap) {
		s->cap = s->cap == 0 ? 8 : s->cap * 2;
		s->peers = xrealloc(s->peers, s->cap * sizeof(*s->peers));
	}
	p = &s->peers[s->npeers];
	memset(p, 0, sizeof(*p));
	snprintf(p->url, sizeof(p->url), "%s", url);
	/* the lock is held, so the pipe callback of this dial waits until
	 * the dialer id is known */
	if (bus_dial(s->sock, url, &p->dialer) != 0)
		return (NULL);
	s->npeers++;
	log_info("subscribed to ai-session at %s", url);
	return (p);
}

int
sub_connect(struct sub *s, const char *url, int timeout_ms)
{
	struct timespec until;
	size_t          i;
	int             rv = 0;
	bool            waited = false;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->npeers; i++)
		if (strcmp(s->peers[i].url, url) == 0)
			break;
	if (i == s->npeers && peer_add(s, url) == NULL) {
		pthread_mutex_unlock(&s->lock);
		return (-1);
	}
	/* index, not pointer: the array may move while we wait */
	while (rv != ETIMEDOUT && s->peers[i].pipes == 0) {
		waited = true;
		rv = pthread_cond_timedwait(&s->cond, &s->lock, &until);
	}
	rv = s->peers[i].pipes > 0 ? 0 : -1;
	pthread_mutex_unlock(&s->lock);
	/*
	 * Our side of a new pipe is up; the pub side adds its end at about
	 * the same moment, but not provably before.  Give it a moment so
	 * the first echoed audio of the first calls is not published into
	 * a pipe that does not exist yet.  Only on a new connection.
	 */
	if (rv == 0 && waited)
		nng_msleep(SUB_SETTLE_MS);
	return (rv);
}
