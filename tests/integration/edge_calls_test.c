/*
 * edge_calls_test - media-edge's HTTP part with sim-twilio and the real
 * audio path (ai-session + sim-openai in echo mode).  The test process
 * plays rate-limiter and persister over NNG (recording what they are
 * asked) and the business's notification endpoint over HTTP.
 *
 * Cases: an outbound call through POST /calls (rate check with the client
 * IP, provider REST create with our TwiML and status URLs, CallOpen,
 * signed webhooks, the stream, status events without phone numbers, the
 * signed notification retried until accepted); POST /calls errors (401,
 * 400, 429 with Retry-After, 502); an inbound call through
 * /sim/inbound; a rate-limited inbound caller who hears the refusal and
 * causes nothing else; forged and missing signatures on every webhook
 * (403, no side effect); HangUp hanging up through the provider REST API.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "harness.h"
#include "hmac.h"
#include "wire.h"

#define SECRET "edge-test-secret-0123456789"
#define ACCOUNT "AC0123456789ABCDEF0123456789ABCDEF"
#define AUTH_TOKEN "twilio-test-auth-token"
#define API_TOKEN "api-token-for-tests"
#define NOTIFY_KEY "notify-secret-0123"
#define BLOCKED "+15550009999"

/* ---- rate-limiter and persister, played by the test ---- */

struct fakes {
	nng_socket      rl, ps;
	pthread_t       rl_thr, ps_thr;
	atomic_bool     stop;
	pthread_mutex_t lock;
	int             checks, opens, events, opens_inbound;
	char            last_phone[32], last_ip[64];
	int             last_kind;
	bool            phone_in_event;
	char            open_sid[64];
};

static struct fakes K;

static void
send_env(nng_socket s, Bus__Envelope *env)
{
	nng_msg *m;

	if (wire_pack(env, &m) == 0 && nng_sendmsg(s, m, 0) != 0)
		nng_msg_free(m);
}

static void *
rl_main(void *arg)
{
	Bus__Envelope    *in, env = BUS__ENVELOPE__INIT;
	Bus__RateDecision d = BUS__RATE_DECISION__INIT;
	struct wire_ids   ids;
	nng_msg          *m;
	bool              blocked;

	(void)arg;
	while (!atomic_load(&K.stop)) {
		if (nng_recvmsg(K.rl, &m, 0) != 0)
			continue;
		if (wire_unpack(m, &in) != 0) {
			nng_msg_free(m);
			continue;
		}
		nng_msg_free(m);
		blocked = in->body_case == BUS__ENVELOPE__BODY_RATE_CHECK
		    && strcmp(in->rate_check->phone, BLOCKED) == 0;
		if (in->body_case == BUS__ENVELOPE__BODY_RATE_CHECK) {
			pthread_mutex_lock(&K.lock);
			K.checks++;
			snprintf(K.last_phone, sizeof(K.last_phone), "%s",
			    in->rate_check->phone);
			snprintf(K.last_ip, sizeof(K.last_ip), "%s",
			    in->rate_check->client_ip);
			K.last_kind = in->rate_check->kind;
			pthread_mutex_unlock(&K.lock);
		}
		env = (Bus__Envelope)BUS__ENVELOPE__INIT;
		d = (Bus__RateDecision)BUS__RATE_DECISION__INIT;
		wire_env_init(&env, &ids, "", NULL);
		d.allowed = !blocked;
		d.remaining = blocked ? 0 : 3;
		d.retry_after_s = blocked ? 42 : 0;
		d.reason = blocked ? "phone_limit" : "ok";
		env.body_case = BUS__ENVELOPE__BODY_RATE_DECISION;
		env.rate_decision = &d;
		send_env(K.rl, &env);
		wire_free(in);
	}
	return (NULL);
}

static void *
ps_main(void *arg)
{
	Bus__Envelope  *in, env = BUS__ENVELOPE__INIT;
	Bus__Ack        ack = BUS__ACK__INIT;
	struct wire_ids ids;
	nng_msg        *m;

	(void)arg;
	while (!atomic_load(&K.stop)) {
		if (nng_recvmsg(K.ps, &m, 0) != 0)
			continue;
		if (wire_unpack(m, &in) != 0) {
			nng_msg_free(m);
			continue;
		}
		nng_msg_free(m);
		pthread_mutex_lock(&K.lock);
		if (in->body_case == BUS__ENVELOPE__BODY_CALL_OPEN) {
			K.opens++;
			if (in->call_open->direction
			    == BUS__DIRECTION__INBOUND)
				K.opens_inbound++;
			snprintf(K.open_sid, sizeof(K.open_sid), "%s",
			    in->call_sid);
		} else if (in->body_case == BUS__ENVELOPE__BODY_CALL_EVENT) {
			K.events++;
			if (strstr(in->call_event->payload_json, "+1555")
			    != NULL)
				K.phone_in_event = true;
		}
		pthread_mutex_unlock(&K.lock);
		env = (Bus__Envelope)BUS__ENVELOPE__INIT;
		wire_env_init(&env, &ids, in->call_sid, NULL);
		env.body_case = BUS__ENVELOPE__BODY_ACK;
		env.ack = &ack;
		send_env(K.ps, &env);
		wire_free(in);
	}
	return (NULL);
}

/* ---- the notification endpoint: 500 first, then 200 ---- */

struct notify {
	int        fd, port;
	pthread_t  thr;
	atomic_int hits, good;
	char       body[2048];
	char       sig[128];
};

static struct notify N;

static void *
notify_main(void *arg)
{
	char buf[8192], *h, *b;
	int  c, n, got, clen;

	(void)arg;
	while ((c = accept(N.fd, NULL, NULL)) >= 0) {
		got = 0;
		clen = -1;
		while (got < (int)sizeof(buf) - 1
		    && (n = (int)read(c, buf + got, sizeof(buf) - 1 - got))
		        > 0) {
			got += n;
			buf[got] = '\0';
			if ((b = strstr(buf, "\r\n\r\n")) != NULL) {
				h = strcasestr(buf, "content-length:");
				clen = h != NULL
				    ? (int)strtol(h + 15, NULL, 10)
				    : 0;
				if (got - (b + 4 - buf) >= clen)
					break;
			}
		}
		if ((b = strstr(buf, "\r\n\r\n")) != NULL
		    && (h = strcasestr(buf, "x-signature: sha256=")) != NULL) {
			char hex[65], want[80];

			snprintf(N.body, sizeof(N.body), "%s", b + 4);
			sscanf(h + 20, "%64s", N.sig);
			hmac_sha256_hex(
			    NOTIFY_KEY, N.body, strlen(N.body), hex);
			snprintf(want, sizeof(want), "%s", hex);
			if (strcmp(want, N.sig) == 0)
				atomic_fetch_add(&N.good, 1);
		}
		if (atomic_fetch_add(&N.hits, 1) == 0)
			dprintf(c,
			    "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n"
			    "Connection: close\r\n\r\n");
		else
			dprintf(c,
			    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
			    "Connection: close\r\n\r\n");
		close(c);
	}
	return (NULL);
}

static void
notify_start(void)
{
	struct sockaddr_in sa;
	socklen_t          len = sizeof(sa);

	memset(&N, 0, sizeof(N));
	N.fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(N.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(N.fd, 16), 0);
	getsockname(N.fd, (struct sockaddr *)&sa, &len);
	N.port = ntohs(sa.sin_port);
	pthread_create(&N.thr, NULL, notify_main, NULL);
}

/* ---- the stack ---- */

struct stack {
	struct harness_proc *tw, *oai, *ai, *edge;
	int                  tw_port, edge_port;
	char                 edge_http[64], tw_http[64];
	const char          *ctl;
};

static struct stack S;

static int
group_setup(void **state)
{
	char        e[24][300];
	const char *env[26];
	const char *oai_args[] = { "--port", "0", "--mode", "echo", NULL };
	char        tw_port_s[8];
	const char *tw_args[] = { "--port", "0", "--account-sid", ACCOUNT,
		"--auth-token", AUTH_TOKEN, "--call-duration-ms", "2500",
		"--ring-ms", "50", NULL };
	int         n = 0, i, port;

	(void)state;
	(void)tw_port_s;
	memset(&K, 0, sizeof(K));
	pthread_mutex_init(&K.lock, NULL);
	assert_int_equal(nng_rep0_open(&K.rl), 0);
	assert_int_equal(nng_listen(K.rl, harness_ipc_url("rl"), NULL, 0), 0);
	assert_int_equal(nng_rep0_open(&K.ps), 0);
	assert_int_equal(nng_listen(K.ps, harness_ipc_url("ps"), NULL, 0), 0);
	nng_socket_set_ms(K.rl, NNG_OPT_RECVTIMEO, 100);
	nng_socket_set_ms(K.ps, NNG_OPT_RECVTIMEO, 100);
	pthread_create(&K.rl_thr, NULL, rl_main, NULL);
	pthread_create(&K.ps_thr, NULL, ps_main, NULL);
	notify_start();

	if ((S.tw = harness_spawn_args("sim-twilio", tw_args, NULL)) == NULL
	    || (S.tw_port = harness_ready_port(S.tw)) <= 0)
		return (-1);
	snprintf(
	    S.tw_http, sizeof(S.tw_http), "http://127.0.0.1:%d", S.tw_port);
	if ((S.oai = harness_spawn_args("sim-openai", oai_args, NULL)) == NULL
	    || (port = harness_ready_port(S.oai)) <= 0)
		return (-1);
	snprintf(e[n++], 300,
	    "OPENAI_REALTIME_URL=ws://127.0.0.1:%d/v1/"
	    "realtime?model=gpt-realtime-2",
	    port);
	snprintf(e[n++], 300, "OPENAI_API_KEY=sk-test");
	snprintf(e[n++], 300, "AI_LISTEN_URL=%s", harness_ipc_url("ai"));
	snprintf(e[n++], 300, "AI_PUB_URL=%s", harness_ipc_url("aipub"));
	snprintf(e[n++], 300, "AI_HTTP_PORT=%d", harness_free_port());
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
	S.ctl = harness_ipc_url("edgectl");
	snprintf(S.edge_http, sizeof(S.edge_http), "http://127.0.0.1:%d",
	    S.edge_port);
	snprintf(e[n++], 300, "AI_SESSION_URL=%s", harness_ipc_url("ai"));
	snprintf(e[n++], 300, "EDGE_LISTEN_URL=%s", S.ctl);
	snprintf(e[n++], 300, "EDGE_PUB_URL=%s", harness_ipc_url("edgepub"));
	snprintf(e[n++], 300, "EDGE_HTTP_PORT=%d", S.edge_port);
	snprintf(e[n++], 300, "EDGE_HTTP_ADDR=127.0.0.1");
	snprintf(e[n++], 300, "EDGE_PUBLIC_URL=%s", S.edge_http);
	snprintf(e[n++], 300, "EDGE_STREAM_TOKEN_SECRET=" SECRET);
	snprintf(e[n++], 300, "EDGE_API_TOKEN=" API_TOKEN);
	snprintf(e[n++], 300, "EDGE_DRAIN_TIMEOUT_MS=3000");
	snprintf(e[n++], 300, "TWILIO_API_BASE_URL=%s/2010-04-01", S.tw_http);
	snprintf(e[n++], 300, "TWILIO_ACCOUNT_SID=" ACCOUNT);
	snprintf(e[n++], 300, "TWILIO_AUTH_TOKEN=" AUTH_TOKEN);
	snprintf(e[n++], 300, "TWILIO_FROM_NUMBER=+15550001111");
	snprintf(e[n++], 300, "RATE_LIMITER_URL=%s", harness_ipc_url("rl"));
	snprintf(e[n++], 300, "PERSISTER_URL=%s", harness_ipc_url("ps"));
	snprintf(e[n++], 300, "NOTIFY_WEBHOOK_URL=http://127.0.0.1:%d/hook",
	    N.port);
	snprintf(e[n++], 300, "NOTIFY_WEBHOOK_SECRET=" NOTIFY_KEY);
	snprintf(e[n++], 300, "TRUSTED_PROXIES=127.0.0.0/8,10.0.0.0/8");
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
		harness_stop(S.ai, 15000);
	if (S.oai != NULL)
		harness_stop(S.oai, 5000);
	if (S.tw != NULL)
		harness_stop(S.tw, 5000);
	atomic_store(&K.stop, true);
	pthread_join(K.rl_thr, NULL);
	pthread_join(K.ps_thr, NULL);
	nng_close(K.rl);
	nng_close(K.ps);
	shutdown(N.fd, SHUT_RDWR);
	close(N.fd);
	pthread_join(N.thr, NULL);
	return (0);
}

/* ---- helpers ---- */

static long
post_calls(const char *auth, const char *body, char **resp, char **hdrs)
{
	char        url[96], h[160];
	const char *headers[3]
	    = { "Content-Type: application/json", NULL, NULL };
	long status = 0;

	snprintf(url, sizeof(url), "%s/calls", S.edge_http);
	if (auth != NULL) {
		snprintf(h, sizeof(h), "Authorization: %s", auth);
		headers[1] = h;
	}
	assert_int_equal(harness_http_full("POST", url, headers, body, 30000,
	                     &status, resp, hdrs),
	    0);
	return (status);
}

static json_t *
sim_call(const char *sid)
{
	char    url[160], *body = NULL;
	long    status = 0;
	json_t *o;

	snprintf(url, sizeof(url), "%s/sim/calls/%s", S.tw_http, sid);
	if (harness_http("GET", url, NULL, NULL, &status, &body) != 0)
		return (NULL);
	o = json_loads(body != NULL ? body : "", 0, NULL);
	free(body);
	return (o);
}

struct wait_arg {
	const char *sid;
	const char *status;
};

static int
call_status_is(void *arg)
{
	struct wait_arg *w = arg;
	json_t          *o = sim_call(w->sid);
	int              ok;

	ok = o != NULL && json_is_string(json_object_get(o, "status"))
	    && json_is_string(json_object_get(o, "step"))
	    && strcmp(
	           json_string_value(json_object_get(o, "status")), w->status)
	        == 0
	    && strcmp(json_string_value(json_object_get(o, "step")), "done")
	        == 0;
	json_decref(o);
	return (ok);
}

static double
metric(const char *series)
{
	char   url[96], *body = NULL, *p;
	long   status = 0;
	double v = 0;
	size_t n = strlen(series);

	snprintf(url, sizeof(url), "%s/metrics", S.edge_http);
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

static int
snapshot(int *checks, int *opens, int *events)
{
	pthread_mutex_lock(&K.lock);
	*checks = K.checks;
	*opens = K.opens;
	*events = K.events;
	pthread_mutex_unlock(&K.lock);
	return (0);
}

/* ---- a raw WebSocket client for /events ---- */

static int
ws_open(const char *auth)
{
	struct sockaddr_in sa;
	char               req[512], buf[2048];
	int                fd, n, got = 0;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)S.edge_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return (-1);
	n = snprintf(req, sizeof(req),
	    "GET /events HTTP/1.1\r\nHost: x\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
	    auth != NULL ? "Authorization: " : "", auth != NULL ? auth : "",
	    auth != NULL ? "\r\n" : "");
	if (write(fd, req, (size_t)n) != n)
		return (-1);
	while (got < (int)sizeof(buf) - 1) {
		if ((n = (int)read(fd, buf + got, 1)) <= 0)
			break;
		got += n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL)
			break;
	}
	if (strstr(buf, " 101 ") == NULL) {
		close(fd);
		return (-1);
	}
	return (fd);
}

static void
ws_text(int fd, const char *s)
{
	unsigned char f[512];
	size_t        n = strlen(s), i;

	f[0] = 0x81;
	f[1] = (unsigned char)(0x80 | n); /* short messages only */
	memset(f + 2, 0, 4); /* zero mask */
	for (i = 0; i < n; i++)
		f[6 + i] = (unsigned char)s[i];
	assert_int_equal(write(fd, f, 6 + n), (ssize_t)(6 + n));
}

/* Next text message (server frames are not masked), or NULL. */
static char *
ws_read(int fd, int timeout_ms)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	unsigned char  h[10];
	size_t         len;
	char          *p;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (recv(fd, h, 2, MSG_WAITALL) != 2)
		return (NULL);
	len = h[1] & 0x7f;
	if (len == 126) {
		if (recv(fd, h + 2, 2, MSG_WAITALL) != 2)
			return (NULL);
		len = (size_t)h[2] << 8 | h[3];
	}
	p = calloc(1, len + 1);
	if (len > 0 && recv(fd, p, len, MSG_WAITALL) != (ssize_t)len) {
		free(p);
		return (NULL);
	}
	return (p);
}

/* ---- tests ---- */

static int
notified(void *arg)
{
	(void)arg;
	return (atomic_load(&N.hits) >= 2);
}

static void
test_outbound(void **state)
{
	char           *resp = NULL;
	json_t         *o, *call, *streams, *tw;
	const char     *sid;
	struct wait_arg w;
	char            sidbuf[64];

	char *msg, sub[160];
	int   fd, statuses = 0;
	bool  saw_end = false;

	(void)state;
	/* a dashboard: no token, no socket; with it, a rate query */
	assert_int_equal(ws_open(NULL), -1);
	assert_int_equal(ws_open("Bearer nope"), -1);
	assert_true((fd = ws_open("Bearer " API_TOKEN)) >= 0);
	ws_text(
	    fd, "{\"op\":\"rate\",\"phone\":\"" BLOCKED "\",\"id\":\"q1\"}");
	assert_non_null(msg = ws_read(fd, 5000));
	assert_non_null(strstr(msg, "\"type\":\"rate\""));
	assert_non_null(strstr(msg, "\"allowed\":false"));
	assert_non_null(strstr(msg, "\"retry_after\":42"));
	free(msg);
	assert_int_equal(post_calls("Bearer " API_TOKEN,
	                     "{\"to\":"
	                     "\"+15550002222\",\"lead_id\":\"lead-1\","
	                     "\"objective\":\"book a "
	                     "demo\",\"context\":{\"plan\":\"pro\"}}",
	                     &resp, NULL),
	    201);
	assert_non_null(o = json_loads(resp, 0, NULL));
	assert_non_null(
	    sid = json_string_value(json_object_get(o, "call_sid")));
	snprintf(sidbuf, sizeof(sidbuf), "%s", sid);
	json_decref(o);
	free(resp);
	snprintf(sub, sizeof(sub),
	    "{\"op\":\"subscribe\",\"call_sid\":"
	    "\"%s\"}",
	    sidbuf);
	ws_text(fd, sub);
	pthread_mutex_lock(&K.lock);
	assert_string_equal(K.last_phone, "+15550002222");
	assert_string_equal(K.last_ip, "127.0.0.1");
	assert_int_equal(K.last_kind, BUS__RATE_CHECK__KIND__OUTBOUND);
	assert_string_equal(K.open_sid, sidbuf);
	pthread_mutex_unlock(&K.lock);
	/* the callee hangs up after 2.5 s; the call ran its course */
	w.sid = sidbuf;
	w.status = "completed";
	assert_int_equal(harness_wait_for(call_status_is, &w, 15000), 0);
	/* the dashboard saw the call's status changes, ending completed */
	while ((msg = ws_read(fd, 2000)) != NULL) {
		if (strstr(msg, "\"type\":\"status\"") != NULL
		    && strstr(msg, sidbuf) != NULL)
			statuses++;
		if (strstr(msg, "\"completed\"") != NULL) {
			free(msg);
			saw_end = true;
			break;
		}
		free(msg);
	}
	/* initiated, ringing and even answered may all be posted before the
	 * subscription is in: only the final status is certain to be seen */
	assert_true(saw_end);
	assert_true(statuses >= 1);
	close(fd);
	call = sim_call(sidbuf);
	/* every webhook was accepted (signatures verified) */
	{
		json_t *hooks = json_object_get(call, "webhooks"), *h;
		size_t  i;

		assert_true(json_array_size(hooks) >= 4);
		json_array_foreach(hooks, i, h) assert_true(
		    json_integer_value(json_object_get(h, "status")) / 100
		    == 2);
	}
	/* TwiML streamed to our /media with a token, and audio flowed */
	tw = json_array_get(json_object_get(call, "twiml"), 0);
	assert_non_null(tw);
	{
		char *t = json_dumps(tw, JSON_ENCODE_ANY);

		assert_non_null(t);
		assert_non_null(strstr(t, "token"));
		free(t);
	}
	streams = json_object_get(call, "streams");
	assert_int_equal(json_array_size(streams), 1);
	assert_true(json_integer_value(json_object_get(
	                json_array_get(streams, 0), "frames_received"))
	    > 50);
	json_decref(call);
	/* status events stored without phone numbers; notified, signed,
	 * retried after the first 500 */
	pthread_mutex_lock(&K.lock);
	assert_true(K.events >= 4);
	assert_false(K.phone_in_event);
	pthread_mutex_unlock(&K.lock);
	assert_int_equal(harness_wait_for(notified, NULL, 8000), 0);
	assert_true(atomic_load(&N.good) >= 2);
	assert_non_null(strstr(N.body, sidbuf));
	assert_non_null(strstr(N.body, "\"status\":\"completed\""));
}

/* POST /calls behind a trusted proxy (the test, on 127.0.0.1): the rate
 * check gets the rightmost untrusted X-Forwarded-For address; a header
 * that is not a list of addresses is refused before any rate check. */
static void
test_forwarded_for(void **state)
{
	char        url[96], *resp = NULL;
	const char *h[] = { "Content-Type: application/json",
		"Authorization: Bearer " API_TOKEN,
		"X-Forwarded-For: 1.2.3.4, 198.51.100.7, 10.0.0.3", NULL };
	long        status = 0;
	int         c0, o0, e0, c1, o1, e1;

	(void)state;
	snprintf(url, sizeof(url), "%s/calls", S.edge_http);
	assert_int_equal(harness_http("POST", url, h,
	                     "{\"to\":\"" BLOCKED "\"}", &status, &resp),
	    0);
	assert_int_equal(status, 429); /* refused, so nothing is placed */
	free(resp);
	pthread_mutex_lock(&K.lock);
	assert_string_equal(K.last_ip, "198.51.100.7");
	pthread_mutex_unlock(&K.lock);
	snapshot(&c0, &o0, &e0);
	h[2] = "X-Forwarded-For: unknown";
	assert_int_equal(harness_http("POST", url, h,
	                     "{\"to\":\"" BLOCKED "\"}", &status, &resp),
	    0);
	assert_int_equal(status, 400);
	assert_non_null(strstr(resp, "X-Forwarded-For"));
	free(resp);
	snapshot(&c1, &o1, &e1);
	assert_int_equal(c1, c0);
}

static void
test_calls_errors(void **state)
{
	char *resp = NULL, *hdrs = NULL;
	int   c0, o0, e0, c1, o1, e1;

	(void)state;
	snapshot(&c0, &o0, &e0);
	assert_int_equal(
	    post_calls(NULL, "{\"to\":\"+15550002222\"}", NULL, NULL), 401);
	assert_int_equal(post_calls("Bearer wrong",
	                     "{\"to\":\"+15550002222\"}", NULL, NULL),
	    401);
	assert_int_equal(
	    post_calls("Bearer " API_TOKEN, "{\"to\":", &resp, NULL), 400);
	assert_non_null(strstr(resp, "\"reason\""));
	free(resp);
	assert_int_equal(
	    post_calls("Bearer " API_TOKEN, "{\"to\":\"555\"}", NULL, NULL),
	    400);
	assert_int_equal(post_calls("Bearer " API_TOKEN,
	                     "{\"to\":"
	                     "\"+15550002222\",\"lead_id\":7}",
	                     NULL, NULL),
	    400);
	snapshot(&c1, &o1, &e1);
	assert_int_equal(c1, c0); /* nothing was asked */
	assert_int_equal(post_calls("Bearer " API_TOKEN,
	                     "{\"to\":\"" BLOCKED "\"}", &resp, &hdrs),
	    429);
	assert_non_null(strcasestr(hdrs, "retry-after: 42"));
	assert_non_null(strstr(resp, "phone_limit"));
	free(resp);
	free(hdrs);
	snapshot(&c1, &o1, &e1);
	assert_int_equal(c1, c0 + 1);
	assert_int_equal(o1, o0); /* no call record */
}

/* The provider refuses our credentials: 502 with its reason. */
static void
test_provider_error(void **state)
{
	char        e[14][300], url[96], *resp = NULL;
	const char *env[16],
	    *headers[] = { "Authorization: Bearer " API_TOKEN, NULL };
	struct harness_proc *p;
	long                 status = 0;
	int                  n = 0, i, port = harness_free_port();

	(void)state;
	snprintf(e[n++], 300, "EDGE_LISTEN_URL=%s", harness_ipc_url("e2ctl"));
	snprintf(e[n++], 300, "EDGE_PUB_URL=%s", harness_ipc_url("e2pub"));
	snprintf(e[n++], 300, "EDGE_HTTP_PORT=%d", port);
	snprintf(e[n++], 300, "TWILIO_AUTH_TOKEN=wrong-token");
	snprintf(e[n++], 300, "EDGE_STREAM_TOKEN_SECRET=" SECRET);
	snprintf(e[n++], 300, "EDGE_API_TOKEN=" API_TOKEN);
	snprintf(e[n++], 300, "TWILIO_API_BASE_URL=%s/2010-04-01", S.tw_http);
	snprintf(e[n++], 300, "TWILIO_ACCOUNT_SID=" ACCOUNT);
	snprintf(e[n++], 300, "TWILIO_FROM_NUMBER=+15550001111");
	snprintf(e[n++], 300, "AI_SESSION_URL=%s", harness_ipc_url("ai"));
	snprintf(e[n++], 300, "RATE_LIMITER_URL=");
	snprintf(e[n++], 300, "PERSISTER_URL=");
	for (i = 0; i < n; i++)
		env[i] = e[i];
	env[n] = NULL;
	assert_non_null(p = harness_spawn("media-edge", env));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/calls", port);
	assert_int_equal(harness_http("POST", url, headers,
	                     "{\"to\":\"+15550002222\"}", &status, &resp),
	    0);
	assert_int_equal(status, 502);
	assert_non_null(strstr(resp, "provider_error"));
	free(resp);
	assert_int_equal(harness_stop(p, 10000), 0);
}

static long
post_form(const char *path, const char *sig_header, const char *body)
{
	char        url[96];
	const char *headers[3]
	    = { "Content-Type: application/x-www-form-urlencoded", sig_header,
		      NULL };
	long status = 0;

	snprintf(url, sizeof(url), "%s%s", S.edge_http, path);
	assert_int_equal(
	    harness_http("POST", url, headers, body, &status, NULL), 0);
	return (status);
}

static void
test_forged_webhooks(void **state)
{
	const char *paths[] = { "/twiml", "/status" };
	const char *body = "CallSid=CAforged1&From=%2B15550003333&To=%2B1"
	                   "5550004444&Direction=inbound&CallStatus=ringing";
	int         c0, o0, e0, c1, o1, e1, i;
	double      before = metric("edge_streams_total");

	(void)state;
	snapshot(&c0, &o0, &e0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(post_form(paths[i], NULL, body), 403);
		assert_int_equal(post_form(paths[i],
		                     "X-Twilio-Signature: "
		                     "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
		                     body),
		    403);
		assert_int_equal(post_form(paths[i],
		                     "X-Twilio-Signature: "
		                     "garbage",
		                     body),
		    403);
	}
	nng_msleep(200);
	snapshot(&c1, &o1, &e1);
	assert_int_equal(c1, c0);
	assert_int_equal(o1, o0);
	assert_int_equal(e1, e0);
	assert_true(metric("edge_webhook_refused_total{route=\"twiml\","
	                   "reason=\"missing_signature\"}")
	    == 1);
	assert_true(metric("edge_webhook_refused_total{route=\"twiml\","
	                   "reason=\"bad_signature\"}")
	    == 2);
	assert_true(metric("edge_webhook_refused_total{route=\"status\","
	                   "reason=\"missing_signature\"}")
	    == 1);
	assert_true(metric("edge_webhook_refused_total{route=\"status\","
	                   "reason=\"bad_signature\"}")
	    == 2);
	assert_true(metric("edge_streams_total") == before);
}

static void send_hangup(const char *sid);

static const char *
inbound(const char *from)
{
	static char sid[64];
	char        url[96], body[512], *resp = NULL;
	long        status = 0;
	json_t     *o;

	snprintf(url, sizeof(url), "%s/sim/inbound", S.tw_http);
	snprintf(body, sizeof(body),
	    "{\"to\":\"+15550001111\",\"from\":\"%s\","
	    "\"url\":\"%s/twiml\",\"status_callback\":\"%s/status\"}",
	    from, S.edge_http, S.edge_http);
	assert_int_equal(
	    harness_http("POST", url, NULL, body, &status, &resp), 0);
	assert_true(status / 100 == 2);
	assert_non_null(o = json_loads(resp, 0, NULL));
	snprintf(sid, sizeof(sid), "%s",
	    json_string_value(json_object_get(o, "call_sid")));
	json_decref(o);
	free(resp);
	return (sid);
}

static void
test_inbound(void **state)
{
	struct wait_arg w;
	json_t         *call;
	int             i0;

	(void)state;
	pthread_mutex_lock(&K.lock);
	i0 = K.opens_inbound;
	pthread_mutex_unlock(&K.lock);
	w.sid = inbound("+15550005555");
	w.status = "completed";
	nng_msleep(1500); /* talking; an inbound caller never hangs up */
	send_hangup(w.sid);
	if (harness_wait_for(call_status_is, &w, 15000) != 0) {
		call = sim_call(w.sid);
		json_dumpf(call, stderr, JSON_INDENT(1)); /* what happened */
		json_decref(call);
		fail();
	}
	pthread_mutex_lock(&K.lock);
	assert_string_equal(K.last_phone, "+15550005555");
	assert_int_equal(K.last_kind, BUS__RATE_CHECK__KIND__INBOUND);
	assert_int_equal(K.opens_inbound, i0 + 1);
	pthread_mutex_unlock(&K.lock);
	call = sim_call(w.sid);
	assert_int_equal(json_array_size(json_object_get(call, "streams")), 1);
	assert_true(json_integer_value(json_object_get(
	                json_array_get(json_object_get(call, "streams"), 0),
	                "frames_received"))
	    > 50);
	json_decref(call);
}

static void
test_inbound_rate_limited(void **state)
{
	struct wait_arg w;
	json_t         *call;
	int             c0, o0, e0, c1, o1, e1;
	double          streams = metric("edge_streams_total");
	char           *said;

	(void)state;
	snapshot(&c0, &o0, &e0);
	w.sid = inbound(BLOCKED);
	w.status = "completed";
	assert_int_equal(harness_wait_for(call_status_is, &w, 15000), 0);
	call = sim_call(w.sid);
	said = json_dumps(json_object_get(call, "said"), JSON_ENCODE_ANY);
	assert_non_null(said);
	assert_non_null(strstr(said, "cannot take your call"));
	free(said);
	assert_int_equal(json_array_size(json_object_get(call, "streams")), 0);
	json_decref(call);
	snapshot(&c1, &o1, &e1);
	assert_int_equal(c1, c0 + 1); /* asked once */
	assert_int_equal(o1, o0); /* no call record */
	assert_true(metric("edge_streams_total") == streams); /* no model */
}

/* What ai-session sends when the model ends the call. */
static void
send_hangup(const char *sid)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT, *rep;
	Bus__HangUp     hu = BUS__HANG_UP__INIT;
	struct wire_ids ids;
	nng_socket      req;
	nng_msg        *m;

	assert_int_equal(nng_req0_open(&req), 0);
	nng_socket_set_ms(req, NNG_OPT_RECVTIMEO, 3000);
	assert_int_equal(nng_dial(req, S.ctl, NULL, 0), 0);
	wire_env_init(&env, &ids, sid, NULL);
	hu.reason = "test";
	env.body_case = BUS__ENVELOPE__BODY_HANG_UP;
	env.hang_up = &hu;
	send_env(req, &env);
	assert_int_equal(nng_recvmsg(req, &m, 0), 0);
	assert_int_equal(wire_unpack(m, &rep), 0);
	assert_int_equal(rep->body_case, BUS__ENVELOPE__BODY_ACK);
	wire_free(rep);
	nng_msg_free(m);
	nng_close(req);
}

/* HangUp from the ai-session ends the call at the provider too. */
static void
test_hangup_rest(void **state)
{
	char           *resp = NULL, sid[64];
	json_t         *o;
	struct wait_arg w;
	long long       t0;

	(void)state;
	assert_int_equal(post_calls("Bearer " API_TOKEN,
	                     "{\"to\":\"+15550006666\"}", &resp, NULL),
	    201);
	o = json_loads(resp, 0, NULL);
	snprintf(sid, sizeof(sid), "%s",
	    json_string_value(json_object_get(o, "call_sid")));
	json_decref(o);
	free(resp);
	nng_msleep(800); /* answered, streaming */
	t0 = harness_now_ms();
	send_hangup(sid);
	w.sid = sid;
	w.status = "completed";
	assert_int_equal(harness_wait_for(call_status_is, &w, 10000), 0);
	assert_true(harness_now_ms() - t0 < 2400); /* before the callee */
	assert_true(metric("edge_provider_hangups_total{result=\"ok\"}") >= 1);
}

/* What ai-session does once the summary is stored: the business is
 * notified (signed, event call.summary) through media-edge. */
static int summary_good_before;

static int
summary_notified(void *arg)
{
	return (atomic_load(&N.good) > summary_good_before
	    && strstr(N.body, "call.summary") != NULL
	    && strstr(N.body, (const char *)arg) != NULL);
}

static Bus__Envelope *
send_summary(const char *sid)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT, *rep;
	Bus__Summary    sum = BUS__SUMMARY__INIT;
	struct wire_ids ids;
	nng_socket      req;
	nng_msg        *m;

	assert_int_equal(nng_req0_open(&req), 0);
	nng_socket_set_ms(req, NNG_OPT_RECVTIMEO, 3000);
	assert_int_equal(nng_dial(req, S.ctl, NULL, 0), 0);
	wire_env_init(&env, &ids, sid, NULL);
	sum.outcome = "goal_achieved";
	sum.interest_level = "high";
	sum.next_action = "send the quote";
	sum.summary = "Booked a visit for Thursday.";
	env.body_case = BUS__ENVELOPE__BODY_SUMMARY;
	env.summary = &sum;
	send_env(req, &env);
	assert_int_equal(nng_recvmsg(req, &m, 0), 0);
	assert_int_equal(wire_unpack(m, &rep), 0);
	nng_msg_free(m);
	nng_close(req);
	return (rep);
}

static void
test_summary_notified(void **state)
{
	Bus__Envelope *rep;

	(void)state;
	/* counted before sending: a good signature must raise it */
	summary_good_before = atomic_load(&N.good);
	rep = send_summary("CAsummary0001");
	assert_int_equal(rep->body_case, BUS__ENVELOPE__BODY_ACK);
	wire_free(rep);
	assert_int_equal(
	    harness_wait_for(summary_notified, "CAsummary0001", 8000), 0);
	assert_non_null(strstr(N.body, "\"outcome\":\"goal_achieved\""));
	assert_non_null(strstr(N.body, "Booked a visit for Thursday."));
	/* no call sid: refused, nothing sent */
	rep = send_summary("");
	assert_int_equal(rep->body_case, BUS__ENVELOPE__BODY_ERROR);
	assert_int_equal(rep->error->code, BUS__ERROR__CODE__BAD_REQUEST);
	wire_free(rep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forged_webhooks),
		cmocka_unit_test(test_calls_errors),
		cmocka_unit_test(test_forwarded_for),
		cmocka_unit_test(test_provider_error),
		cmocka_unit_test(test_outbound),
		cmocka_unit_test(test_inbound),
		cmocka_unit_test(test_inbound_rate_limited),
		cmocka_unit_test(test_hangup_rest),
		cmocka_unit_test(test_summary_notified),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
