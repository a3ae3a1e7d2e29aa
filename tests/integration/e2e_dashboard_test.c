/*
 * e2e_dashboard_test - the live dashboard in a real headless Chromium
 * against the whole product (e2e_fixture.h), driven through the
 * DevTools protocol by tests/browser/dashboard.mjs.
 *
 * test_bad_input: what the dashboard refuses, each with a clear 4xx, a
 * reason and edge_dashboard_refusals_total{reason}: a cross-origin
 * /events upgrade (403), no cookie (401), an expired cookie (401), a
 * token for another scope (403), the master API token offered as a
 * dashboard token (401), an oversized sign-in body (413), a sign-in from
 * another origin (403), a socket whose cookie's token expires while it
 * is open (closed with 1008); and what it must send: the strict
 * Content-Security-Policy, nosniff, an HttpOnly SameSite=Strict cookie.
 *
 * test_browser: the page loads, refuses a bad token, signs in; a call
 * placed through POST /calls appears in progress, its transcript lines
 * arrive while it is still in progress, it ends in "Recent calls" with
 * its outcome and summary, and a rate-limited POST /calls is listed as a
 * refusal, and so is a rate-limited inbound caller; no phone number on the
 * page, no CSP violation or script error.  The screenshot goes to
 * $DASH_SCREENSHOT (docs/dashboard.png was made so) or the scratch directory.
 * Bounded: about 40 s.
 */
#include <sys/time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "e2e_fixture.h"

#define DASH_SECRET "e2e-dashboard-secret-5f2a91c0"
#define LIMITED "+14155550142"
#define SPEAK_AT "400,5000,9200,13800"

static struct e2e E;

static void
make_token(const char *secret, const char *scope, long long exp, char *out,
    size_t len)
{
	char msg[128], hex[65];
	int  n;

	n = snprintf(msg, sizeof(msg), "dsh1.%s.%lld", scope, exp);
	assert_int_equal(hmac_sha256_hex(secret, msg, (size_t)n, hex), 0);
	snprintf(out, len, "%s.%s", msg, hex);
}

static void
good_token(char *out, size_t len)
{
	make_token(DASH_SECRET, "dashboard:read", (long long)time(NULL) + 3600,
	    out, len);
}

/* The status of an /events upgrade with these extra header lines
 * ("Name: value\r\n" each), or -1; the socket in *fdp when fdp is not
 * NULL, else closed. */
static int
upgrade_fd(const char *extra, int *fdp)
{
	struct sockaddr_in sa;
	char               req[1024], buf[1024];
	int                fd, n, got = 0, status = -1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)E.http[E2E_EDGE]);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return (-1);
	}
	n = snprintf(req, sizeof(req),
	    "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n%s\r\n",
	    extra);
	/* byte by byte: nothing after the headers is read here */
	if (write(fd, req, (size_t)n) == n)
		while (got < (int)sizeof(buf) - 1
		    && read(fd, buf + got, 1) == 1) {
			buf[++got] = '\0';
			if (strstr(buf, "\r\n\r\n") != NULL)
				break;
		}
	if (got > 12 && strncmp(buf, "HTTP/1.", 7) == 0)
		status = (int)strtol(buf + 9, NULL, 10);
	print_message("/events upgrade with [%.*s]: %d\n",
	    (int)strcspn(extra, "\r"), extra, status);
	if (fdp != NULL)
		*fdp = fd;
	else
		close(fd);
	return (status);
}

static int
upgrade(const char *extra)
{
	return (upgrade_fd(extra, NULL));
}

/* media-edge's counter <name>{reason="<reason>"}, 0 when absent. */
static double
counter(const char *name, const char *reason)
{
	char   url[96], series[160], *body = NULL, *p;
	long   status = 0;
	double v = 0;

	snprintf(url, sizeof(url), "%s/metrics", E.edge_base);
	snprintf(series, sizeof(series), "\n%s{reason=\"%s\"} ", name, reason);
	assert_int_equal(
	    harness_http("GET", url, NULL, NULL, &status, &body), 0);
	if ((p = strstr(body, series)) != NULL)
		v = strtod(p + strlen(series), NULL);
	free(body);
	return (v);
}

static double
refusals(const char *reason)
{
	return (counter("edge_dashboard_refusals_total", reason));
}

/* A request to the dashboard; the body is returned in *resp. */
static long
dash(const char *method, const char *path, const char *const *headers,
    const char *body, char **resp, char **hdrs)
{
	char url[160];
	long status = 0;

	snprintf(url, sizeof(url), "%s%s", E.edge_base, path);
	assert_int_equal(harness_http_full(method, url, headers, body, 10000,
	                     &status, resp, hdrs),
	    0);
	print_message("%s %s: %ld %s\n", method, path, status,
	    resp != NULL && *resp != NULL && strlen(*resp) < 200 ? *resp : "");
	return (status);
}

/* One refusal: the status, the reason in the body, the metric. */
static void
refused(const char *method, const char *path, const char *const *headers,
    const char *body, long want, const char *reason)
{
	double before = refusals(reason);
	char  *resp = NULL, need[96];

	assert_int_equal(dash(method, path, headers, body, &resp, NULL), want);
	snprintf(need, sizeof(need), "\"reason\":\"%s\"", reason);
	assert_non_null(strstr(resp, need));
	free(resp);
	assert_true(refusals(reason) == before + 1);
}

static void
refused_upgrade(const char *extra, int want, const char *reason)
{
	double before = refusals(reason);

	assert_int_equal(upgrade(extra), want);
	assert_true(refusals(reason) == before + 1);
}

static int
group_setup(void **state)
{
	static const char *const edge_env[]
	    = { "EDGE_DASHBOARD_SECRET=" DASH_SECRET, NULL };
	struct e2e_opts o = { 0 };
	char            h[65];
	const char     *p[1] = { h };
	int             i;

	(void)state;
	o.script = "outbound.json";
	o.speak_at = SPEAK_AT;
	o.edge_env = edge_env;
	e2e_start(&E, &o);
	e2e_seed(&E);
	/* LIMITED has used its two calls of the hour: POST /calls -> 429 */
	e2e_phone_hash(LIMITED, h);
	for (i = 0; i < 2; i++)
		assert_int_equal(
		    pgtest_exec_params(E.db.dsn,
		        "INSERT INTO rate_limit_hits (scope, "
		        "key_hash, kind, hit_at) VALUES ('phone', "
		        "$1, 'outbound', now() - interval '10 "
		        "minutes')",
		        1, p),
		    0);
	return (0);
}

static int
group_teardown(void **state)
{
	(void)state;
	e2e_assert_no_phone_in_logs(&E, E2E_LEAD_PHONE);
	e2e_stop(&E);
	return (0);
}

static void
test_bad_input(void **state)
{
	char        tok[200], h1[400], h2[400], extra[800], big[3000];
	double      before;
	char       *resp = NULL, *hdrs = NULL;
	const char *hs[3] = { h1, NULL, NULL };

	(void)state;
	/* the page itself: strict CSP, nosniff, no framing */
	assert_int_equal(
	    dash("GET", "/dashboard", NULL, NULL, &resp, &hdrs), 200);
	assert_non_null(strstr(resp, "<script src=\"/dashboard/dash.js\""));
	assert_null(strstr(resp, "<script>"));
	assert_non_null(strcasestr(hdrs,
	    "content-security-policy: default-src 'none'; script-src "
	    "'self';"));
	assert_non_null(strstr(hdrs, "frame-ancestors 'none'"));
	assert_non_null(strcasestr(hdrs, "x-content-type-options: nosniff"));
	free(resp);
	free(hdrs);

	/* sign-in: the cookie is HttpOnly, SameSite=Strict; not Secure on
	 * plain http */
	good_token(tok, sizeof(tok));
	snprintf(h2, sizeof(h2), "token=%s", tok);
	snprintf(h1, sizeof(h1), "Origin: %s", E.edge_base);
	assert_int_equal(
	    dash("POST", "/dashboard/signin", hs, h2, &resp, &hdrs), 200);
	assert_non_null(strstr(resp, "\"scope\":\"dashboard:read\""));
	assert_non_null(strcasestr(hdrs, "set-cookie: edge_dash=dsh1."));
	assert_non_null(strstr(hdrs, "; HttpOnly; SameSite=Strict"));
	assert_null(strstr(hdrs, "Secure"));
	free(resp);
	free(hdrs);

	/* sign-in refusals */
	snprintf(h1, sizeof(h1), "Origin: http://evil.example");
	refused("POST", "/dashboard/signin", hs, h2, 403, "origin");
	snprintf(h1, sizeof(h1), "Origin: %s", E.edge_base);
	snprintf(h2, sizeof(h2), "token=%s", E2E_API_TOKEN);
	refused("POST", "/dashboard/signin", hs, h2, 401, "malformed");
	make_token("some-other-secret-000000", "dashboard:read",
	    (long long)time(NULL) + 60, tok, sizeof(tok));
	snprintf(h2, sizeof(h2), "token=%s", tok);
	refused("POST", "/dashboard/signin", hs, h2, 401, "bad_signature");
	make_token(DASH_SECRET, "calls:write", (long long)time(NULL) + 60, tok,
	    sizeof(tok));
	snprintf(h2, sizeof(h2), "token=%s", tok);
	refused("POST", "/dashboard/signin", hs, h2, 403, "scope");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "token=", 6);
	refused("POST", "/dashboard/signin", hs, big, 413, "oversize");

	/* the session: no cookie, an expired one */
	refused("GET", "/dashboard/session", NULL, NULL, 401, "missing");
	make_token(DASH_SECRET, "dashboard:read", (long long)time(NULL) - 1,
	    tok, sizeof(tok));
	snprintf(h1, sizeof(h1), "Cookie: edge_dash=%s", tok);
	refused("GET", "/dashboard/session", hs, NULL, 401, "expired");

	/* /events: the cookie is accepted from our origin only */
	good_token(tok, sizeof(tok));
	snprintf(extra, sizeof(extra),
	    "Origin: %s\r\nCookie: edge_dash=%s\r\n", E.edge_base, tok);
	assert_int_equal(upgrade(extra), 101);
	snprintf(extra, sizeof(extra),
	    "Origin: http://evil.example\r\nCookie: edge_dash=%s\r\n", tok);
	refused_upgrade(extra, 403, "origin");
	/* even with the master token */
	refused_upgrade("Origin: http://127.0.0.1:1\r\n"
	                "Authorization: Bearer " E2E_API_TOKEN "\r\n",
	    403, "origin");
	make_token(DASH_SECRET, "dashboard:read", (long long)time(NULL) - 1,
	    tok, sizeof(tok));
	snprintf(extra, sizeof(extra),
	    "Origin: %s\r\nCookie: edge_dash=%s\r\n", E.edge_base, tok);
	refused_upgrade(extra, 401, "expired");
	make_token(DASH_SECRET, "calls:write", (long long)time(NULL) + 60, tok,
	    sizeof(tok));
	snprintf(extra, sizeof(extra),
	    "Origin: %s\r\nCookie: edge_dash=%s\r\n", E.edge_base, tok);
	refused_upgrade(extra, 403, "scope");
	/* no credentials at all: counted with the bad bearer tokens */
	before = counter("edge_stream_auth_failures_total", "events_token");
	snprintf(extra, sizeof(extra), "Origin: %s\r\n", E.edge_base);
	assert_int_equal(upgrade(extra), 401);
	assert_true(counter("edge_stream_auth_failures_total", "events_token")
	    == before + 1);
	/* a socket opened with a cookie ends with its token: closed with
	 * 1008 once expired, before anything more is sent or done */
	{
		/* {"op":"subscribe","call_sid":"*"}, masked with zeros */
		static const char msg[]
		    = "{\"op\":\"subscribe\",\"call_sid\":\"*\"}";
		unsigned char  frame[64] = { 0x81, 0x80 | (sizeof(msg) - 1) };
		struct timeval tv = { 5, 0 };
		unsigned char  in[8] = { 0 };
		int            fd = -1;

		memcpy(frame + 6, msg, sizeof(msg) - 1);
		make_token(DASH_SECRET, "dashboard:read",
		    (long long)time(NULL) + 2, tok, sizeof(tok));
		snprintf(extra, sizeof(extra),
		    "Origin: %s\r\nCookie: edge_dash=%s\r\n", E.edge_base,
		    tok);
		assert_int_equal(upgrade_fd(extra, &fd), 101);
		e2e_sleep_ms(3100);
		assert_int_equal(write(fd, frame, 6 + sizeof(msg) - 1),
		    (ssize_t)(6 + sizeof(msg) - 1));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		assert_int_equal(recv(fd, in, 4, MSG_WAITALL), 4);
		print_message("after expiry: %02x %02x %02x %02x\n", in[0],
		    in[1], in[2], in[3]);
		assert_int_equal(in[0], 0x88); /* close */
		assert_int_equal(in[2] << 8 | in[3], 1008);
		close(fd);
	}
	/* programs without an Origin still use the bearer token */
	assert_int_equal(
	    upgrade("Authorization: Bearer " E2E_API_TOKEN "\r\n"), 101);
}

/* Prints what the browser driver said so far. */
static void
browser_log(const struct harness_proc *b)
{
	FILE *f = fopen(harness_log_path(b), "r");
	char  line[1024];

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "ExperimentalWarning") == NULL)
			print_message("browser: %s", line);
	if (f != NULL)
		fclose(f);
}

/* Waits for the driver's progress line {"msg":"<msg>"}; fails with its
 * log (which says why) if it does not come. */
static void
step(const struct harness_proc *b, const char *msg, int timeout_ms)
{
	char want[64];

	snprintf(want, sizeof(want), "\"msg\":\"%s\"", msg);
	if (harness_log_wait(b, want, timeout_ms) == 0)
		return;
	browser_log(b);
	fail_msg("the browser did not reach \"%s\"", msg);
}

static int
exited(void *arg)
{
	return (!harness_alive(arg));
}

static void
test_browser(void **state)
{
	char                 tok[200], bad[200], shot[600], script[600];
	char                 e1[300], e2[300], e3[300], sid[64];
	const char          *env[5] = { e1, e2, e3, NULL, NULL };
	const char          *argv[6];
	const char          *out = getenv("DASH_SCREENSHOT");
	struct harness_proc *b;

	(void)state;
	/* the good token as an operator makes it */
	{
		char  cmd[700];
		FILE *p;

		snprintf(cmd, sizeof(cmd),
		    "EDGE_DASHBOARD_SECRET=%s %s/scripts/dashboard-token.sh "
		    "3600",
		    DASH_SECRET, e2e_top());
		assert_non_null(p = popen(cmd, "r"));
		assert_non_null(fgets(tok, sizeof(tok), p));
		assert_int_equal(pclose(p), 0);
		tok[strcspn(tok, "\n")] = '\0';
		assert_int_equal(strncmp(tok, "dsh1.dashboard:read.", 20), 0);
	}
	make_token(DASH_SECRET, "dashboard:read", (long long)time(NULL) - 10,
	    bad, sizeof(bad));
	snprintf(e1, sizeof(e1), "DASH_TOKEN=%s", tok);
	snprintf(e2, sizeof(e2), "DASH_BAD_TOKEN=%s", bad);
	snprintf(e3, sizeof(e3), "DASH_PHONE=%s", E2E_LEAD_PHONE);
	snprintf(shot, sizeof(shot), "%s",
	    out != NULL && out[0] != '\0' ? out : "");
	if (shot[0] == '\0')
		snprintf(
		    shot, sizeof(shot), "%s/dashboard.png", harness_tmpdir());
	snprintf(script, sizeof(script), "%s/tests/browser/dashboard.mjs",
	    e2e_top());
	argv[0] = "node";
	argv[1] = "--experimental-websocket";
	argv[2] = script;
	argv[3] = E.edge_base;
	argv[4] = shot;
	argv[5] = NULL;
	b = harness_spawn_args("/usr/bin/env", argv, env);
	assert_non_null(b);
	step(b, "live", 60000);

	assert_int_equal(e2e_post_call(&E, E2E_LEAD_PHONE, E2E_API_TOKEN, sid,
	                     sizeof(sid), NULL),
	    201);
	print_message("call %s placed at %.1f s\n", sid, e2e_elapsed(&E));
	step(b, "call_seen", 30000);
	step(b, "turns_live", 40000);
	assert_int_equal(e2e_wait_record(&E, sid, 0, 40000), 0);
	print_message("record stored at %.1f s\n", e2e_elapsed(&E));
	step(b, "summary_seen", 30000);
	/* the page's call is ours */
	assert_int_equal(harness_log_contains(b, sid), 1);

	/* refused both ways: listed on the page */
	assert_int_equal(
	    e2e_post_call(&E, LIMITED, E2E_API_TOKEN, NULL, 0, NULL), 429);
	e2e_tw_inbound(&E, LIMITED, sid, sizeof(sid));
	step(b, "done", 30000);
	browser_log(b);
	/* it exits by itself once Chromium is gone */
	assert_int_equal(harness_wait_for(exited, b, 15000), 0);
	assert_int_equal(harness_stop(b, 1000), 0);
	assert_int_equal(access(shot, R_OK), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_browser),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
