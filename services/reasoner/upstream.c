/*
 * upstream.c - one HTTP attempt at POST {ANTHROPIC_BASE_URL}/v1/messages.
 *
 * Each worker owns one easy handle (libcurl forbids sharing one between
 * threads; keeping it keeps the TLS connection alive between requests)
 * inside a one-handle multi.  The multi is only there so that shutdown
 * can interrupt a transfer: upstream_wake() calls curl_multi_wakeup(),
 * the worker's curl_multi_poll() returns, sees r->stopping and gives up.
 * A plain curl_easy_perform() could only be stopped by its timeout.
 *
 * The API key travels in a header list built once; it is never logged
 * and CURLOPT_VERBOSE is never set.  Worker threads, except
 * upstream_wake() (any thread).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <curl/header.h>

#include "log.h"
#include "reasoner.h"
#include "xmalloc.h"

/* Larger answers are cut off and treated as a transport error. */
#define UPSTREAM_MAX_BODY (4 * 1024 * 1024)

static size_t
write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct worker *w = arg;
	size_t         len = size * n;

	if (w->len + len > UPSTREAM_MAX_BODY)
		return (0); /* CURLE_WRITE_ERROR */
	if (w->len + len + 1 > w->cap) {
		w->cap = (w->len + len + 1) * 2;
		w->body = xrealloc(w->body, w->cap);
	}
	memcpy(w->body + w->len, data, len);
	w->len += len;
	w->body[w->len] = '\0';
	return (len);
}

static struct curl_slist *
header_add(struct curl_slist *list, const char *line)
{
	struct curl_slist *n;

	if ((n = curl_slist_append(list, line)) == NULL)
		fatalx("curl_slist_append: out of memory");
	return (n);
}

int
upstream_init(struct worker *w, const struct reasoner_cfg *c)
{
	struct curl_slist *h = NULL;
	char              *line;
	size_t             n;

	if ((w->easy = curl_easy_init()) == NULL
	    || (w->multi = curl_multi_init()) == NULL) {
		log_warnx("curl init failed");
		upstream_fini(w);
		return (-1);
	}
	n = strlen(c->base_url);
	while (n > 0 && c->base_url[n - 1] == '/')
		n--;
	w->url = xasprintf("%.*s/v1/messages", (int)n, c->base_url);
	h = header_add(h, "content-type: application/json");
	h = header_add(h, "accept: application/json");
	h = header_add(h, "Expect:"); /* no 100-continue round trip */
	line = xasprintf("anthropic-version: %s", c->api_version);
	h = header_add(h, line);
	free(line);
	line = xasprintf("x-api-key: %s", c->api_key);
	h = header_add(h, line);
	explicit_bzero(line, strlen(line));
	free(line);
	w->headers = h;
	curl_easy_setopt(w->easy, CURLOPT_URL, w->url);
	curl_easy_setopt(w->easy, CURLOPT_HTTPHEADER, w->headers);
	curl_easy_setopt(w->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(w->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(
	    w->easy, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(w->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(w->easy, CURLOPT_USERAGENT, "callbridge-reasoner/1");
	curl_easy_setopt(w->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(w->easy, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(w->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	return (0);
}

void
upstream_fini(struct worker *w)
{
	if (w->multi != NULL)
		curl_multi_cleanup(w->multi);
	if (w->easy != NULL)
		curl_easy_cleanup(w->easy);
	curl_slist_free_all(w->headers); /* NULL-safe */
	free(w->url);
	free(w->body);
	w->multi = NULL;
	w->easy = NULL;
	w->headers = NULL;
	w->url = w->body = NULL;
	w->len = w->cap = 0;
}

void
upstream_wake(struct worker *w)
{
	if (w->multi != NULL)
		(void)curl_multi_wakeup(w->multi);
}

void
attempt_fini(struct attempt *a)
{
	json_decref(a->msg); /* NULL-safe */
	a->msg = NULL;
}

/* Copy the value of a response header of the last request, or "". */
static void
header_get(CURL *e, const char *name, char *out, size_t len)
{
	struct curl_header *h;

	out[0] = '\0';
	if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
		snprintf(out, len, "%s", h->value);
}

/* Drive the transfer until it ends or shutdown starts. */
static CURLcode
run(struct worker *w, bool *cancelled)
{
	CURLMsg *m;
	CURLcode cc = CURLE_RECV_ERROR;
	int      running = 1, left;

	if (curl_multi_add_handle(w->multi, w->easy) != CURLM_OK)
		return (CURLE_FAILED_INIT);
	for (;;) {
		if (curl_multi_perform(w->multi, &running) != CURLM_OK
		    || running == 0)
			break;
		if (atomic_load(&w->r->stopping)) {
			*cancelled = true;
			break;
		}
		if (curl_multi_poll(w->multi, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
	}
	while ((m = curl_multi_info_read(w->multi, &left)) != NULL)
		if (m->msg == CURLMSG_DONE && m->easy_handle == w->easy)
			cc = m->data.result;
	if (*cancelled)
		cc = CURLE_ABORTED_BY_CALLBACK;
	curl_multi_remove_handle(w->multi, w->easy);
	return (cc);
}

void
upstream_post(
    struct worker *w, const char *body, long timeout_ms, struct attempt *a)
{
	struct timespec t0, t1;
	json_error_t    jerr;

	memset(a, 0, sizeof(*a));
	w->len = 0;
	if (w->body != NULL)
		w->body[0] = '\0';
	curl_easy_setopt(w->easy, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(w->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(
	    w->easy, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	a->cc = run(w, &a->cancelled);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	a->elapsed_s = (double)(t1.tv_sec - t0.tv_sec)
	    + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (a->cc != CURLE_OK)
		return;
	curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &a->status);
	header_get(
	    w->easy, "request-id", a->request_id, sizeof(a->request_id));
	header_get(
	    w->easy, "retry-after", a->retry_after, sizeof(a->retry_after));
	header_get(w->easy, "retry-after-ms", a->retry_after_ms,
	    sizeof(a->retry_after_ms));
	header_get(w->easy, "x-should-retry", a->should_retry,
	    sizeof(a->should_retry));
	if (w->len > 0)
		a->msg = json_loadb(w->body, w->len, 0, &jerr);
}
