/*
 * models.c - the Realtime and transcription models the simulated API
 * serves, as of 2026-12-04 (docs/providers.md has the sources: the
 * openai 7.60.0 package's model unions and deprecation notes, and the
 * model pages).  Deprecated models are still served until their
 * shutdown date; a name not listed gets the real service's answer for
 * an unknown model.  Pure; any thread.
 */
#include <string.h>

#include "oai.h"

struct rt_model {
	const char *name;
	int         flags;
};

/* Reasoning models take session.reasoning and parallel_tool_calls. */
#define REASONS 0x01
#define DEPRECATED 0x02 /* shutdown announced: 2027-01-20 */

static const struct rt_model realtime[] = { { "gpt-realtime-2", REASONS },
	{ "gpt-realtime-2.1", REASONS }, { "gpt-realtime-2.1-mini", REASONS },
	{ "gpt-realtime-1.5", 0 }, { "gpt-audio-1.5", 0 },
	{ "gpt-realtime", DEPRECATED },
	{ "gpt-realtime-2025-08-28", DEPRECATED },
	{ "gpt-realtime-mini", DEPRECATED },
	{ "gpt-realtime-mini-2025-10-06", 0 },
	{ "gpt-realtime-mini-2025-12-15", DEPRECATED },
	{ "gpt-audio-mini", DEPRECATED }, { "gpt-audio-mini-2025-10-06", 0 },
	{ "gpt-audio-mini-2025-12-15", DEPRECATED }, { NULL, 0 } };

/* Deprecated ones (shutdown 2027-02-26) are still served. */
static const char *const transcribe[] = { "gpt-realtime-whisper",
	"gpt-transcribe", "gpt-live-transcribe", "gpt-4o-transcribe",
	"gpt-4o-mini-transcribe", "gpt-4o-mini-transcribe-2025-12-15",
	"gpt-4o-transcribe-diarize", "whisper-1", NULL };

static const struct rt_model *
find(const char *name)
{
	size_t i;

	for (i = 0; realtime[i].name != NULL; i++)
		if (strcmp(realtime[i].name, name) == 0)
			return (&realtime[i]);
	return (NULL);
}

bool
models_realtime_known(const char *name)
{
	return (find(name) != NULL);
}

bool
models_realtime_reasons(const char *name)
{
	const struct rt_model *m = find(name);

	return (m != NULL && (m->flags & REASONS) != 0);
}

bool
models_transcribe_known(const char *name)
{
	size_t i;

	for (i = 0; transcribe[i] != NULL; i++)
		if (strcmp(transcribe[i], name) == 0)
			return (true);
	return (false);
}

/* The i-th model served, Realtime ones first; NULL past the last. */
const char *
models_nth(size_t i)
{
	size_t n;

	for (n = 0; realtime[n].name != NULL; n++)
		;
	if (i < n)
		return (realtime[i].name);
	i -= n;
	for (n = 0; transcribe[n] != NULL; n++)
		if (n == i)
			return (transcribe[n]);
	return (NULL);
}
