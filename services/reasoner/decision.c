/*
 * decision.c - ReasonRequest -> ReasonDecision.
 *
 * The voice model asks for help with a hard moment while the caller
 * waits, so the answer must be short and sayable: the system prompt asks
 * for one or two spoken sentences, and decision_clean() removes whatever
 * markdown slips through, joins lines and bounds the length.  An empty
 * answer, a refusal or a reply cut off by max_tokens is invalid output
 * and is retried like a failure.  The deadline is the request's
 * deadline_ms, capped by REASONER_DECISION_TIMEOUT_MS.  Worker threads.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reasoner.h"
#include "xmalloc.h"

static const char decision_system[]
    = "You advise an AI voice agent that is in the middle of a live phone "
      "call. The agent will read your answer aloud to the caller, word for "
      "word. Answer in one or two short, natural spoken sentences. Plain "
      "words only: no markdown, no lists, no headings, no emojis, no stage "
      "directions, no quotation marks around the answer. If you are not "
      "sure, give the safest short thing to say.";

static bool
list_marker(const char *p, size_t *skip)
{
	size_t n = 0;

	if ((*p == '-' || *p == '*' || *p == '+' || *p == '>' || *p == '#')
	    && (p[1] == ' ' || p[1] == '#')) {
		*skip = 1;
		return (true);
	}
	while (isdigit((unsigned char)p[n]))
		n++;
	if (n > 0 && n < 3 && (p[n] == '.' || p[n] == ')')
	    && p[n + 1] == ' ') {
		*skip = n + 1;
		return (true);
	}
	return (false);
}

/* Cut at the last sentence end, else word end, at or before max. */
static size_t
bound(char *t, size_t len, size_t max)
{
	size_t i, cut = 0;

	if (len <= max)
		return (len);
	for (i = max; i > max / 3; i--)
		if ((t[i - 1] == '.' || t[i - 1] == '!' || t[i - 1] == '?')
		    && t[i] == ' ') {
			cut = i;
			break;
		}
	for (i = max; cut == 0 && i > 0; i--)
		if (t[i] == ' ')
			cut = i;
	if (cut == 0) {
		cut = max;
		while (cut > 0 && ((unsigned char)t[cut] & 0xc0) == 0x80)
			cut--; /* never split a UTF-8 sequence */
	}
	t[cut] = '\0';
	return (cut);
}

size_t
decision_clean(char *t, size_t max)
{
	size_t r = 0, w = 0, skip;
	bool   line_start = true, space = false;

	while (t[r] != '\0') {
		char c = t[r];

		if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
			if (c == '\n' || c == '\r')
				line_start = true;
			space = w > 0;
			r++;
			continue;
		}
		if (line_start && list_marker(t + r, &skip)) {
			r += skip;
			continue;
		}
		line_start = false;
		if (c == '*' || c == '`' || c == '#' || c == '_' || c == '~') {
			r++;
			continue;
		}
		if (space) {
			t[w++] = ' ';
			space = false;
		}
		t[w++] = t[r++];
	}
	t[w] = '\0';
	if (w >= 2 && t[0] == '"' && t[w - 1] == '"') {
		memmove(t, t + 1, w - 2);
		w -= 2;
		t[w] = '\0';
	}
	return (bound(t, w, max));
}

void
decision_free(struct decision *d)
{
	free(d->answer);
	free(d->model);
	d->answer = d->model = NULL;
}

int
decision_check(json_t *msg, void *out, char *why, size_t whylen)
{
	struct decision *d = out;
	const char      *stop = prompt_stop_reason(msg);
	char            *text;

	if (strcmp(stop, "max_tokens") == 0) {
		snprintf(why, whylen, "answer truncated (max_tokens)");
		return (-1);
	}
	if (strcmp(stop, "refusal") == 0) {
		snprintf(why, whylen, "the model refused");
		return (-1);
	}
	text = prompt_text_of(msg);
	if (decision_clean(text, DECISION_ANSWER_MAX) == 0) {
		snprintf(why, whylen, "empty answer");
		free(text);
		return (-1);
	}
	d->answer = text;
	d->model = xstrdup(prompt_model(msg));
	prompt_usage(msg, &d->input_tokens, &d->output_tokens);
	return (0);
}

char *
decision_body(const struct reasoner_cfg *c, const Bus__ReasonRequest *q,
    char *why, size_t whylen)
{
	json_t *extra;
	char   *turns, *text, *body;

	if (q->question[0] == '\0') {
		snprintf(why, whylen, "question is empty");
		return (NULL);
	}
	if ((turns = prompt_transcript(
	         q->recent_turns, q->n_recent_turns, why, whylen))
	    == NULL)
		return (NULL);
	text = xasprintf("Call situation:\n%s\n\nRecent turns:\n%s\n"
	                 "Question from the voice agent:\n%s\n",
	    q->situation[0] != '\0' ? q->situation : "(none given)",
	    turns[0] != '\0' ? turns : "(none)\n", q->question);
	/* A decision is wanted within seconds: keep thinking short. */
	extra = *c->decision_effort != '\0' ? json_pack(
	            "{s:{s:s}}", "output_config", "effort", c->decision_effort)
	                                    : NULL;
	body = prompt_body(c, c->decision_max_tokens, decision_system, text,
	    extra, why, whylen);
	json_decref(extra);
	free(text);
	free(turns);
	return (body);
}

static void
reply_cleanup(void *arg)
{
	decision_free(arg);
	free(arg);
}

int
decision_handle(
    struct worker *w, const Bus__ReasonRequest *q, struct reply *rep)
{
	struct reasoner_cfg *c = &w->r->cfg;
	struct decision     *d;
	char                 why[200], *body;
	long                 ms;
	int                  rv;

	if ((body = decision_body(c, q, why, sizeof(why))) == NULL) {
		log_warnx("bad ReasonRequest: %s", why);
		reply_error(rep, BUS__ERROR__CODE__BAD_REQUEST, "%s", why);
		return (0);
	}
	ms = c->decision_timeout_ms;
	if (q->deadline_ms > 0 && q->deadline_ms < ms)
		ms = q->deadline_ms;
	d = xcalloc(1, sizeof(*d));
	rv = exch_run(w, "decision", body, reasoner_now_ms() + ms,
	    decision_check, d, rep);
	free(body);
	if (rv == -1) {
		free(d);
		return (0); /* exch_run put the error in rep */
	}
	rep->u.reason_decision
	    = (Bus__ReasonDecision)BUS__REASON_DECISION__INIT;
	rep->u.reason_decision.answer = d->answer;
	rep->u.reason_decision.model = d->model;
	stats_tokens("decision", d->input_tokens, d->output_tokens);
	rep->u.reason_decision.input_tokens = d->input_tokens;
	rep->u.reason_decision.output_tokens = d->output_tokens;
	reply_body(
	    rep, BUS__ENVELOPE__BODY_REASON_DECISION, &rep->u.reason_decision);
	rep->cleanup = reply_cleanup;
	rep->cleanup_arg = d;
	return (0);
}
