/*
 * stream.c - the provider's media-stream messages (protocols.md 1.3 and
 * 4.3, providers.md): one parser for every provider, dispatching on
 * `event` and reading the start with the field names of the call's
 * dialect (struct tel_dialect, chosen by the /media path: never guessed).
 *
 * `media` is most of the traffic; it goes through media_fast() when the
 * message has the plain shape (see fastjson.c) and through jansson
 * otherwise, so unusual but valid JSON is still read correctly.
 *
 * Bad input (malformed JSON, unknown events, bad base64, media before
 * start, a second start) is logged, counted and dropped; it never ends
 * the call.  A start that fails authentication closes the stream with
 * 1008 before any audio is forwarded.
 *
 * lws service thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "edge.h"
#include "log.h"
#include "metrics.h"
#include "wire.h"

static void
bad(struct call *c, const char *reason, const char *detail)
{
	struct log_ctx lc = { c->call_sid, c->trace_id };

	logc_warnx(&lc, "bad input from caller (%s): %s", reason, detail);
	edge_bad_input(c->edge, reason);
}

/* Twilio sends numbers as strings; accept either. */
static bool
num_field(json_t *v, uint32_t *outp)
{
	const char   *s;
	char         *end;
	unsigned long n;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*outp = (uint32_t)json_integer_value(v);
		return (true);
	}
	if ((s = json_string_value(v)) == NULL || *s == '\0')
		return (false);
	n = strtoul(s, &end, 10);
	if (*end != '\0')
		return (false);
	*outp = (uint32_t)n;
	return (true);
}

void
stream_media(
    struct call *c, const char *b64, size_t blen, uint32_t ts, bool have_ts)
{
	int n;

	if (c->state == CALL_CONNECTED) {
		bad(c, "media_before_start", "media before start");
		return;
	}
	if (c->state == CALL_ENDED)
		return;
	n = codec_b64_decode(b64, blen, c->edge->scratch, EDGE_MAX_MSG);
	if (n < 0) {
		bad(c, "bad_base64", "media.payload is not base64");
		return;
	}
	if (n == 0)
		return;
	call_audio_in(c, c->edge->scratch, (size_t)n, ts,
	    have_ts && c->prov->ws->media_ts_ms);
}

static void
on_media(struct call *c, json_t *root)
{
	json_t     *media = json_object_get(root, "media");
	const char *payload;
	uint32_t    ts = 0;
	bool        have_ts;

	payload = json_string_value(json_object_get(media, "payload"));
	if (payload == NULL) {
		bad(c, "bad_media", "media without media.payload");
		return;
	}
	have_ts = num_field(json_object_get(media, "timestamp"), &ts);
	stream_media(c, payload,
	    json_string_length(json_object_get(media, "payload")), ts,
	    have_ts);
}

static int
copy_params(struct call *c, json_t *cp, const char **tokp)
{
	const char *k;
	json_t     *v;

	c->params = json_object();
	*tokp = NULL;
	if (cp == NULL)
		return (0); /* SignalWire: none defined */
	if (!json_is_object(cp))
		return (-1);
	json_object_foreach(cp, k, v)
	{
		if (!json_is_string(v))
			continue;
		if (strcmp(k, "token") == 0)
			*tokp = json_string_value(v);
		else if (json_object_size(c->params) < 32 && strlen(k) < 128
		    && json_string_length(v) < 512)
			json_object_set(c->params, k, v);
	}
	return (0);
}

static void
set_direction(struct call *c)
{
	const char *d
	    = json_string_value(json_object_get(c->params, "direction"));

	if (d == NULL)
		c->direction = BUS__DIRECTION__DIRECTION_UNSPECIFIED;
	else if (strncmp(d, "outbound", 8) == 0)
		c->direction = BUS__DIRECTION__OUTBOUND;
	else if (strncmp(d, "inbound", 7) == 0)
		c->direction = BUS__DIRECTION__INBOUND;
}

static void
on_start(struct call *c, json_t *root)
{
	struct edge              *e = c->edge;
	const struct tel_dialect *d = c->prov->ws;
	json_t                   *st = json_object_get(root, "start");
	const char               *call_sid, *stream_sid, *acct, *tok, *why;
	struct log_ctx            lc = { NULL, NULL };
	int                       rv;

	if (c->state != CALL_CONNECTED) {
		bad(c, "second_start", "a second start on one stream");
		return;
	}
	call_sid = json_string_value(json_object_get(st, d->start_call));
	stream_sid = json_string_value(d->start_stream != NULL
	        ? json_object_get(st, d->start_stream)
	        : json_object_get(root, d->stream_top));
	acct = d->start_account != NULL
	    ? json_string_value(json_object_get(st, d->start_account))
	    : NULL;
	if (!tel_sid_ok(c->prov, call_sid) || !tel_sid_ok(c->prov, stream_sid)
	    || (acct != NULL && !tel_sid_ok(c->prov, acct))) {
		bad(c, "bad_start",
		    "start without a valid call and stream id");
		edge_auth_fail(e, "bad_start");
		call_close(c, EDGE_CLOSE_POLICY, "auth_failed");
		return;
	}
	if (copy_params(c, json_object_get(st, d->start_params), &tok) == -1)
		tok = NULL;
	lc.call_sid = call_sid;
	if (token_check(e, call_sid, tok, (int64_t)time(NULL), &why) == -1) {
		logc_warnx(&lc, "stream refused: token %s", why);
		edge_auth_fail(e, why);
		call_close(c, EDGE_CLOSE_POLICY, "auth_failed");
		return;
	}
	snprintf(c->call_sid, sizeof(c->call_sid), "%s", call_sid);
	snprintf(c->stream_sid, sizeof(c->stream_sid), "%s", stream_sid);
	snprintf(c->account_sid, sizeof(c->account_sid), "%s",
	    acct != NULL ? acct : "");
	(void)codec_rand_hex(c->trace_id, 16);
	lc.trace_id = c->trace_id;
	if (atomic_load(&e->draining)) {
		logc_warnx(&lc, "stream refused: draining");
		call_close(c, EDGE_CLOSE_AWAY, "draining");
		return;
	}
	if ((rv = call_register(c)) == -2) {
		c->call_sid[0] = '\0';
		logc_warnx(
		    &lc, "stream refused: %ld calls (the limit)", e->nactive);
		metric_inc(metric_get(e->m.closes, "full"));
		call_close(c, EDGE_CLOSE_TRY_LATER, "full");
		return;
	}
	if (rv == -1) {
		c->call_sid[0] = '\0';
		logc_warnx(&lc, "stream refused: call already has a stream");
		edge_auth_fail(e, "duplicate_call");
		call_close(c, EDGE_CLOSE_POLICY, "duplicate_call");
		return;
	}
	set_direction(c);
	c->started_us = edge_mono_us();
	c->started_ms = wire_now_ms();
	metric_inc(e->m.streams);
	logc_info(&lc, "stream started (%s, stream %s)", c->prov->name,
	    c->stream_sid);
	call_request_session(c, false);
}

static void
on_mark(struct call *c, json_t *root)
{
	Bus__BatchItem it = BUS__BATCH_ITEM__INIT;
	Bus__MarkEcho  me = BUS__MARK_ECHO__INIT;
	const char    *name;

	name = json_string_value(
	    json_object_get(json_object_get(root, "mark"), "name"));
	if (name == NULL || strlen(name) >= EDGE_NAME_MAX) {
		/* a longer name would make the bus refuse the whole batch,
		 * other calls' audio with it */
		bad(c, "bad_mark", "mark without a mark.name of 1-255 bytes");
		return;
	}
	if (c->state == CALL_CONNECTED) {
		bad(c, "media_before_start", "mark before start");
		return;
	}
	me.name = (char *)name;
	it.item_case = BUS__BATCH_ITEM__ITEM_MARK_ECHO;
	it.mark_echo = &me;
	call_publish_item(c, &it);
}

static void
on_dtmf(struct call *c, json_t *root)
{
	Bus__BatchItem it = BUS__BATCH_ITEM__INIT;
	Bus__Dtmf      d = BUS__DTMF__INIT;
	json_t        *o = json_object_get(root, "dtmf");
	const char    *digit = json_string_value(json_object_get(o, "digit"));
	uint32_t       dur = 0;

	if (digit == NULL || strlen(digit) != 1) {
		bad(c, "bad_dtmf", "dtmf without one dtmf.digit");
		return;
	}
	if (c->state == CALL_CONNECTED) {
		bad(c, "media_before_start", "dtmf before start");
		return;
	}
	(void)num_field(json_object_get(o, "duration"), &dur);
	d.digit = (char *)digit;
	d.duration_ms = dur;
	it.item_case = BUS__BATCH_ITEM__ITEM_DTMF;
	it.dtmf = &d;
	call_publish_item(c, &it);
}

static void
on_stop(struct call *c)
{
	if (c->state == CALL_CONNECTED) {
		call_close(c, EDGE_CLOSE_NORMAL, "stop");
		return;
	}
	c->end_reason = "stop";
	call_close(c, EDGE_CLOSE_NORMAL, "stop");
}

/* The provider reports a fault of the stream (Telnyx's `error`). */
static void
on_error(struct call *c, json_t *root)
{
	json_t        *p = json_object_get(root, "payload");
	const char    *title = json_string_value(json_object_get(p, "title"));
	struct log_ctx lc = { c->call_sid, c->trace_id };

	logc_warnx(&lc, "%s reports a stream error %lld: %.128s",
	    c->prov->name,
	    (long long)json_integer_value(json_object_get(p, "code")),
	    title != NULL ? title : "");
	edge_bad_input(c->edge, "provider_error");
}

void
stream_message(struct call *c, const char *buf, size_t len)
{
	json_error_t err;
	json_t      *root;
	const char  *ev;
	char         detail[200];

	if (stream_media_fast(c, buf, len) == 0)
		return;
	root = json_loadb(buf, len, 0, &err);
	if (root == NULL || !json_is_object(root)) {
		snprintf(detail, sizeof(detail), "%s at byte %d",
		    root == NULL ? err.text : "not an object", err.position);
		bad(c, "malformed_json", detail);
		json_decref(root);
		return;
	}
	if ((ev = json_string_value(json_object_get(root, "event"))) == NULL)
		bad(c, "missing_event", "message without an event");
	else if (strcmp(ev, "media") == 0)
		on_media(c, root);
	else if (strcmp(ev, "start") == 0)
		on_start(c, root);
	else if (strcmp(ev, "mark") == 0)
		on_mark(c, root);
	else if (strcmp(ev, "dtmf") == 0)
		on_dtmf(c, root);
	else if (strcmp(ev, "stop") == 0)
		on_stop(c);
	else if (strcmp(ev, "connected") == 0)
		; /* nothing to learn: the path told the dialect */
	else if (strcmp(ev, "error") == 0)
		on_error(c, root);
	else {
		snprintf(
		    detail, sizeof(detail), "unknown event \"%.64s\"", ev);
		bad(c, "unknown_event", detail);
	}
	json_decref(root);
}
