/*
 * oai_json.c - the JSON of the OpenAI Realtime API (GA), both ways.
 *
 * Client events are built with jansson, except input_audio_buffer.append,
 * which is sent fifty times a second per call and is printed straight
 * into the caller's write buffer (base64 by OpenSSL).
 *
 * Server events are parsed with jansson, except the audio deltas, which
 * are most of the traffic.  oai_scan() walks one top-level object without
 * allocating and returns where the plain string members type, delta,
 * item_id and response_id are; a member with escapes, or text it cannot
 * walk, makes it return -1 and the caller parses the event with jansson
 * (which reports precisely what is wrong).  Nested values are skipped,
 * not validated.
 *
 * Pure functions; any thread (used on the lws service thread).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "codec.h"
#include "oai_json.h"
#include "xmalloc.h"

#define APPEND_HEAD "{\"type\":\"input_audio_buffer.append\",\"audio\":\""
#define APPEND_TAIL "\"}"

static const char *
skip_ws(const char *p, const char *end)
{
	while (
	    p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return (p);
}

/* p at the opening quote; returns past the closing one, or NULL. */
static const char *
skip_string(const char *p, const char *end, bool *escaped)
{
	for (p++; p < end; p++) {
		if (*p == '"')
			return (p + 1);
		if (*p == '\\') {
			*escaped = true;
			if (++p == end)
				return (NULL);
		}
	}
	return (NULL);
}

/* Skip one value that is not a string (nested values are walked, not
 * validated); returns past it, or NULL on a structural error. */
static const char *
skip_value(const char *p, const char *end)
{
	bool esc;
	int  depth = 0;

	while (p < end) {
		switch (*p) {
		case '"':
			if ((p = skip_string(p, end, &esc)) == NULL)
				return (NULL);
			continue;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (depth == 0)
				return (p); /* a primitive ended */
			if (--depth == 0)
				return (p + 1);
			break;
		case ',':
			if (depth == 0)
				return (p);
			break;
		default:
			break;
		}
		p++;
	}
	return (depth == 0 ? p : NULL);
}

static struct oai_span *
member(struct oai_fields *f, const char *k, size_t n)
{
	if (n == 4 && memcmp(k, "type", 4) == 0)
		return (&f->type);
	if (n == 5 && memcmp(k, "delta", 5) == 0)
		return (&f->delta);
	if (n == 7 && memcmp(k, "item_id", 7) == 0)
		return (&f->item_id);
	if (n == 11 && memcmp(k, "response_id", 11) == 0)
		return (&f->response_id);
	return (NULL);
}

int
oai_scan(const char *buf, size_t len, struct oai_fields *f)
{
	const char      *p = buf, *end = buf + len, *k, *v;
	struct oai_span *sp;
	bool             esc, first;

	memset(f, 0, sizeof(*f));
	p = skip_ws(p, end);
	if (p == end || *p++ != '{')
		return (-1);
	for (first = true;; first = false) {
		p = skip_ws(p, end);
		if (first && p < end && *p == '}')
			break; /* {} */
		if (p == end || *p != '"')
			return (-1);
		esc = false;
		k = p + 1;
		if ((p = skip_string(p, end, &esc)) == NULL || esc)
			return (-1);
		sp = member(f, k, (size_t)(p - 1 - k));
		p = skip_ws(p, end);
		if (p == end || *p++ != ':')
			return (-1);
		p = skip_ws(p, end);
		if (p < end && *p == '"') {
			v = p + 1;
			if ((p = skip_string(p, end, &esc)) == NULL)
				return (-1);
			if (sp != NULL) {
				if (esc)
					return (-1);
				sp->p = v;
				sp->n = (size_t)(p - 1 - v);
			}
		} else if (sp != NULL)
			return (-1); /* not a string: let jansson judge */
		else if ((p = skip_value(p, end)) == NULL)
			return (-1);
		p = skip_ws(p, end);
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p < end && *p == '}')
			break;
		return (-1);
	}
	p = skip_ws(p + 1, end);
	return (p == end ? 0 : -1);
}

bool
oai_span_is(const struct oai_span *s, const char *lit)
{
	size_t n = strlen(lit);

	return (s->p != NULL && s->n == n && memcmp(s->p, lit, n) == 0);
}

size_t
oai_append(char *out, size_t outlen, const uint8_t *audio, size_t n)
{
	size_t hl = sizeof(APPEND_HEAD) - 1, tl = sizeof(APPEND_TAIL) - 1;
	int    bl;

	if (outlen < hl + CODEC_B64_LEN(n) + tl)
		return (0);
	memcpy(out, APPEND_HEAD, hl);
	if ((bl = codec_b64_encode(audio, n, out + hl, outlen - hl)) < 0)
		return (0);
	memcpy(out + hl + (size_t)bl, APPEND_TAIL, tl);
	return (hl + (size_t)bl + tl);
}

static char *
dump(json_t *j)
{
	char *s;

	if (j == NULL)
		return (NULL);
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return (s);
}

static json_t *
press_keys_tool(void)
{
	return (json_pack("{s:s, s:s, s:s, s:{s:s, s:{s:{s:s, s:s}}, s:[s]}}",
	    "type", "function", "name", "press_keys", "description",
	    "Press keys on the phone line, e.g. to answer an automated menu "
	    "(\"press 1 for sales\") or enter a number. The keys are sent "
	    "after what you are saying now; the call does not end.",
	    "parameters", "type", "object", "properties", "digits", "type",
	    "string", "description",
	    "1 to 32 keys of 0-9, *, #, A-D, in order; w waits half a "
	    "second. Example: \"1w123#\".",
	    "required", "digits"));
}

static json_t *
tools(void)
{
	json_t *t = json_pack(
	    "[{s:s, s:s, s:s, s:{s:s, s:{s:{s:s, s:s}}, "
	    "s:[s]}}, {s:s, s:s, s:s, s:{s:s, s:{s:{s:s, s:s}}, s:[]}}]",
	    "type", "function", "name", "consult_reasoner", "description",
	    "Ask a senior colleague for help with a hard question, a price, "
	    "availability or a decision. First tell the caller briefly that "
	    "you are checking, then call this.",
	    "parameters", "type", "object", "properties", "question", "type",
	    "string", "description",
	    "What you need to know, with the "
	    "relevant details from the call.",
	    "required", "question", "type", "function", "name", "end_call",
	    "description",
	    "End the call. Say a short goodbye first; call this right after "
	    "it.",
	    "parameters", "type", "object", "properties", "reason", "type",
	    "string", "description",
	    "Why the call ends, e.g. done, "
	    "not_interested, wrong_number, voicemail.",
	    "required");

	if (t != NULL)
		json_array_append_new(t, press_keys_tool());
	return (t);
}

char *
oai_session_update(const struct rt_session *s)
{
	json_t *td, *in, *out, *sess;

	/* Both VAD flags explicit: their defaults are not documented. */
	td = json_pack("{s:s, s:b, s:b}", "type", "server_vad",
	    "create_response", 1, "interrupt_response", 1);
	in = json_pack("{s:{s:s}, s:o}", "format", "type", "audio/pcmu",
	    "turn_detection", td);
	if (s->transcribe_model != NULL && s->transcribe_model[0] != '\0')
		json_object_set_new(in, "transcription",
		    s->language != NULL && s->language[0] != '\0'
		        ? json_pack("{s:s, s:s}", "model", s->transcribe_model,
		            "language", s->language)
		        : json_pack("{s:s}", "model", s->transcribe_model));
	out = json_pack("{s:{s:s}, s:s}", "format", "type", "audio/pcmu",
	    "voice", s->voice != NULL ? s->voice : "alloy");
	sess = json_pack("{s:s, s:[s], s:s, s:{s:o, s:o}}", "type", "realtime",
	    "output_modalities", "audio", "instructions",
	    s->instructions != NULL ? s->instructions : "", "audio", "input",
	    in, "output", out);
	/* gpt-realtime-2 and later reason; a model without it refuses it. */
	if (sess != NULL && s->reasoning_effort != NULL
	    && s->reasoning_effort[0] != '\0')
		json_object_set_new(sess, "reasoning",
		    json_pack("{s:s}", "effort", s->reasoning_effort));
	if (sess != NULL && s->tools) {
		json_object_set_new(sess, "tools", tools());
		json_object_set_new(sess, "tool_choice", json_string("auto"));
	}
	return (dump(json_pack(
	    "{s:s, s:o}", "type", "session.update", "session", sess)));
}

char *
oai_truncate(const char *item_id, unsigned ms)
{
	return (dump(json_pack("{s:s, s:s, s:i, s:I}", "type",
	    "conversation.item.truncate", "item_id", item_id, "content_index",
	    0, "audio_end_ms", (json_int_t)ms)));
}

char *
oai_tool_output(const char *call_id, const char *output)
{
	return (dump(json_pack("{s:s, s:{s:s, s:s, s:s}}", "type",
	    "conversation.item.create", "item", "type", "function_call_output",
	    "call_id", call_id, "output", output)));
}

char *
oai_response_create(const char *instructions)
{
	if (instructions == NULL)
		return (dump(json_pack("{s:s}", "type", "response.create")));
	return (dump(json_pack("{s:s, s:{s:s}}", "type", "response.create",
	    "response", "instructions", instructions)));
}

static char *
item_text(const char *role, const char *text)
{
	return (dump(json_pack("{s:s, s:{s:s, s:s, s:[{s:s, s:s}]}}", "type",
	    "conversation.item.create", "item", "type", "message", "role",
	    role, "content", "type", "input_text", "text", text)));
}

char *
oai_system_text(const char *text)
{
	return (item_text("system", text));
}

char *
oai_user_text(const char *text)
{
	return (item_text("user", text));
}
