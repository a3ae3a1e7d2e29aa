/*
 * stream - calls: creation (ids, token, upgrade headers), the lws client
 * callback, the pacing tick and the one place a call ends (stream_finish).
 *
 * Pacing: rather than one timer per call (lws keeps timers in a sorted
 * list, so 1,000 calls x 50 frames/s would be costly), one hub timer runs
 * every STREAM_TICK_US and asks for WRITEABLE on each call that has
 * something due; WRITEABLE then sends one message at a time until nothing
 * is due.  lws service thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "stream_int.h"
#include "twsig.h"

static const char *const inject_names[STREAM_INJECT__COUNT] = {
	"none",
	"bad-json",
	"bad-base64",
	"media-before-start",
	"double-start",
	"oversize",
	"binary-frame",
	"unknown-event",
	"no-token",
	"bad-token",
	"expired-token",
	"reused-token",
};

int
stream_inject_parse(const char *name, enum stream_inject *outp)
{
	int i;

	for (i = 0; i < STREAM_INJECT__COUNT; i++)
		if (strcmp(name, inject_names[i]) == 0) {
			*outp = (enum stream_inject)i;
			return (0);
		}
	return (-1);
}

const char *
stream_inject_name(enum stream_inject inject)
{
	if (inject < 0 || inject >= STREAM_INJECT__COUNT)
		return ("?");
	return (inject_names[inject]);
}

int
stream_dtmf_parse(struct stream_cfg *cfg, const char *list)
{
	const char *p = list;
	char       *end;
	long        ms;

	while (*p != '\0') {
		if (strchr("0123456789*#ABCD", *p) == NULL || p[1] != '@')
			goto bad;
		ms = strtol(p + 2, &end, 10);
		if (end == p + 2 || ms < 0 || (*end != ',' && *end != '\0'))
			goto bad;
		cfg->dtmf = stream_xrealloc(
		    cfg->dtmf, cfg->ndtmf + 1, sizeof(*cfg->dtmf));
		cfg->dtmf[cfg->ndtmf].digit = *p;
		cfg->dtmf[cfg->ndtmf].at_ms = ms;
		cfg->ndtmf++;
		p = *end == ',' ? end + 1 : end;
	}
	return (0);
bad:
	stream_log("error", "bad dtmf list \"%s\" (want D@ms,...)", list);
	return (-1);
}

static void
tick_cb(lws_sorted_usec_list_t *sul)
{
	struct stream_hub *hub
	    = lws_container_of(sul, struct stream_hub, tick);
	struct stream_call *sc;
	int64_t             now = stream_now_us();

	for (sc = hub->active; sc != NULL; sc = sc->next)
		if (sc->wsi != NULL && sc->st.connected
		    && stream_tx_due(sc, now))
			lws_callback_on_writable(sc->wsi);
	if (hub->active == NULL) {
		hub->ticking = false; /* restarted by the next call */
		return;
	}
	lws_sul_schedule(hub->ctx, 0, &hub->tick, tick_cb, STREAM_TICK_US);
}

void
stream_hub_init(struct stream_hub *hub, struct lws_context *ctx,
    struct lws_vhost *vhost, const struct stream_cfg *cfg)
{
	unsigned char silence[STREAM_FRAME_BYTES];

	memset(hub, 0, sizeof(*hub));
	hub->ctx = ctx;
	hub->vhost = vhost;
	hub->cfg = cfg;
	hub->tx = stream_xcalloc(LWS_PRE + STREAM_TX_MAX, 1);
	memset(silence, STREAM_SILENCE, sizeof(silence));
	EVP_EncodeBlock(
	    (unsigned char *)hub->silence_b64, silence, sizeof(silence));
	hub->tot.rtt_hist
	    = stream_xcalloc(STREAM_RTT_BUCKETS, sizeof(*hub->tot.rtt_hist));
}

void
stream_hub_abort(struct stream_hub *hub)
{
	struct stream_call *sc;

	while ((sc = hub->active) != NULL) {
		sc->st.timed_out = true;
		stream_finish(sc, "timed out");
		lws_sul_cancel(&sc->done_sul); /* no callbacks now */
	}
	lws_sul_cancel(&hub->tick);
	hub->ticking = false;
}

void
stream_hub_fini(struct stream_hub *hub)
{
	free(hub->tx);
	free(hub->dec);
	free(hub->tot.rtt_hist);
	memset(hub, 0, sizeof(*hub));
}

const char *
stream_sid_key(const struct stream_call *sc)
{
	return (sc->hub->cfg->dialect == STREAM_TELNYX ? "stream_id"
	                                               : "streamSid");
}

const char *
stream_seq_key(const struct stream_call *sc)
{
	return (sc->hub->cfg->dialect == STREAM_TELNYX ? "sequence_number"
	                                               : "sequenceNumber");
}

/* Picks the ids, and the token put in customParameters. */
static int
call_ids(struct stream_call *sc, const struct stream_call_opts *o)
{
	struct stream_hub       *hub = sc->hub;
	const struct stream_cfg *cfg = hub->cfg;
	bool                     tw = cfg->dialect == STREAM_TWILIO;
	long long                exp;

	if (o->call_sid != NULL)
		snprintf(
		    sc->call_sid, sizeof(sc->call_sid), "%s", o->call_sid);
	else
		stream_sid_make(sc->call_sid,
		    tw                                  ? "CA"
		        : cfg->dialect == STREAM_TELNYX ? "v3:"
		                                        : NULL);
	if (o->account_sid != NULL)
		snprintf(sc->account_sid, sizeof(sc->account_sid), "%s",
		    o->account_sid);
	else
		stream_sid_make(sc->account_sid, tw ? "AC" : NULL);
	stream_sid_make(sc->stream_sid, tw ? "MZ" : NULL);
	if (cfg->inject == STREAM_INJECT_REUSED_TOKEN
	    && hub->first_token[0] != '\0') {
		/* A replayed start: same call and token, new stream. */
		memcpy(sc->call_sid, hub->first_call, sizeof(sc->call_sid));
		memcpy(sc->account_sid, hub->first_account,
		    sizeof(sc->account_sid));
		memcpy(sc->token, hub->first_token, sizeof(sc->token));
		return (0);
	}
	if (cfg->token_secret != NULL) {
		exp = (long long)time(NULL) + cfg->token_ttl_s;
		if (cfg->inject == STREAM_INJECT_EXPIRED_TOKEN)
			exp = (long long)time(NULL) - 60;
		if (stream_token_make(
		        cfg->token_secret, sc->call_sid, exp, sc->token)
		    == -1)
			return (-1);
		if (cfg->inject == STREAM_INJECT_BAD_TOKEN) {
			size_t n = strlen(sc->token);
			sc->token[n - 1] = sc->token[n - 1] == '0' ? '1' : '0';
		}
	} else if (cfg->token != NULL)
		snprintf(sc->token, sizeof(sc->token), "%s", cfg->token);
	if (hub->first_token[0] == '\0' && sc->token[0] != '\0') {
		memcpy(hub->first_call, sc->call_sid, sizeof(hub->first_call));
		memcpy(hub->first_account, sc->account_sid,
		    sizeof(hub->first_account));
		memcpy(hub->first_token, sc->token, sizeof(hub->first_token));
	}
	return (0);
}

static void
active_link(struct stream_call *sc)
{
	struct stream_hub *hub = sc->hub;

	sc->prev = NULL;
	sc->next = hub->active;
	if (hub->active != NULL)
		hub->active->prev = sc;
	hub->active = sc;
}

static void
active_unlink(struct stream_call *sc)
{
	if (sc->prev != NULL)
		sc->prev->next = sc->next;
	else
		sc->hub->active = sc->next;
	if (sc->next != NULL)
		sc->next->prev = sc->prev;
	sc->prev = sc->next = NULL;
}

static void
done_cb(lws_sorted_usec_list_t *sul)
{
	struct stream_call *sc
	    = lws_container_of(sul, struct stream_call, done_sul);

	if (sc->done_cb != NULL)
		sc->done_cb(sc, sc->arg);
}

static int
call_connect(struct stream_call *sc, const char *url, const char *sig_url)
{
	const struct stream_cfg       *cfg = sc->hub->cfg;
	struct lws_client_connect_info ci;
	bool                           dflt;

	sc->url_str = stream_xstrdup(url);
	if (stream_url_split(url, &sc->url) == -1)
		return (-1);
	dflt = sc->url.port == (sc->url.tls ? 443 : 80);
	snprintf(sc->host_hdr, sizeof(sc->host_hdr), dflt ? "%s" : "%s:%d",
	    sc->url.host, sc->url.port);
	if (cfg->sig_key != NULL && sig_url != NULL
	    && twsig_compute(
	           cfg->sig_key, sig_url, NULL, 0, TWSIG_TWILIO, sc->sig)
	        == -1)
		return (-1);
	memset(&ci, 0, sizeof(ci));
	ci.context = sc->hub->ctx;
	ci.vhost = sc->hub->vhost;
	ci.address = sc->url.host;
	ci.port = sc->url.port;
	ci.path = sc->url.path;
	ci.host = sc->host_hdr;
	ci.origin = sc->host_hdr;
	ci.local_protocol_name = STREAM_PROTOCOL_NAME; /* no subprotocol */
	if (sc->url.tls)
		ci.ssl_connection = LCCSCF_USE_SSL | LCCSCF_ALLOW_SELFSIGNED
		    | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
	ci.opaque_user_data = sc;
	ci.pwsi = &sc->wsi;
	if (lws_client_connect_via_info(&ci) == NULL && !sc->finished) {
		sc->wsi = NULL;
		sc->st.failed_connect = true;
		snprintf(sc->st.error, sizeof(sc->st.error),
		    "connect to %s "
		    "failed",
		    url);
		return (-1);
	}
	return (0);
}

struct stream_call *
stream_call_new(struct stream_hub *hub, const struct stream_call_opts *o)
{
	struct stream_call *sc;
	int                 ms = hub->cfg->duration_ms;

	sc = stream_xcalloc(1, sizeof(*sc));
	sc->hub = hub;
	sc->id = o->id;
	sc->done_cb = o->done_cb;
	sc->arg = o->arg;
	sc->bearer = o->bearer != NULL ? stream_xstrdup(o->bearer) : NULL;
	sc->nframes = ms > 0
	    ? (uint64_t)(ms + STREAM_FRAME_MS - 1) / STREAM_FRAME_MS
	    : 0;
	sc->params
	    = o->params != NULL ? json_deep_copy(o->params) : json_object();
	active_link(sc);
	if (!hub->ticking) {
		hub->ticking = true;
		lws_sul_schedule(
		    hub->ctx, 0, &hub->tick, tick_cb, STREAM_TICK_US);
	}
	if (call_ids(sc, o) == -1) {
		snprintf(sc->st.error, sizeof(sc->st.error), "no token");
		sc->st.failed_connect = true;
		stream_finish(sc, "no token");
		return (sc);
	}
	if (sc->token[0] != '\0' && hub->cfg->inject != STREAM_INJECT_NO_TOKEN)
		json_object_set_new(
		    sc->params, "token", json_string(sc->token));
	if (call_connect(sc, o->url,
	        o->sig_url != NULL ? o->sig_url : hub->cfg->sig_url)
	        == -1
	    && !sc->finished) {
		sc->st.failed_connect = true;
		stream_finish(sc, "connect failed");
	}
	return (sc);
}

void
stream_finish(struct stream_call *sc, const char *why)
{
	if (sc->finished)
		return;
	sc->finished = true;
	if (sc->hub->cfg->tags)
		stream_tags_count_lost(sc);
	stream_totals_add(sc->hub, sc);
	stream_record(sc, "end", json_pack("{s:s}", "why", why));
	active_unlink(sc);
	if (sc->wsi != NULL)
		lws_set_opaque_user_data(sc->wsi, NULL);
	free(sc->rx);
	free(sc->marks);
	free(sc->tag_us);
	free(sc->tag_seen);
	sc->rx = NULL;
	sc->marks = NULL;
	sc->tag_us = NULL;
	sc->tag_seen = NULL;
	sc->rxcap = sc->mcap = sc->tagcap = 0;
	sc->mcount = 0;
	/* Deferred so no owner code runs inside an lws callback. */
	lws_sul_schedule(sc->hub->ctx, 0, &sc->done_sul, done_cb, 1);
}

/* The connection is gone: decide who ended it. */
static void
call_closed(struct stream_call *sc)
{
	sc->wsi = NULL;
	if (!sc->st.connected) {
		sc->st.failed_connect = true;
		if (sc->st.error[0] == '\0')
			snprintf(sc->st.error, sizeof(sc->st.error),
			    "closed before the upgrade completed");
	}
	if (sc->st.connected && !sc->st.completed && !sc->hangup) {
		sc->st.closed_by_peer = true;
		if (sc->st.close_code == 0)
			sc->st.close_code = 1006; /* no close frame */
	}
	stream_record(sc, "close",
	    json_pack("{s:i, s:s}", "code", sc->st.close_code, "by",
	        sc->st.closed_by_peer ? "peer" : "us"));
	stream_finish(sc, "closed");
}

static int
append_headers(struct stream_call *sc, struct lws *wsi, void *in, size_t len)
{
	unsigned char **p = in, *end = *p + len;
	char            auth[300];

	if (sc->sig[0] != '\0'
	    && lws_add_http_header_by_name(wsi,
	        (const unsigned char *)"x-twilio-signature:",
	        (const unsigned char *)sc->sig, (int)strlen(sc->sig), p, end))
		return (-1);
	if (sc->bearer != NULL) {
		snprintf(auth, sizeof(auth), "Bearer %s", sc->bearer);
		if (lws_add_http_header_by_name(wsi,
		        (const unsigned char *)"authorization:",
		        (const unsigned char *)auth, (int)strlen(auth), p,
		        end))
			return (-1);
	}
	return (0);
}

static int
writeable(struct stream_call *sc, struct lws *wsi)
{
	int64_t now = stream_now_us();
	int     rv;

	if ((rv = stream_tx_one(sc, now)) == -1) {
		lws_close_reason(
		    wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"bye", 3);
		return (-1);
	}
	if (rv == 1 && stream_tx_due(sc, now))
		lws_callback_on_writable(wsi);
	return (0);
}

/* lws service thread only. */
int
stream_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct stream_call  *sc = lws_get_opaque_user_data(wsi);
	const unsigned char *c = in;

	if (sc == NULL || sc->finished)
		return (0);
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return (append_headers(sc, wsi, in, len));
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		sc->wsi = wsi;
		sc->st.connected = true;
		stream_record(sc, "open", NULL);
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		sc->wsi = NULL;
		sc->st.failed_connect = true;
		snprintf(sc->st.error, sizeof(sc->st.error), "connect: %s",
		    in != NULL ? (const char *)in : "failed");
		stream_record(sc, "connect_error",
		    json_pack("{s:s}", "error", sc->st.error));
		stream_finish(sc, "connect failed");
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		stream_rx(sc, in, len, lws_frame_is_binary(wsi),
		    lws_is_final_fragment(wsi)
		        && lws_remaining_packet_payload(wsi) == 0);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return (writeable(sc, wsi));
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		sc->st.close_code = len >= 2 ? (c[0] << 8 | c[1]) : 1005;
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
	case LWS_CALLBACK_CLOSED_CLIENT_HTTP: /* killed before the upgrade */
	case LWS_CALLBACK_WSI_DESTROY:
		call_closed(sc);
		break;
	default:
		break;
	}
	return (0);
}

void
stream_call_hangup(struct stream_call *sc)
{
	if (sc->finished || sc->hangup)
		return;
	sc->hangup = true;
	if (sc->wsi == NULL)
		return;
	if (sc->st.connected)
		lws_callback_on_writable(sc->wsi); /* stop, then close */
	else
		lws_set_timeout(
		    sc->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

const struct stream_stats *
stream_call_stats(const struct stream_call *sc)
{
	return (&sc->st);
}

const char *
stream_call_sid(const struct stream_call *sc)
{
	return (sc->call_sid);
}

void
stream_call_free(struct stream_call *sc)
{
	if (sc == NULL)
		return;
	if (!sc->finished) {
		active_unlink(sc);
		if (sc->wsi != NULL)
			lws_set_opaque_user_data(sc->wsi, NULL);
		free(sc->rx);
		free(sc->marks);
		free(sc->tag_us);
		free(sc->tag_seen);
	}
	lws_sul_cancel(&sc->done_sul);
	free(sc->det);
	json_decref(sc->params);
	free(sc->url_str);
	free(sc->bearer);
	free(sc);
}
