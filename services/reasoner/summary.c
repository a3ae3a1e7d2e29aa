/*
 * summary.c - SummarizeRequest -> Summary through structured outputs.
 *
 * The request carries output_config.format {"type":"json_schema"} with
 * the summary's schema, so the answer is one text block holding a JSON
 * object (docs/providers.md: current models refuse a forced tool_choice,
 * which earlier versions used).  That object is validated
 * strictly before anything is returned: required fields present, enums
 * from the lists below, every field of the right type, and a reply cut
 * off by max_tokens refused outright.  Invalid output is retried by
 * exchange.c; garbage is never returned.
 *
 * Summary.json is a canonical object rebuilt from the validated fields
 * (all six keys, appointment and quote as an object or null); unknown
 * keys the model may add are dropped.  Summary.appointment and .quote
 * carry the same objects as compact JSON, or "" when null.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reasoner.h"
#include "xmalloc.h"

/* Longest text we accept in any one field of the tool input. */
#define SUMMARY_FIELD_MAX 8000

static const char *const outcomes[]
    = { "goal_achieved", "callback_requested", "not_interested", "voicemail",
	      "no_answer", "wrong_number", "failed", "other", NULL };
static const char *const levels[] = { "high", "medium", "low", NULL };
/* The keys kept in appointment and quote objects, with their types. */
static const char *const appt_keys[] = { "date", "time", "notes", NULL };
static const char *const quote_keys[] = { "currency", "details", NULL };

static const char summary_system[]
    = "You summarise phone calls that an AI voice agent made or answered "
      "for a business. Answer with the JSON object described by the "
      "output format, nothing else. Base every field only on the "
      "transcript and the facts given. Use null for appointment and quote "
      "unless the caller agreed to one. If nobody spoke, choose no_answer "
      "or voicemail as the facts show. Keep the summary to two or three "
      "sentences.";

static json_t *
enum_schema(const char *const *values, const char *desc)
{
	json_t *en = json_array();
	size_t  i;

	for (i = 0; values[i] != NULL; i++)
		json_array_append_new(en, json_string(values[i]));
	return (json_pack("{s:s, s:o, s:s}", "type", "string", "enum", en,
	    "description", desc));
}

/* Structured outputs want every object closed (additionalProperties). */
json_t *
summary_schema(void)
{
	json_t *props, *schema;

	props = json_pack(
	    "{s:o, s:o, s:{s:s, s:s}, s:{s:[s,s], s:s, s:{"
	    "s:{s:s}, s:{s:s}, s:{s:s}}, s:b}, s:{s:[s,s], s:s, s:{s:{s:s}, "
	    "s:{s:s}, s:{s:s}}, s:b}, s:{s:s, s:s}}",
	    "outcome", enum_schema(outcomes, "How the call ended"),
	    "interest_level",
	    enum_schema(levels, "The caller's interest in the offer"),
	    "next_action", "type", "string", "description",
	    "What the business should do next, one sentence", "appointment",
	    "type", "object", "null", "description",
	    "The appointment agreed on the call, or null", "properties",
	    "date", "type", "string", "time", "type", "string", "notes",
	    "type", "string", "additionalProperties", 0, "quote", "type",
	    "object", "null", "description",
	    "The price quoted or asked for on the call, or null", "properties",
	    "amount", "type", "number", "currency", "type", "string",
	    "details", "type", "string", "additionalProperties", 0, "summary",
	    "type", "string", "description",
	    "Two or three sentences on what happened");
	if (props == NULL)
		fatalx("summary schema does not build");
	schema = json_pack("{s:s, s:o, s:[s,s,s,s], s:b}", "type", "object",
	    "properties", props, "required", "outcome", "interest_level",
	    "next_action", "summary", "additionalProperties", 0);
	if (schema == NULL)
		fatalx("summary schema does not build");
	return (schema);
}

static bool
in_list(const char *s, const char *const *list)
{
	size_t i;

	for (i = 0; list[i] != NULL; i++)
		if (strcmp(s, list[i]) == 0)
			return (true);
	return (false);
}

/* A string field: required or not, optionally from an enum list. */
static const char *
string_field(json_t *obj, const char *key, bool required,
    const char *const *list, char *why, size_t whylen)
{
	json_t     *v = json_object_get(obj, key);
	const char *s;

	if (v == NULL || json_is_null(v)) {
		if (required)
			snprintf(why, whylen, "%s: missing", key);
		return (required ? NULL : "");
	}
	if ((s = json_string_value(v)) == NULL) {
		snprintf(why, whylen, "%s: not a string", key);
		return (NULL);
	}
	if (strlen(s) > SUMMARY_FIELD_MAX) {
		snprintf(why, whylen, "%s: longer than %d bytes", key,
		    SUMMARY_FIELD_MAX);
		return (NULL);
	}
	if (list != NULL && !in_list(s, list)) {
		snprintf(why, whylen, "%s: \"%.40s\" is not an allowed value",
		    key, s);
		return (NULL);
	}
	return (s);
}

/*
 * appointment / quote: null, absent or an object whose known keys are
 * strings (quote.amount a number >= 0).  *outp is a new canonical object
 * or json_null() when nothing is in it.
 */
static int
detail_field(json_t *in, const char *key, const char *const *keys,
    json_t **outp, char *why, size_t whylen)
{
	json_t     *v = json_object_get(in, key), *out, *amt;
	const char *s;
	size_t      i;

	if (v == NULL || json_is_null(v)) {
		*outp = json_null();
		return (0);
	}
	if (!json_is_object(v)) {
		snprintf(why, whylen, "%s: neither an object nor null", key);
		return (-1);
	}
	out = json_object();
	if (strcmp(key, "quote") == 0
	    && (amt = json_object_get(v, "amount")) != NULL
	    && !json_is_null(amt)) {
		if (!json_is_number(amt) || json_number_value(amt) < 0) {
			snprintf(why, whylen,
			    "quote.amount: not a number "
			    ">= 0");
			json_decref(out);
			return (-1);
		}
		json_object_set(out, "amount", amt);
	}
	for (i = 0; keys[i] != NULL; i++) {
		if ((s = string_field(v, keys[i], false, NULL, why, whylen))
		    == NULL) {
			json_decref(out);
			return (-1);
		}
		if (*s != '\0')
			json_object_set_new(out, keys[i], json_string(s));
	}
	if (json_object_size(out) == 0) {
		json_decref(out);
		out = json_null();
	}
	*outp = out;
	return (0);
}

static char *
dump_or_empty(json_t *v)
{
	char *s;

	if (json_is_null(v))
		return (xstrdup(""));
	if ((s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		fatalx("json_dumps: out of memory");
	return (s);
}

int
summary_validate(json_t *in, struct summary *s, char *why, size_t whylen)
{
	const char *outcome, *level, *next, *text;
	json_t     *appt = NULL, *quote = NULL, *all;
	char       *json;

	if (!json_is_object(in)) {
		snprintf(why, whylen, "answer is not a JSON object");
		return (-1);
	}
	if ((outcome
	        = string_field(in, "outcome", true, outcomes, why, whylen))
	        == NULL
	    || (level = string_field(
	            in, "interest_level", true, levels, why, whylen))
	        == NULL
	    || (next
	           = string_field(in, "next_action", true, NULL, why, whylen))
	        == NULL
	    || (text = string_field(in, "summary", true, NULL, why, whylen))
	        == NULL)
		return (-1);
	if (*text == '\0') {
		snprintf(why, whylen, "summary: empty");
		return (-1);
	}
	if (detail_field(in, "appointment", appt_keys, &appt, why, whylen)
	    == -1)
		return (-1);
	if (detail_field(in, "quote", quote_keys, &quote, why, whylen) == -1) {
		json_decref(appt);
		return (-1);
	}
	all = json_pack("{s:s, s:s, s:s, s:O, s:O, s:s}", "outcome", outcome,
	    "interest_level", level, "next_action", next, "appointment", appt,
	    "quote", quote, "summary", text);
	if (all == NULL
	    || (json = json_dumps(all, JSON_COMPACT | JSON_PRESERVE_ORDER))
	        == NULL)
		fatalx("summary: cannot serialise a validated object");
	json_decref(all);
	s->outcome = xstrdup(outcome);
	s->interest_level = xstrdup(level);
	s->next_action = xstrdup(next);
	s->summary = xstrdup(text);
	s->appointment = dump_or_empty(appt);
	s->quote = dump_or_empty(quote);
	s->json = json;
	json_decref(appt);
	json_decref(quote);
	return (0);
}

void
summary_free(struct summary *s)
{
	free(s->outcome);
	free(s->interest_level);
	free(s->next_action);
	free(s->appointment);
	free(s->quote);
	free(s->summary);
	free(s->json);
	free(s->model);
	memset(s, 0, sizeof(*s));
}

int
summary_check(json_t *msg, void *out, char *why, size_t whylen)
{
	struct summary s = { 0 };
	json_t        *blk, *input = NULL;
	json_error_t   jerr;
	const char    *type, *text = NULL;
	size_t         i;
	int            rv;

	if (strcmp(prompt_stop_reason(msg), "max_tokens") == 0) {
		snprintf(why, whylen, "truncated (max_tokens)");
		return (-1);
	}
	if (strcmp(prompt_stop_reason(msg), "refusal") == 0) {
		snprintf(
		    why, whylen, "the model refused (stop_reason refusal)");
		return (-1);
	}
	/* Thinking blocks may come first; the answer is the text block. */
	json_array_foreach(json_object_get(msg, "content"), i, blk)
	{
		type = json_string_value(json_object_get(blk, "type"));
		if (type != NULL && strcmp(type, "text") == 0) {
			text = json_string_value(json_object_get(blk, "text"));
			break;
		}
	}
	if (text == NULL) {
		snprintf(why, whylen, "no text block");
		return (-1);
	}
	if ((input = json_loads(text, 0, &jerr)) == NULL) {
		snprintf(why, whylen, "text block is not JSON: %s", jerr.text);
		return (-1);
	}
	rv = summary_validate(input, &s, why, whylen);
	json_decref(input);
	if (rv == -1)
		return (-1);
	s.model = xstrdup(prompt_model(msg));
	prompt_usage(msg, &s.input_tokens, &s.output_tokens);
	*(struct summary *)out = s;
	return (0);
}

char *
summary_body(const struct reasoner_cfg *c, const Bus__SummarizeRequest *q,
    char *why, size_t whylen)
{
	json_t *extra;
	char   *turns, *text, *body;

	if ((turns = prompt_transcript(q->turns, q->n_turns, why, whylen))
	    == NULL)
		return (NULL);
	text = xasprintf(
	    "Call objective:\n%s\n\nAnswering machine "
	    "detection: %s\nCall duration: %u seconds\n\nTranscript:\n%s",
	    q->objective[0] != '\0' ? q->objective : "(none given)",
	    q->answered_by[0] != '\0' ? q->answered_by : "(none)",
	    q->duration_s, turns[0] != '\0' ? turns : "(nobody spoke)\n");
	extra = json_pack("{s:{s:{s:s, s:o}}}", "output_config", "format",
	    "type", "json_schema", "schema", summary_schema());
	body = prompt_body(c, c->summary_max_tokens, summary_system, text,
	    extra, why, whylen);
	json_decref(extra);
	free(text);
	free(turns);
	return (body);
}

static void
reply_cleanup(void *arg)
{
	summary_free(arg);
	free(arg);
}

int
summary_handle(
    struct worker *w, const Bus__SummarizeRequest *q, struct reply *rep)
{
	struct reasoner_cfg *c = &w->r->cfg;
	Bus__Summary        *out = &rep->u.summary;
	struct summary      *s;
	char                 why[200], *body;
	int                  rv;

	if ((body = summary_body(c, q, why, sizeof(why))) == NULL) {
		log_warnx("bad SummarizeRequest: %s", why);
		reply_error(rep, BUS__ERROR__CODE__BAD_REQUEST, "%s", why);
		return (0);
	}
	s = xcalloc(1, sizeof(*s));
	rv = exch_run(w, "summary", body,
	    reasoner_now_ms() + c->summary_timeout_ms, summary_check, s, rep);
	free(body);
	if (rv == -1) {
		free(s);
		return (0); /* exch_run put the error in rep */
	}
	log_info("summary: outcome=%s interest=%s json_bytes=%zu", s->outcome,
	    s->interest_level, strlen(s->json));
	*out = (Bus__Summary)BUS__SUMMARY__INIT;
	out->outcome = s->outcome;
	out->interest_level = s->interest_level;
	out->next_action = s->next_action;
	out->appointment = s->appointment;
	out->quote = s->quote;
	out->summary = s->summary;
	out->json = s->json;
	out->model = s->model;
	stats_tokens("summary", s->input_tokens, s->output_tokens);
	out->input_tokens = s->input_tokens;
	out->output_tokens = s->output_tokens;
	reply_body(rep, BUS__ENVELOPE__BODY_SUMMARY, out);
	rep->cleanup = reply_cleanup;
	rep->cleanup_arg = s;
	return (0);
}
