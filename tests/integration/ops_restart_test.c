/*
 * ops_restart_test - restart single daemons under load, no manual step.
 *
 * The whole stack (ops_stack.h) carries three simulated calls of 16 s.
 * While they run, persister, rate-limiter, reasoner and then ai-session
 * are each stopped with SIGTERM (they must exit 0) and started again on
 * the same addresses.  Nothing else is touched: the NNG peers must find
 * the new processes by themselves.  Afterwards every call has completed
 * for the caller, model audio flowed again after ai-session came back
 * (media-edge resumed the calls: edge_session_resumes_total), every call
 * record reached PostgreSQL, `callctl health` shows all five healthy, and
 * the stack stops cleanly.  Then media-edge is drained with a call on it.
 */
#include <setjmp.h>
#include <signal.h>
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

#define CALLS 3

static struct ops_stack S;

/* An unlabelled series from daemon i's /metrics, or -1. */
static double
metric(int i, const char *name)
{
	char        url[96], *body = NULL;
	const char *p;
	long        status = 0;
	double      v = -1;
	size_t      n = strlen(name);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", S.http[i]);
	if (harness_http("GET", url, NULL, NULL, &status, &body) != 0)
		return (-1);
	for (p = body; (p = strstr(p, name)) != NULL; p += n)
		if ((p == body || p[-1] == '\n') && p[n] == ' ') {
			v = strtod(p + n + 1, NULL);
			break;
		}
	free(body);
	return (v);
}

static int
wait_metric(int i, const char *name, double atleast, int ms)
{
	long long end = harness_now_ms() + ms;
	double    v;

	while ((v = metric(i, name)) < atleast) {
		if (harness_now_ms() >= end) {
			fprintf(stderr, "%s: %s is %g, want >= %g\n",
			    ops_daemons[i], name, v, atleast);
			return (-1);
		}
		usleep(100000);
	}
	return (0);
}

static int
setup(void **state)
{
	const char *top = getenv("TOP_DIR");

	if (top != NULL && chdir(top) != 0)
		return (-1);
	if (ops_stack_start(&S) != 0) {
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

static void
test_restart_each_under_load(void **state)
{
	const char *t = harness_tmpdir();
	char        report[512], *out;
	json_t     *rep;
	long        n = 0;
	double      sent, got;
	int         i;

	snprintf(report, sizeof(report), "%s/restart-report.json", t);
	assert_int_equal(
	    ops_sh(NULL,
	        "%s/sim-caller --url ws://127.0.0.1:%d/media "
	        "--calls %d --ramp-ms 300 --duration-ms 16000 "
	        "--token-secret " OPS_STREAM_SECRET " --report %s "
	        ">/dev/null 2>%s/restart-caller.log &",
	        ops_bin(), S.http[OPS_EDGE], CALLS, report, t),
	    0);
	assert_int_equal(
	    wait_metric(OPS_AI, "ai_calls_active", CALLS, 8000), 0);

	/* The request/reply daemons, one at a time, calls running. */
	assert_int_equal(ops_stack_restart(&S, OPS_PERSISTER), 0);
	assert_int_equal(ops_sh(NULL,
	                     "env %s %s/callctl ping persister -n 1 "
	                     ">/dev/null 2>&1",
	                     S.env, ops_bin()),
	    0);
	assert_int_equal(ops_stack_restart(&S, OPS_RL), 0);
	assert_int_equal(ops_stack_restart(&S, OPS_REASONER), 0);
	sleep(1);
	assert_int_equal(metric(OPS_EDGE, "edge_active_calls"), CALLS);

	/* ai-session: media-edge must hand its calls to the new process. */
	assert_int_equal(ops_stack_restart(&S, OPS_AI), 0);
	assert_int_equal(
	    wait_metric(OPS_AI, "ai_calls_active", CALLS, 10000), 0);
	assert_true(metric(OPS_EDGE, "edge_session_resumes_total") >= CALLS);

	/* The calls end by themselves. */
	assert_non_null(rep = ops_caller_report(report, 30000));
	assert_int_equal(
	    json_integer_value(json_object_get(rep, "completed")), CALLS);
	assert_int_equal(
	    json_integer_value(json_object_get(rep, "errors")), 0);
	sent = (double)json_integer_value(json_object_get(rep, "frames_sent"));
	got = (double)json_integer_value(
	    json_object_get(rep, "frames_received"));
	printf("frames sent %.0f, echoed back %.0f\n", sent, got);
	/* Echo mode: the model's audio came back for most of the calls'
	 * time, including after the ai-session restart. */
	assert_true(got >= sent / 2);
	json_decref(rep);

	/* Every call record reached PostgreSQL despite the restarts (they
	 * are sent after the summary, so give them a moment). */
	for (i = 0; i < 150; i++) {
		assert_int_equal(
		    pgtest_query_int(S.db.dsn,
		        "SELECT count(*) FROM calls WHERE ended_at "
		        "IS NOT NULL",
		        &n),
		    0);
		if (n == CALLS)
			break;
		usleep(100000);
	}
	assert_int_equal(n, CALLS);

	assert_int_equal(
	    ops_sh(&out, "env %s %s/callctl health 2>&1", S.env, ops_bin()),
	    0);
	free(out);
}

/*
 * Drain: SIGTERM to media-edge during a call.  /ready turns 503 at once,
 * /health stays 200, the call goes on until EDGE_DRAIN_TIMEOUT_MS (2 s in
 * the stack), is then closed with 1001 (going away), and media-edge exits
 * 0.  Runs last: media-edge stays down.
 */
static void
test_edge_drain(void **state)
{
	const char  *t = harness_tmpdir();
	char         report[512], url[96];
	json_t      *rep, *codes;
	json_error_t err;
	long         status = 0;
	long long    t0;

	snprintf(report, sizeof(report), "%s/drain-report.json", t);
	assert_int_equal(
	    ops_sh(NULL,
	        "%s/sim-caller --url ws://127.0.0.1:%d/media "
	        "--calls 1 --duration-ms 20000 "
	        "--token-secret " OPS_STREAM_SECRET " --report %s >/dev/null "
	        "2>%s/drain-caller.log &",
	        ops_bin(), S.http[OPS_EDGE], report, t),
	    0);
	assert_int_equal(
	    wait_metric(OPS_EDGE, "edge_active_calls", 1, 8000), 0);
	t0 = harness_now_ms();
	assert_int_equal(kill(harness_pid(S.proc[OPS_EDGE]), SIGTERM), 0);
	usleep(300000);
	snprintf(
	    url, sizeof(url), "http://127.0.0.1:%d/ready", S.http[OPS_EDGE]);
	assert_int_equal(
	    harness_http("GET", url, NULL, NULL, &status, NULL), 0);
	assert_int_equal(status, 503);
	snprintf(
	    url, sizeof(url), "http://127.0.0.1:%d/health", S.http[OPS_EDGE]);
	assert_int_equal(
	    harness_http("GET", url, NULL, NULL, &status, NULL), 0);
	assert_int_equal(status, 200);
	/* Still carrying the call while draining. */
	assert_int_equal(metric(OPS_EDGE, "edge_active_calls"), 1);

	assert_int_equal(harness_stop(S.proc[OPS_EDGE], 15000), 0);
	printf("media-edge drained and exited in %lld ms\n",
	    harness_now_ms() - t0);
	assert_true(harness_now_ms() - t0 >= 1900);
	assert_int_equal(ops_sh(NULL,
	                     "for i in $(seq 1 100); do [ -s %s ] && exit 0; "
	                     "sleep 0.1; done; exit 1",
	                     report),
	    0);
	usleep(300000);
	assert_non_null(rep = json_load_file(report, 0, &err));
	codes = json_object_get(rep, "close_codes");
	if (json_integer_value(json_object_get(codes, "1001")) != 1)
		json_dumpf(rep, stderr, JSON_INDENT(1));
	assert_int_equal(
	    json_integer_value(json_object_get(codes, "1001")), 1);
	json_decref(rep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restart_each_under_load),
		cmocka_unit_test(test_edge_drain),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
