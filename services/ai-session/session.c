/*
 * session.c - the life of one call on the lws service thread: caller
 * frames in, model events out, barge-in, transcript, the end.
 *
 * The call's state machine and the one switch over the commands other
 * threads send (session_command) are here:
 *
 *	CALL_STARTING ---ready---> CALL_READY <---ready--- CALL_RECONNECTING
 *	      |                     |     \---model lost--->   |
 *	      |                     |                          |
 *	      +------ session_end (any reason, once) ----------+--> CALL_ENDING
 *	                                                     (record.c keeps
 *	                                                      the record)
 *
 * context.c (the call context) is a leaf: ctx_request() and, on
 * CMD_CONTEXT, ctx_apply(); then session_connect() here.
 *
 * Start (CMD_START): ask for the context and arm the setup timer; open
 * the model session through the provider once it is in.  Caller frames
 * are queued in the call's ring from the first one; the provider pulls
 * them once the model is configured, so the audio sent before
 * session.updated reaches the model in order.
 *
 * Model audio: each chunk goes to media-edge as an AudioFrame, followed
 * by a mark when barge.c asks for one; deltas of interrupted responses
 * are dropped.  Speech start with audio still playing publishes Clear and
 * sends one truncate per playing item with what the caller heard.
 *
 * End (session_end, exactly once per call, with a reason): the model
 * socket is closed, the sid unsubscribed, media-edge told with HangUp
 * when the end did not come from it, the record handed to record.c, and
 * the call freed.
 *
 * Reconnect: a model socket that drops mid-call (or ends at the
 * provider's session time limit) does not end the call.  The call goes to
 * CALL_RECONNECTING: old model audio is cleared at media-edge, caller
 * frames are held in the call's ring, and a new model session is opened
 * with the call's instructions and the conversation so far
 * (ctx_continue), which must be configured within
 * AI_RECONNECT_TIMEOUT_MS; then the held audio flows to it.  After
 * AI_MODEL_RECONNECTS tries the call ends (model_closed) with HangUp
 * {failed}, so the caller hears media-edge's fallback message.
 *
 * lws service thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "ai.h"
#include "metrics.h"
#include "svc.h"
#include "wire.h"
#include "xmalloc.h"

const struct rt_provider *session_provider = &rt_openai;

/* The model session is configured: audio flows (first time, or after a
 * lost socket). */
static void
ev_ready(void *arg)
{
	struct call *c = arg;
	bool         again = c->state == CALL_RECONNECTING;
	int64_t      since = again ? c->t_lost : c->t_start;

	if (c->state != CALL_STARTING && !again)
		return;
	c->state = CALL_READY;
	loop_timer_cancel(&c->setup_timer);
	metric_observe(again ? st.reconnect_s : st.setup_s,
	    (double)(ai_mono_ms() - since) / 1000.0);
	logc_info(&c->lc,
	    "model session %s after %lld ms; %u caller frames "
	    "waiting",
	    again ? "restored" : "ready", (long long)(ai_mono_ms() - since),
	    c->inq.frames);
	if (c->inq.frames > 0)
		session_provider->audio_available(c->rt);
	if (again)
		metric_inc(metric_get(st.model_reconnects, "restored"));
	else
		session_ready_hook(c);
}

static size_t
ev_pull_audio(void *arg, uint8_t *buf, size_t len, bool *more)
{
	struct call *c = arg;
	size_t       n;
	uint32_t     seq = 0;

	n = ring_pop(&c->inq, buf, len, &seq);
	*more = c->inq.frames > 0;
	if (seq != 0)
		edge_audio_written(c, seq);
	return (n);
}

static void
ev_audio(
    void *arg, const char *item, const char *resp, const uint8_t *p, size_t n)
{
	struct call       *c = arg;
	char               mark[AI_MARK_MAX];
	enum barge_verdict v;

	v = barge_delta(&c->barge, item, resp, n, mark, sizeof(mark));
	if (v == BARGE_DROP) {
		metric_inc(st.drop_late);
		return;
	}
	if (c->t_speech_stopped != 0) {
		metric_observe(st.latency_s,
		    (double)(ai_mono_ms() - c->t_speech_stopped) / 1000.0);
		c->t_speech_stopped = 0;
	}
	if (edge_pub_audio(c, p, n) == 0 && v == BARGE_PLAY_MARK)
		(void)edge_pub_mark(c, mark);
}

static void
ev_audio_done(void *arg, const char *item, const char *resp)
{
	struct call *c = arg;
	char         mark[AI_MARK_MAX];

	if (barge_audio_done(&c->barge, item, resp, mark, sizeof(mark)))
		(void)edge_pub_mark(c, mark);
}

static void
ev_speech_started(void *arg)
{
	struct call       *c = arg;
	struct barge_trunc tr[BARGE_TRUNC_MAX];
	int                n, i;

	if ((n = barge_interrupt(&c->barge, tr, BARGE_TRUNC_MAX)) == 0)
		return;
	/* Clear first: every 20 ms here is model audio over the caller. */
	(void)edge_pub_clear(c);
	metric_inc(st.bargeins);
	for (i = 0; i < n; i++) {
		if (session_provider->truncate(c->rt, tr[i].item_id, tr[i].ms)
		    == 0)
			metric_inc(st.truncates);
		logc_info(&c->lc,
		    "barge-in: cleared; item %s truncated at "
		    "%u ms",
		    tr[i].item_id, tr[i].ms);
	}
	session_bargein_hook(c);
}

static void
ev_speech_stopped(void *arg)
{
	struct call *c = arg;

	c->t_speech_stopped = ai_mono_ms();
}

static void
ev_response_created(void *arg, const char *resp)
{
	struct call *c = arg;

	barge_response_created(&c->barge, resp);
}

static void
ev_response_done(void *arg, const char *resp, const char *status)
{
	struct call *c = arg;

	barge_response_done(&c->barge, resp, strcmp(status, "cancelled") == 0);
	if (strcmp(status, "failed") == 0)
		logc_warnx(&c->lc, "model response %s failed", resp);
	session_response_hook(c);
}

static void
ev_transcript(void *arg, enum rt_role role, const char *item, const char *text)
{
	struct call       *c = arg;
	const struct turn *t;

	if ((t = transcript_add(&c->tr, role, item, text, wire_now_ms()))
	    == NULL)
		return;
	metric_inc(st.turns);
	(void)edge_pub_turn(c, t);
	session_turn_hook(c, t);
}

static void
ev_error(void *arg, const char *code, const char *message, bool fatal)
{
	struct call *c = arg;

	logc_warnx(&c->lc, "model error %s: %.300s%s", code, message,
	    fatal ? "; ending the call" : "");
	if (fatal)
		session_end(c, "model_error", code, true);
}

static void model_lost(struct call *, const char *reason);

static void
ev_closed(void *arg, const char *reason)
{
	struct call *c = arg;

	metric_inc(st.model_closed);
	logc_warnx(&c->lc, "model socket: %s", reason);
	model_lost(c, reason);
}

static const struct rt_events events = {
	.ready = ev_ready,
	.pull_audio = ev_pull_audio,
	.audio = ev_audio,
	.audio_done = ev_audio_done,
	.speech_started = ev_speech_started,
	.speech_stopped = ev_speech_stopped,
	.response_created = ev_response_created,
	.response_done = ev_response_done,
	.transcript = ev_transcript,
	.tool_call = ev_tool_call,
	.error = ev_error,
	.closed = ev_closed,
	.usage = usage_model,
};

static void
reconnect_timeout(struct call *c)
{
	logc_warnx(&c->lc, "model session not restored within %ld ms",
	    cfg.reconnect_timeout_ms);
	model_lost(c, "model session not restored in time");
}

/* The model session of a live call is gone: open another (see the top
 * of the file), or end the call when that is not possible. */
static void
model_lost(struct call *c, const char *reason)
{
	struct barge_trunc tr[BARGE_TRUNC_MAX];
	struct rt_session  s;
	char              *instr;

	if (c->state == CALL_ENDING)
		return;
	if ((c->state != CALL_READY && c->state != CALL_RECONNECTING)
	    || c->reconnects >= (unsigned)cfg.model_reconnects) {
		if (c->reconnects > 0)
			metric_inc(metric_get(st.model_reconnects, "gave_up"));
		session_end(c, "model_closed", reason, true);
		return;
	}
	session_provider->close(c->rt);
	c->rt = NULL;
	if (c->state == CALL_READY) {
		c->t_lost = ai_mono_ms();
		/* what the old session was saying is void */
		if (barge_interrupt(&c->barge, tr, BARGE_TRUNC_MAX) > 0)
			(void)edge_pub_clear(c);
	}
	c->state = CALL_RECONNECTING;
	c->reconnects++;
	logc_info(&c->lc, "opening the model session again (try %u of %ld)",
	    c->reconnects, cfg.model_reconnects);
	loop_timer(
	    &c->setup_timer, cfg.reconnect_timeout_ms, reconnect_timeout, c);
	instr = ctx_continue(c->instructions, &c->tr, c->ctx_turns);
	config_rt_session(&s, &cfg, instr);
	if (c->voice != NULL)
		s.voice = c->voice; /* chosen for this call (CallSettings) */
	s.language = c->language;
	c->rt_gen++;
	if (session_provider->connect(&c->rt, &s, &events, c, &c->lc) != 0) {
		c->rt = NULL; /* the timer tries again */
		logc_warnx(&c->lc, "cannot open the model socket again");
	}
	free(instr);
}

static void
setup_timeout(struct call *c)
{
	logc_warnx(&c->lc, "model session not ready within %ld ms",
	    cfg.setup_timeout_ms);
	session_end(c, "setup_timeout", "model setup timeout", true);
}

/* Open the model session; instructions are final by now. */
static void
session_connect(struct call *c)
{
	struct rt_session s;

	config_rt_session(&s, &cfg, c->instructions);
	if (c->voice != NULL)
		s.voice = c->voice; /* chosen for this call (CallSettings) */
	s.language = c->language;
	c->rt_gen++;
	if (session_provider->connect(&c->rt, &s, &events, c, &c->lc) != 0) {
		session_end(
		    c, "connect_failed", "cannot open the model socket", true);
		return;
	}
}

/* Caller audio stopped: media-edge or the stream is gone without a
 * SessionEnd, so the model session would otherwise stay open. */
static void
idle_check(struct call *c)
{
	int64_t quiet = ai_mono_ms() - c->last_frame_ms;
	long    every
	    = cfg.idle_timeout_ms / 2 < 5000 ? cfg.idle_timeout_ms / 2 : 5000;

	if (quiet >= cfg.idle_timeout_ms) {
		logc_warnx(
		    &c->lc, "no caller audio for %lld ms", (long long)quiet);
		session_end(c, "caller_silent", "no caller audio", true);
		return;
	}
	loop_timer(&c->idle_timer, every > 0 ? every : 1, idle_check, c);
}

void
session_start(struct call *c)
{
	c->state = CALL_STARTING;
	c->last_frame_ms = ai_mono_ms();
	if (cfg.idle_timeout_ms > 0)
		idle_check(c);
	loop_timer(&c->setup_timer, cfg.setup_timeout_ms, setup_timeout, c);
	if (!ctx_request(c)) /* else CMD_CONTEXT, then session_connect() */
		session_connect(c);
}

void
session_frame(struct call *c, const Bus__AudioFrame *af)
{
	const uint8_t *p = af->payload.data;
	size_t         left = af->payload.len, n;

	if (c->state == CALL_ENDING)
		return;
	c->last_frame_ms = ai_mono_ms();
	if (af->seq != 0) {
		if (c->in_seq != 0 && af->seq > c->in_seq + 1)
			metric_add(st.frame_gaps, af->seq - c->in_seq - 1);
		c->in_seq = af->seq;
	}
	while (left > 0) {
		n = left > AI_FRAME_MAX ? AI_FRAME_MAX : left;
		if (ring_push(&c->inq, p, n, n == left ? af->seq : 0) != 0) {
			metric_inc(st.drop_queue);
			logc_debug(&c->lc, "caller frame dropped: queue full");
		}
		p += n;
		left -= n;
	}
	if (c->state == CALL_READY)
		session_provider->audio_available(c->rt);
}

void
session_mark_echo(struct call *c, const char *name)
{
	switch (barge_echo(&c->barge, name)) {
	case BARGE_ECHO_OK:
		metric_inc(st.marks_echoed);
		session_echo_hook(c);
		break;
	case BARGE_ECHO_STALE:
		metric_inc(st.marks_stale);
		break;
	case BARGE_ECHO_BAD:
		metric_inc(st.bad_bus);
		logc_debug(&c->lc, "mark echo %.80s is not one of ours",
		    name != NULL ? name : "");
		break;
	}
}

/* The call could not be served: the caller hears media-edge's fallback
 * message instead of a plain hang-up. */
static bool
session_failed(const char *why)
{
	static const char *const failed[] = { "connect_failed",
		"setup_timeout", "model_error", "model_closed", NULL };
	int                      i;

	for (i = 0; failed[i] != NULL; i++)
		if (strcmp(why, failed[i]) == 0)
			return (true);
	return (false);
}

void
session_end(
    struct call *c, const char *why, const char *detail, bool tell_edge)
{
	if (c->state == CALL_ENDING)
		return;
	c->state = CALL_ENDING;
	loop_timer_cancel(&c->setup_timer);
	loop_timer_cancel(&c->hangup_timer);
	loop_timer_cancel(&c->idle_timer);
	loop_timer_cancel(&c->dtmf_timer);
	session_provider->close(c->rt);
	c->rt = NULL;
	(void)edge_unsubscribe(c->sid);
	edge_release(c);
	stats_ended(why);
	logc_info(&c->lc, "call ended (%s: %.200s) after %lld ms, %zu turns",
	    why, detail != NULL ? detail : "",
	    (long long)(ai_mono_ms() - c->t_start), c->tr.n);
	if (tell_edge)
		jobs_hangup(c->edge_ctl_url, c->sid, c->trace,
		    detail != NULL ? detail : why, session_failed(why));
	free(c->end_reason);
	c->end_reason = xstrdup(detail != NULL ? detail : why);
	record_finish(c, why); /* record.c: takes the transcript */
	calls_remove(c);
	metric_dec(st.active);
	if (ai_svc != NULL) /* atomic: svc comes up after the loop */
		svc_active_add(ai_svc, -1);
	call_free(c);
}

static void
end_one(struct call *c, void *arg)
{
	(void)arg;
	edge_hand_over(c);
	session_end(c, "shutdown", "ai-session shutting down", false);
}

void
session_shutdown_all(void)
{
	calls_foreach_live(end_one, NULL);
}

void
session_command(struct cmd *cmd)
{
	struct call *c = NULL;

	if (cmd->kind == CMD_SHUTDOWN) {
		session_shutdown_all();
		loop_request_stop();
		return;
	}
	if ((c = calls_find_live(cmd->sid)) == NULL)
		return; /* ended meanwhile */
	switch (cmd->kind) {
	case CMD_START:
		session_start(c);
		break;
	case CMD_CONTEXT:
		if (c->state != CALL_STARTING || c->rt != NULL)
			break; /* too late: set up already, or ending */
		ctx_apply(c, cmd);
		session_connect(c);
		break;
	case CMD_TOOL_RESULT:
		tools_result(c, cmd);
		break;
	case CMD_END:
		session_end(c, "edge", cmd->text, false);
		break;
	default:
		break;
	}
}
