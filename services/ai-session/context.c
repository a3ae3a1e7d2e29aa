/*
 * context.c - what the model is told before the call: the base
 * instructions (AI_INSTRUCTIONS) plus the call's context from persister
 * (lead, business, objective, extra context, voicemail message), the
 * per-call settings of POST /calls (persona, greeting; voice and
 * transcription language go to the session itself) and, for a resumed
 * call, the turns already stored.
 *
 * A leaf: session.c calls it and opens the model socket itself.
 * ctx_request() (lws thread) asks a job thread for the context
 * (GetCallContext to PERSISTER_URL, bounded); the answer comes back as
 * CMD_CONTEXT, which session.c hands to ctx_apply().  A resumed call whose
 * turns media-edge carried (SessionStart.turns, already in the
 * transcript) asks once, so that a persister that is down does not spend
 * the start buffer, and without an answer its instructions get the
 * carried turns.  Caller frames are
 * queued meanwhile, so nothing is lost.  When persister is not configured
 * or does not answer, the call goes on with the base instructions.
 *
 * ctx_instructions() is a pure function (unit-tested).
 */
#include <stdlib.h>
#include <string.h>

#include "ai.h"
#include "bus.h"
#include "wire.h"
#include "xmalloc.h"

#define CTX_ATTEMPTS 2
#define CTX_MAX (24 * 1024) /* instructions, bytes */
#define RESUME_TURNS 40

struct ctx_job {
	char           sid[AI_SID_MAX];
	char           trace[33];
	Bus__Direction direction;
	bool           resume;
	bool           carried;
};

/* What CMD_CONTEXT carries in cmd->ptr besides the instructions. */
struct ctx_result {
	char        *objective;
	char        *voicemail;
	char        *voice, *language; /* CallSettings; NULL: config */
	size_t       nturns;
	struct turn *turns;
};

/* Append a, b and c, unless b is NULL or empty (an absent field) or the
 * text is already at its bound. */
static void
cat(char **buf, size_t *len, const char *a, const char *b, const char *c)
{
	char *n;

	if (b == NULL || b[0] == '\0' || *len > CTX_MAX)
		return;
	n = xasprintf("%s%s%s%s", *buf, a, b, c);
	free(*buf);
	*buf = n;
	*len = strlen(n);
}

char *
ctx_instructions(const char *base, const Bus__CallContext *cc,
    Bus__Direction dir, const char *voicemail)
{
	char  *s = xstrdup(base != NULL ? base : "");
	size_t len = strlen(s), i;

	cat(&s, &len, "\n\nThis is an ",
	    dir == BUS__DIRECTION__INBOUND
	        ? "inbound call: the caller phoned us."
	        : "outbound call: we phoned this person.",
	    "");
	if (cc != NULL && cc->found) {
		cat(&s, &len, "\nYou speak for ", cc->business_name, ".");
		cat(&s, &len,
		    " About the business: ", cc->business_description, "");
		cat(&s, &len, "\nThe person's name: ", cc->lead_name, ".");
		cat(&s, &len, "\nObjective of the call: ", cc->objective, "");
		cat(&s, &len, "\nMore context (JSON): ", cc->context_json, "");
	}
	if (cc != NULL && cc->found && cc->settings != NULL) {
		cat(&s, &len, "\nYour persona and manner for this call: ",
		    cc->settings->instructions, "");
		if (cc->n_turns == 0)
			cat(&s, &len, "\nOpen the call with these words: \"",
			    cc->settings->greeting, "\"");
	}
	cat(&s, &len, "",
	    "\nWhen you need to check something (a price, "
	    "availability, a decision), tell the caller you are checking, "
	    "then call consult_reasoner.",
	    "");
	cat(&s, &len, "",
	    "\nWhen the conversation is over, say goodbye and "
	    "then call end_call.",
	    "");
	cat(&s, &len,
	    "\nIf you reach voicemail or an answering machine, "
	    "leave this message and then call end_call: \"",
	    voicemail, "\"");
	if (cc != NULL && cc->n_turns > 0) {
		cat(&s, &len, "",
		    "\n\nThe call was interrupted and now "
		    "continues; do not greet again. The conversation so far:",
		    "");
		i = cc->n_turns > RESUME_TURNS ? cc->n_turns - RESUME_TURNS
		                               : 0;
		for (; i < cc->n_turns; i++)
			cat(&s, &len,
			    strcmp(cc->turns[i]->role, "assistant") == 0
			        ? "\nAI: "
			        : "\nUser: ",
			    cc->turns[i]->text, "");
	}
	return (s);
}

char *
ctx_continue(
    const char *instructions, const struct transcript *tr, size_t from)
{
	char  *s = xstrdup(instructions != NULL ? instructions : "");
	size_t len = strlen(s), i;

	if (from >= tr->n)
		return (s);
	cat(&s, &len, "",
	    from == 0 ? "\n\nThe line dropped for a moment and the call "
	                "now continues; do not greet again. The conversation "
	                "so far:"
	              : "\nThen, before the line dropped for a moment:",
	    "");
	i = tr->n - from > RESUME_TURNS ? tr->n - RESUME_TURNS : from;
	for (; i < tr->n; i++)
		cat(&s, &len,
		    tr->turns[i].role == RT_ASSISTANT ? "\nAI: " : "\nUser: ",
		    tr->turns[i].text, "");
	return (s);
}

static struct ctx_result *
result_new(const Bus__CallContext *cc)
{
	struct ctx_result *r = xcalloc(1, sizeof(*r));
	size_t             i;

	if (cc == NULL || !cc->found)
		return (r);
	if (cc->objective != NULL && cc->objective[0] != '\0')
		r->objective = xstrdup(cc->objective);
	if (cc->voicemail_message != NULL && cc->voicemail_message[0] != '\0')
		r->voicemail = xstrdup(cc->voicemail_message);
	if (cc->settings != NULL && cc->settings->voice[0] != '\0')
		r->voice = xstrdup(cc->settings->voice);
	if (cc->settings != NULL && cc->settings->language[0] != '\0')
		r->language = xstrdup(cc->settings->language);
	r->turns = xcalloc(cc->n_turns + 1, sizeof(*r->turns));
	for (i = 0; i < cc->n_turns; i++) {
		r->turns[i].seq = cc->turns[i]->seq;
		r->turns[i].role = strcmp(cc->turns[i]->role, "assistant") == 0
		    ? RT_ASSISTANT
		    : RT_USER;
		r->turns[i].at_ms = cc->turns[i]->at_ms;
		r->turns[i].text = xstrdup(cc->turns[i]->text);
	}
	r->nturns = cc->n_turns;
	return (r);
}

static void
result_free(struct ctx_result *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nturns; i++)
		free(r->turns[i].text);
	free(r->turns);
	free(r->objective);
	free(r->voicemail);
	free(r->voice);
	free(r->language);
	free(r);
}

static void
result_free_cb(void *p)
{
	result_free(p);
}

/* One try's bound: all the tries together take at most half of the
 * start buffer (AI_START_BUFFER_MS), so that the caller audio held
 * meanwhile still fits while the model is set up after them. */
static int
ctx_wait_ms(void)
{
	long ms = cfg.start_buffer_ms / (2 * CTX_ATTEMPTS);

	if (ms > cfg.request_timeout_ms)
		ms = cfg.request_timeout_ms;
	return ((int)(ms > 100 ? ms : 100));
}

/* Job thread: ask persister, answer with CMD_CONTEXT either way. */
static void
ctx_run(void *arg)
{
	struct ctx_job         *j = arg;
	Bus__Envelope           env = BUS__ENVELOPE__INIT, *rep = NULL;
	Bus__GetCallContext     g = BUS__GET_CALL_CONTEXT__INIT;
	const Bus__CallContext *cc = NULL;
	struct wire_ids         ids;
	struct log_ctx          lc = { j->sid, j->trace };
	struct cmd             *cmd;
	nng_socket              s;
	int                     rv;

	wire_env_init(&env, &ids, j->sid, j->trace);
	env.body_case = BUS__ENVELOPE__BODY_GET_CALL_CONTEXT;
	env.get_call_context = &g;
	if (jobs_req_socket(cfg.persister_url, &s) != 0)
		logc_warnx(&lc, "call context: cannot dial persister");
	else if ((rv = bus_request(s, &env, &rep, ctx_wait_ms(),
	              j->carried ? 1 : CTX_ATTEMPTS))
	    != 0)
		logc_warnx(&lc,
		    "call context: persister did not answer (%s); "
		    "going on without it",
		    nng_strerror(rv));
	else if (rep->body_case != BUS__ENVELOPE__BODY_CALL_CONTEXT)
		logc_warnx(&lc, "call context: persister answered %s",
		    wire_type_name(rep->body_case));
	else
		cc = rep->call_context;
	if (cc != NULL && !cc->found)
		logc_info(&lc, "call context: persister knows no such call");
	cmd = cmd_new(CMD_CONTEXT, j->sid, NULL);
	cmd->text = ctx_instructions(cfg.instructions, cc,
	    cc != NULL && cc->found && cc->direction != 0 ? cc->direction
	                                                  : j->direction,
	    cc != NULL && cc->found && cc->voicemail_message != NULL
	            && cc->voicemail_message[0] != '\0'
	        ? cc->voicemail_message
	        : cfg.voicemail_message);
	cmd->ptr = result_new(cc);
	cmd->ptr_free = result_free_cb;
	loop_push_cmd(cmd);
	wire_free(rep);
	free(j);
}

bool
ctx_request(struct call *c)
{
	struct ctx_job *j;

	if (cfg.persister_url == NULL || cfg.persister_url[0] == '\0') {
		c->instructions = ctx_instructions(cfg.instructions, NULL,
		    c->direction, cfg.voicemail_message);
		return (false);
	}
	j = xcalloc(1, sizeof(*j));
	snprintf(j->sid, sizeof(j->sid), "%s", c->sid);
	snprintf(j->trace, sizeof(j->trace), "%s", c->trace);
	j->direction = c->direction;
	j->resume = c->resume;
	/* with the turns carried, one try: the start buffer is not spent
	 * waiting for a persister that is down */
	j->carried = c->carried;
	if (jobs_push("context", ctx_run, j) == -1) {
		/* the job queue is full: the call goes on without its
		 * context, as when persister does not answer */
		logc_warnx(&c->lc,
		    "call context: job queue full; going on "
		    "without it");
		free(j);
		c->instructions = ctx_instructions(cfg.instructions, NULL,
		    c->direction, cfg.voicemail_message);
		return (false);
	}
	return (true);
}

void
ctx_apply(struct call *c, struct cmd *cmd)
{
	struct ctx_result *r = cmd->ptr;
	uint32_t           next = c->tr.next_seq;
	size_t             i;

	cmd->ptr = NULL;
	c->instructions = cmd->text;
	cmd->text = NULL;
	if (r->objective != NULL)
		c->objective = xstrdup(r->objective);
	if (r->voicemail != NULL)
		c->voicemail_message = xstrdup(r->voicemail);
	c->voice = r->voice; /* taken */
	c->language = r->language;
	r->voice = r->language = NULL;
	if (c->resume && c->tr.n == 0 && r->nturns > 0) {
		transcript_init(&c->tr, r->turns[0].seq);
		for (i = 0; i < r->nturns; i++)
			(void)transcript_add(&c->tr, r->turns[i].role, "",
			    r->turns[i].text, r->turns[i].at_ms);
		if (c->tr.next_seq < next)
			c->tr.next_seq = next;
		c->ctx_turns = c->tr.n; /* in the instructions */
	} else if (c->carried && r->nturns == 0) {
		/* persister did not give them: the carried turns */
		char *s = ctx_continue(c->instructions, &c->tr, 0);

		free(c->instructions);
		c->instructions = s;
		c->ctx_turns = c->tr.n;
	} else if (c->carried)
		c->ctx_turns = c->tr.n; /* the stored ones are in already */
	result_free(r);
}
