/*
 * tel.c - the registry of telephony providers (tel.h) and what their
 * answers share: the <Connect><Stream> document and form encoding.
 *
 * Pure; any thread.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "edge.h"
#include "tel.h"
#include "xmalloc.h"

/* Every provider media-edge speaks: one line each. */
static const struct tel_provider *const tel_providers[] = {
	&tel_twilio,
	&tel_signalwire,
	&tel_telnyx,
	NULL,
};

const char *const tel_twiml_end_statuses[]
    = { "completed", "busy", "failed", "no-answer", "canceled", NULL };

const struct tel_provider *
tel_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && tel_providers[i] != NULL; i++)
		if (strcmp(tel_providers[i]->name, name) == 0)
			return (tel_providers[i]);
	return (NULL);
}

bool
tel_sid_ok(const struct tel_provider *p, const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return (false);
	for (; s[n] != '\0'; n++)
		if (!((s[n] >= 'A' && s[n] <= 'Z')
		        || (s[n] >= 'a' && s[n] <= 'z')
		        || (s[n] >= '0' && s[n] <= '9') || s[n] == '-'
		        || s[n] == '_' || strchr(p->sid_extra, s[n]) != NULL))
			return (false);
	return (n > 0 && n < EDGE_SID_MAX);
}

const char *
tel_names(void)
{
	static char names[128];
	size_t      i, n = 0;

	if (names[0] != '\0')
		return (names);
	for (i = 0; tel_providers[i] != NULL && n < sizeof(names); i++)
		n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s",
		    i > 0 ? ", " : "", tel_providers[i]->name);
	return (names);
}

int
tel_connect_stream(const struct tel_answer *a, const char *attrs, char **docp)
{
	bool ab = a->answered_by[0] != '\0';

	*docp = xasprintf(
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>"
	    "<Connect><Stream url=\"%s\"%s><Parameter name=\"token\" "
	    "value=\"%s\"/><Parameter name=\"direction\" value=\"%s\"/>"
	    "%s%s%s</Stream></Connect></Response>",
	    a->stream_url, attrs, a->token, a->direction,
	    ab ? "<Parameter name=\"answered_by\" value=\"" : "",
	    a->answered_by, ab ? "\"/>" : "");
	return (0);
}

int
tel_json_sid(const char *resp, const char *const *keys, char *sid, size_t len)
{
	json_t     *o = json_loads(resp != NULL ? resp : "", 0, NULL);
	const char *s = NULL;
	int         rv = -1;

	for (; s == NULL && *keys != NULL; keys++)
		s = json_string_value(json_object_get(o, *keys));
	if (s != NULL && strlen(s) < len) {
		snprintf(sid, len, "%s", s);
		rv = 0;
	}
	json_decref(o);
	return (rv);
}

void
tel_form_add(char **body, const char *name, const char *value)
{
	/* the handle is ignored since libcurl 7.82 */
	char *v = curl_easy_escape(NULL, value, 0), *n;

	n = xasprintf("%s%s%s=%s", *body != NULL ? *body : "",
	    *body != NULL ? "&" : "", name, v != NULL ? v : "");
	curl_free(v);
	free(*body);
	*body = n;
}
