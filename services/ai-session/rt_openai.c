/*
 * rt_openai.c - struct rt_provider for the OpenAI Realtime API (GA only:
 * no OpenAI-Beta header, session.type "realtime"; protocols.md 6).
 *
 * One WebSocket per call (ws.c).  On session.created we send one
 * session.update (pcmu both ways, server VAD with create_response and
 * interrupt_response set, input transcription, voice, instructions,
 * tools); caller audio is pulled from the call only after
 * session.updated.  An error event before that re-sends the update (at
 * most UPDATE_TRIES times, then the error is fatal for the call); after
 * it, errors are reported and the session goes on, as the API intends.
 *
 * Writes: one message per WRITEABLE callback.  Control events (update,
 * truncate, tool output, response.create) wait in a short list and go
 * before audio; each append is printed into one shared buffer, since lws
 * copies whatever it cannot send at once.
 *
 * Reads: audio deltas take the allocation-free path (oai_scan + base64
 * into a shared buffer); everything else is parsed with jansson.
 * Malformed JSON and unknown event types are counted and skipped; they
 * never end the call.
 *
 * lws service thread only.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "ai.h"
#include "codec.h"
#include "metrics.h"
#include "oai_json.h"
#include "xmalloc.h"

#define UPDATE_TRIES 3
#define APPEND_BUF (LWS_PRE + 64 + CODEC_B64_LEN(AI_FRAME_MAX))

struct ctl {
	struct ctl   *next;
	size_t        len;
	unsigned char buf[]; /* LWS_PRE, then the text */
};

struct rt_conn {
	struct ws              *ws;
	const struct rt_events *ev;
	void                   *arg;
	char                    sid[AI_SID_MAX];
	char                    trace[33];
	struct log_ctx          lc;
	char                   *update; /* session.update text */
	int                     update_tries;
	bool                    open;
	bool                    ready;
	struct ctl             *ctl;
	struct ctl            **ctl_tail;
};

/* Shared by every connection: lws service thread only. */
static unsigned char wbuf[APPEND_BUF];
static uint8_t      *dbuf; /* decoded audio deltas */
static size_t        dcap;
static uint8_t       fbuf[AI_FRAME_MAX];

static int
queue_ctl(struct rt_conn *rc, char *text)
{
	struct ctl *c;
	size_t      len;

	if (text == NULL) {
		logc_warnx(&rc->lc, "model: cannot encode a client event");
		return (-1);
	}
	len = strlen(text);
	c = xmalloc(sizeof(*c) + LWS_PRE + len);
	c->next = NULL;
	c->len = len;
	memcpy(c->buf + LWS_PRE, text, len);
	free(text);
	*rc->ctl_tail = c;
	rc->ctl_tail = &c->next;
	ws_want_write(rc->ws);
	return (0);
}

static void
send_update(struct rt_conn *rc)
{
	rc->update_tries++;
	(void)queue_ctl(rc, xstrdup(rc->update));
}

static const char *
str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return (s != NULL ? s : "");
}

static void
on_audio_delta(struct rt_conn *rc, const char *item, const char *resp,
    const char *b64, size_t len)
{
	int n;

	if (dcap < CODEC_B64_DEC_MAX(len)) {
		dcap = CODEC_B64_DEC_MAX(len) + 1024;
		dbuf = xrealloc(dbuf, dcap);
	}
	if ((n = codec_b64_decode(b64, len, dbuf, dcap)) < 0) {
		metric_inc(st.bad_model_json);
		logc_warnx(&rc->lc,
		    "model: audio delta is not base64 "
		    "(%zu chars); dropped",
		    len);
		return;
	}
	if (n > 0)
		rc->ev->on_audio(rc->arg, item, resp, dbuf, (size_t)n);
}

/*
 * An error a setting must fix, not the call: which one.  NULL for the
 * others (a bad event of ours, a busy service).
 */
static const char *
blamed_setting(const char *code, const char *param)
{
	if (strcmp(code, "model_not_found") == 0)
		return ("OPENAI_REALTIME_URL (its model= parameter)");
	if (strcmp(code, "invalid_api_key") == 0)
		return ("OPENAI_API_KEY");
	if (strcmp(param, "session.reasoning") == 0
	    || strcmp(param, "session.reasoning.effort") == 0)
		return ("AI_REASONING_EFFORT (empty for a model without "
		        "reasoning)");
	if (strcmp(param, "session.audio.input.transcription.model") == 0)
		return ("AI_TRANSCRIBE_MODEL");
	if (strcmp(param, "session.audio.output.voice") == 0)
		return ("OPENAI_VOICE");
	return (NULL);
}

static void
on_error(struct rt_conn *rc, json_t *ev)
{
	json_t     *err = json_object_get(ev, "error");
	const char *code = str(err, "code"), *msg = str(err, "message");
	const char *setting = blamed_setting(code, str(err, "param"));

	stats_model_error(code);
	if (setting != NULL) {
		stats_config_error(setting);
		logc_warnx(&rc->lc,
		    "configuration: OpenAI refused the session (code %s: "
		    "%.160s); change %s (docs/providers.md)",
		    code, msg, setting);
	}
	if (!rc->ready && rc->update_tries < UPDATE_TRIES) {
		logc_warnx(&rc->lc,
		    "model error before the session was "
		    "configured (code %s: %.200s); sending session.update "
		    "again",
		    code, msg);
		send_update(rc);
		return;
	}
	rc->ev->on_error(rc->arg, code, msg, !rc->ready);
}

/* One event parsed by jansson; type is its "type". */
static uint64_t
count_of(json_t *o, const char *k)
{
	json_int_t n = json_integer_value(json_object_get(o, k));

	return (n > 0 ? (uint64_t)n : 0);
}

/* response.usage: {input_tokens, output_tokens, input_token_details:
 * {audio_tokens, cached_tokens, ...}, output_token_details: {...}}. */
static void
on_usage(struct rt_conn *rc, json_t *u)
{
	json_t *in = json_object_get(u, "input_token_details"),
	       *out = json_object_get(u, "output_token_details");
	struct rt_usage ru;

	if (!json_is_object(u))
		return;
	ru.input = count_of(u, "input_tokens");
	ru.output = count_of(u, "output_tokens");
	ru.input_audio = count_of(in, "audio_tokens");
	ru.output_audio = count_of(out, "audio_tokens");
	ru.cached = count_of(in, "cached_tokens");
	rc->ev->on_usage(rc->arg, &ru);
}

static void
on_event(struct rt_conn *rc, json_t *ev, const char *type)
{
	const struct rt_events *e = rc->ev;
	json_t                 *resp = json_object_get(ev, "response");
	const char             *d;

	if (strcmp(type, "response.output_audio.delta") == 0) {
		d = str(ev, "delta");
		on_audio_delta(rc, str(ev, "item_id"), str(ev, "response_id"),
		    d, strlen(d));
	} else if (strcmp(type, "session.created") == 0) {
		if (rc->update_tries == 0)
			send_update(rc);
	} else if (strcmp(type, "session.updated") == 0) {
		if (!rc->ready) {
			rc->ready = true;
			e->on_ready(rc->arg);
			ws_want_write(rc->ws);
		}
	} else if (strcmp(type, "input_audio_buffer.speech_started") == 0)
		e->on_speech_started(rc->arg);
	else if (strcmp(type, "input_audio_buffer.speech_stopped") == 0)
		e->on_speech_stopped(rc->arg);
	else if (strcmp(type,
	             "conversation.item.input_audio_transcription."
	             "completed")
	    == 0)
		e->on_transcript(rc->arg, RT_USER, str(ev, "item_id"),
		    str(ev, "transcript"));
	else if (strcmp(type, "response.output_audio_transcript.done") == 0)
		e->on_transcript(rc->arg, RT_ASSISTANT, str(ev, "item_id"),
		    str(ev, "transcript"));
	else if (strcmp(type, "response.output_audio.done") == 0)
		e->on_audio_done(
		    rc->arg, str(ev, "item_id"), str(ev, "response_id"));
	else if (strcmp(type, "response.created") == 0)
		e->on_response_created(rc->arg, str(resp, "id"));
	else if (strcmp(type, "response.done") == 0) {
		if (e->on_usage != NULL)
			on_usage(rc, json_object_get(resp, "usage"));
		e->on_response_done(
		    rc->arg, str(resp, "id"), str(resp, "status"));
	} else if (strcmp(type, "response.function_call_arguments.done") == 0)
		e->on_tool_call(rc->arg, str(ev, "call_id"), str(ev, "name"),
		    str(ev, "arguments"));
	else if (strcmp(type, "error") == 0)
		on_error(rc, ev);
	else if (strcmp(type,
	             "conversation.item.input_audio_transcription."
	             "failed")
	    == 0)
		logc_info(&rc->lc, "model: caller transcription failed");
	else if (strncmp(type, "conversation.", 13) != 0
	    && strncmp(type, "response.", 9) != 0
	    && strncmp(type, "input_audio_buffer.", 19) != 0
	    && strcmp(type, "rate_limits.updated") != 0) {
		metric_inc(st.unknown_events);
		logc_debug(
		    &rc->lc, "model: unknown event %.80s ignored", type);
	}
}

static void
ws_message(void *arg, const char *buf, size_t len)
{
	struct rt_conn   *rc = arg;
	struct oai_fields f;
	json_error_t      jerr;
	json_t           *ev;
	char              item[AI_ID_MAX], resp[AI_ID_MAX];

	if (oai_scan(buf, len, &f) == 0
	    && oai_span_is(&f.type, "response.output_audio.delta")
	    && f.delta.p != NULL && f.item_id.n < sizeof(item)
	    && f.response_id.n < sizeof(resp)) {
		memcpy(
		    item, f.item_id.p != NULL ? f.item_id.p : "", f.item_id.n);
		item[f.item_id.n] = '\0';
		memcpy(resp, f.response_id.p != NULL ? f.response_id.p : "",
		    f.response_id.n);
		resp[f.response_id.n] = '\0';
		on_audio_delta(rc, item, resp, f.delta.p, f.delta.n);
		return;
	}
	if ((ev = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL
	    || !json_is_object(ev)
	    || json_string_value(json_object_get(ev, "type")) == NULL) {
		metric_inc(st.bad_model_json);
		logc_warnx(&rc->lc,
		    "model: %zu bytes that are not an event "
		    "(%s at %d:%d); ignored",
		    len, ev == NULL ? jerr.text : "no type", jerr.line,
		    jerr.column);
		json_decref(ev);
		return;
	}
	on_event(rc, ev, json_string_value(json_object_get(ev, "type")));
	json_decref(ev);
}

static void
ws_open(void *arg)
{
	struct rt_conn *rc = arg;

	rc->open = true;
	logc_debug(&rc->lc, "model socket open");
	ws_want_write(rc->ws);
}

/*
 * Everything queued for the model, control events first, for as long as
 * the socket takes it whole; called from WRITEABLE and, when caller audio
 * arrives, straight from oai_audio_available() on the same thread.
 */
static void
ws_writeable(void *arg)
{
	struct rt_conn *rc = arg;
	struct ctl     *c;
	size_t          n, len;
	bool            more = true; /* until the ring says otherwise */

	while (rc->ws != NULL && ws_can_write(rc->ws)) {
		if ((c = rc->ctl) != NULL) {
			if ((rc->ctl = c->next) == NULL)
				rc->ctl_tail = &rc->ctl;
			(void)ws_write(rc->ws, c->buf, c->len);
			free(c);
			continue;
		}
		if (!rc->ready || !more
		    || (n = rc->ev->on_pull_audio(
		            rc->arg, fbuf, sizeof(fbuf), &more))
		        == 0)
			return;
		len = oai_append(
		    (char *)wbuf + LWS_PRE, sizeof(wbuf) - LWS_PRE, fbuf, n);
		if (len > 0 && ws_write(rc->ws, wbuf, len) == 0)
			metric_inc(st.frames_in);
	}
	/* The socket is full: the rest when it drains. */
	if (rc->ctl != NULL || (rc->ready && more))
		ws_want_write(rc->ws);
}

static void
ws_closed(void *arg, const char *reason)
{
	struct rt_conn *rc = arg;

	rc->ws = NULL; /* ws.c frees it */
	rc->ev->on_closed(rc->arg, reason);
}

static const struct ws_handler handler
    = { ws_open, ws_message, ws_writeable, ws_closed };

static int
oai_connect(struct rt_conn **rcp, const struct rt_session *s,
    const struct rt_events *ev, void *arg, const struct log_ctx *lc)
{
	struct rt_conn *rc = xcalloc(1, sizeof(*rc));

	snprintf(rc->sid, sizeof(rc->sid), "%s", lc->call_sid);
	snprintf(rc->trace, sizeof(rc->trace), "%s", lc->trace_id);
	rc->lc.call_sid = rc->sid;
	rc->lc.trace_id = rc->trace;
	rc->ev = ev;
	rc->arg = arg;
	rc->ctl_tail = &rc->ctl;
	if ((rc->update = oai_session_update(s)) == NULL) {
		logc_warnx(lc, "model: cannot encode session.update");
		free(rc);
		return (-1);
	}
	if ((rc->ws = ws_connect(s->url, s->api_key, &handler, rc, lc))
	    == NULL) {
		free(rc->update);
		free(rc);
		return (-1);
	}
	*rcp = rc;
	return (0);
}

static void
oai_audio_available(struct rt_conn *rc)
{
	if (!rc->ready)
		return;
	if (ws_can_write(rc->ws))
		ws_writeable(rc);
	else
		ws_want_write(rc->ws);
}

static int
oai_truncate_item(struct rt_conn *rc, const char *item_id, unsigned ms)
{
	return (queue_ctl(rc, oai_truncate(item_id, ms)));
}

static int
oai_send_tool_output(
    struct rt_conn *rc, const char *call_id, const char *output)
{
	return (queue_ctl(rc, oai_tool_output(call_id, output)));
}

static int
oai_request_response(struct rt_conn *rc, const char *instructions)
{
	return (queue_ctl(rc, oai_response_create(instructions)));
}

static int
oai_add_system_text(struct rt_conn *rc, const char *text)
{
	return (queue_ctl(rc, oai_system_text(text)));
}

static int
oai_add_user_text(struct rt_conn *rc, const char *text)
{
	return (queue_ctl(rc, oai_user_text(text)));
}

static void
oai_close(struct rt_conn *rc)
{
	struct ctl *c;

	if (rc == NULL)
		return;
	ws_close(rc->ws);
	while ((c = rc->ctl) != NULL) {
		rc->ctl = c->next;
		free(c);
	}
	free(rc->update);
	free(rc);
}

const struct rt_provider rt_openai
    = { "openai", oai_connect, oai_audio_available, oai_truncate_item,
	      oai_send_tool_output, oai_request_response, oai_add_system_text,
	      oai_add_user_text, oai_close };
