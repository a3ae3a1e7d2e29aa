/*
 * retry_test - the reasoner's retry policy (protocols.md 7.4):
 * retry-after-ms and retry-after (seconds, fractional, HTTP date, out of
 * range, garbage), backoff bounds with jitter, and which statuses are
 * retried with and without x-should-retry.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "log.h"
#include "../../../services/reasoner/reasoner.h"

/* Sun, 06 Nov 1994 08:49:37 GMT, the RFC 9110 example date. */
#define T0 ((time_t)784111777)

static void
test_after_ms(void **state)
{
	(void)state;
	assert_true(fabs(retry_after("1500", NULL, T0) - 1.5) < 1e-9);
	assert_true(fabs(retry_after("250.5", "9", T0) - 0.2505) < 1e-9);
	/* retry-after-ms wins over retry-after when it parses */
	assert_true(fabs(retry_after("2000", "30", T0) - 2.0) < 1e-9);
	/* out of range: the SDK then falls back to backoff, not to
	 * retry-after */
	assert_true(retry_after("61000", "5", T0) < 0);
	assert_true(retry_after("0", "5", T0) < 0);
	assert_true(retry_after("-5", NULL, T0) < 0);
	/* unparseable ms: retry-after is used */
	assert_true(fabs(retry_after("soon", "3", T0) - 3.0) < 1e-9);
}

static void
test_after_seconds(void **state)
{
	(void)state;
	assert_true(fabs(retry_after(NULL, "1", T0) - 1.0) < 1e-9);
	assert_true(fabs(retry_after(NULL, " 2 ", T0) - 2.0) < 1e-9);
	assert_true(fabs(retry_after(NULL, "0.25", T0) - 0.25) < 1e-9);
	assert_true(fabs(retry_after("", "60", T0) - 60.0) < 1e-9);
	assert_true(retry_after(NULL, "60.001", T0) < 0);
	assert_true(retry_after(NULL, "3600", T0) < 0);
	assert_true(retry_after(NULL, "0", T0) < 0);
	assert_true(retry_after(NULL, "-1", T0) < 0);
	assert_true(retry_after(NULL, "nan", T0) < 0);
	assert_true(retry_after(NULL, "inf", T0) < 0);
	assert_true(retry_after(NULL, "3s", T0) < 0);
	assert_true(retry_after(NULL, "", T0) < 0);
	assert_true(retry_after(NULL, NULL, T0) < 0);
}

static void
test_after_date(void **state)
{
	(void)state;
	/* 10 s after T0 */
	assert_true(
	    fabs(retry_after(NULL, "Sun, 06 Nov 1994 08:49:47 GMT", T0) - 10.0)
	    < 1e-9);
	/* RFC 850 and asctime forms are HTTP dates too */
	assert_true(
	    fabs(
	        retry_after(NULL, "Sunday, 06-Nov-94 08:49:57 GMT", T0) - 20.0)
	    < 1e-9);
	assert_true(
	    fabs(retry_after(NULL, "Sun Nov  6 08:50:07 1994", T0) - 30.0)
	    < 1e-9);
	/* in the past, or more than 60 s ahead: ignored */
	assert_true(
	    retry_after(NULL, "Sun, 06 Nov 1994 08:49:00 GMT", T0) < 0);
	assert_true(
	    retry_after(NULL, "Sun, 06 Nov 1994 08:51:00 GMT", T0) < 0);
	assert_true(
	    retry_after(NULL, "Sun, 06 Nov 1994 08:49:37 GMT", T0) < 0);
	assert_true(retry_after(NULL, "tomorrow", T0) < 0);
	assert_true(retry_after(NULL, "Sun, 99 Foo 1994 xx GMT", T0) < 0);
}

static void
test_backoff_bounds(void **state)
{
	double u;
	int    a;

	(void)state;
	/* no jitter (u = 0): exactly 0.5, 1, 2, 4, 8, 8, ... */
	assert_true(fabs(retry_backoff(0, 0.0) - 0.5) < 1e-9);
	assert_true(fabs(retry_backoff(1, 0.0) - 1.0) < 1e-9);
	assert_true(fabs(retry_backoff(2, 0.0) - 2.0) < 1e-9);
	assert_true(fabs(retry_backoff(3, 0.0) - 4.0) < 1e-9);
	assert_true(fabs(retry_backoff(4, 0.0) - 8.0) < 1e-9);
	assert_true(fabs(retry_backoff(5, 0.0) - 8.0) < 1e-9);
	assert_true(fabs(retry_backoff(1000, 0.0) - 8.0) < 1e-9);
	assert_true(fabs(retry_backoff(-3, 0.0) - 0.5) < 1e-9);
	/* jitter factor is in (0.75, 1]: never below 3/4 of the base */
	for (a = 0; a < 8; a++)
		for (u = 0.0; u < 1.0; u += 0.01) {
			double base = fmin(0.5 * pow(2, a), 8.0);
			double s = retry_backoff(a, u);

			assert_true(s <= base + 1e-12);
			assert_true(s > base * 0.75);
		}
	/* a bad draw is treated as no jitter rather than trusted */
	assert_true(fabs(retry_backoff(0, 1.5) - 0.5) < 1e-9);
	assert_true(fabs(retry_backoff(0, -1) - 0.5) < 1e-9);
}

static void
test_wait_ms(void **state)
{
	(void)state;
	/* the server's wish when in range, else backoff */
	assert_int_equal(retry_wait_ms(0, NULL, "2", T0, 0.0), 2000);
	assert_int_equal(retry_wait_ms(0, "120", NULL, T0, 0.0), 120);
	assert_int_equal(retry_wait_ms(0, NULL, "999", T0, 0.0), 500);
	assert_int_equal(retry_wait_ms(1, NULL, NULL, T0, 0.0), 1000);
	assert_int_equal(retry_wait_ms(2, NULL, NULL, T0, 0.5), 1750);
	assert_int_equal(retry_wait_ms(9, NULL, "garbage", T0, 0.0), 8000);
}

static void
test_should_retry(void **state)
{
	static const long yes[]
	    = { 408, 409, 429, 500, 502, 503, 504, 529, 599 };
	static const long no[] = { 200, 400, 401, 402, 403, 404, 413, 422 };
	size_t            i;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		assert_true(retry_status(yes[i], NULL));
		assert_true(retry_status(yes[i], ""));
		assert_false(retry_status(yes[i], "false"));
		assert_false(retry_status(yes[i], "FALSE"));
		assert_true(retry_status(yes[i], "maybe")); /* ignored */
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		assert_false(retry_status(no[i], NULL));
		assert_true(retry_status(no[i], "true"));
		assert_false(retry_status(no[i], "yes")); /* ignored */
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_after_ms),
		cmocka_unit_test(test_after_seconds),
		cmocka_unit_test(test_after_date),
		cmocka_unit_test(test_backoff_bounds),
		cmocka_unit_test(test_wait_ms),
		cmocka_unit_test(test_should_retry),
	};

	log_init("retry_test");
	log_set_level("error");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
