/*
 * session.c - the life of one call on the lws service thread: caller
 * frames in, model events out, barge-in, transcript, the end.
 *
 * The call's state machine (enum call_state in ai.h) and the one switch
 * over the commands other threads send (session_command) are here.
 * Every state change goes through session_set_state() and its table:
 *
 *	new --CMD_START--> setup --ready--> live --model lost--> reconnecting
 *	 |                   |               ^                       |
 *	 |                   |               +---------ready---------+
 *	 |                   |               |                       |
 *	 +-------------------+---shutdown----+-----------------------+
 *	 |                   |  (end_one)    |                       |
 *	 |                   |               v                       |
 *	 |                   |            moving                     |
 *	 |                   |               |                       |
 *	 +-------------------+--session_end--+-----------------------+
 *	                                     v
 *	                                  ending --record.c has it--> recorded
 *
 * A refused change is a bug: it is logged with both states and counted
 * (ai_call_state_errors_total) and the call keeps its state.
 *
 * tools.c, context.c and record.c are leaves: they do their work and
 * return; tools.c says what the session is to do next (enum tools_next:
 * nothing, or hang up after the goodbye, or now), and only this file
 * ends a call or changes its state.  context.c: ctx_request() and, on
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

static const char *const state_names[CALL_NSTATES] = {
	[CALL_NEW] = "new",
	[CALL_SETUP] = "setup",
	[CALL_LIVE] = "live",
	[CALL_RECONNECTING] = "reconnecting",
	[CALL_MOVING] = "moving",
	[CALL_ENDING] = "ending",
	[CALL_RECORDED] = "recorded",
};

/* allowed[from] has bit `to` set when from -> to is a transition.  Any
 * state before the end may move (shutdown) or end. */
#define TO(s) (1u << (s))
#define GOING (TO(CALL_MOVING) | TO(CALL_ENDING))
static const unsigned allowed[CALL_NSTATES] = {
	[CALL_NEW] = TO(CALL_SETUP) | GOING,
	[CALL_SETUP] = TO(CALL_LIVE) | GOING,
	[CALL_LIVE] = TO(CALL_RECONNECTING) | GOING,
	[CALL_RECONNECTING] = TO(CALL_LIVE) | GOING,
	[CALL_MOVING] = TO(CALL_ENDING),
	[CALL_ENDING] = TO(CALL_RECORDED),
	[CALL_RECORDED] = 0,
};
#undef GOING
#undef TO

const char *
call_state_name(enum call_state s)
{
	if ((unsigned)s >= CALL_NSTATES)
		return ("invalid");
	return (state_names[s]);
}

bool
call_state_allowed(enum call_state from, enum call_state to)
{
	if ((unsigned)from >= CALL_NSTATES || (unsigned)to >= CALL_NSTATES)
		return (false);
	return ((allowed[from] & (1u << to)) != 0);
}

int
session_set_state(struct call *c, enum call_state to)
{
	enum call_state from = c->state;

	if (!call_state_allowed(from, to)) {
		metric_inc(st.state_errors);
		logc_warnx(&c->lc, "call state %s -> %s refused (a bug)",
		    call_state_name(from), call_state_name(to));
		return (-1);
	}
	c->state = to;
	metric_inc(st.transition[from][to]);
	metric_dec(st.in_state[from]);
	metric_inc(st.in_state[to]);
	logc_debug(&c->lc, "call state %s -> %s", call_state_name(from),
	    call_state_name(to));
	return (0);
}

/* The state machine's series: every allowed transition and every state
 * present from the start (0), so a dashboard sees them all.  Main
 * thread, after stats_init(). */
void
session_stats_init(void)
{
	struct metric_family *tr, *in;
	int                   from, to;

	tr = metrics_counter("ai_call_state_transitions_total",
	    "Call state changes, by the state left and the state entered",
	    "from,to");
	in = metrics_gauge("ai_calls_in_state",
	    "Calls held now, by state (session.c's state machine)", "state");
	st.state_errors = metrics_counter1("ai_call_state_errors_total",
	    "State changes the transition table refused (a bug: the call "
	    "kept its state)");
	for (from = 0; from < CALL_NSTATES; from++) {
		st.in_state[from] = metric_get(in, call_state_name(from));
		for (to = 0; to < CALL_NSTATES; to++)
			if (call_state_allowed(from, to))
				st.transition[from][to]
				    = metric_get(tr, call_state_name(from),
				        call_state_name(to));
	}
}

/* Moving, ending or recorded: the call takes no more audio or events. */
static bool
call_over(const struct call *c)
{
	return (c->state == CALL_MOVING || c->state == CALL_ENDING
	    || c->state == CALL_RECORDED);
}

static void
hangup_timeout(struct call *c)
{
	logc_warnx(&c->lc,
	    "goodbye audio not confirmed played within %d ms; hanging up",
	    TOOLS_HANGUP_WAIT_MS);
	session_end(c, c->voicemail ? "voicemail" : "end_call",
	    c->hangup_reason != NULL ? c->hangup_reason : "end_call", true);
}

/* Do what tools.c asked for.  After TOOLS_HANG_UP c is freed. */
static void
session_next(struct call *c, enum tools_next next)
{
	switch (next) {
	case TOOLS_NONE:
		break;
	case TOOLS_SAY_AND_END:
		loop_timer(
		    &c->hangup_timer, TOOLS_HANGUP_WAIT_MS, hangup_timeout, c);
		break;
	case TOOLS_HANG_UP:
		session_end(c, c->voicemail ? "voicemail" : "end_call",
		    c->hangup_reason != NULL ? c->hangup_reason : "end_call",
		    true);
		break;
	}
}

/* The model session is configured: audio flows (first time, or after a
 * lost socket). */
static void
ev_ready(void *arg)
{
	struct call *c = arg;
	bool         again = c->state == CALL_RECONNECTING;
	int64_t      since = again ? c->t_lost : c->t_start;

	if (c->state != CALL_SETUP && !again)
		return;
	if (session_set_state(c, CALL_LIVE) != 0)
		return;
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
		session_next(c, tools_ready(c));
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
	session_next(c, tools_response_done(c));
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
	record_turn(c, t);
	session_next(c, tools_turn(c, t));
}

static void
ev_tool_call(
    void *arg, const char *call_id, const char *name, const char *args)
{
	struct call *c = arg;

	session_next(c, tools_call(c, call_id, name, args));
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
	.on_ready = ev_ready,
	.on_pull_audio = ev_pull_audio,
	.on_audio = ev_audio,
	.on_audio_done = ev_audio_done,
	.on_speech_started = ev_speech_started,
	.on_speech_stopped = ev_speech_stopped,
	.on_response_created = ev_response_created,
	.on_response_done = ev_response_done,
	.on_transcript = ev_transcript,
	.on_tool_call = ev_tool_call,
	.on_error = ev_error,
	.on_closed = ev_closed,
	.on_usage = usage_model,
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

	if (call_over(c))
		return;
	if ((c->state != CALL_LIVE && c->state != CALL_RECONNECTING)
	    || c->reconnects >= (unsigned)cfg.model_reconnects) {
		if (c->reconnects > 0)
			metric_inc(metric_get(st.model_reconnects, "gave_up"));
		session_end(c, "model_closed", reason, true);
		return;
	}
	session_provider->close(c->rt);
	c->rt = NULL;
	if (c->state == CALL_LIVE) {
		c->t_lost = ai_mono_ms();
		/* what the old session was saying is void */
		if (barge_interrupt(&c->barge, tr, BARGE_TRUNC_MAX) > 0)
			(void)edge_pub_clear(c);
		if (session_set_state(c, CALL_RECONNECTING) != 0)
			return;
	}
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
	if (session_set_state(c, CALL_SETUP) != 0)
		return; /* started already */
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

	if (call_over(c))
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
	if (c->state == CALL_LIVE)
		session_provider->audio_available(c->rt);
}

void
session_mark_echo(struct call *c, const char *name)
{
	switch (barge_echo(&c->barge, name)) {
	case BARGE_ECHO_OK:
		metric_inc(st.marks_echoed);
		session_next(c, tools_echo(c));
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
	if (c->state == CALL_ENDING || c->state == CALL_RECORDED
	    || session_set_state(c, CALL_ENDING) != 0)
		return;
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
	(void)session_set_state(c, CALL_RECORDED);
	calls_remove(c);
	metric_dec(st.active);
	if (ai_svc != NULL) /* atomic: svc comes up after the loop */
		svc_active_add(ai_svc, -1);
	call_free(c);
}

/* Shutdown: the call moves.  Not media-edge's end of it (no HangUp):
 * media-edge starts it again on another ai-session with the turns so
 * far, and the record kept here is partial. */
static void
end_one(struct call *c, void *arg)
{
	(void)arg;
	if (session_set_state(c, CALL_MOVING) != 0)
		return;
	edge_hand_over(c);
	session_end(c, "shutdown", "ai-session shutting down", false);
}

void
session_event(struct call *c, const Bus__CallEvent *ev)
{
	if (call_over(c))
		return;
	session_next(c, tools_call_event(c, ev));
}

/* media-edge could not send the keys press_keys asked for. */
void
session_keys_result(struct call *c, const Bus__DigitsResult *r)
{
	if (call_over(c))
		return;
	session_next(c, tools_keys_result(c, r));
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
		if (c->state != CALL_SETUP || c->rt != NULL)
			break; /* too late: set up already, or ending */
		ctx_apply(c, cmd);
		session_connect(c);
		break;
	case CMD_TOOL_RESULT:
		session_next(c, tools_result(c, cmd));
		break;
	case CMD_END:
		session_end(c, "edge", cmd->text, false);
		break;
	default:
		break;
	}
}
