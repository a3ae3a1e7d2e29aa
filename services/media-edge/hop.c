/*
 * hop.c - our end of the audio hop to the ai-sessions (common/ahop.c,
 * the same code ai-session runs at its end): the pub socket we bind, the
 * one sub socket dialled to each ai-session pub socket we were told
 * about; what arrives on it goes to dispatch.c.
 *
 * The sub socket subscribes to everything and items are routed by call
 * sid through the call table: nng 1.x pub sends every message to every
 * subscriber anyway and filters on the receiving side by scanning its
 * topic list, which with a thousand calls costs more than one hash
 * lookup.  A batch for another media-edge (an ai-session's pub socket
 * serves every media-edge it talks to) is dropped on its topic alone.
 *
 * Receiving runs on the lws service thread: loop.c polls the socket's
 * NNG_OPT_RECVFD and calls hop_recv(), which takes what is queued with
 * non-blocking receives, so a model frame is not handed between threads
 * on its way to the caller's queue.
 *
 * A pipe to an ai-session that closes means that ai-session went away
 * (or restarts): EV_AI_GONE reaches the lws thread through the event
 * queue and its calls are resumed elsewhere (calls.c).
 *
 * Threads: hop_start/hop_stop main; hop_connect request workers (blocks);
 * hop_recv and the callbacks below the lws service thread, except
 * hop_peer_gone (nng thread: must not block).
 */
#include <stdlib.h>
#include <string.h>

#include "ahop.h"
#include "edge.h"
#include "log.h"
#include "metrics.h"
#include "svc.h"
#include "wire.h"
#include "xmalloc.h"

#define HOP_SETTLE_MS 50

static void
hop_dropped(void *arg, enum ahop_drop why, unsigned n)
{
	struct edge *e = arg;

	switch (why) {
	case AHOP_DROP_OTHER_INSTANCE:
		metric_add(metric_get(e->m.batches, "other_instance"), n);
		break;
	case AHOP_DROP_GARBAGE:
		metric_add(metric_get(e->m.bad_input, "bus_garbage"), n);
		break;
	case AHOP_DROP_UNEXPECTED:
		metric_add(metric_get(e->m.bad_input, "bus_unexpected"), n);
		break;
	case AHOP_DROP_PUBLISH:
		edge_dropped(e, "publish", n);
		break;
	}
}

/* nng thread: must not block. */
static void
hop_peer_gone(void *arg, const char *url)
{
	struct edge *e = arg;
	struct ev   *ev = xcalloc(1, sizeof(*ev));

	ev->kind = EV_AI_GONE;
	snprintf(ev->url, sizeof(ev->url), "%s", url);
	evq_push(&e->evq, ev);
}

static const struct ahop_ops hop_ops = {
	.item = dispatch_item,
	.message = dispatch_message,
	.dropped = hop_dropped,
	.peer_gone = hop_peer_gone,
};

int
hop_start(struct edge *e)
{
	struct ahop_cfg hc = {
		.pub_name = "pub",
		.pub_url = e->cfg.pub_url,
		.pub_sendbuf = (int)e->cfg.pub_sendbuf,
		.sub_name = "ai_sub",
		.sub_recvbuf = (int)e->cfg.sub_recvbuf,
		.sub_all = true,
		.instance = svc_instance(),
		.settle_ms = HOP_SETTLE_MS,
		.ops = &hop_ops,
		.arg = e,
	};

	if (ahop_open(&e->hop, &hc) != 0)
		return (-1);
	e->pub = e->hop.pub; /* web.c publishes call events on it */
	snprintf(
	    e->batch_topic, sizeof(e->batch_topic), "%s", ahop_topic(&e->hop));
	return (0);
}

void
hop_stop(struct edge *e)
{
	ahop_close(&e->hop);
}

int
hop_connect(struct edge *e, const char *url, int timeout_ms)
{
	return (ahop_attach(&e->hop, url, timeout_ms));
}

size_t
hop_recv(struct edge *e, size_t max)
{
	uint64_t batches = e->hop.batches_in;
	size_t   n;

	n = ahop_recv(&e->hop, max);
	if (e->hop.batches_in != batches)
		metric_add(metric_get(e->m.batches, "received"),
		    (double)(e->hop.batches_in - batches));
	return (n);
}

void
calls_flush(struct edge *e)
{
	uint64_t batches = e->hop.ab.batches, items = e->hop.ab.items;

	ahop_flush(&e->hop);
	if (e->hop.ab.batches != batches) {
		metric_add(metric_get(e->m.batches, "sent"),
		    (double)(e->hop.ab.batches - batches));
		metric_add(
		    e->m.batch_items, (double)(e->hop.ab.items - items));
	}
}
