/*
 * stream_rx - what the phone hears: the bridge's media, mark and clear
 * messages (protocols.md 1.4), checked as strictly as Twilio's debugger
 * would (1.7: extra or missing fields, wrong streamSid, unknown events).
 *
 * The speaker model: play_end_us is when the queued audio finishes; each
 * inbound media payload of n bytes adds n/8 ms after max(now, play_end).
 * A mark is due at play_end when it arrives, and marks sit in a FIFO ring
 * in due order; clear makes them all due now and empties the queue.
 * Tagged frames coming back give round-trip samples.
 * lws service thread only.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "stream_int.h"

static const char *const media_keys[]
    = { "event", "streamSid", "media", NULL };
static const char *const media_inner[] = { "payload", NULL };
static const char *const mark_keys[] = { "event", "streamSid", "mark", NULL };
static const char *const mark_inner[] = { "name", NULL };
static const char *const clear_keys[] = { "event", "streamSid", NULL };
static const char *const dtmf_keys[] = { "event", "streamSid", "dtmf", NULL };
static const char *const dtmf_inner[] = { "digit", NULL };

/* "streamSid" in the lists below stands for the dialect's key. */
static const char *
key_of(const struct stream_call *sc, const char *k)
{
	return (strcmp(k, "streamSid") == 0 ? stream_sid_key(sc) : k);
}

static bool
in_list(const struct stream_call *sc, const char *key, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(key, key_of(sc, *list)) == 0)
			return (true);
	return (false);
}

/* Exactly the keys in list: no more, no fewer. */
static int
check_keys(struct stream_call *sc, json_t *o, const char *const *list,
    const char *what)
{
	const char *key;
	json_t     *v;

	if (!json_is_object(o)) {
		stream_error(
		    sc, STREAM_ERR_BAD_MESSAGE, "%s: not an object", what);
		return (-1);
	}
	json_object_foreach(o, key, v)
	{
		if (!in_list(sc, key, list)) {
			stream_error(sc, STREAM_ERR_BAD_MESSAGE,
			    "%s: extra field \"%s\"", what, key);
			return (-1);
		}
	}
	for (; *list != NULL; list++)
		if (json_object_get(o, key_of(sc, *list)) == NULL) {
			stream_error(sc, STREAM_ERR_BAD_MESSAGE,
			    "%s: missing field \"%s\"", what,
			    key_of(sc, *list));
			return (-1);
		}
	return (0);
}

/* Shape, streamSid and timing checks shared by every inbound event. */
static int
check_msg(struct stream_call *sc, json_t *o, const char *ev,
    const char *const *keys, const char *inner, const char *const *ikeys)
{
	const char *sid;

	if (!sc->sent_start) {
		stream_error(
		    sc, STREAM_ERR_BEFORE_START, "%s before start", ev);
		return (-1);
	}
	if (check_keys(sc, o, keys, ev) == -1)
		return (-1);
	if (inner != NULL
	    && check_keys(sc, json_object_get(o, inner), ikeys, inner) == -1)
		return (-1);
	sid = json_string_value(json_object_get(o, stream_sid_key(sc)));
	if (sid == NULL || strcmp(sid, sc->stream_sid) != 0) {
		stream_error(sc, STREAM_ERR_WRONG_SID, "%s: wrong %s", ev,
		    stream_sid_key(sc));
		return (-1);
	}
	return (0);
}

/* Decodes base64 into the hub scratch buffer; returns length or -1. */
static int
decode(struct stream_call *sc, const char *b64, size_t len)
{
	struct stream_hub *hub = sc->hub;
	size_t             need = len / 4 * 3 + 3;
	int                n;

	if (len % 4 != 0)
		return (-1);
	if (need > hub->deccap) {
		hub->dec = stream_xrealloc(hub->dec, need, 1);
		hub->deccap = need;
	}
	if (len == 0)
		return (0);
	if ((n = EVP_DecodeBlock(
	         hub->dec, (const unsigned char *)b64, (int)len))
	    < 0)
		return (-1);
	if (b64[len - 1] == '=') /* EVP_DecodeBlock counts padding */
		n--;
	if (b64[len - 2] == '=')
		n--;
	return (n);
}

/* Every 160-byte step may start with one of our frame tags. */
static void
tags_match(struct stream_call *sc, const unsigned char *p, int n, int64_t now)
{
	uint32_t k;
	int      off;

	for (off = 0; off + 4 <= n; off += STREAM_FRAME_BYTES) {
		k = (uint32_t)p[off] << 24 | (uint32_t)p[off + 1] << 16
		    | (uint32_t)p[off + 2] << 8 | p[off + 3];
		if (k == 0 || k > sc->st.frames_sent || k > sc->tagcap
		    || sc->tag_seen[k - 1])
			continue;
		sc->tag_seen[k - 1] = 1;
		stream_rtt_add(sc, now - sc->t0_us - sc->tag_us[k - 1]);
	}
}

/* Keys in the audio received: recorded as "dtmf_heard". */
static void
heard_keys(struct stream_call *sc, const unsigned char *p, int n)
{
	size_t before;

	if (sc->det == NULL) {
		sc->det = stream_xcalloc(1, sizeof(*sc->det));
		dtmf_det_init(sc->det);
	}
	before = sc->det->nkeys;
	if (dtmf_det_feed(sc->det, p, (size_t)n) == 0)
		return;
	for (; before < sc->det->nkeys; before++) {
		char d[2] = { sc->det->keys[before], '\0' };

		sc->dtmf_heard_at[before] = sc->st.bytes_received;
		stream_record(sc, "dtmf_heard",
		    json_pack("{s:s, s:I}", "digit", d, "at_bytes",
		        (json_int_t)sc->st.bytes_received));
	}
}

static void
media_payload(struct stream_call *sc, const char *b64, size_t len, int64_t now)
{
	int n;

	if ((n = decode(sc, b64, len)) < 0) {
		stream_error(sc, STREAM_ERR_BAD_BASE64, "media: bad payload");
		return;
	}
	sc->st.frames_received++;
	sc->st.bytes_received += (uint64_t)n;
	heard_keys(sc, sc->hub->dec, n);
	if (sc->hub->cfg->tags)
		tags_match(sc, sc->hub->dec, n, now);
	if (sc->play_end_us < now)
		sc->play_end_us = now;
	sc->play_end_us += (int64_t)n * 125; /* 8 bytes per ms */
	stream_record(sc, "media",
	    json_pack("{s:I, s:i}", "n", (json_int_t)sc->st.frames_received,
	        "bytes", n));
}

static void
rx_media(struct stream_call *sc, json_t *o, int64_t now)
{
	json_t *p = json_object_get(json_object_get(o, "media"), "payload");

	if (!json_is_string(p)) {
		stream_error(sc, STREAM_ERR_BAD_BASE64, "media: bad payload");
		return;
	}
	media_payload(sc, json_string_value(p), json_string_length(p), now);
}

/*
 * Fast path for 1,000-call runs: a media message that is byte for byte
 * {"event":"media","streamSid":"<ours>","media":{"payload":"<base64>"}}
 * skips jansson.  Anything else (other key order, escapes, spaces) takes
 * the strict path, which accepts the same messages, so results agree.
 */
static bool
rx_media_fast(struct stream_call *sc, const char *buf, size_t len, int64_t now)
{
	size_t n = sc->media_prefix_len, i;
	char   c;

	if (!sc->sent_start || len < n + 3
	    || memcmp(buf, sc->media_prefix, n) != 0
	    || memcmp(buf + len - 3, "\"}}", 3) != 0)
		return (false);
	for (i = n; i < len - 3; i++) {
		c = buf[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
		        || (c >= '0' && c <= '9') || c == '+' || c == '/'
		        || c == '='))
			return (false);
	}
	media_payload(sc, buf + n, len - 3 - n, now);
	return (true);
}

static void
marks_push(struct stream_call *sc, const char *name, int64_t due)
{
	struct stream_mark *m;
	size_t              i, cap;

	if (sc->mcount == sc->mcap) {
		cap = sc->mcap == 0 ? 16 : sc->mcap * 2;
		m = stream_xcalloc(cap, sizeof(*m));
		for (i = 0; i < sc->mcount; i++)
			m[i] = sc->marks[(sc->mhead + i) % sc->mcap];
		free(sc->marks);
		sc->marks = m;
		sc->mcap = cap;
		sc->mhead = 0;
	}
	m = &sc->marks[(sc->mhead + sc->mcount) % sc->mcap];
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->due_us = due;
	sc->mcount++;
}

static void
rx_mark(struct stream_call *sc, json_t *o, int64_t now)
{
	const char *name;

	name = json_string_value(
	    json_object_get(json_object_get(o, "mark"), "name"));
	if (name == NULL) {
		stream_error(sc, STREAM_ERR_BAD_MESSAGE,
		    "mark: name not a "
		    "string");
		return;
	}
	if (strlen(name) >= STREAM_MARK_NAME)
		stream_error(sc, STREAM_ERR_BAD_MESSAGE,
		    "mark: name over %d "
		    "bytes, truncated",
		    STREAM_MARK_NAME - 1);
	sc->st.marks_received++;
	marks_push(sc, name, sc->play_end_us > now ? sc->play_end_us : now);
	stream_record(sc, "mark",
	    json_pack("{s:s, s:I}", "name", name, "queued_ms",
	        (json_int_t)(sc->play_end_us > now
	                ? (sc->play_end_us - now) / 1000
	                : 0)));
	if (sc->play_end_us <= now && sc->wsi != NULL)
		lws_callback_on_writable(
		    sc->wsi); /* nothing queued: echo now */
}

static void
rx_clear(struct stream_call *sc, int64_t now)
{
	size_t i;

	sc->st.clears++;
	for (i = 0; i < sc->mcount; i++)
		sc->marks[(sc->mhead + i) % sc->mcap].due_us = now;
	stream_record(sc, "clear",
	    json_pack("{s:I, s:I}", "dropped_ms",
	        (json_int_t)(sc->play_end_us > now
	                ? (sc->play_end_us - now) / 1000
	                : 0),
	        "pending_marks", (json_int_t)sc->mcount));
	sc->play_end_us = now;
	if (sc->wsi != NULL && sc->mcount > 0)
		lws_callback_on_writable(sc->wsi); /* echo them now */
}

static void
handle(struct stream_call *sc, const char *buf, size_t len)
{
	json_error_t jerr;
	json_t      *o;
	const char  *ev;
	int64_t      now = stream_now_us();
	bool         sw = sc->hub->cfg->dialect == STREAM_SIGNALWIRE;

	if (rx_media_fast(sc, buf, len, now))
		return;
	if ((o = json_loadb(buf, len, 0, &jerr)) == NULL) {
		stream_error(
		    sc, STREAM_ERR_BAD_JSON, "invalid JSON: %s", jerr.text);
		return;
	}
	if ((ev = json_string_value(json_object_get(o, "event"))) == NULL)
		stream_error(sc, STREAM_ERR_BAD_MESSAGE, "no event field");
	else if (strcmp(ev, "media") == 0) {
		if (check_msg(sc, o, ev, media_keys, "media", media_inner)
		    == 0)
			rx_media(sc, o, now);
	} else if (strcmp(ev, "mark") == 0) {
		if (check_msg(sc, o, ev, mark_keys, "mark", mark_inner) == 0)
			rx_mark(sc, o, now);
	} else if (strcmp(ev, "clear") == 0) {
		if (check_msg(sc, o, ev, clear_keys, NULL, NULL) == 0)
			rx_clear(sc, now);
	} else if (sw && strcmp(ev, "dtmf") == 0) {
		if (check_msg(sc, o, ev, dtmf_keys, "dtmf", dtmf_inner) == 0)
			stream_record(sc, "dtmf",
			    json_pack("{s:O}", "digit",
			        json_object_get(
			            json_object_get(o, "dtmf"), "digit")));
	} else
		stream_error(sc, STREAM_ERR_UNKNOWN_EVENT,
		    "unknown event "
		    "\"%.40s\"",
		    ev);
	json_decref(o);
}

void
stream_rx(struct stream_call *sc, const void *in, size_t len, bool binary,
    bool final)
{
	if (binary)
		sc->rx_skip = true;
	else if (!sc->rx_skip && sc->rxlen + len > STREAM_RX_MAX) {
		stream_error(sc, STREAM_ERR_TOO_BIG, "message over %d bytes",
		    STREAM_RX_MAX);
		sc->rx_skip = true;
	} else if (!sc->rx_skip) {
		if (sc->rxlen + len > sc->rxcap) {
			sc->rxcap = (sc->rxlen + len) * 2;
			sc->rx = stream_xrealloc(sc->rx, sc->rxcap, 1);
		}
		memcpy(sc->rx + sc->rxlen, in, len);
		sc->rxlen += len;
	}
	if (!final)
		return;
	if (binary)
		stream_error(sc, STREAM_ERR_BINARY, "binary frame");
	else if (!sc->rx_skip)
		handle(sc, (const char *)sc->rx, sc->rxlen);
	sc->rxlen = 0;
	sc->rx_skip = false;
}

bool
stream_marks_ready(const struct stream_call *sc, int64_t now)
{
	return (sc->mcount > 0 && sc->marks[sc->mhead].due_us <= now);
}

void
stream_tags_count_lost(struct stream_call *sc)
{
	uint64_t n = sc->st.frames_sent, k;
	uint64_t edge = STREAM_EDGE_MS / STREAM_FRAME_MS;

	for (k = 1; k <= n && k <= sc->tagcap; k++) {
		if (sc->tag_seen[k - 1])
			continue;
		if (k <= edge)
			sc->st.lost_start++;
		else if (k + edge > n)
			sc->st.lost_end++;
		else
			sc->st.lost_middle++;
	}
}
