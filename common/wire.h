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

/*
 * Longest id fields accepted from the bus, in bytes.  Every unpack checks
 * them (wire_check): an envelope with a longer one is refused as a whole,
 * logged (field and length, never the value) and counted in
 * bus_oversized_ids_total{field}.  Real values are far shorter: sids are
 * 34 characters, msg and trace ids 32, keys "<sid>:<kind>:<n>".
 */
#define WIRE_SID_MAX 63 /* call, stream, account sid: a char[64] holds it */
#define WIRE_HEXID_MAX 64 /* msg_id, trace_id */
#define WIRE_KEY_MAX 160 /* idempotency_key */
#define WIRE_NAME_MAX 256 /* sender, instance, topic, names, kinds, ids */
#define WIRE_URL_MAX 512 /* bus addresses handed to a peer */

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
 * wire_free.  Returns NNG_EINVAL for bytes that are not an envelope and
 * NNG_EMSGSIZE for one with an id field over its limit (wire_check: the
 * refusal is already logged and counted; wire_refusal() says why). */
int  wire_unpack(nng_msg *msg, Bus__Envelope **envp);
int  wire_unpack_buf(const void *buf, size_t len, Bus__Envelope **envp);
void wire_free(Bus__Envelope *env);

/* Publish env under topic on a pub socket; drops (returns NNG_EAGAIN)
 * rather than block when the socket cannot take it. */
int wire_publish(nng_socket pub, const char *topic, const Bus__Envelope *env);
/* Split a published message; *topicp points into msg (valid until msg is
 * freed).  Returns NNG_EINVAL when there is no topic or no envelope, and
 * NNG_EMSGSIZE for a topic longer than WIRE_NAME_MAX or an envelope that
 * wire_check refuses. */
int wire_unpack_pub(nng_msg *msg, const char **topicp, Bus__Envelope **envp);

/* The first id field over its limit. */
struct wire_bad {
	const char *field; /* "call_sid", "session_start.stream_sid", ... */
	size_t      len; /* its length in bytes */
	size_t      max; /* its limit */
};

/* Check every id field of env against the limits above.  0 when all fit;
 * else -1 with *bad naming the first too long.  Pure: logs nothing.  The
 * unpack calls run it; anyone may. */
int wire_check(const Bus__Envelope *env, struct wire_bad *bad);
/* Why this thread's last unpack returned NNG_EMSGSIZE, e.g. "call_sid is
 * 4096 bytes (limit 63)"; "" before any.  Valid until the thread's next
 * unpack. */
const char *wire_refusal(void);

/* "ping", "audio", "call_record", ... for a body case; "unknown" else. */
const char *wire_type_name(int body_case);
/* Body case for a type name, or -1. */
int     wire_type_from_name(const char *name);
int64_t wire_now_ms(void);

#endif
