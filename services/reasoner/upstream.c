/*
 * upstream.c - one HTTP attempt at POST {ANTHROPIC_BASE_URL}/v1/messages.
 *
 * Each worker owns one common/http client (keeping it keeps the TLS
 * connection alive between requests) whose stop flag is r->stopping, so
 * that shutdown interrupts a transfer: upstream_wake() wakes the client
 * and the transfer gives up.  Retries are exchange.c's (the circuit and
 * the caller's deadline decide them), so each call here is one attempt.
 *
 * The API key travels in a header line built once and zeroed at the
 * end; common/http never logs headers.  Worker threads, except
 * upstream_wake() (any thread).
 */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "reasoner.h"
#include "xmalloc.h"

/* Larger answers are cut off and treated as a transport error. */
#define UPSTREAM_MAX_BODY (4 * 1024 * 1024)

int
upstream_init(struct worker *w, const struct reasoner_cfg *c)
{
	struct http_opts o = { 0 };
	size_t           n;

	o.connect_timeout_ms = c->connect_timeout_ms;
	o.max_body = UPSTREAM_MAX_BODY;
	o.user_agent = "callbridge-reasoner/1";
	o.stop = &w->r->stopping;
	if (http_client_init(&w->http, &o) == -1)
		return (-1);
	n = strlen(c->base_url);
	while (n > 0 && c->base_url[n - 1] == '/')
		n--;
	w->url = xasprintf("%.*s/v1/messages", (int)n, c->base_url);
	w->hdr[0] = "content-type: application/json";
	w->hdr[1] = "accept: application/json";
	w->hdr[2] = w->version_hdr
	    = xasprintf("anthropic-version: %s", c->api_version);
	w->hdr[3] = w->key_hdr = xasprintf("x-api-key: %s", c->api_key);
	w->hdr[4] = NULL;
	return (0);
}

void
upstream_fini(struct worker *w)
{
	http_client_fini(&w->http);
	if (w->key_hdr != NULL)
		explicit_bzero(w->key_hdr, strlen(w->key_hdr));
	free(w->key_hdr);
	free(w->version_hdr);
	free(w->url);
	w->key_hdr = w->version_hdr = w->url = NULL;
}

void
upstream_wake(struct worker *w)
{
	http_client_wake(&w->http);
}

void
attempt_fini(struct attempt *a)
{
	json_decref(a->msg); /* NULL-safe */
	a->msg = NULL;
}

void
upstream_post(
    struct worker *w, const char *body, long timeout_ms, struct attempt *a)
{
	struct http_req  q = { 0 };
	struct http_resp resp = { 0 };
	json_error_t     jerr;

	memset(a, 0, sizeof(*a));
	q.url = w->url;
	q.headers = w->hdr;
	q.body = body;
	q.timeout_ms = timeout_ms > 0 ? timeout_ms : 1L;
	(void)http_perform(&w->http, &q, &resp); /* a says what happened */
	a->cc = resp.cc;
	a->cancelled = resp.cancelled;
	a->elapsed_s = resp.elapsed_s;
	w->len = resp.len;
	if (a->cc != CURLE_OK)
		return;
	a->status = resp.status;
	http_header(
	    &w->http, "request-id", a->request_id, sizeof(a->request_id));
	http_header(
	    &w->http, "retry-after", a->retry_after, sizeof(a->retry_after));
	http_header(&w->http, "retry-after-ms", a->retry_after_ms,
	    sizeof(a->retry_after_ms));
	http_header(&w->http, "x-should-retry", a->should_retry,
	    sizeof(a->should_retry));
	if (resp.len > 0)
		a->msg = json_loadb(resp.body, resp.len, 0, &jerr);
}
