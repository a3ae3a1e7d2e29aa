/*
 * httpd - /health, /ready and /metrics on libwebsockets 4.1; see
 * httpd.h for both ways to use it.
 *
 * A reply is queued in the request's struct httpd_sess and written from
 * LWS_CALLBACK_HTTP_WRITEABLE: the headers first, then the body in
 * HTTPD_CHUNK pieces, one lws_write() per callback as lws asks, then
 * lws_http_transaction_completed() so a keep-alive connection takes the
 * next request.  Queuing rather than writing in LWS_CALLBACK_HTTP lets a
 * handler answer later (after a request body, or after an nng reply has
 * come back through lws_cancel_service()) with the same call.
 *
 * Standalone mode owns one lws context and one service thread.  The only
 * cross-thread touch is httpd_stop(): it sets h->stopping and wakes the
 * loop with lws_cancel_service(), the one lws call safe off the thread.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "util.h"
#include "xmalloc.h"

/* Body bytes per WRITEABLE: big enough for few callbacks per scrape,
 * small enough for the stack and for lws to send without buffering. */
#define HTTPD_CHUNK 8192
/* Connections the standalone context serves at once (probes, scrapes);
 * lws uses a few more fds of its own. */
#define HTTPD_MAX_FDS 64

enum {
	SESS_IDLE = 0, /* nothing queued */
	SESS_HEADERS, /* reply queued, headers not yet written */
	SESS_BODY /* headers written, body from s->off */
};

struct httpd {
	struct lws_context  *ctx;
	pthread_t            thread;
	struct httpd_conf    conf; /* conf.addr points to addr */
	char                *addr;
	atomic_bool          stopping;
	struct lws_protocols protocols[2];
};

static const char      body_404[] = "{\"error\":\"not found\"}";
static const char      body_405[] = "{\"error\":\"method not allowed\"}";
static const char      body_400[] = "{\"error\":\"bad content-length\"}";
static const char      body_411[] = "{\"error\":\"length required\"}";
static const char      body_500[] = "{\"error\":\"internal error\"}";
static struct timespec httpd_t0; /* for the default health body */

/* lws service thread (or main, during context creation and destroy). */
static void
lws_log_cb(int level, const char *line)
{
	size_t n = strlen(line);

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	/* Refused upgrades are logged by the daemon, with the reason. */
	if (strstr(line, "User code denied connection") != NULL)
		return;
	if (level & LLL_ERR)
		log_errorx("lws: %.*s", (int)n, line);
	else
		log_warnx("lws: %.*s", (int)n, line);
}

void
httpd_log_init(void)
{
	if (httpd_t0.tv_sec == 0)
		clock_gettime(CLOCK_MONOTONIC, &httpd_t0);
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_cb);
}

int
httpd_health_json(
    char *buf, size_t len, const char *status, long active, double uptime_s)
{
	json_t *o;
	size_t  n;

	o = json_pack("{s:s,s:I,s:f}", "status", status, "activeCalls",
	    (json_int_t)active, "uptime", uptime_s);
	if (o == NULL) {
		log_warnx("httpd: cannot build the health body");
		return (-1);
	}
	/* Ten digits: milliseconds for the first 100 days of uptime. */
	n = json_dumpb(o, buf, len, JSON_COMPACT | JSON_REAL_PRECISION(10));
	json_decref(o);
	if (n == 0 || n >= len) {
		log_warnx(
		    "httpd: health body needs %zu bytes, has %zu", n, len);
		return (-1);
	}
	buf[n] = '\0';
	return ((int)n);
}

static int
method(struct lws *wsi)
{
	char *uri;
	int   len;

	return (lws_http_get_uri_and_method(wsi, &uri, &len));
}

/*
 * A POST, PUT or PATCH without Content-Length, or any request with a
 * Transfer-Encoding: lws 4.1 reads no chunked request body (it takes
 * what follows on the connection as body, or as the next request), so
 * such a request is answered 411 and its connection closed.
 */
static bool
body_unbounded(struct lws *wsi)
{
	int m = method(wsi);

	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
		return (true);
	return (
	    (m == LWSHUMETH_POST || m == LWSHUMETH_PUT || m == LWSHUMETH_PATCH)
	    && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0);
}

/* A Content-Length body that lws has not handed over in full yet. */
static bool
body_unread(struct lws *wsi, const struct httpd_sess *s)
{
	char cl[24];

	if (s->body_done || body_unbounded(wsi)
	    || lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH)
	        <= 0)
		return (false);
	return (strtoll(cl, NULL, 10) > 0);
}

int
httpd_answering(const struct httpd_sess *s)
{
	return (s->state != SESS_IDLE);
}

void
httpd_hold(struct lws *wsi)
{
	(void)lws_rx_flow_control(wsi, 0);
}

void
httpd_release(struct lws *wsi)
{
	(void)lws_rx_flow_control(wsi, 1);
}

void
httpd_body_done(struct lws *wsi, struct httpd_sess *s)
{
	s->body_done = 1;
	if (s->state == SESS_HEADERS)
		lws_callback_on_writable(wsi); /* an answer was waiting */
}

/* A Content-Length that is not a plain number: lws 4.1 takes "-5" as
 * no body yet never completes the request. */
static bool
length_bad(struct lws *wsi)
{
	char cl[24];
	int  n
	    = lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH);

	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
		return (false);
	return (n <= 0 || n > 15 || strspn(cl, "0123456789") != (size_t)n);
}

int
httpd_refuse_unbounded(struct lws *wsi, struct httpd_sess *s)
{
	if (length_bad(wsi)) {
		httpd_reply(wsi, s, 400, HTTPD_CT_JSON, body_400,
		    sizeof(body_400) - 1);
		return (1);
	}
	if (!body_unbounded(wsi))
		return (0);
	httpd_reply(
	    wsi, s, 411, HTTPD_CT_JSON, body_411, sizeof(body_411) - 1);
	return (1);
}

/*
 * CONNECT: lws 4.1 turns the connection into a raw socket (its
 * "fallback" role) with no timeout.  We answer 405 and close.  Called
 * for the LWS_CALLBACK_RAW_* reasons of the HTTP protocol.
 */
int
httpd_raw(struct lws *wsi, int reason)
{
	static const char resp[]
	    = "HTTP/1.1 405 Method Not Allowed\r\n"
	      "content-type: application/json\r\n"
	      "content-length: 30\r\nallow: GET, HEAD, POST\r\n"
	      "connection: close\r\n\r\n"
	      "{\"error\":\"method not allowed\"}";
	unsigned char buf[LWS_PRE + sizeof(resp)];

	switch (reason) {
	case LWS_CALLBACK_RAW_ADOPT:
		lws_set_timeout(
		    wsi, PENDING_TIMEOUT_CLOSE_SEND, HTTPD_RAW_TIMEOUT_S);
		lws_callback_on_writable(wsi);
		return (0);
	case LWS_CALLBACK_RAW_WRITEABLE:
		memcpy(buf + LWS_PRE, resp, sizeof(resp) - 1);
		(void)lws_write(
		    wsi, buf + LWS_PRE, sizeof(resp) - 1, LWS_WRITE_RAW);
		return (-1);
	default:
		return (0); /* RAW_RX: the request is not read */
	}
}

/* Take ownership of body (malloc'd, or NULL when len is 0). */
static int
queue_reply(struct lws *wsi, struct httpd_sess *s, int status,
    const char *ctype, char *body, size_t len)
{
	if (s->state != SESS_IDLE) {
		/* lws handing the request over again: see httpd.h */
		free(body);
		return (-1);
	}
	s->body = body;
	s->len = len;
	s->off = 0;
	s->status = status;
	s->ctype = ctype;
	s->head = method(wsi) == LWSHUMETH_HEAD;
	s->state = SESS_HEADERS;
	/* An early answer waits for the body (httpd_body_done()): closing
	 * on unread bytes would reset the connection under the answer. */
	if (!body_unread(wsi, s))
		lws_callback_on_writable(wsi);
	return (0);
}

int
httpd_reply(struct lws *wsi, struct httpd_sess *s, int status,
    const char *ctype, const char *body, size_t len)
{
	char *copy = NULL;

	if (len > 0) {
		copy = xmalloc(len);
		memcpy(copy, body, len);
	}
	return (queue_reply(wsi, s, status, ctype, copy, len));
}

void
httpd_sess_fini(struct httpd_sess *s)
{
	free(s->body);
	memset(s, 0, sizeof(*s));
}

static int
add_header(struct lws *wsi, const char *name, const char *value,
    unsigned char **p, unsigned char *end)
{
	return (lws_add_http_header_by_name(wsi, (const unsigned char *)name,
	    (const unsigned char *)value, (int)strlen(value), p, end));
}

static int
write_headers(struct lws *wsi, struct httpd_sess *s)
{
	unsigned char  buf[LWS_PRE + 512];
	unsigned char *start = buf + LWS_PRE, *p = start;
	unsigned char *end = buf + sizeof(buf);

	if (lws_add_http_common_headers(wsi, (unsigned int)s->status, s->ctype,
	        (lws_filepos_t)s->len, &p, end)
	        != 0
	    || add_header(wsi, "cache-control:", "no-store", &p, end) != 0
	    || (s->status == 405
	        && add_header(wsi, "allow:", "GET, HEAD", &p, end) != 0)
	    || add_header(wsi, "connection:", "close", &p, end) != 0
	    || lws_finalize_write_http_header(wsi, start, &p, end) != 0) {
		log_warnx("httpd: cannot write the %d headers", s->status);
		return (-1);
	}
	return (0);
}

int
httpd_answer_now(struct lws *wsi, int status, const char *body)
{
	unsigned char  buf[LWS_PRE + 512], out[LWS_PRE + 256];
	unsigned char *start = buf + LWS_PRE, *p = start;
	unsigned char *end = buf + sizeof(buf);
	size_t         len = strlen(body);

	if (len > sizeof(out) - LWS_PRE
	    || lws_add_http_common_headers(wsi, (unsigned int)status,
	           HTTPD_CT_JSON, (lws_filepos_t)len, &p, end)
	        != 0
	    || add_header(wsi, "cache-control:", "no-store", &p, end) != 0
	    || add_header(wsi, "connection:", "close", &p, end) != 0
	    || lws_finalize_write_http_header(wsi, start, &p, end) != 0)
		return (-1);
	memcpy(out + LWS_PRE, body, len);
	if (lws_write(wsi, out + LWS_PRE, len, LWS_WRITE_HTTP_FINAL)
	    < (int)len)
		return (-1);
	return (0);
}

/* Answer sent: lws flushes what it still holds and closes (httpd.h). */
static int
finish(struct lws *wsi, struct httpd_sess *s)
{
	(void)wsi;
	httpd_sess_fini(s);
	return (-1);
}

int
httpd_writeable(struct lws *wsi, struct httpd_sess *s)
{
	unsigned char buf[LWS_PRE + HTTPD_CHUNK];
	size_t        n;
	int           final;

	switch (s->state) {
	case SESS_HEADERS:
		if (write_headers(wsi, s) == -1)
			return (-1);
		if (s->len == 0 || s->head)
			return (finish(wsi, s));
		s->state = SESS_BODY;
		lws_callback_on_writable(wsi);
		return (0);
	case SESS_BODY:
		n = s->len - s->off;
		if (n > HTTPD_CHUNK)
			n = HTTPD_CHUNK;
		memcpy(buf + LWS_PRE, s->body + s->off, n);
		final = s->off + n == s->len;
		if (lws_write(wsi, buf + LWS_PRE, n,
		        final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP)
		    < (int)n) {
			log_warnx("httpd: write failed after %zu of %zu bytes",
			    s->off, s->len);
			return (-1);
		}
		s->off += n;
		if (final)
			return (finish(wsi, s));
		lws_callback_on_writable(wsi);
		return (0);
	default:
		return (0); /* nothing queued on this request */
	}
}

/* HEAD is GET without the body (httpd_writeable() leaves it out). */
static bool
is_get(struct lws *wsi)
{
	int m = method(wsi);

	return (m == LWSHUMETH_GET || m == LWSHUMETH_HEAD);
}

static double
uptime(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((double)(now.tv_sec - httpd_t0.tv_sec)
	    + (double)(now.tv_nsec - httpd_t0.tv_nsec) / 1e9);
}

static int
reply_health(struct lws *wsi, struct httpd_sess *s,
    const struct httpd_conf *conf, int ready)
{
	char buf[HTTPD_HEALTH_MAX];
	int  status = 200;

	buf[0] = '\0';
	if (conf != NULL && conf->health != NULL)
		status = conf->health(conf->arg, ready, buf, sizeof(buf));
	else if (httpd_health_json(buf, sizeof(buf), "healthy", 0, uptime())
	    == -1)
		status = 500;
	buf[sizeof(buf) - 1] = '\0';
	if (status < 200 || status > 599 || buf[0] == '\0') {
		log_warnx("httpd: health callback returned %d and %zu bytes",
		    status, strlen(buf));
		return (httpd_reply(wsi, s, 500, HTTPD_CT_JSON, body_500,
		    sizeof(body_500) - 1));
	}
	return (httpd_reply(wsi, s, status, HTTPD_CT_JSON, buf, strlen(buf)));
}

int
httpd_builtin(struct lws *wsi, struct httpd_sess *s, const char *path,
    const struct httpd_conf *conf)
{
	char  *text;
	size_t len;

	if (strcmp(path, "/health") != 0 && strcmp(path, "/ready") != 0
	    && strcmp(path, "/metrics") != 0)
		return (0);
	if (s->state != SESS_IDLE)
		return (1); /* lws handing the request over again */
	if (!is_get(wsi)) {
		httpd_reply(wsi, s, 405, HTTPD_CT_JSON, body_405,
		    sizeof(body_405) - 1);
		return (1);
	}
	if (httpd_refuse_unbounded(wsi, s))
		return (1);
	if (strcmp(path, "/metrics") != 0) {
		reply_health(wsi, s, conf, strcmp(path, "/ready") == 0);
		return (1);
	}
	if ((text = metrics_render(&len)) == NULL)
		httpd_reply(wsi, s, 500, HTTPD_CT_JSON, body_500,
		    sizeof(body_500) - 1);
	else
		queue_reply(wsi, s, 200, HTTPD_CT_METRICS, text, len);
	return (1);
}

/* lws service thread only. */
static int
httpd_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct httpd      *h = lws_context_user(lws_get_context(wsi));
	struct httpd_sess *s = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		if (s->state != SESS_IDLE)
			return (0); /* lws handing the request over again */
		if (httpd_builtin(wsi, s, in, &h->conf)
		    || httpd_refuse_unbounded(wsi, s))
			return (0);
		if (!is_get(wsi))
			return (httpd_reply(wsi, s, 405, HTTPD_CT_JSON,
			    body_405, sizeof(body_405) - 1));
		return (httpd_reply(wsi, s, 404, HTTPD_CT_JSON, body_404,
		    sizeof(body_404) - 1));
	case LWS_CALLBACK_HTTP_BODY:
		return (0); /* no handler takes a body */
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		httpd_body_done(wsi, s); /* the reply was queued already */
		return (0);
	case LWS_CALLBACK_RAW_ADOPT:
	case LWS_CALLBACK_RAW_RX:
	case LWS_CALLBACK_RAW_WRITEABLE:
		return (httpd_raw(wsi, (int)reason));
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return (httpd_writeable(wsi, s));
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (s != NULL)
			httpd_sess_fini(s);
		break;
	default:
		break;
	}
	return (lws_callback_http_dummy(wsi, reason, user, in, len));
}

/* The service thread: runs the loop until httpd_stop() says stop. */
static void *
httpd_main(void *arg)
{
	struct httpd *h = arg;

	while (!atomic_load(&h->stopping)) {
		if (lws_service(h->ctx, 0) < 0) {
			log_warnx("httpd: lws_service failed; stopping");
			break;
		}
	}
	return (NULL);
}

/*
 * Bind addr:port once ourselves before lws does.  lws also takes
 * interface names, and for an address it cannot bind it keeps retrying
 * in the background rather than failing; we want an IP literal and a
 * clear error (with errno) at startup.
 */
static int
probe_bind(const char *addr, int port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in     *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6    *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t               slen;
	int                     fd, one = 1, rv = -1;

	memset(&ss, 0, sizeof(ss));
	if (addr == NULL || inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		slen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		slen = sizeof(*sin6);
	} else {
		log_warnx(
		    "httpd: bind address \"%s\" is not an IP address", addr);
		return (-1);
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("httpd: socket");
		return (-1);
	}
	/* lws sets SO_REUSEADDR too: TIME_WAIT leftovers are no conflict. */
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, slen) == -1)
		log_warn("httpd: cannot bind %s:%d", addr != NULL ? addr : "*",
		    port);
	else
		rv = 0;
	close(fd);
	return (rv);
}

struct httpd *
httpd_start(const struct httpd_conf *conf)
{
	struct lws_context_creation_info info;
	struct httpd                    *h;

	httpd_log_init();
	if (conf->port <= 0 || conf->port > 65535) {
		log_warnx("httpd: bad port %d", conf->port);
		return (NULL);
	}
	if (probe_bind(conf->addr, conf->port) == -1)
		return (NULL);
	h = xcalloc(1, sizeof(*h));
	h->conf = *conf;
	if (conf->addr != NULL)
		h->addr = xstrdup(conf->addr);
	h->conf.addr = h->addr;
	atomic_init(&h->stopping, false);
	h->protocols[0].name = "http";
	h->protocols[0].callback = httpd_cb;
	h->protocols[0].per_session_data_size = sizeof(struct httpd_sess);

	memset(&info, 0, sizeof(info));
	info.port = conf->port;
	info.iface = h->addr;
	info.protocols = h->protocols;
	info.user = h;
	info.vhost_name = "httpd";
	info.fd_limit_per_thread = HTTPD_MAX_FDS;
	/* IPv4 unless asked for IPv6: "all" must work on v4-only hosts. */
	if (h->addr == NULL || strchr(h->addr, ':') == NULL)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if ((h->ctx = lws_create_context(&info)) == NULL) {
		log_warnx("httpd: cannot listen on %s:%d (bad address, or "
		          "port in use)",
		    h->addr != NULL ? h->addr : "*", conf->port);
		goto fail;
	}
	if ((errno = pthread_create(&h->thread, NULL, httpd_main, h)) != 0) {
		log_warn("httpd: pthread_create");
		lws_context_destroy(h->ctx);
		goto fail;
	}
	log_info("httpd: listening on %s:%d", h->addr != NULL ? h->addr : "*",
	    conf->port);
	return (h);
fail:
	free(h->addr);
	free(h);
	return (NULL);
}

void
httpd_stop(struct httpd *h)
{
	struct timespec deadline;
	int             rv;

	if (h == NULL)
		return;
	atomic_store(&h->stopping, true);
	lws_cancel_service(h->ctx);
	util_deadline(&deadline, CLOCK_REALTIME, HTTPD_STOP_TIMEOUT_MS);
	if ((rv = pthread_timedjoin_np(h->thread, NULL, &deadline)) != 0) {
		/* The thread may still use ctx: leak it rather than crash. */
		log_warnx("httpd: service thread did not stop in %d ms",
		    HTTPD_STOP_TIMEOUT_MS);
		return;
	}
	lws_context_destroy(h->ctx);
	log_info("httpd: stopped");
	free(h->addr);
	free(h);
}
