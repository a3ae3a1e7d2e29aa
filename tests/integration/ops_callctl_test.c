/*
 * ops_callctl_test - callctl against the five real daemons.
 *
 * One stack for the whole file (tests/integration/ops_stack.h): the
 * daemons on ipc:// sockets and free loopback ports, the model and
 * reasoning APIs simulated, and callctl pointed at it by the same
 * environment variables an operator uses.  Cases: ping each daemon by
 * name and by URL, health (table and JSON) with everything up and with
 * one daemon unreachable, req round trips to persister and rate-limiter
 * with checked answers, bad requests refused before sending, tap on both
 * pub sockets during a real call from sim-caller (type and call filters,
 * rates, --save), and decode of what tap saved and of garbage.  The
 * stack must stop with every daemon exiting 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "ops_stack.h"

static struct ops_stack S;

/* callctl ARGS with the stack's environment; stderr to stdout if
 * with_err. */
static int
callctl(char **outp, int with_err, const char *args)
{
	return (ops_sh(outp, "env %s %s/callctl %s %s", S.env, ops_bin(), args,
	    with_err ? "2>&1" : "2>/dev/null"));
}

static int
setup(void **state)
{
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
test_ping(void **state)
{
	char *out, args[512], want[64];
	int   i;

	for (i = 0; i < OPS_N; i++) {
		snprintf(args, sizeof(args), "ping %s -n 2", ops_daemons[i]);
		assert_int_equal(callctl(&out, 1, args), 0);
		snprintf(want, sizeof(want), "pong from %s ", ops_daemons[i]);
		assert_non_null(strstr(out, want));
		assert_non_null(strstr(out, "2/2 answered; rtt min/avg/max"));
		free(out);
	}
	/* By URL, as for one pod of several. */
	snprintf(args, sizeof(args), "ping %s -n 1", S.req[OPS_PERSISTER]);
	assert_int_equal(callctl(&out, 1, args), 0);
	assert_non_null(strstr(out, "pong from persister"));
	free(out);
	/* Nobody there: no answer, status 1. */
	snprintf(
	    args, sizeof(args), "ping %s -n 1", harness_ipc_url("nobody"));
	assert_int_equal(callctl(&out, 1, args), 1);
	assert_non_null(strstr(out, "no answer"));
	free(out);
}

static void
test_health(void **state)
{
	json_t      *all, *row;
	json_error_t err;
	char        *out, want[128];
	size_t       i;

	assert_int_equal(callctl(&out, 0, "health"), 0);
	assert_non_null(strstr(out, "SERVICE"));
	for (i = 0; i < OPS_N; i++) {
		snprintf(want, sizeof(want), "%-13s 200    healthy ",
		    ops_daemons[i]);
		if (strstr(out, want) == NULL)
			fprintf(stderr, "no \"%s\" in:\n%s", want, out);
		assert_non_null(strstr(out, want));
	}
	free(out);

	assert_int_equal(callctl(&out, 0, "health --json"), 0);
	all = json_loads(out, 0, &err);
	free(out);
	assert_non_null(all);
	assert_int_equal(json_array_size(all), OPS_N);
	for (i = 0; i < OPS_N; i++) {
		row = json_array_get(all, i);
		assert_string_equal(
		    json_string_value(json_object_get(row, "service")),
		    ops_daemons[i]);
		assert_true(json_is_true(json_object_get(row, "healthy")));
		assert_int_equal(
		    json_integer_value(json_object_get(row, "http_status")),
		    200);
		assert_non_null(json_object_get(row, "ping_ms"));
		assert_non_null(
		    json_object_get(json_object_get(row, "health"), "uptime"));
	}
	json_decref(all);

	/* One daemon unreachable: its row says so and the status is 1. */
	assert_int_equal(ops_sh(&out,
	                     "env %s PERSISTER_URL=%s "
	                     "PERSISTER_HTTP_URL=http://127.0.0.1:1 "
	                     "CALLCTL_TIMEOUT_MS=300 %s/callctl health",
	                     S.env, harness_ipc_url("nobody"), ops_bin()),
	    1);
	assert_non_null(strstr(out, "persister     0      down "));
	assert_non_null(strstr(out, "no-answer"));
	assert_non_null(strstr(out, "media-edge    200    healthy "));
	free(out);
}

static void
test_req_rate_limiter(void **state)
{
	char *out;

	assert_int_equal(callctl(&out, 1,
	                     "req rate-limiter rate_check "
	                     "'{\"phone\":\"+14155550123\",\"client_ip\":"
	                     "\"203.0.113.7\",\"kind\":\"OUTBOUND\",\"peek\":"
	                     "true}' --call CAopsrl1"),
	    0);
	assert_non_null(strstr(out, "\"type\":\"rate_decision\""));
	assert_non_null(strstr(out, "\"allowed\":true"));
	assert_non_null(strstr(out, "reply rate_decision in "));
	/* callctl prints what it got back: never the phone number. */
	assert_null(strstr(out, "4155550123"));
	free(out);

	assert_int_equal(
	    callctl(&out, 1,
	        "req rate-limiter rate_check "
	        "'{\"phone\":\"12\",\"client_ip\":\"203.0.113.7\","
	        "\"kind\":\"OUTBOUND\"}' --call CAopsrl2"),
	    0);
	/* Defaults (false, 0) are left out of the JSON. */
	assert_null(strstr(out, "\"allowed\":true"));
	assert_non_null(strstr(out, "\"reason\":\"invalid_number\""));
	free(out);
}

static void
test_req_persister(void **state)
{
	const char *open = "'{\"direction\":\"OUTBOUND\",\"provider\":"
	                   "\"TWILIO\",\"objective\":\"book a demo\","
	                   "\"to_phone\":\"+14155550188\"}'";
	char        args[512], *out;

	/* Unknown call: a context that says it was not found. */
	assert_int_equal(callctl(&out, 1,
	                     "req --call CAopsnone persister "
	                     "get_call_context '{}'"),
	    0);
	assert_non_null(strstr(out, "\"type\":\"call_context\""));
	assert_null(strstr(out, "\"found\":true"));
	free(out);

	snprintf(args, sizeof(args),
	    "req --call CAopsctx1 --key ops-open-1 persister call_open %s",
	    open);
	assert_int_equal(callctl(&out, 1, args), 0);
	assert_non_null(strstr(out, "\"type\":\"ack\""));
	assert_null(strstr(out, "\"duplicate\":true"));
	free(out);
	/* Same key again: acknowledged as a duplicate, not applied twice. */
	assert_int_equal(callctl(&out, 1, args), 0);
	assert_non_null(strstr(out, "\"duplicate\":true"));
	free(out);

	assert_int_equal(callctl(&out, 1,
	                     "req --call CAopsctx1 persister "
	                     "get_call_context '{}'"),
	    0);
	assert_non_null(strstr(out, "\"found\":true"));
	assert_non_null(strstr(out, "\"objective\":\"book a demo\""));
	/* The phone number went in, but never comes back out. */
	assert_null(strstr(out, "4155550188"));
	free(out);
}

/*
 * The form docs/operations.md and `callctl --help` show: options after
 * the JSON body.  They must not be dropped silently (the request would
 * go out without its call sid).
 */
static void
test_req_options_after_body(void **state)
{
	char *out;
	int   rc, found;

	rc = callctl(
	    &out, 1, "req persister get_call_context '{}' --call CAopsctx1");
	found = strstr(out, "\"found\":true") != NULL;
	if (rc != 0 || !found)
		fprintf(stderr,
		    "callctl req dropped --call after the body:\n%s", out);
	free(out);
	assert_int_equal(rc, 0);
	assert_true(found);
}

static void
test_req_errors(void **state)
{
	char *out, args[512];

	/* Refused before anything is sent. */
	assert_int_equal(
	    callctl(&out, 1, "req persister no_such_type '{}'"), 65);
	assert_non_null(strstr(out, "unknown message type \"no_such_type\""));
	free(out);
	assert_int_equal(callctl(&out, 1,
	                     "req persister get_call_context "
	                     "'{\"oops'"),
	    65);
	assert_non_null(strstr(out, "bad JSON"));
	free(out);
	assert_int_equal(
	    callctl(&out, 1, "req rate-limiter rate_check '{\"nosuch\":1}'"),
	    65);
	free(out);
	/* A whole envelope by hand; an empty Ping is answered with Pong. */
	assert_int_equal(
	    callctl(&out, 1, "req reasoner --envelope '{\"ping\":{}}'"), 0);
	assert_non_null(strstr(out, "\"type\":\"pong\""));
	assert_non_null(strstr(out, "\"service\":\"reasoner\""));
	free(out);
	/* Nobody listening. */
	snprintf(
	    args, sizeof(args), "req %s ping '{}'", harness_ipc_url("nobody"));
	assert_int_equal(ops_sh(&out,
	                     "env %s CALLCTL_TIMEOUT_MS=300 %s/callctl %s "
	                     "2>&1",
	                     S.env, ops_bin(), args),
	    1);
	assert_non_null(strstr(out, "Timed out"));
	free(out);
}

/* Waits up to ms for path to hold at least n lines; the line count. */
static int
wait_lines(const char *path, int n, int ms)
{
	long long end = harness_now_ms() + ms;
	char     *line = NULL;
	size_t    cap = 0;
	int       count = 0;
	FILE     *f;

	for (;;) {
		count = 0;
		if ((f = fopen(path, "r")) != NULL) {
			while (getline(&line, &cap, f) > 0)
				count++;
			fclose(f);
		}
		if (count >= n || harness_now_ms() >= end)
			break;
		usleep(50000);
	}
	free(line);
	return (count);
}

/* The JSON object on line i (0-based) of path, or NULL. */
static json_t *
json_line(const char *path, int i)
{
	char   *line = NULL;
	size_t  cap = 0;
	FILE   *f = fopen(path, "r");
	json_t *j = NULL;

	while (f != NULL && getline(&line, &cap, f) > 0)
		if (i-- == 0) {
			j = json_loads(line, 0, NULL);
			break;
		}
	if (f != NULL)
		fclose(f);
	free(line);
	return (j);
}

static const char *
jstr(json_t *o, const char *k)
{
	return (json_string_value(json_object_get(o, k)));
}

static void
test_tap_and_decode(void **state)
{
	const char *t = harness_tmpdir();
	char        edge_out[512], none_out[512], report[512], save[512];
	char        sid[128], args[768], *out;
	json_t     *j;
	int         i, n;

	snprintf(edge_out, sizeof(edge_out), "%s/tap-edge.out", t);
	snprintf(none_out, sizeof(none_out), "%s/tap-none.out", t);
	snprintf(report, sizeof(report), "%s/caller-report.json", t);
	snprintf(save, sizeof(save), "%s/saved", t);
	assert_int_equal(ops_sh(NULL, "mkdir -p %s", save), 0);

	/* Taps first (bounded in time), then one call of 7 s. */
	assert_int_equal(ops_sh(NULL,
	                     "env %s %s/callctl tap media-edge --type audio "
	                     "--count 5 --seconds 20 --save %s > %s 2>&1 &",
	                     S.env, ops_bin(), save, edge_out),
	    0);
	assert_int_equal(ops_sh(NULL,
	                     "env %s %s/callctl tap ai-session --call "
	                     "CAnobodyatall --seconds 8 > %s 2>/dev/null &",
	                     S.env, ops_bin(), none_out),
	    0);
	usleep(500000);
	assert_int_equal(
	    ops_sh(NULL,
	        "%s/sim-caller --url ws://127.0.0.1:%d/media "
	        "--calls 1 --duration-ms 7000 "
	        "--token-secret " OPS_STREAM_SECRET " --report %s > /dev/null "
	        "2>%s/sim-caller.log &",
	        ops_bin(), S.http[OPS_EDGE], report, t),
	    0);

	/* media-edge publishes the caller's frames in AudioBatches under
	 * the ai-session's batch topic; tap prints one line per frame. */
	n = wait_lines(edge_out, 6, 10000); /* "tapping" + 5 frames */
	assert_true(n >= 6);
	for (i = 1; i <= 5; i++) {
		j = json_line(edge_out, i);
		assert_non_null(j);
		assert_string_equal(jstr(j, "type"), "audio");
		assert_non_null(jstr(j, "call_sid"));
		assert_true(strncmp(jstr(j, "call_sid"), "CA", 2) == 0);
		assert_non_null(json_object_get(j, "batch"));
		assert_true(
		    strncmp(jstr(json_object_get(j, "batch"), "topic") ?: "",
		        "@", 1)
		    == 0);
		/* 20 ms of mu-law, summarised without --payload. */
		assert_int_equal(
		    json_integer_value(json_object_get(
		        json_object_get(
		            json_object_get(j, "audio"), "payload"),
		        "bytes")),
		    160);
		if (i == 1)
			snprintf(sid, sizeof(sid), "%s", jstr(j, "call_sid"));
		json_decref(j);
	}

	/* ai-session's echoed model audio for that call, with rates. */
	snprintf(args, sizeof(args),
	    "tap ai-session --call %s --type audio --rates --seconds 3", sid);
	assert_int_equal(callctl(&out, 1, args), 0);
	assert_non_null(strstr(out, "rates: "));
	assert_non_null(strstr(out, " audio="));
	assert_non_null(strstr(out, "\"type\":\"audio\""));
	assert_non_null(strstr(out, sid));
	assert_null(strstr(out, "\"type\":\"mark\"")); /* --type audio */
	free(out);

	/* decode: a saved pub message (the batch holding the first frame),
	 * payload included this time. */
	snprintf(args, sizeof(args), "decode %s/000001.bin", save);
	assert_int_equal(callctl(&out, 1, args), 0);
	j = json_loads(out, 0, NULL);
	free(out);
	assert_non_null(j);
	assert_true(strncmp(jstr(j, "topic") ?: "", "@", 1) == 0);
	assert_string_equal(jstr(j, "type"), "audio_batch");
	{
		json_t *it = json_array_get(
		    json_object_get(
		        json_object_get(j, "audio_batch"), "items"),
		    0);

		assert_non_null(it);
		assert_string_equal(jstr(it, "type"), "audio");
		assert_string_equal(jstr(it, "call_sid"), sid);
		assert_non_null(jstr(json_object_get(it, "audio"), "payload"));
	}
	json_decref(j);
	/* decode from stdin, forced as a request body: the topic is then
	 * garbage in front of the envelope and must not decode. */
	snprintf(args, sizeof(args), "decode --req < %s/000001.bin", save);
	assert_int_equal(callctl(&out, 1, args), 65);
	assert_non_null(strstr(out, "not a bus.Envelope"));
	free(out);
	assert_int_equal(callctl(&out, 1, "decode < /etc/hostname"), 65);
	free(out);

	/* The call ends by itself; the filtered tap saw nothing of it. */
	assert_true(wait_lines(report, 1, 15000) >= 1);
	assert_true(wait_lines(none_out, 100, 9000) == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_req_rate_limiter),
		cmocka_unit_test(test_req_persister),
		cmocka_unit_test(test_req_options_after_body),
		cmocka_unit_test(test_req_errors),
		cmocka_unit_test(test_tap_and_decode),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
