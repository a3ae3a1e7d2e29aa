/*
 * doctor_reasoner - the reasoner's settings (its own table and checks)
 * and the Anthropic key and model: GET /v1/models/{model} answers 200
 * for a model this key may use, 401 for a refused key, 404 for a model
 * that does not exist (or no longer does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callctl.h"
#include "cfg.h"
#include "../reasoner/reasoner.h"
#include "xmalloc.h"

static struct reasoner_cfg rc;
static int                 loaded;

int
doctor_reasoner_load(void)
{
	if (cfg_load(reasoner_cfg_opts, &rc) == -1 || config_check(&rc) == -1)
		return (-1);
	doc_secret(rc.api_key);
	loaded = 1;
	return (0);
}

void
doctor_anthropic(struct doc_check *c)
{
	struct doc_http h;
	char           *url, *key, *ver;
	const char     *hdr[3];

	if (!loaded) {
		doc_fail(c, "key", "correct the reasoner's settings first",
		    "not checked: the reasoner's settings are invalid");
		return;
	}
	url = xasprintf("%s/v1/models/%s", rc.base_url, rc.model);
	key = xasprintf("x-api-key: %s", rc.api_key);
	ver = xasprintf("anthropic-version: %s", rc.api_version);
	hdr[0] = key;
	hdr[1] = ver;
	hdr[2] = NULL;
	if (doc_get(url, hdr, NULL, NULL, NULL, &h) == -1)
		doc_fail(c, "key",
		    "check ANTHROPIC_BASE_URL and that this host reaches it",
		    "no answer from %s: %s", rc.base_url, h.err);
	else if (h.status == 401 || h.status == 403)
		doc_fail(c, "key",
		    "set ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY_FILE) to a "
		    "current key from console.anthropic.com",
		    "key refused (HTTP %ld)", h.status);
	else if (h.status == 404) {
		doc_ok(c, "key", "key accepted");
		doc_fail(c, "model",
		    "set ANTHROPIC_MODEL to a current model id (GET "
		    "/v1/models lists them)",
		    "model %s not available: %s", rc.model,
		    doc_api_message(h.body));
	} else if (h.status != 200)
		doc_fail(c, "key", "see the provider's status page; retry",
		    "GET /v1/models/%s answered %ld: %s", rc.model, h.status,
		    doc_api_message(h.body));
	else {
		doc_ok(c, "key", "key accepted");
		doc_ok(c, "model", "%s available", rc.model);
	}
	doc_http_free(&h);
	free(url);
	free(key);
	free(ver);
}
