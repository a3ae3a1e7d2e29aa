/*
 * replay.c - per call, the caller frames its ai-session has not yet
 * acknowledged, so that a move to another ai-session loses none and
 * repeats none.
 *
 * Every frame published towards the ai-session is kept here, in order.
 * An ai-session told SessionStart.audio_acks sends AudioAck{seq, holder}
 * as it writes the frames to its model socket; the frames up to seq are
 * forgotten.  When the call moves (the holder released it, or it went
 * away) exactly the frames after its last ack are sent again, oldest
 * first, to the next holder: a graceful move repeats nothing, a killed
 * holder repeats at most what it wrote after its last ack.
 *
 * An ai-session that never acks (an older one) gets today's time-based
 * replay: the newest `tail` frames (EDGE_REPLAY_MS).
 *
 * The ring starts small and doubles up to `max` frames
 * (EDGE_UNACKED_MS); past that the oldest frame goes, and when it was
 * not acknowledged the caller counts it (replay_add returns 1).
 *
 * Acks are checked: one from another holder generation than the
 * current (a late ack of the one before) or for a frame never sent is
 * refused.  Pure: no metrics, no logging; calls.c does both.  lws
 * service thread only (a ring belongs to one call).
 */
#include <stdlib.h>
#include <string.h>

#include "edge.h"
#include "xmalloc.h"

#define REPLAY_MIN 16 /* slots at first use */

void
replay_init(struct replay *rp, unsigned max, unsigned tail)
{
	memset(rp, 0, sizeof(*rp));
	rp->max = max > tail ? max : tail;
	rp->tail = tail;
}

void
replay_fini(struct replay *rp)
{
	free(rp->f);
	rp->f = NULL;
	rp->cap = rp->used = rp->head = 0;
}

/* Room for one more frame below max: unwrap into a bigger array. */
static void
grow(struct replay *rp)
{
	struct replay_frame *nf;
	unsigned             ncap, i;

	if (rp->used < rp->cap || rp->cap >= rp->max)
		return;
	ncap = rp->cap == 0 ? REPLAY_MIN : rp->cap * 2;
	if (ncap > rp->max)
		ncap = rp->max;
	nf = xmalloc((size_t)ncap * sizeof(*nf));
	for (i = 0; i < rp->used; i++)
		nf[i] = rp->f[(rp->head + i) % rp->cap];
	free(rp->f);
	rp->f = nf;
	rp->cap = ncap;
	rp->head = 0;
}

int
replay_add(struct replay *rp, const unsigned char *p, size_t len, uint32_t ts,
    uint32_t seq)
{
	struct replay_frame *f;
	int                  lost = 0;

	if (rp->max == 0 || len > REPLAY_SLOT)
		return (-1);
	if (seq > rp->top)
		rp->top = seq;
	grow(rp);
	if (rp->used == rp->cap) {
		/* at the bound: the oldest goes */
		if (rp->acks && rp->f[rp->head].seq > rp->acked)
			lost = 1;
		rp->head = (rp->head + 1) % rp->cap;
		rp->used--;
	}
	f = &rp->f[(rp->head + rp->used) % rp->cap];
	f->ts = ts;
	f->seq = seq;
	f->len = (uint32_t)len;
	memcpy(f->p, p, len);
	rp->used++;
	return (lost);
}

enum replay_verdict
replay_ack(struct replay *rp, uint32_t seq, uint32_t holder)
{
	if (holder != rp->holder)
		return (REPLAY_ACK_STALE);
	if (seq > rp->top)
		return (REPLAY_ACK_AHEAD);
	rp->acks = true;
	if (seq <= rp->acked)
		return (REPLAY_ACK_OK); /* nothing new (or the first: 0) */
	rp->acked = seq;
	while (rp->used > 0 && rp->f[rp->head].seq <= seq) {
		rp->head = (rp->head + 1) % rp->cap;
		rp->used--;
	}
	if (rp->used == 0)
		rp->head = 0;
	return (REPLAY_ACK_OK);
}

void
replay_holder(struct replay *rp, uint32_t holder)
{
	rp->holder = holder;
	rp->acks = false;
}

unsigned
replay_pending(const struct replay *rp)
{
	if (rp->acks)
		return (rp->used);
	return (rp->used < rp->tail ? rp->used : rp->tail);
}

const struct replay_frame *
replay_frame(const struct replay *rp, unsigned i)
{
	unsigned n = replay_pending(rp);

	if (i >= n)
		return (NULL);
	return (&rp->f[(rp->head + rp->used - n + i) % rp->cap]);
}
