/*
 * ws.c - WebSocket client connections on the loop's lws context, for the
 * realtime providers.
 *
 * ws_connect() opens ws:// or wss:// (TLS with certificate and host name
 * verification; the trust store is the system's or OPENAI_CA_FILE), with
 * an optional bearer token.  Text messages are reassembled from
 * fragments (bounded by WS_MAX_MESSAGE) and handed up whole; a message
 * that arrives in one fragment is handed up in place, without a copy.
 *
 * Lifetime: the struct ws belongs to this file and is freed when lws
 * destroys the connection.  ws_close() detaches the handler at once, so
 * the owner may free its own state right after; the socket then closes
 * in the background (a close frame if it was open).
 *
 * lws service thread only.  EVENT_WAIT_CANCELLED (another thread called
 * lws_cancel_service) is passed to the wakeup function loop.c registers.
 */
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "ai.h"
#include "metrics.h"
#include "xmalloc.h"

#define WS_MAX_MESSAGE (16 * 1024 * 1024)
/* lws reads at most this much per callback into a buffer it keeps per
 * connection (4 KiB of every call's memory at 4096); a bigger message is
 * reassembled here in a buffer freed when it is complete, since only
 * setup events and long audio deltas are that big.  An echoed 20 ms
 * delta is about 350 bytes.  Sends are not bound to it (lws would cut
 * every send() to the receive size unless told otherwise): a message up
 * to WS_TX_PACKET goes out in one send(). */
#define WS_RX_CHUNK 1024
#define WS_TX_PACKET (64 * 1024)
#define CLOSE_WAIT_S 3 /* seconds a closing socket may linger */

struct ws {
	struct lws              *wsi;
	const struct ws_handler *h; /* NULL once the owner closed */
	void                    *arg;
	char                     sid[AI_SID_MAX];
	char                     trace[33];
	struct log_ctx           lc;
	char                    *url; /* parsed in place by lws_parse_uri */
	char                    *path;
	char                    *bearer;
	unsigned char           *rx;
	size_t                   rxlen;
	size_t                   rxcap;
	bool                     oversize;
	bool                     established;
	bool                     closing;
	bool                     in_connect; /* inside lws_client_connect */
	bool                     failed_sync;
	int                      peer_code;
};

static void (*wakeup_fn)(void);
static int nws;

void
ws_set_wakeup(void (*fn)(void))
{
	wakeup_fn = fn;
}

int
ws_count(void)
{
	return (nws);
}

static void
ws_free(struct ws *w)
{
	free(w->url);
	free(w->path);
	if (w->bearer != NULL) {
		explicit_bzero(w->bearer, strlen(w->bearer));
		free(w->bearer);
	}
	free(w->rx);
	free(w);
	nws--;
}

/* The connection is gone: tell the owner (if any) and free. */
static void
ws_gone(struct lws *wsi, struct ws *w, const char *reason)
{
	const struct ws_handler *h = w->h;

	lws_set_opaque_user_data(wsi, NULL);
	if (w->in_connect) {
		w->failed_sync = true; /* ws_connect reports it */
		return;
	}
	w->h = NULL;
	if (h != NULL)
		h->closed(w->arg, reason);
	ws_free(w);
}

static int
add_auth(struct lws *wsi, struct ws *w, void *in, size_t len)
{
	unsigned char **p = in, *end = *p + len;
	char           *val;
	int             rv;

	if (w->bearer == NULL)
		return (0);
	val = xasprintf("Bearer %s", w->bearer);
	rv = lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
	    (unsigned char *)val, (int)strlen(val), p, end);
	explicit_bzero(val, strlen(val));
	free(val);
	return (rv != 0 ? -1 : 0);
}

static void
deliver(struct ws *w, const char *buf, size_t len)
{
	if (w->h != NULL)
		w->h->message(w->arg, buf, len);
}

static void
receive(struct lws *wsi, struct ws *w, const void *in, size_t len)
{
	bool last = lws_is_final_fragment(wsi)
	    && lws_remaining_packet_payload(wsi) == 0;

	if (lws_frame_is_binary(wsi)) {
		metric_inc(st.bad_model_json);
		logc_warnx(&w->lc, "model socket: binary frame ignored");
		return;
	}
	if (last && w->rxlen == 0 && !w->oversize) {
		deliver(w, in, len); /* whole: no copy */
		return;
	}
	if (!w->oversize && w->rxlen + len > WS_MAX_MESSAGE) {
		w->oversize = true;
		metric_inc(st.bad_model_json);
		logc_warnx(&w->lc,
		    "model socket: message over %d bytes "
		    "dropped",
		    WS_MAX_MESSAGE);
	}
	if (!w->oversize) {
		if (w->rxlen + len > w->rxcap) {
			w->rxcap = w->rxcap == 0 ? 8192 : w->rxcap;
			while (w->rxcap < w->rxlen + len)
				w->rxcap *= 2;
			w->rx = xrealloc(w->rx, w->rxcap);
		}
		memcpy(w->rx + w->rxlen, in, len);
		w->rxlen += len;
	}
	if (!last)
		return;
	if (!w->oversize)
		deliver(w, (const char *)w->rx, w->rxlen);
	w->rxlen = 0;
	w->oversize = false;
	free(w->rx);
	w->rx = NULL;
	w->rxcap = 0;
}

/* lws service thread only. */
/* An upgrade refused for a reason a setting must fix: say which. */
static void
upgrade_refused(struct ws *w, unsigned int status)
{
	const char *setting = NULL;

	if (status == 401 || status == 403)
		setting = "OPENAI_API_KEY";
	else if (status == 400 || status == 404)
		setting = "OPENAI_REALTIME_URL";
	if (setting == NULL)
		return;
	stats_config_error(setting);
	logc_warnx(&w->lc,
	    "configuration: the Realtime API refused the connection (HTTP "
	    "%u); change %s (docs/providers.md)",
	    status, setting);
}

static int
ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct ws *w = wsi != NULL ? lws_get_opaque_user_data(wsi) : NULL;
	char       why[160];

	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (wakeup_fn != NULL)
			wakeup_fn();
		return (0);
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return (w != NULL ? add_auth(wsi, w, in, len) : 0);
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (w == NULL)
			return (-1);
		w->established = true;
		if (w->closing)
			lws_callback_on_writable(wsi);
		else if (w->h != NULL)
			w->h->open(w->arg);
		return (0);
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (w != NULL)
			receive(wsi, w, in, len);
		return (0);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (w == NULL || w->closing) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL,
			    (unsigned char *)"bye", 3);
			return (-1);
		}
		if (w->h != NULL)
			w->h->writeable(w->arg);
		return (0);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (w != NULL && len >= 2)
			w->peer_code = ((const unsigned char *)in)[0] << 8
			    | ((const unsigned char *)in)[1];
		return (0);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (w != NULL) {
			snprintf(why, sizeof(why), "connect failed: %.100s",
			    in != NULL ? (const char *)in : "unknown");
			upgrade_refused(w, lws_http_client_http_response(wsi));
			ws_gone(wsi, w, why);
		}
		return (0);
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (w != NULL) {
			if (w->peer_code != 0)
				snprintf(why, sizeof(why),
				    "closed by the "
				    "model (code %d)",
				    w->peer_code);
			else
				snprintf(why, sizeof(why), "connection lost");
			ws_gone(wsi, w, why);
		}
		return (0);
	default:
		break;
	}
	return (lws_callback_http_dummy(wsi, reason, user, in, len));
}

const struct lws_protocols ws_protocol = { "ai-realtime-client", ws_callback,
	0, WS_RX_CHUNK, 0, NULL, WS_TX_PACKET };

struct ws *
ws_connect(const char *url, const char *bearer, const struct ws_handler *h,
    void *arg, const struct log_ctx *lc)
{
	struct lws_client_connect_info ci;
	struct ws                     *w = xcalloc(1, sizeof(*w));
	const char                    *prot, *ads, *path;
	int                            port;

	nws++;
	snprintf(w->sid, sizeof(w->sid), "%s", lc->call_sid);
	snprintf(w->trace, sizeof(w->trace), "%s", lc->trace_id);
	w->lc.call_sid = w->sid;
	w->lc.trace_id = w->trace;
	w->h = h;
	w->arg = arg;
	w->bearer
	    = bearer != NULL && bearer[0] != '\0' ? xstrdup(bearer) : NULL;
	w->url = xstrdup(url);
	if (lws_parse_uri(w->url, &prot, &ads, &port, &path) != 0
	    || (strcmp(prot, "ws") != 0 && strcmp(prot, "wss") != 0)) {
		logc_warnx(lc, "model url is not ws:// or wss://");
		ws_free(w);
		return (NULL);
	}
	w->path = xasprintf("/%s", path);
	memset(&ci, 0, sizeof(ci));
	ci.context = loop_context();
	ci.address = ads;
	ci.port = port;
	ci.path = w->path;
	ci.host = ads;
	ci.origin = ads;
	ci.ssl_connection = strcmp(prot, "wss") == 0 ? LCCSCF_USE_SSL : 0;
	ci.local_protocol_name = ws_protocol.name;
	ci.opaque_user_data = w;
	ci.pwsi = &w->wsi;
	w->in_connect = true;
	if (lws_client_connect_via_info(&ci) == NULL || w->failed_sync) {
		/* lws may already have called CONNECTION_ERROR (and dropped
		 * the wsi); either way nothing refers to w any more. */
		logc_warnx(
		    lc, "model socket: cannot start connecting to %s", ads);
		ws_free(w);
		return (NULL);
	}
	w->in_connect = false;
	return (w);
}

void
ws_want_write(struct ws *w)
{
	if (w != NULL && w->wsi != NULL && w->established)
		lws_callback_on_writable(w->wsi);
}

bool
ws_can_write(const struct ws *w)
{
	return (w != NULL && w->wsi != NULL && w->established && !w->closing
	    && !lws_partial_buffered(w->wsi));
}

int
ws_write(struct ws *w, unsigned char *buf, size_t len)
{
	if (lws_write(w->wsi, buf + LWS_PRE, len, LWS_WRITE_TEXT) < (int)len) {
		logc_warnx(&w->lc, "model socket: write failed");
		return (-1);
	}
	return (0);
}

void
ws_close(struct ws *w)
{
	if (w == NULL)
		return;
	w->h = NULL;
	w->closing = true;
	if (w->established) {
		/* a close frame when it can be written; a peer that never
		 * reads is cut off after CLOSE_WAIT_S anyway */
		lws_callback_on_writable(w->wsi);
		lws_set_timeout(
		    w->wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_WAIT_S);
	} else
		lws_set_timeout(
		    w->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}
