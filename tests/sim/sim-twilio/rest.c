/*
 * rest - the HTTP side of sim-twilio on libwebsockets: collects a request
 * (path, method, Authorization, form or JSON body up to SIM_BODY_MAX),
 * hands it to api_handle(), and writes the JSON answer over two WRITEABLE
 * callbacks (headers, then body).  The same protocol callback receives
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED, which is how webhook results come
 * back from the worker threads.  lws service thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "twilio.h"

struct rest_pss {
	char           path[512];
	bool           post;
	char           auth[600];
	char           phone_filter[64];
	bool           has_filter;
	char          *body;
	size_t         len, cap;
	bool           too_big;
	int            status;
	unsigned char *out; /* LWS_PRE + body */
	size_t         outlen;
	int            wstate; /* 0 idle, 1 headers due, 2 body due */
};

size_t
rest_pss_size(void)
{
	return (sizeof(struct rest_pss));
}

static void
pss_reset(struct rest_pss *p)
{
	free(p->body);
	free(p->out);
	memset(p, 0, sizeof(*p));
}

static void
respond(struct lws *wsi, struct rest_pss *p, int status, json_t *body)
{
	char  *s;
	size_t n;

	s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	n = s != NULL ? strlen(s) : 0;
	p->out = stream_xcalloc(LWS_PRE + n + 1, 1);
	if (s != NULL)
		memcpy(p->out + LWS_PRE, s, n);
	free(s);
	p->outlen = n;
	p->status = status;
	p->wstate = 1;
	lws_callback_on_writable(wsi);
}

static void
handle(struct lws *wsi, struct rest_pss *p)
{
	struct sim     *sim = lws_context_user(lws_get_context(wsi));
	struct api_req  req;
	struct api_resp resp;

	if (p->too_big) {
		respond(wsi, p, 413,
		    api_error(21617, "Request body too large", 413));
		return;
	}
	memset(&req, 0, sizeof(req));
	req.post = p->post;
	req.path = p->path;
	req.body = p->body != NULL ? p->body : "";
	req.len = p->len;
	req.auth = p->auth;
	req.phone_filter = p->has_filter ? p->phone_filter : NULL;
	api_handle(sim, &req, &resp);
	respond(wsi, p, resp.status, resp.body);
}

static bool
has_body(struct lws *wsi)
{
	char cl[32];

	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
		return (true);
	if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH)
	    <= 0)
		return (false);
	return (strcmp(cl, "0") != 0);
}

static int
request(struct lws *wsi, struct rest_pss *p, const char *uri)
{
	char        arg[80];
	const char *v;

	pss_reset(p);
	snprintf(p->path, sizeof(p->path), "%s", uri);
	p->post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	/* lws copies "PhoneNumber=value" and points past the name. */
	v = lws_get_urlarg_by_name(wsi, "PhoneNumber=", arg, (int)sizeof(arg));
	p->has_filter = v != NULL;
	if (v != NULL)
		snprintf(p->phone_filter, sizeof(p->phone_filter), "%s", v);
	if (lws_hdr_copy(
	        wsi, p->auth, sizeof(p->auth), WSI_TOKEN_HTTP_AUTHORIZATION)
	    < 0)
		p->auth[0] = '\0';
	if (!p->post && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) == 0) {
		respond(
		    wsi, p, 405, api_error(20004, "Method not allowed", 405));
		return (0);
	}
	if (!p->post || !has_body(wsi))
		handle(wsi, p);
	return (0); /* a POST body follows: HTTP_BODY ... COMPLETION */
}

static void
body(struct rest_pss *p, const void *in, size_t len)
{
	if (p->too_big || p->len + len > SIM_BODY_MAX) {
		p->too_big = true;
		return;
	}
	if (p->len + len + 1 > p->cap) {
		p->cap = (p->len + len + 1) * 2;
		p->body = stream_xrealloc(p->body, p->cap, 1);
	}
	memcpy(p->body + p->len, in, len);
	p->len += len;
	p->body[p->len] = '\0';
}

static int
writeable(struct lws *wsi, struct rest_pss *p)
{
	unsigned char     hdr[LWS_PRE + 1024], *start = &hdr[LWS_PRE];
	unsigned char    *q = start, *end = &hdr[sizeof(hdr) - 1];
	static const char realm[] = "Basic realm=\"sim-twilio\"";

	if (p->wstate == 1) {
		if (lws_add_http_common_headers(wsi, (unsigned)p->status,
		        "application/json", p->outlen, &q, end))
			return (-1);
		if (p->status == 401
		    && lws_add_http_header_by_name(wsi,
		        (const unsigned char *)"www-authenticate:",
		        (const unsigned char *)realm, (int)strlen(realm), &q,
		        end))
			return (-1);
		if (lws_finalize_write_http_header(wsi, start, &q, end))
			return (-1);
		p->wstate = 2;
		lws_callback_on_writable(wsi);
		return (0);
	}
	if (p->wstate != 2)
		return (0);
	p->wstate = 0;
	if (lws_write(wsi, p->out + LWS_PRE, p->outlen, LWS_WRITE_HTTP_FINAL)
	    < (int)p->outlen)
		return (-1);
	free(p->out);
	p->out = NULL;
	if (lws_http_transaction_completed(wsi))
		return (-1);
	return (0);
}

/* lws service thread only. */
int
rest_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct rest_pss *p = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return (request(wsi, p, in));
	case LWS_CALLBACK_HTTP_BODY:
		body(p, in, len);
		return (0);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		handle(wsi, p);
		return (0);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return (writeable(wsi, p));
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (p != NULL)
			pss_reset(p);
		break;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		hook_drain(lws_context_user(lws_get_context(wsi)));
		return (0);
	default:
		break;
	}
	return (lws_callback_http_dummy(wsi, reason, user, in, len));
}
