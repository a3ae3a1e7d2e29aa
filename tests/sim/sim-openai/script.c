/*
 * script.c - what the simulated model says, from --script FILE:
 *
 *   {"steps": [
 *      {"say": "Hi, this is Sam.", "audio_ms": 1200},
 *      {"call": "consult_reasoner", "arguments": {"question": "..."}},
 *      {"say_output": true, "audio_ms": 800},
 *      {"call": "end_call", "arguments": {"reason": "done"}}],
 *    "heard": ["Yes, go ahead.", "Thursday is fine."]}
 *
 * Each step is one model response, taken in order.  "heard" gives the
 * transcripts reported for the caller's turns, in order.  Without a
 * script (or once it is used up) the model greets once and then gives a
 * generic reply per turn; unlisted caller turns read "(caller spoke N ms)".
 *
 * main thread at startup (load, free); lws service thread (lookups).
 */
#include <stdlib.h>
#include <string.h>

#include "oai.h"

#define MS_PER_CHAR 60 /* default speaking rate */
#define MIN_AUDIO_MS 400

static const struct step greeting
    = { STEP_SAY, "Hello, this is the simulated assistant. How can I help?",
	      1200, NULL, NULL };
static const struct step generic
    = { STEP_SAY, "I heard you. Is there anything else?", 1000, NULL, NULL };

static int
default_ms(const char *text)
{
	size_t ms = strlen(text) * MS_PER_CHAR;

	return (ms < MIN_AUDIO_MS ? MIN_AUDIO_MS : (int)ms);
}

static int
audio_ms(json_t *j, const char *text, const char *path, size_t i)
{
	json_t *v = json_object_get(j, "audio_ms");

	if (v == NULL)
		return (text != NULL ? default_ms(text) : 1000);
	if (!json_is_integer(v) || json_integer_value(v) <= 0
	    || json_integer_value(v) > 600000) {
		oai_log("error", "%s: steps[%zu].audio_ms must be 1..600000",
		    path, i);
		return (-1);
	}
	return ((int)json_integer_value(v));
}

static int
parse_call(struct step *st, json_t *j, const char *path, size_t i)
{
	json_t *args = json_object_get(j, "arguments");
	char   *text;

	st->kind = STEP_CALL;
	st->name = oai_strdup(json_string_value(json_object_get(j, "call")));
	if (args == NULL)
		st->arguments = oai_strdup("{}");
	else if (json_is_string(args))
		st->arguments = oai_strdup(json_string_value(args));
	else if (json_is_object(args)) {
		if ((text = json_dumps(args, JSON_COMPACT)) == NULL)
			return (-1);
		st->arguments = oai_strdup(text);
		free(text);
	} else {
		oai_log("error", "%s: steps[%zu].arguments must be an object",
		    path, i);
		return (-1);
	}
	return (0);
}

static int
parse_step(struct step *st, json_t *j, const char *path, size_t i)
{
	json_t *say = json_object_get(j, "say");

	if (!json_is_object(j)) {
		oai_log("error", "%s: steps[%zu] is not an object", path, i);
		return (-1);
	}
	if (json_is_string(json_object_get(j, "call")))
		return (parse_call(st, j, path, i));
	if (json_is_string(say)) {
		st->kind = STEP_SAY;
		st->text = oai_strdup(json_string_value(say));
		st->audio_ms = audio_ms(j, st->text, path, i);
		return (st->audio_ms < 0 ? -1 : 0);
	}
	if (json_is_true(json_object_get(j, "say_output"))) {
		st->kind = STEP_SAY_OUTPUT;
		st->audio_ms = audio_ms(j, NULL, path, i);
		return (st->audio_ms < 0 ? -1 : 0);
	}
	oai_log("error",
	    "%s: steps[%zu] needs \"say\", \"call\" or "
	    "\"say_output\":true",
	    path, i);
	return (-1);
}

static int
parse_heard(struct script *sc, json_t *heard, const char *path)
{
	json_t *v;
	size_t  i;

	if (heard == NULL)
		return (0);
	if (!json_is_array(heard)) {
		oai_log("error", "%s: \"heard\" must be an array", path);
		return (-1);
	}
	sc->heard = oai_calloc(json_array_size(heard) + 1, sizeof(char *));
	json_array_foreach(heard, i, v)
	{
		if (!json_is_string(v)) {
			oai_log("error", "%s: heard[%zu] is not a string",
			    path, i);
			return (-1);
		}
		sc->heard[i] = oai_strdup(json_string_value(v));
		sc->nheard = i + 1;
	}
	return (0);
}

int
script_load(struct script *sc, const char *path)
{
	json_error_t jerr;
	json_t      *root, *steps, *v;
	size_t       i;
	int          rv = -1;

	if ((root = json_load_file(path, 0, &jerr)) == NULL) {
		oai_log("error", "%s:%d:%d: %s", path, jerr.line, jerr.column,
		    jerr.text);
		return (-1);
	}
	steps = json_object_get(root, "steps");
	if (!json_is_object(root) || !json_is_array(steps)) {
		oai_log("error", "%s: expected {\"steps\":[...]}", path);
		goto out;
	}
	sc->steps = oai_calloc(json_array_size(steps) + 1, sizeof(*sc->steps));
	json_array_foreach(steps, i, v)
	{
		if (parse_step(&sc->steps[i], v, path, i) == -1)
			goto out;
		sc->nsteps = i + 1;
	}
	if (parse_heard(sc, json_object_get(root, "heard"), path) == -1)
		goto out;
	rv = 0;
out:
	json_decref(root);
	if (rv == -1)
		script_free(sc);
	return (rv);
}

void
script_free(struct script *sc)
{
	size_t i;

	if (sc->steps != NULL) {
		/* a step that failed half-way was counted in nsteps, or not */
		for (i = 0; i <= sc->nsteps; i++) {
			free(sc->steps[i].text);
			free(sc->steps[i].name);
			free(sc->steps[i].arguments);
		}
	}
	if (sc->heard != NULL)
		for (i = 0; i < sc->nheard; i++)
			free(sc->heard[i]);
	free(sc->steps);
	free(sc->heard);
	memset(sc, 0, sizeof(*sc));
}

const struct step *
script_step(const struct script *sc, int idx)
{
	if (idx >= 0 && (size_t)idx < sc->nsteps)
		return (&sc->steps[idx]);
	if (sc->nsteps == 0 && idx == 0)
		return (&greeting);
	return (&generic);
}

const char *
script_heard(const struct script *sc, int idx, uint64_t speech_ms, char *buf,
    size_t len)
{
	if (idx >= 0 && (size_t)idx < sc->nheard)
		return (sc->heard[idx]);
	snprintf(
	    buf, len, "(caller spoke %llu ms)", (unsigned long long)speech_ms);
	return (buf);
}
