/*
 * callctl decode: a captured message (a request/reply body, or a pub/sub
 * message with its "<topic>\0" prefix) printed as JSON.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "callctl.h"
#include "pbjson.h"
#include "wire.h"
#include "xmalloc.h"

#define DECODE_MAX (16 * 1024 * 1024)

void
print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);

	if (s != NULL) {
		puts(s);
		fflush(stdout);
		free(s);
	}
	json_decref(j);
}

/* The name of a batch item's type, as the envelope's type names go. */
const char *
batch_item_type(const Bus__BatchItem *it)
{
	switch (it->item_case) {
	case BUS__BATCH_ITEM__ITEM_AUDIO:
		return ("audio");
	case BUS__BATCH_ITEM__ITEM_MARK:
		return ("mark");
	case BUS__BATCH_ITEM__ITEM_MARK_ECHO:
		return ("mark_echo");
	case BUS__BATCH_ITEM__ITEM_CLEAR:
		return ("clear");
	case BUS__BATCH_ITEM__ITEM_DTMF:
		return ("dtmf");
	case BUS__BATCH_ITEM__ITEM_AUDIO_ACK:
		return ("audio_ack");
	default:
		return ("none");
	}
}

/* j (a decoded AudioFrame): the payload as its length only. */
static void
audio_summary(json_t *j, const Bus__AudioFrame *af)
{
	json_object_set_new(j, "payload",
	    json_pack("{s:I}", "bytes", (json_int_t)af->payload.len));
}

json_t *
batch_item_json(const Bus__BatchItem *it, int with_payload)
{
	json_t *j = pbjson_from_pb(&it->base);

	json_object_set_new(j, "type", json_string(batch_item_type(it)));
	if (!with_payload && it->item_case == BUS__BATCH_ITEM__ITEM_AUDIO)
		audio_summary(json_object_get(j, "audio"), it->audio);
	return (j);
}

/* An AudioBatch: each item with its type, payloads summarised unless
 * with_payload, and the item count. */
static void
batch_json(json_t *j, const Bus__AudioBatch *ab, int with_payload)
{
	json_t *items = json_array();
	size_t  i;

	for (i = 0; i < ab->n_items; i++)
		json_array_append_new(
		    items, batch_item_json(ab->items[i], with_payload));
	json_object_set_new(j, "audio_batch",
	    json_pack("{s:I,s:o}", "n_items", (json_int_t)ab->n_items, "items",
	        items));
}

json_t *
envelope_json(const Bus__Envelope *env, int with_payload)
{
	json_t *j = pbjson_from_pb(&env->base);

	json_object_set_new(
	    j, "type", json_string(wire_type_name(env->body_case)));
	if (!with_payload && env->body_case == BUS__ENVELOPE__BODY_AUDIO)
		audio_summary(json_object_get(j, "audio"), env->audio);
	if (env->body_case == BUS__ENVELOPE__BODY_AUDIO_BATCH)
		batch_json(j, env->audio_batch, with_payload);
	return (j);
}

/* A pub message starts with a printable topic and a NUL. */
static size_t
topic_len(const unsigned char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len && i < 256; i++) {
		if (buf[i] == '\0')
			return (i);
		if (!isprint(buf[i]))
			return ((size_t)-1);
	}
	return ((size_t)-1);
}

int
cmd_decode(int argc, char *argv[])
{
	FILE          *f = stdin;
	unsigned char *buf = xmalloc(DECODE_MAX);
	Bus__Envelope *env;
	json_t        *j;
	size_t         len, off = 0, tl;
	int            i, rv, mode = 0; /* 0 auto, 1 pub, 2 req */

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--pub") == 0)
			mode = 1;
		else if (strcmp(argv[i], "--req") == 0)
			mode = 2;
		else if (strcmp(argv[i], "-") != 0
		    && (f = fopen(argv[i], "rb")) == NULL) {
			perror(argv[i]);
			free(buf);
			return (EX_NOINPUT);
		}
	}
	len = fread(buf, 1, DECODE_MAX, f);
	if (f != stdin)
		fclose(f);
	tl = topic_len(buf, len);
	if (mode == 1 || (mode == 0 && tl != (size_t)-1 && tl > 0))
		off = tl == (size_t)-1 ? 0 : tl + 1;
	if ((rv = wire_unpack_buf(buf + off, len - off, &env))
	    == NNG_EMSGSIZE) {
		fprintf(stderr, "callctl: refused: %s\n", wire_refusal());
		free(buf);
		return (EX_DATAERR);
	}
	if (rv != 0) {
		fprintf(stderr,
		    "callctl: %zu bytes are not a bus.Envelope%s\n", len,
		    mode == 0 ? " (try --pub or --req)" : "");
		free(buf);
		return (EX_DATAERR);
	}
	j = envelope_json(env, 1);
	if (off > 0)
		json_object_set_new(
		    j, "topic", json_stringn((char *)buf, off - 1));
	print_json(j);
	wire_free(env);
	free(buf);
	return (0);
}
