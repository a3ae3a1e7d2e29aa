/*
 * token_test - stream tokens: format, MAC, expiry, single use, the bounded
 * replay table; and the upgrade signature against protocols.md 1.6.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../../services/media-edge/edge.h"

#define SECRET "unit-test-secret-0123456789"
#define NOW 1800000000LL

static struct edge E;

static int
setup(void **state)
{
	(void)state;
	memset(&E, 0, sizeof(E));
	E.cfg.stream_token_secret = SECRET;
	E.cfg.token_max_ttl_s = 3600;
	tokens_init(&E.tokens, 64);
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	tokens_fini(&E.tokens);
	return (0);
}

static int
check(const char *sid, const char *tok, int64_t now, const char **why)
{
	*why = "";
	return (token_check(&E, sid, tok, now, why));
}

static void
test_valid_once(void **state)
{
	char        tok[128];
	const char *why;

	(void)state;
	assert_int_equal(
	    token_make(SECRET, "CA1", NOW + 60, tok, sizeof(tok)), 0);
	assert_int_equal(strlen(tok), 3 + 10 + 1 + 64);
	assert_int_equal(check("CA1", tok, NOW, &why), 0);
	assert_int_equal(check("CA1", tok, NOW, &why), -1);
	assert_string_equal(why, "reused");
}

static void
test_rejects(void **state)
{
	char        tok[128], bad[128];
	const char *why;

	(void)state;
	assert_int_equal(check("CA1", NULL, NOW, &why), -1);
	assert_string_equal(why, "missing");
	assert_int_equal(check("CA1", "", NOW, &why), -1);
	assert_string_equal(why, "missing");
	assert_int_equal(check("CA1", "v2.1.abc", NOW, &why), -1);
	assert_string_equal(why, "malformed");
	assert_int_equal(check("CA1", "v1.12x.abc", NOW, &why), -1);
	assert_string_equal(why, "malformed");
	token_make(SECRET, "CA1", NOW + 60, tok, sizeof(tok));
	/* another call's token */
	assert_int_equal(check("CA2", tok, NOW, &why), -1);
	assert_string_equal(why, "bad_signature");
	/* one MAC digit changed */
	snprintf(bad, sizeof(bad), "%s", tok);
	bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
	assert_int_equal(check("CA1", bad, NOW, &why), -1);
	assert_string_equal(why, "bad_signature");
	/* upper-case hex is not the token we issued */
	snprintf(bad, sizeof(bad), "%s", tok);
	for (char *p = bad + 14; *p != '\0'; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 32);
	assert_int_equal(check("CA1", bad, NOW, &why), -1);
	/* wrong secret */
	token_make(
	    "another-secret-0123456789", "CA1", NOW + 60, bad, sizeof(bad));
	assert_int_equal(check("CA1", bad, NOW, &why), -1);
	assert_string_equal(why, "bad_signature");
	/* expired, and too long-lived */
	token_make(SECRET, "CA1", NOW - 1, tok, sizeof(tok));
	assert_int_equal(check("CA1", tok, NOW, &why), -1);
	assert_string_equal(why, "expired");
	token_make(SECRET, "CA1", NOW + 7200, tok, sizeof(tok));
	assert_int_equal(check("CA1", tok, NOW, &why), -1);
	assert_string_equal(why, "too_long_lived");
}

/* The table forgets expired tokens and refuses rather than forgets live
 * ones, so a replay can never get through. */
static void
test_table_bounded(void **state)
{
	char        tok[128], sid[32];
	const char *why;
	int         i, ok = 0, full = 0;

	(void)state;
	for (i = 0; i < 100; i++) {
		snprintf(sid, sizeof(sid), "CA%d", i);
		token_make(SECRET, sid, NOW + 10, tok, sizeof(tok));
		if (check(sid, tok, NOW, &why) == 0)
			ok++;
		else if (strcmp(why, "replay_table_full") == 0)
			full++;
	}
	assert_true(ok >= 40 && ok <= 48);
	assert_int_equal(ok + full, 100);
	/* replay of an accepted one is still refused */
	token_make(SECRET, "CA0", NOW + 10, tok, sizeof(tok));
	assert_int_equal(check("CA0", tok, NOW, &why), -1);
	assert_string_equal(why, "reused");
	/* once they expired there is room again */
	token_make(SECRET, "CAlater", NOW + 100, tok, sizeof(tok));
	assert_int_equal(check("CAlater", tok, NOW + 11, &why), 0);
	assert_true(E.tokens.used < 8);
}

static void
test_upgrade_sig(void **state)
{
	char sig[29];

	(void)state;
	assert_int_equal(
	    token_upgrade_sig("12345", "wss://example.com/media-stream", sig),
	    0);
	assert_string_equal(sig, "XFfwGS2Ev7f9qAP9MmRoMS7C724=");
	assert_int_equal(token_upgrade_sig(
	                     "12345", "https://example.com/media-stream", sig),
	    0);
	assert_string_equal(sig, "+Nt/WUHH2g+0+t2rLN3k9fNhfEw=");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_valid_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_table_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_upgrade_sig, setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
