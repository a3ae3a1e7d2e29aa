/*
 * hours_test - RATE_LIMIT_CALLING_HOURS: parsing, the callee's zones from
 * the calling code (every zone of a country that spans several), daylight
 * saving from the tz database, and the wait until the window opens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "log.h"
#include "../../../services/rate-limiter/rate-limiter.h"

#define JAN15_1500Z 1768489200 /* 2026-01-15 15:00 UTC */
#define JAN15_2230Z 1768516200
#define JUL01_0630Z 1782887400
#define JUL01_1900Z 1782932400

static void
test_parse(void **state)
{
	struct rl_hours h;

	(void)state;
	assert_int_equal(hours_parse("", &h), 0);
	assert_false(h.on);
	assert_int_equal(hours_parse("08:00-21:00", &h), 0);
	assert_true(h.on);
	assert_int_equal(h.start_min, 480);
	assert_int_equal(h.end_min, 1260);
	assert_int_equal(hours_parse("00:00-24:00", &h), 0);
	assert_int_equal(hours_parse("8-21", &h), -1);
	assert_int_equal(hours_parse("21:00-08:00", &h), -1);
	assert_int_equal(hours_parse("08:00-25:00", &h), -1);
	assert_int_equal(hours_parse("08:00-21:00x", &h), -1);
	assert_int_equal(hours_parse("08:61-21:00", &h), -1);
}

static void
test_window(void **state)
{
	struct rl_hours h;
	uint32_t        wait;

	(void)state;
	assert_int_equal(hours_parse("08:00-21:00", &h), 0);
	/* London 15:00: in; 22:30: out until 08:00 (9.5 h) */
	assert_null(hours_check(&h, "+447911123456", JAN15_1500Z, &wait));
	assert_string_equal(
	    hours_check(&h, "+447911123456", JAN15_2230Z, &wait),
	    "outside_calling_hours");
	assert_int_equal(wait, 570 * 60);
	/* +1 at 15:00 UTC in January: New York 10:00 but Honolulu 05:00,
	 * so not yet; the window opens everywhere in 3 h */
	assert_string_equal(
	    hours_check(&h, "+14155550123", JAN15_1500Z, &wait),
	    "outside_calling_hours");
	assert_int_equal(wait, 3 * 3600);
	/* July, 19:00 UTC: St John's 16:30 .. Honolulu 09:00, all in */
	assert_null(hours_check(&h, "+14155550123", JUL01_1900Z, &wait));
	assert_int_equal(wait, 0);
	/* Paris in summer time: 06:30 UTC is 08:30 local */
	assert_null(hours_check(&h, "+33612345678", JUL01_0630Z, &wait));
	/* a code we have no zone for */
	assert_string_equal(
	    hours_check(&h, "+8613800138000", JUL01_1900Z, &wait),
	    "unknown_time_zone");
	/* no window: anything goes */
	assert_int_equal(hours_parse("", &h), 0);
	assert_null(hours_check(&h, "+8613800138000", JAN15_2230Z, &wait));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_window),
	};

	log_init("hours_test");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
