/*
 * httpd_test - a standalone httpd on a free loopback port, driven with
 * libcurl: /health, /ready, /metrics (large enough to need many writes),
 * 404, 405 for POST with small and large bodies (answered once the body
 * is read, then closed: one request per connection),
 * a busy port refused, and the port free again after httpd_stop().
 * Then the embedded mode, as media-edge uses it: our own lws context
 * whose HTTP callback calls httpd_builtin(), and answers a POST with
 * httpd_reply() once the body is in.  Both modes also get hostile input:
 * requests pipelined behind a request with a body (answered once, then
 * closed: lws 4.1 used to spin on them for ever), CONNECT (405, closed),
 * a chunked body (411) and a negative Content-Length (400).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <libwebsockets.h>

#include "httpd.h"
#include "log.h"
#include "metrics.h"

#define NCLIENTS 4
#define NGETS 25

struct resp {
	long   status;
	char   ctype[128];
	char  *body;
	size_t len;
};

struct fixture {
	struct httpd *h;
	int           port;
	atomic_int    ready;
	atomic_int    broken; /* health callback misbehaves */
	atomic_int    calls; /* health callback invocations */
};

/* Embedded mode: what media-edge keeps per HTTP session. */
struct embed_pss {
	struct httpd_sess hs;
	int               echo; /* POST /echo: count body */
	size_t            got;
};

struct embed {
	struct lws_context *ctx;
	pthread_t           thread;
	atomic_bool         stop;
	int                 port;
};

/* lws service thread. */
static int
health_cb(void *arg, int ready, char *buf, size_t len)
{
	struct fixture *fx = arg;

	atomic_fetch_add(&fx->calls, 1);
	if (atomic_load(&fx->broken))
		return (0);
	if (ready && !atomic_load(&fx->ready)) {
		httpd_health_json(buf, len, "starting", 0, 1.5);
		return (503);
	}
	httpd_health_json(buf, len, "healthy", 3, 12.25);
	return (200);
}

/* A port nothing listens on now: bind to 0, read it, close. */
static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t          slen = sizeof(sin);
	int                fd, port;

	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return (port);
}

/* 0 if a new listener can take the port, else errno. */
static int
try_listen(int port)
{
	struct sockaddr_in sin;
	int                fd, one = 1, rv = 0;

	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	/* As servers do: TIME_WAIT from closed connections is no conflict. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0
	    || listen(fd, 1) != 0)
		rv = errno;
	close(fd);
	return (rv);
}

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;

	r->body = realloc(r->body, r->len + size * n + 1);
	assert_non_null(r->body);
	memcpy(r->body + r->len, p, size * n);
	r->len += size * n;
	r->body[r->len] = '\0';
	return (size * n);
}

/* One request on curl handle c (reused: keep-alive); method NULL = GET. */
static void
fetch(CURL *c, int port, const char *method, const char *path,
    const char *body, size_t blen, struct resp *r)
{
	char url[128], *ct = NULL;

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
	}
	if (method != NULL && strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (method != NULL)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
	if (ct != NULL)
		snprintf(r->ctype, sizeof(r->ctype), "%s", ct);
	if (r->body == NULL)
		r->body = calloc(1, 1);
}

static void
expect(CURL *c, int port, const char *method, const char *path, long status,
    const char *ctype, const char *body)
{
	struct resp r;

	fetch(c, port, method, path, NULL, 0, &r);
	assert_int_equal(r.status, status);
	assert_string_equal(r.ctype, ctype);
	if (body != NULL)
		assert_string_equal(r.body, body);
	free(r.body);
}

static int
setup(void **state)
{
	static struct fixture fx;
	struct httpd_conf     conf = { 0 };

	memset(&fx, 0, sizeof(fx));
	fx.port = free_port();
	conf.addr = "127.0.0.1";
	conf.port = fx.port;
	conf.health = health_cb;
	conf.arg = &fx;
	if ((fx.h = httpd_start(&conf)) == NULL)
		return (-1);
	*state = &fx;
	return (0);
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	httpd_stop(fx->h);
	metrics_fini();
	/* Stopped means closed: a new listener may take the port at once. */
	if (try_listen(fx->port) != 0) {
		print_error(
		    "port %d still taken after httpd_stop\n", fx->port);
		return (-1);
	}
	return (0);
}

static void
test_health_json(void **state)
{
	const char *want
	    = "{\"status\":\"healthy\",\"activeCalls\":3,\"uptime\":12.25}";
	char buf[128], small[16];

	assert_int_equal(
	    httpd_health_json(buf, sizeof(buf), "healthy", 3, 12.25),
	    (int)strlen(want));
	assert_string_equal(buf, want);
	assert_int_equal(
	    httpd_health_json(small, sizeof(small), "healthy", 3, 1), -1);
	assert_true(httpd_health_json(buf, sizeof(buf), "a\"b", 0, 0) > 0);
	assert_non_null(strstr(buf, "\"status\":\"a\\\"b\""));
}

static void
test_health_ready(void **state)
{
	struct fixture *fx = *state;
	CURL           *c = curl_easy_init();

	assert_non_null(c);
	expect(c, fx->port, NULL, "/health", 200, HTTPD_CT_JSON,
	    "{\"status\":\"healthy\",\"activeCalls\":3,\"uptime\":12.25}");
	expect(c, fx->port, NULL, "/ready", 503, HTTPD_CT_JSON,
	    "{\"status\":\"starting\",\"activeCalls\":0,\"uptime\":1.5}");
	atomic_store(&fx->ready, 1);
	expect(c, fx->port, NULL, "/ready?verbose=1", 200, HTTPD_CT_JSON,
	    "{\"status\":\"healthy\",\"activeCalls\":3,\"uptime\":12.25}");
	assert_int_equal(atomic_load(&fx->calls), 3);
	atomic_store(&fx->broken, 1);
	expect(c, fx->port, NULL, "/health", 500, HTTPD_CT_JSON,
	    "{\"error\":\"internal error\"}");
	curl_easy_cleanup(c);
}

static void
test_not_found_and_methods(void **state)
{
	struct fixture *fx = *state;
	CURL           *c = curl_easy_init();
	struct resp     r;
	char           *big;
	size_t          i, sizes[] = { 5, 300 * 1024 };

	expect(c, fx->port, NULL, "/nope", 404, HTTPD_CT_JSON,
	    "{\"error\":\"not found\"}");
	expect(c, fx->port, NULL, "/", 404, HTTPD_CT_JSON,
	    "{\"error\":\"not found\"}");
	expect(c, fx->port, "DELETE", "/health", 405, HTTPD_CT_JSON,
	    "{\"error\":\"method not allowed\"}");
	/* HEAD: headers only, and the connection stays in step. */
	expect(c, fx->port, "HEAD", "/metrics", 200, HTTPD_CT_METRICS, "");
	expect(c, fx->port, "HEAD", "/nope", 404, HTTPD_CT_JSON, "");
	expect(c, fx->port, NULL, "/health", 200, HTTPD_CT_JSON,
	    "{\"status\":\"healthy\",\"activeCalls\":3,\"uptime\":12.25}");
	/* Bodies the server never reads, then the same connection again. */
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_non_null(big = malloc(sizes[i]));
		memset(big, 'x', sizes[i]);
		fetch(c, fx->port, NULL, i == 0 ? "/metrics" : "/nope", big,
		    sizes[i], &r);
		assert_int_equal(r.status, 405);
		assert_string_equal(r.ctype, HTTPD_CT_JSON);
		assert_string_equal(
		    r.body, "{\"error\":\"method not allowed\"}");
		free(r.body);
		free(big);
		expect(c, fx->port, NULL, "/health", 200, HTTPD_CT_JSON, NULL);
	}
	curl_easy_cleanup(c);
}

static void
test_metrics(void **state)
{
	struct fixture       *fx = *state;
	struct metric_family *fam;
	CURL                 *c = curl_easy_init();
	struct resp           r;
	char                  v[32], cmd[160];
	char                  path[] = "/tmp/httpd_test.XXXXXX";
	FILE                 *f;
	int                   i, fd;

	metrics_init("httpd-test", "9.9");
	/* ~2000 series: a body of many HTTPD_CHUNKs. */
	fam = metrics_counter(
	    "t_peer_requests_total", "Requests by peer.", "peer");
	for (i = 0; i < 2000; i++) {
		snprintf(v, sizeof(v), "peer-%04d", i);
		metric_add(metric_get(fam, v), i);
	}
	fetch(c, fx->port, NULL, "/metrics", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, HTTPD_CT_METRICS);
	assert_true(r.len > 64 * 1024);
	assert_int_equal(strlen(r.body), r.len);
	assert_non_null(strstr(
	    r.body, "\nt_peer_requests_total{peer=\"peer-1999\"} 1999\n"));
	assert_non_null(
	    strstr(r.body, "\nhttpd_test_build_info{version=\"9.9\"} 1\n"));
	assert_non_null(strstr(r.body, "\nprocess_open_fds "));
	assert_int_equal(r.body[r.len - 1], '\n');

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_non_null(f = fdopen(fd, "w"));
	assert_int_equal(fwrite(r.body, 1, r.len, f), r.len);
	assert_int_equal(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s >&2", path);
	assert_int_equal(system(cmd), 0);
	unlink(path);
	free(r.body);
	curl_easy_cleanup(c);
}

static int
connect_port(int port)
{
	struct sockaddr_in sin;
	struct timeval     tv = { 3, 0 };
	int                fd;

	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return (fd);
}

static void
send_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	for (; len > 0; p += n, len -= (size_t)n)
		assert_true((n = send(fd, p, len, MSG_NOSIGNAL)) > 0);
}

/* Read until want has arrived; fails after the 3 s receive timeout. */
static void
recv_until(int fd, const char *want)
{
	char    buf[8192];
	size_t  len = 0;
	ssize_t n;

	buf[0] = '\0';
	while (strstr(buf, want) == NULL) {
		assert_true(len < sizeof(buf) - 1);
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			fail_msg(
			    "connection gave \"%s\", not \"%s\"", buf, want);
		len += (size_t)n;
		buf[len] = '\0';
	}
}

/* Answered (405) before its 300 KB body was read: the answer goes out
 * once lws has read the body, then the connection closes cleanly. */
static void
test_early_reply(void **state)
{
	struct fixture *fx = *state;
	size_t          blen = 300 * 1024;
	char            head[128], *body;
	int             fd = connect_port(fx->port);

	assert_non_null(body = malloc(blen));
	memset(body, 'x', blen);
	snprintf(head, sizeof(head),
	    "POST /ready HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: %zu\r\n\r\n",
	    blen);
	send_all(fd, head, strlen(head));
	send_all(fd, body, blen);
	recv_until(fd, "{\"error\":\"method not allowed\"}");
	assert_int_equal(recv(fd, head, sizeof(head), 0), 0);
	close(fd);
	free(body);

	/* No Content-Length: lws would read on as body; 411 and close. */
	fd = connect_port(fx->port);
	snprintf(head, sizeof(head), "PUT /x HTTP/1.1\r\nHost: t\r\n\r\n");
	send_all(fd, head, strlen(head));
	recv_until(fd,
	    "connection: close\r\n\r\n"
	    "{\"error\":\"length required\"}");
	assert_int_equal(recv(fd, head, sizeof(head), 0), 0);
	close(fd);
}

/* Every byte the server sends until it closes or 3 s pass. */
static size_t
recv_all(int fd, char *buf, size_t cap)
{
	size_t  len = 0;
	ssize_t n;

	while (
	    len < cap - 1 && (n = recv(fd, buf + len, cap - 1 - len, 0)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return (len);
}

static int
count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (; (hay = strstr(hay, needle)) != NULL; hay++)
		n++;
	return (n);
}

/*
 * Requests pipelined in one write, the second with a body: the first is
 * answered and the connection closed (httpd.h: lws 4.1 cannot read a
 * pipelined body), and the port still serves others (it used to spin
 * on the pipelined body for ever).
 */
static void
pipelined(int port)
{
	static const char req[]
	    = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
	      "POST /calls HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	      "Content-Length: 2\r\n\r\n{}";
	static const char three[]
	    = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
	      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
	      "abcdeGET /nothing HTTP/1.1\r\nHost: x\r\n"
	      "Connection: close\r\n\r\n";
	char buf[8192];
	int  fd;

	fd = connect_port(port);
	send_all(fd, req, sizeof(req) - 1);
	recv_all(fd, buf, sizeof(buf));
	assert_int_equal(count_of(buf, "HTTP/1.1 "), 1);
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
	assert_non_null(strstr(buf, "connection: close"));
	close(fd);
	fd = connect_port(port);
	send_all(fd, three + 33, sizeof(three) - 34);
	recv_all(fd, buf, sizeof(buf));
	assert_int_equal(count_of(buf, "HTTP/1.1 "), 1);
	assert_null(strstr(buf, "HTTP/1.1 404"));
	close(fd);
	fd = connect_port(port);
	send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 33);
	recv_until(fd, "HTTP/1.1 200");
	close(fd);
}

/* CONNECT is refused and closed at once, not held open as raw. */
static void
connect_refused(int port)
{
	static const char req[]
	    = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n";
	char buf[4096];
	int  fd = connect_port(port);

	send_all(fd, req, sizeof(req) - 1);
	recv_all(fd, buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 405"));
	close(fd);
}

/* A chunked body: 411 and the connection closed, never taken as the
 * next request. */
static void
chunked_refused(int port, const char *path)
{
	char buf[4096], req[256];
	int  fd = connect_port(port);

	snprintf(req, sizeof(req),
	    "POST %s HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "4\r\nGET \r\n0\r\n\r\n",
	    path);
	send_all(fd, req, strlen(req));
	recv_all(fd, buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 411"));
	assert_int_equal(count_of(buf, "HTTP/1.1 "), 1);
	close(fd);
}

/* A Content-Length that is not a number: 400, not a request held open. */
static void
bad_length(int port, const char *path)
{
	char buf[4096], req[256];
	int  fd = connect_port(port);

	snprintf(req, sizeof(req),
	    "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", path);
	send_all(fd, req, strlen(req));
	recv_all(fd, buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 400"));
	close(fd);
}

static void
test_hostile(void **state)
{
	struct fixture *fx = *state;

	pipelined(fx->port);
	connect_refused(fx->port);
	chunked_refused(fx->port, "/other");
	bad_length(fx->port, "/other");
	pipelined(fx->port);
}

static void *
client_main(void *arg)
{
	struct fixture *fx = arg;
	CURL           *c = curl_easy_init();
	int             i;

	for (i = 0; i < NGETS; i++) {
		expect(c, fx->port, NULL, i % 2 ? "/metrics" : "/health", 200,
		    i % 2 ? HTTPD_CT_METRICS : HTTPD_CT_JSON, NULL);
	}
	curl_easy_cleanup(c);
	return (NULL);
}

static void
test_parallel_clients(void **state)
{
	struct fixture *fx = *state;
	pthread_t       t[NCLIENTS];
	int             i;

	for (i = 0; i < NCLIENTS; i++)
		assert_int_equal(
		    pthread_create(&t[i], NULL, client_main, fx), 0);
	for (i = 0; i < NCLIENTS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
}

/* lws service thread of the embedded context. */
static int
embed_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct embed_pss *pss = user;
	char              body[64];
	char             *uri;
	int               n;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		if (httpd_builtin(wsi, &pss->hs, in, NULL))
			return (0);
		if (pss->echo)
			return (0); /* handed over again: httpd.h */
		if (httpd_refuse_unbounded(wsi, &pss->hs))
			return (0);
		if (strcmp(in, "/echo") == 0
		    && lws_http_get_uri_and_method(wsi, &uri, &n)
		        == LWSHUMETH_POST) {
			pss->echo = 1; /* answer after the body */
			return (0);
		}
		return (
		    httpd_reply(wsi, &pss->hs, 404, HTTPD_CT_JSON, "{}", 2));
	case LWS_CALLBACK_HTTP_BODY:
		pss->got += len;
		return (0);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		httpd_body_done(wsi, &pss->hs);
		if (!pss->echo || httpd_answering(&pss->hs))
			return (0);
		n = snprintf(body, sizeof(body), "{\"bytes\":%zu}", pss->got);
		return (httpd_reply(
		    wsi, &pss->hs, 200, HTTPD_CT_JSON, body, (size_t)n));
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return (httpd_writeable(wsi, &pss->hs));
	case LWS_CALLBACK_RAW_ADOPT:
	case LWS_CALLBACK_RAW_RX:
	case LWS_CALLBACK_RAW_WRITEABLE:
		return (httpd_raw(wsi, (int)reason));
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss != NULL) {
			httpd_sess_fini(&pss->hs);
			pss->echo = 0;
			pss->got = 0;
		}
		break;
	default:
		break;
	}
	return (lws_callback_http_dummy(wsi, reason, user, in, len));
}

static void *
embed_main(void *arg)
{
	struct embed *e = arg;

	while (!atomic_load(&e->stop) && lws_service(e->ctx, 0) >= 0)
		;
	return (NULL);
}

static void
test_embedded(void **state)
{
	static const struct lws_protocols protocols[]
	    = { { "http", embed_cb, sizeof(struct embed_pss), 0, 0, NULL, 0 },
		      { NULL, NULL, 0, 0, 0, NULL, 0 } };
	struct lws_context_creation_info info;
	struct embed                     e;
	CURL                            *c = curl_easy_init();
	struct resp                      r;
	char                            *big;

	memset(&e, 0, sizeof(e));
	memset(&info, 0, sizeof(info));
	e.port = free_port();
	info.port = e.port;
	info.iface = "127.0.0.1";
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	info.protocols = protocols;
	httpd_log_init();
	assert_non_null(e.ctx = lws_create_context(&info));
	assert_int_equal(pthread_create(&e.thread, NULL, embed_main, &e), 0);

	expect(c, e.port, NULL, "/health", 200, HTTPD_CT_JSON, NULL);
	expect(c, e.port, NULL, "/metrics", 200, HTTPD_CT_METRICS, NULL);
	expect(c, e.port, "PUT", "/ready", 405, HTTPD_CT_JSON, NULL);
	expect(c, e.port, NULL, "/other", 404, HTTPD_CT_JSON, "{}");
	assert_non_null(big = malloc(100000));
	memset(big, 'y', 100000);
	fetch(c, e.port, NULL, "/echo", big, 100000, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"bytes\":100000}");
	free(r.body);
	free(big);
	expect(c, e.port, NULL, "/health", 200, HTTPD_CT_JSON, NULL);
	pipelined(e.port);
	connect_refused(e.port);
	chunked_refused(e.port, "/echo");
	bad_length(e.port, "/echo");
	expect(c, e.port, NULL, "/health", 200, HTTPD_CT_JSON, NULL);

	atomic_store(&e.stop, true);
	lws_cancel_service(e.ctx);
	assert_int_equal(pthread_join(e.thread, NULL), 0);
	lws_context_destroy(e.ctx);
	curl_easy_cleanup(c);
	assert_int_equal(try_listen(e.port), 0);
}

static void
test_port_taken(void **state)
{
	struct fixture   *fx = *state;
	struct httpd_conf conf = { 0 };

	conf.addr = "127.0.0.1";
	conf.port = fx->port;
	assert_null(httpd_start(&conf));
	assert_int_equal(try_listen(fx->port), EADDRINUSE);
	conf.port = free_port();
	conf.addr = "no-such-address";
	assert_null(httpd_start(&conf));
	conf.addr = "192.0.2.1"; /* TEST-NET-1: not on this host */
	assert_null(httpd_start(&conf));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_health_json),
		cmocka_unit_test_setup_teardown(
		    test_health_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_not_found_and_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_early_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_parallel_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_port_taken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
		cmocka_unit_test(test_embedded),
	};
	int i, rv;

	log_init("httpd_test");
	log_set_level("error");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* Push socket fds past lws's per-thread limit of 64: lws must cope
	 * with high fd numbers, as in a daemon with many nng pipes. */
	for (i = 0; i < 200; i++)
		(void)open("/dev/null", O_RDONLY);
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return (rv);
}
