/*
 * session.c - the client events of one Realtime session: parse, record,
 * check and answer them.  One handler per event type; errors are GA
 * "error" events and leave the session open, except the beta-shape
 * rejection, which closes the socket with code 4000.
 *
 * Caller turns come from vad.c through session_speech_started() (which
 * cuts off a speaking response when interrupt_response is on) and
 * session_speech_stopped() (commit, transcript, and maybe a response).
 *
 * lws service thread only.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "oai.h"

#define BETA_CLOSE 4000
#define APPEND "input_audio_buffer.append"

struct handler {
	const char *type;
	void (*fn)(struct sess *, json_t *, const char *);
};

void
session_new_id(struct sess *s, const char *prefix, char *out)
{
	snprintf(out, OAI_ID_LEN, "%s_%u_%llu", prefix, s->conn,
	    (unsigned long long)++s->nid);
}

struct item *
session_item_add(struct sess *s, enum item_kind kind, const char *id)
{
	struct item *it;

	s->items = oai_realloc(s->items, (s->nitems + 1) * sizeof(*s->items));
	it = &s->items[s->nitems++];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	snprintf(it->id, sizeof(it->id), "%s", id);
	snprintf(s->last_item, sizeof(s->last_item), "%s", id);
	return (it);
}

struct item *
session_item_find(struct sess *s, const char *id)
{
	size_t i;

	for (i = 0; id != NULL && i < s->nitems; i++)
		if (strcmp(s->items[i].id, id) == 0)
			return (&s->items[i]);
	return (NULL);
}

void
session_error(struct sess *s, const char *code, const char *param,
    const char *client_event_id, const char *fmt, ...)
{
	char    msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->nerrors++;
	record_fact(s, "error_sent", "{s:s, s:s?, s:s?, s:s}", "code", code,
	    "param", param, "client_event_id", client_event_id, "message",
	    msg);
	/* error.event_id names the client event; left out when none */
	server_send(s,
	    json_pack("{s:s, s:{s:s, s:s, s:s, s:s?, s:s*}}", "type", "error",
	        "error", "type", "invalid_request_error", "code", code,
	        "message", msg, "param", param, "event_id", client_event_id));
}

void
session_beta_reject(struct sess *s, const char *client_event_id)
{
	session_error(s, "beta_api_shape_disabled", NULL, client_event_id,
	    "The Realtime Beta API is no longer supported. Please use "
	    "/v1/realtime for the GA API.");
	record_fact(s, "beta_rejected", "{s:b}", "header", s->beta_header);
	server_close(s, BETA_CLOSE);
}

/* As the real service: an error event naming the model, then a close. */
void
session_model_reject(struct sess *s)
{
	session_error(s, "model_not_found", NULL, NULL,
	    "The model `%s` does not exist or you do not have access to it.",
	    s->model);
	record_fact(s, "model_rejected", "{s:s}", "model", s->model);
	server_close(s, BETA_CLOSE);
}

void
session_open(struct sess *s)
{
	session_new_id(s, "sess", s->sess_id);
	s->cfg = config_default(s);
	server_send(s,
	    json_pack(
	        "{s:s, s:O}", "type", "session.created", "session", s->cfg));
}

void
session_close(struct sess *s)
{
	struct tags *t = &s->tags;
	bool         echo = s->sim->opt.mode == OAI_ECHO;
	json_t      *f;

	f = json_pack("{s:s, s:I, s:I, s:I, s:I}", "mode",
	    echo ? "echo" : "conversation", "appends", (json_int_t)s->appends,
	    "bytes", (json_int_t)s->in_bytes, "drops", (json_int_t)s->q.drops,
	    "errors", (json_int_t)s->nerrors);
	if (!echo)
		json_object_update_new(f,
		    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "audio_ms",
		        (json_int_t)(s->in_bytes / OAI_BYTES_PER_MS),
		        "updates", (json_int_t)s->nupdates, "responses",
		        (json_int_t)s->nresponses, "barge_ins",
		        (json_int_t)s->nbarge, "truncates_ok",
		        (json_int_t)s->ntrunc_ok, "truncates_rejected",
		        (json_int_t)s->ntrunc_rej));
	if (s->sim->opt.tags)
		json_object_update_new(f,
		    json_pack("{s:b, s:I, s:I, s:I}", "tags_in_order",
		        t->count > 0 && t->in_order, "tags",
		        (json_int_t)t->count, "first_tag",
		        (json_int_t)t->first, "last_tag",
		        (json_int_t)t->last));
	record_fact(s, "connection_closed", "O", f);
	json_decref(f);
	json_decref(s->cfg);
	free(s->items);
	free(s->last_output);
	s->cfg = NULL;
	s->items = NULL;
	s->last_output = NULL;
}

static void
on_session_update(struct sess *s, json_t *msg, const char *eid)
{
	json_t *session = json_object_get(msg, "session");
	int     rv;

	config_record(s, session, eid);
	if (s->nupdates++ == 0 && s->sim->opt.error_on_update) {
		session_error(s, "simulated_failure", NULL, eid,
		    "Simulated failure of the first session.update.");
		return;
	}
	if ((rv = config_update(s, session, eid)) == 1)
		session_beta_reject(s, eid);
	else if (rv == 0)
		server_send(s,
		    json_pack("{s:s, s:O}", "type", "session.updated",
		        "session", s->cfg));
}

/* The caller's turn ended (VAD or manual commit): commit and transcribe. */
static void
turn_commit(struct sess *s, uint64_t start_ms, uint64_t end_ms, bool vad)
{
	char        buf[64], prev[OAI_ID_LEN];
	const char *text;

	text = script_heard(&s->sim->script, s->next_heard++,
	    end_ms - start_ms, buf, sizeof(buf));
	snprintf(prev, sizeof(prev), "%s", s->last_item);
	session_item_add(s, ITEM_USER, s->user_item);
	record_fact(s, "turn_committed", "{s:s, s:I, s:I, s:s}", "item_id",
	    s->user_item, "audio_start_ms", (json_int_t)start_ms,
	    "audio_end_ms", (json_int_t)end_ms, "transcript", text);
	s->committed = s->vad.samples;
	if (vad)
		server_send(s,
		    json_pack("{s:s, s:I, s:s}", "type",
		        "input_audio_buffer.speech_stopped", "audio_end_ms",
		        (json_int_t)end_ms, "item_id", s->user_item));
	server_send(s,
	    json_pack("{s:s, s:s, s:s?}", "type",
	        "input_audio_buffer.committed", "item_id", s->user_item,
	        "previous_item_id", prev[0] != '\0' ? prev : NULL));
	server_send(s,
	    json_pack("{s:s, s:s, s:i, s:s, s:{s:s, s:i, s:i, s:i}}", "type",
	        "conversation.item.input_audio_transcription.completed",
	        "item_id", s->user_item, "content_index", 0, "transcript",
	        text, "usage", "type", "tokens", "input_tokens", 20,
	        "output_tokens", 5, "total_tokens", 25));
	if (vad && s->create_response)
		response_start(s, "turn_detected");
}

static void
on_append(struct sess *s, json_t *msg, const char *eid)
{
	json_t              *audio = json_object_get(msg, "audio");
	const unsigned char *pcm;
	size_t               n;
	int64_t              tag = -1;

	if (s->sim->opt.mode == OAI_ECHO) {
		echo_append(
		    s, json_string_value(audio), json_string_length(audio));
		return;
	}
	if (!json_is_string(audio)
	    || vad_b64_decode(s->sim, json_string_value(audio),
	           json_string_length(audio), &pcm, &n)
	        == -1) {
		record_client(s, APPEND, eid, json_pack("{s:b}", "valid", 0));
		session_error(s, "invalid_value", "audio", eid,
		    "Invalid 'audio': expected base64-encoded audio bytes.");
		return;
	}
	s->appends++;
	s->in_bytes += n;
	if (s->sim->opt.tags)
		tag = vad_tag(s, pcm, n);
	record_client(s, APPEND, eid,
	    tag >= 0 ? json_pack(
	        "{s:I, s:I}", "bytes", (json_int_t)n, "tag", (json_int_t)tag)
	             : json_pack("{s:I}", "bytes", (json_int_t)n));
	vad_feed(s, pcm, n);
}

/* Manual commit (turn_detection null): the buffered audio becomes a turn. */
static void
on_commit(struct sess *s, json_t *msg, const char *eid)
{
	record_client(s, "input_audio_buffer.commit", eid, NULL);
	if (s->vad.samples == s->committed || s->vad.speaking) {
		session_error(s, "input_audio_buffer_commit_empty", NULL, eid,
		    "Error committing input audio buffer: the buffer is "
		    "empty or speech is in progress.");
		return;
	}
	session_new_id(s, "item", s->user_item);
	turn_commit(s, s->committed / OAI_BYTES_PER_MS,
	    s->vad.samples / OAI_BYTES_PER_MS, false);
}

static void
on_clear(struct sess *s, json_t *msg, const char *eid)
{
	record_client(s, "input_audio_buffer.clear", eid, NULL);
	s->committed = s->vad.samples;
	s->vad.speaking = false;
	s->vad.loud_ms = s->vad.quiet_ms = 0;
	server_send(
	    s, json_pack("{s:s}", "type", "input_audio_buffer.cleared"));
}

static void
send_item_added(struct sess *s, json_t *item, const char *prev)
{
	server_send(s,
	    json_pack("{s:s, s:s?, s:O}", "type", "conversation.item.added",
	        "previous_item_id", prev, "item", item));
	server_send(s,
	    json_pack("{s:s, s:s?, s:O}", "type", "conversation.item.done",
	        "previous_item_id", prev, "item", item));
}

static void
item_output(struct sess *s, json_t *item, const char *id, const char *eid)
{
	const char  *call_id, *output;
	struct item *it;
	size_t       i;

	call_id = json_string_value(json_object_get(item, "call_id"));
	output = json_string_value(json_object_get(item, "output"));
	record_client(s, "conversation.item.create", eid,
	    json_pack("{s:s, s:s?, s:s?}", "item_type", "function_call_output",
	        "call_id", call_id, "output", output));
	for (i = 0, it = NULL; call_id != NULL && i < s->nitems; i++)
		if (s->items[i].kind == ITEM_CALL
		    && strcmp(s->items[i].call_id, call_id) == 0)
			it = &s->items[i];
	if (output == NULL) {
		session_error(s, "missing_required_parameter", "item.output",
		    eid, "Missing required parameter: 'item.output'.");
		return;
	}
	if (it == NULL) {
		session_error(s, "invalid_value", "item.call_id", eid,
		    "No function call with call_id '%s' exists.",
		    call_id != NULL ? call_id : "");
		return;
	}
	free(s->last_output);
	s->last_output = oai_strdup(output);
	it = session_item_add(s, ITEM_OUTPUT, id);
	snprintf(it->call_id, sizeof(it->call_id), "%s", call_id);
}

static void
item_message(struct sess *s, json_t *item, const char *id, const char *eid)
{
	const char *role, *text;
	json_t     *part;

	role = json_string_value(json_object_get(item, "role"));
	part = json_array_get(json_object_get(item, "content"), 0);
	text = json_string_value(json_object_get(part, "text"));
	record_client(s, "conversation.item.create", eid,
	    json_pack("{s:s, s:s?, s:s?}", "item_type", "message", "role",
	        role, "text", text));
	if (role == NULL
	    || (strcmp(role, "user") != 0 && strcmp(role, "system") != 0
	        && strcmp(role, "assistant") != 0)) {
		session_error(s, "invalid_value", "item.role", eid,
		    "Invalid 'item.role': expected user, system or "
		    "assistant.");
		return;
	}
	if (!json_is_array(json_object_get(item, "content"))) {
		session_error(s, "invalid_value", "item.content", eid,
		    "Invalid 'item.content': expected an array.");
		return;
	}
	session_item_add(s, ITEM_USER, id);
}

static void
on_item_create(struct sess *s, json_t *msg, const char *eid)
{
	json_t     *item = json_object_get(msg, "item"), *added;
	const char *type, *id;
	char        prev[OAI_ID_LEN], newid[OAI_ID_LEN];
	size_t      before = s->nitems;

	type = json_string_value(json_object_get(item, "type"));
	if ((id = json_string_value(json_object_get(item, "id"))) == NULL) {
		session_new_id(s, "item", newid);
		id = newid;
	}
	snprintf(prev, sizeof(prev), "%s", s->last_item);
	if (type != NULL && strcmp(type, "function_call_output") == 0)
		item_output(s, item, id, eid);
	else if (type != NULL && strcmp(type, "message") == 0)
		item_message(s, item, id, eid);
	else {
		record_client(s, "conversation.item.create", eid,
		    json_pack("{s:s?}", "item_type", type));
		session_error(s, "invalid_value", "item.type", eid,
		    "Invalid 'item.type': expected message or "
		    "function_call_output.");
	}
	if (s->nitems == before)
		return;
	added = json_deep_copy(item);
	json_object_set_new(added, "id", json_string(id));
	json_object_set_new(added, "object", json_string("realtime.item"));
	json_object_set_new(added, "status", json_string("completed"));
	send_item_added(s, added, prev[0] != '\0' ? prev : NULL);
	json_decref(added);
}

static void
truncate_reject(struct sess *s, const char *eid, const char *id, json_t *end,
    uint64_t have_ms, const char *msg)
{
	s->ntrunc_rej++;
	record_fact(s, "truncate_rejected", "{s:s?, s:O?, s:I, s:s}",
	    "item_id", id, "audio_end_ms", end, "item_audio_ms",
	    (json_int_t)have_ms, "reason", msg);
	session_error(s, "invalid_value", "audio_end_ms", eid, "%s", msg);
}

static void
on_truncate(struct sess *s, json_t *msg, const char *eid)
{
	json_t      *end = json_object_get(msg, "audio_end_ms");
	const char  *id = json_string_value(json_object_get(msg, "item_id"));
	struct item *it = session_item_find(s, id);
	json_int_t   ms, ci;
	uint64_t     have;

	ci = json_integer_value(json_object_get(msg, "content_index"));
	record_client(s, "conversation.item.truncate", eid,
	    json_pack("{s:s?, s:I, s:O?}", "item_id", id, "content_index", ci,
	        "audio_end_ms", end));
	if (it == NULL || it->kind != ITEM_ASSISTANT) {
		s->ntrunc_rej++;
		record_fact(s, "truncate_rejected", "{s:s?, s:s}", "item_id",
		    id, "reason", "no such assistant item");
		session_error(s, "invalid_value", "item_id", eid,
		    "No assistant message item with id '%s'.", id ? id : "");
		return;
	}
	have = it->audio_bytes / OAI_BYTES_PER_MS;
	if (!json_is_integer(end) || json_integer_value(end) < 0) {
		truncate_reject(s, eid, id, end, have,
		    "audio_end_ms must be a non-negative integer.");
		return;
	}
	if ((ms = json_integer_value(end)) > (json_int_t)have) {
		truncate_reject(s, eid, id, end, have,
		    "audio_end_ms exceeds the audio produced for this item.");
		return;
	}
	s->ntrunc_ok++;
	record_fact(s, "truncate_ok", "{s:s, s:I, s:I}", "item_id", id,
	    "audio_end_ms", ms, "item_audio_ms", (json_int_t)have);
	server_send(s,
	    json_pack("{s:s, s:s, s:I, s:I}", "type",
	        "conversation.item.truncated", "item_id", id, "content_index",
	        ci, "audio_end_ms", ms));
}

static void
on_item_delete(struct sess *s, json_t *msg, const char *eid)
{
	const char  *id = json_string_value(json_object_get(msg, "item_id"));
	struct item *it;
	size_t       i;

	record_client(s, "conversation.item.delete", eid,
	    json_pack("{s:s?}", "item_id", id));
	if ((it = session_item_find(s, id)) == NULL) {
		session_error(s, "invalid_value", "item_id", eid,
		    "No item with id '%s'.", id ? id : "");
		return;
	}
	server_send(s,
	    json_pack("{s:s, s:s}", "type", "conversation.item.deleted",
	        "item_id", id));
	i = (size_t)(it - s->items);
	memmove(it, it + 1, (s->nitems - i - 1) * sizeof(*it));
	s->nitems--;
}

static void
on_response_create(struct sess *s, json_t *msg, const char *eid)
{
	record_client(s, "response.create", eid,
	    json_pack("{s:b}", "has_overrides",
	        json_object_get(msg, "response") != NULL));
	if (s->resp.active) {
		session_error(s, "conversation_already_has_active_response",
		    NULL, eid,
		    "Conversation already has an active response "
		    "in progress: %s.",
		    s->resp.id);
		return;
	}
	response_start(s, "response.create");
}

static void
on_response_cancel(struct sess *s, json_t *msg, const char *eid)
{
	record_client(s, "response.cancel", eid, NULL);
	if (!s->resp.active) {
		session_error(s, "response_cancel_not_active", NULL, eid,
		    "Cancellation failed: no active response found.");
		return;
	}
	response_cancel(s, "client_cancelled");
}

static const struct handler handlers[]
    = { { "session.update", on_session_update }, { APPEND, on_append },
	      { "input_audio_buffer.commit", on_commit },
	      { "input_audio_buffer.clear", on_clear },
	      { "conversation.item.create", on_item_create },
	      { "conversation.item.truncate", on_truncate },
	      { "conversation.item.delete", on_item_delete },
	      { "response.create", on_response_create },
	      { "response.cancel", on_response_cancel }, { NULL, NULL } };

void
session_message(struct sess *s, const char *buf, size_t len)
{
	const struct handler *h;
	json_error_t          jerr;
	json_t               *msg;
	const char           *type, *eid;

	if ((msg = json_loadb(buf, len, 0, &jerr)) == NULL
	    || !json_is_object(msg)) {
		record_client(s, "(malformed)", NULL,
		    json_pack("{s:I}", "bytes", (json_int_t)len));
		session_error(s, "invalid_json", NULL, NULL,
		    "The server could not parse the JSON: %s",
		    msg == NULL ? jerr.text : "expected an object");
		json_decref(msg);
		return;
	}
	type = json_string_value(json_object_get(msg, "type"));
	eid = json_string_value(json_object_get(msg, "event_id"));
	if (type != NULL)
		capture_json("sim-openai", "openai-realtime", type, msg);
	for (h = handlers; type != NULL && h->type != NULL; h++) {
		if (strcmp(type, h->type) == 0) {
			h->fn(s, msg, eid);
			json_decref(msg);
			return;
		}
	}
	record_client(s, type != NULL ? type : "(no type)", eid, NULL);
	session_error(s, "invalid_value", "type", eid,
	    "Invalid value: '%s'. This client event type is not supported.",
	    type != NULL ? type : "");
	json_decref(msg);
}

void
session_speech_started(struct sess *s, uint64_t start_ms)
{
	session_new_id(s, "item", s->user_item);
	record_fact(s, "speech_started", "{s:I, s:s}", "audio_start_ms",
	    (json_int_t)start_ms, "item_id", s->user_item);
	server_send(s,
	    json_pack("{s:s, s:I, s:s}", "type",
	        "input_audio_buffer.speech_started", "audio_start_ms",
	        (json_int_t)start_ms, "item_id", s->user_item));
	if (s->resp.active && s->resp.kind != STEP_CALL
	    && s->interrupt_response)
		response_cancel(s, "turn_detected");
}

void
session_speech_stopped(struct sess *s, uint64_t start_ms, uint64_t end_ms)
{
	turn_commit(s, start_ms, end_ms, true);
}
