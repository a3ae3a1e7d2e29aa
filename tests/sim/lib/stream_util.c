/*
 * stream_util - logging, allocation, clocks, ids, tokens, URLs and the
 * signal thread for the telephone-side simulators.  See stream_util.h.
 *
 * Log lines go to stderr as one JSON object each, built with jansson so
 * every string is escaped the same way.  A mutex keeps lines from two
 * threads (lws service thread, webhook workers) from interleaving.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "stream_util.h"

static const char     *log_svc = "sim";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void
stream_log_init(const char *svc)
{
	log_svc = svc;
	(void)stream_elapsed_ms(); /* fixes the record time origin */
}

static void
log_ts(char *buf, size_t len)
{
	struct timespec ts;
	struct tm       tm;
	char            day[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03ldZ", day, ts.tv_nsec / 1000000);
}

void
stream_log_obj(const char *level, const char *msg, json_t *extra)
{
	json_t *o;
	char    ts[64], *line;

	log_ts(ts, sizeof(ts));
	o = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", level, "svc",
	    log_svc, "msg", msg);
	if (o == NULL) {
		json_decref(extra);
		return;
	}
	if (extra != NULL)
		json_object_update(o, extra);
	json_decref(extra);
	line = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (line == NULL)
		return;
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s\n", line);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
	free(line);
}

void
stream_log(const char *level, const char *fmt, ...)
{
	va_list ap;
	char    msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	stream_log_obj(level, msg, NULL);
}

void
stream_log_lws(int level, const char *line)
{
	char   msg[512];
	size_t n;

	snprintf(msg, sizeof(msg), "lws: %s", line);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	stream_log(level == LLL_ERR ? "error" : "warn", "%s", msg);
}

void *
stream_xcalloc(size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size)) == NULL) {
		stream_log(
		    "error", "calloc %zu x %zu: out of memory", n, size);
		abort();
	}
	return (p);
}

void *
stream_xrealloc(void *p, size_t n, size_t size)
{
	void *q;

	if (size != 0 && n > SIZE_MAX / size) {
		stream_log("error", "realloc %zu x %zu: overflow", n, size);
		abort();
	}
	if ((q = realloc(p, n * size == 0 ? 1 : n * size)) == NULL) {
		stream_log(
		    "error", "realloc %zu x %zu: out of memory", n, size);
		abort();
	}
	return (q);
}

char *
stream_xstrdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL) {
		stream_log("error", "strdup: out of memory");
		abort();
	}
	return (p);
}

int64_t
stream_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

int64_t
stream_elapsed_ms(void)
{
	static _Atomic int64_t origin;
	int64_t                now = stream_now_us(), zero = 0;

	atomic_compare_exchange_strong(&origin, &zero, now);
	return ((now - atomic_load(&origin)) / 1000);
}

static void
hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t            i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

void
stream_sid_make(char *buf, const char *prefix)
{
	unsigned char r[16];
	char          h[33];

	if (RAND_bytes(r, sizeof(r)) != 1) {
		stream_log("error", "RAND_bytes failed");
		abort();
	}
	if (prefix != NULL) {
		hex(r, sizeof(r), h);
		snprintf(buf, STREAM_SID_LEN + 1, "%s%s", prefix, h);
		return;
	}
	r[6] = (r[6] & 0x0f) | 0x40; /* version 4 */
	r[8] = (r[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	hex(r, sizeof(r), h);
	snprintf(buf, STREAM_SID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", h,
	    h + 8, h + 12, h + 16, h + 20);
}

int
stream_token_make(
    const char *secret, const char *call_sid, long long expiry, char *buf)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int  maclen = 0;
	char          msg[STREAM_SID_LEN + 32], h[65];
	int           n;

	n = snprintf(msg, sizeof(msg), "%s.%lld", call_sid, expiry);
	if (n < 0 || (size_t)n >= sizeof(msg)) {
		stream_log("error", "token: call sid too long");
		return (-1);
	}
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret),
	        (unsigned char *)msg, (size_t)n, mac, &maclen)
	        == NULL
	    || maclen != 32) {
		stream_log("error", "token: HMAC-SHA256 failed");
		return (-1);
	}
	hex(mac, 32, h);
	snprintf(buf, STREAM_TOKEN_LEN + 1, "v1.%lld.%s", expiry, h);
	return (0);
}

int
stream_url_split(const char *url, struct stream_url *u)
{
	const char *prot, *ads, *path;
	int         port;

	if (strlen(url) >= sizeof(u->buf)) {
		stream_log("error", "url too long");
		return (-1);
	}
	snprintf(u->buf, sizeof(u->buf), "%s", url);
	if (lws_parse_uri(u->buf, &prot, &ads, &port, &path) != 0
	    || *ads == '\0') {
		stream_log("error", "cannot parse url %s", url);
		return (-1);
	}
	if (strcmp(prot, "ws") && strcmp(prot, "wss") && strcmp(prot, "http")
	    && strcmp(prot, "https")) {
		stream_log("error", "unsupported scheme in url %s", url);
		return (-1);
	}
	u->tls = strcmp(prot, "wss") == 0 || strcmp(prot, "https") == 0;
	u->port = port;
	snprintf(u->host, sizeof(u->host), "%s", ads);
	snprintf(u->path, sizeof(u->path), "/%s", path);
	return (0);
}

int
stream_parse_int(const char *s, long long min, long long max, long long *outp)
{
	char     *end;
	long long v;

	if (s == NULL || *s == '\0')
		return (-1);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return (-1);
	*outp = v;
	return (0);
}

void
stream_sig_block(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

struct sig_arg {
	sigset_t            set;
	struct lws_context *ctx;
	atomic_int         *stop;
};

/* Signal thread: sleeps in sigwait(); the only lws call is cancel_service. */
static void *
sig_main(void *arg)
{
	struct sig_arg *sa = arg;
	int             sig;

	if (sigwait(&sa->set, &sig) == 0) {
		atomic_store(sa->stop, 1);
		lws_cancel_service(sa->ctx);
	}
	free(sa);
	return (NULL);
}

int
stream_sig_start(
    const sigset_t *set, struct lws_context *ctx, atomic_int *stop)
{
	struct sig_arg *sa;
	pthread_t       t;
	int             rv;

	sa = stream_xcalloc(1, sizeof(*sa));
	sa->set = *set;
	sa->ctx = ctx;
	sa->stop = stop;
	if ((rv = pthread_create(&t, NULL, sig_main, sa)) != 0) {
		stream_log("error", "signal thread: %s", strerror(rv));
		free(sa);
		return (-1);
	}
	pthread_detach(t);
	return (0);
}
