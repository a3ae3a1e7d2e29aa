/*
 * ws.c - the media WebSocket at /media: admission, message reassembly,
 * writing one queued message per WRITEABLE, and closing.
 *
 * Admission happens at the upgrade (path, drain, capacity, sockets
 * waiting for a start, and the provider's x-twilio-signature when
 * present), refused ones get an HTTP answer; the stream token is
 * checked later, on `start` (stream.c), which is when the socket takes
 * a call slot (calls.c).  Messages arrive in pieces when
 * they are larger than lws's rx buffer; they are reassembled up to
 * EDGE_MAX_MSG, and a larger or binary message is discarded whole and
 * counted, without ending the call.
 *
 * lws service thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "edge.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

/* Refuse an upgrade with an HTTP answer rather than a bare close. */
static int
refuse(struct lws *wsi, int status, const char *error)
{
	char body[128];

	snprintf(body, sizeof(body), "{\"error\":\"%s\"}", error);
	(void)httpd_answer_now(wsi, status, body);
	return (-1);
}

/*
 * Admission of a /media upgrade.  A socket holds no call slot until its
 * start is accepted, so what bounds sockets before that is the number
 * waiting for a start: per client address (EDGE_PENDING_PER_ADDR; behind
 * TRUSTED_PROXIES the address X-Forwarded-For names, so callers behind
 * one ingress are bounded one by one) and in all (EDGE_MAX_CALLS), each
 * for at most EDGE_START_TIMEOUT_MS.
 */
int
ws_filter(struct edge *e, struct lws *wsi)
{
	char        path[128], peer[48], body[160];
	const char *why;
	int         n, st;

	n = lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI);
	if (n > 0 && strcmp(path, "/events") == 0) {
		if ((st = events_admit(e, wsi, &why)) == 0)
			return (0);
		log_warnx("/events upgrade refused: %s", why);
		snprintf(body, sizeof(body),
		    "{\"error\":\"%s\",\"reason\":\"%s\"}",
		    st == 403 ? "forbidden" : "unauthorized", why);
		(void)httpd_answer_now(wsi, st, body);
		return (-1);
	}
	if (n <= 0 || ws_provider(e, path) == NULL) {
		log_warnx("websocket upgrade refused: unknown path");
		edge_bad_input(e, "bad_path");
		return (refuse(wsi, 404, "not found"));
	}
	if (atomic_load(&e->draining)) {
		log_info("websocket upgrade refused: draining");
		metric_inc(metric_get(e->m.closes, "draining"));
		edge_refused(e, "draining");
		return (refuse(wsi, 503, "draining"));
	}
	if (e->nactive >= e->cfg.max_calls) {
		log_warnx("websocket upgrade refused: %ld calls (the limit)",
		    e->nactive);
		metric_inc(metric_get(e->m.closes, "full"));
		edge_refused(e, "full");
		return (refuse(wsi, 503, "full"));
	}
	if (e->npending >= e->cfg.max_calls) {
		log_warnx("websocket upgrade refused: %ld sockets waiting for "
		          "their start",
		    e->npending);
		edge_refused(e, "pending_full");
		return (refuse(wsi, 503, "too many pending streams"));
	}
	if (proxy_wsi_client(&e->cfg.proxies, wsi, peer, sizeof(peer)) == -1) {
		log_warnx("websocket upgrade refused: unusable "
		          "X-Forwarded-For from a trusted proxy");
		edge_refused(e, "bad_forwarded_for");
		return (refuse(wsi, 400, "bad X-Forwarded-For"));
	}
	if (calls_pending_from(e, peer) >= e->cfg.pending_per_addr) {
		log_warnx("websocket upgrade refused: %ld sockets from one "
		          "address waiting for their start",
		    e->cfg.pending_per_addr);
		edge_refused(e, "per_address");
		return (refuse(wsi, 429, "too many pending streams"));
	}
	if (token_check_upgrade(e, wsi, path) == -1) {
		log_warnx("websocket upgrade refused: bad x-twilio-signature");
		edge_auth_fail(e, "upgrade_signature");
		return (refuse(wsi, 403, "forbidden"));
	}
	return (0);
}

/* /media/<name>, as the answer document says; plain /media (streams
 * opened by hand, older documents) speaks EDGE_PROVIDER's dialect. */
const struct tel_provider *
ws_provider(struct edge *e, const char *path)
{
	if (strcmp(path, "/media") == 0)
		return (e->tel);
	if (strncmp(path, "/media/", 7) == 0)
		return (tel_find(path + 7));
	return (NULL);
}

int
ws_established(struct edge *e, struct lws *wsi, struct pss *pss)
{
	const struct tel_provider *p;
	char                       path[128];

	if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) <= 0)
		path[0] = '\0';
	if (strcmp(path, "/events") == 0) {
		pss->events = events_open(e, wsi);
		return (0);
	}
	/* ws_filter() admitted only known paths */
	p = ws_provider(e, path);
	pss->call = call_new(e, wsi, p != NULL ? p : e->tel);
	return (0);
}

void
ws_closed(struct edge *e, struct pss *pss)
{
	(void)e;
	if (pss->events != NULL) {
		events_close(pss->events);
		pss->events = NULL;
	}
	if (pss->call != NULL) {
		call_free(pss->call);
		pss->call = NULL;
	}
}

static void
rx_reset(struct call *c)
{
	c->rx_len = 0;
	c->rx_busy = false;
	c->rx_skip = false;
	c->rx_binary = false;
}

static void
rx_discard_done(struct call *c)
{
	struct log_ctx lc = { c->call_sid, c->trace_id };

	if (c->rx_binary) {
		logc_warnx(&lc,
		    "bad input from caller (binary_frame): "
		    "binary message dropped");
		edge_bad_input(c->edge, "binary_frame");
	} else {
		logc_warnx(&lc,
		    "bad input from caller (oversize): message "
		    "over %d bytes dropped",
		    EDGE_MAX_MSG);
		edge_bad_input(c->edge, "oversize");
	}
}

int
ws_receive(struct lws *wsi, struct pss *pss, const void *in, size_t len)
{
	struct call *c = pss->call;
	bool         final = lws_is_final_fragment(wsi);

	if (pss->events != NULL) {
		/* dashboard messages are small: one frame each */
		if (!lws_frame_is_binary(wsi) && len < 4096 && final
		    && lws_is_first_fragment(wsi))
			events_message(lws_context_user(lws_get_context(wsi)),
			    pss->events, in, len);
		return (0);
	}
	if (c == NULL)
		return (-1);
	if (!c->rx_busy) {
		c->rx_busy = true;
		if (lws_frame_is_binary(wsi)) {
			c->rx_skip = true;
			c->rx_binary = true;
		}
	}
	if (!c->rx_skip && c->rx_len == 0 && final) {
		/* the usual case: the whole message in one piece */
		if (len > EDGE_MAX_MSG)
			c->rx_skip = true;
		else if (!c->closing)
			stream_message(c, in, len);
	} else if (!c->rx_skip) {
		if (c->rx_len + len > EDGE_MAX_MSG) {
			c->rx_skip = true;
			free(c->rx);
			c->rx = NULL;
		} else {
			if (c->rx == NULL)
				c->rx = xmalloc(EDGE_MAX_MSG);
			memcpy(c->rx + c->rx_len, in, len);
			c->rx_len += len;
		}
	}
	if (!final)
		return (0);
	if (c->rx_skip)
		rx_discard_done(c);
	else if (c->rx_len > 0 && !c->closing)
		stream_message(c, (const char *)c->rx, c->rx_len);
	if (c->rx != NULL) {
		free(c->rx);
		c->rx = NULL;
	}
	rx_reset(c);
	return (0);
}

/*
 * Send what the call has queued, as long as the socket takes it whole:
 * several WebSocket frames per wake-up when more than one is waiting.
 * lws keeps what the kernel did not take (partial buffering) and sends it
 * before anything else; we stop there and ask for WRITEABLE.  Called from
 * the WRITEABLE callback and, when the queue was empty, straight from
 * commit() on the same loop thread, which spares the POLLOUT round trip
 * (two epoll_ctl and a wake-up) per frame.  -1: the write failed.
 */
int
ws_send_queued(struct call *c)
{
	struct edge   *e = c->edge;
	unsigned char *p;
	size_t         len;
	enum outq_kind kind;

	while (!lws_partial_buffered(c->wsi)
	    && outq_peek(&c->out, &p, &len, &kind)) {
		if (lws_write(c->wsi, p, len, LWS_WRITE_TEXT) < (int)len) {
			c->close_why = "write failed";
			return (-1);
		}
		if (kind == OUTQ_MEDIA)
			metric_inc(e->m.frames_out);
		else if (kind == OUTQ_MARK)
			metric_inc(e->m.marks_out);
		else
			metric_inc(e->m.clears_out);
		outq_pop(&c->out);
	}
	if (c->out.count > 0 || c->closing)
		lws_callback_on_writable(c->wsi);
	return (0);
}

int
ws_writeable(struct lws *wsi, struct pss *pss)
{
	struct call *c = pss->call;

	if (pss->events != NULL)
		return (events_writeable(wsi, pss->events));
	if (c == NULL)
		return (0);
	if (c->kill)
		return (-1);
	if (c->out.count > 0)
		return (ws_send_queued(c));
	if (c->closing) {
		lws_close_reason(wsi, (enum lws_close_status)c->close_code,
		    (unsigned char *)c->close_why, strlen(c->close_why));
		return (-1);
	}
	return (0);
}
