/*
 * barge.c - what the caller has heard of the model, and what to do when
 * the caller talks over it (protocols.md 9.4, OpenAI's own Twilio
 * transport).
 *
 * Every chunk of model audio passed to media-edge belongs to an
 * assistant item.  After a chunk (at most every mark_min_ms of audio) a
 * mark is published whose name says how far into that item the audio
 * before it reaches:
 *
 *	g<generation>:m<seq>:p<sent_ms>:<item_id>	audio up to sent_ms
 *	g<generation>:m<seq>:d<sent_ms>:<item_id>	the item's last audio
 *
 * media-edge writes it after the audio; the provider echoes it once that
 * audio has played (or been cleared), and the echo raises the item's
 * played_ms.  An item is forgotten when its "d" mark comes back.  So audio
 * is pending exactly while some item is remembered.
 *
 * On a barge-in every remembered item is truncated: the first one (the
 * one playing) and any that started playing at min(played_ms, received
 * ms), later ones at 0; never more than was received, never negative.
 * Then the generation goes up (echoes of older marks, which the provider
 * sends when it clears its buffer, no longer match and are ignored), and
 * the responses of those items plus the one in progress are remembered
 * as dropped, so their late deltas are thrown away instead of being
 * played over the caller.
 *
 * Pure bookkeeping: no I/O, no allocation.  One struct barge per call,
 * lws service thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai.h"

#define BYTES_PER_MS 8 /* G.711 at 8 kHz */

void
barge_init(struct barge *b, unsigned mark_min_ms)
{
	memset(b, 0, sizeof(*b));
	b->mark_min_bytes = (uint64_t)mark_min_ms * BYTES_PER_MS;
}

static bool
fits(const char *s)
{
	return (s != NULL && strlen(s) < AI_ID_MAX);
}

static struct barge_item *
item_find(struct barge *b, const char *id)
{
	unsigned i;

	for (i = 0; i < b->nitems; i++)
		if (strcmp(b->items[i].id, id) == 0)
			return (&b->items[i]);
	return (NULL);
}

static void
item_remove(struct barge *b, struct barge_item *it)
{
	unsigned i = (unsigned)(it - b->items);

	memmove(&b->items[i], &b->items[i + 1],
	    (b->nitems - i - 1) * sizeof(b->items[0]));
	b->nitems--;
}

static struct barge_item *
item_add(struct barge *b, const char *id, const char *resp)
{
	struct barge_item *it;

	if (b->nitems == BARGE_ITEMS) {
		/* an item whose last echo never came: forget the oldest */
		item_remove(b, &b->items[0]);
		b->evicted++;
	}
	it = &b->items[b->nitems++];
	memset(it, 0, sizeof(*it));
	snprintf(it->id, sizeof(it->id), "%s", id);
	snprintf(it->resp, sizeof(it->resp), "%s", resp);
	return (it);
}

bool
barge_is_dropped(const struct barge *b, const char *resp)
{
	unsigned i;

	if (resp == NULL || resp[0] == '\0')
		return (false);
	for (i = 0; i < BARGE_DROPPED; i++)
		if (strcmp(b->dropped[i], resp) == 0)
			return (true);
	return (false);
}

static void
drop_resp(struct barge *b, const char *resp)
{
	if (resp[0] == '\0' || barge_is_dropped(b, resp) || !fits(resp))
		return;
	snprintf(b->dropped[b->ndropped], AI_ID_MAX, "%s", resp);
	b->ndropped = (b->ndropped + 1) % BARGE_DROPPED;
}

static void
mark_name(struct barge *b, struct barge_item *it, char kind, char *mark,
    size_t marklen)
{
	it->marked_bytes = it->sent_bytes;
	snprintf(mark, marklen, "g%u:m%u:%c%llu:%s", b->gen, ++b->seq_sent,
	    kind, (unsigned long long)(it->sent_bytes / BYTES_PER_MS), it->id);
}

enum barge_verdict
barge_delta(struct barge *b, const char *item, const char *resp, size_t n,
    char *mark, size_t marklen)
{
	struct barge_item *it;

	if (resp == NULL)
		resp = "";
	if (barge_is_dropped(b, resp)) {
		b->late_deltas++;
		return (BARGE_DROP);
	}
	if (!fits(item) || !fits(resp) || item[0] == '\0')
		return (BARGE_PLAY); /* cannot be tracked or truncated */
	if ((it = item_find(b, item)) == NULL)
		it = item_add(b, item, resp);
	it->sent_bytes += n;
	if (it->sent_bytes - it->marked_bytes < b->mark_min_bytes
	    || it->sent_bytes == it->marked_bytes)
		return (BARGE_PLAY);
	mark_name(b, it, 'p', mark, marklen);
	return (BARGE_PLAY_MARK);
}

int
barge_audio_done(struct barge *b, const char *item, const char *resp,
    char *mark, size_t marklen)
{
	struct barge_item *it;

	if (resp != NULL && barge_is_dropped(b, resp))
		return (0);
	if (!fits(item) || (it = item_find(b, item)) == NULL || it->done)
		return (0);
	it->done = true;
	mark_name(b, it, 'd', mark, marklen);
	return (1);
}

/* Parse "g<gen>:m<seq>:<p|d><ms>:<item>"; -1 if it is not one of ours. */
static int
parse_mark(const char *name, uint32_t *gen, uint32_t *seq, char *kind,
    uint32_t *ms, const char **item)
{
	const char   *p = name;
	char         *end;
	unsigned long v[3];
	int           i;

	for (i = 0; i < 3; i++) {
		if (i == 0 && *p++ != 'g')
			return (-1);
		if (i == 1 && *p++ != 'm')
			return (-1);
		if (i == 2) {
			if (*p != 'p' && *p != 'd')
				return (-1);
			*kind = *p++;
		}
		if (*p < '0' || *p > '9')
			return (-1);
		v[i] = strtoul(p, &end, 10);
		if (*end != ':' || v[i] > UINT32_MAX)
			return (-1);
		p = end + 1;
	}
	if (*p == '\0')
		return (-1);
	*gen = (uint32_t)v[0];
	*seq = (uint32_t)v[1];
	*ms = (uint32_t)v[2];
	*item = p;
	return (0);
}

enum barge_echo
barge_echo(struct barge *b, const char *name)
{
	struct barge_item *it;
	const char        *item;
	uint32_t           gen, seq, ms;
	char               kind = 0;

	if (name == NULL
	    || parse_mark(name, &gen, &seq, &kind, &ms, &item) == -1)
		return (BARGE_ECHO_BAD);
	if (gen != b->gen || seq <= b->seq_echoed
	    || (it = item_find(b, item)) == NULL) {
		b->stale_marks++;
		return (BARGE_ECHO_STALE);
	}
	b->seq_echoed = seq;
	if (ms > it->played_ms)
		it->played_ms = ms;
	if (kind == 'd'
	    || (it->done
	        && (uint64_t)it->played_ms * BYTES_PER_MS >= it->sent_bytes))
		item_remove(b, it);
	return (BARGE_ECHO_OK);
}

bool
barge_pending(const struct barge *b)
{
	return (b->nitems > 0);
}

int
barge_interrupt(struct barge *b, struct barge_trunc *out, int max)
{
	struct barge_item *it;
	uint64_t           recv_ms;
	unsigned           i;
	int                n = 0;

	drop_resp(b, b->active_resp);
	b->active_resp[0] = '\0';
	if (b->nitems == 0)
		return (0);
	for (i = 0; i < b->nitems && n < max; i++) {
		it = &b->items[i];
		recv_ms = it->sent_bytes / BYTES_PER_MS;
		snprintf(out[n].item_id, sizeof(out[n].item_id), "%s", it->id);
		if (i == 0 || it->played_ms > 0)
			out[n].ms = (unsigned)(it->played_ms < recv_ms
			        ? it->played_ms
			        : recv_ms);
		else
			out[n].ms = 0;
		n++;
		drop_resp(b, it->resp);
	}
	b->nitems = 0;
	b->gen++;
	b->seq_echoed = b->seq_sent;
	return (n);
}

void
barge_response_created(struct barge *b, const char *resp)
{
	if (fits(resp))
		snprintf(b->active_resp, sizeof(b->active_resp), "%s", resp);
}

void
barge_response_done(struct barge *b, const char *resp, bool cancelled)
{
	unsigned i;

	if (resp == NULL)
		return;
	if (strcmp(b->active_resp, resp) == 0)
		b->active_resp[0] = '\0';
	if (cancelled)
		drop_resp(b, resp);
	for (i = 0; i < b->nitems; i++) {
		struct barge_item *it = &b->items[i];

		if (strcmp(it->resp, resp) != 0)
			continue;
		it->done = true;
		if ((uint64_t)it->played_ms * BYTES_PER_MS >= it->sent_bytes) {
			item_remove(b, it);
			i--;
		}
	}
}
