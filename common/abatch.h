/*
 * abatch - the audio path's batches: many calls' frames, marks, mark
 * echoes, clears and DTMF digits in one published NNG message.
 *
 * Each NNG message costs thread hand-offs and wake-ups on both sides, so
 * instead of one message per 20 ms frame per call, a daemon appends items
 * to one batch per destination instance and publishes the batch once per
 * turn of its service loop (abatch_flush) or when it reaches
 * ABATCH_MAX_ITEMS / ABATCH_MAX_BYTES.  Under light load a batch holds one
 * item and goes out at once (no added latency); under load one message
 * carries many calls' frames.
 *
 * The batch is an Envelope{audio_batch} published under the destination's
 * batch topic, "@<instance>" (abatch_topic), which the destination
 * announced in SessionStart / SessionStarted.batch_topic.  Call sids never
 * start with '@', so a receiver tells a batch from a per-call message by
 * the topic alone, before decoding anything.
 *
 * Not thread safe: one set belongs to one thread (the lws service thread
 * in both daemons).  Items are copied, so the caller's buffers and the
 * call itself may go away before the flush.
 */
#ifndef ABATCH_H
#define ABATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include "bus.pb-c.h"

#define ABATCH_MAX_ITEMS 256
#define ABATCH_MAX_BYTES (64 * 1024)
#define ABATCH_TOPIC_MAX 160
#define ABATCH_TOPIC_CHAR '@'

struct abatch_item;

/* The batch for one destination topic. */
struct abatch {
	struct abatch      *next; /* set->all */
	struct abatch      *pnext; /* set->pending */
	char                topic[ABATCH_TOPIC_MAX];
	int                 refs;
	bool                pending;
	struct abatch_item *items; /* ABATCH_MAX_ITEMS */
	unsigned            n;
	unsigned char      *data; /* sids, payloads, names */
	size_t              len, cap;
};

struct abatch_set {
	nng_socket     pub;
	struct abatch *all;
	struct abatch *pending;
	const char    *trace_id; /* on every batch envelope; NULL: fresh */
	/* counters (the owner's thread reads them) */
	uint64_t batches; /* published */
	uint64_t items; /* published in them */
	uint64_t dropped; /* items in batches the pub socket refused */
};

void abatch_set_init(struct abatch_set *, nng_socket pub);
void abatch_set_fini(struct abatch_set *);

/* "@<instance>" into buf; -1 when it does not fit. */
int abatch_topic(char *buf, size_t len, const char *instance);
/* True when a published message's topic is a batch topic. */
bool abatch_is_topic(const char *topic);

/* The batch for topic, created on first use; one reference each. */
struct abatch *abatch_ref(struct abatch_set *, const char *topic);
/* Drop a reference (NULL is fine); an unused batch is freed once sent. */
void abatch_unref(struct abatch_set *, struct abatch *);

/* Append a copy of item (its call_sid and oneof).  Publishes the batch
 * first when it is full.  Returns the number of items dropped because the
 * pub socket refused a batch (0 normally). */
unsigned abatch_add(
    struct abatch_set *, struct abatch *, const Bus__BatchItem *item);
/* Publish every batch holding items: once per service-loop turn.  Returns
 * the items dropped. */
unsigned abatch_flush(struct abatch_set *);

#endif
