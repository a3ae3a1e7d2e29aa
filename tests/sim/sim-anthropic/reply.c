/*
 * reply.c - answers POST /v1/messages the way the real API would.
 *
 * Order of checks, as the real service appears to apply them: the API key
 * (401), the anthropic-version header (400), then faults injected by
 * --fail/--down, then the JSON body (400), then the model and the fields
 * it refuses (catalog.c: 404 / 400), then the answer: a tool_use block
 * when tool_choice forces a tool (or "any"), a text block holding a JSON
 * object for output_config.format (structured outputs), a text block
 * otherwise.
 * Every answer is counted and recorded.  Lws service thread only.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "capture.h"
#include "sim_anthropic.h"

#define API_VERSION "2023-06-01"
#define RECORD_TEXT_MAX 200

/* A parsed request and the facts taken from it. */
struct request {
	json_t     *root; /* NULL if the body is not JSON */
	char        parse_err[320];
	const char *model;
	json_t     *messages;
	json_t     *tools;
	json_t     *tool; /* the tool to call, or NULL */
	json_t     *format; /* output_config.format schema, or NULL */
	char       *transcript; /* every message text, malloc'd */
	char       *last_user; /* malloc'd, or NULL */
};

void
sim_reply_id(struct sim_reply *r)
{
	sim.seq++;
	snprintf(r->request_id, sizeof(r->request_id), "req_sim%08lx%08lx",
	    (unsigned long)time(NULL) & 0xffffffffUL, sim.seq);
}

/* Takes the reference to obj. */
void
sim_reply_json(
    struct sim_reply *r, int status, enum sim_kind kind, json_t *obj)
{
	if (r->request_id[0] == '\0')
		sim_reply_id(r);
	r->status = status;
	r->kind = kind;
	r->retry_after = 0;
	r->body = obj == NULL ? NULL : json_dumps(obj, JSON_COMPACT);
	if (r->body == NULL)
		r->body = strdup("{}");
	json_decref(obj);
}

/* The error body of protocols.md 7.4. */
void
sim_reply_error(
    struct sim_reply *r, int status, const char *type, const char *message)
{
	json_t *obj;

	if (r->request_id[0] == '\0')
		sim_reply_id(r);
	obj = json_pack("{s:s, s:{s:s, s:s}, s:s}", "type", "error", "error",
	    "type", type, "message", message, "request_id", r->request_id);
	sim_reply_json(r, status, KIND_REJECTED, obj);
}

static void
fault_reply(struct sim_reply *r, int status)
{
	const char *type = "api_error", *msg = "Internal server error";

	switch (status) {
	case 429:
		type = "rate_limit_error";
		msg = "Number of requests has exceeded your rate limit";
		break;
	case 529:
		type = "overloaded_error";
		msg = "Overloaded";
		break;
	case 504:
		type = "timeout_error";
		msg = "Request timed out";
		break;
	case 401:
		type = "authentication_error";
		msg = "invalid x-api-key";
		break;
	case 403:
		type = "permission_error";
		msg = "Your API key does not have permission";
		break;
	case 404:
		type = "not_found_error";
		msg = "Not found";
		break;
	default:
		if (status < 500) {
			type = "invalid_request_error";
			msg = "Injected client error";
		}
		break;
	}
	sim_reply_error(r, status, type, msg);
	r->kind = KIND_INJECTED;
	if (status == 429)
		r->retry_after = sim.retry_after;
}

/* Appends the text of one content value (string or blocks) to *buf. */
static void
text_append(char **buf, json_t *content)
{
	json_t     *blk;
	const char *s;
	size_t      i, old, add;
	char       *nb;

	if (json_is_array(content)) {
		for (i = 0; i < json_array_size(content); i++) {
			blk = json_array_get(content, i);
			if (json_is_object(blk)) {
				text_append(buf, json_object_get(blk, "text"));
				text_append(
				    buf, json_object_get(blk, "content"));
			}
		}
		return;
	}
	if ((s = json_string_value(content)) == NULL)
		return;
	old = *buf == NULL ? 0 : strlen(*buf);
	add = strlen(s);
	if ((nb = realloc(*buf, old + add + 2)) == NULL)
		return;
	if (old > 0)
		nb[old++] = '\n';
	memcpy(nb + old, s, add + 1);
	*buf = nb;
}

/* tools[] and tool_choice; sets q->tool when a tool is forced. */
static int
validate_tools(struct request *q, char *err, size_t errlen)
{
	json_t     *v, *tc;
	const char *name;
	size_t      i;

	q->tools = json_object_get(q->root, "tools");
	if (q->tools != NULL && !json_is_array(q->tools)) {
		snprintf(err, errlen, "tools: must be an array");
		return (-1);
	}
	for (i = 0; i < json_array_size(q->tools); i++) {
		v = json_array_get(q->tools, i);
		if (json_string_value(json_object_get(v, "name")) == NULL
		    || !json_is_object(json_object_get(v, "input_schema"))) {
			snprintf(err, errlen,
			    "tools.%zu: name and "
			    "input_schema are required",
			    i);
			return (-1);
		}
	}
	tc = json_object_get(q->root, "tool_choice");
	name = json_string_value(json_object_get(tc, "type"));
	if (name != NULL && strcmp(name, "any") == 0)
		q->tool = json_array_get(q->tools, 0);
	if (name != NULL && strcmp(name, "tool") == 0) {
		name = json_string_value(json_object_get(tc, "name"));
		for (i = 0; i < json_array_size(q->tools); i++) {
			v = json_array_get(q->tools, i);
			if (name != NULL
			    && strcmp(name,
			           json_string_value(
			               json_object_get(v, "name")))
			        == 0)
				q->tool = v;
		}
		if (q->tool == NULL) {
			snprintf(err, errlen,
			    "tool_choice.name: no tool "
			    "named '%s' in tools",
			    name ? name : "");
			return (-1);
		}
	}
	return (0);
}

/* output_config.format: structured outputs (a JSON schema). */
static int
validate_format(struct request *q, char *err, size_t errlen)
{
	json_t     *oc = json_object_get(q->root, "output_config"), *f;
	const char *t;

	if (oc == NULL)
		return (0);
	if (!json_is_object(oc)) {
		snprintf(err, errlen, "output_config: must be an object");
		return (-1);
	}
	if ((f = json_object_get(oc, "format")) == NULL || json_is_null(f))
		return (0);
	t = json_string_value(json_object_get(f, "type"));
	if (t == NULL || strcmp(t, "json_schema") != 0
	    || !json_is_object(json_object_get(f, "schema"))) {
		snprintf(err, errlen,
		    "output_config.format: type \"json_schema\" and a "
		    "schema object are required");
		return (-1);
	}
	if (q->tool != NULL) {
		snprintf(err, errlen,
		    "output_config.format cannot be combined with a forced "
		    "tool_choice");
		return (-1);
	}
	q->format = json_object_get(f, "schema");
	return (0);
}

static int
validate(struct request *q, char *err, size_t errlen)
{
	json_t     *v, *m;
	const char *name;
	size_t      i;

	if (!json_is_object(q->root)) {
		snprintf(err, errlen, "%s",
		    q->root == NULL ? q->parse_err
		                    : "request body must be a JSON object");
		return (-1);
	}
	q->model = json_string_value(json_object_get(q->root, "model"));
	if (q->model == NULL || *q->model == '\0') {
		snprintf(err, errlen, "model: Field required");
		return (-1);
	}
	v = json_object_get(q->root, "max_tokens");
	if (!json_is_integer(v) || json_integer_value(v) < 1) {
		snprintf(err, errlen,
		    "max_tokens: Field required (an "
		    "integer >= 1)");
		return (-1);
	}
	q->messages = json_object_get(q->root, "messages");
	if (!json_is_array(q->messages) || json_array_size(q->messages) == 0) {
		snprintf(err, errlen,
		    "messages: Field required (a non-empty "
		    "array)");
		return (-1);
	}
	for (i = 0; i < json_array_size(q->messages); i++) {
		m = json_array_get(q->messages, i);
		name = json_string_value(json_object_get(m, "role"));
		v = json_object_get(m, "content");
		if (name == NULL
		    || (strcmp(name, "user") != 0
		        && strcmp(name, "assistant") != 0)
		    || !(json_is_string(v) || json_is_array(v))) {
			snprintf(err, errlen,
			    "messages.%zu: role must be "
			    "user or assistant, content a string or an "
			    "array",
			    i);
			return (-1);
		}
	}
	if (validate_tools(q, err, errlen) == -1)
		return (-1);
	return (validate_format(q, err, errlen));
}

static void
gather_text(struct request *q)
{
	json_t     *m;
	const char *role;
	size_t      i;

	for (i = 0; i < json_array_size(q->messages); i++) {
		m = json_array_get(q->messages, i);
		text_append(&q->transcript, json_object_get(m, "content"));
		role = json_string_value(json_object_get(m, "role"));
		if (role != NULL && strcmp(role, "user") == 0) {
			free(q->last_user);
			q->last_user = NULL;
			text_append(
			    &q->last_user, json_object_get(m, "content"));
		}
	}
}

static json_t *
content_block(struct request *q, const char **stop, enum sim_kind *kind)
{
	json_t *schema, *input;
	char   *text, id[40];
	int     bad;

	if (q->format != NULL) {
		/* Structured outputs: the JSON object, as the text. */
		input = tool_input_new(
		    q->format, q->transcript != NULL ? q->transcript : "");
		*stop = "end_turn";
		*kind = KIND_TOOL;
		if ((bad = mode_take_bad_output()) > 0) {
			tool_input_break(input, q->format);
			if (bad % 2 == 0)
				*stop = "max_tokens";
			*kind = KIND_BAD;
		}
		text = json_dumps(input, JSON_COMPACT);
		json_decref(input);
		input = json_pack("{s:s, s:s}", "type", "text", "text",
		    text != NULL ? text : "{}");
		free(text);
		return (input);
	}
	if (q->tool == NULL) {
		text = sim.answer != NULL ? strdup(sim.answer)
		                          : tool_text_answer(q->last_user);
		*stop = "end_turn";
		*kind = KIND_TEXT;
		input = json_pack("{s:s, s:s}", "type", "text", "text",
		    text != NULL ? text : "");
		free(text);
		return (input);
	}
	schema = json_object_get(q->tool, "input_schema");
	input = tool_input_new(
	    schema, q->transcript != NULL ? q->transcript : "");
	*stop = "tool_use";
	*kind = KIND_TOOL;
	if ((bad = mode_take_bad_output()) > 0) {
		/* Odd: a required field is missing.  Even: cut short. */
		tool_input_break(input, schema);
		if (bad % 2 == 0)
			*stop = "max_tokens";
		*kind = KIND_BAD;
	}
	snprintf(id, sizeof(id), "toolu_sim%016lx", sim.seq);
	return (json_pack("{s:s, s:s, s:s, s:o}", "type", "tool_use", "id", id,
	    "name", json_string_value(json_object_get(q->tool, "name")),
	    "input", input));
}

static void
answer(struct request *q, size_t body_len, struct sim_reply *r)
{
	json_t       *block, *msg;
	const char   *stop = "end_turn";
	enum sim_kind kind = KIND_TEXT;
	char          id[40], *dump;
	size_t        out_len = 0;

	gather_text(q);
	block = content_block(q, &stop, &kind);
	if ((dump = json_dumps(block, JSON_COMPACT)) != NULL) {
		out_len = strlen(dump);
		free(dump);
	}
	snprintf(id, sizeof(id), "msg_sim%016lx", sim.seq);
	msg = json_pack("{s:s, s:s, s:s, s:s, s:[o], s:s, s:n, s:{s:I, s:I, "
	                "s:i, s:i}}",
	    "id", id, "type", "message", "role", "assistant", "model",
	    q->model, "content", block, "stop_reason", stop, "stop_sequence",
	    "usage", "input_tokens", (json_int_t)(body_len / 4 + 1),
	    "output_tokens", (json_int_t)(out_len / 4 + 1),
	    "cache_creation_input_tokens", 0, "cache_read_input_tokens", 0);
	sim_reply_json(r, 200, kind, msg);
}

/* Any key is accepted without --api-key, but one must be sent. */
static int
key_ok(const char *key)
{
	size_t n;

	if (key == NULL || *key == '\0')
		return (0);
	if (sim.api_key == NULL)
		return (1);
	n = strlen(sim.api_key);
	if (strlen(key) != n)
		return (0);
	return (CRYPTO_memcmp(key, sim.api_key, n) == 0);
}

static void
record(struct request *q, struct sim_reply *r)
{
	struct sim_req_info info;
	json_t             *m;
	char               *last = NULL;
	size_t              n;

	memset(&info, 0, sizeof(info));
	info.path = "/v1/messages";
	if (json_is_object(q->root)) {
		info.model
		    = json_string_value(json_object_get(q->root, "model"));
		info.tools = json_object_get(q->root, "tools");
		m = json_object_get(q->root, "messages");
		info.nmessages = json_array_size(m);
		if (q->last_user == NULL && q->transcript == NULL) {
			q->messages = m;
			gather_text(q);
		}
	}
	if (q->last_user != NULL && (last = strdup(q->last_user)) != NULL) {
		n = strlen(last);
		if (n > RECORD_TEXT_MAX) {
			n = RECORD_TEXT_MAX;
			/* never cut a UTF-8 sequence in two */
			while (
			    n > 0 && ((unsigned char)last[n] & 0xc0) == 0x80)
				n--;
			last[n] = '\0';
		}
	}
	info.last_user = last;
	mode_count(r->status, r->kind);
	mode_record(&info, r->status, r->kind);
	free(last);
}

void
sim_messages(const char *key, const char *version, const char *body,
    size_t len, struct sim_reply *r)
{
	struct request q;
	json_error_t   jerr;
	char           err[400];
	int            fault, status;

	memset(&q, 0, sizeof(q));
	memset(r, 0, sizeof(*r));
	sim_reply_id(r);
	q.root = json_loadb(body != NULL ? body : "", len, 0, &jerr);
	if (q.root == NULL)
		snprintf(q.parse_err, sizeof(q.parse_err),
		    "request body is not valid JSON: %s (line %d, column %d)",
		    jerr.text, jerr.line, jerr.column);
	if (!key_ok(key))
		sim_reply_error(
		    r, 401, "authentication_error", "invalid x-api-key");
	else if (version == NULL || strcmp(version, API_VERSION) != 0)
		sim_reply_error(r, 400, "invalid_request_error",
		    version == NULL
		        ? "anthropic-version: header is required"
		        : "anthropic-version: unsupported version");
	else if ((fault = mode_take_fault()) != 0)
		fault_reply(r, fault);
	else if (validate(&q, err, sizeof(err)) == -1)
		sim_reply_error(r, 400, "invalid_request_error", err);
	else if (catalog_check(q.root, q.model, &status, err, sizeof(err))
	    == -1)
		sim_reply_error(r, status,
		    status == 404 ? "not_found_error"
		                  : "invalid_request_error",
		    err);
	else {
		capture_json("sim-anthropic", "anthropic-messages",
		    "messages.create", q.root);
		answer(&q, len, r);
	}
	record(&q, r);
	json_decref(q.root);
	free(q.transcript);
	free(q.last_user);
}
