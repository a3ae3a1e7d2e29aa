/*
 * http.c - the lws HTTP callback of sim-anthropic.
 *
 * Every callback here runs on the lws service thread.  One request on a
 * connection goes through these states:
 *
 *   LWS_CALLBACK_HTTP             route, method and the two headers copied
 *   LWS_CALLBACK_HTTP_BODY        body appended (kept up to SIM_MAX_BODY)
 *   LWS_CALLBACK_HTTP_BODY_COMPLETION
 *                                 reply built; with a latency, a lws_sul
 *                                 timer asks for WRITEABLE later, so a
 *                                 slow answer never blocks the loop
 *   WRITEABLE (1)                 status line and headers
 *   WRITEABLE (2)                 body, then the transaction ends
 *
 * The body is read in full even when the answer is an error, so a
 * keep-alive connection stays in step.
 */
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "sim_anthropic.h"

enum req_state {
	ST_IDLE,
	ST_BODY, /* reading the request body */
	ST_WAIT, /* reply ready, latency timer running */
	ST_HEADERS, /* headers to write */
	ST_PAYLOAD /* body to write */
};

struct pss {
	struct lws            *wsi;
	lws_sorted_usec_list_t sul; /* latency timer */
	enum req_state         state;
	int                    method; /* LWSHUMETH_* */
	char                   path[256];
	char                  *key; /* x-api-key, NULL if absent */
	char                  *version; /* anthropic-version */
	char                  *body;
	size_t                 len, cap;
	int                    too_large;
	struct sim_reply       reply;
};

/* Copies a custom (unknown to lws) header; name is lower case with ':'. */
static char *
custom_header(struct lws *wsi, const char *name)
{
	char *v;
	int   n, nlen = (int)strlen(name);

	if ((n = lws_hdr_custom_length(wsi, name, nlen)) < 0)
		return (NULL);
	if ((v = malloc((size_t)n + 1)) == NULL)
		return (NULL);
	if (lws_hdr_custom_copy(wsi, v, n + 1, name, nlen) < 0) {
		free(v);
		return (NULL);
	}
	return (v);
}

static void
pss_reset(struct pss *p)
{
	lws_sul_cancel(&p->sul);
	free(p->key);
	free(p->version);
	free(p->body);
	free(p->reply.body);
	p->key = p->version = p->body = NULL;
	p->reply.body = NULL;
	p->len = p->cap = 0;
	p->too_large = 0;
	p->state = ST_IDLE;
}

static void
body_append(struct pss *p, const void *in, size_t len)
{
	size_t ncap;
	char  *nb;

	if (p->too_large || len == 0)
		return;
	if (p->len + len > SIM_MAX_BODY) {
		p->too_large = 1;
		return;
	}
	if (p->len + len + 1 > p->cap) {
		ncap = p->cap == 0 ? 4096 : p->cap;
		while (ncap < p->len + len + 1)
			ncap *= 2;
		if ((nb = realloc(p->body, ncap)) == NULL) {
			p->too_large = 1;
			return;
		}
		p->body = nb;
		p->cap = ncap;
	}
	memcpy(p->body + p->len, in, len);
	p->len += len;
	p->body[p->len] = '\0';
}

static void
control_reply(struct pss *p)
{
	json_t *obj;
	char    err[256];

	if (p->method == LWSHUMETH_GET
	    && (strcmp(p->path, "/v1/models") == 0
	        || strncmp(p->path, "/v1/models/", 11) == 0)) {
		sim_models(p->key, p->version, p->path, &p->reply);
		return;
	}
	if (p->method == LWSHUMETH_GET && strcmp(p->path, "/sim/stats") == 0) {
		sim_reply_json(
		    &p->reply, 200, KIND_CONTROL, mode_stats_json());
		return;
	}
	if (p->method == LWSHUMETH_POST && strcmp(p->path, "/sim/mode") == 0) {
		if (mode_update(p->body, p->len, err, sizeof(err)) == -1) {
			sim_reply_error(
			    &p->reply, 400, "invalid_request_error", err);
			p->reply.kind = KIND_CONTROL;
			return;
		}
		obj = json_pack("{s:b}", "ok", 1);
		sim_reply_json(&p->reply, 200, KIND_CONTROL, obj);
		return;
	}
	sim_reply_error(&p->reply, 404, "not_found_error",
	    "No such endpoint on sim-anthropic");
}

/* lws service thread: the latency timer has expired. */
static void
latency_cb(lws_sorted_usec_list_t *sul)
{
	struct pss *p = lws_container_of(sul, struct pss, sul);

	if (p->state != ST_WAIT)
		return;
	p->state = ST_HEADERS;
	lws_callback_on_writable(p->wsi);
}

/* Builds the reply and arranges for it to be written. */
static void
request_done(struct pss *p)
{
	struct sim_req_info info;
	int                 delay_ms = 0;

	if (strcmp(p->path, "/v1/messages") == 0
	    && p->method == LWSHUMETH_POST) {
		if (p->too_large) {
			sim_reply_error(&p->reply, 413, "request_too_large",
			    "Request exceeds the maximum allowed size");
			mode_count(413, KIND_REJECTED);
			memset(&info, 0, sizeof(info));
			info.path = p->path;
			mode_record(&info, 413, KIND_REJECTED);
		} else
			sim_messages(
			    p->key, p->version, p->body, p->len, &p->reply);
		delay_ms = sim.mode.latency_ms;
	} else {
		control_reply(p);
		mode_count(p->reply.status, p->reply.kind);
		if (p->reply.kind != KIND_CONTROL) {
			memset(&info, 0, sizeof(info));
			info.path = p->path;
			mode_record(&info, p->reply.status, p->reply.kind);
		}
	}
	if (delay_ms > 0) {
		p->state = ST_WAIT;
		lws_sul_schedule(lws_get_context(p->wsi), 0, &p->sul,
		    latency_cb, (lws_usec_t)delay_ms * 1000);
		return;
	}
	p->state = ST_HEADERS;
	lws_callback_on_writable(p->wsi);
}

static int
write_headers(struct pss *p)
{
	unsigned char  buf[LWS_PRE + 1024];
	unsigned char *start = buf + LWS_PRE, *q = start;
	unsigned char *end = buf + sizeof(buf) - 1;
	char           ra[16];

	if (lws_add_http_common_headers(p->wsi, (unsigned)p->reply.status,
	        "application/json", strlen(p->reply.body), &q, end)
	    != 0)
		return (-1);
	if (lws_add_http_header_by_name(p->wsi,
	        (const unsigned char *)"request-id:",
	        (const unsigned char *)p->reply.request_id,
	        (int)strlen(p->reply.request_id), &q, end)
	    != 0)
		return (-1);
	if (p->reply.retry_after > 0) {
		snprintf(ra, sizeof(ra), "%d", p->reply.retry_after);
		if (lws_add_http_header_by_name(p->wsi,
		        (const unsigned char *)"retry-after:",
		        (const unsigned char *)ra, (int)strlen(ra), &q, end)
		    != 0)
			return (-1);
	}
	if (lws_finalize_write_http_header(p->wsi, start, &q, end) != 0)
		return (-1);
	p->state = ST_PAYLOAD;
	lws_callback_on_writable(p->wsi);
	return (0);
}

/* Returns -1 to close the connection. */
static int
write_payload(struct pss *p)
{
	unsigned char *buf;
	size_t         n = strlen(p->reply.body);
	int            rv;

	if ((buf = malloc(LWS_PRE + n + 1)) == NULL)
		return (-1);
	memcpy(buf + LWS_PRE, p->reply.body, n);
	rv = lws_write(p->wsi, buf + LWS_PRE, n, LWS_WRITE_HTTP_FINAL);
	free(buf);
	pss_reset(p);
	if (rv < (int)n)
		return (-1);
	if (lws_http_transaction_completed(p->wsi) != 0)
		return (-1);
	return (0);
}

static int
on_http(struct pss *p, struct lws *wsi, const char *uri, size_t len)
{
	char *u;
	int   ulen;

	pss_reset(p);
	p->wsi = wsi;
	p->method = lws_http_get_uri_and_method(wsi, &u, &ulen);
	if (len >= sizeof(p->path))
		len = sizeof(p->path) - 1;
	memcpy(p->path, uri, len);
	p->path[len] = '\0';
	p->key = custom_header(wsi, "x-api-key:");
	p->version = custom_header(wsi, "anthropic-version:");
	if (p->method == LWSHUMETH_POST
	    && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
		p->state = ST_BODY;
		return (0); /* wait for the body */
	}
	request_done(p);
	return (0);
}

/* lws service thread only. */
static int
http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct pss *p = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return (on_http(p, wsi, in, len));
	case LWS_CALLBACK_HTTP_BODY:
		if (p->state == ST_BODY)
			body_append(p, in, len);
		return (0);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (p->state == ST_BODY)
			request_done(p);
		return (0);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (p == NULL)
			return (0);
		if (p->state == ST_HEADERS)
			return (write_headers(p));
		if (p->state == ST_PAYLOAD)
			return (write_payload(p));
		return (0);
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (p != NULL)
			pss_reset(p);
		return (0);
	default:
		break;
	}
	return (lws_callback_http_dummy(wsi, reason, user, in, len));
}

static const struct lws_protocols protocols[]
    = { { "http", http_cb, sizeof(struct pss), 0, 0, NULL, 0 },
	      { NULL, NULL, 0, 0, 0, NULL, 0 } };

const struct lws_protocols *
http_protocols(void)
{
	return (protocols);
}
