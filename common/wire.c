/*
 * wire - protobuf-c <-> nng_msg; see wire.h.
 *
 * Packing goes straight into the body of a new nng_msg: the size is known
 * from protobuf_c_message_get_packed_size, so there is no second buffer.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "wire.h"
#include "xmalloc.h"

static const char *wire_sender = "";

void
wire_set_sender(const char *sender)
{
	wire_sender = sender;
}

int64_t
wire_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

void
wire_env_init(Bus__Envelope *env, struct wire_ids *ids, const char *call_sid,
    const char *trace_id)
{
	(void)codec_rand_hex(ids->msg_id, WIRE_ID_LEN / 2);
	if (trace_id == NULL || trace_id[0] == '\0')
		(void)codec_rand_hex(ids->trace_id, WIRE_ID_LEN / 2);
	else {
		strncpy(ids->trace_id, trace_id, WIRE_ID_LEN);
		ids->trace_id[WIRE_ID_LEN] = '\0';
	}
	env->msg_id = ids->msg_id;
	env->trace_id = ids->trace_id;
	env->call_sid = (char *)(call_sid != NULL ? call_sid : "");
	env->sent_at_ms = wire_now_ms();
	env->sender = (char *)wire_sender;
}

int
wire_pack(const Bus__Envelope *env, nng_msg **msgp)
{
	nng_msg *msg;
	size_t   len;
	int      rv;

	len = protobuf_c_message_get_packed_size(&env->base);
	if ((rv = nng_msg_alloc(&msg, len)) != 0)
		return (rv);
	protobuf_c_message_pack(&env->base, nng_msg_body(msg));
	*msgp = msg;
	return (0);
}

int
wire_unpack_buf(const void *buf, size_t len, Bus__Envelope **envp)
{
	Bus__Envelope *env;

	env = bus__envelope__unpack(NULL, len, buf);
	if (env == NULL)
		return (NNG_EINVAL);
	*envp = env;
	return (0);
}

int
wire_unpack(nng_msg *msg, Bus__Envelope **envp)
{
	return (wire_unpack_buf(nng_msg_body(msg), nng_msg_len(msg), envp));
}

void
wire_free(Bus__Envelope *env)
{
	if (env != NULL)
		bus__envelope__free_unpacked(env, NULL);
}

int
wire_publish(nng_socket pub, const char *topic, const Bus__Envelope *env)
{
	nng_msg *msg;
	size_t   tlen, len;
	int      rv;

	tlen = strlen(topic) + 1;
	len = protobuf_c_message_get_packed_size(&env->base);
	if ((rv = nng_msg_alloc(&msg, tlen + len)) != 0)
		return (rv);
	memcpy(nng_msg_body(msg), topic, tlen);
	protobuf_c_message_pack(
	    &env->base, (uint8_t *)nng_msg_body(msg) + tlen);
	if ((rv = nng_sendmsg(pub, msg, NNG_FLAG_NONBLOCK)) != 0)
		nng_msg_free(msg); /* a failed send leaves it ours */
	return (rv);
}

int
wire_unpack_pub(nng_msg *msg, const char **topicp, Bus__Envelope **envp)
{
	const char *body = nng_msg_body(msg), *nul;
	size_t      len = nng_msg_len(msg);
	int         rv;

	if ((nul = memchr(body, '\0', len)) == NULL)
		return (NNG_EINVAL);
	rv = wire_unpack_buf(nul + 1, len - (size_t)(nul + 1 - body), envp);
	if (rv != 0)
		return (rv);
	*topicp = body;
	return (0);
}

#define ARENA_ALIGN 16

static void *
arena_alloc(void *data, size_t n)
{
	struct wire_arena *a = data;
	size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	void **big;

	if (a->used + need <= a->cap) {
		a->used += need;
		return (a->buf + a->used - need);
	}
	/* too big for the arena: a block of its own, freed at the reset */
	if ((big = malloc(ARENA_ALIGN + n)) == NULL)
		return (NULL);
	*big = a->big;
	a->big = big;
	return ((unsigned char *)big + ARENA_ALIGN);
}

static void
arena_free(void *data, void *p)
{
	(void)data; /* everything goes at the reset */
	(void)p;
}

void
wire_arena_init(struct wire_arena *a, size_t cap)
{
	memset(a, 0, sizeof(*a));
	a->buf = xmalloc(cap);
	a->cap = cap;
	a->pa.alloc = arena_alloc;
	a->pa.free = arena_free;
	a->pa.allocator_data = a;
}

void
wire_arena_reset(struct wire_arena *a)
{
	void *p;

	while ((p = a->big) != NULL) {
		a->big = *(void **)p;
		free(p);
	}
	a->used = 0;
}

void
wire_arena_fini(struct wire_arena *a)
{
	wire_arena_reset(a);
	free(a->buf);
	a->buf = NULL;
	a->cap = 0;
}

int
wire_unpack_pub_arena(nng_msg *msg, struct wire_arena *a, const char **topicp,
    Bus__Envelope **envp)
{
	const char    *body = nng_msg_body(msg), *nul;
	size_t         len = nng_msg_len(msg);
	Bus__Envelope *env;

	if ((nul = memchr(body, '\0', len)) == NULL)
		return (NNG_EINVAL);
	env = bus__envelope__unpack(
	    &a->pa, len - (size_t)(nul + 1 - body), (const uint8_t *)nul + 1);
	if (env == NULL) {
		wire_arena_reset(a); /* what the failed unpack took */
		return (NNG_EINVAL);
	}
	*topicp = body;
	*envp = env;
	return (0);
}

const char *
wire_type_name(int body_case)
{
	const ProtobufCFieldDescriptor *f;

	if (body_case == 0)
		return ("none");
	f = protobuf_c_message_descriptor_get_field(
	    &bus__envelope__descriptor, (unsigned)body_case);
	if (f == NULL || f->id < 10)
		return ("unknown");
	return (f->name);
}

int
wire_type_from_name(const char *name)
{
	const ProtobufCFieldDescriptor *f;

	f = protobuf_c_message_descriptor_get_field_by_name(
	    &bus__envelope__descriptor, name);
	if (f == NULL || f->id < 10)
		return (-1);
	return ((int)f->id);
}
