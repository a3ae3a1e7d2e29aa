/*
 * callctl tap: subscribe to a daemon's pub socket and print every
 * message decoded, one JSON line each; filter by call sid (a topic
 * subscription, so the daemon's other calls cost nothing here) or type.
 * --rates prints messages per second by type on stderr; --save DIR keeps
 * the raw messages for `callctl decode`.
 *
 * Batched audio (AudioBatch, published under "@<instance>" of the
 * receiving daemon) is printed one line per item, like the per-frame
 * messages it replaces, with a "batch" object naming the batch; --call
 * also subscribes to every batch topic and keeps that call's items, and
 * --type audio_batch prints whole batches instead.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "bus.h"
#include "callctl.h"
#include "wire.h"
#include "xmalloc.h"

#define TAP_TYPES 128

struct tap {
	const char *type;
	const char *call; /* "" for every call */
	const char *save;
	long        count, seen;
	int         rates, payload, text;
	long        per_type[TAP_TYPES];
	time_t      last_rate;
};

static void
print_rates(struct tap *t, time_t now)
{
	int i, any = 0;

	fprintf(stderr, "rates:");
	for (i = 0; i < TAP_TYPES; i++) {
		if (t->per_type[i] == 0)
			continue;
		fprintf(stderr, " %s=%ld/s", wire_type_name(i),
		    t->per_type[i] / (now - t->last_rate));
		t->per_type[i] = 0;
		any = 1;
	}
	fprintf(stderr, "%s\n", any ? "" : " none");
	t->last_rate = now;
}

static void
save_raw(struct tap *t, nng_msg *msg)
{
	char *path = xasprintf("%s/%06ld.bin", t->save, t->seen);
	FILE *f = fopen(path, "wb");

	if (f != NULL) {
		fwrite(nng_msg_body(msg), 1, nng_msg_len(msg), f);
		fclose(f);
	}
	free(path);
}

/* --text: one readable line; transcript turns as "AI: ..." / "User: ...". */
static void
print_text(const Bus__Envelope *env)
{
	const Bus__Turn *turn;

	if (env->body_case == BUS__ENVELOPE__BODY_TRANSCRIPT_TURN
	    && (turn = env->transcript_turn->turn) != NULL)
		printf("%s: %s\n",
		    strcmp(turn->role, "assistant") == 0 ? "AI" : "User",
		    turn->text);
	else
		printf("[%s] %s\n", env->call_sid,
		    wire_type_name(env->body_case));
	fflush(stdout);
}

/* The items of a batch that pass the filters, one line each. */
static void
batch_items(
    struct tap *t, nng_msg *msg, const Bus__Envelope *env, const char *topic)
{
	const Bus__AudioBatch *ab = env->audio_batch;
	const Bus__BatchItem  *it;
	const char            *type;
	json_t                *j;
	size_t                 i;
	int                    saved = 0, k;

	for (i = 0; i < ab->n_items; i++) {
		it = ab->items[i];
		type = batch_item_type(it);
		if ((k = wire_type_from_name(type)) > 0 && k < TAP_TYPES)
			t->per_type[k]++;
		if ((t->call[0] != '\0' && strcmp(t->call, it->call_sid) != 0)
		    || (t->type != NULL && strcmp(t->type, type) != 0)
		    || (t->count != 0 && t->seen >= t->count))
			continue;
		t->seen++;
		if (t->save != NULL && !saved++)
			save_raw(t, msg);
		if (t->text) {
			printf("[%s] %s\n", it->call_sid, type);
			fflush(stdout);
			continue;
		}
		j = batch_item_json(it, t->payload);
		json_object_set_new(j, "batch",
		    json_pack("{s:s,s:s,s:I,s:I}", "msg_id", env->msg_id,
		        "topic", topic, "index", (json_int_t)i, "items",
		        (json_int_t)ab->n_items));
		json_object_set_new(
		    j, "received_at_ms", json_integer(wire_now_ms()));
		print_json(j);
	}
}

static void
one(struct tap *t, nng_msg *msg)
{
	Bus__Envelope *env;
	const char    *topic;
	json_t        *j;
	int            rv;

	if ((rv = wire_unpack_pub(msg, &topic, &env)) == NNG_EMSGSIZE) {
		fprintf(stderr, "tap: refused: %s\n", wire_refusal());
		return;
	}
	if (rv != 0) {
		fprintf(stderr,
		    "tap: %zu bytes that are not a topic + "
		    "envelope\n",
		    nng_msg_len(msg));
		return;
	}
	if (env->body_case < TAP_TYPES)
		t->per_type[env->body_case]++;
	if (env->body_case == BUS__ENVELOPE__BODY_AUDIO_BATCH
	    && (t->type == NULL || strcmp(t->type, "audio_batch") != 0)) {
		batch_items(t, msg, env, topic);
		wire_free(env);
		return;
	}
	if (t->type == NULL
	    || strcmp(t->type, wire_type_name(env->body_case)) == 0) {
		t->seen++;
		if (t->save != NULL)
			save_raw(t, msg);
		if (t->text) {
			print_text(env);
			wire_free(env);
			return;
		}
		j = envelope_json(env, t->payload);
		json_object_set_new(j, "topic", json_string(topic));
		json_object_set_new(
		    j, "received_at_ms", json_integer(wire_now_ms()));
		print_json(j);
	}
	wire_free(env);
}

int
cmd_tap(int argc, char *argv[])
{
	static const struct option longopts[] = { { "call", required_argument,
		                                      NULL, 'c' },
		{ "type", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ "rates", no_argument, NULL, 'r' },
		{ "payload", no_argument, NULL, 'p' },
		{ "save", required_argument, NULL, 'w' },
		{ "text", no_argument, NULL, 'x' }, { NULL, 0, NULL, 0 } };
	struct tap                 t = { 0 };
	const char                *url, *call = "";
	nng_socket                 sub;
	nng_msg                   *msg;
	time_t                     end = 0, now;
	int                        c, rv;

	while ((c = getopt_long(argc, argv, "c:t:n:s:rpw:x", longopts, NULL))
	    != -1) {
		switch (c) {
		case 'c':
			call = optarg;
			break;
		case 't':
			t.type = optarg;
			break;
		case 'n':
			t.count = strtol(optarg, NULL, 10);
			break;
		case 's':
			end = time(NULL) + strtol(optarg, NULL, 10);
			break;
		case 'r':
			t.rates = 1;
			break;
		case 'p':
			t.payload = 1;
			break;
		case 'w':
			t.save = optarg;
			break;
		case 'x':
			t.text = 1;
			break;
		default:
			return (EX_USAGE);
		}
	}
	if (optind != argc - 1
	    || (url = config_pub_url(argv[optind])) == NULL) {
		fprintf(stderr,
		    "usage: callctl tap SERVICE|URL [--call SID] "
		    "[--type TYPE] [--count N] [--seconds S] [--rates] "
		    "[--payload] [--save DIR] [--text]\n"
		    "SERVICE is media-edge or ai-session (the pub sockets)\n");
		return (EX_USAGE);
	}
	if (t.type != NULL && wire_type_from_name(t.type) < 0) {
		fprintf(
		    stderr, "callctl: unknown message type \"%s\"\n", t.type);
		return (EX_USAGE);
	}
	if ((rv = bus_sub_open(&sub, "tap")) != 0
	    || (rv = bus_set_buffers(sub, 8192, 0)) != 0
	    || (rv = nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 250)) != 0
	    || (rv = bus_dial(sub, url, NULL)) != 0)
		return (1);
	/* "" subscribes to everything; a call sid to that call only, plus
	 * every batch topic ("@" is a prefix of all of them) for its
	 * batched audio. */
	t.call = call;
	rv = call[0] == '\0' ? bus_subscribe_all(sub)
	                     : bus_subscribe(sub, call);
	if (rv == 0 && call[0] != '\0')
		rv = nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, "@", 1);
	if (rv != 0)
		return (1);
	t.last_rate = time(NULL);
	fprintf(stderr, "tapping %s%s%s\n", url, call[0] ? " for call " : "",
	    call);
	while (t.count == 0 || t.seen < t.count) {
		now = time(NULL);
		if (end != 0 && now >= end)
			break;
		if (t.rates && now > t.last_rate)
			print_rates(&t, now);
		if ((rv = nng_recvmsg(sub, &msg, 0)) == NNG_ETIMEDOUT)
			continue;
		if (rv != 0)
			break;
		one(&t, msg);
		nng_msg_free(msg);
	}
	/* bounded: closing a sub socket whose dialer is redialling a
	 * daemon that went away can hang in NNG 1.5.2 (seen: a tap whose
	 * ai-session had stopped never exited) */
	(void)bus_close(sub, "tap", BUS_CLOSE_MS);
	return (0);
}
