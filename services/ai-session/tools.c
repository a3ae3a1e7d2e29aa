/*
 * tools.c - what the model may do besides talking, and how calls end
 * from our side.
 *
 * consult_reasoner: a job thread sends ReasonRequest (situation, recent
 * turns, question) to the reasoner while the call goes on; the tool's
 * description tells the model to say it is checking first, so the caller
 * hears no dead air.  The answer (or an error the model can speak
 * around) returns as CMD_TOOL_RESULT and goes back as
 * function_call_output, then response.create (deferred until no response
 * is active: only one may write to the conversation at a time).
 *
 * press_keys: the model presses phone keys ("digits": 1-32 of 0-9 * #
 * A-D, w a 0.5 s pause; common/dtmf).  Bad digits are refused at once
 * (function_call_output with the error, ai_tool_calls_total{name=
 * "press_keys",result="bad_args"}) and nothing is sent.  Good ones go to
 * media-edge as a SendDigits item in the call's audio batch, after the
 * model audio already sent, so they are heard after what the model is
 * saying; the tool answers {"ok":true} once they are handed over, the keys
 * go into the transcript as an assistant turn "[keys pressed] 1 2 #", and
 * no response is asked for (the model listens to what the line says
 * next).  When media-edge reports that it could not send them
 * (DigitsResult), the model is told with a system conversation item and
 * a response is asked for (result="failed").
 *
 * end_call, and voicemail: the call is hung up (HangUp to media-edge)
 * only after the goodbye or the voicemail message has played: after the
 * response that carries it is done and every mark of it has come back.
 * A timer bounds the wait (TOOLS_HANGUP_WAIT_MS).  Voicemail is
 * recognised from the provider's answering-machine result
 * (SessionStart.params answered_by, or a CallEvent of kind "amd") or from
 * voicemail phrases in the first turns of the callee; the configured
 * message is spoken and the outcome is voicemail.
 *
 * A leaf of session.c: each tools_* function does its part with the
 * model and returns what the session is to do next (enum tools_next in
 * ai.h); session.c arms the timer and ends the call.  A new tool is one
 * function and one row of tools[].
 *
 * lws service thread, except reason_run (job thread).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "ai.h"
#include "bus.h"
#include "dtmf.h"
#include "metrics.h"
#include "wire.h"
#include "xmalloc.h"

#define REASON_TURNS 12 /* recent turns sent to the reasoner */
#define VM_USER_TURNS 2 /* voicemail phrases count this early */

static const char *vm_phrases[] = { "leave a message", "leave your message",
	"after the tone", "after the beep", "voicemail", "voice mail",
	"mailbox", "not available to take your call", "can't take your call",
	"cannot take your call", "record your message", NULL };

struct reason_job {
	char       sid[AI_SID_MAX];
	char       trace[33];
	char      *call_id;
	unsigned   gen; /* the model session that asked */
	char      *question;
	char      *situation;
	Bus__Turn *turns;
	size_t     nturns;
};

static void
tool_metric(const char *name, const char *result)
{
	metric_inc(metric_get(st.tools, name, result));
}

/* Ask for a response now, or once the active one is done. */
static void
want_response(struct call *c)
{
	if (c->barge.active_resp[0] != '\0') {
		c->response_wanted = true;
		return;
	}
	c->response_wanted = false;
	(void)session_provider->request_response(c->rt, NULL);
}

/* TOOLS_HANG_UP once the goodbye has been spoken and heard. */
static enum tools_next
maybe_hangup(struct call *c)
{
	if (!c->hangup_after_audio || barge_pending(&c->barge))
		return (TOOLS_NONE);
	return (TOOLS_HANG_UP);
}

/* Hang up once the response in progress (or the next one, if none is)
 * has been spoken and heard. */
static enum tools_next
hangup_after_speech(struct call *c, const char *reason)
{
	free(c->hangup_reason);
	c->hangup_reason = xstrdup(reason);
	if (c->barge.active_resp[0] != '\0')
		c->hangup_armed = true;
	else
		c->hangup_after_audio = true;
	if (maybe_hangup(c) == TOOLS_HANG_UP)
		return (TOOLS_HANG_UP);
	return (TOOLS_SAY_AND_END);
}

static enum tools_next
speak_voicemail(struct call *c)
{
	const char *msg = c->voicemail_message != NULL ? c->voicemail_message
	                                               : cfg.voicemail_message;
	char       *ins;

	c->voicemail_wanted = false;
	ins = xasprintf("You reached an answering machine. Say exactly this "
	                "message, then stop: \"%s\"",
	    msg);
	(void)session_provider->request_response(c->rt, ins);
	free(ins);
	free(c->hangup_reason);
	c->hangup_reason = xstrdup("voicemail");
	c->hangup_armed = true; /* after the response asked for */
	return (TOOLS_SAY_AND_END);
}

static enum tools_next
start_voicemail(struct call *c, const char *why)
{
	if (c->voicemail || c->state != CALL_LIVE)
		return (TOOLS_NONE);
	c->voicemail = true;
	free(c->outcome);
	c->outcome = xstrdup("voicemail");
	logc_info(&c->lc, "voicemail (%s): leaving the message", why);
	if (c->barge.active_resp[0] != '\0') {
		c->voicemail_wanted = true; /* after the current one */
		return (TOOLS_NONE);
	}
	return (speak_voicemail(c));
}

static bool
is_machine(const char *answered_by)
{
	return (answered_by != NULL
	    && (strncasecmp(answered_by, "machine", 7) == 0
	        || strcasecmp(answered_by, "fax") == 0));
}

enum tools_next
tools_ready(struct call *c)
{
	if (is_machine(c->answered_by))
		return (start_voicemail(c, c->answered_by));
	if (c->direction == BUS__DIRECTION__INBOUND || c->resume)
		want_response(c); /* we speak first */
	return (TOOLS_NONE);
}

enum tools_next
tools_call_event(struct call *c, const Bus__CallEvent *ev)
{
	if (ev->kind == NULL || strcmp(ev->kind, "amd") != 0)
		return (TOOLS_NONE);
	free(c->answered_by);
	c->answered_by = xstrdup(ev->status != NULL ? ev->status : "");
	if (is_machine(ev->status))
		return (start_voicemail(c, ev->status));
	return (TOOLS_NONE);
}

enum tools_next
tools_turn(struct call *c, const struct turn *t)
{
	size_t i;

	if (t->role != RT_USER || c->voicemail
	    || ++c->user_turns > VM_USER_TURNS)
		return (TOOLS_NONE);
	for (i = 0; vm_phrases[i] != NULL; i++)
		if (strcasestr(t->text, vm_phrases[i]) != NULL)
			return (
			    start_voicemail(c, "voicemail greeting heard"));
	return (TOOLS_NONE);
}

enum tools_next
tools_echo(struct call *c)
{
	return (maybe_hangup(c));
}

enum tools_next
tools_response_done(struct call *c)
{
	const char *active = c->barge.active_resp;

	if (active[0] != '\0')
		return (TOOLS_NONE);
	if (c->voicemail_wanted)
		return (speak_voicemail(c));
	if (c->hangup_armed) {
		/* the response carrying the goodbye is done */
		c->hangup_armed = false;
		c->hangup_after_audio = true;
		return (maybe_hangup(c));
	}
	if (c->response_wanted)
		want_response(c);
	return (TOOLS_NONE);
}

/* Job thread: ask the reasoner; the answer goes back as a command. */
static void
reason_job_free(struct reason_job *j)
{
	size_t i;

	for (i = 0; i < j->nturns; i++)
		free(j->turns[i].text);
	free(j->turns);
	free(j->call_id);
	free(j->question);
	free(j->situation);
	free(j);
}

static void
reason_run(void *arg)
{
	struct reason_job *j = arg;
	Bus__Envelope      env = BUS__ENVELOPE__INIT, *rep = NULL;
	Bus__ReasonRequest rr = BUS__REASON_REQUEST__INIT;
	Bus__Turn         *tp[REASON_TURNS];
	struct wire_ids    ids;
	struct log_ctx     lc = { j->sid, j->trace };
	struct cmd        *cmd;
	nng_socket         s;
	json_t            *out = NULL;
	size_t             i;
	int                rv = -1;

	wire_env_init(&env, &ids, j->sid, j->trace);
	rr.situation = j->situation;
	rr.question = j->question;
	rr.deadline_ms = (uint32_t)cfg.reason_timeout_ms;
	for (i = 0; i < j->nturns; i++)
		tp[i] = &j->turns[i];
	rr.recent_turns = tp;
	rr.n_recent_turns = j->nturns;
	env.body_case = BUS__ENVELOPE__BODY_REASON_REQUEST;
	env.reason_request = &rr;
	if (jobs_req_socket(cfg.reasoner_url, &s) == 0
	    && (rv = bus_request(
	            s, &env, &rep, (int)cfg.reason_timeout_ms + 1000, 1))
	        == 0
	    && rep->body_case == BUS__ENVELOPE__BODY_REASON_DECISION)
		out = json_pack(
		    "{s:s}", "answer", rep->reason_decision->answer);
	else {
		logc_warnx(&lc, "consult_reasoner: no answer (%s)",
		    rv != 0 ? nng_strerror(rv)
		            : wire_type_name(rep->body_case));
		out = json_pack("{s:s}", "error",
		    "The colleague could not be "
		    "reached. Apologise, say you will follow up, and go on.");
	}
	cmd = cmd_new(CMD_TOOL_RESULT, j->sid, NULL);
	cmd->text = out != NULL ? json_dumps(out, JSON_COMPACT) : NULL;
	cmd->text2 = j->call_id; /* the command's now */
	j->call_id = NULL;
	if (out != NULL
	    && rep->body_case == BUS__ENVELOPE__BODY_REASON_DECISION) {
		cmd->tokens_in = rep->reason_decision->input_tokens;
		cmd->tokens_out = rep->reason_decision->output_tokens;
	}
	cmd->gen = j->gen;
	cmd->ptr = (void *)(rep != NULL
	            && rep->body_case == BUS__ENVELOPE__BODY_REASON_DECISION
	        ? "ok"
	        : "error");
	loop_push_cmd(cmd);
	json_decref(out);
	wire_free(rep);
	reason_job_free(j);
}

static enum tools_next
tool_consult(struct call *c, const char *call_id, json_t *args)
{
	struct reason_job *j;
	const char *q = json_string_value(json_object_get(args, "question"));
	size_t      i, first;

	if (cfg.reasoner_url[0] == '\0' || q == NULL) {
		tool_metric("consult_reasoner",
		    q == NULL ? "bad_args" : "unavailable");
		(void)session_provider->send_tool_output(c->rt, call_id,
		    "{\"error\":\"No colleague is available. Answer as best "
		    "you can.\"}");
		want_response(c);
		return (TOOLS_NONE);
	}
	j = xcalloc(1, sizeof(*j));
	snprintf(j->sid, sizeof(j->sid), "%s", c->sid);
	snprintf(j->trace, sizeof(j->trace), "%s", c->trace);
	j->call_id = xstrdup(call_id);
	j->gen = c->rt_gen;
	j->question = xstrdup(q);
	j->situation = xstrdup(c->objective != NULL
	        ? c->objective
	        : (c->instructions != NULL ? c->instructions : ""));
	first = c->tr.n > REASON_TURNS ? c->tr.n - REASON_TURNS : 0;
	j->turns = xcalloc(c->tr.n - first + 1, sizeof(*j->turns));
	for (i = first; i < c->tr.n; i++) {
		Bus__Turn *t = &j->turns[j->nturns++];

		bus__turn__init(t);
		t->role = c->tr.turns[i].role == RT_ASSISTANT ? "assistant"
		                                              : "user";
		t->text = xstrdup(c->tr.turns[i].text);
		t->seq = c->tr.turns[i].seq;
		t->at_ms = c->tr.turns[i].at_ms;
	}
	if (jobs_push("reason", reason_run, j) == -1) {
		/* the job queue is full: the model answers without help */
		logc_warnx(&c->lc, "consult_reasoner: job queue full");
		reason_job_free(j);
		tool_metric("consult_reasoner", "unavailable");
		(void)session_provider->send_tool_output(c->rt, call_id,
		    "{\"error\":\"No colleague is available. Answer as best "
		    "you can.\"}");
		want_response(c);
		return (TOOLS_NONE);
	}
	c->tools_running++;
	logc_info(&c->lc, "consult_reasoner: asking (%zu chars)", strlen(q));
	return (TOOLS_NONE);
}

static enum tools_next
tool_press_keys(struct call *c, const char *call_id, json_t *args)
{
	const char *d = json_string_value(json_object_get(args, "digits"));
	const struct turn *t;
	char               text[16 + 2 * AI_DTMF_MAX];
	size_t             i, n;

	if (!dtmf_digits_ok(d)) {
		tool_metric("press_keys", "bad_args");
		logc_warnx(&c->lc, "press_keys refused: bad digits");
		(void)session_provider->send_tool_output(c->rt, call_id,
		    "{\"error\":\"Nothing was pressed: digits must be 1 to 32 "
		    "of 0-9, *, #, A-D, and w for a half-second pause.\"}");
		want_response(c);
		return (TOOLS_NONE);
	}
	if (edge_pub_keys(c, d, c->keys_seq + 1) != 0) {
		tool_metric("press_keys", "error");
		(void)session_provider->send_tool_output(c->rt, call_id,
		    "{\"error\":\"The keys could not be sent.\"}");
		want_response(c);
		return (TOOLS_NONE);
	}
	c->keys_seq++;
	snprintf(c->keys_last, sizeof(c->keys_last), "%s", d);
	tool_metric("press_keys", "ok");
	logc_info(&c->lc, "press_keys: %zu keys sent", strlen(d));
	(void)session_provider->send_tool_output(
	    c->rt, call_id, "{\"ok\":true}");
	n = (size_t)snprintf(text, sizeof(text), "[keys pressed]");
	for (i = 0; d[i] != '\0' && n + 2 < sizeof(text); i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, " %c", d[i]);
	if ((t = transcript_add(&c->tr, RT_ASSISTANT, "", text, wire_now_ms()))
	    != NULL) {
		metric_inc(st.turns);
		(void)edge_pub_turn(c, t);
		record_turn(c, t);
	}
	return (TOOLS_NONE);
}

enum tools_next
tools_keys_result(struct call *c, const Bus__DigitsResult *r)
{
	char *note;

	tool_metric("press_keys", "failed");
	logc_warnx(&c->lc,
	    "press_keys: media-edge could not send the keys: "
	    "%.120s",
	    r->error);
	if (c->rt == NULL || c->state != CALL_LIVE)
		return (TOOLS_NONE);
	note = xasprintf("The keys you pressed (%s) did not reach the line: "
	                 "%s. Nothing was pressed; try again or go on "
	                 "without them.",
	    r->seq == c->keys_seq && c->keys_last[0] != '\0' ? c->keys_last
	                                                     : "earlier",
	    r->error != NULL && r->error[0] != '\0' ? r->error
	                                            : "no reason given");
	(void)session_provider->add_system_text(c->rt, note);
	free(note);
	want_response(c);
	return (TOOLS_NONE);
}

/* end_call: say goodbye, then hang up (args.reason "voicemail": the
 * outcome is voicemail). */
static enum tools_next
tool_end_call(struct call *c, const char *call_id, json_t *args)
{
	const char *why = json_string_value(json_object_get(args, "reason"));

	tool_metric("end_call", "ok");
	(void)session_provider->send_tool_output(
	    c->rt, call_id, "{\"ok\":true}");
	if (why != NULL && strcmp(why, "voicemail") == 0) {
		c->voicemail = true;
		free(c->outcome);
		c->outcome = xstrdup("voicemail");
	}
	logc_info(&c->lc, "end_call (%.60s): hanging up after the goodbye",
	    why != NULL ? why : "done");
	return (hangup_after_speech(c, why != NULL ? why : "end_call"));
}

/* The tools the model may call (rt_openai.c declares them). */
static const struct tool {
	const char *name;
	enum tools_next (*run)(struct call *, const char *call_id, json_t *);
} tools[] = {
	{ "consult_reasoner", tool_consult },
	{ "end_call", tool_end_call },
	{ "press_keys", tool_press_keys },
	{ NULL, NULL },
};

enum tools_next
tools_call(
    struct call *c, const char *call_id, const char *name, const char *args)
{
	json_t         *a = json_loads(args, 0, NULL);
	enum tools_next next = TOOLS_NONE;
	int             i;

	for (i = 0; tools[i].name != NULL; i++)
		if (strcmp(name, tools[i].name) == 0)
			break;
	if (tools[i].name != NULL)
		next = tools[i].run(c, call_id, a);
	else {
		tool_metric("unknown", "error");
		logc_warnx(&c->lc, "model called unknown tool %.60s", name);
		(void)session_provider->send_tool_output(
		    c->rt, call_id, "{\"error\":\"no such tool\"}");
		want_response(c);
	}
	json_decref(a);
	return (next);
}

enum tools_next
tools_result(struct call *c, struct cmd *cmd)
{
	const char *result = cmd->ptr;

	cmd->ptr = NULL;
	if (c->tools_running > 0)
		c->tools_running--;
	tool_metric("consult_reasoner", result);
	usage_reasoner(&c->usage, cmd->tokens_in, cmd->tokens_out);
	if (c->rt == NULL || c->state != CALL_LIVE || cmd->text == NULL
	    || cmd->text2 == NULL)
		return (TOOLS_NONE);
	if (cmd->gen != c->rt_gen) {
		/* asked by a model session that was lost since: the new one
		 * does not know the call item, so it gets the answer as a
		 * note */
		char *note = xasprintf("Before the line dropped you asked a "
		                       "colleague; the answer (JSON): %s",
		    cmd->text);

		(void)session_provider->add_system_text(c->rt, note);
		free(note);
		want_response(c);
		return (TOOLS_NONE);
	}
	/* The call item exists, so the output is valid even if the caller
	 * spoke meanwhile; the answer is then spoken at the next turn. */
	(void)session_provider->send_tool_output(c->rt, cmd->text2, cmd->text);
	want_response(c);
	return (TOOLS_NONE);
}
