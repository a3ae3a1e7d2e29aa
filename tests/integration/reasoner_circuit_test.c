/*
 * reasoner_circuit_test - Anthropic down for good: the first request
 * receives Error{UNAVAILABLE} within its deadline after its bounded retries,
 * the circuit opens (reasoner_circuit_open 1 in /metrics) and later
 * requests are refused at once without reaching upstream; once the sim
 * is back up, nothing changes until the open period is over, then one
 * probe closes the circuit and requests succeed again.  A failed probe
 * re-opens it for another period.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "reasoner_fixture.h"

#define OPEN_MS 1500

static const char *const env[] = { "REASONER_CIRCUIT_FAILURES=3",
	"REASONER_CIRCUIT_OPEN_MS=1500", "REASONER_MAX_RETRIES=2", NULL };

/* /health answers 200 whatever the circuit; its status tells. */
static void
health_is(struct fx *f, const char *status)
{
	char url[128], want[64], *body = NULL;
	long code = 0;

	snprintf(url, sizeof(url), "%s/health", f->http_base);
	snprintf(want, sizeof(want), "\"status\":\"%s\"", status);
	assert_int_equal(
	    harness_http("GET", url, NULL, NULL, &code, &body), 0);
	assert_int_equal(code, 200);
	if (body == NULL || strstr(body, want) == NULL)
		fail_msg("/health: %s, want %s", body ? body : "", want);
	free(body);
}

static Bus__Envelope *
timed_decision(struct fx *f, unsigned deadline, long long *ms)
{
	long long      t0 = harness_now_ms();
	Bus__Envelope *rep = fx_decision(f, "What now?", deadline, 10000);

	*ms = harness_now_ms() - t0;
	return (rep);
}

static void
test_down_open_recover(void **state)
{
	const char *const sim[] = { "--down", NULL };
	struct fx         f;
	Bus__Envelope    *rep;
	long long         ms, opened;

	(void)state;
	assert_int_equal(fx_start(&f, sim, env), 0);
	assert_true(fx_metric(&f, "reasoner_circuit_open") == 0);

	/* three 529s with backoff between: UNAVAILABLE, within 4 s */
	rep = timed_decision(&f, 4000, &ms);
	opened = harness_now_ms();
	print_message("down: first answer after %lld ms\n", ms);
	fx_expect_error(rep, BUS__ERROR__CODE__UNAVAILABLE);
	wire_free(rep);
	assert_true(ms < 4000);
	assert_int_equal(fx_sim_requests(&f), 3);
	assert_true(fx_metric(&f, "reasoner_circuit_open") == 1);
	assert_true(fx_metric(&f,
	                "reasoner_circuit_transitions_total{to="
	                "\"open\"}")
	    == 1);
	health_is(&f, "degraded");

	/* open: refused at once, nothing sent */
	rep = timed_decision(&f, 4000, &ms);
	fx_expect_error(rep, BUS__ERROR__CODE__UNAVAILABLE);
	assert_non_null(strstr(rep->error->message, "circuit open"));
	wire_free(rep);
	assert_true(ms < 200);
	rep = fx_summary(&f, "Not interested.", 10000);
	fx_expect_error(rep, BUS__ERROR__CODE__UNAVAILABLE);
	wire_free(rep);
	assert_int_equal(fx_sim_requests(&f), 3);

	/* upstream back, but the open period is not over yet */
	fx_sim_mode(&f, "{\"down\":false}");
	rep = timed_decision(&f, 4000, &ms);
	fx_expect_error(rep, BUS__ERROR__CODE__UNAVAILABLE);
	wire_free(rep);
	assert_int_equal(fx_sim_requests(&f), 3);
	assert_true(harness_now_ms() - opened < OPEN_MS);

	/* after it: the probe succeeds and the circuit closes */
	usleep(
	    (useconds_t)(OPEN_MS - (harness_now_ms() - opened) + 100) * 1000);
	rep = timed_decision(&f, 4000, &ms);
	assert_non_null(rep);
	assert_int_equal(rep->body_case, BUS__ENVELOPE__BODY_REASON_DECISION);
	wire_free(rep);
	assert_int_equal(fx_sim_requests(&f), 4);
	assert_true(fx_metric(&f, "reasoner_circuit_open") == 0);
	assert_true(fx_metric(&f,
	                "reasoner_circuit_transitions_total{to="
	                "\"closed\"}")
	    == 1);
	health_is(&f, "healthy");
	rep = fx_summary(&f, "Not interested.", 10000);
	assert_non_null(rep);
	assert_int_equal(rep->body_case, BUS__ENVELOPE__BODY_SUMMARY);
	wire_free(rep);
	fx_stop(&f);
	assert_true(harness_log_contains(f.rsn, "circuit closed -> open"));
	assert_true(
	    harness_log_contains(f.rsn, "circuit half_open -> closed"));
}

static void
test_failed_probe(void **state)
{
	const char *const sim[] = { "--down", NULL };
	struct fx         f;
	Bus__Envelope    *rep;
	long long         ms;

	(void)state;
	assert_int_equal(fx_start(&f, sim, env), 0);
	rep = timed_decision(&f, 4000, &ms);
	fx_expect_error(rep, BUS__ERROR__CODE__UNAVAILABLE);
	wire_free(rep);
	assert_int_equal(fx_sim_requests(&f), 3);
	usleep((OPEN_MS + 100) * 1000);
	/* still down: the one probe fails and the circuit re-opens, so the
	 * request ends after one attempt instead of three */
	rep = timed_decision(&f, 4000, &ms);
	fx_expect_error(rep, BUS__ERROR__CODE__UNAVAILABLE);
	wire_free(rep);
	assert_true(ms < 300);
	assert_int_equal(fx_sim_requests(&f), 4);
	assert_true(fx_metric(&f, "reasoner_circuit_open") == 1);
	assert_true(fx_metric(&f,
	                "reasoner_circuit_transitions_total{to="
	                "\"open\"}")
	    == 2);
	rep = timed_decision(&f, 4000, &ms);
	fx_expect_error(rep, BUS__ERROR__CODE__UNAVAILABLE);
	wire_free(rep);
	assert_int_equal(fx_sim_requests(&f), 4);
	fx_stop(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_down_open_recover),
		cmocka_unit_test(test_failed_probe),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
