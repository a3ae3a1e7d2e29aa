/*
 * edge.c - the pub/sub half of the audio path (wave-2 contract 2-6).
 *
 * Our pub socket (AI_PUB_URL) carries model audio, marks, clears and
 * transcript turns to media-edge, topic = call sid.  One sub socket dials
 * every media-edge pub socket we are told about (once per distinct URL)
 * and subscribes to the sid of each call we hold.
 *
 * SessionStart must not be answered before the sub socket is connected
 * to that media-edge, or the caller frames it flushes right after our
 * reply would be lost.  So each URL gets its own dialer, created (and
 * its id recorded) before it is started, and a pipe notification marks
 * the peer up; edge_attach() waits on a condition variable, bounded.
 * (This is why edge.c creates its dialers itself instead of bus_dial():
 * the notification must be able to name the dialer.)  The notification
 * also keeps bus_peers_connected{socket="edge_sub"} right, which bus.c's
 * own notifier would otherwise do.
 *
 * Filtering: nng's SUB socket compares each message with every
 * subscription in turn (a list), so with a subscription per call the cost
 * of a frame grows with the number of calls.  AI_SUB_ALL (the default)
 * subscribes to everything instead and loop.c drops what is not for one
 * of our calls after one hash lookup.  NNG PUB sends every message to
 * every subscriber either way (filtering is the subscriber's), so this
 * changes what the filter costs, not what crosses the wire; with
 * AI_SUB_ALL=false each call sid is subscribed as the contract describes.
 *
 * Batches: audio, marks and clears for a call whose media-edge announced
 * a batch topic (SessionStart.batch_topic) are appended to that
 * media-edge's AudioBatch (abatch.h) and published once per turn of the
 * lws loop (edge_flush, loop.c), so under load one NNG message carries
 * many calls' frames.  Our own topic ("@<instance>") is given back in
 * SessionStarted.batch_topic; with AI_SUB_ALL=false it is subscribed
 * to as well.  Transcript turns stay one message each, topic = call sid.
 *
 * Receiving: the lws service thread polls the sub socket's NNG_OPT_RECVFD
 * (adopted into lws as a raw file, loop.c) and takes what is queued with
 * non-blocking receives, so a caller frame reaches its call without a
 * hand-over between threads.
 *
 * Threads: edge_attach/edge_subscribe on svc workers; pipe_cb on nng's
 * threads (must not block); edge_drain and the edge_pub_* functions on
 * the lws service thread.  {mtx} guards peers.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/supplemental/util/platform.h>

#include "ai.h"
#include "bus.h"
#include "codec.h"
#include "metrics.h"
#include "svc.h"
#include "wire.h"
#include "xmalloc.h"

#define SUB_RECV_BUF 8192 /* messages nng may hold for the callback */
#define SETTLE_MS 10 /* first pipe: let the pub side attach it */

struct peer {
	struct peer *next;
	char        *url;
	nng_dialer   d;
	int          up; /* pipes open on this dialer */
	bool         settled;
};

static struct {
	nng_socket        pub;
	nng_socket        sub;
	bool              open_pub, open_sub;
	int               recvfd; /* readable while messages wait */
	pthread_mutex_t   mtx;
	pthread_cond_t    cv;
	struct peer      *peers; /* {mtx} */
	struct metric    *gauge;
	char              id_prefix[17];
	uint64_t          id_next; /* lws thread */
	struct abatch_set ab; /* lws thread */
	char              topic[ABATCH_TOPIC_MAX]; /* ours */
} e = { .mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* nng callback: must not block. */
static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	nng_dialer   d = nng_pipe_dialer(p);
	struct peer *pe;

	(void)arg;
	metric_add(e.gauge, ev == NNG_PIPE_EV_ADD_POST ? 1 : -1);
	pthread_mutex_lock(&e.mtx);
	for (pe = e.peers; pe != NULL; pe = pe->next) {
		if (nng_dialer_id(pe->d) != nng_dialer_id(d))
			continue;
		pe->up += ev == NNG_PIPE_EV_ADD_POST ? 1 : -1;
		if (ev == NNG_PIPE_EV_REM_POST)
			log_info("media-edge pub %s: disconnected", pe->url);
		break;
	}
	pthread_cond_broadcast(&e.cv);
	pthread_mutex_unlock(&e.mtx);
}

int
edge_open(void)
{
	struct metric_family *fam;
	int                   rv;

	(void)codec_rand_hex(e.id_prefix, 8);
	fam = metrics_gauge("bus_peers_connected",
	    "NNG pipes (peer connections) open on a socket", "socket");
	e.gauge = metric_get(fam, "edge_sub");
	if ((rv = bus_pub_listen(&e.pub, "ai_pub", cfg.pub_url)) != 0)
		return (-1);
	e.open_pub = true;
	if ((rv = bus_set_buffers(e.pub, 0, (int)cfg.pub_buffer)) != 0)
		log_warnx("ai pub: send buffer: %s", nng_strerror(rv));
	abatch_set_init(&e.ab, e.pub);
	if (abatch_topic(e.topic, sizeof(e.topic), svc_instance()) == -1)
		e.topic[0] = '\0'; /* too long: per-frame messages only */
	if ((rv = bus_sub_open(&e.sub, "edge_sub")) != 0)
		return (-1);
	e.open_sub = true;
	if ((rv = bus_set_buffers(e.sub, SUB_RECV_BUF, 0)) != 0
	    || (rv = nng_pipe_notify(
	            e.sub, NNG_PIPE_EV_ADD_POST, pipe_cb, NULL))
	        != 0
	    || (rv = nng_pipe_notify(
	            e.sub, NNG_PIPE_EV_REM_POST, pipe_cb, NULL))
	        != 0
	    || (rv = nng_socket_get_int(e.sub, NNG_OPT_RECVFD, &e.recvfd)) != 0
	    || (cfg.sub_all
	        && (rv = nng_socket_set(e.sub, NNG_OPT_SUB_SUBSCRIBE, "", 0))
	            != 0)
	    || (!cfg.sub_all && e.topic[0] != '\0'
	        && (rv = bus_subscribe(e.sub, e.topic)) != 0)) {
		log_warnx("edge sub: setup: %s", nng_strerror(rv));
		return (-1);
	}
	return (0);
}

void
edge_close(void)
{
	struct peer *pe;

	if (e.open_sub)
		nng_close(e.sub);
	if (e.open_pub)
		nng_close(e.pub);
	e.open_sub = e.open_pub = false;
	abatch_set_fini(&e.ab);
	while ((pe = e.peers) != NULL) {
		e.peers = pe->next;
		free(pe->url);
		free(pe);
	}
}

int
edge_recv_fd(void)
{
	return (e.recvfd);
}

size_t
edge_drain(void (*fn)(nng_msg *), size_t max)
{
	nng_msg *m;
	size_t   n;

	for (n = 0; n < max; n++) {
		if (nng_recvmsg(e.sub, &m, NNG_FLAG_NONBLOCK) != 0)
			break;
		fn(m);
		nng_msg_free(m);
	}
	return (n);
}

const char *
edge_batch_topic(void)
{
	return (e.topic);
}

const char *
edge_advertise_url(void)
{
	if (cfg.pub_advertise_url != NULL && cfg.pub_advertise_url[0] != '\0')
		return (cfg.pub_advertise_url);
	return (cfg.pub_url);
}

/* Under mtx: the peer for url, created and dialled on first use. */
static struct peer *
peer_get(const char *url)
{
	struct peer *pe;
	int          rv;

	for (pe = e.peers; pe != NULL; pe = pe->next)
		if (strcmp(pe->url, url) == 0)
			return (pe);
	pe = xcalloc(1, sizeof(*pe));
	if ((rv = nng_dialer_create(&pe->d, e.sub, url)) != 0) {
		log_warnx("edge sub: bad url %s: %s", url, nng_strerror(rv));
		free(pe);
		return (NULL);
	}
	if (bus_tls_dialer(pe->d, url) != 0) { /* tls+tcp://: logged */
		nng_dialer_close(pe->d);
		free(pe);
		return (NULL);
	}
	pe->url = xstrdup(url);
	pe->next = e.peers;
	e.peers = pe;
	/* NONBLOCK: a peer that is down is redialled with backoff, and the
	 * notification may only run once we release mtx. */
	if ((rv = nng_dialer_start(pe->d, NNG_FLAG_NONBLOCK)) != 0)
		log_warnx("edge sub: dial %s: %s", url, nng_strerror(rv));
	log_info("media-edge pub %s: dialling", url);
	return (pe);
}

int
edge_attach(const char *url, long timeout_ms)
{
	struct peer    *pe;
	struct timespec ts;
	bool            first = false;
	int             rv = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&e.mtx);
	if ((pe = peer_get(url)) == NULL)
		rv = -1;
	while (rv == 0 && pe->up <= 0)
		if (pthread_cond_timedwait(&e.cv, &e.mtx, &ts) != 0
		    && pe->up <= 0)
			rv = -1;
	if (rv == 0 && !pe->settled)
		first = pe->settled = true;
	pthread_mutex_unlock(&e.mtx);
	if (rv == -1 && pe != NULL)
		log_warnx("media-edge pub %s: not connected within %ld ms",
		    url, timeout_ms);
	if (first)
		nng_msleep(SETTLE_MS);
	return (rv);
}

int
edge_subscribe(const char *sid)
{
	int rv;

	if (cfg.sub_all)
		return (0); /* everything arrives; loop.c filters */
	if ((rv = bus_subscribe(e.sub, sid)) != 0)
		log_warnx("edge sub: subscribe: %s", nng_strerror(rv));
	return (rv != 0 ? -1 : 0);
}

int
edge_unsubscribe(const char *sid)
{
	if (cfg.sub_all)
		return (0);
	return (bus_unsubscribe(e.sub, sid) != 0 ? -1 : 0);
}

/* lws thread: a cheap unique msg_id (random prefix + counter), since the
 * audio path publishes tens of thousands of envelopes a second. */
static void
env_init(Bus__Envelope *env, struct call *c, char *id)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t          n = ++e.id_next;
	int               i;

	memcpy(id, e.id_prefix, 16);
	for (i = 31; i >= 16; i--, n >>= 4)
		id[i] = hex[n & 0xf];
	id[32] = '\0';
	env->msg_id = id;
	env->call_sid = c->sid;
	env->trace_id = c->trace;
	env->sent_at_ms = wire_now_ms();
}

/* lws thread: into the batch for c's media-edge; -1 when a batch it
 * filled was refused (its items are counted as dropped). */
static int
batch_add(struct call *c, Bus__BatchItem *it)
{
	unsigned n;

	if (c->dest == NULL)
		c->dest = abatch_ref(&e.ab, c->edge_topic);
	it->call_sid = c->sid;
	if ((n = abatch_add(&e.ab, c->dest, it)) > 0) {
		metric_add(st.drop_pub, (double)n);
		return (-1);
	}
	return (0);
}

static int
publish(struct call *c, Bus__Envelope *env)
{
	Bus__BatchItem it = BUS__BATCH_ITEM__INIT;
	int            rv;

	if (c->edge_topic != NULL && c->edge_topic[0] != '\0') {
		switch (env->body_case) {
		case BUS__ENVELOPE__BODY_AUDIO:
			it.item_case = BUS__BATCH_ITEM__ITEM_AUDIO;
			it.audio = env->audio;
			return (batch_add(c, &it));
		case BUS__ENVELOPE__BODY_MARK:
			it.item_case = BUS__BATCH_ITEM__ITEM_MARK;
			it.mark = env->mark;
			return (batch_add(c, &it));
		case BUS__ENVELOPE__BODY_CLEAR:
			it.item_case = BUS__BATCH_ITEM__ITEM_CLEAR;
			it.clear = env->clear;
			return (batch_add(c, &it));
		default:
			break;
		}
	}
	if ((rv = wire_publish(e.pub, c->sid, env)) != 0) {
		metric_inc(st.drop_pub);
		logc_debug(&c->lc, "ai pub: %s dropped: %s",
		    wire_type_name(env->body_case), nng_strerror(rv));
		return (-1);
	}
	return (0);
}

void
edge_flush(void)
{
	uint64_t batches = e.ab.batches, items = e.ab.items;
	unsigned n;

	if (e.ab.pending != NULL && (n = abatch_flush(&e.ab)) > 0)
		metric_add(st.drop_pub, (double)n);
	if (e.ab.batches != batches) {
		metric_add(st.batches_out, (double)(e.ab.batches - batches));
		metric_add(st.batch_items_out, (double)(e.ab.items - items));
	}
}

void
edge_release(struct call *c)
{
	abatch_unref(&e.ab, c->dest);
	c->dest = NULL;
}

int
edge_pub_audio(struct call *c, const uint8_t *p, size_t n)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT;
	Bus__AudioFrame af = BUS__AUDIO_FRAME__INIT;
	char            id[WIRE_ID_LEN + 1];

	env_init(&env, c, id);
	af.payload.data = (uint8_t *)p;
	af.payload.len = n;
	af.seq = ++c->out_seq;
	env.body_case = BUS__ENVELOPE__BODY_AUDIO;
	env.audio = &af;
	if (publish(c, &env) != 0)
		return (-1);
	metric_inc(st.frames_out);
	return (0);
}

int
edge_pub_mark(struct call *c, const char *name)
{
	Bus__Envelope env = BUS__ENVELOPE__INIT;
	Bus__Mark     mk = BUS__MARK__INIT;
	char          id[WIRE_ID_LEN + 1];

	env_init(&env, c, id);
	mk.name = (char *)name;
	env.body_case = BUS__ENVELOPE__BODY_MARK;
	env.mark = &mk;
	if (publish(c, &env) != 0)
		return (-1);
	metric_inc(st.marks_sent);
	return (0);
}

int
edge_pub_clear(struct call *c)
{
	Bus__Envelope env = BUS__ENVELOPE__INIT;
	Bus__Clear    cl = BUS__CLEAR__INIT;
	char          id[WIRE_ID_LEN + 1];

	env_init(&env, c, id);
	env.body_case = BUS__ENVELOPE__BODY_CLEAR;
	env.clear = &cl;
	return (publish(c, &env));
}

int
edge_pub_turn(struct call *c, const struct turn *t)
{
	Bus__Envelope       env = BUS__ENVELOPE__INIT;
	Bus__TranscriptTurn tt = BUS__TRANSCRIPT_TURN__INIT;
	Bus__Turn           tu = BUS__TURN__INIT;
	char                id[WIRE_ID_LEN + 1];

	env_init(&env, c, id);
	tu.role = t->role == RT_ASSISTANT ? "assistant" : "user";
	tu.text = t->text;
	tu.seq = t->seq;
	tu.at_ms = t->at_ms;
	tt.turn = &tu;
	tt.item_id = t->item_id;
	env.body_case = BUS__ENVELOPE__BODY_TRANSCRIPT_TURN;
	env.transcript_turn = &tt;
	return (publish(c, &env));
}
