/*
 * reasoner_roundtrip_test - the real reasoner against sim-anthropic:
 * Ping; a decision round trip (short spoken answer, model named); a
 * summary round trip with a valid structured result; bad input on the
 * socket (garbage bytes, empty question, a bad role, invalid UTF-8, a
 * message type that is not ours) answered with a clear Error while the
 * daemon stays up; the API key and the prompt text never in the log;
 * the key read from ANTHROPIC_API_KEY_FILE; configuration errors refused
 * at start; a retired ANTHROPIC_MODEL or a refused
 * REASONER_DECISION_EFFORT named in one log line and counted in
 * reasoner_config_errors_total; clean exit 0 on SIGTERM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "reasoner_fixture.h"

static void
test_ping(void **state)
{
	struct fx     f;
	Bus__Envelope env = BUS__ENVELOPE__INIT, *rep;
	Bus__Ping     ping = BUS__PING__INIT;

	(void)state;
	assert_int_equal(fx_start(&f, NULL, NULL), 0);
	env.body_case = BUS__ENVELOPE__BODY_PING;
	env.ping = &ping;
	rep = fx_request(&f, &env, 2000);
	assert_non_null(rep);
	assert_int_equal(rep->body_case, BUS__ENVELOPE__BODY_PONG);
	assert_string_equal(rep->pong->service, "reasoner");
	wire_free(rep);
	fx_stop(&f);
}

static void
test_decision(void **state)
{
	struct fx      f;
	Bus__Envelope *rep;
	json_t        *st;

	(void)state;
	assert_int_equal(fx_start(&f, NULL, NULL), 0);
	rep = fx_decision(&f,
	    "The caller proposes Thursday at 10am. What "
	    "do I say?",
	    5000, 10000);
	assert_non_null(rep);
	if (rep->body_case != BUS__ENVELOPE__BODY_REASON_DECISION)
		fail_msg("got %s: %s", wire_type_name(rep->body_case),
		    rep->body_case == BUS__ENVELOPE__BODY_ERROR
		        ? rep->error->message
		        : "");
	/* the sim answers "Yes, <day> at <time> works." from the prompt */
	assert_string_equal(
	    rep->reason_decision->answer, "Yes, Thursday at 10am works.");
	assert_string_equal(rep->reason_decision->model, "claude-sonnet-5-5");
	assert_string_equal(rep->call_sid, "CAtest0001");
	wire_free(rep);
	/* one text request, accepted with our key and version */
	st = fx_sim_stats(&f);
	assert_int_equal(
	    json_integer_value(json_object_get(st, "requests")), 1);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(st, "by_kind"), "text")),
	    1);
	json_decref(st);
	assert_true(fx_metric(&f,
	                "reasoner_requests_total{kind=\"decision\","
	                "result=\"ok\"}")
	    == 1);
	assert_true(fx_metric(&f,
	                "reasoner_upstream_requests_total{kind="
	                "\"decision\",status=\"200\"}")
	    == 1);
	fx_stop(&f);
	assert_true(harness_log_contains(f.rsn, "request_id=req_sim"));
	assert_false(harness_log_contains(f.rsn, FX_KEY));
	assert_false(harness_log_contains(f.rsn, "Thursday at 10am"));
}

static void
test_summary(void **state)
{
	struct fx      f;
	Bus__Envelope *rep;
	Bus__Summary  *s;
	json_error_t   err;
	json_t        *j;

	(void)state;
	assert_int_equal(fx_start(&f, NULL, NULL), 0);
	rep = fx_summary(
	    &f, "Yes please, book me for Thursday at 3pm.", 10000);
	assert_non_null(rep);
	if (rep->body_case != BUS__ENVELOPE__BODY_SUMMARY)
		fail_msg("got %s", wire_type_name(rep->body_case));
	s = rep->summary;
	assert_string_equal(s->outcome, "goal_achieved");
	assert_string_equal(s->interest_level, "high");
	assert_true(strlen(s->next_action) > 0);
	assert_true(strlen(s->summary) > 0);
	assert_string_equal(s->model, "claude-sonnet-5-5");
	/* the appointment the caller agreed to, as a JSON object */
	j = json_loads(s->appointment, 0, &err);
	assert_non_null(j);
	assert_string_equal(
	    json_string_value(json_object_get(j, "date")), "Thursday");
	assert_string_equal(
	    json_string_value(json_object_get(j, "time")), "3pm");
	json_decref(j);
	assert_string_equal(s->quote, "");
	/* json: the whole validated object */
	j = json_loads(s->json, 0, &err);
	assert_non_null(j);
	assert_string_equal(
	    json_string_value(json_object_get(j, "outcome")), "goal_achieved");
	assert_true(json_is_null(json_object_get(j, "quote")));
	assert_true(json_is_object(json_object_get(j, "appointment")));
	assert_int_equal(json_object_size(j), 6);
	json_decref(j);
	wire_free(rep);

	rep = fx_summary(&f, "Sorry, I'm not interested.", 10000);
	assert_non_null(rep);
	assert_int_equal(rep->body_case, BUS__ENVELOPE__BODY_SUMMARY);
	assert_string_equal(rep->summary->outcome, "not_interested");
	assert_string_equal(rep->summary->interest_level, "low");
	assert_string_equal(rep->summary->appointment, "");
	wire_free(rep);
	assert_int_equal(fx_sim_requests(&f), 2);
	fx_stop(&f);
}

/* Raw bytes on the request socket; returns the unpacked reply. */
static Bus__Envelope *
raw_request(struct fx *f, const void *buf, size_t len)
{
	nng_socket     s;
	nng_msg       *m;
	Bus__Envelope *rep = NULL;

	assert_int_equal(bus_req_dial(&s, "raw", f->url), 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000), 0);
	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	assert_int_equal(nng_msg_append(m, buf, len), 0);
	assert_int_equal(nng_sendmsg(s, m, 0), 0);
	assert_int_equal(nng_recvmsg(s, &m, 0), 0);
	assert_int_equal(wire_unpack(m, &rep), 0);
	nng_msg_free(m);
	nng_close(s);
	return (rep);
}

static void
test_bad_input(void **state)
{
	static const unsigned char garbage[]
	    = { 0xff, 0xfe, 0x00, 0x13, 0x37, 0x80, 0x80, 0x80, 0x01, 0x42 };
	struct fx          f;
	Bus__Envelope      env = BUS__ENVELOPE__INIT, *rep;
	Bus__ReasonRequest q = BUS__REASON_REQUEST__INIT;
	Bus__Turn          t = BUS__TURN__INIT, *turns[] = { &t };
	Bus__Ack           ack = BUS__ACK__INIT;

	(void)state;
	assert_int_equal(fx_start(&f, NULL, NULL), 0);
	rep = raw_request(&f, garbage, sizeof(garbage));
	fx_expect_error(rep, BUS__ERROR__CODE__BAD_REQUEST);
	wire_free(rep);

	rep = fx_decision(&f, "", 2000, 5000);
	fx_expect_error(rep, BUS__ERROR__CODE__BAD_REQUEST);
	assert_string_equal(rep->error->message, "question is empty");
	wire_free(rep);

	t.role = "robot";
	t.text = "beep";
	q.question = "What now?";
	q.recent_turns = turns;
	q.n_recent_turns = 1;
	env.body_case = BUS__ENVELOPE__BODY_REASON_REQUEST;
	env.reason_request = &q;
	rep = fx_request(&f, &env, 5000);
	fx_expect_error(rep, BUS__ERROR__CODE__BAD_REQUEST);
	assert_non_null(strstr(rep->error->message, "role"));
	wire_free(rep);

	t.role = "user";
	t.text = "caf\xc3";
	rep = fx_request(&f, &env, 5000);
	fx_expect_error(rep, BUS__ERROR__CODE__BAD_REQUEST);
	assert_non_null(strstr(rep->error->message, "UTF-8"));
	wire_free(rep);

	env = (Bus__Envelope)BUS__ENVELOPE__INIT;
	env.body_case = BUS__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	rep = fx_request(&f, &env, 5000);
	fx_expect_error(rep, BUS__ERROR__CODE__UNSUPPORTED);
	wire_free(rep);

	/* nothing went upstream, and the daemon still answers */
	assert_int_equal(fx_sim_requests(&f), 0);
	assert_true(harness_alive(f.rsn));
	rep = fx_decision(&f, "Still there?", 5000, 10000);
	assert_non_null(rep);
	assert_int_equal(rep->body_case, BUS__ENVELOPE__BODY_REASON_DECISION);
	wire_free(rep);
	assert_true(fx_metric(&f,
	                "reasoner_requests_total{kind=\"decision\","
	                "result=\"bad_request\"}")
	    == 3);
	assert_true(fx_metric(&f, "bus_bad_messages_total") == 1);
	fx_stop(&f);
}

/* The key from ANTHROPIC_API_KEY_FILE (trailing newline stripped) goes
 * out as x-api-key; sim-anthropic checks it and answers 401 otherwise. */
static void
test_key_file(void **state)
{
	char           good[300], bad[300], genv[340], benv[340];
	const char    *env[] = { "ANTHROPIC_API_KEY", genv, NULL };
	struct fx      f;
	Bus__Envelope *rep;
	FILE          *fp;

	(void)state;
	snprintf(good, sizeof(good), "%s/key.good", harness_tmpdir());
	snprintf(bad, sizeof(bad), "%s/key.bad", harness_tmpdir());
	assert_non_null(fp = fopen(good, "w"));
	fputs(FX_KEY "\n", fp);
	fclose(fp);
	assert_non_null(fp = fopen(bad, "w"));
	fputs("sk-ant-wrong\n", fp);
	fclose(fp);
	snprintf(genv, sizeof(genv), "ANTHROPIC_API_KEY_FILE=%s", good);
	snprintf(benv, sizeof(benv), "ANTHROPIC_API_KEY_FILE=%s", bad);

	assert_int_equal(fx_start(&f, NULL, env), 0);
	rep = fx_decision(&f, "What now?", 5000, 10000);
	assert_non_null(rep);
	assert_int_equal(rep->body_case, BUS__ENVELOPE__BODY_REASON_DECISION);
	wire_free(rep);
	fx_stop(&f);

	env[1] = benv;
	assert_int_equal(fx_start(&f, NULL, env), 0);
	rep = fx_decision(&f, "What now?", 5000, 10000);
	fx_expect_error(rep, BUS__ERROR__CODE__UNAVAILABLE);
	assert_non_null(strstr(rep->error->message, "401"));
	wire_free(rep);
	assert_int_equal(fx_sim_requests(&f), 1); /* not retried */
	fx_stop(&f);
	assert_false(harness_log_contains(f.rsn, "sk-ant-wrong"));
}

static void
test_config_errors(void **state)
{
	const char *const    bad[] = { "ANTHROPIC_API_KEY=k",
		   "REASONER_WORKERS=4", "REASONER_MAX_INFLIGHT=8", NULL };
	const char *const    nokey[] = { "ANTHROPIC_API_KEY", NULL };
	struct harness_proc *p;

	(void)state;
	/* refused at start: the process exits before "ready" */
	p = harness_spawn("reasoner", bad);
	assert_null(p);
	p = harness_spawn("reasoner", nokey);
	assert_null(p);
}

/*
 * A retired model (404) and a field the model refuses (400): the caller
 * gets an Error at once (no retry), and the log names the setting.
 */
static void
test_refused_settings(void **state)
{
	const char *retired[] = { "ANTHROPIC_MODEL=claude-sonnet-4-5", NULL };
	const char *effort[] = { "ANTHROPIC_MODEL=claude-haiku-4-5", NULL };
	struct fx   f;
	Bus__Envelope *rep;

	(void)state;
	assert_int_equal(fx_start(&f, NULL, retired), 0);
	rep = fx_decision(&f, "What do I say?", 5000, 10000);
	assert_non_null(rep);
	fx_expect_error(rep, BUS__ERROR__CODE__INTERNAL);
	assert_non_null(strstr(rep->error->message, "404"));
	wire_free(rep);
	assert_int_equal(fx_sim_requests(&f), 1); /* not retried */
	assert_int_equal(
	    harness_log_wait(
	        f.rsn, "refused ANTHROPIC_MODEL=claude-sonnet-4-5", 5000),
	    0);
	assert_true(fx_metric(&f,
	                "reasoner_config_errors_total{setting="
	                "\"ANTHROPIC_MODEL\"}")
	    == 1);
	fx_stop(&f);

	/* claude-haiku-4-5 takes no effort: the setting to empty is named */
	assert_int_equal(fx_start(&f, NULL, effort), 0);
	rep = fx_decision(&f, "What do I say?", 5000, 10000);
	assert_non_null(rep);
	fx_expect_error(rep, BUS__ERROR__CODE__INTERNAL);
	wire_free(rep);
	assert_int_equal(
	    harness_log_wait(f.rsn, "check REASONER_DECISION_EFFORT", 5000),
	    0);
	assert_true(fx_metric(&f,
	                "reasoner_config_errors_total{setting="
	                "\"REASONER_DECISION_EFFORT\"}")
	    == 1);
	fx_stop(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping),
		cmocka_unit_test(test_decision),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_key_file),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_refused_settings),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
