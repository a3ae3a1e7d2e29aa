/*
 * ahop - the audio hop; see ahop.h.
 *
 * Audio items travel only in batches: there is no Envelope <-> BatchItem
 * mapping left (a peer without a batch topic is refused when the session
 * starts, and a per-call audio message is the receiver's "unexpected").
 *
 * Pipe notifications are registered here rather than in bus.c because
 * they must name the peer (the dialer); they keep the socket's
 * bus_peers_connected / bus_pipe_events_total series as bus.c would.
 * The dial itself goes through bus_dial() under {mtx}, so a notification
 * for it waits until the dialer id is recorded.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/supplemental/util/platform.h>

#include "ahop.h"
#include "bus.h"
#include "codec.h"
#include "log.h"
#include "metrics.h"
#include "wire.h"
#include "xmalloc.h"

#define AHOP_CLOSE_MS 2000 /* bus_close: NNG 1.5 can hang in nng_close */

struct ahop_peer {
	struct ahop_peer *next;
	char             *url;
	nng_dialer        d;
	int               up; /* pipes open on this dialer */
	bool              settled;
};

static void
dropped(struct ahop *h, enum ahop_drop why, unsigned n)
{
	if (h->ops->dropped != NULL && n > 0)
		h->ops->dropped(h->arg, why, n);
}

/* nng callback: must not block. */
static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct ahop      *h = arg;
	struct ahop_peer *pe;
	nng_dialer        d = nng_pipe_dialer(p);
	char             *gone = NULL;

	metric_add(h->gauge, ev == NNG_PIPE_EV_ADD_POST ? 1 : -1);
	metric_inc(ev == NNG_PIPE_EV_ADD_POST ? h->ev_add : h->ev_rem);
	pthread_mutex_lock(&h->mtx);
	for (pe = h->peers; pe != NULL; pe = pe->next) {
		if (nng_dialer_id(pe->d) != nng_dialer_id(d))
			continue;
		pe->up += ev == NNG_PIPE_EV_ADD_POST ? 1 : -1;
		if (ev == NNG_PIPE_EV_REM_POST && pe->up <= 0)
			gone = xstrdup(pe->url);
		break;
	}
	if (h->closing) {
		free(gone); /* our own close, not the peer's */
		gone = NULL;
	}
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mtx);
	if (gone != NULL) {
		log_warnx("audio hop: lost the pipe to %s", gone);
		if (h->ops->peer_gone != NULL)
			h->ops->peer_gone(h->arg, gone);
		free(gone);
	}
}

int
ahop_open(struct ahop *h, const struct ahop_cfg *c)
{
	struct metric_family *fp, *fe;
	int                   rv;

	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->mtx, NULL);
	pthread_cond_init(&h->cv, NULL);
	h->ops = c->ops;
	h->arg = c->arg;
	h->sub_all = c->sub_all;
	h->settle_ms = c->settle_ms;
	(void)codec_rand_hex(h->id_prefix, 8);
	if (abatch_topic(h->topic, sizeof(h->topic), c->instance) == -1) {
		log_warnx("audio hop: instance name %s too long for a batch "
		          "topic",
		    c->instance);
		return (-1);
	}
	if (bus_pub_listen(&h->pub, c->pub_name, c->pub_url) != 0)
		return (-1);
	h->pub_open = true;
	if (c->pub_sendbuf > 0
	    && (rv = bus_set_buffers(h->pub, 0, c->pub_sendbuf)) != 0)
		log_warnx(
		    "%s: send buffer: %s", c->pub_name, nng_strerror(rv));
	abatch_set_init(&h->ab, h->pub);
	wire_arena_init(&h->arena, AHOP_ARENA_BYTES);
	if (bus_sub_open(&h->sub, c->sub_name) != 0)
		return (-1);
	h->sub_open = true;
	fp = metrics_gauge("bus_peers_connected",
	    "NNG pipes (peer connections) open on a socket", "socket");
	fe = metrics_counter("bus_pipe_events_total",
	    "NNG pipes added and removed", "socket,event");
	h->gauge = metric_get(fp, c->sub_name);
	h->ev_add = metric_get(fe, c->sub_name, "add");
	h->ev_rem = metric_get(fe, c->sub_name, "remove");
	if ((c->sub_recvbuf > 0
	        && (rv = bus_set_buffers(h->sub, c->sub_recvbuf, 0)) != 0)
	    || (rv = nng_pipe_notify(h->sub, NNG_PIPE_EV_ADD_POST, pipe_cb, h))
	        != 0
	    || (rv = nng_pipe_notify(h->sub, NNG_PIPE_EV_REM_POST, pipe_cb, h))
	        != 0
	    || (rv = nng_socket_get_int(h->sub, NNG_OPT_RECVFD, &h->recvfd))
	        != 0
	    || (c->sub_all && (rv = bus_subscribe_all(h->sub)) != 0)
	    || (!c->sub_all && (rv = bus_subscribe(h->sub, h->topic)) != 0)) {
		log_warnx("%s: setup: %s", c->sub_name, nng_strerror(rv));
		return (-1);
	}
	return (0);
}

void
ahop_close(struct ahop *h)
{
	struct ahop_peer *pe;

	pthread_mutex_lock(&h->mtx);
	h->closing = true;
	pthread_mutex_unlock(&h->mtx);
	if (h->sub_open)
		(void)bus_close(h->sub, "audio sub", AHOP_CLOSE_MS);
	if (h->pub_open)
		(void)bus_close(h->pub, "audio pub", AHOP_CLOSE_MS);
	if (h->sub_open || h->pub_open)
		abatch_set_fini(&h->ab);
	wire_arena_fini(&h->arena);
	h->sub_open = h->pub_open = false;
	while ((pe = h->peers) != NULL) {
		h->peers = pe->next;
		free(pe->url);
		free(pe);
	}
}

const char *
ahop_topic(const struct ahop *h)
{
	return (h->topic);
}

int
ahop_recv_fd(const struct ahop *h)
{
	return (h->recvfd);
}

/* Under mtx: the peer for url, dialled on first use. */
static struct ahop_peer *
peer_get(struct ahop *h, const char *url)
{
	struct ahop_peer *pe;

	for (pe = h->peers; pe != NULL; pe = pe->next)
		if (strcmp(pe->url, url) == 0)
			return (pe);
	pe = xcalloc(1, sizeof(*pe));
	if (bus_dial(h->sub, url, &pe->d) != 0) {
		free(pe);
		return (NULL);
	}
	pe->url = xstrdup(url);
	pe->next = h->peers;
	h->peers = pe;
	log_info("audio hop: dialling %s", url);
	return (pe);
}

int
ahop_attach(struct ahop *h, const char *url, long timeout_ms)
{
	struct ahop_peer *pe;
	struct timespec   ts;
	bool              first = false;
	int               rv = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&h->mtx);
	if ((pe = peer_get(h, url)) == NULL)
		rv = -1;
	while (rv == 0 && pe->up <= 0)
		if (pthread_cond_timedwait(&h->cv, &h->mtx, &ts) != 0
		    && pe->up <= 0)
			rv = -1;
	if (rv == 0 && !pe->settled)
		first = pe->settled = true;
	pthread_mutex_unlock(&h->mtx);
	if (rv == -1 && pe != NULL)
		log_warnx("audio hop: %s not connected within %ld ms", url,
		    timeout_ms);
	/*
	 * Our side of a new pipe is up; the pub side adds its end at about
	 * the same moment, but not provably before.  Give it a moment so the
	 * first audio of the first calls is not published into a pipe that
	 * does not exist yet.  Only on a new connection.
	 */
	if (first && h->settle_ms > 0)
		nng_msleep(h->settle_ms);
	return (rv);
}

int
ahop_subscribe(struct ahop *h, const char *sid)
{
	int rv;

	if (h->sub_all)
		return (0);
	if ((rv = bus_subscribe(h->sub, sid)) != 0)
		log_warnx("audio hop: subscribe: %s", nng_strerror(rv));
	return (rv != 0 ? -1 : 0);
}

int
ahop_unsubscribe(struct ahop *h, const char *sid)
{
	if (h->sub_all)
		return (0);
	return (bus_unsubscribe(h->sub, sid) != 0 ? -1 : 0);
}

/* A batch under a batch topic (topic checked before anything is
 * decoded: another instance's batches are common with sub_all). */
static void
recv_batch(struct ahop *h, nng_msg *m, const char *topic)
{
	Bus__Envelope *env;
	size_t         i;
	int            rv;

	if (strcmp(topic, h->topic) != 0) {
		dropped(h, AHOP_DROP_OTHER_INSTANCE, 1);
		return;
	}
	if ((rv = wire_unpack_pub_arena(m, &h->arena, &topic, &env)) != 0) {
		if (rv != NNG_EMSGSIZE) /* an id over its limit: wire logged */
			log_warnx("audio hop: a batch of %zu bytes that does "
			          "not unpack; dropped",
			    nng_msg_len(m));
		dropped(h, AHOP_DROP_GARBAGE, 1);
		return;
	}
	if (env->body_case != BUS__ENVELOPE__BODY_AUDIO_BATCH) {
		log_warnx("audio hop: %s under our batch topic; dropped",
		    wire_type_name(env->body_case));
		dropped(h, AHOP_DROP_UNEXPECTED, 1);
		wire_arena_reset(&h->arena);
		return;
	}
	h->batches_in++;
	for (i = 0; i < env->audio_batch->n_items; i++) {
		const Bus__BatchItem *it = env->audio_batch->items[i];

		if (it->call_sid == NULL || it->call_sid[0] == '\0') {
			dropped(h, AHOP_DROP_UNEXPECTED, 1);
			continue;
		}
		h->items_in++;
		h->ops->item(h->arg, it, "batch item");
	}
	wire_arena_reset(&h->arena);
}

/* One published message (not consumed). */
static void
recv_one(struct ahop *h, nng_msg *m)
{
	Bus__Envelope *env;
	const char    *topic = nng_msg_body(m);
	int            rv;

	if (nng_msg_len(m) == 0
	    || memchr(topic, '\0', nng_msg_len(m)) == NULL) {
		log_warnx("audio hop: %zu bytes that are not a topic and an "
		          "envelope; dropped",
		    nng_msg_len(m));
		dropped(h, AHOP_DROP_GARBAGE, 1);
		return;
	}
	if (abatch_is_topic(topic)) {
		recv_batch(h, m, topic);
		return;
	}
	if (h->ops->wanted != NULL && !h->ops->wanted(h->arg, topic))
		return;
	if ((rv = wire_unpack_pub_arena(m, &h->arena, &topic, &env)) != 0) {
		if (rv != NNG_EMSGSIZE) /* an id over its limit: wire logged */
			log_warnx("audio hop: %zu bytes that are not a topic "
			          "and an envelope; dropped",
			    nng_msg_len(m));
		dropped(h, AHOP_DROP_GARBAGE, 1);
		return;
	}
	if (h->ops->message != NULL)
		h->ops->message(h->arg, topic, env);
	else
		dropped(h, AHOP_DROP_UNEXPECTED, 1);
	wire_arena_reset(&h->arena);
}

size_t
ahop_recv(struct ahop *h, size_t max)
{
	nng_msg *m;
	size_t   n;

	for (n = 0; n < max; n++) {
		if (nng_recvmsg(h->sub, &m, NNG_FLAG_NONBLOCK) != 0)
			break;
		recv_one(h, m);
		nng_msg_free(m);
	}
	return (n);
}

/* A cheap unique msg_id (random prefix + counter). */
static void
env_ids(struct ahop *h, Bus__Envelope *env, char *id)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t          n = ++h->id_next;
	int               i;

	memcpy(id, h->id_prefix, 16);
	for (i = WIRE_ID_LEN - 1; i >= 16; i--, n >>= 4)
		id[i] = hex[n & 0xf];
	id[WIRE_ID_LEN] = '\0';
	env->msg_id = id;
	env->sent_at_ms = wire_now_ms();
}

int
ahop_send(struct ahop *h, struct abatch *dest, const char *sid,
    const Bus__BatchItem *it)
{
	Bus__BatchItem item = *it;
	unsigned       n;

	if (dest == NULL) {
		/* a peer without a batch topic: refused at session start */
		dropped(h, AHOP_DROP_UNEXPECTED, 1);
		return (-1);
	}
	item.call_sid = (char *)sid;
	if ((n = abatch_add(&h->ab, dest, &item)) > 0) {
		dropped(h, AHOP_DROP_PUBLISH, n);
		return (-1);
	}
	return (0);
}

int
ahop_publish(struct ahop *h, const char *topic, Bus__Envelope *env)
{
	char id[WIRE_ID_LEN + 1];
	int  rv;

	if (env->msg_id == NULL || env->msg_id[0] == '\0')
		env_ids(h, env, id);
	if ((rv = wire_publish(h->pub, topic, env)) != 0)
		dropped(h, AHOP_DROP_PUBLISH, 1);
	return (rv);
}

void
ahop_flush(struct ahop *h)
{
	unsigned n;

	if (h->ab.pending != NULL && (n = abatch_flush(&h->ab)) > 0)
		dropped(h, AHOP_DROP_PUBLISH, n);
}

struct abatch *
ahop_dest(struct ahop *h, const char *peer_topic)
{
	if (peer_topic == NULL || peer_topic[0] == '\0')
		return (NULL);
	return (abatch_ref(&h->ab, peer_topic));
}

void
ahop_dest_release(struct ahop *h, struct abatch *b)
{
	abatch_unref(&h->ab, b);
}
