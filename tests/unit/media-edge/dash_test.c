/*
 * dash_test - the dashboard's sign-in tokens (format, MAC, expiry, the
 * longest lifetime, scope, no secret) and the Origin allow-list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../../services/media-edge/edge.h"

#define SECRET "dash-unit-secret-0123456789"
#define NOW 1800000000LL

static struct edge_cfg C;

static int
setup(void **state)
{
	(void)state;
	memset(&C, 0, sizeof(C));
	C.dash_secret = SECRET;
	C.dash_origins = "";
	C.dash_token_max_ttl_s = 86400;
	C.public_url = "https://Edge.Example.com:8443/base/path";
	return (0);
}

static enum dash_verdict
check(const char *scope, long long exp, const char *secret)
{
	char tok[DASH_TOKEN_MAX];

	assert_int_equal(
	    dash_token_make(secret, scope, exp, tok, sizeof(tok)), 0);
	return (dash_token_check(&C, tok, NOW, NULL));
}

static void
test_good(void **state)
{
	char    tok[DASH_TOKEN_MAX];
	int64_t exp = 0;

	(void)state;
	assert_int_equal(dash_token_make(SECRET, DASH_SCOPE_READ, NOW + 60,
	                     tok, sizeof(tok)),
	    0);
	assert_int_equal(
	    strncmp(tok, "dsh1.dashboard:read.1800000060.", 31), 0);
	assert_int_equal(strlen(tok), 31 + 64);
	assert_int_equal(dash_token_check(&C, tok, NOW, &exp), DASH_OK);
	assert_int_equal(exp, NOW + 60);
	/* a buffer too small is an error, not a cut token */
	assert_int_equal(
	    dash_token_make(SECRET, DASH_SCOPE_READ, NOW, tok, 40), -1);
}

static void
test_refused(void **state)
{
	char tok[DASH_TOKEN_MAX];

	(void)state;
	assert_int_equal(check(DASH_SCOPE_READ, NOW, SECRET), DASH_EXPIRED);
	assert_int_equal(
	    check(DASH_SCOPE_READ, NOW - 5, SECRET), DASH_EXPIRED);
	assert_int_equal(
	    check(DASH_SCOPE_READ, NOW + 86401, SECRET), DASH_TOO_LONG_LIVED);
	assert_int_equal(check("calls:write", NOW + 60, SECRET), DASH_SCOPE);
	assert_int_equal(
	    check(DASH_SCOPE_READ, NOW + 60, "another-secret-0123"),
	    DASH_BAD_SIGNATURE);
	assert_int_equal(dash_verdict_status(DASH_SCOPE), 403);
	assert_int_equal(dash_verdict_status(DASH_EXPIRED), 401);
	assert_string_equal(
	    dash_verdict_name(DASH_BAD_SIGNATURE), "bad_signature");

	/* a changed scope or expiry breaks the MAC */
	dash_token_make(SECRET, DASH_SCOPE_READ, NOW + 60, tok, sizeof(tok));
	tok[25] = '7';
	assert_int_equal(
	    dash_token_check(&C, tok, NOW, NULL), DASH_BAD_SIGNATURE);
	assert_int_equal(dash_token_check(&C, NULL, NOW, NULL), DASH_MISSING);
	assert_int_equal(dash_token_check(&C, "", NOW, NULL), DASH_MISSING);
	assert_int_equal(
	    dash_token_check(&C, "Bearer x", NOW, NULL), DASH_MALFORMED);
	assert_int_equal(
	    dash_token_check(&C, "dsh1..1.ab", NOW, NULL), DASH_MALFORMED);
	assert_int_equal(
	    dash_token_check(&C, "dsh1.dashboard:read.x.ab", NOW, NULL),
	    DASH_MALFORMED);
	assert_int_equal(dash_token_check(&C, "dsh1.Dash<b>.1.ab", NOW, NULL),
	    DASH_MALFORMED);
	/* the MAC must be 64 hex digits */
	dash_token_make(SECRET, DASH_SCOPE_READ, NOW + 60, tok, sizeof(tok));
	tok[strlen(tok) - 1] = '\0';
	assert_int_equal(dash_token_check(&C, tok, NOW, NULL), DASH_MALFORMED);
	/* no secret: no dashboard, whatever the token */
	C.dash_secret = "";
	assert_int_equal(check(DASH_SCOPE_READ, NOW + 60, SECRET), DASH_OFF);
}

static void
test_origins(void **state)
{
	(void)state;
	/* default: the origin of EDGE_PUBLIC_URL */
	assert_true(dash_origin_ok(&C, "https://edge.example.com:8443"));
	assert_true(dash_origin_ok(&C, "https://EDGE.example.com:8443"));
	assert_false(dash_origin_ok(&C, "https://edge.example.com"));
	assert_false(dash_origin_ok(&C, "http://edge.example.com:8443"));
	assert_false(dash_origin_ok(&C, "https://edge.example.com:8443.evil"));
	assert_false(dash_origin_ok(&C, "null"));
	assert_false(dash_origin_ok(&C, ""));
	assert_false(dash_origin_ok(&C, NULL));
	/* the default port is the same origin, written or not */
	C.public_url = "https://edge.example.com:443/";
	assert_true(dash_origin_ok(&C, "https://edge.example.com"));
	assert_true(dash_origin_ok(&C, "https://edge.example.com:443"));
	assert_false(dash_origin_ok(&C, "http://edge.example.com"));
	C.public_url = "http://127.0.0.1:80";
	assert_true(dash_origin_ok(&C, "http://127.0.0.1"));
	assert_false(dash_origin_ok(&C, "http://127.0.0.1:8080"));
	/* a list replaces the default */
	C.dash_origins = " https://ops.example.com , http://127.0.0.1:9000,";
	assert_true(dash_origin_ok(&C, "https://ops.example.com"));
	assert_true(dash_origin_ok(&C, "http://127.0.0.1:9000"));
	assert_false(dash_origin_ok(&C, "https://edge.example.com:8443"));
	assert_false(dash_origin_ok(&C, "https://ops.example.co"));
	assert_false(dash_origin_ok(&C, "http://127.0.0.1:900"));
	assert_false(dash_origin_ok(&C, "http://127.0.0.1"));
	C.dash_origins = "HTTPS://Ops.Example.com:443";
	assert_true(dash_origin_ok(&C, "https://ops.example.com"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_good, setup),
		cmocka_unit_test_setup(test_refused, setup),
		cmocka_unit_test_setup(test_origins, setup),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
