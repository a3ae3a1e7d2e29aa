/*
 * api_compliance_test - calling hours on the whole product
 * (e2e_fixture.h): rate-limiter runs with RATE_LIMIT_CALLING_HOURS set to
 * one minute of the day twelve hours away from now in London, so a
 * POST /calls to a GB number is refused 403 calling_hours
 * (outside_calling_hours) with a Retry-After of the wait until the window
 * opens, counted in rate_limit_decisions_total, and nothing is placed or
 * recorded.
 */
#include "e2e_fixture.h"

static void
test_outside_calling_hours(void **state)
{
	struct e2e      e;
	struct e2e_opts o = { 0 };
	char hours[64], *resp = NULL, *hdrs = NULL, url[128], auth[128], *p;
	const char *env[] = { hours, NULL },
	           *h[] = { "Content-Type: application/json", auth, NULL };
	time_t    now = time(NULL);
	struct tm tm;
	long      st = 0, retry;

	(void)state;
	gmtime_r(&now, &tm);
	/* London is UTC or UTC+1: twelve hours on is outside either way */
	snprintf(hours, sizeof(hours),
	    "RATE_LIMIT_CALLING_HOURS=%02d:00-%02d:01", (tm.tm_hour + 12) % 24,
	    (tm.tm_hour + 12) % 24);
	o.rl_env = env;
	e2e_start(&e, &o);
	snprintf(
	    auth, sizeof(auth), "Authorization: Bearer %s", E2E_API_TOKEN);
	snprintf(url, sizeof(url), "%s/calls", e.edge_base);
	assert_int_equal(
	    harness_http_full("POST", url, h, "{\"to\":\"+447911123456\"}",
	        10000, &st, &resp, &hdrs),
	    0);
	print_message("%s -> %ld %s\n", hours, st, resp);
	assert_int_equal(st, 403);
	assert_non_null(strstr(resp, "\"calling_hours\""));
	assert_non_null(strstr(resp, "outside_calling_hours"));
	p = strcasestr(hdrs, "retry-after:");
	assert_non_null(p);
	retry = strtol(p + 12, NULL, 10);
	assert_true(retry > 10 * 3600 && retry <= 13 * 3600);
	free(resp);
	free(hdrs);
	snprintf(
	    url, sizeof(url), "http://127.0.0.1:%d/metrics", e.http[E2E_RL]);
	assert_int_equal(harness_http("GET", url, NULL, NULL, &st, &resp), 0);
	assert_non_null(strstr(resp,
	    "rate_limit_decisions_total{result=\"refused\",reason=\"outside_"
	    "calling_hours\",source=\"database\"} 1"));
	free(resp);
	assert_int_equal(e2e_nrecords(e.tw_rec, "kind", "rest"), 0);
	assert_int_equal(e2e_count(&e, "SELECT count(*) FROM calls"), 0);
	e2e_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outside_calling_hours),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
