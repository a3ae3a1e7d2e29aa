/*
 * hostile_bus_test - hostile messages on the request sockets of the five
 * real daemons (tests/integration/ops_stack.h: persister and rate-limiter
 * on a test schema, reasoner, ai-session, media-edge).
 *
 * Each daemon gets, as the bus has no authentication in front of it: a
 * call_sid, trace_id and idempotency key of 4 KB and of 64 KB, on a Ping
 * and on the request type it serves (one such request used to end any
 * daemon through the logger); random garbage; and one of its own
 * requests cut at every length.  Every one must be answered (an id over
 * its limit and bytes that are not an envelope with BAD_REQUEST), the
 * refusals logged with the field and its length but never the value and
 * counted in bus_oversized_ids_total, the daemon alive; afterwards each
 * still answers a normal request, and the stack stops with every daemon
 * exiting 0.
 *
 * On the pub/sub side the test plays media-edge for one call on the real
 * ai-session (ai_fake_edge.h): under the call's topic it publishes
 * envelopes with a 64 KB call sid and trace id and garbage; ai-session
 * must drop and count them and the call's audio keep flowing.
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

#include "ai_fake_edge.h"
#include "bus.h"
#include "harness.h"
#include "ops_stack.h"
#include "wire.h"

static struct ops_stack S;
static nng_socket       sock[OPS_N];

static int
setup(void **state)
{
	int i;

	(void)state;
	if (ops_stack_start(&S) != 0) {
		ops_stack_stop(&S);
		return (-1);
	}
	for (i = 0; i < OPS_N; i++) {
		if (bus_req_dial(&sock[i], "hostile", S.req[i]) != 0
		    || nng_socket_set_ms(sock[i], NNG_OPT_RECVTIMEO, 10000)
		        != 0)
			return (-1);
	}
	return (0);
}

static int
teardown(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < OPS_N; i++)
		nng_close(sock[i]);
	return (ops_stack_stop(&S) == 0 ? 0 : -1);
}

/* Send len raw bytes to daemon i; the unpacked reply (never NULL). */
static Bus__Envelope *
raw(int i, const void *buf, size_t len)
{
	Bus__Envelope *rep = NULL;
	nng_msg       *m;
	int            rv;

	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	assert_int_equal(nng_msg_append(m, buf, len), 0);
	assert_int_equal(nng_sendmsg(sock[i], m, 0), 0);
	if ((rv = nng_recvmsg(sock[i], &m, 0)) != 0)
		fail_msg("%s gave no answer to %zu bytes: %s", ops_daemons[i],
		    len, nng_strerror(rv));
	assert_int_equal(wire_unpack(m, &rep), 0);
	nng_msg_free(m);
	return (rep);
}

static Bus__Envelope *
send_env(int i, const Bus__Envelope *env)
{
	Bus__Envelope *rep;
	nng_msg       *m;

	assert_int_equal(wire_pack(env, &m), 0);
	rep = raw(i, nng_msg_body(m), nng_msg_len(m));
	nng_msg_free(m);
	return (rep);
}

static void
expect_error(int i, Bus__Envelope *rep, Bus__Error__Code code)
{
	if (rep->body_case != BUS__ENVELOPE__BODY_ERROR)
		fail_msg("%s: expected an Error, got %s", ops_daemons[i],
		    wire_type_name(rep->body_case));
	if (rep->error->code != code)
		fail_msg("%s: expected code %d, got %d (%s)", ops_daemons[i],
		    code, rep->error->code, rep->error->message);
	wire_free(rep);
}

/* Bodies: what each daemon serves, filled enough to be handled. */
struct bodies {
	Bus__Ping          ping;
	Bus__ReasonRequest rq;
	Bus__RateCheck     rc;
	Bus__CallEvent     ce;
	Bus__SessionEnd    se;
	Bus__HangUp        hu;
};

static void
own_request(int i, Bus__Envelope *env, struct bodies *b)
{
	switch (i) {
	case OPS_REASONER:
		b->rq.question = "Is Thursday at 10am fine?";
		b->rq.situation = "Booking a survey.";
		b->rq.deadline_ms = 5000;
		env->body_case = BUS__ENVELOPE__BODY_REASON_REQUEST;
		env->reason_request = &b->rq;
		break;
	case OPS_RL:
		b->rc.phone = "+14155550123";
		b->rc.client_ip = "127.0.0.1";
		b->rc.kind = BUS__RATE_CHECK__KIND__OUTBOUND;
		b->rc.peek = true;
		env->body_case = BUS__ENVELOPE__BODY_RATE_CHECK;
		env->rate_check = &b->rc;
		break;
	case OPS_PERSISTER:
		b->ce.kind = "status";
		b->ce.status = "ringing";
		b->ce.payload_json = "{}";
		b->ce.seq = 1;
		env->body_case = BUS__ENVELOPE__BODY_CALL_EVENT;
		env->call_event = &b->ce;
		break;
	case OPS_AI:
		b->se.reason = "stop";
		env->body_case = BUS__ENVELOPE__BODY_SESSION_END;
		env->session_end = &b->se;
		break;
	default:
		b->hu.reason = "test";
		env->body_case = BUS__ENVELOPE__BODY_HANG_UP;
		env->hang_up = &b->hu;
		break;
	}
}

static void
init_bodies(struct bodies *b)
{
	bus__ping__init(&b->ping);
	bus__reason_request__init(&b->rq);
	bus__rate_check__init(&b->rc);
	bus__call_event__init(&b->ce);
	bus__session_end__init(&b->se);
	bus__hang_up__init(&b->hu);
}

static double
metric(int i, const char *series)
{
	char   url[96], *body = NULL, *p;
	long   status = 0;
	double v = -1;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", S.http[i]);
	if (harness_http("GET", url, NULL, NULL, &status, &body) != 0
	    || status != 200)
		fail_msg("%s: GET /metrics failed", ops_daemons[i]);
	for (p = body; (p = strstr(p, series)) != NULL; p++)
		if ((p == body || p[-1] == '\n') && p[strlen(series)] == ' ') {
			v = strtod(p + strlen(series) + 1, NULL);
			break;
		}
	free(body);
	return (v);
}

/* Long ids on a Ping and on the daemon's own request: BAD_REQUEST. */
static void
test_long_ids(void **state)
{
	static const size_t sizes[] = { 4096, 65536 };
	static const char  *fields[]
	    = { "call_sid", "trace_id", "idempotency_key" };
	char  *big = malloc(65537), needle[64];
	int    i;
	size_t s, f, own;

	(void)state;
	assert_non_null(big);
	for (i = 0; i < OPS_N; i++) {
		for (s = 0; s < 2; s++) {
			memset(big, 'q', sizes[s]);
			big[sizes[s]] = '\0';
			for (f = 0; f < 3; f++) {
				for (own = 0; own < 2; own++) {
					Bus__Envelope env
					    = BUS__ENVELOPE__INIT;
					struct bodies   b;
					struct wire_ids ids;

					init_bodies(&b);
					wire_env_init(
					    &env, &ids, "CAhostile1", NULL);
					env.idempotency_key = "CAhostile1:k";
					env.body_case
					    = BUS__ENVELOPE__BODY_PING;
					env.ping = &b.ping;
					if (own)
						own_request(i, &env, &b);
					if (f == 0)
						env.call_sid = big;
					else if (f == 1)
						env.trace_id = big;
					else
						env.idempotency_key = big;
					expect_error(i, send_env(i, &env),
					    BUS__ERROR__CODE__BAD_REQUEST);
				}
			}
		}
		assert_true(harness_alive(S.proc[i]));
		for (f = 0; f < 3; f++) {
			snprintf(needle, sizeof(needle),
			    "bus_oversized_ids_total{field=\"%s\"}",
			    fields[f]);
			if (metric(i, needle) != 4)
				fail_msg("%s: %s is %g, want 4",
				    ops_daemons[i], needle, metric(i, needle));
			snprintf(needle, sizeof(needle),
			    "%s is 65536 bytes (limit", fields[f]);
			assert_true(harness_log_contains(S.proc[i], needle));
		}
		/* the length is logged, never the value */
		memset(big, 'q', 200);
		big[200] = '\0';
		assert_false(harness_log_contains(S.proc[i], big));
	}
	free(big);
}

/* Random bytes: an Error every time (BAD_REQUEST unless they happen to
 * decode as an envelope), never silence. */
static void
test_garbage(void **state)
{
	unsigned char  buf[1024];
	Bus__Envelope *rep, *local;
	unsigned       seed = 14;
	size_t         len, k;
	int            i, n;

	(void)state;
	for (i = 0; i < OPS_N; i++) {
		for (n = 0; n < 40; n++) {
			len = 1 + (size_t)rand_r(&seed) % sizeof(buf);
			for (k = 0; k < len; k++)
				buf[k] = (unsigned char)rand_r(&seed);
			rep = raw(i, buf, len);
			if (wire_unpack_buf(buf, len, &local) != 0)
				expect_error(
				    i, rep, BUS__ERROR__CODE__BAD_REQUEST);
			else {
				wire_free(local);
				assert_int_equal(
				    rep->body_case, BUS__ENVELOPE__BODY_ERROR);
				wire_free(rep);
			}
		}
		assert_true(harness_alive(S.proc[i]));
	}
}

/* The daemon's own request cut at every length. */
static void
test_truncated(void **state)
{
	Bus__Envelope *rep, *local;
	nng_msg       *m;
	const uint8_t *p;
	size_t         len, cut;
	int            i, refused;

	(void)state;
	for (i = 0; i < OPS_N; i++) {
		Bus__Envelope   env = BUS__ENVELOPE__INIT;
		struct bodies   b;
		struct wire_ids ids;

		init_bodies(&b);
		wire_env_init(&env, &ids, "CAhostile2", NULL);
		env.idempotency_key = "CAhostile2:trunc";
		own_request(i, &env, &b);
		assert_int_equal(wire_pack(&env, &m), 0);
		p = nng_msg_body(m);
		len = nng_msg_len(m);
		refused = 0;
		for (cut = 1; cut < len; cut++) {
			rep = raw(i, p, cut);
			if (wire_unpack_buf(p, cut, &local) != 0) {
				expect_error(
				    i, rep, BUS__ERROR__CODE__BAD_REQUEST);
				refused++;
				continue;
			}
			/* cut between fields: a shorter, valid envelope,
			 * answered as what it is */
			wire_free(local);
			wire_free(rep);
		}
		assert_true(refused > 0);
		nng_msg_free(m);
		assert_true(harness_alive(S.proc[i]));
	}
}

static void
publish_raw(struct fedge *fe, const char *topic, const void *buf, size_t n)
{
	nng_msg *m;

	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	assert_int_equal(nng_msg_append(m, topic, strlen(topic) + 1), 0);
	assert_int_equal(nng_msg_append(m, buf, n), 0);
	if (nng_sendmsg(fe->pub, m, 0) != 0)
		nng_msg_free(m);
}

/* Frames until `want` more model frames came back; 0 or -1. */
static int
audio_flows(struct fedge *fe, const char *sid, long want)
{
	long      base = fe_get(fe, &fe->audio_frames);
	long long end = harness_now_ms() + 10000;

	while (harness_now_ms() < end) {
		fe_frame(fe, sid, 0, true, 160);
		nng_msleep(20);
		if (fe_get(fe, &fe->audio_frames) >= base + want)
			return (0);
	}
	return (-1);
}

static void
test_pubsub_to_ai_session(void **state)
{
	static const char          sid[] = "CAhostilepub1";
	static const unsigned char garbage[]
	    = { 0xff, 0xff, 0xff, 0x0f, 0x99 };
	struct fedge    fe;
	Bus__Envelope   env = BUS__ENVELOPE__INIT;
	Bus__AudioFrame af = BUS__AUDIO_FRAME__INIT;
	struct wire_ids ids;
	uint8_t         payload[160];
	char           *big = malloc(65537);
	nng_msg        *m;
	double          bad0, sid0, trace0;
	int             port = S.http[OPS_AI], k;

	(void)state;
	assert_non_null(big);
	memset(big, 'z', 65536);
	big[65536] = '\0';
	assert_int_equal(fe_open(&fe, S.req[OPS_AI], S.ai_pub), 0);
	assert_int_equal(fe_start(&fe, sid, NULL, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	assert_int_equal(audio_flows(&fe, sid, 5), 0);

	bad0 = fe_metric(port, "ai_bad_input_total{source=\"bus\"}");
	sid0 = fe_metric(port, "bus_oversized_ids_total{field=\"call_sid\"}");
	trace0
	    = fe_metric(port, "bus_oversized_ids_total{field=\"trace_id\"}");
	memset(payload, 0xff, sizeof(payload));
	af.payload.data = payload;
	af.payload.len = sizeof(payload);
	env.body_case = BUS__ENVELOPE__BODY_AUDIO;
	env.audio = &af;
	for (k = 0; k < 2; k++) {
		wire_env_init(&env, &ids, sid, NULL);
		if (k == 0)
			env.call_sid = big;
		else
			env.trace_id = big;
		assert_int_equal(wire_pack(&env, &m), 0);
		publish_raw(&fe, sid, nng_msg_body(m), nng_msg_len(m));
		nng_msg_free(m);
	}
	publish_raw(&fe, sid, garbage, sizeof(garbage));

	for (k = 0; k < 500; k++) {
		if (fe_metric(port, "ai_bad_input_total{source=\"bus\"}")
		    >= bad0 + 3)
			break;
		nng_msleep(10);
	}
	assert_true(
	    fe_metric(port, "ai_bad_input_total{source=\"bus\"}") == bad0 + 3);
	assert_true(
	    fe_metric(port, "bus_oversized_ids_total{field=\"call_sid\"}")
	    == sid0 + 1);
	assert_true(
	    fe_metric(port, "bus_oversized_ids_total{field=\"trace_id\"}")
	    == trace0 + 1);
	assert_true(harness_log_contains(
	    S.proc[OPS_AI], "call_sid is 65536 bytes (limit 63)"));
	/* the call did not notice */
	assert_true(harness_alive(S.proc[OPS_AI]));
	assert_int_equal(audio_flows(&fe, sid, 5), 0);
	assert_int_equal(fe_end(&fe, sid), BUS__ENVELOPE__BODY_ACK);
	fe_close(&fe);
	free(big);
}

/* After all that, every daemon answers as usual. */
static void
test_still_serving(void **state)
{
	Bus__Envelope *rep;
	int            i;

	(void)state;
	for (i = 0; i < OPS_N; i++) {
		Bus__Envelope   env = BUS__ENVELOPE__INIT;
		struct bodies   b;
		struct wire_ids ids;

		init_bodies(&b);
		wire_env_init(&env, &ids, "CAhostile3", NULL);
		env.body_case = BUS__ENVELOPE__BODY_PING;
		env.ping = &b.ping;
		rep = send_env(i, &env);
		assert_int_equal(rep->body_case, BUS__ENVELOPE__BODY_PONG);
		assert_string_equal(rep->pong->service, ops_daemons[i]);
		assert_string_equal(rep->call_sid, "CAhostile3");
		wire_free(rep);
	}
	{
		Bus__Envelope   env = BUS__ENVELOPE__INIT;
		struct bodies   b;
		struct wire_ids ids;

		init_bodies(&b);
		wire_env_init(&env, &ids, "CAhostile3", NULL);
		own_request(OPS_RL, &env, &b);
		rep = send_env(OPS_RL, &env);
		assert_int_equal(
		    rep->body_case, BUS__ENVELOPE__BODY_RATE_DECISION);
		assert_true(rep->rate_decision->allowed);
		wire_free(rep);
		own_request(OPS_REASONER, &env, &b);
		rep = send_env(OPS_REASONER, &env);
		assert_int_equal(
		    rep->body_case, BUS__ENVELOPE__BODY_REASON_DECISION);
		assert_true(strlen(rep->reason_decision->answer) > 0);
		wire_free(rep);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_ids),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_pubsub_to_ai_session),
		cmocka_unit_test(test_still_serving),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
