/*
 * fake_batch.h - the audio path's AudioBatch for the tests' fake peers:
 * both daemons send audio, marks, clears, mark echoes and digits only in
 * batches under the peer's batch topic, so the fakes do the same.
 * Stateless, any thread.  Test code only.
 */
#ifndef FAKE_BATCH_H
#define FAKE_BATCH_H

#include <string.h>

#include <nng/nng.h>

#include "bus.pb-c.h"
#include "wire.h"

/* Publish items[0..n) (each naming its call) as one AudioBatch under
 * topic.  0 or the nng error. */
static inline int
fb_publish_items(
    nng_socket pub, const char *topic, Bus__BatchItem **items, size_t n)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT;
	Bus__AudioBatch ab = BUS__AUDIO_BATCH__INIT;
	struct wire_ids ids;

	wire_env_init(&env, &ids, "", NULL);
	ab.n_items = n;
	ab.items = items;
	env.body_case = BUS__ENVELOPE__BODY_AUDIO_BATCH;
	env.audio_batch = &ab;
	return (wire_publish(pub, topic, &env));
}

/* One item for call sid as a batch of one. */
static inline int
fb_publish(
    nng_socket pub, const char *topic, const char *sid, Bus__BatchItem *it)
{
	it->call_sid = (char *)sid;
	return (fb_publish_items(pub, topic, &it, 1));
}

/* A received item as the per-call envelope the fakes check (pointers
 * into the item: valid while the batch is). */
static inline void
fb_item_env(const Bus__BatchItem *it, Bus__Envelope *env)
{
	bus__envelope__init(env);
	env->call_sid = it->call_sid;
	switch (it->item_case) {
	case BUS__BATCH_ITEM__ITEM_AUDIO:
		env->body_case = BUS__ENVELOPE__BODY_AUDIO;
		env->audio = it->audio;
		break;
	case BUS__BATCH_ITEM__ITEM_MARK:
		env->body_case = BUS__ENVELOPE__BODY_MARK;
		env->mark = it->mark;
		break;
	case BUS__BATCH_ITEM__ITEM_CLEAR:
		env->body_case = BUS__ENVELOPE__BODY_CLEAR;
		env->clear = it->clear;
		break;
	case BUS__BATCH_ITEM__ITEM_MARK_ECHO:
		env->body_case = BUS__ENVELOPE__BODY_MARK_ECHO;
		env->mark_echo = it->mark_echo;
		break;
	case BUS__BATCH_ITEM__ITEM_DTMF:
		env->body_case = BUS__ENVELOPE__BODY_DTMF;
		env->dtmf = it->dtmf;
		break;
	default:
		break;
	}
}

#endif
