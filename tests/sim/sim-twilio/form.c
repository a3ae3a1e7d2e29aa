/*
 * form - application/x-www-form-urlencoded bodies, the way the provider's
 * REST API takes them and its webhooks send them: repeated names allowed
 * (StatusCallbackEvent), '+' is a space, %XX decoded (libcurl does the
 * percent coding).  Any thread, one form per thread at a time.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "twilio.h"

void
form_add(struct form *f, const char *name, const char *value)
{
	if (f->n == f->cap) {
		f->cap = f->cap == 0 ? 16 : f->cap * 2;
		f->v = stream_xrealloc(f->v, f->cap, sizeof(*f->v));
	}
	f->v[f->n].name = stream_xstrdup(name);
	f->v[f->n].value = stream_xstrdup(value);
	f->n++;
}

/* Decodes s[0..len) into a new string, or NULL if curl refuses it. */
static char *
decode(const char *s, size_t len)
{
	char  *plus, *out, *r;
	int    outlen = 0;
	size_t i;

	plus = stream_xcalloc(len + 1, 1);
	for (i = 0; i < len; i++)
		plus[i] = s[i] == '+' ? ' ' : s[i];
	out = curl_easy_unescape(NULL, plus, (int)len, &outlen);
	free(plus);
	if (out == NULL)
		return (NULL);
	r = stream_xstrdup(out); /* stops at an embedded NUL */
	curl_free(out);
	return (r);
}

int
form_parse(struct form *f, const char *body, size_t len)
{
	const char *p = body, *end = body + len, *amp, *eq;
	char       *name, *value;

	while (p < end) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if (amp > p) {
			if ((eq = memchr(p, '=', (size_t)(amp - p))) == NULL)
				eq = amp;
			name = decode(p, (size_t)(eq - p));
			value = decode(eq < amp ? eq + 1 : amp,
			    eq < amp ? (size_t)(amp - eq - 1) : 0);
			if (name == NULL || value == NULL) {
				free(name);
				free(value);
				return (-1);
			}
			form_add(f, name, value);
			free(name);
			free(value);
		}
		p = amp + 1;
	}
	return (0);
}

const char *
form_get(const struct form *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->v[i].name, name) == 0)
			return (f->v[i].value);
	return (NULL);
}

char *
form_encode(const struct form *f)
{
	char  *buf = NULL, *n, *v;
	size_t len = 0, need, i;

	buf = stream_xcalloc(1, 1);
	for (i = 0; i < f->n; i++) {
		n = curl_easy_escape(NULL, f->v[i].name, 0);
		v = curl_easy_escape(NULL, f->v[i].value, 0);
		if (n == NULL || v == NULL) {
			stream_log("error", "form: escape failed");
			abort();
		}
		need = len + strlen(n) + strlen(v) + 3;
		buf = stream_xrealloc(buf, need, 1);
		len += (size_t)snprintf(
		    buf + len, need - len, "%s%s=%s", i > 0 ? "&" : "", n, v);
		curl_free(n);
		curl_free(v);
	}
	return (buf);
}

json_t *
form_json(const struct form *f)
{
	json_t *o = json_object(), *old, *arr;
	size_t  i;

	for (i = 0; i < f->n; i++) {
		old = json_object_get(o, f->v[i].name);
		if (old == NULL) {
			json_object_set_new(
			    o, f->v[i].name, json_string(f->v[i].value));
			continue;
		}
		if (!json_is_array(old)) { /* second value: make a list */
			arr = json_array();
			json_array_append(arr, old);
			json_object_set_new(o, f->v[i].name, arr);
			old = arr;
		}
		json_array_append_new(old, json_string(f->v[i].value));
	}
	return (o);
}

void
form_free(struct form *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		free((char *)f->v[i].name);
		free((char *)f->v[i].value);
	}
	free(f->v);
	memset(f, 0, sizeof(*f));
}
