/*
 * models.c - the Models API (GET /v1/models, GET /v1/models/{id}) in the
 * real API's shapes: ModelInfo is {"type":"model","id","display_name",
 * "created_at"}, the list {"data":[...],"has_more","first_id","last_id"}.
 * Same checks as /v1/messages: x-api-key (401 authentication_error,
 * constant-time compare), anthropic-version (400); an id not served is
 * 404 not_found_error.  Served models: --models (comma-separated) or the
 * catalog's models that are not retired (catalog.c).  Answers count as
 * control requests in /sim/stats.  lws service thread only.
 */
#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>

#include "sim_anthropic.h"

/* Calls fn for every served id (not NUL-terminated: n bytes). */
static bool
each_model(bool (*fn)(const char *, size_t, void *), void *arg)
{
	const struct cat_model *m;
	const char             *p, *e;

	if (sim.models == NULL) {
		for (m = catalog_all(); m->name != NULL; m++)
			if ((m->flags & CAT_RETIRED) == 0
			    && fn(m->name, strlen(m->name), arg))
				return (true);
		return (false);
	}
	for (p = sim.models; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, ",");
		if (e > p && fn(p, (size_t)(e - p), arg))
			return (true);
	}
	return (false);
}

static bool
is_id(const char *id, size_t n, void *arg)
{
	const char *want = arg;

	return (strlen(want) == n && strncmp(want, id, n) == 0);
}

static json_t *
info(const char *id, size_t n)
{
	return (json_pack("{s:s, s:s%, s:s%, s:s}", "type", "model", "id", id,
	    n, "display_name", id, n, "created_at", "2026-02-05T00:00:00Z"));
}

static bool
add(const char *id, size_t n, void *arg)
{
	json_array_append_new(arg, info(id, n));
	return (false);
}

static bool
key_matches(const char *key)
{
	size_t n;

	if (key == NULL || *key == '\0')
		return (false);
	if (sim.api_key == NULL)
		return (true);
	n = strlen(sim.api_key);
	return (strlen(key) == n && CRYPTO_memcmp(key, sim.api_key, n) == 0);
}

void
sim_models(const char *key, const char *version, const char *path,
    struct sim_reply *r)
{
	json_t     *data;
	const char *id;
	size_t      n;

	if (!key_matches(key)) {
		sim_reply_error(
		    r, 401, "authentication_error", "invalid x-api-key");
		return;
	}
	if (version == NULL || strcmp(version, "2023-06-01") != 0) {
		sim_reply_error(r, 400, "invalid_request_error",
		    "anthropic-version: header is required");
		return;
	}
	if (strcmp(path, "/v1/models") == 0) {
		data = json_array();
		each_model(add, data);
		n = json_array_size(data);
		sim_reply_json(r, 200, KIND_CONTROL,
		    json_pack("{s:o, s:b, s:O?, s:O?}", "data", data,
		        "has_more", 0, "first_id",
		        json_object_get(json_array_get(data, 0), "id"),
		        "last_id",
		        json_object_get(json_array_get(data, n - 1), "id")));
		return;
	}
	id = path + strlen("/v1/models/");
	if (!each_model(is_id, (void *)id)) {
		char msg[300];

		snprintf(msg, sizeof(msg), "model: %.200s", id);
		sim_reply_error(r, 404, "not_found_error", msg);
		return;
	}
	sim_reply_json(r, 200, KIND_CONTROL, info(id, strlen(id)));
}
