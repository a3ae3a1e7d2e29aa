/*
 * api_calls_test - the calls API on the whole product (e2e_fixture.h:
 * the five real daemons, a fresh schema of the test PostgreSQL,
 * sim-twilio, sim-openai, sim-anthropic).
 *
 * Cases: bad input on every endpoint (no or wrong token, malformed JSON,
 * unknown fields, each per-call setting out of range, an oversized body,
 * bad sids, unknown sids, bad query parameters, wrong methods), each a
 * 4xx naming the reason (and the field), counted in
 * edge_api_refused_total, and with no side effect: no provider call, no
 * calls row.  Then a call placed with per-call settings and metadata
 * runs to its end and reads back through GET /calls/{sid} (status
 * timeline, transcript, summary, settings) and GET /calls (filters and
 * pages) with its token usage (also in the daemons' Prometheus
 * counters), and its voice, transcription language, persona and greeting
 * reached the model's session.update; a second call placed through the seeds'
 * POST /api/call {from, to} is hung up through POST /calls/{sid}/hangup.
 */
#include "e2e_fixture.h"

#define SPEAK_AT "400,5000,9200,13800"
#define SECOND_PHONE "+14155550177"
#define DNC_PHONE "+14155550188"
#define DASH_SECRET "api-test-dashboard-secret-5f1e"

/* A dashboard token (dash.c's format) for scope, valid an hour. */
static void
dash_token(const char *scope, const char *key, char *out, size_t len)
{
	char msg[128], hex[65];

	snprintf(msg, sizeof(msg), "dsh1.%s.%lld", scope,
	    (long long)time(NULL) + 3600);
	assert_int_equal(hmac_sha256_hex(key, msg, strlen(msg), hex), 0);
	snprintf(out, len, "%s.%s", msg, hex);
}

static struct e2e E;

static int
setup(void **state)
{
	struct e2e_opts o = { 0 };

	(void)state;
	static const char *const edge_env[]
	    = { "EDGE_DASHBOARD_SECRET=" DASH_SECRET, NULL };

	o.script = "outbound.json";
	o.speak_at = SPEAK_AT;
	o.edge_env = edge_env;
	o.dtmf = "4@2600,2@2700,#@2800"; /* every call's callee presses */
	e2e_start(&E, &o);
	e2e_seed(&E);
	return (0);
}

static int
teardown(void **state)
{
	(void)state;
	e2e_assert_no_phone_in_logs(&E, E2E_LEAD_PHONE);
	e2e_stop(&E);
	return (0);
}

/* method path with a bearer token (NULL: none); status, *respp. */
static long
api(const char *method, const char *path, const char *token, const char *body,
    char **respp)
{
	const char *h[3] = { "Content-Type: application/json", NULL, NULL };
	char        url[700], auth[200], *resp = NULL;
	long        status = 0;

	if (token != NULL) {
		snprintf(
		    auth, sizeof(auth), "Authorization: Bearer %s", token);
		h[1] = auth;
	}
	snprintf(url, sizeof(url), "%s%s", E.edge_base, path);
	assert_int_equal(
	    harness_http(method, url, h, body, &status, &resp), 0);
	if (respp != NULL)
		*respp = resp;
	else
		free(resp);
	return (status);
}

/* A series of daemon d's /metrics (0 when absent). */
static double
metric(int d, const char *series)
{
	char   url[128], want[200], *body = NULL, *p;
	long   status = 0;
	double v = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", E.http[d]);
	snprintf(want, sizeof(want), "%s ", series);
	assert_int_equal(
	    harness_http("GET", url, NULL, NULL, &status, &body), 0);
	if ((p = strstr(body, want)) != NULL)
		v = strtod(p + strlen(want), NULL);
	free(body);
	return (v);
}

/* The edge's edge_api_refused_total{route,reason}. */
static double
refused(const char *route, const char *reason)
{
	char series[160];

	snprintf(series, sizeof(series),
	    "edge_api_refused_total{route=\"%s\",reason=\"%s\"}", route,
	    reason);
	return (metric(E2E_EDGE, series));
}

/* Expect status and, in the JSON answer, reason containing why and
 * field (if not NULL); the refusal is counted under route/label. */
static void
expect(const char *method, const char *path, const char *token,
    const char *body, long want, const char *route, const char *label,
    const char *field)
{
	double  before = refused(route, label);
	char   *resp = NULL;
	long    st = api(method, path, token, body, &resp);
	json_t *o = json_loads(resp != NULL ? resp : "", 0, NULL);

	print_message("%s %s -> %ld %s\n", method, path, st, resp);
	assert_int_equal(st, want);
	assert_non_null(json_string_value(json_object_get(o, "reason")));
	if (field != NULL)
		assert_string_equal(
		    json_string_value(json_object_get(o, "field")), field);
	assert_true(refused(route, label) == before + 1);
	json_decref(o);
	free(resp);
}

static void
test_bad_input(void **state)
{
	const char *T = E2E_API_TOKEN;
	char        big[70 * 1024];

	(void)state;
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[0] = '{';
	big[sizeof(big) - 2] = '}';

	expect("GET", "/calls", NULL, NULL, 401, "list", "unauthorized", NULL);
	expect("GET", "/calls/CA1", "nope", NULL, 401, "get", "unauthorized",
	    NULL);
	expect("POST", "/calls/CA1/hangup", "nope", "", 401, "hangup",
	    "unauthorized", NULL);
	expect("POST", "/calls", "nope", "{}", 401, "create", "unauthorized",
	    NULL);
	expect(
	    "POST", "/calls", T, "{\"to\":", 400, "create", "bad_json", NULL);
	expect("POST", "/calls", T, "[1]", 400, "create", "bad_json", NULL);
	expect("POST", "/calls", T,
	    "{\"to\":\"" E2E_LEAD_PHONE "\",\"colour\":\"red\"}", 400,
	    "create", "bad_field", "colour");
	expect("POST", "/calls", T,
	    "{\"to\":\"" E2E_LEAD_PHONE "\",\"voice\":\"robot\"}", 400,
	    "create", "bad_field", "voice");
	expect("POST", "/calls", T,
	    "{\"to\":\"" E2E_LEAD_PHONE "\",\"language\":\"English\"}", 400,
	    "create", "bad_field", "language");
	expect("POST", "/calls", T,
	    "{\"to\":\"" E2E_LEAD_PHONE "\",\"max_duration_s\":3}", 400,
	    "create", "bad_field", "max_duration_s");
	expect("POST", "/calls", T,
	    "{\"to\":\"" E2E_LEAD_PHONE "\",\"max_duration_s\":\"60\"}", 400,
	    "create", "bad_field", "max_duration_s");
	expect("POST", "/calls", T,
	    "{\"to\":\"" E2E_LEAD_PHONE "\",\"metadata\":[1]}", 400, "create",
	    "bad_field", "metadata");
	expect("POST", "/calls", T,
	    "{\"to\":\"" E2E_LEAD_PHONE "\",\"greeting\":7}", 400, "create",
	    "bad_field", "greeting");
	expect("POST", "/calls", T, "{\"to\":\"555\"}", 400, "create",
	    "bad_field", "to");
	expect("POST", "/calls", T, big, 413, "create", "too_large", NULL);
	expect("GET", "/calls/CA%24x", T, NULL, 400, "get", "bad_sid", NULL);
	expect("GET", "/calls/CA1/what", T, NULL, 404, "get", "unknown_path",
	    NULL);
	expect("POST", "/calls/CA1", T, "", 405, "get", "method", NULL);
	expect("GET", "/calls/CA1/hangup", T, NULL, 405, "hangup", "method",
	    NULL);
	expect("POST", "/calls/CA1/hangup", T, "{\"x\":1}", 400, "hangup",
	    "bad_json", NULL);
	expect("GET", "/calls?limit=0", T, NULL, 400, "list", "bad_query",
	    "limit");
	expect("GET", "/calls?limit=500", T, NULL, 400, "list", "bad_query",
	    "limit");
	expect("GET", "/calls?colour=red", T, NULL, 400, "list", "bad_query",
	    "colour");
	expect("GET", "/calls?since=yesterday", T, NULL, 400, "list",
	    "bad_query", "since");
	expect("GET", "/calls?status=a&status=b", T, NULL, 400, "list",
	    "bad_query", "status");
	snprintf(big, sizeof(big), "/calls?lead_id=%0600d&limit=5", 7);
	expect("GET", big, T, NULL, 400, "list", "bad_query", NULL);
	/* well-formed but unknown: 404 from persister and the provider */
	assert_int_equal(api("GET", "/calls/CAunknown", T, NULL, NULL), 404);
	assert_int_equal(
	    api("POST", "/calls/CAunknown/hangup", T, "", NULL), 404);
	/* nothing of the above placed or recorded a call: the one REST
	 * request is the refused hang-up of CAunknown */
	assert_int_equal(e2e_nrecords(E.tw_rec, "kind", "rest"), 1);
	assert_int_equal(e2e_count(&E, "SELECT count(*) FROM calls"), 0);
}

/* The do-not-call list: bad input, add, a refused call, remove. */
static void
test_dnc(void **state)
{
	const char *T = E2E_API_TOKEN;
	char        hash[65], *resp = NULL;
	const char *p[1] = { hash };
	long        n = -1;
	double      listed;

	(void)state;
	expect("POST", "/dnc", NULL, "{\"phone\":\"" DNC_PHONE "\"}", 401,
	    "dnc", "unauthorized", NULL);
	expect("GET", "/dnc", T, NULL, 405, "dnc", "method", NULL);
	expect("POST", "/dnc", T, "{\"phone\":\"4155550188\"}", 400, "dnc",
	    "bad_field", "phone");
	expect("POST", "/dnc", T, "{\"phone\":\"" DNC_PHONE "\",\"x\":1}", 400,
	    "dnc", "bad_field", "x");
	expect("POST", "/dnc/remove", T, "nope", 400, "dnc", "bad_json", NULL);
	assert_int_equal(e2e_count(&E, "SELECT count(*) FROM do_not_call"), 0);

	assert_int_equal(
	    api("POST", "/dnc", T, "{\"phone\":\"" DNC_PHONE "\"}", &resp),
	    200);
	print_message("POST /dnc: %s\n", resp);
	free(resp);
	e2e_phone_hash(DNC_PHONE, hash);
	assert_int_equal(pgtest_query_int_params(E.db.dsn,
	                     "SELECT count(*) FROM do_not_call WHERE "
	                     "key_hash = $1",
	                     1, p, &n),
	    0);
	assert_int_equal(n, 1);
	listed = metric(
	    E2E_RL, "rate_limit_dnc_total{op=\"check\",result=\"listed\"}");
	assert_int_equal(
	    api("POST", "/calls", T, "{\"to\":\"" DNC_PHONE "\"}", &resp),
	    403);
	print_message("POST /calls to a listed number: %s\n", resp);
	assert_non_null(strstr(resp, "do_not_call"));
	free(resp);
	assert_true(metric(E2E_RL,
	                "rate_limit_dnc_total{op=\"check\",result=\"listed\"}")
	    == listed + 1);
	assert_int_equal(e2e_nrecords(E.tw_rec, "kind", "rest"), 1);
	assert_int_equal(e2e_count(&E, "SELECT count(*) FROM calls"), 0);

	assert_int_equal(api("POST", "/dnc/remove", T,
	                     "{\"phone\":\"" DNC_PHONE "\"}", NULL),
	    200);
	assert_int_equal(e2e_count(&E, "SELECT count(*) FROM do_not_call"), 0);
}

/* A dashboard:read token reads the calls API (as a bearer token or in
 * the dashboard's cookie) and can write nothing. */
static void
test_read_scope(void **state)
{
	char        tok[256], forged[256], url[128], cookie[300], *resp = NULL;
	const char *h[3] = { "Content-Type: application/json", cookie, NULL };
	long        st = 0;

	(void)state;
	dash_token("dashboard:read", DASH_SECRET, tok, sizeof(tok));
	dash_token("dashboard:read", "another-secret-0123456789", forged,
	    sizeof(forged));
	assert_int_equal(api("GET", "/calls", tok, NULL, NULL), 200);
	assert_int_equal(api("GET", "/calls/CAunknown", tok, NULL, NULL), 404);
	expect(
	    "GET", "/calls", forged, NULL, 401, "list", "unauthorized", NULL);
	expect("POST", "/calls/CA1/hangup", tok, "", 403, "hangup", "scope",
	    NULL);
	expect("POST", "/dnc", tok, "{\"phone\":\"" DNC_PHONE "\"}", 403,
	    "dnc", "scope", NULL);
	expect("POST", "/calls", tok, "{\"to\":\"" E2E_LEAD_PHONE "\"}", 403,
	    "create", "scope", NULL);
	/* the dashboard page's cookie: reads only */
	snprintf(cookie, sizeof(cookie), "Cookie: edge_dash=%s", tok);
	snprintf(url, sizeof(url), "%s/calls?limit=5", E.edge_base);
	assert_int_equal(harness_http("GET", url, h, NULL, &st, &resp), 0);
	assert_int_equal(st, 200);
	free(resp);
	snprintf(url, sizeof(url), "%s/calls", E.edge_base);
	assert_int_equal(harness_http("POST", url, h,
	                     "{\"to\":\"" E2E_LEAD_PHONE "\"}", &st, &resp),
	    0);
	assert_int_equal(st, 401);
	free(resp);
	assert_int_equal(e2e_nrecords(E.tw_rec, "kind", "rest"), 1);
	assert_int_equal(e2e_count(&E, "SELECT count(*) FROM calls"), 0);
}

static const char *
str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	assert_non_null(s);
	return (s);
}

static long long
num(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	assert_true(json_is_integer(v));
	return ((long long)json_integer_value(v));
}

static void
check_call(const char *sid)
{
	char    path[128], *resp = NULL, *s;
	json_t *o, *st;

	snprintf(path, sizeof(path), "/calls/%s", sid);
	assert_int_equal(api("GET", path, E2E_API_TOKEN, NULL, &resp), 200);
	o = json_loads(resp, 0, NULL);
	assert_non_null(o);
	print_message("GET %s: %.600s...\n", path, resp);
	assert_string_equal(str(o, "call_sid"), sid);
	assert_string_equal(str(o, "direction"), "outbound");
	assert_string_equal(str(o, "lead_id"), E2E_LEAD);
	assert_non_null(json_object_get(o, "ended_at"));
	assert_true(json_array_size(json_object_get(o, "timeline")) >= 3);
	assert_string_equal(
	    str(json_array_get(json_object_get(o, "timeline"), 0), "kind"),
	    "status");
	assert_true(json_array_size(json_object_get(o, "transcript")) >= 4);
	assert_non_null(str(json_object_get(o, "summary"), "summary"));
	st = json_object_get(o, "settings");
	assert_string_equal(str(st, "voice"), "coral");
	assert_string_equal(str(st, "language"), "en");
	assert_string_equal(str(st, "greeting"), "Hello Dana!");
	assert_int_equal(
	    json_integer_value(json_object_get(st, "max_duration_s")), 120);
	assert_string_equal(
	    str(json_object_get(o, "metadata"), "campaign"), "spring");
	assert_null(strstr(resp, E2E_LEAD_PHONE + 1));
	/* what it cost: the model's responses and the reasoner's answers */
	st = json_object_get(o, "usage");
	s = json_dumps(st, JSON_COMPACT);
	print_message("usage: %s\n", s);
	free(s);
	assert_true(num(st, "model_responses") >= 2);
	assert_true(num(st, "model_input_tokens") >= 100);
	assert_true(num(st, "model_output_tokens") > 0);
	assert_true(num(st, "reasoner_input_tokens") > 0);
	assert_true(num(st, "reasoner_output_tokens") > 0);
	assert_true(metric(E2E_AI, "ai_model_tokens_total{kind=\"input\"}")
	    >= (double)num(st, "model_input_tokens"));
	assert_true(
	    metric(E2E_AI, "ai_reasoner_tokens_total{direction=\"output\"}")
	    > 0);
	assert_true(metric(E2E_RSN,
	                "reasoner_tokens_total{kind=\"summary\",direction="
	                "\"input\"}")
	    > 0);
	json_decref(o);
	free(resp);
}

/* The model's session.update for the call with the settings: voice,
 * transcription language, persona and greeting in the instructions. */
static void
check_session_update(void)
{
	json_t     *a = e2e_records(E.oai_rec, "type", "session.update"), *u;
	size_t      i;
	int         seen = 0;
	const char *ins;

	json_array_foreach(a, i, u)
	{
		if (json_string_value(json_object_get(u, "voice")) == NULL
		    || strcmp(str(u, "voice"), "coral") != 0)
			continue;
		seen++;
		assert_string_equal(
		    str(json_object_get(u, "transcription"), "language"),
		    "en");
		ins = str(u, "instructions");
		assert_non_null(strstr(ins, "You are Sam, calm and brief."));
		assert_non_null(strstr(ins, "\"Hello Dana!\""));
		assert_null(strstr(ins, "spring")); /* metadata stays out */
	}
	assert_int_equal(seen, 1);
	json_decref(a);
}

/* The keys the callee pressed: one user item to the model, one turn. */
static void
check_dtmf(const char *sid)
{
	json_t *a = e2e_records(E.oai_rec, "type", "conversation.item.create"),
	       *u;
	size_t      i;
	int         seen = 0;
	const char *r, *t;

	json_array_foreach(a, i, u)
	{
		r = json_string_value(json_object_get(u, "role"));
		t = json_string_value(json_object_get(u, "text"));
		if (r != NULL && t != NULL && strcmp(r, "user") == 0
		    && strcmp(t, "[keypad] 4 2 #") == 0)
			seen++;
	}
	json_decref(a);
	assert_true(seen >= 1);
	assert_int_equal(e2e_count_sid(&E,
	                     "SELECT count(*) FROM transcript_turns WHERE "
	                     "call_sid = $1 AND role = 'user' AND "
	                     "text = '[keypad] 4 2 #'",
	                     sid),
	    1);
}

static json_t *
list(const char *query)
{
	char    path[256], *resp = NULL;
	json_t *o;

	snprintf(path, sizeof(path), "/calls%s", query);
	assert_int_equal(api("GET", path, E2E_API_TOKEN, NULL, &resp), 200);
	o = json_loads(resp, 0, NULL);
	assert_non_null(o);
	free(resp);
	return (o);
}

static void
wait_in_progress(const char *sid)
{
	long long end = harness_now_ms() + 20000;
	json_t   *v;
	bool      up = false;

	while (!up && harness_now_ms() < end) {
		v = e2e_tw_call(&E, sid);
		up = v != NULL && json_is_string(json_object_get(v, "status"))
		    && strcmp(str(v, "status"), "in-progress") == 0;
		json_decref(v);
		e2e_sleep_ms(100);
	}
	assert_true(up);
}

static void
test_call_read_back(void **state)
{
	char        sid[64], sid2[64], q[128], *resp = NULL;
	json_t     *o, *a;
	const char *c;
	long        st;

	(void)state;
	st = api("POST", "/calls", E2E_API_TOKEN,
	    "{\"to\":\"" E2E_LEAD_PHONE "\",\"lead_id\":\"" E2E_LEAD "\","
	    "\"objective\":\"Book Dana's yearly boiler service.\","
	    "\"voice\":\"coral\",\"language\":\"en\",\"instructions\":"
	    "\"You are Sam, calm and brief.\",\"greeting\":\"Hello Dana!\","
	    "\"max_duration_s\":120,\"metadata\":{\"campaign\":\"spring\"}}",
	    &resp);
	assert_int_equal(st, 201);
	o = json_loads(resp, 0, NULL);
	snprintf(sid, sizeof(sid), "%s", str(o, "call_sid"));
	json_decref(o);
	free(resp);
	/* the per-call limit went to the provider as the call's TimeLimit */
	a = e2e_records(E.tw_rec, "kind", "rest");
	assert_string_equal(
	    str(json_object_get(
	            json_array_get(a, json_array_size(a) - 1), "params"),
	        "TimeLimit"),
	    "120");
	json_decref(a);
	assert_int_equal(e2e_wait_record(&E, sid, 0, 40000), 0);
	check_call(sid);
	check_session_update();
	check_dtmf(sid);

	/* the seeds' path: POST /api/call {from, to} */
	st = api("POST", "/api/call", E2E_API_TOKEN,
	    "{\"from\":\"" E2E_FROM "\",\"to\":\"" SECOND_PHONE "\"}", &resp);
	assert_int_equal(st, 201);
	o = json_loads(resp, 0, NULL);
	snprintf(sid2, sizeof(sid2), "%s", str(o, "call_sid"));
	json_decref(o);
	free(resp);
	wait_in_progress(sid2);

	/* the list: newest first, filters, pages */
	o = list("?limit=1");
	a = json_object_get(o, "calls");
	assert_int_equal(json_array_size(a), 1);
	assert_string_equal(str(json_array_get(a, 0), "call_sid"), sid2);
	assert_true(json_is_integer(json_object_get(o, "next_cursor")));
	snprintf(q, sizeof(q), "?limit=1&cursor=%lld",
	    (long long)json_integer_value(json_object_get(o, "next_cursor")));
	json_decref(o);
	o = list(q);
	a = json_object_get(o, "calls");
	assert_int_equal(json_array_size(a), 1);
	assert_string_equal(str(json_array_get(a, 0), "call_sid"), sid);
	assert_true(json_is_null(json_object_get(o, "next_cursor")));
	json_decref(o);
	o = list("?lead_id=" E2E_LEAD "&status=completed");
	a = json_object_get(o, "calls");
	assert_int_equal(json_array_size(a), 1);
	c = str(json_array_get(a, 0), "call_sid");
	assert_string_equal(c, sid);
	json_decref(o);
	o = list("?until=1000");
	assert_int_equal(json_array_size(json_object_get(o, "calls")), 0);
	json_decref(o);

	/* hang the second call up through the API */
	snprintf(q, sizeof(q), "/calls/%s/hangup", sid2);
	assert_int_equal(api("POST", q, E2E_API_TOKEN, "", NULL), 200);
	o = e2e_tw_wait_done(&E, sid2, 10000);
	assert_non_null(o);
	assert_string_equal(str(o, "status"), "completed");
	json_decref(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_dnc),
		cmocka_unit_test(test_read_scope),
		cmocka_unit_test(test_call_read_back),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
