/*
 * edge.c - our end of the audio hop to media-edge (common/ahop.c, the
 * same code media-edge runs at its end).
 *
 * Our pub socket (AI_PUB_URL) carries model audio, marks, clears and
 * transcript turns to media-edge.  One sub socket dials every media-edge
 * pub socket we are told about (once per distinct URL).
 *
 * SessionStart must not be answered before the sub socket is connected
 * to that media-edge, or the caller frames it flushes right after our
 * reply would be lost: edge_attach() waits (bounded) for the pipe.
 *
 * Filtering: nng's SUB socket compares each message with every
 * subscription in turn (a list), so with a subscription per call the cost
 * of a frame grows with the number of calls.  AI_SUB_ALL (the default)
 * subscribes to everything instead, and what is not for one of our calls
 * is dropped after one hash lookup.  NNG PUB sends every message to every
 * subscriber either way (filtering is the subscriber's), so this changes
 * what the filter costs, not what crosses the wire; with AI_SUB_ALL=false
 * each call sid (and our batch topic) is subscribed.
 *
 * Batches: audio, marks and clears for a call whose media-edge announced
 * a batch topic (SessionStart.batch_topic) are appended to that
 * media-edge's AudioBatch and published once per turn of the lws loop
 * (edge_flush, loop.c; at most one turn per AI_BATCH_FLUSH_MS while
 * busy).  Our own topic ("@<instance>") is given back in
 * SessionStarted.batch_topic.  Transcript turns stay one message each,
 * topic = call sid.
 *
 * Receiving: the lws service thread polls the sub socket's NNG_OPT_RECVFD
 * (adopted into lws as a raw file, loop.c) and edge_recv() takes what is
 * queued with non-blocking receives, so a caller frame reaches its call
 * without a hand-over between threads.
 *
 * Threads: edge_attach/edge_subscribe on svc workers; edge_recv and the
 * edge_pub_* functions on the lws service thread.
 */
#include <string.h>

#include "ahop.h"
#include "ai.h"
#include "metrics.h"
#include "svc.h"
#include "wire.h"

#define SETTLE_MS 10 /* first pipe: let the pub side attach it */
#define SUB_RECV_BUF 8192 /* messages nng may hold for the loop */

static struct ahop hop;

static void send_ack(struct call *c, bool released);

/* lws thread: one audio item for call c. */
static void
handle_item(struct call *c, const Bus__BatchItem *it, const char *what)
{
	switch (it->item_case) {
	case BUS__BATCH_ITEM__ITEM_AUDIO:
		if (c->released) {
			/* media-edge replays it to the next holder */
			metric_inc(st.drop_released);
			break;
		}
		/* the first ack says that acks will come, so media-edge
		 * keeps what this holder has not written yet */
		if (c->audio_acks && !c->ack_hello)
			send_ack(c, false);
		session_frame(c, it->audio);
		break;
	case BUS__BATCH_ITEM__ITEM_MARK_ECHO:
		session_mark_echo(c, it->mark_echo->name);
		break;
	case BUS__BATCH_ITEM__ITEM_DTMF:
		session_dtmf(c, it->dtmf);
		break;
	case BUS__BATCH_ITEM__ITEM_DIGITS_RESULT:
		session_keys_result(c, it->digits_result);
		break;
	default:
		metric_inc(st.bad_bus);
		logc_warnx(&c->lc, "edge sub: unexpected %s; dropped", what);
		break;
	}
}

/* lws thread (ahop): an item from a batch or a per-call message.  Only
 * this thread removes calls, so c stays valid while it is handled. */
static void
hop_item(void *arg, const Bus__BatchItem *it, const char *what)
{
	struct call *c;

	(void)arg;
	if ((c = calls_find_live(it->call_sid)) == NULL) {
		metric_inc(st.drop_unknown);
		return;
	}
	handle_item(c, it, what);
}

/* lws thread (ahop): per-call messages of another instance's calls are
 * dropped before they are decoded. */
static bool
hop_wanted(void *arg, const char *sid)
{
	(void)arg;
	if (calls_find_live(sid) != NULL)
		return (true);
	/* another instance's call, or one that just ended */
	metric_inc(cfg.sub_all ? st.drop_not_ours : st.drop_unknown);
	return (false);
}

/* lws thread (ahop): a per-call message that is not audio. */
static void
hop_message(void *arg, const char *sid, const Bus__Envelope *env)
{
	struct call *c;

	(void)arg;
	if ((c = calls_find_live(sid)) == NULL) {
		metric_inc(st.drop_unknown);
		return;
	}
	if (env->body_case == BUS__ENVELOPE__BODY_CALL_EVENT) {
		session_event(c, env->call_event);
		return;
	}
	metric_inc(st.bad_bus);
	logc_warnx(&c->lc, "edge sub: unexpected %s; dropped",
	    wire_type_name(env->body_case));
}

static void
hop_dropped(void *arg, enum ahop_drop why, unsigned n)
{
	(void)arg;
	switch (why) {
	case AHOP_DROP_OTHER_INSTANCE:
		metric_add(cfg.sub_all ? st.drop_not_ours : st.drop_unknown,
		    (double)n);
		break;
	case AHOP_DROP_PUBLISH:
		metric_add(st.drop_pub, (double)n);
		break;
	case AHOP_DROP_GARBAGE:
	case AHOP_DROP_UNEXPECTED:
		metric_add(st.bad_bus, (double)n);
		break;
	}
}

static const struct ahop_ops hop_ops = {
	.item = hop_item,
	.message = hop_message,
	.wanted = hop_wanted,
	.dropped = hop_dropped,
};

int
edge_open(void)
{
	struct ahop_cfg hc = {
		.pub_name = "ai_pub",
		.pub_url = cfg.pub_url,
		.pub_sendbuf = (int)cfg.pub_buffer,
		.sub_name = "edge_sub",
		.sub_recvbuf = SUB_RECV_BUF,
		.sub_all = cfg.sub_all != 0,
		.instance = svc_instance(),
		.settle_ms = SETTLE_MS,
		.ops = &hop_ops,
	};

	return (ahop_open(&hop, &hc));
}

void
edge_close(void)
{
	ahop_close(&hop);
}

int
edge_recv_fd(void)
{
	return (ahop_recv_fd(&hop));
}

size_t
edge_recv(size_t max)
{
	uint64_t batches = hop.batches_in;
	size_t   n;

	n = ahop_recv(&hop, max);
	if (hop.batches_in != batches)
		metric_add(st.batches_in, (double)(hop.batches_in - batches));
	return (n);
}

const char *
edge_batch_topic(void)
{
	return (ahop_topic(&hop));
}

const char *
edge_advertise_url(void)
{
	if (cfg.pub_advertise_url != NULL && cfg.pub_advertise_url[0] != '\0')
		return (cfg.pub_advertise_url);
	return (cfg.pub_url);
}

int
edge_attach(const char *url, long timeout_ms)
{
	return (ahop_attach(&hop, url, timeout_ms));
}

int
edge_subscribe(const char *sid)
{
	return (ahop_subscribe(&hop, sid));
}

int
edge_unsubscribe(const char *sid)
{
	return (ahop_unsubscribe(&hop, sid));
}

/* lws thread: into the batch for c's media-edge (SessionStart named
 * its batch topic); -1 when refused (counted). */
static int
send_item(struct call *c, Bus__BatchItem *it)
{
	if (c->dest == NULL && c->edge_topic != NULL
	    && c->edge_topic[0] != '\0')
		c->dest = ahop_dest(&hop, c->edge_topic);
	return (ahop_send(&hop, c->dest, c->sid, it));
}

void
edge_flush(void)
{
	uint64_t batches = hop.ab.batches, items = hop.ab.items;

	ahop_flush(&hop);
	if (hop.ab.batches != batches) {
		metric_add(st.batches_out, (double)(hop.ab.batches - batches));
		metric_add(st.batch_items_out, (double)(hop.ab.items - items));
	}
}

void
edge_release(struct call *c)
{
	ahop_dest_release(&hop, c->dest);
	c->dest = NULL;
}

/* lws thread: AudioAck{written_seq} into the call's batch. */
static void
send_ack(struct call *c, bool released)
{
	Bus__BatchItem it = BUS__BATCH_ITEM__INIT;
	Bus__AudioAck  ack = BUS__AUDIO_ACK__INIT;

	ack.seq = c->written_seq;
	ack.released = released;
	ack.holder = c->holder;
	it.item_case = BUS__BATCH_ITEM__ITEM_AUDIO_ACK;
	it.audio_ack = &ack;
	c->ack_hello = true;
	c->ack_ms = ai_mono_ms();
	if (send_item(c, &it) != 0)
		return; /* counted (pub_full); the next ack says it all */
	c->acked_seq = c->written_seq;
	metric_inc(st.acks_sent);
}

/* An ack that is due rides in a batch that goes to media-edge anyway
 * (the call's model audio, other calls' items); only one twice overdue
 * makes a batch of its own.  At light load the paced flush would
 * otherwise send a batch for little but acks: more messages, more of
 * nng's thread wake-ups per frame. */
void
edge_audio_written(struct call *c, uint32_t seq)
{
	long age;

	if (seq > c->written_seq)
		c->written_seq = seq;
	if (!c->audio_acks || c->written_seq == c->acked_seq)
		return;
	age = ai_mono_ms() - c->ack_ms;
	if (age >= 2 * cfg.audio_ack_ms
	    || (age >= cfg.audio_ack_ms && c->dest != NULL && c->dest->n > 0))
		send_ack(c, false);
}

void
edge_hand_over(struct call *c)
{
	if (c->released)
		return;
	c->released = true;
	if (!c->audio_acks) {
		logc_info(&c->lc,
		    "handing the call over; media-edge replays its last "
		    "caller audio (no acks)");
		return;
	}
	/* what sits in the ring is not written: media-edge has it */
	send_ack(c, true);
	logc_info(&c->lc,
	    "handing the call over after caller frame %u; %u frames "
	    "queued for the model go to the next holder",
	    c->written_seq, c->inq.frames);
}

int
edge_pub_audio(struct call *c, const uint8_t *p, size_t n)
{
	Bus__BatchItem  it = BUS__BATCH_ITEM__INIT;
	Bus__AudioFrame af = BUS__AUDIO_FRAME__INIT;

	af.payload.data = (uint8_t *)p;
	af.payload.len = n;
	af.seq = ++c->out_seq;
	it.item_case = BUS__BATCH_ITEM__ITEM_AUDIO;
	it.audio = &af;
	if (send_item(c, &it) != 0)
		return (-1);
	metric_inc(st.frames_out);
	return (0);
}

int
edge_pub_mark(struct call *c, const char *name)
{
	Bus__BatchItem it = BUS__BATCH_ITEM__INIT;
	Bus__Mark      mk = BUS__MARK__INIT;

	mk.name = (char *)name;
	it.item_case = BUS__BATCH_ITEM__ITEM_MARK;
	it.mark = &mk;
	if (send_item(c, &it) != 0)
		return (-1);
	metric_inc(st.marks_sent);
	return (0);
}

int
edge_pub_clear(struct call *c)
{
	Bus__BatchItem it = BUS__BATCH_ITEM__INIT;
	Bus__Clear     cl = BUS__CLEAR__INIT;

	it.item_case = BUS__BATCH_ITEM__ITEM_CLEAR;
	it.clear = &cl;
	return (send_item(c, &it));
}

int
edge_pub_keys(struct call *c, const char *digits, uint32_t seq)
{
	Bus__BatchItem  it = BUS__BATCH_ITEM__INIT;
	Bus__SendDigits sd = BUS__SEND_DIGITS__INIT;

	sd.digits = (char *)digits;
	sd.seq = seq;
	it.item_case = BUS__BATCH_ITEM__ITEM_SEND_DIGITS;
	it.send_digits = &sd;
	return (send_item(c, &it));
}

int
edge_pub_turn(struct call *c, const struct turn *t)
{
	Bus__Envelope       env = BUS__ENVELOPE__INIT;
	Bus__TranscriptTurn tt = BUS__TRANSCRIPT_TURN__INIT;
	Bus__Turn           tu = BUS__TURN__INIT;
	int                 rv;

	env.call_sid = c->sid;
	env.trace_id = c->trace;
	tu.role = t->role == RT_ASSISTANT ? "assistant" : "user";
	tu.text = t->text;
	tu.seq = t->seq;
	tu.at_ms = t->at_ms;
	tt.turn = &tu;
	tt.item_id = t->item_id;
	env.body_case = BUS__ENVELOPE__BODY_TRANSCRIPT_TURN;
	env.transcript_turn = &tt;
	if ((rv = ahop_publish(&hop, c->sid, &env)) != 0)
		logc_debug(
		    &c->lc, "ai pub: turn dropped: %s", nng_strerror(rv));
	return (rv != 0 ? -1 : 0);
}
