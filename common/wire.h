/*
 * wire - protobuf-c <-> nng_msg: the ONLY place that packs or unpacks.
 *
 * A request or reply is the packed bus.Envelope as the whole message
 * body.  A published message is "<topic>\0" followed by the packed
 * envelope; subscribers subscribe to "<topic>\0" (bus_subscribe adds the
 * NUL) so "CA1" never matches "CA12".  Any thread may call these.
 */
#ifndef WIRE_H
#define WIRE_H

#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>

#include "bus.pb-c.h"

#define WIRE_ID_LEN 32 /* hex digits in a msg_id / trace_id */

/* Storage for the ids an outgoing envelope points at. */
struct wire_ids {
	char msg_id[WIRE_ID_LEN + 1];
	char trace_id[WIRE_ID_LEN + 1];
};

/* Fill env (already BUS__ENVELOPE__INIT) with a fresh msg_id, the call sid,
 * the given trace id (a fresh one when NULL or empty), sent_at_ms and the
 * sender.  env points into ids and call_sid: keep them alive until packed. */
void wire_env_init(Bus__Envelope *env, struct wire_ids *ids,
    const char *call_sid, const char *trace_id);
/* The sender name put on every envelope ("<service>/<instance>"). */
void wire_set_sender(const char *sender);

/* Pack env into a new message the caller owns. nng error code on failure. */
int wire_pack(const Bus__Envelope *env, nng_msg **msgp);
/* Unpack the whole body of msg (not consumed); *envp is freed with
 * wire_free.  Returns NNG_EINVAL for bytes that are not an envelope. */
int  wire_unpack(nng_msg *msg, Bus__Envelope **envp);
int  wire_unpack_buf(const void *buf, size_t len, Bus__Envelope **envp);
void wire_free(Bus__Envelope *env);

/* Publish env under topic on a pub socket; drops (returns NNG_EAGAIN)
 * rather than block when the socket cannot take it. */
/*
 * A reusable arena for unpacking on the audio path: protobuf-c's unpack
 * allocates every item, frame, string and payload of a batch; with an
 * arena those come from one buffer that is reset after the batch, so the
 * per-frame work allocates nothing once the arena has its size.  What
 * does not fit (a batch larger than cap) is malloc'd and freed at the
 * reset.  One thread per arena.
 */
struct wire_arena {
	unsigned char     *buf;
	size_t             cap, used;
	void              *big; /* list of what did not fit */
	ProtobufCAllocator pa;
};

void wire_arena_init(struct wire_arena *, size_t cap);
void wire_arena_fini(struct wire_arena *);
/* Like wire_unpack_pub, but the tree lives in a: never wire_free it;
 * it is valid until wire_arena_reset(a). */
int  wire_unpack_pub_arena(nng_msg *msg, struct wire_arena *a,
     const char **topicp, Bus__Envelope **envp);
void wire_arena_reset(struct wire_arena *);

int wire_publish(nng_socket pub, const char *topic, const Bus__Envelope *env);
/* Split a published message; *topicp points into msg (valid until msg is
 * freed).  Returns NNG_EINVAL when there is no topic or no envelope. */
int wire_unpack_pub(nng_msg *msg, const char **topicp, Bus__Envelope **envp);

/* "ping", "audio", "call_record", ... for a body case; "unknown" else. */
const char *wire_type_name(int body_case);
/* Body case for a type name, or -1. */
int     wire_type_from_name(const char *name);
int64_t wire_now_ms(void);

#endif
