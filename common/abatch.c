/*
 * abatch - batches of audio-path messages; see abatch.h.
 *
 * An item is copied when it is added: its call sid and its bytes (the
 * payload, or the mark name / DTMF digit(s) / error with a NUL) go into the
 * batch's data buffer, and the item keeps offsets, since the buffer may move
 * as it grows.  At publish time the offsets become the pointers protobuf-c
 * packs from, and the whole batch is one Envelope{audio_batch} sent with
 * wire_publish (non-blocking: a refused batch is dropped and counted,
 * like a refused frame before).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abatch.h"
#include "wire.h"
#include "xmalloc.h"

struct abatch_item {
	Bus__BatchItem bi;
	union {
		Bus__AudioFrame   audio;
		Bus__Mark         mark;
		Bus__MarkEcho     echo;
		Bus__Clear        clear;
		Bus__Dtmf         dtmf;
		Bus__SendDigits   keys;
		Bus__DigitsResult keys_result;
		Bus__AudioAck     ack;
	} u;
	size_t sid_off;
	size_t data_off; /* payload, or a NUL-terminated string */
	size_t data_len;
};

void
abatch_set_init(struct abatch_set *s, nng_socket pub)
{
	memset(s, 0, sizeof(*s));
	s->pub = pub;
}

static void
batch_free(struct abatch *b)
{
	free(b->items);
	free(b->data);
	free(b);
}

void
abatch_set_fini(struct abatch_set *s)
{
	struct abatch *b;

	while ((b = s->all) != NULL) {
		s->all = b->next;
		batch_free(b);
	}
	s->pending = NULL;
}

int
abatch_topic(char *buf, size_t len, const char *instance)
{
	int n;

	n = snprintf(buf, len, "%c%s", ABATCH_TOPIC_CHAR, instance);
	return (n < 0 || (size_t)n >= len ? -1 : 0);
}

bool
abatch_is_topic(const char *topic)
{
	return (topic[0] == ABATCH_TOPIC_CHAR);
}

struct abatch *
abatch_ref(struct abatch_set *s, const char *topic)
{
	struct abatch *b;

	for (b = s->all; b != NULL; b = b->next)
		if (strcmp(b->topic, topic) == 0) {
			b->refs++;
			return (b);
		}
	b = xcalloc(1, sizeof(*b));
	snprintf(b->topic, sizeof(b->topic), "%s", topic);
	b->items = xcalloc(ABATCH_MAX_ITEMS, sizeof(*b->items));
	b->refs = 1;
	b->next = s->all;
	s->all = b;
	return (b);
}

static void
unlink_free(struct abatch_set *s, struct abatch *b)
{
	struct abatch **pp;

	for (pp = &s->all; *pp != NULL; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	batch_free(b);
}

void
abatch_unref(struct abatch_set *s, struct abatch *b)
{
	if (b == NULL)
		return;
	if (--b->refs <= 0 && !b->pending)
		unlink_free(s, b);
}

/* Item i's pointers from its offsets (the data buffer may have moved). */
static Bus__BatchItem *
fix_item(struct abatch *b, struct abatch_item *it)
{
	char *str = (char *)b->data + it->data_off;

	it->bi.call_sid = (char *)b->data + it->sid_off;
	switch (it->bi.item_case) {
	case BUS__BATCH_ITEM__ITEM_AUDIO:
		it->u.audio.payload.data = b->data + it->data_off;
		it->u.audio.payload.len = it->data_len;
		it->bi.audio = &it->u.audio;
		break;
	case BUS__BATCH_ITEM__ITEM_MARK:
		it->u.mark.name = str;
		it->bi.mark = &it->u.mark;
		break;
	case BUS__BATCH_ITEM__ITEM_MARK_ECHO:
		it->u.echo.name = str;
		it->bi.mark_echo = &it->u.echo;
		break;
	case BUS__BATCH_ITEM__ITEM_CLEAR:
		it->bi.clear = &it->u.clear;
		break;
	case BUS__BATCH_ITEM__ITEM_DTMF:
		it->u.dtmf.digit = str;
		it->bi.dtmf = &it->u.dtmf;
		break;
	case BUS__BATCH_ITEM__ITEM_SEND_DIGITS:
		it->u.keys.digits = str;
		it->bi.send_digits = &it->u.keys;
		break;
	case BUS__BATCH_ITEM__ITEM_DIGITS_RESULT:
		it->u.keys_result.error = str;
		it->bi.digits_result = &it->u.keys_result;
		break;
	case BUS__BATCH_ITEM__ITEM_AUDIO_ACK:
		it->bi.audio_ack = &it->u.ack;
		break;
	default:
		break;
	}
	return (&it->bi);
}

/* Publish b's items now; the items dropped. */
static unsigned
publish(struct abatch_set *s, struct abatch *b)
{
	Bus__BatchItem *ptrs[ABATCH_MAX_ITEMS];
	Bus__Envelope   env = BUS__ENVELOPE__INIT;
	Bus__AudioBatch ab = BUS__AUDIO_BATCH__INIT;
	struct wire_ids ids;
	unsigned        i, n = b->n;

	if (n == 0)
		return (0);
	for (i = 0; i < n; i++)
		ptrs[i] = fix_item(b, &b->items[i]);
	ab.n_items = n;
	ab.items = ptrs;
	wire_env_init(&env, &ids, "", s->trace_id);
	env.body_case = BUS__ENVELOPE__BODY_AUDIO_BATCH;
	env.audio_batch = &ab;
	b->n = 0;
	b->len = 0;
	if (wire_publish(s->pub, b->topic, &env) != 0) {
		s->dropped += n;
		return (n);
	}
	s->batches++;
	s->items += n;
	return (0);
}

/* Copy n bytes (and a NUL when str) into b->data; their offset. */
static size_t
put(struct abatch *b, const void *p, size_t n, bool str)
{
	size_t off = b->len, need = n + (str ? 1 : 0);

	if (b->len + need > b->cap) {
		b->cap = b->cap == 0 ? 4096 : b->cap;
		while (b->cap < b->len + need)
			b->cap *= 2;
		b->data = xrealloc(b->data, b->cap);
	}
	if (n > 0)
		memcpy(b->data + off, p, n);
	if (str)
		b->data[off + n] = '\0';
	b->len += need;
	return (off);
}

/* The bytes item carries beyond its call sid: payload or string. */
static const void *
item_bytes(const Bus__BatchItem *item, size_t *np, bool *strp)
{
	const char *str = NULL;

	*np = 0;
	*strp = true;
	switch (item->item_case) {
	case BUS__BATCH_ITEM__ITEM_AUDIO:
		*strp = false;
		*np = item->audio->payload.len;
		return (item->audio->payload.data);
	case BUS__BATCH_ITEM__ITEM_MARK:
		str = item->mark->name;
		break;
	case BUS__BATCH_ITEM__ITEM_MARK_ECHO:
		str = item->mark_echo->name;
		break;
	case BUS__BATCH_ITEM__ITEM_DTMF:
		str = item->dtmf->digit;
		break;
	case BUS__BATCH_ITEM__ITEM_SEND_DIGITS:
		str = item->send_digits->digits;
		break;
	case BUS__BATCH_ITEM__ITEM_DIGITS_RESULT:
		str = item->digits_result->error;
		break;
	default:
		break;
	}
	if (str == NULL)
		str = "";
	*np = strlen(str);
	return (str);
}

unsigned
abatch_add(struct abatch_set *s, struct abatch *b, const Bus__BatchItem *item)
{
	struct abatch_item *it;
	const void         *p;
	size_t              n, sidlen = strlen(item->call_sid);
	unsigned            dropped = 0;
	bool                str;

	p = item_bytes(item, &n, &str);
	if (b->n > 0 && b->len + sidlen + n + 2 > ABATCH_MAX_BYTES)
		dropped += publish(s, b);
	it = &b->items[b->n++];
	memset(it, 0, sizeof(*it));
	bus__batch_item__init(&it->bi);
	it->bi.item_case = item->item_case;
	switch (item->item_case) {
	case BUS__BATCH_ITEM__ITEM_AUDIO:
		bus__audio_frame__init(&it->u.audio);
		it->u.audio.timestamp_ms = item->audio->timestamp_ms;
		it->u.audio.seq = item->audio->seq;
		break;
	case BUS__BATCH_ITEM__ITEM_MARK:
		bus__mark__init(&it->u.mark);
		break;
	case BUS__BATCH_ITEM__ITEM_MARK_ECHO:
		bus__mark_echo__init(&it->u.echo);
		break;
	case BUS__BATCH_ITEM__ITEM_CLEAR:
		bus__clear__init(&it->u.clear);
		break;
	case BUS__BATCH_ITEM__ITEM_DTMF:
		bus__dtmf__init(&it->u.dtmf);
		it->u.dtmf.duration_ms = item->dtmf->duration_ms;
		break;
	case BUS__BATCH_ITEM__ITEM_SEND_DIGITS:
		bus__send_digits__init(&it->u.keys);
		it->u.keys.seq = item->send_digits->seq;
		break;
	case BUS__BATCH_ITEM__ITEM_DIGITS_RESULT:
		bus__digits_result__init(&it->u.keys_result);
		it->u.keys_result.seq = item->digits_result->seq;
		break;
	case BUS__BATCH_ITEM__ITEM_AUDIO_ACK:
		bus__audio_ack__init(&it->u.ack);
		it->u.ack.seq = item->audio_ack->seq;
		it->u.ack.released = item->audio_ack->released;
		it->u.ack.holder = item->audio_ack->holder;
		break;
	default:
		break;
	}
	it->sid_off = put(b, item->call_sid, sidlen, true);
	it->data_off = put(b, p, n, str);
	it->data_len = n;
	if (b->n == ABATCH_MAX_ITEMS || b->len >= ABATCH_MAX_BYTES)
		dropped += publish(s, b);
	else if (!b->pending) {
		b->pending = true;
		b->pnext = s->pending;
		s->pending = b;
	}
	return (dropped);
}

unsigned
abatch_flush(struct abatch_set *s)
{
	struct abatch *b, *next;
	unsigned       dropped = 0;

	for (b = s->pending; b != NULL; b = next) {
		next = b->pnext;
		b->pnext = NULL;
		b->pending = false;
		dropped += publish(s, b);
		if (b->refs <= 0)
			unlink_free(s, b);
	}
	s->pending = NULL;
	return (dropped);
}
