/*
 * ops_conversation_test - follow one conversation as an operator does.
 *
 * The whole stack (ops_stack.h) with sim-openai in conversation mode: the
 * simulated caller speaks twice (tones the model's VAD hears) and the
 * model answers each time.  While the call runs, `callctl tap ai-session
 * --call SID --type transcript_turn --text` must print the live
 * transcript as User:/AI: lines in order; afterwards `callctl req
 * persister get_call_context` must return the four stored turns, and the
 * call's row must hold the transcript and its end time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "ops_stack.h"

#define FIRST_ANSWER "AI: Hello, this is the simulated assistant."
#define SECOND_ANSWER "AI: I heard you."

static struct ops_stack S;

static int
setup(void **state)
{
	const char *top = getenv("TOP_DIR");

	if (top != NULL && chdir(top) != 0)
		return (-1);
	if (ops_stack_start_mode(&S, "conversation") != 0) {
		ops_stack_stop(&S);
		return (-1);
	}
	return (0);
}

static int
teardown(void **state)
{
	return (ops_stack_stop(&S) == 0 ? 0 : -1);
}

/* Waits up to ms for s in the file; 0 or -1. */
static int
wait_in_file(const char *path, const char *s, int ms)
{
	long long end = harness_now_ms() + ms;
	char     *o;
	int       rc;

	for (;;) {
		rc = ops_sh(&o, "cat '%s' 2>/dev/null", path);
		if (rc == 0 && strstr(o, s) != NULL) {
			free(o);
			return (0);
		}
		free(o);
		if (harness_now_ms() >= end)
			return (-1);
		usleep(100000);
	}
}

static void
test_live_transcript_then_stored(void **state)
{
	const char *t = harness_tmpdir();
	char        all[512], text[512], report[512], sid[128] = "";
	char       *out, *p, *u1, *a1, *u2, *a2;
	long        n = 0;
	int         i;

	snprintf(all, sizeof(all), "%s/tap-all.out", t);
	snprintf(text, sizeof(text), "%s/tap-text.out", t);
	snprintf(report, sizeof(report), "%s/conv-report.json", t);

	/* Any message of the call tells us its sid. */
	assert_int_equal(ops_sh(NULL,
	                     "env %s %s/callctl tap media-edge --count 1 "
	                     "--seconds 20 > %s 2>/dev/null &",
	                     S.env, ops_bin(), all),
	    0);
	usleep(300000);
	assert_int_equal(
	    ops_sh(NULL,
	        "%s/sim-caller --url ws://127.0.0.1:%d/media "
	        "--calls 1 --duration-ms 9000 --tone-at-ms "
	        "1500:1200,5500:1200 --token-secret " OPS_STREAM_SECRET
	        " --report %s >/dev/null "
	        "2>%s/conv-caller.log &",
	        ops_bin(), S.http[OPS_EDGE], report, t),
	    0);
	assert_int_equal(wait_in_file(all, "\"call_sid\":\"CA", 8000), 0);
	assert_int_equal(ops_sh(&out, "cat '%s'", all), 0);
	assert_non_null(p = strstr(out, "\"call_sid\":\""));
	snprintf(sid, sizeof(sid), "%.*s", (int)strcspn(p + 12, "\""), p + 12);
	free(out);
	assert_true(strncmp(sid, "CA", 2) == 0);

	/* The live transcript of that call, while it runs. */
	assert_int_equal(
	    ops_sh(NULL,
	        "env %s %s/callctl tap ai-session --call %s "
	        "--type transcript_turn --text --count 4 --seconds 15 > %s "
	        "2>/dev/null &",
	        S.env, ops_bin(), sid, text),
	    0);
	assert_int_equal(wait_in_file(text, SECOND_ANSWER, 14000), 0);
	assert_int_equal(ops_sh(&out, "cat '%s'", text), 0);
	u1 = strstr(out, "User: ");
	a1 = strstr(out, FIRST_ANSWER);
	a2 = strstr(out, SECOND_ANSWER);
	u2 = a1 != NULL ? strstr(a1, "User: ") : NULL;
	if (u1 == NULL || a1 == NULL || u2 == NULL || a2 == NULL)
		fprintf(stderr, "transcript:\n%s\n", out);
	assert_non_null(u1);
	assert_non_null(a1);
	assert_non_null(u2);
	assert_non_null(a2);
	assert_true(u1 < a1 && a1 < u2 && u2 < a2);
	/* --type transcript_turn: no audio or marks in between. */
	assert_null(strstr(out, "] audio"));
	free(out);

	/* The call ends; persister has every turn and the record. */
	assert_int_equal(wait_in_file(report, "\"completed\": 1", 15000), 0);
	for (i = 0; i < 100; i++) {
		assert_int_equal(
		    pgtest_query_int_params(S.db.dsn,
		        "SELECT count(*) FROM calls WHERE call_sid = $1 AND "
		        "ended_at IS NOT NULL AND transcript LIKE '%simulated "
		        "assistant%'",
		        1, (const char *const[]) { sid }, &n),
		    0);
		if (n == 1)
			break;
		usleep(100000);
	}
	assert_int_equal(n, 1);
	assert_int_equal(ops_sh(&out,
	                     "env %s %s/callctl req --call %s persister "
	                     "get_call_context '{}' 2>/dev/null",
	                     S.env, ops_bin(), sid),
	    0);
	assert_non_null(strstr(out, "\"found\":true"));
	assert_non_null(strstr(out, "\"seq\":4"));
	assert_non_null(strstr(out, "\"role\":\"assistant\""));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_live_transcript_then_stored),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
