/*
 * reasoner_retry_test - retries against sim-anthropic's injected faults:
 * 529, 529 then success still yields the summary after exactly three
 * upstream requests and backoff-sized gaps; a 429's retry-after is
 * honoured (measured), and ignored when out of range; invalid or
 * truncated tool output is retried and never returned; non-retryable
 * statuses fail at once; the deadline bounds both one slow attempt and
 * the retries; a refused connection is retried, then UNAVAILABLE.
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

static long long
timed_summary(struct fx *f, const char *text, Bus__Envelope **repp)
{
	long long t0 = harness_now_ms();

	*repp = fx_summary(f, text, 20000);
	return (harness_now_ms() - t0);
}

static void
expect_summary(Bus__Envelope *rep)
{
	assert_non_null(rep);
	if (rep->body_case != BUS__ENVELOPE__BODY_SUMMARY)
		fail_msg("expected a Summary, got %s %s",
		    wire_type_name(rep->body_case),
		    rep->body_case == BUS__ENVELOPE__BODY_ERROR
		        ? rep->error->message
		        : "");
	assert_string_equal(rep->summary->outcome, "not_interested");
	assert_true(strlen(rep->summary->json) > 0);
}

static void
test_overloaded_then_ok(void **state)
{
	const char *const sim[] = { "--fail", "529,529", NULL };
	struct fx         f;
	Bus__Envelope    *rep;
	long long         ms;
	json_t           *st;

	(void)state;
	assert_int_equal(fx_start(&f, sim, NULL), 0);
	ms = timed_summary(&f, "I'm not interested, thanks.", &rep);
	expect_summary(rep);
	wire_free(rep);
	st = fx_sim_stats(&f);
	assert_int_equal(
	    json_integer_value(json_object_get(st, "requests")), 3);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(st, "by_status"), "529")),
	    2);
	json_decref(st);
	/* backoff 0.5 s then 1 s, each times a jitter in (0.75, 1] */
	print_message("529,529,200 took %lld ms\n", ms);
	assert_true(ms >= 1125);
	assert_true(ms < 2500);
	assert_true(
	    fx_metric(&f, "reasoner_retries_total{status=\"529\"}") == 2);
	assert_true(fx_metric(&f,
	                "reasoner_upstream_requests_total{kind="
	                "\"summary\",status=\"529\"}")
	    == 2);
	assert_true(fx_metric(&f, "reasoner_circuit_open") == 0);
	fx_stop(&f);
}

static void
test_retry_after_honoured(void **state)
{
	const char *const sim[]
	    = { "--retry-after", "2", "--fail", "429", NULL };
	struct fx      f;
	Bus__Envelope *rep;
	long long      ms;

	(void)state;
	assert_int_equal(fx_start(&f, sim, NULL), 0);
	ms = timed_summary(&f, "Not interested.", &rep);
	expect_summary(rep);
	wire_free(rep);
	/* without retry-after the first wait would be at most 0.5 s */
	print_message("429 with retry-after: 2 took %lld ms\n", ms);
	assert_true(ms >= 2000);
	assert_true(ms < 2800);
	assert_int_equal(fx_sim_requests(&f), 2);
	assert_true(
	    fx_metric(&f, "reasoner_retries_total{status=\"429\"}") == 1);
	fx_stop(&f);
}

static void
test_retry_after_out_of_range(void **state)
{
	const char *const sim[]
	    = { "--retry-after", "120", "--fail", "429", NULL };
	struct fx      f;
	Bus__Envelope *rep;
	long long      ms;

	(void)state;
	assert_int_equal(fx_start(&f, sim, NULL), 0);
	ms = timed_summary(&f, "Not interested.", &rep);
	expect_summary(rep);
	wire_free(rep);
	/* 120 s is over 60 s: ignored, backoff 0.5 s * jitter instead */
	print_message("429 with retry-after: 120 took %lld ms\n", ms);
	assert_true(ms >= 375);
	assert_true(ms < 1200);
	fx_stop(&f);
}

static void
test_bad_output_retried(void **state)
{
	struct fx      f;
	Bus__Envelope *rep;
	json_t        *st;

	(void)state;
	assert_int_equal(fx_start(&f, NULL, NULL), 0);
	/* once: a required field missing */
	fx_sim_mode(&f, "{\"bad_output\":1}");
	timed_summary(&f, "Not interested.", &rep);
	expect_summary(rep);
	wire_free(rep);
	assert_int_equal(fx_sim_requests(&f), 2);
	/* twice: missing field, then cut off by max_tokens */
	fx_sim_mode(&f, "{\"bad_output\":2}");
	timed_summary(&f, "Not interested.", &rep);
	expect_summary(rep);
	wire_free(rep);
	st = fx_sim_stats(&f);
	assert_int_equal(
	    json_integer_value(json_object_get(st, "requests")), 5);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(st, "by_kind"), "bad_output")),
	    3);
	json_decref(st);
	/* three times with two retries allowed: an error, not garbage */
	fx_sim_mode(&f, "{\"bad_output\":3}");
	timed_summary(&f, "Not interested.", &rep);
	fx_expect_error(rep, BUS__ERROR__CODE__UNAVAILABLE);
	assert_non_null(strstr(rep->error->message, "invalid model output"));
	wire_free(rep);
	assert_int_equal(fx_sim_requests(&f), 8);
	assert_true(fx_metric(&f,
	                "reasoner_retries_total{status="
	                "\"invalid_output\"}")
	    == 5);
	/* invalid output is no sign of an outage: circuit stays closed */
	assert_true(fx_metric(&f, "reasoner_circuit_open") == 0);
	fx_stop(&f);
}

static void
test_not_retried(void **state)
{
	struct fx      f;
	Bus__Envelope *rep;

	(void)state;
	assert_int_equal(fx_start(&f, NULL, NULL), 0);
	fx_sim_mode(&f, "{\"fail\":\"400\"}");
	timed_summary(&f, "Not interested.", &rep);
	fx_expect_error(rep, BUS__ERROR__CODE__INTERNAL);
	assert_non_null(strstr(rep->error->message, "400"));
	wire_free(rep);
	assert_int_equal(fx_sim_requests(&f), 1);
	fx_sim_mode(&f, "{\"fail\":\"401\"}");
	timed_summary(&f, "Not interested.", &rep);
	fx_expect_error(rep, BUS__ERROR__CODE__UNAVAILABLE);
	wire_free(rep);
	assert_int_equal(fx_sim_requests(&f), 2);
	fx_stop(&f);
	assert_false(harness_log_contains(f.rsn, FX_KEY));
}

static void
test_deadline(void **state)
{
	const char *const env[] = { "REASONER_CIRCUIT_FAILURES=50", NULL };
	struct fx         f;
	Bus__Envelope    *rep;
	long long         t0, ms;

	(void)state;
	assert_int_equal(fx_start(&f, NULL, env), 0);
	/* one slow attempt: cut at the request's deadline_ms */
	fx_sim_mode(&f, "{\"latency_ms\":3000}");
	t0 = harness_now_ms();
	rep = fx_decision(&f, "What now?", 500, 5000);
	ms = harness_now_ms() - t0;
	print_message("decision, deadline 500 ms, sim 3000 ms: %lld ms\n", ms);
	fx_expect_error(rep, BUS__ERROR__CODE__TIMEOUT);
	wire_free(rep);
	assert_true(ms >= 450 && ms < 900);
	/* failures and waits: no retry that would end past the deadline */
	fx_sim_mode(&f, "{\"latency_ms\":0,\"fail\":\"529,529,529\"}");
	t0 = harness_now_ms();
	rep = fx_decision(&f, "What now?", 700, 5000);
	ms = harness_now_ms() - t0;
	print_message("decision, deadline 700 ms, 529s: %lld ms\n", ms);
	fx_expect_error(rep, BUS__ERROR__CODE__UNAVAILABLE);
	wire_free(rep);
	assert_true(ms < 700);
	/* attempt 1, wait <= 0.5 s, attempt 2; a 1 s wait would not fit */
	assert_int_equal(fx_sim_requests(&f), 3);
	fx_stop(&f);
}

static void
test_connection_refused(void **state)
{
	struct fx      f;
	Bus__Envelope *rep;
	long long      ms;

	(void)state;
	assert_int_equal(fx_start(&f, NULL, NULL), 0);
	/* nobody listens on the sim's port any more */
	assert_int_equal(harness_stop(f.sim, 5000), 0);
	ms = timed_summary(&f, "Not interested.", &rep);
	print_message("connection refused: answer after %lld ms\n", ms);
	fx_expect_error(rep, BUS__ERROR__CODE__UNAVAILABLE);
	assert_non_null(strstr(rep->error->message, "unreachable"));
	wire_free(rep);
	/* retried like a 5xx: two backoff waits */
	assert_true(ms >= 1125 && ms < 2500);
	assert_true(
	    fx_metric(&f, "reasoner_retries_total{status=\"connect\"}") == 2);
	fx_stop(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overloaded_then_ok),
		cmocka_unit_test(test_retry_after_honoured),
		cmocka_unit_test(test_retry_after_out_of_range),
		cmocka_unit_test(test_bad_output_retried),
		cmocka_unit_test(test_not_retried),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_connection_refused),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
