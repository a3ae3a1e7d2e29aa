/*
 * prompt.c - Messages API request bodies and response fields shared by
 * decisions and summaries (protocols.md 7.1, 7.2).
 *
 * The whole conversation goes into one user message ("AI: ..." /
 * "User: ..." lines) rather than alternating turns: the call's turns
 * are not ours to continue, and one message can never break the API's
 * user/assistant alternation rule whatever the transcript holds.
 *
 * Input text comes from protobuf strings, which nothing has checked for
 * UTF-8; jansson refuses invalid UTF-8, which we turn into a clear
 * BAD_REQUEST instead of a confusing upstream 400.  Pure; any thread.
 */
#include <stdlib.h>
#include <string.h>

#include "reasoner.h"
#include "xmalloc.h"

static const char *
speaker(const char *role)
{
	if (strcmp(role, "assistant") == 0)
		return ("AI");
	if (strcmp(role, "user") == 0)
		return ("User");
	return (NULL);
}

char *
prompt_transcript(Bus__Turn **turns, size_t n, char *why, size_t whylen)
{
	const char *who;
	char       *text, *line;
	size_t      i, len = 0, cap = 256, add;

	text = xmalloc(cap);
	text[0] = '\0';
	for (i = 0; i < n; i++) {
		if (turns[i] == NULL
		    || (who = speaker(turns[i]->role)) == NULL) {
			snprintf(why, whylen,
			    "turn %zu: role must be "
			    "\"assistant\" or \"user\"",
			    i);
			free(text);
			return (NULL);
		}
		if (turns[i]->text[0] == '\0')
			continue;
		line = xasprintf("%s: %s\n", who, turns[i]->text);
		add = strlen(line);
		if (len + add + 1 > cap) {
			cap = (len + add + 1) * 2;
			text = xrealloc(text, cap);
		}
		memcpy(text + len, line, add + 1);
		len += add;
		free(line);
	}
	return (text);
}

char *
prompt_body(const struct reasoner_cfg *c, long max_tokens, const char *system,
    const char *text, json_t *extra, char *why, size_t whylen)
{
	json_t *req, *content;
	char   *body;

	if ((content = json_string(text)) == NULL) {
		snprintf(why, whylen, "text is not valid UTF-8");
		return (NULL);
	}
	/*
	 * No temperature, top_p or top_k: every current model refuses a
	 * non-default value with a 400 (docs/providers.md).
	 */
	req = json_pack("{s:s, s:I, s:s, s:[{s:s, s:o}]}", "model", c->model,
	    "max_tokens", (json_int_t)max_tokens, "system", system, "messages",
	    "role", "user", "content", content);
	if (req == NULL) {
		snprintf(why, whylen, "cannot build the request");
		return (NULL);
	}
	if (extra != NULL)
		json_object_update(req, extra);
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (body == NULL) {
		snprintf(why, whylen, "cannot serialise the request");
		return (NULL);
	}
	if ((long)strlen(body) > c->max_input_bytes) {
		snprintf(why, whylen,
		    "request of %zu bytes is over "
		    "REASONER_MAX_INPUT_BYTES (%ld)",
		    strlen(body), c->max_input_bytes);
		free(body);
		return (NULL);
	}
	return (body);
}

/* The text of block blk if it is a text block, else NULL. */
static const char *
block_text(json_t *blk)
{
	const char *type = json_string_value(json_object_get(blk, "type"));

	if (type == NULL || strcmp(type, "text") != 0)
		return (NULL); /* other block types are ignored */
	return (json_string_value(json_object_get(blk, "text")));
}

/* Two passes, one allocation: joining block by block re-copied the whole
 * text each time, quadratic in the number of blocks. */
char *
prompt_text_of(json_t *msg)
{
	json_t     *content = json_object_get(msg, "content"), *blk;
	const char *t;
	char       *out;
	size_t      i, len = 0, o = 0, n;

	json_array_foreach(content, i, blk)
	{
		if ((t = block_text(blk)) != NULL)
			len += strlen(t) + 1;
	}
	out = xmalloc(len + 1);
	json_array_foreach(content, i, blk)
	{
		if ((t = block_text(blk)) == NULL)
			continue;
		if (o > 0)
			out[o++] = ' '; /* only between non-empty text */
		n = strlen(t);
		memcpy(out + o, t, n);
		o += n;
	}
	out[o] = '\0';
	return (out);
}

const char *
prompt_stop_reason(json_t *msg)
{
	const char *s = json_string_value(json_object_get(msg, "stop_reason"));

	return (s != NULL ? s : "");
}

const char *
prompt_model(json_t *msg)
{
	const char *s = json_string_value(json_object_get(msg, "model"));

	return (s != NULL ? s : "");
}

static uint32_t
tokens(json_t *usage, const char *k)
{
	json_int_t n = json_integer_value(json_object_get(usage, k));

	return (n > 0 && n < UINT32_MAX ? (uint32_t)n : 0);
}

void
prompt_usage(json_t *msg, uint32_t *input, uint32_t *output)
{
	json_t *u = json_object_get(msg, "usage");

	/* cached and cache-writing input is input too */
	*input = tokens(u, "input_tokens")
	    + tokens(u, "cache_read_input_tokens")
	    + tokens(u, "cache_creation_input_tokens");
	*output = tokens(u, "output_tokens");
}
