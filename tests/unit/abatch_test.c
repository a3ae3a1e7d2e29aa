/*
 * abatch_test - audio-path batches over a real inproc pub/sub pair: items
 * of every kind arrive in order with their calls and bytes, once per
 * flush; a full batch goes out at once; a batch the pub socket refuses is
 * counted; a topic is filtered like any other.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/supplemental/util/platform.h>

#include "abatch.h"
#include "wire.h"

struct pair {
	nng_socket pub, sub;
};

static void
pair_open(struct pair *p, const char *url, const char *topic)
{
	assert_int_equal(nng_pub0_open(&p->pub), 0);
	assert_int_equal(nng_sub0_open(&p->sub), 0);
	assert_int_equal(nng_listen(p->pub, url, NULL, 0), 0);
	assert_int_equal(nng_dial(p->sub, url, NULL, 0), 0);
	assert_int_equal(nng_socket_set(p->sub, NNG_OPT_SUB_SUBSCRIBE, topic,
	                     strlen(topic) + 1),
	    0);
	assert_int_equal(
	    nng_socket_set_ms(p->sub, NNG_OPT_RECVTIMEO, 1000), 0);
	nng_msleep(50); /* the pipe is up before the first send */
}

static Bus__Envelope *
recv_batch(struct pair *p, const char *want_topic)
{
	Bus__Envelope *env;
	const char    *topic;
	nng_msg       *m;

	assert_int_equal(nng_recvmsg(p->sub, &m, 0), 0);
	assert_int_equal(wire_unpack_pub(m, &topic, &env), 0);
	assert_string_equal(topic, want_topic);
	nng_msg_free(m);
	assert_int_equal(env->body_case, BUS__ENVELOPE__BODY_AUDIO_BATCH);
	return (env);
}

static void
add_audio(struct abatch_set *s, struct abatch *b, const char *sid,
    uint32_t seq, unsigned char fill)
{
	Bus__BatchItem  it = BUS__BATCH_ITEM__INIT;
	Bus__AudioFrame af = BUS__AUDIO_FRAME__INIT;
	unsigned char   buf[160];

	memset(buf, fill, sizeof(buf));
	af.payload.data = buf;
	af.payload.len = sizeof(buf);
	af.seq = seq;
	af.timestamp_ms = seq * 20;
	it.call_sid = (char *)sid;
	it.item_case = BUS__BATCH_ITEM__ITEM_AUDIO;
	it.audio = &af;
	assert_int_equal(abatch_add(s, b, &it), 0);
	memset(buf, 0, sizeof(buf)); /* the batch kept its own copy */
}

static void
test_every_kind_in_order(void **state)
{
	struct pair       p;
	struct abatch_set s;
	struct abatch    *b;
	Bus__BatchItem    it = BUS__BATCH_ITEM__INIT;
	Bus__Mark         mk = BUS__MARK__INIT;
	Bus__MarkEcho     me = BUS__MARK_ECHO__INIT;
	Bus__Clear        cl = BUS__CLEAR__INIT;
	Bus__Dtmf         d = BUS__DTMF__INIT;
	Bus__SendDigits   sd = BUS__SEND_DIGITS__INIT;
	Bus__DigitsResult dr = BUS__DIGITS_RESULT__INIT;
	Bus__AudioAck     ack = BUS__AUDIO_ACK__INIT;
	Bus__Envelope    *env;
	Bus__BatchItem  **v;
	char              topic[ABATCH_TOPIC_MAX], sid[16];

	(void)state;
	assert_int_equal(abatch_topic(topic, sizeof(topic), "host:42"), 0);
	assert_string_equal(topic, "@host:42");
	assert_true(abatch_is_topic(topic));
	assert_false(abatch_is_topic("CA0123"));
	pair_open(&p, "inproc://abatch1", topic);
	abatch_set_init(&s, p.pub);
	b = abatch_ref(&s, topic);
	assert_ptr_equal(abatch_ref(&s, topic), b); /* one per topic */
	abatch_unref(&s, b);

	add_audio(&s, b, "CA1", 1, 0x11);
	snprintf(sid, sizeof(sid), "CA2");
	it.call_sid = sid;
	it.item_case = BUS__BATCH_ITEM__ITEM_MARK;
	mk.name = "g1:m1:p200:item1";
	it.mark = &mk;
	assert_int_equal(abatch_add(&s, b, &it), 0);
	sid[2] = 'X'; /* copied: changing it now changes nothing */
	it.call_sid = "CA1";
	it.item_case = BUS__BATCH_ITEM__ITEM_MARK_ECHO;
	me.name = "g1:m0:p0:item0";
	it.mark_echo = &me;
	assert_int_equal(abatch_add(&s, b, &it), 0);
	it.item_case = BUS__BATCH_ITEM__ITEM_CLEAR;
	it.clear = &cl;
	assert_int_equal(abatch_add(&s, b, &it), 0);
	it.item_case = BUS__BATCH_ITEM__ITEM_DTMF;
	d.digit = "7";
	d.duration_ms = 120;
	it.dtmf = &d;
	assert_int_equal(abatch_add(&s, b, &it), 0);
	it.item_case = BUS__BATCH_ITEM__ITEM_SEND_DIGITS;
	sd.digits = "1w23#";
	sd.seq = 3;
	it.send_digits = &sd;
	assert_int_equal(abatch_add(&s, b, &it), 0);
	it.item_case = BUS__BATCH_ITEM__ITEM_DIGITS_RESULT;
	dr.seq = 3;
	dr.error = "refused";
	it.digits_result = &dr;
	assert_int_equal(abatch_add(&s, b, &it), 0);
	it.item_case = BUS__BATCH_ITEM__ITEM_AUDIO_ACK;
	ack.seq = 4000000000u;
	ack.released = true;
	ack.holder = 3;
	it.audio_ack = &ack;
	assert_int_equal(abatch_add(&s, b, &it), 0);
	add_audio(&s, b, "CA1", 2, 0x22);
	assert_int_equal(s.batches, 0); /* nothing sent before the flush */

	assert_int_equal(abatch_flush(&s), 0);
	assert_int_equal(s.batches, 1);
	assert_int_equal(s.items, 9);
	env = recv_batch(&p, topic);
	assert_int_equal(env->audio_batch->n_items, 9);
	v = env->audio_batch->items;
	assert_string_equal(v[0]->call_sid, "CA1");
	assert_int_equal(v[0]->item_case, BUS__BATCH_ITEM__ITEM_AUDIO);
	assert_int_equal(v[0]->audio->seq, 1);
	assert_int_equal(v[0]->audio->timestamp_ms, 20);
	assert_int_equal(v[0]->audio->payload.len, 160);
	assert_int_equal(v[0]->audio->payload.data[159], 0x11);
	assert_string_equal(v[1]->call_sid, "CA2");
	assert_string_equal(v[1]->mark->name, "g1:m1:p200:item1");
	assert_string_equal(v[2]->mark_echo->name, "g1:m0:p0:item0");
	assert_int_equal(v[3]->item_case, BUS__BATCH_ITEM__ITEM_CLEAR);
	assert_string_equal(v[4]->dtmf->digit, "7");
	assert_int_equal(v[4]->dtmf->duration_ms, 120);
	assert_string_equal(v[5]->send_digits->digits, "1w23#");
	assert_int_equal(v[5]->send_digits->seq, 3);
	assert_string_equal(v[6]->digits_result->error, "refused");
	assert_int_equal(v[6]->digits_result->seq, 3);
	assert_int_equal(v[7]->item_case, BUS__BATCH_ITEM__ITEM_AUDIO_ACK);
	assert_string_equal(v[7]->call_sid, "CA1");
	assert_int_equal(v[7]->audio_ack->seq, 4000000000u);
	assert_true(v[7]->audio_ack->released);
	assert_int_equal(v[7]->audio_ack->holder, 3);
	assert_int_equal(v[8]->audio->seq, 2);
	assert_int_equal(v[8]->audio->payload.data[0], 0x22);
	wire_free(env);

	/* an empty flush sends nothing */
	assert_int_equal(abatch_flush(&s), 0);
	assert_int_equal(s.batches, 1);
	abatch_unref(&s, b);
	assert_null(s.all); /* unused and sent: freed */
	abatch_set_fini(&s);
	nng_close(p.sub);
	nng_close(p.pub);
}

/* 256 items go out at once, without waiting for the flush. */
static void
test_full_batch_goes_at_once(void **state)
{
	struct pair       p;
	struct abatch_set s;
	struct abatch    *b;
	Bus__Envelope    *env;
	uint32_t          i;

	(void)state;
	pair_open(&p, "inproc://abatch2", "@x:1");
	abatch_set_init(&s, p.pub);
	b = abatch_ref(&s, "@x:1");
	for (i = 1; i <= ABATCH_MAX_ITEMS + 3; i++)
		add_audio(&s, b, "CAfull", i, (unsigned char)i);
	assert_int_equal(s.batches, 1);
	env = recv_batch(&p, "@x:1");
	assert_int_equal(env->audio_batch->n_items, ABATCH_MAX_ITEMS);
	assert_int_equal(env->audio_batch->items[255]->audio->seq, 256);
	wire_free(env);
	assert_int_equal(abatch_flush(&s), 0);
	env = recv_batch(&p, "@x:1");
	assert_int_equal(env->audio_batch->n_items, 3);
	assert_int_equal(env->audio_batch->items[0]->audio->seq, 257);
	wire_free(env);
	/* the batch was unreferenced while items waited: freed once sent */
	abatch_unref(&s, b);
	assert_null(s.all);
	abatch_set_fini(&s);
	nng_close(p.sub);
	nng_close(p.pub);
}

/* A batch the pub socket refuses is dropped whole and counted. */
static void
test_refused_batch_counted(void **state)
{
	struct abatch_set s;
	struct abatch    *b;
	nng_socket        closed;

	(void)state;
	assert_int_equal(nng_pub0_open(&closed), 0);
	nng_close(closed);
	abatch_set_init(&s, closed);
	b = abatch_ref(&s, "@gone:1");
	add_audio(&s, b, "CA1", 1, 1);
	add_audio(&s, b, "CA2", 1, 1);
	assert_int_equal(abatch_flush(&s), 2);
	assert_int_equal(s.dropped, 2);
	assert_int_equal(s.batches, 0);
	abatch_unref(&s, b);
	abatch_set_fini(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_kind_in_order),
		cmocka_unit_test(test_full_batch_goes_at_once),
		cmocka_unit_test(test_refused_batch_counted),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
