/*
 * stream_fuzz - media-edge's media-stream messages (stream.c, with the
 * fast path of fastjson.c and the stream tokens of token.c) as a caller
 * sends them over the /media WebSocket, Twilio or SignalWire dialect.
 *
 * Input: one byte of setup (the call's state before the first message,
 * the provider whose dialect the stream speaks (bits 4 and 16), whether
 * the call sid is already taken), then messages
 * separated by 0xFF (a byte no UTF-8 text contains).  Each message is
 * passed to stream_message() in a buffer of exactly its size, so a read
 * past the end is caught.  The text "@TOKEN@" is replaced by a valid
 * stream token for call sid FUZZ_SID and "@SWTOKEN@" by one for
 * FUZZ_SW_SID, so the fuzzer reaches the paths after a good start.
 *
 * calls.c, the module stream.c hands its results to, is replaced here by
 * a model that keeps the same state machine (CONNECTED -> STARTING on a
 * registered start, ENDED on close) and checks what stream.c hands over:
 * registered sids are valid sids, audio is at most one message's worth
 * of decoded bytes, published envelopes pack and carry names the bus
 * takes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../services/media-edge/edge.h"
#include "log.h"
#include "metrics.h"

#define FUZZ_SECRET "fuzz-stream-token-secret"
#define FUZZ_SID "CA00000000000000000000000000000001"
#define FUZZ_SW_SID "2f3c1a9e-8b7d-4c6e-9f0a-1b2c3d4e5f60"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct edge e;
static bool        sid_taken; /* call_register() finds a duplicate */
static uint64_t    sink; /* keeps the audio reads from being elided */

static void
broken(const char *what)
{
	fprintf(stderr, "fuzz: stream.c handed over %s\n", what);
	abort();
}

static bool
valid_sid(const char *s)
{
	size_t n = strnlen(s, EDGE_SID_MAX);

	return (n > 0 && n < EDGE_SID_MAX
	    && strspn(s,
	           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	           "0123456789-_:")
	        == n);
}

/* ---- the calls.c model ---- */

int64_t
edge_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

int
call_register(struct call *c)
{
	if (c->state != CALL_CONNECTED || !valid_sid(c->call_sid)
	    || !valid_sid(c->stream_sid))
		broken("a start to register that was not checked");
	if (sid_taken)
		return (-1);
	c->in_table = true;
	return (0);
}

void
call_close(struct call *c, int code, const char *why)
{
	if (c->closing)
		return;
	c->closing = true;
	c->state = CALL_ENDED;
	c->close_code = code;
	c->close_why = why;
	metric_inc(metric_get(c->edge->m.closes, why));
}

void
call_request_session(struct call *c, bool resume)
{
	if (!c->in_table || resume)
		broken("a session request for an unregistered call");
	c->session_sent = true;
	c->state = CALL_STARTING;
}

void
call_audio_in(struct call *c, const unsigned char *p, size_t len, uint32_t ts,
    bool have_ts)
{
	size_t i;

	if (c->state == CALL_CONNECTED)
		broken("audio before a start");
	if (len == 0 || len > EDGE_MAX_MSG)
		broken("an impossible audio length");
	for (i = 0; i < len; i++)
		sink += p[i];
	c->seq++;
}

void
call_publish_item(struct call *c, const Bus__BatchItem *it)
{
	Bus__BatchItem copy = *it;
	size_t         n;
	uint8_t       *buf;

	if (c->state == CALL_CONNECTED)
		broken("an event before a start");
	/* a batch item the bus refuses takes the whole batch with it */
	if (it->item_case == BUS__BATCH_ITEM__ITEM_MARK_ECHO
	    && strlen(it->mark_echo->name) >= EDGE_NAME_MAX)
		broken("a mark name longer than the bus takes");
	if (it->item_case == BUS__BATCH_ITEM__ITEM_DTMF
	    && strlen(it->dtmf->digit) != 1)
		broken("a DTMF event without one digit");
	copy.call_sid = c->call_sid;
	n = protobuf_c_message_get_packed_size(&copy.base);
	buf = malloc(n + 1);
	protobuf_c_message_pack(&copy.base, buf);
	free(buf);
}

/* ---- the target ---- */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* bad input is logged at warn: quiet unless FUZZ_LOG is set */
	log_level = getenv("FUZZ_LOG") != NULL ? LOG_LVL_DEBUG : LOG_LVL_FATAL;
	edge_metrics_init(&e.m);
	e.cfg.stream_token_secret = FUZZ_SECRET;
	e.cfg.token_max_ttl_s = 3600;
	e.scratch = malloc(EDGE_MAX_MSG);
	e.scratch2 = malloc(EDGE_MAX_MSG);
	return (0);
}

struct subst {
	const char *ph;
	char        tok[128];
};

/* msg with each placeholder replaced by its token; malloc'd, *lenp. */
static char *
with_tokens(const uint8_t *p, size_t len, const struct subst *sv, size_t ns,
    size_t *lenp)
{
	size_t i, j, o = 0, cap = len;
	char  *out;

	for (j = 0; j < ns; j++)
		cap += len / strlen(sv[j].ph) * strlen(sv[j].tok);
	out = malloc(cap == 0 ? 1 : cap);
	for (i = 0; i < len;) {
		for (j = 0; j < ns; j++)
			if (i + strlen(sv[j].ph) <= len
			    && memcmp(p + i, sv[j].ph, strlen(sv[j].ph)) == 0)
				break;
		if (j == ns) {
			out[o++] = (char)p[i++];
			continue;
		}
		memcpy(out + o, sv[j].tok, strlen(sv[j].tok));
		o += strlen(sv[j].tok);
		i += strlen(sv[j].ph);
	}
	*lenp = o;
	return (out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum call_state states[]
	    = { CALL_CONNECTED, CALL_CONNECTED, CALL_ACTIVE, CALL_ENDED };
	static const struct tel_provider *const provs[]
	    = { &tel_twilio, &tel_signalwire, &tel_telnyx, &tel_telnyx };
	struct subst   sv[] = { { "@TOKEN@", "" }, { "@SWTOKEN@", "" } };
	struct call    c;
	char          *msg;
	const uint8_t *p, *end, *sep;
	size_t         len;

	if (size < 1)
		return (0);
	memset(&c, 0, sizeof(c));
	c.edge = &e;
	c.state = states[data[0] & 3];
	c.prov = provs[((data[0] & 4) != 0) | ((data[0] & 16) != 0) << 1];
	sid_taken = (data[0] & 8) != 0;
	tokens_init(&e.tokens, 64);
	if (token_make(FUZZ_SECRET, FUZZ_SID, (int64_t)time(NULL) + 60,
	        sv[0].tok, sizeof(sv[0].tok))
	        == -1
	    || token_make(FUZZ_SECRET, FUZZ_SW_SID, (int64_t)time(NULL) + 60,
	           sv[1].tok, sizeof(sv[1].tok))
	        == -1)
		abort();
	for (p = data + 1, end = data + size; p <= end; p = sep + 1) {
		if ((sep = memchr(p, 0xFF, (size_t)(end - p))) == NULL)
			sep = end;
		msg = with_tokens(p, (size_t)(sep - p), sv, 2, &len);
		stream_message(&c, msg, len);
		free(msg);
	}
	json_decref(c.params);
	tokens_fini(&e.tokens);
	return (0);
}
