/*
 * wire_test - envelope round trips for every message type, topic framing
 * over a real inproc pub/sub pair, and rejection of garbage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/supplemental/util/platform.h>

#include "bus.h"
#include "pbjson.h"
#include "wire.h"

/* Every body type survives pack + unpack with its case and ids intact. */
static void
test_every_type_round_trips(void **state)
{
	const ProtobufCMessageDescriptor *d = &bus__envelope__descriptor;
	unsigned                          i, n = 0;

	(void)state;
	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor   *f = &d->fields[i];
		const ProtobufCMessageDescriptor *bd;
		Bus__Envelope                     env = BUS__ENVELOPE__INIT;
		Bus__Envelope                    *out;
		struct wire_ids                   ids;
		ProtobufCMessage                 *body;
		nng_msg                          *msg;

		if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		bd = f->descriptor;
		body = calloc(1, bd->sizeof_message);
		bd->message_init(body);
		wire_env_init(&env, &ids, "CA0123456789abcdef", NULL);
		env.body_case = f->id;
		env.ping = (Bus__Ping *)body;
		assert_int_equal(wire_pack(&env, &msg), 0);
		assert_int_equal(wire_unpack(msg, &out), 0);
		assert_int_equal(out->body_case, f->id);
		assert_string_equal(out->msg_id, ids.msg_id);
		assert_string_equal(out->trace_id, ids.trace_id);
		assert_string_equal(out->call_sid, "CA0123456789abcdef");
		assert_string_equal(wire_type_name(out->body_case), f->name);
		assert_int_equal(wire_type_from_name(f->name), (int)f->id);
		wire_free(out);
		nng_msg_free(msg);
		free(body);
		n++;
	}
	assert_true(n >= 25);
}

static void
test_fields_survive(void **state)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT, *out;
	Bus__CallRecord rec = BUS__CALL_RECORD__INIT;
	Bus__Summary    sum = BUS__SUMMARY__INIT;
	struct wire_ids ids;
	nng_msg        *msg;

	(void)state;
	rec.direction = BUS__DIRECTION__OUTBOUND;
	rec.duration_s = 93;
	rec.transcript = "AI: Hello\nUser: Hi";
	sum.outcome = "goal_achieved";
	rec.summary = &sum;
	wire_env_init(&env, &ids, "CA1", "0af7651916cd43dd8448eb211c80319c");
	env.idempotency_key = "CA1/record/1";
	env.body_case = BUS__ENVELOPE__BODY_CALL_RECORD;
	env.call_record = &rec;
	assert_int_equal(wire_pack(&env, &msg), 0);
	assert_int_equal(wire_unpack(msg, &out), 0);
	assert_string_equal(out->trace_id, "0af7651916cd43dd8448eb211c80319c");
	assert_string_equal(out->idempotency_key, "CA1/record/1");
	assert_int_equal(
	    out->call_record->direction, BUS__DIRECTION__OUTBOUND);
	assert_int_equal(out->call_record->duration_s, 93);
	assert_string_equal(
	    out->call_record->transcript, "AI: Hello\nUser: Hi");
	assert_string_equal(
	    out->call_record->summary->outcome, "goal_achieved");
	assert_true(out->sent_at_ms > 1700000000000LL);
	wire_free(out);
	nng_msg_free(msg);
}

static void
test_garbage_rejected(void **state)
{
	Bus__Envelope *out = NULL;
	const char     junk[] = "\xff\xff\xff\xff\x0f garbage";
	nng_msg       *msg;

	(void)state;
	assert_int_not_equal(wire_unpack_buf(junk, sizeof(junk), &out), 0);
	assert_null(out);
	assert_int_equal(nng_msg_alloc(&msg, 0), 0);
	assert_int_equal(nng_msg_append(msg, "no-nul-here", 11), 0);
	assert_int_equal(
	    wire_unpack_pub(msg, (const char **)&out, (Bus__Envelope **)&out),
	    NNG_EINVAL);
	nng_msg_free(msg);
}

static void
publish_audio(nng_socket pub, const char *topic, uint32_t seq)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT;
	Bus__AudioFrame af = BUS__AUDIO_FRAME__INIT;
	struct wire_ids ids;
	uint8_t         pcm[160];

	memset(pcm, 0xff, sizeof(pcm));
	af.payload.data = pcm;
	af.payload.len = sizeof(pcm);
	af.seq = seq;
	wire_env_init(&env, &ids, topic, NULL);
	env.body_case = BUS__ENVELOPE__BODY_AUDIO;
	env.audio = &af;
	assert_int_equal(wire_publish(pub, topic, &env), 0);
}

/* "CA1" must not receive "CA12"'s frames: the NUL ends every topic. */
static void
test_topic_framing(void **state)
{
	nng_socket     pub, sub;
	nng_msg       *msg;
	Bus__Envelope *env;
	const char    *topic;

	(void)state;
	assert_int_equal(bus_pub_listen(&pub, "pub", "inproc://wire-test"), 0);
	assert_int_equal(bus_sub_open(&sub, "sub"), 0);
	assert_int_equal(nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 1000), 0);
	assert_int_equal(bus_dial(sub, "inproc://wire-test", NULL), 0);
	assert_int_equal(bus_subscribe(sub, "CA1"), 0);
	nng_msleep(50);
	publish_audio(pub, "CA12", 1);
	publish_audio(pub, "CA1", 2);
	assert_int_equal(nng_recvmsg(sub, &msg, 0), 0);
	assert_int_equal(wire_unpack_pub(msg, &topic, &env), 0);
	assert_string_equal(topic, "CA1");
	assert_int_equal(env->body_case, BUS__ENVELOPE__BODY_AUDIO);
	assert_int_equal(env->audio->seq, 2);
	assert_int_equal(env->audio->payload.len, 160);
	wire_free(env);
	nng_msg_free(msg);
	assert_int_equal(bus_unsubscribe(sub, "CA1"), 0);
	publish_audio(pub, "CA1", 3);
	assert_int_equal(nng_recvmsg(sub, &msg, 0), NNG_ETIMEDOUT);
	nng_close(sub);
	nng_close(pub);
}

/* callctl's decode path: envelope -> JSON -> envelope. */
static void
test_json_round_trip(void **state)
{
	Bus__Envelope                  env = BUS__ENVELOPE__INIT, *back;
	Bus__SessionStart              ss = BUS__SESSION_START__INIT;
	Bus__SessionStart__ParamsEntry e
	    = BUS__SESSION_START__PARAMS_ENTRY__INIT;
	Bus__SessionStart__ParamsEntry *ep = &e;
	struct wire_ids                 ids;
	json_t                         *j;
	char                            err[128], *s;

	(void)state;
	ss.stream_sid = "MZ1";
	ss.provider = BUS__PROVIDER__SIGNALWIRE;
	e.key = "direction";
	e.value = "outbound";
	ss.n_params = 1;
	ss.params = &ep;
	wire_env_init(&env, &ids, "CA9", NULL);
	env.body_case = BUS__ENVELOPE__BODY_SESSION_START;
	env.session_start = &ss;
	j = pbjson_from_pb(&env.base);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(strstr(s, "\"provider\":\"SIGNALWIRE\""));
	assert_non_null(strstr(s, "\"params\":{\"direction\":\"outbound\"}"));
	assert_int_equal(pbjson_to_pb(&bus__envelope__descriptor, j,
	                     (ProtobufCMessage **)&back, err, sizeof(err)),
	    0);
	assert_int_equal(back->body_case, BUS__ENVELOPE__BODY_SESSION_START);
	assert_string_equal(back->session_start->stream_sid, "MZ1");
	assert_int_equal(back->session_start->n_params, 1);
	assert_string_equal(back->session_start->params[0]->value, "outbound");
	protobuf_c_message_free_unpacked(&back->base, NULL);
	json_object_set_new(j, "no_such_field", json_true());
	assert_int_equal(pbjson_to_pb(&bus__envelope__descriptor, j,
	                     (ProtobufCMessage **)&back, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "no_such_field"));
	free(s);
	json_decref(j);
}

/* An enum value without a name (proto3 enums are open) is printed as its
 * number and must read back (found by tests/fuzz/wire_fuzz); a number
 * past int32 is still refused. */
static void
test_unknown_enum_round_trips(void **state)
{
	Bus__Envelope     env = BUS__ENVELOPE__INIT, *back;
	Bus__SessionStart ss = BUS__SESSION_START__INIT;
	struct wire_ids   ids;
	json_t           *j;
	char              err[128];

	(void)state;
	ss.provider = (Bus__Provider)7;
	wire_env_init(&env, &ids, "CA9", NULL);
	env.body_case = BUS__ENVELOPE__BODY_SESSION_START;
	env.session_start = &ss;
	j = pbjson_from_pb(&env.base);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(j, "session_start"), "provider")),
	    7);
	assert_int_equal(pbjson_to_pb(&bus__envelope__descriptor, j,
	                     (ProtobufCMessage **)&back, err, sizeof(err)),
	    0);
	assert_int_equal(back->session_start->provider, 7);
	protobuf_c_message_free_unpacked(&back->base, NULL);
	json_object_set_new(json_object_get(j, "session_start"), "provider",
	    json_integer(1LL << 40));
	assert_int_equal(pbjson_to_pb(&bus__envelope__descriptor, j,
	                     (ProtobufCMessage **)&back, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "provider"));
	json_decref(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type_round_trips),
		cmocka_unit_test(test_fields_survive),
		cmocka_unit_test(test_garbage_rejected),
		cmocka_unit_test(test_topic_framing),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_unknown_enum_round_trips),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
