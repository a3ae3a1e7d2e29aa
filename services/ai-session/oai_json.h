/*
 * oai_json - the JSON of the OpenAI Realtime API; see oai_json.c.
 * Pure functions, any thread.  Strings returned are the caller's to
 * free(); NULL means the input could not be encoded (invalid UTF-8).
 */
#ifndef OAI_JSON_H
#define OAI_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt.h"

struct oai_span {
	const char *p; /* NULL: absent */
	size_t      n;
};

struct oai_fields {
	struct oai_span type;
	struct oai_span delta;
	struct oai_span item_id;
	struct oai_span response_id;
};

/* 0 and the spans (pointing into buf) if buf is one object whose
 * wanted members are plain strings; -1: parse it with jansson. */
int  oai_scan(const char *buf, size_t len, struct oai_fields *);
bool oai_span_is(const struct oai_span *, const char *lit);

/* input_audio_buffer.append of n bytes into out; its length, or 0 if
 * outlen is too small. */
size_t oai_append(char *out, size_t outlen, const uint8_t *audio, size_t n);
char  *oai_session_update(const struct rt_session *);
char  *oai_truncate(const char *item_id, unsigned ms);
char  *oai_tool_output(const char *call_id, const char *output);
/* response.create; instructions NULL: the session's. */
char *oai_response_create(const char *instructions);
char *oai_system_text(const char *text);
/* conversation.item.create: a user message of input_text. */
char *oai_user_text(const char *text);

#endif
