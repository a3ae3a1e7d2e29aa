/*
 * ring.c - the bounded queue of caller frames of one call.
 *
 * Frames are stored back to back as a 2-byte length, the frame's 4-byte
 * seq (media-edge's caller frame seq on the last piece of a bus frame, 0
 * on the others: edge.c acknowledges it once written) and the bytes, in a
 * byte ring that starts small and doubles up to its maximum, so a call in
 * steady state holds a few hundred bytes while a call whose model is
 * still being set up can keep AI_START_BUFFER_MS of audio.  Frames keep
 * their boundaries because the model side appends them one by one.
 * Pushing into a full ring fails and the caller counts the drop: the
 * newest frame is the one lost, so what is kept stays in order.
 *
 * lws service thread only (a ring belongs to one call).
 */
#include <stdlib.h>
#include <string.h>

#include "ai.h"
#include "xmalloc.h"

#define RING_MIN 1024
#define RING_KEEP (4 * RING_MIN) /* larger and empty: freed */
#define HDR 6

void
ring_init(struct ring *r, size_t max)
{
	memset(r, 0, sizeof(*r));
	r->max = max < RING_MIN ? RING_MIN : max;
}

void
ring_fini(struct ring *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

static void
copy_in(struct ring *r, size_t off, const void *p, size_t n)
{
	size_t pos = (r->head + off) % r->cap;
	size_t first = r->cap - pos < n ? r->cap - pos : n;

	memcpy(r->buf + pos, p, first);
	memcpy(r->buf, (const uint8_t *)p + first, n - first);
}

static void
copy_out(const struct ring *r, size_t off, void *p, size_t n)
{
	size_t pos = (r->head + off) % r->cap;
	size_t first = r->cap - pos < n ? r->cap - pos : n;

	memcpy(p, r->buf + pos, first);
	memcpy((uint8_t *)p + first, r->buf, n - first);
}

/* Make room for need more bytes: unwrap into a bigger buffer. */
static int
grow(struct ring *r, size_t need)
{
	size_t   ncap = r->cap == 0 ? RING_MIN : r->cap;
	uint8_t *nbuf;

	if (r->len + need <= r->cap)
		return (0);
	if (r->len + need > r->max)
		return (-1);
	while (ncap < r->len + need)
		ncap *= 2;
	if (ncap > r->max)
		ncap = r->max;
	nbuf = xmalloc(ncap);
	if (r->len > 0)
		copy_out(r, 0, nbuf, r->len);
	free(r->buf);
	r->buf = nbuf;
	r->cap = ncap;
	r->head = 0;
	return (0);
}

int
ring_push(struct ring *r, const void *p, size_t n, uint32_t seq)
{
	uint8_t hdr[HDR];

	if (n == 0 || n > AI_FRAME_MAX || grow(r, n + HDR) == -1)
		return (-1);
	hdr[0] = (uint8_t)(n >> 8);
	hdr[1] = (uint8_t)n;
	hdr[2] = (uint8_t)(seq >> 24);
	hdr[3] = (uint8_t)(seq >> 16);
	hdr[4] = (uint8_t)(seq >> 8);
	hdr[5] = (uint8_t)seq;
	copy_in(r, r->len, hdr, HDR);
	copy_in(r, r->len + HDR, p, n);
	r->len += n + HDR;
	r->frames++;
	return (0);
}

size_t
ring_pop(struct ring *r, void *out, size_t outlen, uint32_t *seq)
{
	uint8_t hdr[HDR];
	size_t  n;

	if (r->len < HDR)
		return (0);
	copy_out(r, 0, hdr, HDR);
	n = (size_t)hdr[0] << 8 | hdr[1];
	if (n > outlen || n + HDR > r->len)
		return (0);
	*seq = (uint32_t)hdr[2] << 24 | (uint32_t)hdr[3] << 16
	    | (uint32_t)hdr[4] << 8 | hdr[5];
	copy_out(r, HDR, out, n);
	r->head = (r->head + n + HDR) % r->cap;
	r->len -= n + HDR;
	r->frames--;
	if (r->len == 0) {
		r->head = 0;
		if (r->cap > RING_KEEP) {
			/* the start-up backlog is gone: give it back */
			free(r->buf);
			r->buf = NULL;
			r->cap = 0;
		}
	}
	return (n);
}
