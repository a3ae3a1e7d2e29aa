/*
 * ahop_test - the audio hop (common/ahop.c) between two ends over ipc in
 * a temporary directory, the way media-edge and ai-session use it: each
 * binds a pub socket and attaches to the other's.  Covers the round trip
 * of every item kind (only in batches), the pollable descriptor, and
 * the bad cases of the receive loop: a batch for another instance, a
 * truncated batch, one bigger than the unpack arena, bytes that are no
 * message, something else under our batch topic, an item without a call, a
 * full receive queue, and the peer going away with a batch half filled (and
 * coming back).
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/supplemental/util/platform.h>

#include "ahop.h"
#include "wire.h"

#define MAX_SEEN 256

/* What one end's callbacks saw. */
struct seen {
	int      items;
	int      kinds[MAX_SEEN];
	char     sids[MAX_SEEN][32];
	uint32_t seqs[MAX_SEEN];
	size_t   lens[MAX_SEEN];
	int      first_byte[MAX_SEEN];
	int      messages;
	int      msg_audio; /* per-call AudioFrames handed to message */
	int      drops[AHOP_DROP_PUBLISH + 1];
	int      gone;
	char     gone_url[256];
};

static void
on_item(void *arg, const Bus__BatchItem *it, const char *what)
{
	struct seen *s = arg;

	(void)what;
	if (s->items < MAX_SEEN) {
		s->kinds[s->items] = it->item_case;
		snprintf(
		    s->sids[s->items], sizeof(s->sids[0]), "%s", it->call_sid);
		s->seqs[s->items]
		    = it->item_case == BUS__BATCH_ITEM__ITEM_AUDIO
		    ? it->audio->seq
		    : 0;
		if (it->item_case == BUS__BATCH_ITEM__ITEM_AUDIO) {
			s->lens[s->items] = it->audio->payload.len;
			s->first_byte[s->items] = it->audio->payload.len > 0
			    ? it->audio->payload.data[0]
			    : -1;
		}
	}
	s->items++;
}

static void
on_message(void *arg, const char *sid, const Bus__Envelope *env)
{
	struct seen *s = arg;

	(void)sid;
	if (env->body_case == BUS__ENVELOPE__BODY_TRANSCRIPT_TURN)
		s->messages++;
	if (env->body_case == BUS__ENVELOPE__BODY_AUDIO)
		s->msg_audio++;
}

static void
on_dropped(void *arg, enum ahop_drop why, unsigned n)
{
	struct seen *s = arg;

	s->drops[why] += (int)n;
}

/* nng thread: only an int and a string, read after a wait. */
static void
on_gone(void *arg, const char *url)
{
	struct seen *s = arg;

	snprintf(s->gone_url, sizeof(s->gone_url), "%s", url);
	__atomic_add_fetch(&s->gone, 1, __ATOMIC_SEQ_CST);
}

static const struct ahop_ops ops = {
	.item = on_item,
	.message = on_message,
	.dropped = on_dropped,
	.peer_gone = on_gone,
};

struct end {
	struct ahop hop;
	struct seen seen;
	char        url[256];
};

static char dir[64];

static void
end_open(struct end *e, const char *name, int recvbuf)
{
	struct ahop_cfg c = {
		.pub_name = name,
		.pub_sendbuf = 1024,
		.sub_name = name,
		.sub_recvbuf = recvbuf,
		.sub_all = true,
		.instance = name,
		.settle_ms = 10,
		.ops = &ops,
	};

	memset(&e->seen, 0, sizeof(e->seen));
	snprintf(e->url, sizeof(e->url), "ipc://%s/%s.ipc", dir, name);
	c.pub_url = e->url;
	c.arg = &e->seen;
	assert_int_equal(ahop_open(&e->hop, &c), 0);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ahop_test.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return (0);
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return (system(cmd) == 0 ? 0 : -1);
}

/* Receive until want items were seen or 2 s passed. */
static void
recv_until(struct end *e, int want)
{
	int i;

	for (i = 0; i < 200 && e->seen.items < want; i++) {
		if (ahop_recv(&e->hop, 1024) == 0)
			nng_msleep(10);
	}
}

/* Receive whatever comes within ms. */
static void
recv_for(struct end *e, int ms)
{
	int i;

	for (i = 0; i < ms / 10; i++)
		if (ahop_recv(&e->hop, 1024) == 0)
			nng_msleep(10);
}

static void
send_audio(struct end *e, struct abatch *dest, const char *sid, uint32_t seq)
{
	Bus__BatchItem  it = BUS__BATCH_ITEM__INIT;
	Bus__AudioFrame af = BUS__AUDIO_FRAME__INIT;
	unsigned char   buf[160];

	memset(buf, (int)seq, sizeof(buf));
	af.payload.data = buf;
	af.payload.len = sizeof(buf);
	af.seq = seq;
	it.item_case = BUS__BATCH_ITEM__ITEM_AUDIO;
	it.audio = &af;
	assert_int_equal(ahop_send(&e->hop, dest, sid, &it), 0);
}

static void
pair(struct end *a, const char *an, struct end *b, const char *bn)
{
	end_open(a, an, 0);
	end_open(b, bn, 0);
	assert_int_equal(ahop_attach(&a->hop, b->url, 2000), 0);
	assert_int_equal(ahop_attach(&b->hop, a->url, 2000), 0);
}

/* Every kind in a batch, in order; the descriptor polls; audio never
 * goes per call. */
static void
test_round_trip(void **state)
{
	struct end          a, b;
	struct abatch      *dest;
	Bus__BatchItem      it = BUS__BATCH_ITEM__INIT;
	Bus__Mark           mk = BUS__MARK__INIT;
	Bus__Clear          cl = BUS__CLEAR__INIT;
	Bus__Envelope       env = BUS__ENVELOPE__INIT;
	Bus__TranscriptTurn tt = BUS__TRANSCRIPT_TURN__INIT;
	Bus__AudioFrame     af = BUS__AUDIO_FRAME__INIT;
	struct pollfd       pfd;

	(void)state;
	pair(&a, "edge", &b, "ai");
	assert_string_equal(ahop_topic(&a.hop), "@edge");
	dest = ahop_dest(&b.hop, ahop_topic(&a.hop));
	assert_non_null(dest);
	send_audio(&b, dest, "CA1", 1);
	send_audio(&b, dest, "CA2", 1);
	mk.name = "m1";
	it.item_case = BUS__BATCH_ITEM__ITEM_MARK;
	it.mark = &mk;
	assert_int_equal(ahop_send(&b.hop, dest, "CA1", &it), 0);
	it.item_case = BUS__BATCH_ITEM__ITEM_CLEAR;
	it.clear = &cl;
	assert_int_equal(ahop_send(&b.hop, dest, "CA1", &it), 0);
	send_audio(&b, dest, "CA1", 2);
	ahop_flush(&b.hop);
	assert_int_equal(b.hop.ab.batches, 1);

	pfd.fd = ahop_recv_fd(&a.hop);
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	recv_until(&a, 5);
	assert_int_equal(a.seen.items, 5);
	assert_int_equal(a.hop.batches_in, 1);
	assert_int_equal(a.seen.kinds[0], BUS__BATCH_ITEM__ITEM_AUDIO);
	assert_string_equal(a.seen.sids[1], "CA2");
	assert_int_equal(a.seen.kinds[2], BUS__BATCH_ITEM__ITEM_MARK);
	assert_int_equal(a.seen.kinds[3], BUS__BATCH_ITEM__ITEM_CLEAR);
	assert_int_equal(a.seen.seqs[4], 2);

	/* audio only in batches: no destination is refused and counted */
	it.item_case = BUS__BATCH_ITEM__ITEM_MARK;
	it.mark = &mk;
	assert_int_equal(ahop_send(&b.hop, NULL, "CA3", &it), -1);
	assert_int_equal(b.seen.drops[AHOP_DROP_UNEXPECTED], 1);
	/* low-rate messages go one by one, topic = call sid */
	tt.item_id = "i1";
	env.body_case = BUS__ENVELOPE__BODY_TRANSCRIPT_TURN;
	env.transcript_turn = &tt;
	assert_int_equal(ahop_publish(&b.hop, "CA3", &env), 0);
	/* a per-call AudioFrame (an old peer) is no item: the owner's
	 * message callback sees it and counts it as unexpected */
	bus__envelope__init(&env);
	env.body_case = BUS__ENVELOPE__BODY_AUDIO;
	env.audio = &af;
	assert_int_equal(ahop_publish(&b.hop, "CA3", &env), 0);
	recv_for(&a, 300);
	assert_int_equal(a.seen.items, 5);
	assert_int_equal(a.seen.messages, 1);
	assert_int_equal(a.seen.msg_audio, 1);
	assert_int_equal(a.hop.batches_in, 1);

	ahop_dest_release(&b.hop, dest);
	ahop_close(&a.hop);
	ahop_close(&b.hop);
}

/* A raw pub socket that a end attaches to, for hand-made messages. */
static nng_socket
raw_pub(struct end *a, const char *name)
{
	nng_socket p;
	char       url[256];

	snprintf(url, sizeof(url), "ipc://%s/%s.ipc", dir, name);
	assert_int_equal(nng_pub0_open(&p), 0);
	assert_int_equal(nng_listen(p, url, NULL, 0), 0);
	assert_int_equal(ahop_attach(&a->hop, url, 2000), 0);
	return (p);
}

static void
raw_send(nng_socket p, const void *buf, size_t len)
{
	nng_msg *m;

	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	assert_int_equal(nng_msg_append(m, buf, len), 0);
	assert_int_equal(nng_sendmsg(p, m, 0), 0);
}

/* A batch of one audio item for sid under topic, packed. */
static nng_msg *
packed_batch_n(const char *topic, const char *sid, size_t n, int fill)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT;
	Bus__AudioBatch ab = BUS__AUDIO_BATCH__INIT;
	Bus__BatchItem  it = BUS__BATCH_ITEM__INIT, *items[1];
	Bus__AudioFrame af = BUS__AUDIO_FRAME__INIT;
	unsigned char  *buf = malloc(n);
	nng_msg        *m, *out;

	assert_non_null(buf);
	memset(buf, fill, n);
	af.payload.data = buf;
	af.payload.len = n;
	it.call_sid = (char *)sid;
	it.item_case = BUS__BATCH_ITEM__ITEM_AUDIO;
	it.audio = &af;
	items[0] = &it;
	ab.n_items = 1;
	ab.items = items;
	env.body_case = BUS__ENVELOPE__BODY_AUDIO_BATCH;
	env.audio_batch = &ab;
	assert_int_equal(wire_pack(&env, &m), 0);
	free(buf);
	assert_int_equal(nng_msg_alloc(&out, 0), 0);
	assert_int_equal(nng_msg_append(out, topic, strlen(topic) + 1), 0);
	assert_int_equal(
	    nng_msg_append(out, nng_msg_body(m), nng_msg_len(m)), 0);
	nng_msg_free(m);
	return (out);
}

static nng_msg *
packed_batch(const char *topic, const char *sid)
{
	return (packed_batch_n(topic, sid, 160, 0));
}

/* Bad input on the receive side: each counted, none reaches a call, and
 * a good batch after them still does. */
static void
test_bad_input(void **state)
{
	struct end        a;
	nng_socket        p;
	nng_msg          *m;
	Bus__Envelope     env = BUS__ENVELOPE__INIT;
	Bus__Ping         ping = BUS__PING__INIT;
	static const char no_nul[] = { 'C', 'A', '1' };
	size_t            half;

	(void)state;
	end_open(&a, "edge", 0);
	p = raw_pub(&a, "raw");

	/* a batch for another instance: dropped on its topic alone */
	assert_int_equal(nng_sendmsg(p, packed_batch("@other", "CA1"), 0), 0);
	/* a truncated batch under our topic */
	m = packed_batch("@edge", "CA1");
	half = nng_msg_len(m) - 40;
	raw_send(p, nng_msg_body(m), half);
	nng_msg_free(m);
	/* bytes without a topic */
	raw_send(p, no_nul, sizeof(no_nul));
	/* something else than a batch under our topic */
	env.body_case = BUS__ENVELOPE__BODY_PING;
	env.ping = &ping;
	assert_int_equal(wire_publish(p, "@edge", &env), 0);
	/* an item without a call sid */
	assert_int_equal(nng_sendmsg(p, packed_batch("@edge", ""), 0), 0);
	/* and then a good one */
	assert_int_equal(nng_sendmsg(p, packed_batch("@edge", "CA9"), 0), 0);

	recv_until(&a, 1);
	recv_for(&a, 100);
	assert_int_equal(a.seen.items, 1);
	assert_string_equal(a.seen.sids[0], "CA9");
	assert_int_equal(a.seen.drops[AHOP_DROP_OTHER_INSTANCE], 1);
	assert_int_equal(a.seen.drops[AHOP_DROP_GARBAGE], 2);
	assert_int_equal(a.seen.drops[AHOP_DROP_UNEXPECTED], 2);
	assert_int_equal(a.hop.batches_in, 2);
	nng_close(p);
	ahop_close(&a.hop);
}

/* A batch larger than the unpack arena still arrives whole (the rest is
 * allocated for it and freed after it), and the arena serves the next. */
static void
test_bigger_than_arena(void **state)
{
	struct end a;
	nng_socket p;

	(void)state;
	end_open(&a, "edge", 0);
	p = raw_pub(&a, "raw");
	assert_int_equal(nng_sendmsg(p,
	                     packed_batch_n("@edge", "CA1",
	                         AHOP_ARENA_BYTES + 100000, 0x55),
	                     0),
	    0);
	assert_int_equal(
	    nng_sendmsg(p, packed_batch_n("@edge", "CA2", 160, 0x66), 0), 0);
	recv_until(&a, 2);
	assert_int_equal(a.seen.items, 2);
	assert_int_equal(a.seen.lens[0], AHOP_ARENA_BYTES + 100000);
	assert_int_equal(a.seen.first_byte[0], 0x55);
	assert_int_equal(a.seen.lens[1], 160);
	assert_int_equal(a.seen.first_byte[1], 0x66);
	assert_null(a.hop.arena.big); /* freed after the batch */
	nng_close(p);
	ahop_close(&a.hop);
}

/* A receiver that does not keep up: its queue is bounded (the rest is
 * dropped, not queued), ahop_recv takes at most max per call and never
 * blocks. */
static void
test_full_queue(void **state)
{
	struct end     a, b;
	struct abatch *dest;
	uint32_t       i;
	size_t         n, total = 0;

	(void)state;
	end_open(&a, "edge", 8);
	end_open(&b, "ai", 0);
	assert_int_equal(ahop_attach(&a.hop, b.url, 2000), 0);
	dest = ahop_dest(&b.hop, "@edge");
	for (i = 1; i <= 400; i++) {
		send_audio(&b, dest, "CA1", i);
		ahop_flush(&b.hop); /* one batch each */
	}
	assert_int_equal(b.hop.ab.batches, 400);
	nng_msleep(300);
	assert_int_equal(ahop_recv(&a.hop, 2), 2);
	total = 2;
	while ((n = ahop_recv(&a.hop, 1000)) > 0)
		total += n;
	assert_int_equal(ahop_recv(&a.hop, 1000), 0);
	/* nng's queues are bounded: far fewer than were sent arrive, and
	 * those that do are in order */
	assert_true(total >= 8);
	assert_true(total < 400);
	assert_int_equal((size_t)a.seen.items, total);
	for (i = 1; i < (uint32_t)a.seen.items && i < MAX_SEEN; i++)
		assert_true(a.seen.seqs[i] > a.seen.seqs[i - 1]);
	ahop_dest_release(&b.hop, dest);
	ahop_close(&a.hop);
	ahop_close(&b.hop);
}

/* The peer goes away with a batch half filled: nothing half-made
 * arrives, the loss of the pipe is reported, sending on meanwhile
 * neither blocks nor fails, and once the peer is back at the same
 * address the hop carries batches again. */
static void
test_peer_gone_mid_batch(void **state)
{
	struct end     a, b;
	struct abatch *dest, *back;
	int            i;

	(void)state;
	pair(&a, "edge", &b, "ai");
	dest = ahop_dest(&b.hop, "@edge");
	send_audio(&b, dest, "CA1", 1);
	ahop_flush(&b.hop);
	recv_until(&a, 1);
	assert_int_equal(a.seen.items, 1);

	send_audio(&b, dest, "CA1", 2); /* in b's batch, not flushed */
	ahop_dest_release(&b.hop, dest);
	ahop_close(&b.hop);
	for (i = 0;
	     i < 200 && __atomic_load_n(&a.seen.gone, __ATOMIC_SEQ_CST) == 0;
	     i++)
		nng_msleep(10);
	assert_int_equal(__atomic_load_n(&a.seen.gone, __ATOMIC_SEQ_CST), 1);
	assert_string_equal(a.seen.gone_url, b.url);
	recv_for(&a, 100);
	assert_int_equal(a.seen.items, 1);
	assert_int_equal(a.seen.drops[AHOP_DROP_GARBAGE], 0);

	/* a's own batches for the gone peer: published into no pipe */
	back = ahop_dest(&a.hop, "@ai");
	send_audio(&a, back, "CA1", 1);
	ahop_flush(&a.hop);
	assert_int_equal(a.seen.drops[AHOP_DROP_PUBLISH], 0);

	/* the peer returns at the same address: a redials on its own */
	end_open(&b, "ai", 0);
	dest = ahop_dest(&b.hop, "@edge");
	for (i = 0; i < 300 && a.seen.items < 2; i++) {
		send_audio(&b, dest, "CA1", (uint32_t)(3 + i));
		ahop_flush(&b.hop);
		recv_for(&a, 10);
	}
	assert_true(a.seen.items >= 2);
	assert_true(a.seen.seqs[1] >= 3);
	ahop_dest_release(&a.hop, back);
	ahop_dest_release(&b.hop, dest);
	ahop_close(&a.hop);
	ahop_close(&b.hop);
}

/* A peer that never comes up: the wait is bounded and fails. */
static void
test_attach_timeout(void **state)
{
	struct end a;
	char       url[256];
	int64_t    t0;

	(void)state;
	end_open(&a, "edge", 0);
	snprintf(url, sizeof(url), "ipc://%s/nobody.ipc", dir);
	t0 = wire_now_ms();
	assert_int_equal(ahop_attach(&a.hop, url, 200), -1);
	assert_true(wire_now_ms() - t0 < 2000);
	ahop_close(&a.hop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_bigger_than_arena),
		cmocka_unit_test(test_full_queue),
		cmocka_unit_test(test_peer_gone_mid_batch),
		cmocka_unit_test(test_attach_timeout),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
