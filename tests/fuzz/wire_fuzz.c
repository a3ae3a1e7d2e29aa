/*
 * wire_fuzz - bus envelopes as a daemon receives them (common/wire.c,
 * common/svc.c, common/pbjson.c).
 *
 * Input: byte 0 picks the path, the rest is the message body.
 *   even: a request.  It is sent over a real req socket to a real svc
 *     (svc_start on inproc://, one worker) whose handler does what every
 *     daemon's does first: log a line in the request's call context and
 *     answer.  There must always be an answer, and it must be an
 *     envelope: Error{BAD_REQUEST} for bytes that are not an envelope,
 *     the handler's (or svc's Pong, or BAD_REQUEST) for one that is.
 *   odd: a published message, "<topic>\0<envelope>", read with
 *     wire_unpack_pub() as media-edge and ai-session read their sub
 *     sockets.
 * Every envelope that unpacks is also printed as callctl prints what it
 * taps (pbjson_from_pb) and read back (pbjson_to_pb) twice: the printed
 * JSON must read back, and be the same after the second round.
 *
 * The daemon's log lines go to stderr: run with -close_fd_mask=2
 * (wire.flags) so they are discarded while libFuzzer's and the
 * sanitizers' reports still show.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "log.h"
#include "pbjson.h"
#include "svc.h"
#include "wire.h"

#define URL "inproc://fuzz-wire"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct svc *svc;
static nng_socket  req;

static void
broken(const char *what)
{
	fprintf(stderr, "fuzz: wire: %s\n", what);
	abort();
}

static void
show(const char *what, const json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	fprintf(stderr, "fuzz: %s: %s\n", what, s != NULL ? s : "(null)");
	free(s);
}

/* JSON for m read back as an envelope; NULL if pbjson refuses it. */
static ProtobufCMessage *
read_back(json_t *j)
{
	ProtobufCMessage *m = NULL;
	char              err[256];

	if (pbjson_to_pb(&bus__envelope__descriptor, j, &m, err, sizeof(err))
	    == -1) {
		fprintf(stderr, "fuzz: %s\n", err);
		show("printed", j);
		broken("printed JSON that pbjson cannot read back");
	}
	return (m);
}

/*
 * callctl's view: print, read back, print, read back, print.  The first
 * print is lossy by design (a string that is not UTF-8 cannot be a JSON
 * string and is left out), so the second and third must be equal.
 */
static void
round_trip(const Bus__Envelope *env)
{
	ProtobufCMessage *m1, *m2;
	json_t           *j1, *j2, *j3;

	if ((j1 = pbjson_from_pb(&env->base)) == NULL)
		broken("an envelope pbjson cannot print");
	m1 = read_back(j1);
	j2 = pbjson_from_pb(m1);
	m2 = read_back(j2);
	j3 = pbjson_from_pb(m2);
	if (!json_equal(j2, j3)) {
		show("printed", j2);
		show("read back and printed", j3);
		broken("JSON that changes on the way round");
	}
	json_decref(j3);
	json_decref(j2);
	json_decref(j1);
	protobuf_c_message_free_unpacked(m2, NULL);
	protobuf_c_message_free_unpacked(m1, NULL);
}

static int
handle(struct svc *s, const Bus__Envelope *env, struct reply *r, void *w)
{
	log_info("request %s (%zu bytes of idempotency key)",
	    wire_type_name(env->body_case), strlen(env->idempotency_key));
	reply_ack(r, false, false);
	return (0);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct svc_conf conf = { .name = "fuzz-wire",
		.about = "bus envelope fuzzing",
		.rep_url = URL,
		.workers = 1,
		.handle = handle };
	int                          rv;

	log_init("fuzz-wire");
	log_level = LOG_LVL_DEBUG;
	if (svc_start(&svc, &conf) != 0)
		broken("svc_start");
	if ((rv = nng_req0_open(&req)) != 0
	    || (rv = nng_dial(req, URL, NULL, 0)) != 0
	    || (rv = nng_socket_set_ms(req, NNG_OPT_RECVTIMEO, 5000)) != 0)
		broken(nng_strerror(rv));
	return (0);
}

static void
request(const uint8_t *p, size_t n)
{
	nng_msg       *msg;
	Bus__Envelope *in = NULL, *out = NULL;
	int            rv;

	if (wire_unpack_buf(p, n, &in) == 0)
		round_trip(in);
	if (nng_msg_alloc(&msg, n) != 0)
		broken("nng_msg_alloc");
	memcpy(nng_msg_body(msg), p, n);
	if ((rv = nng_sendmsg(req, msg, 0)) != 0
	    || (rv = nng_recvmsg(req, &msg, 0)) != 0)
		broken(nng_strerror(rv)); /* no answer within 5 s */
	if (wire_unpack(msg, &out) != 0)
		broken("an answer that is not an envelope");
	if (in == NULL
	    && (out->body_case != BUS__ENVELOPE__BODY_ERROR
	        || out->error->code != BUS__ERROR__CODE__BAD_REQUEST))
		broken("garbage not answered BAD_REQUEST");
	/* an envelope is answered by svc (Ping) or the handler, unless svc
	 * refuses it (ids past their limits) */
	if (in != NULL
	    && out->body_case
	        != (in->body_case == BUS__ENVELOPE__BODY_PING
	                ? BUS__ENVELOPE__BODY_PONG
	                : BUS__ENVELOPE__BODY_ACK)
	    && (out->body_case != BUS__ENVELOPE__BODY_ERROR
	        || out->error->code != BUS__ERROR__CODE__BAD_REQUEST))
		broken("an envelope not answered by svc or the handler");
	nng_msg_free(msg);
	wire_free(out);
	wire_free(in);
}

static void
published(const uint8_t *p, size_t n)
{
	nng_msg       *msg;
	const char    *topic;
	Bus__Envelope *env;

	if (nng_msg_alloc(&msg, n) != 0)
		broken("nng_msg_alloc");
	memcpy(nng_msg_body(msg), p, n);
	if (wire_unpack_pub(msg, &topic, &env) == 0) {
		if (strlen(topic) >= n)
			broken("a topic past the message");
		round_trip(env);
		wire_free(env);
	}
	nng_msg_free(msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return (0);
	if ((data[0] & 1) == 0)
		request(data + 1, size - 1);
	else
		published(data + 1, size - 1);
	return (0);
}
