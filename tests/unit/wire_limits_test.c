/*
 * wire_limits_test - the id length limits every unpack enforces: each
 * field at its limit passes, one byte more (and 4 KB, 64 KB) is refused
 * with NNG_EMSGSIZE, named with its length in wire_refusal() and counted
 * per field; nested ids (SessionStart, AudioBatch items) and pub topics
 * too.  Then through svc: a request socket answers an oversized request
 * and garbage with BAD_REQUEST, never calls the handler for them, and
 * still answers a normal request afterwards.
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

#include "bus.h"
#include "metrics.h"
#include "svc.h"
#include "wire.h"

static char *
filled(size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, 'x', n);
	s[n] = '\0';
	return (s);
}

static double
refused(const char *field)
{
	return (metric_value(metric_get(
	    metrics_counter("bus_oversized_ids_total",
	        "Bus messages refused for an id field over its limit",
	        "field"),
	    field)));
}

/* Pack env, unpack it again; returns the unpack result. */
static int
round_trip(const Bus__Envelope *env)
{
	Bus__Envelope *out = NULL;
	nng_msg       *msg;
	int            rv;

	assert_int_equal(wire_pack(env, &msg), 0);
	rv = wire_unpack(msg, &out);
	assert_true(rv != 0 || out != NULL);
	wire_free(out);
	nng_msg_free(msg);
	return (rv);
}

/* Sets one header field of env to v. */
static void
set_header(Bus__Envelope *env, int which, char *v)
{
	switch (which) {
	case 0:
		env->msg_id = v;
		break;
	case 1:
		env->call_sid = v;
		break;
	case 2:
		env->trace_id = v;
		break;
	case 3:
		env->idempotency_key = v;
		break;
	default:
		env->sender = v;
		break;
	}
}

static void
test_header_limits(void **state)
{
	static const struct {
		const char *field;
		size_t      max;
	} h[] = {
		{ "msg_id", WIRE_HEXID_MAX },
		{ "call_sid", WIRE_SID_MAX },
		{ "trace_id", WIRE_HEXID_MAX },
		{ "idempotency_key", WIRE_KEY_MAX },
		{ "sender", WIRE_NAME_MAX },
	};
	static const size_t huge[] = { 4096, 65536 };
	Bus__Ping           ping = BUS__PING__INIT;
	size_t              i, k;
	char                want[96];

	(void)state;
	for (i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
		Bus__Envelope env = BUS__ENVELOPE__INIT;
		char  *at = filled(h[i].max), *over = filled(h[i].max + 1);
		double before = refused(h[i].field);

		env.body_case = BUS__ENVELOPE__BODY_PING;
		env.ping = &ping;
		set_header(&env, (int)i, at);
		assert_int_equal(round_trip(&env), 0);
		set_header(&env, (int)i, over);
		assert_int_equal(round_trip(&env), NNG_EMSGSIZE);
		snprintf(want, sizeof(want), "%s is %zu bytes (limit %zu)",
		    h[i].field, h[i].max + 1, h[i].max);
		assert_string_equal(wire_refusal(), want);
		for (k = 0; k < 2; k++) {
			char *big = filled(huge[k]);

			set_header(&env, (int)i, big);
			assert_int_equal(round_trip(&env), NNG_EMSGSIZE);
			free(big);
		}
		assert_true(refused(h[i].field) == before + 3);
		free(at);
		free(over);
	}
}

static void
test_nested_limits(void **state)
{
	Bus__Envelope       env = BUS__ENVELOPE__INIT;
	Bus__SessionStart   ss = BUS__SESSION_START__INIT;
	Bus__SessionStarted sd = BUS__SESSION_STARTED__INIT;
	Bus__AudioBatch     ab = BUS__AUDIO_BATCH__INIT;
	Bus__BatchItem      it[2]
	    = { BUS__BATCH_ITEM__INIT, BUS__BATCH_ITEM__INIT };
	Bus__BatchItem *items[2] = { &it[0], &it[1] };
	Bus__Mark       mk = BUS__MARK__INIT;
	char           *sid = filled(WIRE_SID_MAX + 1);
	char           *url = filled(WIRE_URL_MAX + 1);
	struct wire_bad bad;

	(void)state;
	env.body_case = BUS__ENVELOPE__BODY_SESSION_START;
	env.session_start = &ss;
	ss.stream_sid = "MZ0123";
	ss.edge_pub_url = url;
	assert_int_equal(round_trip(&env), NNG_EMSGSIZE);
	assert_int_equal(wire_check(&env, &bad), -1);
	assert_string_equal(bad.field, "session_start.edge_pub_url");
	assert_int_equal(bad.len, WIRE_URL_MAX + 1);
	assert_int_equal(bad.max, WIRE_URL_MAX);
	url[WIRE_URL_MAX] = '\0';
	assert_int_equal(round_trip(&env), 0);
	ss.stream_sid = sid;
	assert_int_equal(round_trip(&env), NNG_EMSGSIZE);
	assert_string_equal(
	    wire_refusal(), "session_start.stream_sid is 64 bytes (limit 63)");

	env.body_case = BUS__ENVELOPE__BODY_SESSION_STARTED;
	env.session_started = &sd;
	sd.instance = filled(WIRE_NAME_MAX + 1);
	assert_int_equal(round_trip(&env), NNG_EMSGSIZE);
	free(sd.instance);
	sd.instance = "ai-1";
	assert_int_equal(round_trip(&env), 0);

	/* the second item of a batch names a call with a huge sid */
	env.body_case = BUS__ENVELOPE__BODY_AUDIO_BATCH;
	env.audio_batch = &ab;
	ab.n_items = 2;
	ab.items = items;
	it[0].call_sid = "CA1";
	it[0].item_case = BUS__BATCH_ITEM__ITEM_MARK;
	it[0].mark = &mk;
	mk.name = "m1";
	it[1].call_sid = sid;
	assert_int_equal(round_trip(&env), NNG_EMSGSIZE);
	assert_string_equal(
	    wire_refusal(), "audio_batch.call_sid is 64 bytes (limit 63)");
	sid[WIRE_SID_MAX] = '\0';
	assert_int_equal(round_trip(&env), 0);
	mk.name = url; /* 512 > WIRE_NAME_MAX */
	assert_int_equal(round_trip(&env), NNG_EMSGSIZE);
	free(sid);
	free(url);
}

static void
test_topic_limit(void **state)
{
	Bus__Envelope env = BUS__ENVELOPE__INIT, *out = NULL;
	Bus__Ping     ping = BUS__PING__INIT;
	nng_msg      *msg;
	const char   *topic;
	size_t        tl;
	double        before = refused("topic");

	(void)state;
	env.body_case = BUS__ENVELOPE__BODY_PING;
	env.ping = &ping;
	for (tl = WIRE_NAME_MAX; tl <= WIRE_NAME_MAX + 1; tl++) {
		char *t = filled(tl);

		assert_int_equal(wire_pack(&env, &msg), 0);
		assert_int_equal(nng_msg_insert(msg, t, tl + 1), 0);
		assert_int_equal(wire_unpack_pub(msg, &topic, &out),
		    tl > WIRE_NAME_MAX ? NNG_EMSGSIZE : 0);
		wire_free(out);
		out = NULL;
		nng_msg_free(msg);
		free(t);
	}
	assert_true(refused("topic") == before + 1);
}

/* ---- through the request socket ---- */

static int handled;

static int
handle(struct svc *s, const Bus__Envelope *in, struct reply *r, void *w)
{
	(void)s;
	(void)in;
	(void)w;
	handled++;
	reply_ack(r, false, false);
	return (0);
}

static Bus__Error__Code
ask(nng_socket req, nng_msg *msg, Bus__Envelope__BodyCase *casep)
{
	Bus__Envelope   *rep;
	nng_msg         *in;
	Bus__Error__Code code = BUS__ERROR__CODE__UNKNOWN;

	assert_int_equal(nng_sendmsg(req, msg, 0), 0);
	assert_int_equal(nng_recvmsg(req, &in, 0), 0);
	assert_int_equal(wire_unpack(in, &rep), 0);
	*casep = rep->body_case;
	if (rep->body_case == BUS__ENVELOPE__BODY_ERROR)
		code = rep->error->code;
	assert_true(strlen(rep->call_sid) <= WIRE_SID_MAX);
	wire_free(rep);
	nng_msg_free(in);
	return (code);
}

static void
test_svc_answers_bad_request(void **state)
{
	struct svc_conf         conf = { 0 };
	struct svc             *s;
	nng_socket              req;
	Bus__Envelope           env = BUS__ENVELOPE__INIT;
	Bus__Ack                ack = BUS__ACK__INIT;
	Bus__Envelope__BodyCase bc;
	struct wire_ids         ids;
	nng_msg                *msg;
	char                   *big = filled(65536);
	static const char       garbage[] = "\xff\xff\xff\xff\x0f garbage";

	(void)state;
	conf.name = "limits-test";
	conf.rep_url = "inproc://wire-limits";
	conf.workers = 2;
	conf.handle = handle;
	assert_int_equal(svc_start(&s, &conf), 0);
	assert_int_equal(bus_req_dial(&req, "req", conf.rep_url), 0);
	assert_int_equal(nng_socket_set_ms(req, NNG_OPT_RECVTIMEO, 5000), 0);

	wire_env_init(&env, &ids, big, NULL);
	env.body_case = BUS__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	assert_int_equal(wire_pack(&env, &msg), 0);
	assert_int_equal(ask(req, msg, &bc), BUS__ERROR__CODE__BAD_REQUEST);
	assert_int_equal(bc, BUS__ENVELOPE__BODY_ERROR);

	env.call_sid = "CA1";
	env.idempotency_key = big;
	assert_int_equal(wire_pack(&env, &msg), 0);
	assert_int_equal(ask(req, msg, &bc), BUS__ERROR__CODE__BAD_REQUEST);

	assert_int_equal(nng_msg_alloc(&msg, 0), 0);
	assert_int_equal(nng_msg_append(msg, garbage, sizeof(garbage)), 0);
	assert_int_equal(ask(req, msg, &bc), BUS__ERROR__CODE__BAD_REQUEST);
	assert_int_equal(handled, 0);

	env.idempotency_key = "CA1:k:1";
	assert_int_equal(wire_pack(&env, &msg), 0);
	(void)ask(req, msg, &bc);
	assert_int_equal(bc, BUS__ENVELOPE__BODY_ACK);
	assert_int_equal(handled, 1);

	nng_close(req);
	svc_stop(s);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_limits),
		cmocka_unit_test(test_nested_limits),
		cmocka_unit_test(test_topic_limit),
		cmocka_unit_test(test_svc_answers_bad_request),
	};

	metrics_init("wire-limits-test", "0");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
