/*
 * config.c - the realtime session object: its defaults, validation of a
 * session.update against the GA shape, and the merge that produces the
 * effective configuration sent back in session.updated.
 *
 * An update is checked completely before anything is applied, so a bad
 * update changes nothing (as the real service does).  The simulator only
 * speaks G.711 mu-law: both audio formats must be audio/pcmu when given.
 * turn_detection is replaced as a whole and its missing fields are filled
 * with the server_vad defaults, which is what session.updated shows.
 *
 * lws service thread only.
 */
#include <string.h>

#include "oai.h"

#define P_SESSION "session."

static const char *ga_keys[]
    = { "type", "model", "instructions", "output_modalities", "audio", "tools",
	      "tool_choice", "max_output_tokens", "truncation", "include",
	      "tracing", "prompt", "reasoning", "parallel_tool_calls", NULL };
static const char *beta_keys[] = { "modalities", "input_audio_format",
	"output_audio_format", "voice", "turn_detection",
	"input_audio_transcription", "input_audio_noise_reduction",
	"max_response_output_tokens", "temperature", "speed", NULL };
static const char *efforts[]
    = { "minimal", "low", "medium", "high", "xhigh", NULL };
static const char *input_keys[]
    = { "format", "turn_detection", "transcription", "noise_reduction", NULL };
static const char *output_keys[] = { "format", "voice", "speed", NULL };

static bool
in_list(const char *key, const char **list)
{
	for (; *list != NULL; list++)
		if (strcmp(key, *list) == 0)
			return (true);
	return (false);
}

static json_t *
server_vad_default(void)
{
	return (json_pack("{s:s, s:f, s:i, s:i, s:b, s:b, s:n}", "type",
	    "server_vad", "threshold", 0.5, "prefix_padding_ms", 300,
	    "silence_duration_ms", 500, "create_response", 1,
	    "interrupt_response", 1, "idle_timeout_ms"));
}

/* The GA defaults: what session.created shows before any update. */
json_t *
config_default(struct sess *s)
{
	json_t *cfg;

	cfg = json_pack(
	    "{s:s, s:s, s:s, s:s, s:[s], s:s, s:[], s:s, s:s, s:{s:{s:{s:s, "
	    "s:i}, s:o, s:n, s:n}, s:{s:{s:s, s:i}, s:s, s:f}}}",
	    "type", "realtime", "object", "realtime.session", "id", s->sess_id,
	    "model", s->model[0] != '\0' ? s->model : "gpt-realtime",
	    "output_modalities", "audio", "instructions", "", "tools",
	    "tool_choice", "auto", "max_output_tokens", "inf", "audio",
	    "input", "format", "type", "audio/pcm", "rate", 24000,
	    "turn_detection", server_vad_default(), "transcription",
	    "noise_reduction", "output", "format", "type", "audio/pcm", "rate",
	    24000, "voice", "marin", "speed", 1.0);
	s->create_response = true;
	s->interrupt_response = true;
	vad_configure(&s->vad, true, 0.5, 500);
	return (cfg);
}

static int
bad(struct sess *s, const char *eid, const char *param, const char *why)
{
	session_error(s, "invalid_value", param, eid,
	    "Invalid value for '%s': %s", param, why);
	return (-1);
}

static int
check_format(struct sess *s, const char *eid, json_t *fmt, const char *param)
{
	const char *type;

	if (fmt == NULL)
		return (0);
	type = json_string_value(json_object_get(fmt, "type"));
	if (type == NULL || strcmp(type, "audio/pcmu") != 0)
		return (bad(s, eid, param,
		    "this simulator supports only audio/pcmu."));
	return (0);
}

static int
check_flag(struct sess *s, const char *eid, json_t *td, const char *key)
{
	char    param[128];
	json_t *v = json_object_get(td, key);

	if (v == NULL || json_is_boolean(v))
		return (0);
	snprintf(param, sizeof(param),
	    P_SESSION "audio.input.turn_detection.%s", key);
	return (bad(s, eid, param, "expected a boolean."));
}

static int
check_turn_detection(struct sess *s, const char *eid, json_t *td)
{
	const char *type;
	json_t     *v;

	if (td == NULL || json_is_null(td))
		return (0);
	type = json_string_value(json_object_get(td, "type"));
	if (type == NULL
	    || (strcmp(type, "server_vad") != 0
	        && strcmp(type, "semantic_vad") != 0))
		return (
		    bad(s, eid, P_SESSION "audio.input.turn_detection.type",
		        "expected server_vad or semantic_vad."));
	v = json_object_get(td, "threshold");
	if (v != NULL
	    && (!json_is_number(v) || json_number_value(v) < 0
	        || json_number_value(v) > 1))
		return (bad(s, eid,
		    P_SESSION "audio.input.turn_detection.threshold",
		    "expected a number from 0 to 1."));
	v = json_object_get(td, "silence_duration_ms");
	if (v != NULL
	    && (!json_is_integer(v) || json_integer_value(v) < 0
	        || json_integer_value(v) > 60000))
		return (bad(s, eid,
		    P_SESSION "audio.input.turn_detection.silence_duration_ms",
		    "expected an integer from 0 to 60000."));
	if (check_flag(s, eid, td, "create_response") == -1
	    || check_flag(s, eid, td, "interrupt_response") == -1)
		return (-1);
	return (0);
}

static int
check_side(struct sess *s, const char *eid, json_t *side, const char *name,
    const char **keys)
{
	char        param[128];
	const char *k;
	json_t     *v;

	if (side == NULL)
		return (0);
	snprintf(param, sizeof(param), P_SESSION "audio.%s", name);
	if (!json_is_object(side))
		return (bad(s, eid, param, "expected an object."));
	json_object_foreach(side, k, v)
	{
		if (in_list(k, keys))
			continue;
		snprintf(
		    param, sizeof(param), P_SESSION "audio.%s.%s", name, k);
		session_error(s, "unknown_parameter", param, eid,
		    "Unknown parameter: '%s'.", param);
		return (-1);
	}
	v = json_object_get(json_object_get(side, "transcription"), "model");
	if (v != NULL
	    && !models_transcribe_known(
	        json_string_value(v) != NULL ? json_string_value(v) : ""))
		return (
		    bad(s, eid, P_SESSION "audio.input.transcription.model",
		        "not a transcription model this API serves."));
	snprintf(param, sizeof(param), P_SESSION "audio.%s.format.type", name);
	return (check_format(s, eid, json_object_get(side, "format"), param));
}

static int
check_voice(struct sess *s, const char *eid, json_t *output)
{
	json_t *voice = json_object_get(output, "voice"), *cur;

	if (voice == NULL)
		return (0);
	if (!json_is_string(voice) && !json_is_object(voice))
		return (bad(s, eid, P_SESSION "audio.output.voice",
		    "expected a voice name or {\"id\":...}."));
	cur = json_object_get(
	    json_object_get(json_object_get(s->cfg, "audio"), "output"),
	    "voice");
	if (s->nresponses > 0 && !json_equal(voice, cur))
		return (bad(s, eid, P_SESSION "audio.output.voice",
		    "cannot be changed once the model has spoken."));
	return (0);
}

static int
check_tools(struct sess *s, const char *eid, json_t *tools)
{
	char    param[64];
	json_t *t;
	size_t  i;

	if (tools == NULL)
		return (0);
	if (!json_is_array(tools))
		return (bad(s, eid, P_SESSION "tools", "expected an array."));
	json_array_foreach(tools, i, t)
	{
		snprintf(param, sizeof(param), P_SESSION "tools[%zu].name", i);
		if (!json_is_string(json_object_get(t, "name")))
			return (bad(s, eid, param, "a tool needs a name."));
	}
	return (0);
}

static int
check_top(struct sess *s, const char *eid, json_t *session)
{
	char        param[128];
	const char *k;
	json_t     *v, *m;

	json_object_foreach(session, k, v)
	{
		if (in_list(k, ga_keys))
			continue;
		snprintf(param, sizeof(param), P_SESSION "%s", k);
		session_error(s, "unknown_parameter", param, eid,
		    "Unknown parameter: '%s'.", param);
		return (-1);
	}
	k = json_string_value(json_object_get(session, "type"));
	if (k == NULL || strcmp(k, "realtime") != 0)
		return (bad(s, eid, P_SESSION "type",
		    "only realtime sessions are simulated."));
	v = json_object_get(session, "instructions");
	if (v != NULL && !json_is_string(v))
		return (bad(
		    s, eid, P_SESSION "instructions", "expected a string."));
	v = json_object_get(session, "model");
	m = json_object_get(s->cfg, "model");
	if (v != NULL && !json_equal(v, m))
		return (bad(s, eid, P_SESSION "model",
		    "the model cannot be changed."));
	/* Only the reasoning models (gpt-realtime-2 and later) take these. */
	m = json_object_get(s->cfg, "model");
	if (!models_realtime_reasons(json_string_value(m))
	    && ((k = "reasoning", json_object_get(session, k) != NULL)
	        || (k = "parallel_tool_calls",
	            json_object_get(session, k) != NULL))) {
		snprintf(param, sizeof(param), P_SESSION "%s", k);
		session_error(s, "unsupported_parameter", param, eid,
		    "Unsupported parameter: '%s' is not supported with "
		    "this model.",
		    param);
		return (-1);
	}
	v = json_object_get(json_object_get(session, "reasoning"), "effort");
	if (v != NULL
	    && !in_list(
	        json_string_value(v) != NULL ? json_string_value(v) : "",
	        efforts))
		return (bad(s, eid, P_SESSION "reasoning.effort",
		    "expected minimal, low, medium, high or xhigh."));
	v = json_object_get(session, "output_modalities");
	if (v != NULL && (!json_is_array(v) || json_array_size(v) != 1))
		return (bad(s, eid, P_SESSION "output_modalities",
		    "expected [\"audio\"] or [\"text\"]."));
	v = json_object_get(session, "audio");
	if (v != NULL && !json_is_object(v))
		return (bad(s, eid, P_SESSION "audio", "expected an object."));
	return (0);
}

static int
validate(struct sess *s, const char *eid, json_t *session)
{
	json_t *audio = json_object_get(session, "audio");
	json_t *in = json_object_get(audio, "input");
	json_t *out = json_object_get(audio, "output");

	if (check_top(s, eid, session) == -1
	    || check_side(s, eid, in, "input", input_keys) == -1
	    || check_side(s, eid, out, "output", output_keys) == -1
	    || check_turn_detection(
	           s, eid, json_object_get(in, "turn_detection"))
	        == -1
	    || check_voice(s, eid, out) == -1
	    || check_tools(s, eid, json_object_get(session, "tools")) == -1)
		return (-1);
	return (0);
}

/* A new turn_detection with every field the session will use. */
static json_t *
td_complete(json_t *td)
{
	const char *type = json_string_value(json_object_get(td, "type"));
	json_t     *full;

	if (json_is_null(td))
		return (json_null());
	if (strcmp(type, "semantic_vad") == 0)
		full = json_pack("{s:s, s:s, s:b, s:b}", "type",
		    "semantic_vad", "eagerness", "auto", "create_response", 1,
		    "interrupt_response", 1);
	else
		full = server_vad_default();
	json_object_update(full, td);
	return (full);
}

static void
merge(json_t *cfg, json_t *session)
{
	static const char *sides[] = { "input", "output", NULL };
	const char        *k, **side;
	json_t            *v, *src, *dst;

	json_object_foreach(session, k, v)
	{
		if (strcmp(k, "audio") != 0)
			json_object_set(cfg, k, v);
	}
	for (side = sides; *side != NULL; side++) {
		src = json_object_get(
		    json_object_get(session, "audio"), *side);
		dst = json_object_get(json_object_get(cfg, "audio"), *side);
		json_object_foreach(src, k, v)
		{
			if (strcmp(k, "turn_detection") == 0)
				json_object_set_new(dst, k, td_complete(v));
			else
				json_object_set(dst, k, v);
		}
	}
}

/* Semantic VAD waits like server VAD with the default silence here. */
static void
apply_vad(struct sess *s)
{
	json_t *td;

	td = json_object_get(
	    json_object_get(json_object_get(s->cfg, "audio"), "input"),
	    "turn_detection");
	if (!json_is_object(td)) {
		vad_configure(&s->vad, false, 0.5, 500);
		s->create_response = false;
		s->interrupt_response = false;
		return;
	}
	s->create_response
	    = json_is_true(json_object_get(td, "create_response"));
	s->interrupt_response
	    = json_is_true(json_object_get(td, "interrupt_response"));
	vad_configure(&s->vad, true,
	    json_object_get(td, "threshold") != NULL
	        ? json_number_value(json_object_get(td, "threshold"))
	        : 0.5,
	    json_object_get(td, "silence_duration_ms") != NULL
	        ? (int)json_integer_value(
	            json_object_get(td, "silence_duration_ms"))
	        : 500);
}

int
config_update(struct sess *s, json_t *session, const char *eid)
{
	const char *k;
	json_t     *v;

	if (!json_is_object(session)) {
		session_error(s, "missing_required_parameter", "session", eid,
		    "Missing required parameter: 'session'.");
		return (-1);
	}
	if (json_object_get(session, "type") == NULL)
		return (1);
	json_object_foreach(session, k, v)
	{
		if (in_list(k, beta_keys))
			return (1);
	}
	if (validate(s, eid, session) == -1)
		return (-1);
	merge(s->cfg, session);
	apply_vad(s);
	return (0);
}

/* What a test wants to assert about an update, whether valid or not. */
void
config_record(struct sess *s, json_t *session, const char *eid)
{
	json_t     *f, *names, *t, *audio, *in, *out, *v;
	const char *k;
	size_t      i;

	f = json_object();
	json_object_set(f, "session_type", json_object_get(session, "type"));
	if ((v = json_object_get(session, "instructions")) != NULL) {
		json_object_set_new(f, "instructions_len",
		    json_integer((json_int_t)json_string_length(v)));
		json_object_set(f, "instructions", v);
	}
	if ((v = json_object_get(session, "tools")) != NULL) {
		names = json_array();
		json_array_foreach(v, i, t)
		{
			json_array_append(names, json_object_get(t, "name"));
		}
		json_object_set_new(f, "tools", names);
	}
	audio = json_object_get(session, "audio");
	in = json_object_get(audio, "input");
	out = json_object_get(audio, "output");
	if ((v = json_object_get(in, "format")) != NULL)
		json_object_set(f, "input_format", v);
	if ((v = json_object_get(out, "format")) != NULL)
		json_object_set(f, "output_format", v);
	if ((v = json_object_get(out, "voice")) != NULL)
		json_object_set(f, "voice", v);
	if ((v = json_object_get(in, "transcription")) != NULL)
		json_object_set(f, "transcription", v);
	if ((v = json_object_get(in, "turn_detection")) != NULL)
		json_object_set(f, "turn_detection", v);
	names = json_array();
	json_object_foreach(session, k, v)
	{
		if (in_list(k, beta_keys))
			json_array_append_new(names, json_string(k));
	}
	json_object_set_new(f, "beta_keys", names);
	record_client(s, "session.update", eid, f);
}
