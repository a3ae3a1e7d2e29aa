/*
 * catalog.c - the models the simulated Messages API serves, and what each
 * one refuses, as of 2026-12-04 (docs/providers.md has the sources: the
 * @anthropic-ai/sdk 1.17.0 Model union and DEPRECATED_MODELS table, and
 * the models overview, deprecations and Sonnet 5.5 migration pages).
 *
 * A model not in the table, or retired, is answered 404 not_found_error
 * "model: <name>", as the real API does.  Pure; any thread.
 */
#include <string.h>

#include "sim_anthropic.h"

/* Models released after Claude Opus 4.6 refuse non-default sampling. */
#define NEW (CAT_NO_SAMPLING)
/* The 5.5 generation also refuses a forced tool and disabled thinking. */
#define GEN55 (CAT_NO_SAMPLING | CAT_NO_FORCED_TOOL | CAT_NO_THINKING_OFF)

static const struct cat_model models[] = { { "claude-fable-5-2", GEN55 },
	{ "claude-mythos-5-2", GEN55 }, { "claude-haiku-5-5", GEN55 },
	{ "claude-sonnet-5-5", GEN55 }, { "claude-opus-5-5", GEN55 },
	{ "claude-fable-5-1", NEW }, { "claude-mythos-5-1", NEW },
	{ "claude-sonnet-5", NEW }, { "claude-fable-5", NEW },
	{ "claude-mythos-5", NEW }, { "claude-opus-5", NEW },
	{ "claude-opus-4-8", NEW }, { "claude-opus-4-7", NEW },
	{ "claude-opus-4-6", 0 }, { "claude-sonnet-4-6", 0 },
	{ "claude-haiku-4-5", CAT_NO_EFFORT },
	{ "claude-haiku-4-5-20251001", CAT_NO_EFFORT },
	/* deprecated: served until 2027-01-22 */
	{ "claude-opus-4-5", CAT_DEPRECATED },
	{ "claude-opus-4-5-20251101", CAT_DEPRECATED },
	/* retired: 404, like a name that never existed */
	{ "claude-sonnet-4-5", CAT_RETIRED },
	{ "claude-sonnet-4-5-20250929", CAT_RETIRED },
	{ "claude-mythos-preview", CAT_RETIRED },
	{ "claude-opus-4-1", CAT_RETIRED },
	{ "claude-opus-4-1-20250805", CAT_RETIRED },
	{ "claude-sonnet-4-0", CAT_RETIRED },
	{ "claude-sonnet-4-20250514", CAT_RETIRED },
	{ "claude-opus-4-0", CAT_RETIRED },
	{ "claude-opus-4-20250514", CAT_RETIRED },
	{ "claude-3-7-sonnet-latest", CAT_RETIRED },
	{ "claude-3-5-haiku-latest", CAT_RETIRED }, { NULL, 0 } };

const struct cat_model *
catalog_all(void)
{
	return (models);
}

const struct cat_model *
catalog_find(const char *name)
{
	size_t i;

	for (i = 0; models[i].name != NULL; i++)
		if (strcmp(models[i].name, name) == 0)
			return (&models[i]);
	return (NULL);
}

/* A value other than the default (1.0 for temperature) counts as set. */
static const char *
sampling_field(json_t *root)
{
	json_t *t = json_object_get(root, "temperature");

	if (t != NULL && !(json_is_number(t) && json_number_value(t) == 1.0))
		return ("temperature");
	if (json_object_get(root, "top_p") != NULL)
		return ("top_p");
	if (json_object_get(root, "top_k") != NULL)
		return ("top_k");
	return (NULL);
}

int
catalog_check(
    json_t *root, const char *model, int *status, char *err, size_t errlen)
{
	const struct cat_model *m = catalog_find(model);
	const char             *f, *t;
	json_t                 *v;

	if (m == NULL || (m->flags & CAT_RETIRED) != 0) {
		*status = 404;
		snprintf(err, errlen, "model: %s", model);
		return (-1);
	}
	*status = 400;
	if ((m->flags & CAT_NO_SAMPLING) != 0
	    && (f = sampling_field(root)) != NULL) {
		snprintf(err, errlen,
		    "%s: only the default value is supported for %s; "
		    "remove it",
		    f, model);
		return (-1);
	}
	t = json_string_value(
	    json_object_get(json_object_get(root, "tool_choice"), "type"));
	if ((m->flags & CAT_NO_FORCED_TOOL) != 0 && t != NULL
	    && (strcmp(t, "tool") == 0 || strcmp(t, "any") == 0)) {
		snprintf(err, errlen,
		    "tool_choice.type: \"%s\" (forced tool use) is not "
		    "supported for %s; use \"auto\" or "
		    "output_config.format",
		    t, model);
		return (-1);
	}
	t = json_string_value(
	    json_object_get(json_object_get(root, "thinking"), "type"));
	if ((m->flags & CAT_NO_THINKING_OFF) != 0 && t != NULL
	    && strcmp(t, "disabled") == 0) {
		snprintf(err, errlen,
		    "thinking.type.disabled is not supported for %s; use "
		    "\"between_tools\"",
		    model);
		return (-1);
	}
	v = json_object_get(json_object_get(root, "output_config"), "effort");
	if ((m->flags & CAT_NO_EFFORT) != 0 && v != NULL) {
		snprintf(err, errlen,
		    "output_config.effort: not supported for %s", model);
		return (-1);
	}
	return (0);
}
