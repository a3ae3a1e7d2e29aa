/*
 * outq.c - a call's queue of outgoing WebSocket text messages.
 *
 * One buffer holds the records back to back:
 *
 *	| hdr (8) | LWS_PRE | payload ... | pad to 8 | hdr | LWS_PRE | ...
 *
 * so lws_write() sends a payload in place (it may use the LWS_PRE bytes
 * before it for the frame header) and a steady call allocates nothing.
 * The buffer grows on demand up to `limit` bytes; reaching the limit means
 * the caller stopped reading, and the caller of outq_reserve() cuts it
 * off.  An empty queue rewinds to the start, and gives a large buffer
 * back so idle calls stay small.
 *
 * lws service thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "edge.h"
#include "xmalloc.h"

#define OUTQ_HDR 8
#define OUTQ_INIT 2048
#define OUTQ_KEEP 16384 /* an empty queue keeps at most this */

struct rec {
	uint32_t len;
	uint32_t kind;
};

static size_t
rec_size(size_t len)
{
	return ((OUTQ_HDR + LWS_PRE + len + 7) & ~(size_t)7);
}

void
outq_init(struct outq *q, size_t limit)
{
	memset(q, 0, sizeof(*q));
	q->limit = limit;
}

void
outq_fini(struct outq *q)
{
	free(q->buf);
	memset(q, 0, sizeof(*q));
}

size_t
outq_bytes(const struct outq *q)
{
	return (q->tail - q->head);
}

unsigned char *
outq_reserve(struct outq *q, size_t len)
{
	size_t need = rec_size(len), live = q->tail - q->head, ncap;

	if (live + need > q->limit)
		return (NULL);
	if (q->tail + need > q->cap && q->head > 0) {
		/* slide the live records to the front */
		memmove(q->buf, q->buf + q->head, live);
		q->head = 0;
		q->tail = live;
	}
	if (q->tail + need > q->cap) {
		ncap = q->cap > 0 ? q->cap : OUTQ_INIT;
		while (ncap < q->tail + need)
			ncap *= 2;
		q->buf = xrealloc(q->buf, ncap);
		q->cap = ncap;
	}
	return (q->buf + q->tail + OUTQ_HDR + LWS_PRE);
}

void
outq_commit(struct outq *q, size_t len, enum outq_kind kind)
{
	struct rec r = { (uint32_t)len, (uint32_t)kind };

	memcpy(q->buf + q->tail, &r, sizeof(r));
	q->tail += rec_size(len);
	q->count++;
}

bool
outq_peek(
    struct outq *q, unsigned char **p, size_t *lenp, enum outq_kind *kindp)
{
	struct rec r;

	if (q->count == 0)
		return (false);
	memcpy(&r, q->buf + q->head, sizeof(r));
	*p = q->buf + q->head + OUTQ_HDR + LWS_PRE;
	*lenp = r.len;
	if (kindp != NULL)
		*kindp = (enum outq_kind)r.kind;
	return (true);
}

void
outq_pop(struct outq *q)
{
	struct rec r;

	if (q->count == 0)
		return;
	memcpy(&r, q->buf + q->head, sizeof(r));
	q->head += rec_size(r.len);
	if (--q->count == 0) {
		q->head = q->tail = 0;
		if (q->cap > OUTQ_KEEP) {
			free(q->buf);
			q->buf = NULL;
			q->cap = 0;
		}
	}
}

unsigned
outq_drop_media(struct outq *q)
{
	size_t     rd = q->head, wr = q->head, sz;
	unsigned   dropped = 0, n = q->count;
	struct rec r;

	while (n-- > 0) {
		memcpy(&r, q->buf + rd, sizeof(r));
		sz = rec_size(r.len);
		if (r.kind == OUTQ_MEDIA) {
			dropped++;
			q->count--;
		} else {
			if (wr != rd)
				memmove(q->buf + wr, q->buf + rd, sz);
			wr += sz;
		}
		rd += sz;
	}
	q->tail = wr;
	if (q->count == 0)
		q->head = q->tail = 0;
	return (dropped);
}
