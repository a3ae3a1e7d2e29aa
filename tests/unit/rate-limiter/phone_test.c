/*
 * phone_test - E.164 validation and the RATE_LIMIT_COUNTRIES list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "log.h"
#include "../../../services/rate-limiter/rate-limiter.h"

static void
test_default_countries(void **state)
{
	struct rl_countries c;

	assert_int_equal(phone_countries_parse("US,CA,GB,AU,IN", &c), 0);
	assert_int_equal(c.n, 4); /* US and CA share +1 */
	assert_int_equal(phone_check("+14155550123", &c), RL_PHONE_OK);
	assert_int_equal(phone_check("+16135550123", &c), RL_PHONE_OK);
	assert_int_equal(phone_check("+447911123456", &c), RL_PHONE_OK);
	assert_int_equal(phone_check("+61412345678", &c), RL_PHONE_OK);
	assert_int_equal(phone_check("+919876543210", &c), RL_PHONE_OK);
	assert_int_equal(phone_check("+33612345678", &c), RL_PHONE_COUNTRY);
	assert_int_equal(phone_check("+4915112345678", &c), RL_PHONE_COUNTRY);
}

static void
test_calling_codes(void **state)
{
	struct rl_countries c;

	assert_int_equal(phone_countries_parse("+33, 49 fr", &c), 0);
	assert_int_equal(c.n, 2); /* "fr" is +33 again */
	assert_int_equal(phone_check("+33612345678", &c), RL_PHONE_OK);
	assert_int_equal(phone_check("+4915112345678", &c), RL_PHONE_OK);
	assert_int_equal(phone_check("+14155550123", &c), RL_PHONE_COUNTRY);
}

static void
test_bad_lists(void **state)
{
	struct rl_countries c;

	assert_int_equal(phone_countries_parse("US,XX", &c), -1);
	assert_int_equal(phone_countries_parse("", &c), -1);
	assert_int_equal(phone_countries_parse("+0", &c), -1);
	assert_int_equal(phone_countries_parse("+1234", &c), -1);
	assert_int_equal(
	    phone_countries_parse("thisisfartoolongforus", &c), -1);
}

static void
test_invalid_numbers(void **state)
{
	static const char *const bad[]
	    = { "", "14155550123", "+", "+1415555012", /* NANP needs 10 */
		      "+141555501234", /* ... not 11 */
		      "+1415555O123", "+1 415 555 0123", "+1-415-555-0123",
		      "+04155550123", "+1234567", "+1234567890123456",
		      "+1415555'; DROP TABLE calls; --", "+44791112345678",
		      "+6141234567", "++14155550123", "+14155550123\n", NULL };
	struct rl_countries c;
	int                 i;

	assert_int_equal(phone_countries_parse("US,GB,AU,IN", &c), 0);
	for (i = 0; bad[i] != NULL; i++) {
		if (phone_check(bad[i], &c) != RL_PHONE_INVALID)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(phone_check(NULL, &c), RL_PHONE_INVALID);
}

static void
test_generic_code(void **state)
{
	struct rl_countries c;

	/* +7 is not in our length table: only the E.164 rules apply */
	assert_int_equal(phone_countries_parse("+7", &c), 0);
	assert_int_equal(phone_check("+79161234567", &c), RL_PHONE_OK);
	assert_int_equal(phone_check("+7916123", &c), RL_PHONE_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_countries),
		cmocka_unit_test(test_calling_codes),
		cmocka_unit_test(test_bad_lists),
		cmocka_unit_test(test_invalid_numbers),
		cmocka_unit_test(test_generic_code),
	};

	log_init("phone_test");
	log_set_level("error");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
