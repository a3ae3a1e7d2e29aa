/*
 * http.c - the libcurl client described in http.h: one easy handle in a
 * one-handle multi per thread, bounded attempts, bounded bodies, waits
 * that shutdown interrupts.  The retry-after rules mirror the Anthropic
 * and OpenAI SDKs (protocols.md 7.4), which every API we call accepts.
 */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <curl/header.h>

#include "http.h"
#include "log.h"
#include "xmalloc.h"

/* How often a transfer or a wait looks at the stop flag at the latest
 * (http_client_wake() makes it look at once). */
#define HTTP_POLL_MS 200

static size_t
write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct http_client *c = arg;
	size_t              len = size * n;

	if (c->len + len > c->o.max_body) {
		c->too_large = true;
		return (0); /* CURLE_WRITE_ERROR */
	}
	if (c->len + len + 1 > c->cap) {
		c->cap = (c->len + len + 1) * 2;
		c->buf = xrealloc(c->buf, c->cap);
	}
	memcpy(c->buf + c->len, data, len);
	c->len += len;
	c->buf[c->len] = '\0';
	return (len);
}

int
http_client_init(struct http_client *c, const struct http_opts *o)
{
	memset(c, 0, sizeof(*c));
	c->o = *o;
	if (c->o.connect_timeout_ms <= 0)
		c->o.connect_timeout_ms = HTTP_CONNECT_TIMEOUT_MS;
	if (c->o.timeout_ms <= 0)
		c->o.timeout_ms = HTTP_TIMEOUT_MS;
	if (c->o.max_body == 0)
		c->o.max_body = HTTP_MAX_BODY;
	if (o->ca_file != NULL && o->ca_file[0] != '\0')
		c->ca_file = xstrdup(o->ca_file);
	if (o->user_agent != NULL)
		c->user_agent = xstrdup(o->user_agent);
	c->o.ca_file = c->ca_file;
	c->o.user_agent = c->user_agent;
	c->seed = (unsigned int)(time(NULL) ^ getpid() ^ (uintptr_t)c);
	if ((c->easy = curl_easy_init()) == NULL
	    || (c->multi = curl_multi_init()) == NULL) {
		log_warnx("http: libcurl cannot start");
		http_client_fini(c);
		return (-1);
	}
	return (0);
}

void
http_client_fini(struct http_client *c)
{
	if (c->multi != NULL)
		curl_multi_cleanup(c->multi);
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	free(c->buf);
	free(c->ca_file);
	free(c->user_agent);
	memset(c, 0, sizeof(*c));
}

void
http_client_wake(struct http_client *c)
{
	if (c->multi != NULL)
		(void)curl_multi_wakeup(c->multi);
}

static bool
stopped(const struct http_client *c)
{
	return (c->o.stop != NULL && atomic_load(c->o.stop) != 0);
}

/* The URL without user info or query string: what may be logged. */
static void
url_for_log(const char *url, char *out, size_t len)
{
	CURLU *u = curl_url();
	char  *host = NULL, *path = NULL, *scheme = NULL;

	snprintf(out, len, "(bad URL)");
	if (u == NULL)
		return;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK
	    && curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
	    && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK
	    && curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK)
		snprintf(out, len, "%s://%s%s", scheme, host, path);
	curl_free(scheme);
	curl_free(host);
	curl_free(path);
	curl_url_cleanup(u);
}

/* Drive the transfer until it ends or the stop flag is set. */
static CURLcode
run(struct http_client *c, bool *cancelled)
{
	CURLMsg *m;
	CURLcode cc = CURLE_RECV_ERROR;
	int      running = 1, left;

	if (curl_multi_add_handle(c->multi, c->easy) != CURLM_OK)
		return (CURLE_FAILED_INIT);
	for (;;) {
		if (curl_multi_perform(c->multi, &running) != CURLM_OK
		    || running == 0)
			break;
		if (stopped(c)) {
			*cancelled = true;
			break;
		}
		if (curl_multi_poll(c->multi, NULL, 0, HTTP_POLL_MS, NULL)
		    != CURLM_OK)
			break;
	}
	while ((m = curl_multi_info_read(c->multi, &left)) != NULL)
		if (m->msg == CURLMSG_DONE && m->easy_handle == c->easy)
			cc = m->data.result;
	if (*cancelled)
		cc = CURLE_ABORTED_BY_CALLBACK;
	curl_multi_remove_handle(c->multi, c->easy);
	return (cc);
}

static struct curl_slist *
header_list(const char *const *headers, bool has_body)
{
	struct curl_slist *h = NULL, *n;

	for (; headers != NULL && *headers != NULL; headers++) {
		if ((n = curl_slist_append(h, *headers)) == NULL)
			fatalx("curl_slist_append: out of memory");
		h = n;
	}
	/* no 100-continue round trip before a body */
	if (has_body && (n = curl_slist_append(h, "Expect:")) != NULL)
		h = n;
	return (h);
}

static void
setup(struct http_client *c, const struct http_req *r, struct curl_slist *h,
    char *err)
{
	CURL *e = c->easy;

	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(
	    e, CURLOPT_CONNECTTIMEOUT_MS, c->o.connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
	    r->timeout_ms > 0 ? r->timeout_ms : c->o.timeout_ms);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	if (c->o.user_agent != NULL)
		curl_easy_setopt(e, CURLOPT_USERAGENT, c->o.user_agent);
	if (c->o.ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->o.ca_file);
	if (r->body != NULL) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(r->body_len > 0 ? r->body_len
		                                 : strlen(r->body)));
	}
	if (r->method != NULL)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	if (r->user != NULL) {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERNAME, r->user);
		curl_easy_setopt(
		    e, CURLOPT_PASSWORD, r->pass != NULL ? r->pass : "");
	}
}

int
http_perform(
    struct http_client *c, const struct http_req *r, struct http_resp *resp)
{
	struct curl_slist *h;
	struct timespec    t0, t1;
	char               where[512];

	memset(resp, 0, sizeof(*resp));
	resp->attempts = 1;
	c->len = 0;
	c->too_large = false;
	if (c->buf != NULL)
		c->buf[0] = '\0';
	h = header_list(r->headers, r->body != NULL);
	setup(c, r, h, resp->err);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	resp->cc = run(c, &resp->cancelled);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(h);
	resp->elapsed_s = (double)(t1.tv_sec - t0.tv_sec)
	    + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	resp->body = c->buf != NULL ? c->buf : "";
	resp->len = c->len;
	resp->too_large = c->too_large;
	if (resp->cc == CURLE_OK) {
		curl_easy_getinfo(
		    c->easy, CURLINFO_RESPONSE_CODE, &resp->status);
		return (0);
	}
	if (resp->too_large)
		snprintf(resp->err, sizeof(resp->err),
		    "response body over %zu bytes", c->o.max_body);
	else if (resp->cancelled)
		snprintf(resp->err, sizeof(resp->err), "shutting down");
	else if (resp->err[0] == '\0')
		snprintf(resp->err, sizeof(resp->err), "%s",
		    curl_easy_strerror(resp->cc));
	url_for_log(r->url, where, sizeof(where));
	log_warnx("%s %s: %s",
	    r->method != NULL     ? r->method
	        : r->body != NULL ? "POST"
	                          : "GET",
	    where, resp->err);
	return (-1);
}

bool
http_retryable(const struct http_resp *resp)
{
	if (resp->cc != CURLE_OK)
		return (!resp->cancelled && !resp->too_large);
	return (
	    resp->status == 408 || resp->status == 429 || resp->status >= 500);
}

/* Sleep ms unless a stop flag is (or becomes) set; -1 if one is. */
static int
pause_ms(struct http_client *c, const atomic_int *stop, long ms)
{
	struct timespec t0, t;
	long            done = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < ms) {
		if (stopped(c) || (stop != NULL && atomic_load(stop) != 0))
			return (-1);
		(void)curl_multi_poll(c->multi, NULL, 0,
		    (int)(ms - done < HTTP_POLL_MS ? ms - done : HTTP_POLL_MS),
		    NULL);
		clock_gettime(CLOCK_MONOTONIC, &t);
		done = (t.tv_sec - t0.tv_sec) * 1000
		    + (t.tv_nsec - t0.tv_nsec) / 1000000;
	}
	return (
	    stopped(c) || (stop != NULL && atomic_load(stop) != 0) ? -1 : 0);
}

int
http_request(struct http_client *c, const struct http_req *r,
    const struct http_retry *rt, struct http_resp *resp)
{
	bool (*again)(const struct http_resp *)
	    = rt->retryable != NULL ? rt->retryable : http_retryable;
	char   after_ms[32], after[64];
	double s;
	int    n, rv;

	for (n = 0;; n++) {
		rv = http_perform(c, r, resp);
		resp->attempts = n + 1;
		if (n + 1 >= rt->attempts || !again(resp))
			return (rv);
		http_header(c, "retry-after-ms", after_ms, sizeof(after_ms));
		http_header(c, "retry-after", after, sizeof(after));
		if ((s = http_retry_after(after_ms, after, time(NULL))) < 0)
			s = http_backoff(n, (double)rt->backoff_ms / 1000.0,
			    (double)rt->backoff_max_ms / 1000.0,
			    (double)rand_r(&c->seed) / (RAND_MAX + 1.0));
		if (pause_ms(c, rt->stop, (long)ceil(s * 1000.0)) == -1) {
			resp->cancelled = true;
			return (rv);
		}
	}
}

void
http_header(struct http_client *c, const char *name, char *out, size_t len)
{
	struct curl_header *h;

	out[0] = '\0';
	if (c->easy != NULL
	    && curl_easy_header(c->easy, name, 0, CURLH_HEADER, -1, &h)
	        == CURLHE_OK)
		snprintf(out, len, "%s", h->value);
}

/* A whole string as a finite number, surrounding blanks allowed. */
static int
parse_number(const char *s, double *out)
{
	char  *end;
	double v;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0')
		return (-1);
	v = strtod(s, &end);
	if (end == s || !isfinite(v))
		return (-1);
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0')
		return (-1);
	*out = v;
	return (0);
}

static double
in_range(double s)
{
	if (s > 0.0 && s <= HTTP_RETRY_AFTER_MAX_S)
		return (s);
	return (-1.0);
}

double
http_retry_after(const char *after_ms, const char *after, time_t now)
{
	double v;
	time_t when;

	if (after_ms != NULL && parse_number(after_ms, &v) == 0)
		return (in_range(v / 1000.0));
	if (after == NULL || *after == '\0')
		return (-1.0);
	if (parse_number(after, &v) == 0)
		return (in_range(v));
	/* Not a number: an HTTP date (RFC 9110 IMF-fixdate and friends). */
	if (strpbrk(after, "0123456789") == NULL)
		return (-1.0);
	if ((when = curl_getdate(after, NULL)) == (time_t)-1)
		return (-1.0);
	return (in_range((double)(when - now)));
}

double
http_backoff(int attempt, double base, double cap, double u)
{
	double s;

	if (attempt < 0)
		attempt = 0;
	if (attempt > 30)
		attempt = 30; /* 2^30 is far past any cap already */
	s = base * ldexp(1.0, attempt);
	if (s > cap)
		s = cap;
	if (u < 0.0 || u >= 1.0)
		u = 0.0;
	return (s * (1.0 - 0.25 * u));
}
