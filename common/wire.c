/*
 * wire - protobuf-c <-> nng_msg; see wire.h.
 *
 * Packing goes straight into the body of a new nng_msg: the size is known
 * from protobuf_c_message_get_packed_size, so there is no second buffer.
 * Unpacking checks every id field against the limits in wire.h before the
 * envelope reaches anyone (the bus is unauthenticated; a 4 KB call sid
 * once ended daemons through their logger), so no daemon checks them by
 * itself: a refusal is logged and counted here, once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "log.h"
#include "metrics.h"
#include "wire.h"
#include "xmalloc.h"

static const char        *wire_sender = "";
static _Thread_local char refusal[96];

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

/* One check: is the string at most max bytes?  Records the first that
 * is not. */
static bool
fits(struct wire_bad *c, const char *field, const char *v, size_t max)
{
	size_t n;

	if (v == NULL || (n = strnlen(v, max + 1)) <= max)
		return (true);
	c->field = field;
	c->len = strlen(v);
	c->max = max;
	return (false);
}

static bool
item_fits(struct wire_bad *c, const Bus__BatchItem *it)
{
	if (!fits(c, "audio_batch.call_sid", it->call_sid, WIRE_SID_MAX))
		return (false);
	switch (it->item_case) {
	case BUS__BATCH_ITEM__ITEM_MARK:
		return (fits(c, "audio_batch.mark.name", it->mark->name,
		    WIRE_NAME_MAX));
	case BUS__BATCH_ITEM__ITEM_MARK_ECHO:
		return (fits(c, "audio_batch.mark_echo.name",
		    it->mark_echo->name, WIRE_NAME_MAX));
	case BUS__BATCH_ITEM__ITEM_DTMF:
		return (fits(c, "audio_batch.dtmf.digit", it->dtmf->digit,
		    WIRE_NAME_MAX));
	case BUS__BATCH_ITEM__ITEM_SEND_DIGITS:
		return (fits(c, "audio_batch.send_digits.digits",
		    it->send_digits->digits, WIRE_NAME_MAX));
	case BUS__BATCH_ITEM__ITEM_DIGITS_RESULT:
		return (fits(c, "audio_batch.digits_result.error",
		    it->digits_result->error, WIRE_NAME_MAX));
	default:
		return (true);
	}
}

static bool
session_start_fits(struct wire_bad *c, const Bus__SessionStart *ss)
{
	size_t i;

	if (!fits(c, "session_start.stream_sid", ss->stream_sid, WIRE_SID_MAX)
	    || !fits(
	        c, "session_start.account_sid", ss->account_sid, WIRE_SID_MAX)
	    || !fits(c, "session_start.edge_pub_url", ss->edge_pub_url,
	        WIRE_URL_MAX)
	    || !fits(c, "session_start.edge_ctl_url", ss->edge_ctl_url,
	        WIRE_URL_MAX)
	    || !fits(c, "session_start.batch_topic", ss->batch_topic,
	        WIRE_NAME_MAX))
		return (false);
	for (i = 0; i < ss->n_params; i++)
		if (!fits(c, "session_start.params.key", ss->params[i]->key,
		        WIRE_NAME_MAX))
			return (false);
	return (true);
}

static bool
body_fits(struct wire_bad *c, const Bus__Envelope *env)
{
	size_t i;

	switch (env->body_case) {
	case BUS__ENVELOPE__BODY_PONG:
		return (
		    fits(c, "pong.service", env->pong->service, WIRE_NAME_MAX)
		    && fits(
		        c, "pong.version", env->pong->version, WIRE_NAME_MAX)
		    && fits(c, "pong.instance", env->pong->instance,
		        WIRE_NAME_MAX));
	case BUS__ENVELOPE__BODY_SESSION_START:
		return (session_start_fits(c, env->session_start));
	case BUS__ENVELOPE__BODY_SESSION_STARTED:
		return (fits(c, "session_started.ai_pub_url",
		            env->session_started->ai_pub_url, WIRE_URL_MAX)
		    && fits(c, "session_started.instance",
		        env->session_started->instance, WIRE_NAME_MAX)
		    && fits(c, "session_started.batch_topic",
		        env->session_started->batch_topic, WIRE_NAME_MAX));
	case BUS__ENVELOPE__BODY_SESSION_END:
		return (fits(c, "session_end.reason", env->session_end->reason,
		    WIRE_NAME_MAX));
	case BUS__ENVELOPE__BODY_MARK:
		return (fits(c, "mark.name", env->mark->name, WIRE_NAME_MAX));
	case BUS__ENVELOPE__BODY_MARK_ECHO:
		return (fits(
		    c, "mark_echo.name", env->mark_echo->name, WIRE_NAME_MAX));
	case BUS__ENVELOPE__BODY_DTMF:
		return (
		    fits(c, "dtmf.digit", env->dtmf->digit, WIRE_NAME_MAX));
	case BUS__ENVELOPE__BODY_HANG_UP:
		return (fits(
		    c, "hang_up.reason", env->hang_up->reason, WIRE_NAME_MAX));
	case BUS__ENVELOPE__BODY_AUDIO_BATCH:
		for (i = 0; i < env->audio_batch->n_items; i++)
			if (!item_fits(c, env->audio_batch->items[i]))
				return (false);
		return (true);
	case BUS__ENVELOPE__BODY_RATE_CHECK:
		return (fits(c, "rate_check.phone", env->rate_check->phone,
		            WIRE_NAME_MAX)
		    && fits(c, "rate_check.client_ip",
		        env->rate_check->client_ip, WIRE_NAME_MAX));
	case BUS__ENVELOPE__BODY_CALL_OPEN:
		return (fits(c, "call_open.lead_id", env->call_open->lead_id,
		            WIRE_NAME_MAX)
		    && fits(c, "call_open.business_id",
		        env->call_open->business_id, WIRE_NAME_MAX));
	case BUS__ENVELOPE__BODY_CALL_EVENT:
		return (fits(c, "call_event.kind", env->call_event->kind,
		            WIRE_NAME_MAX)
		    && fits(c, "call_event.status", env->call_event->status,
		        WIRE_NAME_MAX));
	case BUS__ENVELOPE__BODY_TRANSCRIPT_TURN:
		return (fits(c, "transcript_turn.item_id",
		            env->transcript_turn->item_id, WIRE_NAME_MAX)
		    && (env->transcript_turn->turn == NULL
		        || fits(c, "transcript_turn.turn.role",
		            env->transcript_turn->turn->role, WIRE_NAME_MAX)));
	case BUS__ENVELOPE__BODY_CALL_RECORD:
		return (fits(c, "call_record.status", env->call_record->status,
		            WIRE_NAME_MAX)
		    && fits(c, "call_record.end_reason",
		        env->call_record->end_reason, WIRE_NAME_MAX)
		    && fits(c, "call_record.answered_by",
		        env->call_record->answered_by, WIRE_NAME_MAX)
		    && fits(c, "call_record.lead_status",
		        env->call_record->lead_status, WIRE_NAME_MAX));
	default:
		return (true);
	}
}

int
wire_check(const Bus__Envelope *env, struct wire_bad *bad)
{
	struct wire_bad c = { NULL, 0, 0 };

	if (fits(&c, "msg_id", env->msg_id, WIRE_HEXID_MAX)
	    && fits(&c, "call_sid", env->call_sid, WIRE_SID_MAX)
	    && fits(&c, "trace_id", env->trace_id, WIRE_HEXID_MAX)
	    && fits(&c, "idempotency_key", env->idempotency_key, WIRE_KEY_MAX)
	    && fits(&c, "sender", env->sender, WIRE_NAME_MAX)
	    && body_fits(&c, env))
		return (0);
	*bad = c;
	return (-1);
}

const char *
wire_refusal(void)
{
	return (refusal);
}

/* The one place an oversized field is logged and counted. */
static int
refuse(const char *field, size_t len, size_t max)
{
	snprintf(refusal, sizeof(refusal), "%s is %zu bytes (limit %zu)",
	    field, len, max);
	metric_inc(metric_get(metrics_counter("bus_oversized_ids_total",
	                          "Bus messages refused for an id field over "
	                          "its limit",
	                          "field"),
	    field));
	log_warnx("bus: message refused: %s", refusal);
	return (NNG_EMSGSIZE);
}

int
wire_unpack_buf(const void *buf, size_t len, Bus__Envelope **envp)
{
	Bus__Envelope  *env;
	struct wire_bad bad;

	env = bus__envelope__unpack(NULL, len, buf);
	if (env == NULL)
		return (NNG_EINVAL);
	if (wire_check(env, &bad) != 0) {
		wire_free(env);
		return (refuse(bad.field, bad.len, bad.max));
	}
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
	if ((size_t)(nul - body) > WIRE_NAME_MAX)
		return (refuse("topic", (size_t)(nul - body), WIRE_NAME_MAX));
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
	const char     *body = nng_msg_body(msg), *nul;
	size_t          len = nng_msg_len(msg);
	Bus__Envelope  *env;
	struct wire_bad bad;

	if ((nul = memchr(body, '\0', len)) == NULL)
		return (NNG_EINVAL);
	if ((size_t)(nul - body) > WIRE_NAME_MAX)
		return (refuse("topic", (size_t)(nul - body), WIRE_NAME_MAX));
	env = bus__envelope__unpack(
	    &a->pa, len - (size_t)(nul + 1 - body), (const uint8_t *)nul + 1);
	if (env == NULL) {
		wire_arena_reset(a); /* what the failed unpack took */
		return (NNG_EINVAL);
	}
	if (wire_check(env, &bad) != 0) {
		wire_arena_reset(a);
		return (refuse(bad.field, bad.len, bad.max));
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
