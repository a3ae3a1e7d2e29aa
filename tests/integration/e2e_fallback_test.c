/*
 * e2e_fallback_test - a call that cannot be served is not left in
 * silence: the caller hears media-edge's fallback message (the <Say>
 * after </Connect> of /twiml, which the provider reaches when the stream
 * ends without the call being completed), the call ends cleanly, and its
 * row says why.
 *
 *   no ai-session:  ai-session is down; SessionStart fails; media-edge
 *                   stores the record (status failed, "not served: ...")
 *                   and ends the stream.
 *   model lost:     every model socket drops 1.5 s after it opened;
 *                   after AI_MODEL_RECONNECTS new sessions (each
 *                   dropped too) ai-session ends the call
 *                   (model_closed) with
 *                   HangUp{failed} and stores its record with the reason
 *                   (status failed when nothing was said yet, else the
 *                   end reason), media-edge ends the stream.
 *
 * A call that ends normally hears nothing more: media-edge completes it
 * through the provider before it closes the stream (e2e_inbound_test
 * asserts an empty "said").  Bounded: about 20 s.
 */
#include "e2e_fixture.h"

#define CALLER "+14155550188"
#define FALLBACK "Sorry, we cannot continue this call right now."

/* sim-twilio's view once the call is over: completed, the fallback
 * spoken once after the stream. */
static void
check_heard_fallback(struct e2e *e, const char *sid)
{
	json_t     *v, *said;
	const char *s;

	v = e2e_tw_wait_done(e, sid, 30000);
	assert_non_null(v);
	assert_string_equal(
	    json_string_value(json_object_get(v, "status")), "completed");
	said = json_object_get(v, "said");
	assert_int_equal(json_array_size(said), 1);
	s = json_string_value(json_array_get(said, 0));
	assert_non_null(s);
	print_message("caller heard: %s\n", s);
	assert_non_null(strstr(s, FALLBACK));
	assert_int_equal(json_array_size(json_object_get(v, "streams")), 1);
	json_decref(v);
}

static long
edge_metric(struct e2e *e, const char *series)
{
	char  url[96], *body = NULL, *p;
	long  status = 0, v = -1;
	char *end;

	snprintf(url, sizeof(url), "%s/metrics", e->edge_base);
	if (harness_http("GET", url, NULL, NULL, &status, &body) != 0)
		return (-1);
	if ((p = strstr(body, series)) != NULL)
		v = strtol(p + strlen(series) + 1, &end, 10);
	free(body);
	return (v);
}

/* One inbound call on a stack started with o (without its ai-session
 * when no_ai): the caller hears the fallback, the row matches where_sql,
 * media-edge counted the fallback under series. */
static void
fallback_call(
    struct e2e_opts *o, bool no_ai, const char *where_sql, const char *series)
{
	struct e2e e;
	char       sid[64], sql[300], *s;

	o->script = "inbound.json";
	e2e_start(&e, o);
	e2e_seed(&e);
	if (no_ai) {
		assert_int_equal(harness_stop(e.d[E2E_AI], 10000), 0);
		e.d[E2E_AI] = NULL;
	}
	e2e_tw_inbound(&e, CALLER, sid, sizeof(sid));
	check_heard_fallback(&e, sid);
	snprintf(sql, sizeof(sql),
	    "SELECT end_reason FROM calls WHERE ended_at IS NOT NULL AND %s",
	    where_sql);
	s = e2e_db_wait(&e, sql, 10000);
	assert_non_null(s);
	print_message("end reason: %s\n", s);
	free(s);
	assert_int_equal(edge_metric(&e, series), 1);
	e2e_stop(&e);
}

static void
test_no_ai_session(void **state)
{
	static const char *const edge_env[] = { "EDGE_SESSION_TIMEOUT_MS=500",
		"EDGE_SESSION_ATTEMPTS=2", NULL };
	struct e2e_opts          o = { 0 };

	(void)state;
	o.edge_env = edge_env;
	fallback_call(&o, true,
	    "status = 'failed' AND end_reason LIKE 'not served:%'",
	    "edge_fallbacks_total{reason=\"no_ai_session\"}");
}

static void
test_model_lost(void **state)
{
	static const char *const oai_args[]
	    = { "--drop-after-ms", "1500", NULL };
	struct e2e_opts o = { 0 };

	(void)state;
	o.oai_args = oai_args;
	fallback_call(&o, false, "end_reason = 'connection lost'",
	    "edge_fallbacks_total{reason=\"ai_session_failed\"}");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_ai_session),
		cmocka_unit_test(test_model_lost),
	};

	if (getenv("TEST_FILTER") != NULL) /* one test: TEST_FILTER=test_x */
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
