/*
 * models_api.c - the Models API beside the Realtime socket, in the real
 * API's shapes:
 *
 *   GET /v1/models        {"object":"list","data":[model, ...]}
 *   GET /v1/models/{id}   {"id","object":"model","created","owned_by"}
 *
 * With --api-key, Authorization: Bearer must carry it (constant-time
 * compare), else 401 {"error":{...,"code":"invalid_api_key"}} (the key
 * itself is never echoed, unlike the real service's masked copy).  An id
 * not in the list is 404 {"error":{...,"code":"model_not_found"}}.  The
 * list is --models (comma-separated) or the catalog in models.c: the models
 * the real API serves today (shutdown announced for some, none retired).
 * Answered at once from the HTTP callback.  lws service thread only.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "oai.h"

/* Is id one of the models served? */
static bool
known(const struct sim *sim, const char *id)
{
	const char *p, *e;
	size_t      n = strlen(id);

	if (sim->opt.models == NULL)
		return (
		    models_realtime_known(id) || models_transcribe_known(id));
	for (p = sim->opt.models; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, ",");
		if ((size_t)(e - p) == n && strncmp(p, id, n) == 0)
			return (true);
	}
	return (false);
}

static json_t *
model_json(const char *id, size_t n)
{
	return (json_pack("{s:s%, s:s, s:i, s:s}", "id", id, n, "object",
	    "model", "created", 1756339200, "owned_by", "system"));
}

static json_t *
list_json(const struct sim *sim)
{
	json_t     *data = json_array();
	const char *p, *e, *id;
	size_t      i;

	if (sim->opt.models == NULL)
		for (i = 0; (id = models_nth(i)) != NULL; i++)
			json_array_append_new(
			    data, model_json(id, strlen(id)));
	else
		for (p = sim->opt.models; *p != '\0';
		     p = *e != '\0' ? e + 1 : e) {
			e = p + strcspn(p, ",");
			if (e > p)
				json_array_append_new(
				    data, model_json(p, (size_t)(e - p)));
		}
	return (json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static json_t *
error_json(const char *message, const char *param, const char *code)
{
	return (json_pack("{s:{s:s, s:s, s:s?, s:s?}}", "error", "message",
	    message, "type", "invalid_request_error", "param", param, "code",
	    code));
}

static bool
authorized(struct lws *wsi, const struct sim *sim)
{
	char   auth[1024];
	size_t klen;
	int    n;

	if (sim->opt.api_key == NULL)
		return (true);
	n = lws_hdr_copy(
	    wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION);
	klen = strlen(sim->opt.api_key);
	return (n >= 7 && strncmp(auth, "Bearer ", 7) == 0
	    && (size_t)n - 7 == klen
	    && CRYPTO_memcmp(auth + 7, sim->opt.api_key, klen) == 0);
}

/* Headers and body in one go: the answers are small. */
static int
answer(struct lws *wsi, unsigned status, json_t *body)
{
	unsigned char  hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *q = start;
	unsigned char *end = hdr + sizeof(hdr) - 1, *buf;
	char          *s = json_dumps(body, JSON_COMPACT);
	size_t         n = s != NULL ? strlen(s) : 0;
	int            rv = -1;

	json_decref(body);
	if (s == NULL)
		return (-1);
	buf = oai_calloc(1, LWS_PRE + n);
	memcpy(buf + LWS_PRE, s, n);
	if (lws_add_http_common_headers(
	        wsi, status, "application/json", n, &q, end)
	        == 0
	    && lws_finalize_write_http_header(wsi, start, &q, end) == 0
	    && lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_HTTP_FINAL)
	        == (int)n)
		rv = lws_http_transaction_completed(wsi) != 0 ? -1 : 0;
	free(buf);
	free(s);
	return (rv);
}

int
models_http(struct lws *wsi, struct sim *sim, const char *uri)
{
	const char *id;
	char        msg[300];

	if (strcmp(uri, "/v1/models") != 0
	    && strncmp(uri, "/v1/models/", 11) != 0)
		return (1);
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) == 0)
		return (answer(
		    wsi, 405, error_json("Method not allowed.", NULL, NULL)));
	if (!authorized(wsi, sim)) {
		oai_log("info", "models: 401 (missing or wrong API key)");
		return (answer(wsi, 401,
		    error_json("Incorrect API key provided. You can find your "
		               "API key at "
		               "https://platform.openai.com/account/api-keys.",
		        NULL, "invalid_api_key")));
	}
	if (strcmp(uri, "/v1/models") == 0)
		return (answer(wsi, 200, list_json(sim)));
	id = uri + 11;
	if (!known(sim, id)) {
		snprintf(msg, sizeof(msg),
		    "The model '%.200s' does not exist or you do not have "
		    "access to it.",
		    id);
		oai_log("info", "models: 404 for an unknown model");
		return (answer(
		    wsi, 404, error_json(msg, "model", "model_not_found")));
	}
	return (answer(wsi, 200, model_json(id, strlen(id))));
}
