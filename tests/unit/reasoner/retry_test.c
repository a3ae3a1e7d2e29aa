/*
 * retry_test - the reasoner's retry policy (protocols.md 7.4): the wait
 * (the server's wish when in range, else backoff; the parsing itself is
 * tested in http_test) and which statuses are retried with and without
 * x-should-retry.
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
		cmocka_unit_test(test_wait_ms),
		cmocka_unit_test(test_should_retry),
	};

	log_init("retry_test");
	log_set_level("error");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
