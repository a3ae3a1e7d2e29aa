/*
 * stream_tx - what the phone sends, one message per WRITEABLE: connected,
 * start, injected bad input, mark echoes, dtmf, paced media, stop.  The
 * JSON follows protocols.md 1.3 (Twilio) and 4.3 (SignalWire): numbers in
 * sequenceNumber, chunk and timestamp are strings.
 *
 * Messages are built in the hub's one transmit buffer (LWS_PRE reserved):
 * fixed-shape ones with snprintf, the ones carrying peer-chosen strings
 * (customParameters, mark names) with jansson so they are escaped.
 * lws service thread only.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "stream_int.h"

#define OVERSIZE_BYTES (100 * 1024)

static char *
txbuf(struct stream_call *sc)
{
	return ((char *)sc->hub->tx + LWS_PRE);
}

/* Returns 1 when written, -1 when the connection should close. */
static int
tx_write(struct stream_call *sc, int n, enum lws_write_protocol wp)
{
	if (n <= 0 || n >= STREAM_TX_MAX) {
		stream_log(
		    "error", "call %d: message does not fit (%d)", sc->id, n);
		return (-1);
	}
	if (lws_write(sc->wsi, sc->hub->tx + LWS_PRE, (size_t)n, wp) < n) {
		stream_log("warn", "call %d: write failed", sc->id);
		return (-1);
	}
	return (1);
}

static int
tx_json(struct stream_call *sc, json_t *msg)
{
	size_t n;

	if (msg == NULL) {
		stream_log("error", "call %d: cannot build message", sc->id);
		return (-1);
	}
	n = json_dumpb(msg, txbuf(sc), STREAM_TX_MAX, JSON_COMPACT);
	json_decref(msg);
	return (
	    tx_write(sc, n >= STREAM_TX_MAX ? -1 : (int)n, LWS_WRITE_TEXT));
}

static bool
is_twilio(const struct stream_call *sc)
{
	return (sc->hub->cfg->dialect == STREAM_TWILIO);
}

static bool
is_signalwire(const struct stream_call *sc)
{
	return (sc->hub->cfg->dialect == STREAM_SIGNALWIRE);
}

static bool
is_telnyx(const struct stream_call *sc)
{
	return (sc->hub->cfg->dialect == STREAM_TELNYX);
}

static int
send_connected(struct stream_call *sc)
{
	sc->sent_connected = true;
	return (tx_write(sc,
	    snprintf(txbuf(sc), STREAM_TX_MAX,
	        "{\"event\":\"connected\",\"protocol\":\"Call\","
	        "\"version\":\"%s\"}",
	        is_twilio(sc) || is_telnyx(sc) ? "1.0.0" : "0.2.0"),
	    LWS_WRITE_TEXT));
}

static int
send_start(struct stream_call *sc, int64_t now)
{
	json_t *start, *msg;
	char    seq[24];
	bool    first = !sc->sent_start;

	snprintf(seq, sizeof(seq), "%llu", (unsigned long long)++sc->seq);
	if (is_telnyx(sc))
		/* no from/to: the bridge needs no phone number here */
		start = json_pack("{s:s, s:s, s:O, s:{s:s, s:i, s:i}}",
		    "call_control_id", sc->call_sid, "call_session_id",
		    sc->account_sid, "custom_parameters", sc->params,
		    "media_format", "encoding", "PCMU", "sample_rate", 8000,
		    "channels", 1);
	else
		start = json_pack("{s:s, s:s, s:s, s:[s], s:{s:s, s:i, s:i}}",
		    "accountSid", sc->account_sid, "streamSid", sc->stream_sid,
		    "callSid", sc->call_sid, "tracks", "inbound",
		    "mediaFormat", "encoding", "audio/x-mulaw", "sampleRate",
		    8000, "channels", 1);
	/* SignalWire omits customParameters when there are none (4.3). */
	if (start != NULL && !is_telnyx(sc)
	    && (is_twilio(sc) || json_object_size(sc->params)))
		json_object_set(start, "customParameters", sc->params);
	msg = json_pack("{s:s, s:s, s:o}", "event", "start",
	    stream_seq_key(sc), seq, "start", start);
	if (msg != NULL && !is_signalwire(sc))
		json_object_set_new(
		    msg, stream_sid_key(sc), json_string(sc->stream_sid));
	if (first) {
		sc->media_prefix_len = (size_t)snprintf(sc->media_prefix,
		    sizeof(sc->media_prefix),
		    "{\"event\":\"media\",\"%s\":"
		    "\"%s\",\"media\":{\"payload\":\"",
		    stream_sid_key(sc), sc->stream_sid);
		sc->sent_start = true;
		sc->t0_us = now;
		sc->play_end_us = now;
		switch (sc->hub->cfg->inject) {
		case STREAM_INJECT_BAD_JSON:
		case STREAM_INJECT_BAD_BASE64:
		case STREAM_INJECT_DOUBLE_START:
		case STREAM_INJECT_OVERSIZE:
		case STREAM_INJECT_BINARY_FRAME:
		case STREAM_INJECT_UNKNOWN_EVENT:
			sc->inject_due = true;
			break;
		default:
			break;
		}
	}
	return (tx_json(sc, msg));
}

/* One media message around payload; chunk 0 means "next frame". */
static int
media_msg(struct stream_call *sc, uint64_t chunk, const char *payload)
{
	char tail[STREAM_SID_LEN + 32] = "}";

	if (!is_signalwire(sc))
		snprintf(tail, sizeof(tail), ",\"%s\":\"%s\"}",
		    stream_sid_key(sc), sc->stream_sid);
	return (snprintf(txbuf(sc), STREAM_TX_MAX,
	    "{\"event\":\"media\",\"%s\":\"%llu\",\"media\":{"
	    "\"track\":\"inbound\",\"chunk\":\"%llu\",\"timestamp\":\"%llu\","
	    "\"payload\":\"%s\"}%s",
	    stream_seq_key(sc), (unsigned long long)++sc->seq,
	    (unsigned long long)chunk,
	    (unsigned long long)(chunk - 1) * STREAM_FRAME_MS, payload, tail));
}

static void
tags_grow(struct stream_call *sc, uint64_t k)
{
	size_t cap = sc->tagcap == 0 ? 512 : sc->tagcap;

	while (cap < k)
		cap *= 2;
	if (sc->nframes > cap)
		cap = sc->nframes;
	sc->tag_us = stream_xrealloc(sc->tag_us, cap, sizeof(*sc->tag_us));
	sc->tag_seen = stream_xrealloc(sc->tag_seen, cap, 1);
	memset(sc->tag_seen + sc->tagcap, 0, cap - sc->tagcap);
	sc->tagcap = cap;
}

static int
send_media(struct stream_call *sc, int64_t now)
{
	const struct stream_cfg *cfg = sc->hub->cfg;
	unsigned char            frame[STREAM_FRAME_BYTES];
	char                     b64[STREAM_FRAME_B64 + 4];
	const char              *payload = sc->hub->silence_b64;
	uint64_t                 k = sc->st.frames_sent + 1;
	int64_t                  lag;
	bool                     sound = false;

	if (cfg->audio != NULL)
		sound = stream_audio_frame(cfg->audio, k - 1, frame);
	else
		memset(frame, STREAM_SILENCE, sizeof(frame));
	if (cfg->tags) {
		frame[0] = (unsigned char)(k >> 24);
		frame[1] = (unsigned char)(k >> 16);
		frame[2] = (unsigned char)(k >> 8);
		frame[3] = (unsigned char)k;
		sound = true;
		if (k > sc->tagcap)
			tags_grow(sc, k);
		sc->tag_us[k - 1] = (uint32_t)(now - sc->t0_us);
	}
	if (sound) {
		EVP_EncodeBlock((unsigned char *)b64, frame, sizeof(frame));
		payload = b64;
	}
	lag = now - sc->t0_us - (int64_t)(k - 1) * STREAM_FRAME_MS * 1000;
	if (lag > sc->st.lag_max_us)
		sc->st.lag_max_us = lag;
	if (lag > STREAM_LATE_MS * 1000)
		sc->st.late_frames++;
	sc->st.frames_sent = k;
	return (tx_write(sc, media_msg(sc, k, payload), LWS_WRITE_TEXT));
}

static int
send_oversize(struct stream_call *sc)
{
	char *b = txbuf(sc);
	int   n, pad;

	n = snprintf(b, STREAM_TX_MAX,
	    "{\"event\":\"media\",\"sequenceNumber"
	    "\":\"%llu\",\"media\":{\"track\":\"inbound\",\"chunk\":\"1\","
	    "\"timestamp\":\"0\",\"payload\":\"",
	    (unsigned long long)++sc->seq);
	pad = (OVERSIZE_BYTES - 64 - n) / 4 * 4; /* valid base64 */
	memset(b + n, 'A', pad);
	n += pad;
	n += snprintf(b + n, 64, "\"},\"streamSid\":\"%s\"}", sc->stream_sid);
	memset(b + n, ' ', OVERSIZE_BYTES - n); /* JSON allows trailing ws */
	return (tx_write(sc, OVERSIZE_BYTES, LWS_WRITE_TEXT));
}

static int
send_inject(struct stream_call *sc, enum stream_inject inj)
{
	char *b = txbuf(sc);

	switch (inj) {
	case STREAM_INJECT_MEDIA_BEFORE_START:
		return (tx_write(sc, media_msg(sc, 1, sc->hub->silence_b64),
		    LWS_WRITE_TEXT));
	case STREAM_INJECT_BAD_BASE64:
		return (tx_write(
		    sc, media_msg(sc, 1, "@@not*base64!!"), LWS_WRITE_TEXT));
	case STREAM_INJECT_DOUBLE_START:
		return (send_start(sc, stream_now_us()));
	case STREAM_INJECT_BAD_JSON:
		return (tx_write(sc,
		    snprintf(b, STREAM_TX_MAX,
		        "{\"event\":\"media\",\"streamSid\":\"%s\",\"media\":"
		        "{\"payload\":",
		        sc->stream_sid),
		    LWS_WRITE_TEXT));
	case STREAM_INJECT_UNKNOWN_EVENT:
		return (tx_write(sc,
		    snprintf(b, STREAM_TX_MAX,
		        "{\"event\":\"bogus\",\"sequenceNumber\":\"%llu\","
		        "\"streamSid\":\"%s\"}",
		        (unsigned long long)++sc->seq, sc->stream_sid),
		    LWS_WRITE_TEXT));
	case STREAM_INJECT_OVERSIZE:
		return (send_oversize(sc));
	case STREAM_INJECT_BINARY_FRAME:
		memset(b, STREAM_SILENCE, STREAM_FRAME_BYTES);
		return (tx_write(sc, STREAM_FRAME_BYTES, LWS_WRITE_BINARY));
	default:
		return (0);
	}
}

static int
send_mark(struct stream_call *sc)
{
	struct stream_mark *m = &sc->marks[sc->mhead];
	json_t             *msg;
	char                seq[24];

	if (!is_signalwire(sc)) {
		snprintf(
		    seq, sizeof(seq), "%llu", (unsigned long long)++sc->seq);
		msg = json_pack("{s:s, s:s, s:s, s:{s:s}}", "event", "mark",
		    stream_seq_key(sc), seq, stream_sid_key(sc),
		    sc->stream_sid, "mark", "name", m->name);
	} else
		msg = json_pack("{s:s, s:s, s:{s:s}}", "event", "mark",
		    "streamSid", sc->stream_sid, "mark", "name", m->name);
	sc->mhead = (sc->mhead + 1) % sc->mcap;
	sc->mcount--;
	sc->st.marks_echoed++;
	return (tx_json(sc, msg));
}

static int
send_dtmf(struct stream_call *sc)
{
	char d = sc->hub->cfg->dtmf[sc->dtmf_next++].digit;

	sc->st.dtmf_sent++;
	if (is_telnyx(sc))
		return (tx_write(sc,
		    snprintf(txbuf(sc), STREAM_TX_MAX,
		        "{\"event\":\"dtmf\",\"stream_id\":\"%s\","
		        "\"sequence_number\":\"%llu\",\"dtmf\":{"
		        "\"digit\":\"%c\"}}",
		        sc->stream_sid, (unsigned long long)++sc->seq, d),
		    LWS_WRITE_TEXT));
	if (is_twilio(sc))
		return (tx_write(sc,
		    snprintf(txbuf(sc), STREAM_TX_MAX,
		        "{\"event\":\"dtmf\",\"streamSid\":\"%s\","
		        "\"sequenceNumber"
		        "\":\"%llu\",\"dtmf\":{\"track\":\"inbound_track\","
		        "\"digit\":\"%c\"}}",
		        sc->stream_sid, (unsigned long long)++sc->seq, d),
		    LWS_WRITE_TEXT));
	return (tx_write(sc,
	    snprintf(txbuf(sc), STREAM_TX_MAX,
	        "{\"event\":\"dtmf\",\"sequenceNumber\":\"%llu\","
	        "\"streamSid\":"
	        "\"%s\",\"dtmf\":{\"digit\":\"%c\",\"duration\":250}}",
	        (unsigned long long)++sc->seq, sc->stream_sid, d),
	    LWS_WRITE_TEXT));
}

static int
send_stop(struct stream_call *sc)
{
	int n;

	sc->sent_stop = true;
	sc->st.completed = true;
	if (is_twilio(sc))
		n = snprintf(txbuf(sc), STREAM_TX_MAX,
		    "{\"event\":\"stop\","
		    "\"sequenceNumber\":\"%llu\",\"stop\":{\"accountSid\":"
		    "\"%s\",\"callSid\":\"%s\"},\"streamSid\":\"%s\"}",
		    (unsigned long long)++sc->seq, sc->account_sid,
		    sc->call_sid, sc->stream_sid);
	else if (is_telnyx(sc))
		n = snprintf(txbuf(sc), STREAM_TX_MAX,
		    "{\"event\":\"stop\",\"sequence_number\":\"%llu\","
		    "\"stream_id\":\"%s\",\"stop\":{\"call_control_id\":"
		    "\"%s\",\"reason\":\"hangup\"}}",
		    (unsigned long long)++sc->seq, sc->stream_sid,
		    sc->call_sid);
	else
		n = snprintf(txbuf(sc), STREAM_TX_MAX,
		    "{\"event\":\"stop\","
		    "\"sequenceNumber\":\"%llu\"}",
		    (unsigned long long)++sc->seq);
	return (tx_write(sc, n, LWS_WRITE_TEXT));
}

static bool
media_due(const struct stream_call *sc, int64_t now)
{
	uint64_t k = sc->st.frames_sent;

	if (sc->nframes != 0 && k >= sc->nframes)
		return (false);
	return (now >= sc->t0_us + (int64_t)k * STREAM_FRAME_MS * 1000);
}

static bool
stop_due(const struct stream_call *sc, int64_t now)
{
	int64_t end;

	if (sc->nframes == 0 || sc->st.frames_sent < sc->nframes)
		return (false);
	end = sc->t0_us + (int64_t)sc->nframes * STREAM_FRAME_MS * 1000;
	return (now >= end + (int64_t)sc->hub->cfg->drain_ms * 1000);
}

static bool
dtmf_due(const struct stream_call *sc, int64_t now)
{
	const struct stream_cfg *cfg = sc->hub->cfg;

	return (sc->dtmf_next < cfg->ndtmf
	    && now >= sc->t0_us + cfg->dtmf[sc->dtmf_next].at_ms * 1000);
}

bool
stream_tx_due(const struct stream_call *sc, int64_t now)
{
	if (!sc->sent_connected || !sc->sent_start || sc->inject_due
	    || sc->sent_stop || sc->hangup)
		return (true);
	return (stream_marks_ready(sc, now) || dtmf_due(sc, now)
	    || media_due(sc, now) || stop_due(sc, now));
}

int
stream_tx_one(struct stream_call *sc, int64_t now)
{
	enum stream_inject inj = sc->hub->cfg->inject;

	if (sc->sent_stop)
		return (-1); /* stop is out: close */
	if (!sc->sent_connected)
		return (send_connected(sc));
	if (!sc->sent_start) {
		if (sc->hangup)
			return (-1);
		if (inj == STREAM_INJECT_MEDIA_BEFORE_START
		    && !sc->pre_injected) {
			sc->pre_injected = true;
			return (send_inject(sc, inj));
		}
		return (send_start(sc, now));
	}
	if (sc->hangup)
		return (send_stop(sc));
	if (sc->inject_due) {
		sc->inject_due = false;
		return (send_inject(sc, inj));
	}
	if (stream_marks_ready(sc, now))
		return (send_mark(sc));
	if (dtmf_due(sc, now))
		return (send_dtmf(sc));
	if (media_due(sc, now))
		return (send_media(sc, now));
	if (stop_due(sc, now))
		return (send_stop(sc));
	return (0);
}
