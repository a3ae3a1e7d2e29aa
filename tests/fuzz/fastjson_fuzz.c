/*
 * fastjson_fuzz - differential: media-edge's allocation-free `media`
 * reader (fastjson.c) against jansson, which is what stream.c falls back
 * to.  Whenever fj_media() takes a message, jansson must read the same
 * message as a `media` event with the same payload bytes and the same
 * timestamp; any difference aborts.  Declining (-1) is always allowed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../services/media-edge/edge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch[EDGE_MAX_MSG];

/* fastjson.c's stream_media_fast() hands over to stream.c; this target
 * calls fj_media() alone (stream_fuzz runs the two together). */
void
stream_media(
    struct call *c, const char *b64, size_t len, uint32_t ts, bool have_ts)
{
	abort();
}

static void
differ(const char *what)
{
	fprintf(stderr, "fuzz: fastjson and jansson differ: %s\n", what);
	abort();
}

/* stream.c num_field(): an integer >= 0, or a string of digits. */
static int
slow_ts(json_t *t, uint32_t *ts)
{
	const char *s;
	char       *end;

	if (json_is_integer(t) && json_integer_value(t) >= 0) {
		*ts = (uint32_t)json_integer_value(t);
		return (1);
	}
	if ((s = json_string_value(t)) == NULL || *s == '\0')
		return (0);
	*ts = (uint32_t)strtoul(s, &end, 10);
	return (*end == '\0');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fj_media m;
	json_error_t    err;
	json_t         *root, *media, *p;
	const char     *ev;
	uint32_t        ts = 0;
	int             have;

	if (size > EDGE_MAX_MSG)
		return (0);
	if (fj_media((const char *)data, size, scratch, sizeof(scratch), &m)
	    == -1)
		return (0);
	/* the slow path of stream_message() */
	if ((root = json_loadb((const char *)data, size, 0, &err)) == NULL)
		differ(err.text);
	if (!json_is_object(root))
		differ("not an object");
	ev = json_string_value(json_object_get(root, "event"));
	if (ev == NULL || strcmp(ev, "media") != 0)
		differ("event is not \"media\"");
	media = json_object_get(root, "media");
	if (!json_is_string(p = json_object_get(media, "payload")))
		differ("media.payload is not a string");
	if (json_string_length(p) != m.len
	    || memcmp(json_string_value(p), m.payload, m.len) != 0)
		differ("media.payload");
	have = slow_ts(json_object_get(media, "timestamp"), &ts);
	if (have != m.have_ts || (have && ts != m.ts))
		differ("media.timestamp");
	json_decref(root);
	return (0);
}
