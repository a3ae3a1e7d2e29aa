/*
 * capture.c - see capture.h.  The shape signature is a string of
 * "path:type" items in key order, hashed (FNV-1a 64) and kept in a
 * small table; a string value keyed "type" or "role" is part of the
 * signature, so each member of a discriminated union is kept once, and
 * a TwiML document's markup (not its attribute values) is too.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"

#define CUT 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t        seen[CAPTURE_MAX]; /* {lock} */
static int             nseen; /* {lock} */
static FILE           *out; /* {lock} */
static int             state; /* {lock} 0 unknown, 1 on, -1 off */

static uint64_t
fnv(uint64_t h, const char *s)
{
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return (h);
}

static const char *
type_name(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return ("o");
	case JSON_ARRAY:
		return ("a");
	case JSON_STRING:
		return ("s");
	case JSON_INTEGER:
		return ("i");
	case JSON_REAL:
		return ("r");
	case JSON_TRUE:
	case JSON_FALSE:
		return ("b");
	default:
		return ("n");
	}
}

/* A TwiML document's shape: its text outside attribute values (verbs,
 * nesting, attribute names), so a token or a URL does not make it new. */
static uint64_t
markup_shape(uint64_t h, const char *s)
{
	char one[2] = { 0, 0 };
	int  quoted = 0;

	for (; *s != '\0'; s++) {
		if (*s == '"')
			quoted = !quoted;
		else if (!quoted) {
			one[0] = *s;
			h = fnv(h, one);
		}
	}
	return (h);
}

/* Signature of v at path into h; strings longer than CUT are cut. */
static uint64_t
shape(uint64_t h, const char *path, const char *key, json_t *v)
{
	const char *k, *s;
	json_t     *e;
	size_t      i;
	char        sub[256];

	h = fnv(fnv(fnv(h, path), ":"), type_name(v));
	if (json_is_string(v) && key != NULL
	    && (strcmp(key, "type") == 0 || strcmp(key, "role") == 0))
		h = fnv(fnv(h, "="), json_string_value(v));
	if (json_is_object(v))
		json_object_foreach(v, k, e)
		{
			snprintf(sub, sizeof(sub), "%s.%s", path, k);
			h = shape(h, sub, k, e);
		}
	if (json_is_array(v))
		json_array_foreach(v, i, e)
		{
			snprintf(sub, sizeof(sub), "%s[]", path);
			h = shape(h, sub, NULL, e);
		}
	if (json_is_string(v) && (s = json_string_value(v)) != NULL
	    && key != NULL && strcmp(key, "twiml") == 0)
		h = markup_shape(h, s);
	else if (json_is_string(v) && (s = json_string_value(v)) != NULL
	    && strlen(s) > CUT)
		h = fnv(h, "+"); /* long and short strings differ in shape */
	return (h);
}

/* A copy with long strings cut (at a UTF-8 boundary); a TwiML document
 * (key "twiml") is kept whole: it is compared, not only typed. */
static json_t *
cut(const char *key, json_t *v)
{
	const char *k, *s;
	json_t     *c, *e;
	size_t      i, n;

	if (json_is_object(v)) {
		c = json_object();
		json_object_foreach(v, k, e)
		    json_object_set_new(c, k, cut(k, e));
		return (c);
	}
	if (json_is_array(v)) {
		c = json_array();
		json_array_foreach(v, i, e)
		    json_array_append_new(c, cut(NULL, e));
		return (c);
	}
	if (json_is_string(v) && (s = json_string_value(v)) != NULL
	    && (n = strlen(s)) > CUT
	    && (key == NULL || strcmp(key, "twiml") != 0)) {
		n = CUT;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		return (json_stringn(s, n));
	}
	return (json_deep_copy(v));
}

static int
open_out(const char *svc)
{
	const char *dir = getenv("SIM_CAPTURE_DIR");
	char        path[1024];

	if (dir == NULL || *dir == '\0')
		return (-1);
	snprintf(
	    path, sizeof(path), "%s/%s.%ld.jsonl", dir, svc, (long)getpid());
	if ((out = fopen(path, "a")) == NULL) {
		fprintf(stderr, "%s: capture: cannot open %s\n", svc, path);
		return (-1);
	}
	return (0);
}

void
capture_json(const char *svc, const char *api, const char *kind, json_t *body)
{
	json_t  *line;
	uint64_t h;
	char    *s;
	int      i;

	if (body == NULL)
		return;
	pthread_mutex_lock(&lock);
	if (state == 0)
		state = open_out(svc) == 0 ? 1 : -1;
	if (state != 1 || nseen >= CAPTURE_MAX)
		goto out;
	h = shape(fnv(fnv(0xcbf29ce484222325ULL, api), kind), "", NULL, body);
	for (i = 0; i < nseen; i++)
		if (seen[i] == h)
			goto out;
	seen[nseen++] = h;
	line = json_pack("{s:s, s:s, s:o}", "api", api, "kind", kind, "body",
	    cut(NULL, body));
	if (line != NULL
	    && (s = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER))
	        != NULL) {
		fprintf(out, "%s\n", s);
		fflush(out);
		free(s);
	}
	json_decref(line);
out:
	pthread_mutex_unlock(&lock);
}
