/*
 * hostile_http_test - hostile input against the real media-edge and the
 * real ai-session (whose /health port is common/httpd.c standalone),
 * with sim-openai in echo mode behind ai-session and sim-caller as the
 * telephone.  No key is used for any of the abuse.
 *
 * Cases, in one run (the daemons must come out of each one healthy):
 * a request pipelined behind another with a body (lws 4.1 used to spin
 * for ever on it) on both ports; CONNECT answered 405 and closed on both
 * ports; a chunked body answered 411; a bad /events token answered 401;
 * garbage WebSocket frames; a few hundred silent /media upgrades from
 * several loopback addresses, which take no call slot (a real call is
 * served meanwhile), are bounded per address (429) and are all closed
 * after EDGE_START_TIMEOUT_MS; the same bound behind a trusted ingress,
 * per client X-Forwarded-For names; then /health on both ports and one more
 * real call.  All of it twice: media-edge on libev (epoll), then on poll.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"

#define SECRET "edge-test-secret-0123456789"
#define API_TOKEN "api-token-for-tests"
#define NADDR 8 /* client addresses 127.0.0.10 ... */
#define PROXY 9 /* 127.0.0.9: the one TRUSTED_PROXIES entry */
#define PER_ADDR 40 /* EDGE_PENDING_PER_ADDR */
#define START_TIMEOUT_MS 2000

struct stack {
	struct harness_proc *oai, *ai, *edge;
	int                  edge_port, ai_port;
	const char          *loop; /* EDGE_EVENT_LOOP: the run's */
};

static struct stack S;

static int
group_setup(void **state)
{
	char        e[20][300];
	const char *env[22];
	const char *oai_args[] = { "--port", "0", "--mode", "echo", NULL };
	int         n = 0, i, port;

	(void)state;
	if ((S.oai = harness_spawn_args("sim-openai", oai_args, NULL)) == NULL
	    || (port = harness_ready_port(S.oai)) <= 0)
		return (-1);
	S.ai_port = harness_free_port();
	snprintf(e[n++], 300,
	    "OPENAI_REALTIME_URL=ws://127.0.0.1:%d/v1/"
	    "realtime?model=gpt-realtime-2",
	    port);
	snprintf(e[n++], 300, "OPENAI_API_KEY=sk-test");
	snprintf(e[n++], 300, "AI_LISTEN_URL=%s", harness_ipc_url("ai"));
	snprintf(e[n++], 300, "AI_PUB_URL=%s", harness_ipc_url("aipub"));
	snprintf(e[n++], 300, "AI_HTTP_PORT=%d", S.ai_port);
	snprintf(e[n++], 300, "AI_HTTP_ADDR=127.0.0.1");
	snprintf(e[n++], 300, "PERSISTER_URL=");
	snprintf(e[n++], 300, "REASONER_URL=");
	for (i = 0; i < n; i++)
		env[i] = e[i];
	env[n] = NULL;
	if ((S.ai = harness_spawn("ai-session", env)) == NULL)
		return (-1);

	n = 0;
	S.edge_port = harness_free_port();
	snprintf(e[n++], 300, "AI_SESSION_URL=%s", harness_ipc_url("ai"));
	snprintf(e[n++], 300, "EDGE_LISTEN_URL=%s", harness_ipc_url("ectl"));
	snprintf(e[n++], 300, "EDGE_PUB_URL=%s", harness_ipc_url("epub"));
	snprintf(e[n++], 300, "EDGE_HTTP_PORT=%d", S.edge_port);
	snprintf(e[n++], 300, "EDGE_HTTP_ADDR=127.0.0.1");
	snprintf(
	    e[n++], 300, "EDGE_PUBLIC_URL=http://127.0.0.1:%d", S.edge_port);
	snprintf(e[n++], 300, "EDGE_STREAM_TOKEN_SECRET=" SECRET);
	snprintf(e[n++], 300, "EDGE_API_TOKEN=" API_TOKEN);
	snprintf(e[n++], 300, "EDGE_START_TIMEOUT_MS=%d", START_TIMEOUT_MS);
	snprintf(e[n++], 300, "EDGE_PENDING_PER_ADDR=%d", PER_ADDR);
	snprintf(e[n++], 300, "TRUSTED_PROXIES=127.0.0.%d/32", PROXY);
	/* fewer slots than silent sockets: they must not take slots */
	snprintf(e[n++], 300, "EDGE_MAX_CALLS=%d", NADDR * PER_ADDR + 10);
	snprintf(e[n++], 300, "EDGE_DRAIN_TIMEOUT_MS=2000");
	snprintf(e[n++], 300, "EDGE_EVENT_LOOP=%s", S.loop);
	snprintf(e[n++], 300, "TWILIO_AUTH_TOKEN");
	snprintf(e[n++], 300, "EDGE_TWILIO_AUTH_TOKEN");
	for (i = 0; i < n; i++)
		env[i] = e[i];
	env[n] = NULL;
	if ((S.edge = harness_spawn("media-edge", env)) == NULL)
		return (-1);
	return (0);
}

static int
group_teardown(void **state)
{
	(void)state;
	if (S.edge != NULL)
		assert_int_equal(harness_stop(S.edge, 15000), 0);
	if (S.ai != NULL)
		assert_int_equal(harness_stop(S.ai, 15000), 0);
	if (S.oai != NULL)
		harness_stop(S.oai, 5000);
	S.edge = S.ai = S.oai = NULL;
	return (0);
}

/* ---- raw sockets ---- */

/* A connection to port from 127.0.0.<host> (1: the default). */
static int
dial(int port, int host)
{
	struct sockaddr_in sa;
	struct timeval     tv = { 5, 0 };
	int                fd;

	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	if (host > 1) {
		sa.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)host);
		assert_int_equal(
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return (fd);
}

static void
send_all(int fd, const void *p, size_t len)
{
	ssize_t n;

	for (; len > 0; p = (const char *)p + n, len -= (size_t)n)
		assert_true((n = send(fd, p, len, MSG_NOSIGNAL)) > 0);
}

/*
 * Everything the server sends until it closes; fails if it has not
 * closed within the 5 s receive timeout.  Returns the bytes (static).
 */
static const char *
until_close(int fd)
{
	static char buf[16384];
	size_t      len = 0;
	ssize_t     n;

	for (;;) {
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n == 0)
			break;
		if (n < 0)
			fail_msg("no close within 5 s; got \"%.*s\"", (int)len,
			    buf);
		len += (size_t)n;
		assert_true(len < sizeof(buf) - 1);
	}
	buf[len] = '\0';
	close(fd);
	return (buf);
}

static int
count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (; (hay = strstr(hay, needle)) != NULL; hay++)
		n++;
	return (n);
}

/* What one raw request gets before the server closes. */
static const char *
raw_request(int port, const char *req, size_t len)
{
	int fd = dial(port, 1);

	send_all(fd, req, len);
	return (until_close(fd));
}

static long
health(int port, char **body)
{
	char url[64];
	long status = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", port);
	if (harness_http("GET", url, NULL, NULL, &status, body) != 0)
		return (-1);
	return (status);
}

/* Value of one series in media-edge's /metrics (0 when absent). */
static double
metric(const char *series)
{
	char   url[96], *body = NULL, *p;
	long   status = 0;
	double v = 0;
	size_t n = strlen(series);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", S.edge_port);
	if (harness_http("GET", url, NULL, NULL, &status, &body) != 0)
		return (-1);
	for (p = body; (p = strstr(p, series)) != NULL; p += n)
		if ((p == body || p[-1] == '\n') && p[n] == ' ') {
			v = strtod(p + n + 1, NULL);
			break;
		}
	free(body);
	return (v);
}

static json_int_t
health_field(const char *key)
{
	char      *body = NULL;
	json_t    *o;
	json_int_t v;

	assert_int_equal(health(S.edge_port, &body), 200);
	assert_non_null(o = json_loads(body, 0, NULL));
	assert_true(json_is_integer(json_object_get(o, key)));
	v = json_integer_value(json_object_get(o, key));
	json_decref(o);
	free(body);
	return (v);
}

static void
both_healthy(void)
{
	char *body = NULL;

	assert_int_equal(health(S.edge_port, &body), 200);
	free(body);
	body = NULL;
	assert_int_equal(health(S.ai_port, &body), 200);
	free(body);
}

/* One simulated call through sim-caller: frames go out and echo back. */
static void
real_call(void)
{
	char        cmd[1024], *line = NULL;
	size_t      cap = 0;
	const char *bin = getenv("BIN_DIR");
	FILE       *f;
	json_t     *rep = NULL;

	snprintf(cmd, sizeof(cmd),
	    "%s/sim-caller --url ws://127.0.0.1:%d/media --calls 1 "
	    "--duration-ms 1500 --drain-ms 700 --token-secret " SECRET
	    " 2>>%s/caller.log",
	    bin != NULL ? bin : "build/debug/bin", S.edge_port,
	    harness_tmpdir());
	assert_non_null(f = popen(cmd, "r"));
	while (getline(&line, &cap, f) > 0)
		if (line[0] == '{') {
			json_decref(rep);
			rep = json_loads(line, 0, NULL);
		}
	free(line);
	pclose(f);
	assert_non_null(rep);
	assert_int_equal(
	    json_integer_value(json_object_get(rep, "completed")), 1);
	assert_true(
	    json_integer_value(json_object_get(rep, "frames_received")) > 0);
	json_decref(rep);
}

/* ---- WebSocket ---- */

/* Upgrade to /media from 127.0.0.<host>: the fd, or -1 with the status
 * line in *status (static) when refused. */
static int
upgrade(int host, const char *path, const char *extra, const char **status)
{
	static char buf[2048];
	char        req[512];
	int         fd = dial(S.edge_port, host), n, got = 0;

	n = snprintf(req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n%s\r\n",
	    path, extra);
	send_all(fd, req, (size_t)n);
	buf[0] = '\0';
	while (strstr(buf, "\r\n\r\n") == NULL && got < (int)sizeof(buf) - 1) {
		if ((n = (int)recv(fd, buf + got, 1, 0)) <= 0)
			break;
		buf[got += n] = '\0';
	}
	*status = buf;
	if (strncmp(buf, "HTTP/1.1 101", 12) == 0)
		return (fd);
	close(fd);
	return (-1);
}

/* One masked frame: opcode, payload. */
static void
frame(int fd, int opcode, const void *data, size_t len)
{
	unsigned char hdr[8] = { 0 }, mask[4] = { 9, 8, 7, 6 }, buf[256];
	size_t        i;

	assert_true(len < 126 && len <= sizeof(buf));
	hdr[0] = (unsigned char)(0x80 | opcode);
	hdr[1] = (unsigned char)(0x80 | len);
	memcpy(hdr + 2, mask, 4);
	for (i = 0; i < len; i++)
		buf[i] = ((const unsigned char *)data)[i] ^ mask[i % 4];
	send_all(fd, hdr, 6);
	send_all(fd, buf, len);
}

/* ---- the abuse ---- */

static void
pipelined(int port)
{
	static const char req[]
	    = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
	      "POST /calls HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	      "Content-Length: 2\r\n\r\n{}";
	const char *got = raw_request(port, req, sizeof(req) - 1);

	/* the first is answered, the pipelined one refused by the close */
	assert_int_equal(count_of(got, "HTTP/1.1 "), 1);
	assert_non_null(strstr(got, "HTTP/1.1 200"));
	assert_non_null(strstr(got, "connection: close"));
	both_healthy();
}

static void
test_pipelined(void **state)
{
	static const char two_bodies[]
	    = "POST /calls HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
	      "POST /calls HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
	const char *got;

	(void)state;
	pipelined(S.edge_port);
	pipelined(S.ai_port);
	/* two with bodies: the first is answered (no bearer: 401) */
	got = raw_request(S.edge_port, two_bodies, sizeof(two_bodies) - 1);
	assert_int_equal(count_of(got, "HTTP/1.1 "), 1);
	assert_non_null(strstr(got, "HTTP/1.1 401"));
	both_healthy();
}

static void
test_connect(void **state)
{
	static const char req[]
	    = "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n";
	long long t0 = harness_now_ms();

	(void)state;
	assert_non_null(strstr(
	    raw_request(S.edge_port, req, sizeof(req) - 1), "HTTP/1.1 405"));
	assert_non_null(strstr(
	    raw_request(S.ai_port, req, sizeof(req) - 1), "HTTP/1.1 405"));
	/* answered at once, not after a timeout */
	assert_true(harness_now_ms() - t0 < 3000);
	both_healthy();
}

static void
test_chunked_and_tokens(void **state)
{
	static const char chunked[]
	    = "POST /calls HTTP/1.1\r\nHost: x\r\n"
	      "Authorization: Bearer " API_TOKEN "\r\n"
	      "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
	static const char negative[] = "POST /twiml HTTP/1.1\r\nHost: x\r\n"
	                               "Content-Length: -5\r\n\r\n";
	const char       *got, *status;

	(void)state;
	got = raw_request(S.edge_port, chunked, sizeof(chunked) - 1);
	assert_non_null(strstr(got, "HTTP/1.1 411"));
	assert_int_equal(count_of(got, "HTTP/1.1 "), 1);
	got = raw_request(S.edge_port, negative, sizeof(negative) - 1);
	assert_non_null(strstr(got, "HTTP/1.1 400"));
	assert_int_equal(
	    upgrade(1, "/events", "Authorization: Bearer no\r\n", &status),
	    -1);
	assert_non_null(strstr(status, " 401 Unauthorized"));
	assert_int_equal(upgrade(1, "/nowhere", "", &status), -1);
	assert_non_null(strstr(status, " 404 Not Found"));
	both_healthy();
}

/* Garbage on an upgraded socket: counted, the daemon unharmed. */
static void
test_garbage_frames(void **state)
{
	static const unsigned char junk[] = { 0xff, 0x00, 0x13, 0x37 };
	const char                *status;
	char                       buf[512];
	int                        fd, i;
	ssize_t                    n;

	(void)state;
	assert_true((fd = upgrade(1, "/media", "", &status)) >= 0);
	frame(fd, 2, junk, sizeof(junk)); /* binary */
	frame(fd, 1, "{\"event\":", 9); /* malformed JSON */
	frame(fd, 1, "{\"event\":\"media\"}", 17); /* media before start */
	frame(fd, 1, "[1,2,3]", 7);
	/* a frame with a reserved opcode ends the socket */
	frame(fd, 3, "x", 1);
	while (recv(fd, buf, sizeof(buf), 0) > 0)
		;
	close(fd);
	/* an unmasked frame from a client ends it too */
	assert_true((fd = upgrade(2, "/media", "", &status)) >= 0);
	send_all(fd, "\x81\x02hi", 4);
	while (recv(fd, buf, sizeof(buf), 0) > 0)
		;
	close(fd);
	/* malformed /events messages: each answered with an error (whose
	 * reply media-edge used to leak) */
	assert_true((fd = upgrade(1, "/events",
	                 "Authorization: Bearer " API_TOKEN "\r\n", &status))
	    >= 0);
	for (i = 0; i < 50; i++) {
		frame(fd, 1, i % 2 ? "{}" : "{\"op\":\"bogus\"}",
		    i % 2 ? 2 : 15);
		while ((n = recv(fd, buf, sizeof(buf), 0)) > 0
		    && memmem(buf, (size_t)n, "error", 5) == NULL)
			;
		assert_true(n > 0);
	}
	close(fd);
	assert_true(
	    metric("edge_bad_input_total{reason=\"events_bad_message\"}")
	    >= 50);
	assert_true(
	    metric("edge_bad_input_total{reason=\"binary_frame\"}") >= 1);
	assert_true(
	    metric("edge_bad_input_total{reason=\"malformed_json\"}") >= 1);
	both_healthy();
}

static int
no_pending(void *arg)
{
	(void)arg;
	return (metric("edge_pending_streams") == 0);
}

/*
 * Silent upgrades: PER_ADDR from each of NADDR addresses are taken (and
 * hold no call slot: EDGE_MAX_CALLS is barely above their number, a
 * real call still gets one), one more from an address is refused with
 * 429, and all are closed once EDGE_START_TIMEOUT_MS has passed.
 */
static void
test_silent_upgrades(void **state)
{
	static int  fds[NADDR * PER_ADDR];
	const char *status;
	double      timeouts0
	    = metric("edge_upgrades_refused_total{reason=\"start_timeout\"}");
	int       i, h, n = 0, closed = 0;
	char      buf[64];
	long long t0 = harness_now_ms();

	(void)state;
	for (h = 0; h < NADDR; h++)
		for (i = 0; i < PER_ADDR; i++) {
			fds[n] = upgrade(h + 10, "/media", "", &status);
			if (fds[n] < 0)
				fail_msg("upgrade %d from 127.0.0.%d refused: "
				         "%.40s",
				    i, h + 10, status);
			n++;
		}
	assert_int_equal(upgrade(10, "/media", "", &status), -1);
	/* lws answers an upgrade request as HTTP/1.0 */
	assert_non_null(strstr(status, " 429 "));
	assert_true(
	    metric("edge_upgrades_refused_total{reason=\"per_address\"}")
	    >= 1);
	/* /health and /metrics see them; no call slot is taken */
	assert_true(harness_now_ms() - t0 < START_TIMEOUT_MS);
	assert_int_equal(health_field("pendingStreams"), NADDR * PER_ADDR);
	assert_int_equal(health_field("activeCalls"), 0);
	assert_true(metric("edge_pending_streams") == NADDR * PER_ADDR);
	/* a real call is served while they wait (from 127.0.0.1) */
	real_call();

	/* after the start timeout every one of them is closed */
	assert_int_equal(harness_wait_for(no_pending, NULL, 10000), 0);
	for (i = 0; i < n; i++) {
		ssize_t r;

		while ((r = recv(fds[i], buf, sizeof(buf), 0)) > 0)
			;
		if (r == 0)
			closed++;
		close(fds[i]);
	}
	assert_int_equal(closed, n);
	assert_true(
	    metric("edge_upgrades_refused_total{reason=\"start_timeout\"}")
	        - timeouts0
	    >= n);
	assert_true(health_field("refusedStreams") >= n + 1);
	both_healthy();
}

/*
 * Behind a trusted ingress (127.0.0.9) the per-address bound applies to
 * the client X-Forwarded-For names: one client's silent upgrades are
 * bounded while another client behind the same ingress still gets in; a
 * client cannot choose its address by writing the header itself, and an
 * unusable header from the ingress is refused 400.
 */
static void
test_behind_proxy(void **state)
{
	static int  fds[PER_ADDR + 2];
	const char *status;
	double      bad0 = metric(
	         "edge_upgrades_refused_total{reason=\"bad_forwarded_for\"}");
	int i, n = 0;

	(void)state;
	for (i = 0; i < PER_ADDR; i++) {
		fds[n] = upgrade(PROXY, "/media",
		    "X-Forwarded-For: 203.0.113.7\r\n", &status);
		if (fds[n] < 0)
			fail_msg("upgrade %d for 203.0.113.7 refused: %.40s",
			    i, status);
		n++;
	}
	/* that client is full, whatever it writes left of the ingress's entry
	 */
	assert_int_equal(upgrade(PROXY, "/media",
	                     "X-Forwarded-For: 203.0.113.7\r\n", &status),
	    -1);
	assert_non_null(strstr(status, " 429 "));
	assert_int_equal(
	    upgrade(PROXY, "/media",
	        "X-Forwarded-For: 198.51.100.1, 203.0.113.7\r\n", &status),
	    -1);
	assert_non_null(strstr(status, " 429 "));
	/* another caller behind the same ingress, and the ingress itself */
	assert_true((fds[n++] = upgrade(PROXY, "/media",
	                 "X-Forwarded-For: 203.0.113.8\r\n", &status))
	    >= 0);
	assert_true((fds[n++] = upgrade(PROXY, "/media", "", &status)) >= 0);
	/* a header the ingress would never send */
	assert_int_equal(
	    upgrade(PROXY, "/media",
	        "X-Forwarded-For: 203.0.113.7, not-an-address\r\n", &status),
	    -1);
	assert_non_null(strstr(status, " 400 "));
	assert_true(
	    metric("edge_upgrades_refused_total{reason=\"bad_forwarded_for\"}")
	        - bad0
	    == 1);
	assert_int_equal(health_field("pendingStreams"), n);
	for (i = 0; i < n; i++)
		close(fds[i]);
	assert_int_equal(harness_wait_for(no_pending, NULL, 10000), 0);
	both_healthy();
}

/* After all of it: both daemons answer and a call works. */
static void
test_still_serving(void **state)
{
	(void)state;
	both_healthy();
	real_call();
	assert_int_equal(health_field("pendingStreams"), 0);
	assert_true(harness_alive(S.edge));
	assert_true(harness_alive(S.ai));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_chunked_and_tokens),
		cmocka_unit_test(test_garbage_frames),
		cmocka_unit_test(test_silent_upgrades),
		cmocka_unit_test(test_behind_proxy),
		cmocka_unit_test(test_still_serving),
	};

	int rv;

	/* media-edge on both of its event loops (ai-session's health port
	 * is lws's own poll loop either way) */
	S.loop = "libev";
	rv = cmocka_run_group_tests_name(
	    "libev", tests, group_setup, group_teardown);
	S.loop = "poll";
	rv += cmocka_run_group_tests_name(
	    "poll", tests, group_setup, group_teardown);
	return (rv);
}
