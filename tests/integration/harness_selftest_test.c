/*
 * harness_selftest_test - the test harness, sim-anthropic and pgtest,
 * checked against the real binaries and the real PostgreSQL.
 *
 * Needs BIN_DIR (sim-anthropic), TOP_DIR (tests/pg.sh) and TEST_PG_DSN,
 * all set by tests/run.sh.  Without TEST_PG_DSN the database cases fail.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "pgtest.h"

#define KEY "sk-test-0123456789"

static const char *const hdrs[]
    = { "x-api-key: " KEY, "anthropic-version: 2023-06-01",
	      "content-type: application/json", NULL };

static const char *const summary_tool
    = "{\"name\":\"record_summary\",\"description\":\"Store it.\","
      "\"input_schema\":{\"type\":\"object\",\"properties\":{"
      "\"outcome\":{\"type\":\"string\",\"enum\":[\"goal_achieved\","
      "\"callback_requested\",\"not_interested\",\"voicemail\","
      "\"no_answer\"]},"
      "\"interest_level\":{\"type\":\"integer\",\"minimum\":0,"
      "\"maximum\":10},"
      "\"interest\":{\"type\":\"string\",\"enum\":[\"low\",\"medium\","
      "\"high\"]},"
      "\"next_action\":{\"type\":\"string\"},"
      "\"summary\":{\"type\":\"string\"},"
      "\"appointment\":{\"type\":\"object\",\"properties\":{"
      "\"day\":{\"type\":\"string\"},\"time\":{\"type\":\"string\"}}}},"
      "\"required\":[\"outcome\",\"interest_level\",\"interest\","
      "\"next_action\",\"summary\"]}}";

/* A started sim and its URL prefix. */
struct sim {
	struct harness_proc *p;
	char                 base[64];
};

static struct sim main_sim;

static int
sim_start(struct sim *s, const char *const args[])
{
	const char *argv[16] = { "--port", "0", "--api-key", KEY };
	int         n = 4, i;

	for (i = 0; args != NULL && args[i] != NULL && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if ((s->p = harness_spawn_args("sim-anthropic", argv, NULL)) == NULL)
		return (-1);
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d",
	    harness_ready_port(s->p));
	return (harness_ready_port(s->p) > 0 ? 0 : -1);
}

static void
sim_stop(struct sim *s)
{
	assert_int_equal(harness_stop(s->p, 5000), 0);
}

/* The summary request with this transcript. */
static char *
summary_request(const char *transcript)
{
	json_t *req, *tool;
	char   *s;

	tool = json_loads(summary_tool, 0, NULL);
	assert_non_null(tool);
	req = json_pack("{s:s, s:i, s:[{s:s, s:s}], s:[o], s:{s:s, s:s}}",
	    "model", "claude-sonnet-4-6", "max_tokens", 1024, "messages",
	    "role", "user", "content", transcript, "tools", tool,
	    "tool_choice", "type", "tool", "name", "record_summary");
	assert_non_null(req);
	s = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	return (s);
}

/* POSTs body to path; returns the parsed JSON answer. */
static json_t *
post(struct sim *s, const char *path, const char *const h[], const char *body,
    long *status, char **headers)
{
	char    url[128], *resp = NULL;
	json_t *j;

	snprintf(url, sizeof(url), "%s%s", s->base, path);
	assert_int_equal(harness_http_full("POST", url, h, body, 10000, status,
	                     &resp, headers),
	    0);
	j = json_loads(resp, 0, NULL);
	if (j == NULL)
		fail_msg("not JSON: %s", resp);
	free(resp);
	return (j);
}

static const char *
jstr(json_t *root, const char *path)
{
	json_t *v = json_object_get(root, path);

	return (json_string_value(v));
}

static const char *
error_type(json_t *j)
{
	assert_string_equal(jstr(j, "type"), "error");
	assert_non_null(jstr(j, "request_id"));
	return (jstr(json_object_get(j, "error"), "type"));
}

static json_t *
tool_input(json_t *msg)
{
	json_t *blk = json_array_get(json_object_get(msg, "content"), 0);

	assert_string_equal(jstr(blk, "type"), "tool_use");
	assert_string_equal(jstr(blk, "name"), "record_summary");
	assert_non_null(jstr(blk, "id"));
	return (json_object_get(blk, "input"));
}

static int
group_setup(void **state)
{
	(void)state;
	return (sim_start(&main_sim, NULL));
}

static int
group_teardown(void **state)
{
	(void)state;
	return (harness_stop(main_sim.p, 5000) == 0 ? 0 : -1);
}

static void
test_tool_reply_goal(void **state)
{
	json_t *j, *in;
	long    st;
	char   *req, *h = NULL;

	(void)state;
	req = summary_request("AGENT: Hi, this is Sam from Acme Dental.\n"
	                      "CALLER: Yes, Thursday at 10am is fine, book "
	                      "it.");
	j = post(&main_sim, "/v1/messages", hdrs, req, &st, &h);
	assert_int_equal(st, 200);
	assert_non_null(strstr(h, "request-id: req_"));
	assert_string_equal(jstr(j, "type"), "message");
	assert_string_equal(jstr(j, "model"), "claude-sonnet-4-6");
	assert_string_equal(jstr(j, "stop_reason"), "tool_use");
	in = tool_input(j);
	assert_string_equal(jstr(in, "outcome"), "goal_achieved");
	assert_string_equal(jstr(in, "interest"), "high");
	assert_int_equal(
	    json_integer_value(json_object_get(in, "interest_level")), 8);
	assert_non_null(strstr(
	    jstr(json_object_get(in, "appointment"), "day"), "Thursday"));
	assert_non_null(strstr(jstr(in, "summary"), "AGENT: Hi, this is"));
	assert_true(json_integer_value(json_object_get(
	                json_object_get(j, "usage"), "input_tokens"))
	    > 0);
	json_decref(j);
	free(req);
	free(h);
}

static void
check_outcome(const char *transcript, const char *want)
{
	json_t *j;
	long    st;
	char   *req;

	req = summary_request(transcript);
	j = post(&main_sim, "/v1/messages", hdrs, req, &st, NULL);
	assert_int_equal(st, 200);
	assert_string_equal(jstr(tool_input(j), "outcome"), want);
	json_decref(j);
	free(req);
}

static void
test_tool_reply_outcomes(void **state)
{
	(void)state;
	check_outcome(
	    "Hi, you have reached Ann. Please leave a message.", "voicemail");
	check_outcome("CALLER: Sorry, I am not interested.", "not_interested");
	check_outcome(
	    "CALLER: Busy now, call back tomorrow.", "callback_requested");
	check_outcome("CALLER: Hello? Who is this?", "no_answer");
}

static void
test_text_reply(void **state)
{
	const char *argv[] = { "--answer", "Offer the Tuesday slot.", NULL };
	const char *req = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":"
	                  "200,\"messages\":[{\"role\":\"user\",\"content\":"
	                  "\"The caller asks: can we meet Friday at 9:30 "
	                  "am?\"}]}";
	struct sim  fixed;
	json_t     *j, *blk;
	long        st;

	(void)state;
	j = post(&main_sim, "/v1/messages", hdrs, req, &st, NULL);
	assert_int_equal(st, 200);
	assert_string_equal(jstr(j, "stop_reason"), "end_turn");
	blk = json_array_get(json_object_get(j, "content"), 0);
	assert_string_equal(jstr(blk, "type"), "text");
	assert_string_equal(jstr(blk, "text"), "Yes, Friday at 9:30am works.");
	json_decref(j);

	assert_int_equal(sim_start(&fixed, argv), 0);
	j = post(&fixed, "/v1/messages", hdrs, req, &st, NULL);
	assert_int_equal(st, 200);
	blk = json_array_get(json_object_get(j, "content"), 0);
	assert_string_equal(jstr(blk, "text"), "Offer the Tuesday slot.");
	json_decref(j);
	sim_stop(&fixed);
}

static void
expect_error(const char *const h[], const char *body, long want_status,
    const char *want_type, const char *want_in_message)
{
	json_t *j;
	long    st;
	char   *rh = NULL, want_hdr[80];

	j = post(&main_sim, "/v1/messages", h, body, &st, &rh);
	assert_int_equal(st, want_status);
	assert_string_equal(error_type(j), want_type);
	if (want_in_message != NULL)
		assert_non_null(
		    strstr(jstr(json_object_get(j, "error"), "message"),
		        want_in_message));
	/* the body's request_id is the header's */
	snprintf(want_hdr, sizeof(want_hdr), "request-id: %s",
	    jstr(j, "request_id"));
	assert_non_null(strstr(rh, want_hdr));
	json_decref(j);
	free(rh);
}

static void
test_invalid_requests(void **state)
{
	const char *const bad_key[]
	    = { "x-api-key: " KEY "x", "anthropic-version: 2023-06-01", NULL };
	const char *const no_key[] = { "anthropic-version: 2023-06-01", NULL };
	const char *const no_version[] = { "x-api-key: " KEY, NULL };
	const char *const old_version[]
	    = { "x-api-key: " KEY, "anthropic-version: 2020-01-01", NULL };
	const char *ok = "{\"model\":\"claude-sonnet-5-5\",\"max_tokens\":5,"
	                 "\"messages\":"
	                 "[{\"role\":\"user\",\"content\":\"hi\"}]}";
	char        url[128];
	long        st;

	(void)state;
	expect_error(hdrs,
	    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"hi\"}]}",
	    400, "invalid_request_error", "max_tokens");
	expect_error(hdrs, "{\"max_tokens\":5,\"messages\":[]}", 400,
	    "invalid_request_error", "model");
	expect_error(hdrs, "{\"model\":\"m\",\"max_tokens\":5}", 400,
	    "invalid_request_error", "messages");
	expect_error(
	    hdrs, "{\"model\":", 400, "invalid_request_error", "JSON");
	expect_error(hdrs,
	    "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":"
	    "\"user\",\"content\":\"hi\"}],\"tool_choice\":{\"type\":"
	    "\"tool\",\"name\":\"nope\"}}",
	    400, "invalid_request_error", "nope");
	expect_error(bad_key, ok, 401, "authentication_error", NULL);
	expect_error(no_key, ok, 401, "authentication_error", NULL);
	expect_error(
	    no_version, ok, 400, "invalid_request_error", "anthropic-version");
	expect_error(old_version, ok, 400, "invalid_request_error",
	    "anthropic-version");
	snprintf(url, sizeof(url), "%s/v1/nothing", main_sim.base);
	assert_int_equal(harness_http("GET", url, NULL, NULL, &st, NULL), 0);
	assert_int_equal(st, 404);
}

/* A Messages request for model with extra members (a JSON fragment). */
static char *
model_request(const char *model, const char *extra)
{
	char *s;

	if (asprintf(&s,
	        "{\"model\":\"%s\",\"max_tokens\":50,\"messages\":[{"
	        "\"role\":\"user\",\"content\":\"Not interested.\"}]%s}",
	        model, extra)
	    == -1)
		fail_msg("asprintf");
	return (s);
}

/*
 * What the real API refuses (docs/providers.md): unknown and retired
 * models (404), non-default sampling and a forced tool on the models that
 * refuse them (400).  Older models still take what they took.
 */
static void
test_model_rejections(void **state)
{
	const char *forced
	    = ",\"tools\":[{\"name\":\"t\",\"input_schema\":{\"type\":"
	      "\"object\"}}],\"tool_choice\":{\"type\":\"tool\",\"name\":"
	      "\"t\"}";
	const char *format
	    = ",\"output_config\":{\"format\":{\"type\":\"json_schema\","
	      "\"schema\":{\"type\":\"object\",\"properties\":{"
	      "\"outcome\":{\"type\":\"string\",\"enum\":[\"goal_achieved\","
	      "\"not_interested\"]}},\"required\":[\"outcome\"],"
	      "\"additionalProperties\":false}}}";
	json_t *j, *blk, *ans;
	char   *req;
	long    st;

	(void)state;
	req = model_request("claude-sonnet-4-5", "");
	expect_error(
	    hdrs, req, 404, "not_found_error", "model: claude-sonnet-4-5");
	free(req);
	req = model_request("claude-nonexistent-9", "");
	expect_error(hdrs, req, 404, "not_found_error", "model:");
	free(req);
	req = model_request("claude-sonnet-5-5", ",\"temperature\":0.2");
	expect_error(hdrs, req, 400, "invalid_request_error", "temperature");
	free(req);
	req = model_request("claude-opus-4-7", ",\"top_p\":0.9");
	expect_error(hdrs, req, 400, "invalid_request_error", "top_p");
	free(req);
	req = model_request("claude-sonnet-5-5", forced);
	expect_error(hdrs, req, 400, "invalid_request_error", "tool_choice");
	free(req);
	req = model_request(
	    "claude-haiku-4-5", ",\"output_config\":{\"effort\":\"low\"}");
	expect_error(hdrs, req, 400, "invalid_request_error", "effort");
	free(req);
	/* the default temperature and an older model are fine */
	req = model_request("claude-sonnet-5-5", ",\"temperature\":1.0");
	json_decref(post(&main_sim, "/v1/messages", hdrs, req, &st, NULL));
	assert_int_equal(st, 200);
	free(req);
	req = model_request("claude-sonnet-4-6", ",\"temperature\":0.2");
	json_decref(post(&main_sim, "/v1/messages", hdrs, req, &st, NULL));
	assert_int_equal(st, 200);
	free(req);
	/* structured outputs: one text block holding the JSON object */
	req = model_request("claude-sonnet-5-5", format);
	j = post(&main_sim, "/v1/messages", hdrs, req, &st, NULL);
	assert_int_equal(st, 200);
	assert_string_equal(jstr(j, "stop_reason"), "end_turn");
	blk = json_array_get(json_object_get(j, "content"), 0);
	assert_string_equal(jstr(blk, "type"), "text");
	assert_non_null(ans = json_loads(jstr(blk, "text"), 0, NULL));
	assert_string_equal(jstr(ans, "outcome"), "not_interested");
	json_decref(ans);
	json_decref(j);
	free(req);
}

static long
stat_of(struct sim *s, const char *group, const char *key)
{
	char    url[128], *resp = NULL;
	json_t *j;
	long    st, v;

	snprintf(url, sizeof(url), "%s/sim/stats", s->base);
	assert_int_equal(harness_http("GET", url, NULL, NULL, &st, &resp), 0);
	assert_int_equal(st, 200);
	j = json_loads(resp, 0, NULL);
	assert_non_null(j);
	v = (long)json_integer_value(group == NULL
	        ? json_object_get(j, key)
	        : json_object_get(json_object_get(j, group), key));
	json_decref(j);
	free(resp);
	return (v);
}

static void
set_mode(struct sim *s, const char *json)
{
	json_t *j;
	long    st;

	j = post(s, "/sim/mode", NULL, json, &st, NULL);
	assert_int_equal(st, 200);
	json_decref(j);
}

static void
test_fail_then_recover(void **state)
{
	const char *argv[]
	    = { "--fail", "529,429,500", "--retry-after", "3", NULL };
	struct sim s;
	json_t    *j;
	long       st;
	char      *req, *rh = NULL;

	(void)state;
	req = summary_request("CALLER: yes, book Thursday");
	assert_int_equal(sim_start(&s, argv), 0);
	j = post(&s, "/v1/messages", hdrs, req, &st, NULL);
	assert_int_equal(st, 529);
	assert_string_equal(error_type(j), "overloaded_error");
	json_decref(j);
	j = post(&s, "/v1/messages", hdrs, req, &st, &rh);
	assert_int_equal(st, 429);
	assert_string_equal(error_type(j), "rate_limit_error");
	assert_non_null(strstr(rh, "retry-after: 3"));
	json_decref(j);
	j = post(&s, "/v1/messages", hdrs, req, &st, NULL);
	assert_int_equal(st, 500);
	assert_string_equal(error_type(j), "api_error");
	json_decref(j);
	j = post(&s, "/v1/messages", hdrs, req, &st, NULL);
	assert_int_equal(st, 200); /* recovered */
	assert_string_equal(jstr(tool_input(j), "outcome"), "goal_achieved");
	json_decref(j);

	/* down and up again, live */
	set_mode(&s, "{\"down\":true}");
	j = post(&s, "/v1/messages", hdrs, req, &st, NULL);
	assert_int_equal(st, 529);
	json_decref(j);
	set_mode(&s, "{\"down\":false,\"fail\":\"500\"}");
	j = post(&s, "/v1/messages", hdrs, req, &st, NULL);
	assert_int_equal(st, 500);
	json_decref(j);
	j = post(&s, "/v1/messages", hdrs, req, &st, NULL);
	assert_int_equal(st, 200);
	json_decref(j);
	j = post(&s, "/sim/mode", NULL, "{\"latency_ms\":\"x\"}", &st, NULL);
	assert_int_equal(st, 400);
	json_decref(j);

	assert_int_equal(stat_of(&s, NULL, "requests"), 7);
	assert_int_equal(stat_of(&s, "by_status", "529"), 2);
	assert_int_equal(stat_of(&s, "by_status", "500"), 2);
	assert_int_equal(stat_of(&s, "by_status", "200"), 2);
	assert_int_equal(stat_of(&s, "by_kind", "injected"), 5);
	sim_stop(&s);
	free(req);
	free(rh);
}

static void
test_bad_output(void **state)
{
	const char *argv[] = { "--bad-output", "2", NULL };
	struct sim  s;
	json_t     *j;
	long        st;
	char       *req;

	(void)state;
	req = summary_request("CALLER: not interested, thanks");
	assert_int_equal(sim_start(&s, argv), 0);
	j = post(&s, "/v1/messages", hdrs, req, &st, NULL);
	assert_int_equal(st, 200);
	assert_string_equal(jstr(j, "stop_reason"), "tool_use");
	assert_null(json_object_get(tool_input(j), "outcome"));
	json_decref(j);
	j = post(&s, "/v1/messages", hdrs, req, &st, NULL);
	assert_int_equal(st, 200);
	assert_string_equal(jstr(j, "stop_reason"), "max_tokens");
	json_decref(j);
	j = post(&s, "/v1/messages", hdrs, req, &st, NULL);
	assert_string_equal(jstr(j, "stop_reason"), "tool_use");
	assert_string_equal(jstr(tool_input(j), "outcome"), "not_interested");
	json_decref(j);
	assert_int_equal(stat_of(&s, "by_kind", "bad_output"), 2);
	sim_stop(&s);
	free(req);
}

struct slow_call {
	struct sim *s;
	const char *req;
	long        status;
	long long   ms;
};

static void *
slow_call_main(void *arg)
{
	struct slow_call *c = arg;
	char              url[128];
	long long         t0 = harness_now_ms();

	snprintf(url, sizeof(url), "%s/v1/messages", c->s->base);
	if (harness_http("POST", url, hdrs, c->req, &c->status, NULL) != 0)
		c->status = -1;
	c->ms = harness_now_ms() - t0;
	return (NULL);
}

/* A delayed answer must not hold up other requests (lws_sul timer). */
static void
test_latency_does_not_block(void **state)
{
	struct slow_call c = { &main_sim, NULL, 0, 0 };
	pthread_t        t;
	long long        t0, t1, stats_ms = 0;
	long             before, n;
	char            *req;

	(void)state;
	req = summary_request("CALLER: call back later");
	c.req = req;
	set_mode(&main_sim, "{\"latency_ms\":800}");
	before = stat_of(&main_sim, NULL, "requests");
	assert_int_equal(pthread_create(&t, NULL, slow_call_main, &c), 0);
	/*
	 * The slow request is counted on arrival, before its delay.  Every
	 * stats call meanwhile must be quick: a sim that slept in its
	 * service thread would hold one of them for the whole delay.
	 */
	t0 = harness_now_ms();
	do {
		t1 = harness_now_ms();
		n = stat_of(&main_sim, NULL, "requests");
		if (harness_now_ms() - t1 > stats_ms)
			stats_ms = harness_now_ms() - t1;
	} while (n == before && harness_now_ms() - t0 < 700);
	assert_int_equal(n, before + 1);
	pthread_join(t, NULL);
	set_mode(&main_sim, "{\"latency_ms\":0}");
	assert_int_equal(c.status, 200);
	assert_true(c.ms >= 800);
	assert_true(c.ms < 3000);
	assert_true(stats_ms < 300);
	free(req);
}

static void
test_record_file(void **state)
{
	char        rec[512], big[600], *req, *line;
	const char *argv[] = { "--record", rec, NULL };
	struct sim  s;
	json_t     *j;
	long        st;
	FILE       *f;
	size_t      cap = 0;
	int         n = 0;

	(void)state;
	snprintf(rec, sizeof(rec), "%s/record.jsonl", harness_tmpdir());
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(sim_start(&s, argv), 0);
	req = summary_request(big);
	json_decref(post(&s, "/v1/messages", hdrs, req, &st, NULL));
	json_decref(post(&s, "/v1/messages", hdrs, "{}", &st, NULL));
	sim_stop(&s);
	assert_non_null(f = fopen(rec, "r"));
	line = NULL;
	while (getline(&line, &cap, f) > 0) {
		assert_null(strstr(line, KEY)); /* never the key */
		assert_non_null(j = json_loads(line, 0, NULL));
		assert_string_equal(jstr(j, "path"), "/v1/messages");
		if (n++ == 0) {
			assert_int_equal(
			    json_integer_value(json_object_get(j, "status")),
			    200);
			assert_string_equal(
			    jstr(j, "model"), "claude-sonnet-4-6");
			assert_string_equal(
			    json_string_value(json_array_get(
			        json_object_get(j, "tools"), 0)),
			    "record_summary");
			assert_int_equal(strlen(jstr(j, "last_user")), 200);
		} else
			assert_int_equal(
			    json_integer_value(json_object_get(j, "status")),
			    400);
		json_decref(j);
	}
	free(line);
	fclose(f);
	assert_int_equal(n, 2);
	/* nor is it in the sim's log */
	assert_false(harness_log_contains(s.p, KEY));
	free(req);
}

static int
never(void *arg)
{
	(void)arg;
	return (0);
}

static int
file_exists(void *arg)
{
	struct stat sb;

	return (stat(arg, &sb) == 0);
}

static void
test_harness_basics(void **state)
{
	const char *bad_args[] = { "--no-such-flag", NULL };
	const char *url = harness_ipc_url("persister");
	char        want[512];
	long long   t0;

	(void)state;
	assert_true(file_exists((void *)harness_tmpdir()));
	snprintf(
	    want, sizeof(want), "ipc://%s/persister.ipc", harness_tmpdir());
	assert_string_equal(url, want);
	assert_true(harness_free_port() > 1024);
	t0 = harness_now_ms();
	assert_int_equal(harness_wait_for(never, NULL, 100), -1);
	assert_true(harness_now_ms() - t0 >= 100);
	assert_int_equal(harness_wait_for(file_exists,
	                     (void *)harness_log_path(main_sim.p), 100),
	    0);
	assert_true(harness_alive(main_sim.p));
	assert_true(harness_log_contains(main_sim.p, "\"msg\":\"ready\""));
	/* a missing binary, and one that exits before it is ready */
	assert_null(harness_spawn("no-such-daemon", NULL));
	t0 = harness_now_ms();
	assert_null(harness_spawn_args("sim-anthropic", bad_args, NULL));
	assert_true(harness_now_ms() - t0 < 5000);
}

/* SIGKILL is reported as 128 + 9; a later stop returns the same. */
static void
test_harness_kill9(void **state)
{
	struct sim s;

	(void)state;
	assert_int_equal(sim_start(&s, NULL), 0);
	assert_int_equal(harness_kill9(s.p), 128 + 9);
	assert_false(harness_alive(s.p));
	assert_int_equal(harness_stop(s.p, 100), 128 + 9);
}

static const char *
need_pg(void)
{
	const char *dsn = getenv("TEST_PG_DSN");

	if (dsn == NULL || *dsn == '\0')
		fail_msg(
		    "TEST_PG_DSN is not set: run via tests/run.sh, or "
		    "export TEST_PG_DSN=\"$(tests/pg.sh start /tmp/pgx)\"");
	return (dsn);
}

static void
test_pg_roundtrip(void **state)
{
	struct pgtest_schema s;
	const char          *p2[2];
	char                *text = NULL, *sql;
	long                 n;

	(void)state;
	need_pg();
	assert_int_equal(pgtest_schema_new(&s, 0), 0);
	assert_non_null(strstr(s.dsn, s.name));
	/* unqualified names land in the test schema */
	assert_int_equal(pgtest_exec(s.dsn,
	                     "CREATE TABLE calls (sid text "
	                     "PRIMARY KEY, secs int)"),
	    0);
	p2[0] = "CA'; DROP TABLE calls; --";
	p2[1] = "42";
	assert_int_equal(pgtest_exec_params(s.dsn,
	                     "INSERT INTO calls "
	                     "VALUES ($1, $2::int)",
	                     2, p2),
	    0);
	assert_int_equal(pgtest_query_int_params(s.dsn,
	                     "SELECT secs FROM "
	                     "calls WHERE sid = $1",
	                     1, p2, &n),
	    0);
	assert_int_equal(n, 42);
	assert_int_equal(
	    pgtest_query_text(s.dsn, "SELECT sid FROM calls", &text), 0);
	assert_string_equal(text, p2[0]);
	free(text);
	assert_int_equal(
	    pgtest_query_text(s.dsn, "SELECT NULL::text", &text), 0);
	assert_null(text);
	p2[0] = s.name;
	assert_int_equal(pgtest_query_int_params(s.base_dsn,
	                     "SELECT count(*) FROM information_schema.tables "
	                     "WHERE table_schema = $1 AND table_name = "
	                     "'calls'",
	                     1, p2, &n),
	    0);
	assert_int_equal(n, 1);
	/* errors are reported, not hidden */
	assert_int_equal(pgtest_exec(s.dsn, "SELECT * FROM no_such"), -1);
	assert_int_equal(pgtest_query_int(s.dsn, "SELECT 'x'", &n), -1);
	sql = strdup(s.base_dsn);
	assert_int_equal(pgtest_schema_drop(&s), 0);
	assert_int_equal(pgtest_query_int_params(sql,
	                     "SELECT count(*) FROM pg_namespace WHERE "
	                     "nspname = $1",
	                     1, p2, &n),
	    0);
	assert_int_equal(n, 0);
	free(sql);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Migrations run in name order, inside the test schema. */
static void
test_pg_migrations(void **state)
{
	struct pgtest_schema s;
	char                 top[512], dir[600], path[700], *old;
	long                 n;

	(void)state;
	need_pg();
	snprintf(top, sizeof(top), "%s/top", harness_tmpdir());
	snprintf(dir, sizeof(dir), "%s/services/persister/migrations", top);
	snprintf(path, sizeof(path), "mkdir -p '%s'", dir);
	assert_int_equal(system(path), 0);
	snprintf(path, sizeof(path), "%s/002_more.sql", dir);
	write_file(path,
	    "ALTER TABLE leads ADD COLUMN status text;\n"
	    "INSERT INTO leads VALUES (1, 'new');\n");
	snprintf(path, sizeof(path), "%s/001_init.sql", dir);
	write_file(path, "CREATE TABLE leads (id int PRIMARY KEY);\n");
	old = getenv("TOP_DIR") ? strdup(getenv("TOP_DIR")) : NULL;
	setenv("TOP_DIR", top, 1);
	assert_int_equal(pgtest_schema_new(&s, 1), 0);
	if (old != NULL)
		setenv("TOP_DIR", old, 1);
	else
		unsetenv("TOP_DIR");
	free(old);
	assert_int_equal(pgtest_query_int(s.dsn,
	                     "SELECT count(*) FROM leads "
	                     "WHERE status = 'new'",
	                     &n),
	    0);
	assert_int_equal(n, 1);
	assert_int_equal(pgtest_schema_drop(&s), 0);
	/* the real tree: whatever migrations exist must apply cleanly */
	assert_int_equal(pgtest_schema_new(&s, 1), 0);
	assert_int_equal(pgtest_schema_drop(&s), 0);
}

/* A private cluster survives a crash with its committed data. */
static void
test_pg_private_cluster(void **state)
{
	struct pgtest_cluster c;
	char                  dir[sizeof(c.dir)];
	long                  n;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(pgtest_cluster_start(&c), 0);
	snprintf(dir, sizeof(dir), "%s", c.dir);
	assert_int_equal(pgtest_exec(c.dsn,
	                     "CREATE TABLE t (v int); "
	                     "INSERT INTO t VALUES (7)"),
	    0);
	assert_int_equal(pgtest_cluster_kill(&c), 0);
	assert_int_equal(pgtest_query_int(c.dsn, "SELECT 1", &n), -1);
	assert_int_equal(pgtest_cluster_restart(&c), 0);
	assert_int_equal(pgtest_query_int(c.dsn, "SELECT v FROM t", &n), 0);
	assert_int_equal(n, 7);
	assert_int_equal(
	    pgtest_query_int(c.dsn, "SHOW max_connections", &n), 0);
	assert_int_equal(n, 200);
	assert_int_equal(pgtest_cluster_restart(&c), 0);
	assert_int_equal(
	    pgtest_query_int(c.dsn, "SELECT count(*) FROM t", &n), 0);
	assert_int_equal(n, 1);
	pgtest_cluster_destroy(&c);
	if (getenv("KEEP_TMP") == NULL || strcmp(getenv("KEEP_TMP"), "1"))
		assert_false(file_exists(dir));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_harness_basics),
		cmocka_unit_test(test_harness_kill9),
		cmocka_unit_test(test_tool_reply_goal),
		cmocka_unit_test(test_tool_reply_outcomes),
		cmocka_unit_test(test_text_reply),
		cmocka_unit_test(test_invalid_requests),
		cmocka_unit_test(test_model_rejections),
		cmocka_unit_test(test_fail_then_recover),
		cmocka_unit_test(test_bad_output),
		cmocka_unit_test(test_latency_does_not_block),
		cmocka_unit_test(test_record_file),
		cmocka_unit_test(test_pg_roundtrip),
		cmocka_unit_test(test_pg_migrations),
		cmocka_unit_test(test_pg_private_cluster),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
