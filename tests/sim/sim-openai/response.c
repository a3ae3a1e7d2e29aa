/*
 * response.c - model responses, one script step each.
 *
 * A spoken step sends response.created, output_item.added and
 * content_part.added at once, then one 20 ms audio delta (160 bytes of a
 * 440 Hz mu-law tone) per pacing tick, with the transcript deltas spread
 * over the audio word by word, then the done events.  A tick is 20 ms of
 * audio divided by --speed (10 ms at the default 2.0).  A function call
 * step is sent whole at once; the next step waits for the client.
 *
 * Barge-in (speech_started with interrupt_response) and response.cancel
 * end a spoken response early with status "cancelled"; after a barge-in,
 * --late-deltas N more deltas of the dead response are still sent, as the
 * real service sometimes does, so clients must drop them.
 *
 * lws service thread only (response_init: main, at startup).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "oai.h"

#define TONE_HZ 440.0
#define TONE_AMPLITUDE 8000.0 /* about -12 dBFS */
#define MAX_LAG_US 200000 /* behind by more: stop catching up */

static void pace_cb(lws_sorted_usec_list_t *);

/* G.711 mu-law compression of one 16-bit sample. */
static uint8_t
linear_to_ulaw(int x)
{
	int sign = 0, exp, mant;

	if (x < 0) {
		sign = 0x80;
		x = -x;
	}
	if (x > 32635)
		x = 32635;
	x += 0x84;
	for (exp = 7; exp > 0 && (x & (0x4000 >> (7 - exp))) == 0; exp--)
		;
	mant = (x >> (exp + 3)) & 0x0f;
	return ((uint8_t) ~(sign | exp << 4 | mant));
}

void
response_init(struct sim *sim)
{
	double v;
	int    i;

	for (i = 0; i < OAI_TONE_LEN; i++) {
		v = TONE_AMPLITUDE * sin(2 * M_PI * TONE_HZ * i / 8000.0);
		sim->tone[i] = linear_to_ulaw((int)lrint(v));
	}
}

static void
pace_kick(struct sess *s)
{
	if (!lws_dll2_is_detached(&s->pace_sul.list))
		return;
	s->pace_due = lws_now_usecs();
	lws_sul_schedule(s->sim->ctx, 0, &s->pace_sul, pace_cb, 0);
}

static void
send_delta(struct sess *s, const char *resp_id, const char *item_id, size_t n)
{
	unsigned char pcm[OAI_CHUNK_BYTES];
	char          b64[OAI_CHUNK_BYTES / 3 * 4 + 8];
	struct item  *it;
	size_t        i;

	for (i = 0; i < n; i++) {
		pcm[i] = s->sim->tone[s->tone_pos];
		s->tone_pos = (s->tone_pos + 1) % OAI_TONE_LEN;
	}
	EVP_EncodeBlock((unsigned char *)b64, pcm, (int)n);
	if ((it = session_item_find(s, item_id)) != NULL)
		it->audio_bytes += n;
	server_send(s,
	    json_pack("{s:s, s:s, s:s, s:i, s:i, s:s}", "type",
	        "response.output_audio.delta", "response_id", resp_id,
	        "item_id", item_id, "output_index", 0, "content_index", 0,
	        "delta", b64));
}

/* Transcript deltas keep up with the audio, one word at a time. */
static void
send_transcript(struct sess *s, bool all)
{
	struct response *r = &s->resp;
	size_t           target, end;
	json_t          *d;

	target = all
	    ? r->text_len
	    : (size_t)((double)r->text_len * r->sent_bytes / r->total_bytes);
	while (r->text_sent < target) {
		end = r->text_sent + 1;
		while (end < r->text_len && r->text[end] != ' ')
			end++;
		d = json_stringn(r->text + r->text_sent, end - r->text_sent);
		server_send(s,
		    json_pack("{s:s, s:s, s:s, s:i, s:i, s:o}", "type",
		        "response.output_audio_transcript.delta",
		        "response_id", r->id, "item_id", r->item_id,
		        "output_index", 0, "content_index", 0, "delta", d));
		r->text_sent = end;
	}
}

/* The done events of a spoken response, completed or cut short. */
static void
finish(struct sess *s, const char *status, const char *reason)
{
	struct response *r = &s->resp;
	json_t          *spoken, *item, *details;
	bool             done = strcmp(status, "completed") == 0;

	spoken = json_stringn(r->text, r->text_sent);
	server_send(s,
	    json_pack("{s:s, s:s, s:s, s:i, s:i}", "type",
	        "response.output_audio.done", "response_id", r->id, "item_id",
	        r->item_id, "output_index", 0, "content_index", 0));
	server_send(s,
	    json_pack("{s:s, s:s, s:s, s:i, s:i, s:O}", "type",
	        "response.output_audio_transcript.done", "response_id", r->id,
	        "item_id", r->item_id, "output_index", 0, "content_index", 0,
	        "transcript", spoken));
	server_send(s,
	    json_pack("{s:s, s:s, s:s, s:i, s:i, s:{s:s, s:O}}", "type",
	        "response.content_part.done", "response_id", r->id, "item_id",
	        r->item_id, "output_index", 0, "content_index", 0, "part",
	        "type", "output_audio", "transcript", spoken));
	item = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:O}]}", "id",
	    r->item_id, "object", "realtime.item", "type", "message", "status",
	    done ? "completed" : "incomplete", "role", "assistant", "content",
	    "type", "output_audio", "transcript", spoken);
	server_send(s,
	    json_pack("{s:s, s:s, s:i, s:O}", "type",
	        "response.output_item.done", "response_id", r->id,
	        "output_index", 0, "item", item));
	details = reason == NULL
	    ? json_null()
	    : json_pack("{s:s, s:s}", "type", status, "reason", reason);
	server_send(s,
	    json_pack("{s:s, s:{s:s, s:s, s:s, s:o, s:[s], s:[o], s:{s:i, "
	              "s:i, s:I}}}",
	        "type", "response.done", "response", "object",
	        "realtime.response", "id", r->id, "status", status,
	        "status_details", details, "output_modalities", "audio",
	        "output", item, "usage", "input_tokens", 100, "total_tokens",
	        100 + (int)(r->sent_bytes / 160), "output_tokens",
	        (json_int_t)(r->sent_bytes / 160)));
	record_fact(s, "response_done", "{s:s, s:s, s:s, s:s?, s:I, s:I}",
	    "response_id", r->id, "item_id", r->item_id, "status", status,
	    "reason", reason, "audio_ms_sent",
	    (json_int_t)(r->sent_bytes / OAI_BYTES_PER_MS), "audio_ms_total",
	    (json_int_t)(r->total_bytes / OAI_BYTES_PER_MS));
	json_decref(spoken);
	free(r->text);
	r->text = NULL;
	r->active = false;
}

static void
pace_cb(lws_sorted_usec_list_t *sul)
{
	struct sess     *s = lws_container_of(sul, struct sess, pace_sul);
	struct response *r = &s->resp;
	lws_usec_t       now, period;
	size_t           n;

	if (s->closing)
		return;
	if (s->late_left > 0) {
		send_delta(s, s->late_resp, s->late_item, OAI_CHUNK_BYTES);
		s->late_left--;
	}
	if (r->active) {
		n = r->total_bytes - r->sent_bytes;
		if (n > OAI_CHUNK_BYTES)
			n = OAI_CHUNK_BYTES;
		send_delta(s, r->id, r->item_id, n);
		r->sent_bytes += n;
		send_transcript(s, false);
		if (r->sent_bytes >= r->total_bytes)
			finish(s, "completed", NULL);
	}
	if (!r->active && s->late_left == 0)
		return;
	period = (lws_usec_t)(20000.0 / s->sim->opt.speed);
	now = lws_now_usecs();
	s->pace_due += period;
	if (s->pace_due < now - MAX_LAG_US)
		s->pace_due = now;
	lws_sul_schedule(s->sim->ctx, 0, &s->pace_sul, pace_cb,
	    s->pace_due > now ? s->pace_due - now : 0);
}

static json_t *
response_object(struct sess *s, const char *status)
{
	return (json_pack("{s:s, s:s, s:s, s:n, s:[], s:[s]}", "object",
	    "realtime.response", "id", s->resp.id, "status", status,
	    "status_details", "output", "output_modalities", "audio"));
}

static void
function_call(struct sess *s, const struct step *st, const char *trigger)
{
	struct response *r = &s->resp;
	struct item     *it;
	char             call_id[OAI_ID_LEN];
	json_t          *item, *resp;

	session_new_id(s, "call", call_id);
	it = session_item_add(s, ITEM_CALL, r->item_id);
	snprintf(it->call_id, sizeof(it->call_id), "%s", call_id);
	record_fact(s, "response_started",
	    "{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "response_id", r->id,
	    "item_id", r->item_id, "step", r->step, "kind", "call", "trigger",
	    trigger, "call_id", call_id, "name", st->name, "arguments",
	    st->arguments);
	item = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id",
	    r->item_id, "object", "realtime.item", "type", "function_call",
	    "status", "in_progress", "call_id", call_id, "name", st->name,
	    "arguments", "");
	server_send(s,
	    json_pack("{s:s, s:s, s:i, s:O}", "type",
	        "response.output_item.added", "response_id", r->id,
	        "output_index", 0, "item", item));
	server_send(s,
	    json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "type",
	        "response.function_call_arguments.delta", "response_id", r->id,
	        "item_id", r->item_id, "output_index", 0, "call_id", call_id,
	        "delta", st->arguments));
	server_send(s,
	    json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s}", "type",
	        "response.function_call_arguments.done", "response_id", r->id,
	        "item_id", r->item_id, "output_index", 0, "call_id", call_id,
	        "name", st->name, "arguments", st->arguments));
	json_object_set_new(item, "status", json_string("completed"));
	json_object_set_new(item, "arguments", json_string(st->arguments));
	server_send(s,
	    json_pack("{s:s, s:s, s:i, s:O}", "type",
	        "response.output_item.done", "response_id", r->id,
	        "output_index", 0, "item", item));
	resp = response_object(s, "completed");
	json_array_append_new(json_object_get(resp, "output"), item);
	server_send(s,
	    json_pack(
	        "{s:s, s:o}", "type", "response.done", "response", resp));
	record_fact(s, "response_done", "{s:s, s:s, s:s}", "response_id",
	    r->id, "item_id", r->item_id, "status", "completed");
}

static char *
spoken_text(struct sess *s, const struct step *st)
{
	const char *out = s->last_output;
	char       *text;
	size_t      len;

	if (st->kind == STEP_SAY)
		return (oai_strdup(st->text));
	if (out == NULL)
		out = "I have no answer yet.";
	len = strlen(out) + 64;
	text = oai_calloc(1, len);
	snprintf(text, len, "Here is what I found: %s", out);
	return (text);
}

void
response_start(struct sess *s, const char *trigger)
{
	struct response   *r = &s->resp;
	const struct step *st;

	if (r->active) {
		record_fact(s, "response_skipped", "{s:s, s:s}", "trigger",
		    trigger, "active_response_id", r->id);
		return;
	}
	memset(r, 0, sizeof(*r));
	r->step = s->next_step++;
	st = script_step(&s->sim->script, r->step);
	r->kind = st->kind;
	session_new_id(s, "resp", r->id);
	session_new_id(s, "item", r->item_id);
	s->nresponses++;
	server_send(s,
	    json_pack("{s:s, s:o}", "type", "response.created", "response",
	        response_object(s, "in_progress")));
	if (st->kind == STEP_CALL) {
		function_call(s, st, trigger);
		return;
	}
	r->text = spoken_text(s, st);
	r->text_len = strlen(r->text);
	r->total_bytes = (uint64_t)st->audio_ms * OAI_BYTES_PER_MS;
	r->active = true;
	session_item_add(s, ITEM_ASSISTANT, r->item_id);
	record_fact(s, "response_started",
	    "{s:s, s:s, s:i, s:s, s:s, s:s, s:i}", "response_id", r->id,
	    "item_id", r->item_id, "step", r->step, "kind",
	    st->kind == STEP_SAY ? "say" : "say_output", "trigger", trigger,
	    "text", r->text, "audio_ms", st->audio_ms);
	server_send(s,
	    json_pack("{s:s, s:s, s:i, s:{s:s, s:s, s:s, s:s, s:s, s:[]}}",
	        "type", "response.output_item.added", "response_id", r->id,
	        "output_index", 0, "item", "id", r->item_id, "object",
	        "realtime.item", "type", "message", "status", "in_progress",
	        "role", "assistant", "content"));
	server_send(s,
	    json_pack("{s:s, s:s, s:s, s:i, s:i, s:{s:s, s:s}}", "type",
	        "response.content_part.added", "response_id", r->id, "item_id",
	        r->item_id, "output_index", 0, "content_index", 0, "part",
	        "type", "output_audio", "transcript", ""));
	pace_kick(s);
}

/* reason: "turn_detected" (barge-in) or "client_cancelled". */
void
response_cancel(struct sess *s, const char *reason)
{
	struct response *r = &s->resp;
	bool             barge = strcmp(reason, "turn_detected") == 0;

	if (!r->active)
		return;
	if (barge) {
		s->nbarge++;
		record_fact(s, "barge_in", "{s:s, s:s, s:I, s:I, s:i}",
		    "response_id", r->id, "item_id", r->item_id,
		    "audio_ms_sent",
		    (json_int_t)(r->sent_bytes / OAI_BYTES_PER_MS),
		    "audio_ms_total",
		    (json_int_t)(r->total_bytes / OAI_BYTES_PER_MS),
		    "late_deltas", s->sim->opt.late_deltas);
		if (s->sim->opt.late_deltas > 0) {
			s->late_left = (unsigned)s->sim->opt.late_deltas;
			snprintf(
			    s->late_resp, sizeof(s->late_resp), "%s", r->id);
			snprintf(s->late_item, sizeof(s->late_item), "%s",
			    r->item_id);
		}
	}
	finish(s, "cancelled", reason);
	if (s->late_left > 0)
		pace_kick(s);
}

void
response_stop(struct sess *s)
{
	lws_sul_cancel(&s->pace_sul);
	free(s->resp.text);
	s->resp.text = NULL;
	s->resp.active = false;
	s->late_left = 0;
}
