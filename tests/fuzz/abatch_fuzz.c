/*
 * abatch_fuzz - audio batches (common/abatch.c): items carrying caller
 * data (call sids, audio, mark names, DTMF digits, keys to press and
 * why they could not be, audio acks) packed into
 * AudioBatch envelopes, published on a real pub socket and read back on
 * a sub socket (inproc) with wire_unpack_pub(), as ai-session reads them.
 *
 * Input: items, each "<kind><topic and sid length><sid><data length, 2
 * bytes><data>", sids cut to 63 bytes and names to 255 as the daemons
 * do before they add an item.  They go into two batches (two topics) as
 * media-edge and ai-session add them, with a flush now and then.  Every item
 * added must come out once, in order within its topic, with the same call sid,
 * kind, payload or name, timestamp, sequence number and duration.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/supplemental/util/platform.h>

#include "abatch.h"
#include "log.h"
#include "wire.h"

#define URL "inproc://fuzz-abatch"
#define MAX_SENT 4096
/* What a daemon may put in a batch: call sids of at most 63 bytes (a
 * sid passes stream.c's check first) and names and digits of at most 255
 * (the bus refuses longer ones, wire.h; stream.c refuses them first). */
#define NAME_MAX_BYTES 255

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const topics[2] = { "@fuzz-a", "@fuzz-b" };

/* What was added, per topic, in order. */
struct sent {
	Bus__BatchItem__ItemCase kind;
	char                     sid[64];
	uint8_t                  data[1024];
	size_t                   len;
	uint32_t                 a, b; /* ts/seq, duration, seq/holder */
};

static nng_socket  pub, sub;
static struct sent sent[2][MAX_SENT];
static size_t      nsent[2], nseen[2];

static void
broken(const char *what)
{
	fprintf(stderr, "fuzz: abatch: %s\n", what);
	abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int rv;

	log_level = LOG_LVL_FATAL;
	if ((rv = nng_pub0_open(&pub)) != 0
	    || (rv = nng_listen(pub, URL, NULL, 0)) != 0
	    || (rv = nng_sub0_open(&sub)) != 0
	    || (rv = nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0
	    || (rv = nng_socket_set_int(sub, NNG_OPT_RECVBUF, 8192)) != 0
	    || (rv = nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 5000)) != 0
	    || (rv = nng_dial(sub, URL, NULL, 0)) != 0)
		broken(nng_strerror(rv));
	nng_msleep(100); /* the pipe is up before the first publish */
	return (0);
}

static void
expect(int t, const Bus__BatchItem *it)
{
	const struct sent *s;
	const char        *str = NULL;

	if (nseen[t] >= nsent[t])
		broken("an item that was not added");
	s = &sent[t][nseen[t]++];
	if (it->item_case != s->kind || strcmp(it->call_sid, s->sid) != 0)
		broken("an item with another kind or call sid");
	switch (it->item_case) {
	case BUS__BATCH_ITEM__ITEM_AUDIO:
		if (it->audio->payload.len != s->len
		    || (s->len > 0
		        && memcmp(it->audio->payload.data, s->data, s->len)
		            != 0)
		    || it->audio->timestamp_ms != s->a
		    || it->audio->seq != s->b)
			broken("an audio frame that changed");
		return;
	case BUS__BATCH_ITEM__ITEM_MARK:
		str = it->mark->name;
		break;
	case BUS__BATCH_ITEM__ITEM_MARK_ECHO:
		str = it->mark_echo->name;
		break;
	case BUS__BATCH_ITEM__ITEM_DTMF:
		if (it->dtmf->duration_ms != s->a)
			broken("a DTMF duration that changed");
		str = it->dtmf->digit;
		break;
	case BUS__BATCH_ITEM__ITEM_SEND_DIGITS:
		if (it->send_digits->seq != s->a)
			broken("a SendDigits seq that changed");
		str = it->send_digits->digits;
		break;
	case BUS__BATCH_ITEM__ITEM_DIGITS_RESULT:
		if (it->digits_result->seq != s->a)
			broken("a DigitsResult seq that changed");
		str = it->digits_result->error;
		break;
	case BUS__BATCH_ITEM__ITEM_AUDIO_ACK:
		if (it->audio_ack->seq != s->a || it->audio_ack->holder != s->b
		    || it->audio_ack->released != (s->len & 1))
			broken("an AudioAck that changed");
		return;
	default:
		return;
	}
	if (strlen(str) != strnlen((const char *)s->data, s->len)
	    || memcmp(str, s->data, strlen(str)) != 0)
		broken("a name or digit that changed");
}

/* Read every batch published so far. */
static void
drain(uint64_t batches)
{
	Bus__Envelope *env;
	const char    *topic;
	nng_msg       *msg;
	uint64_t       i;
	size_t         k;
	int            t, rv;

	for (i = 0; i < batches; i++) {
		if ((rv = nng_recvmsg(sub, &msg, 0)) != 0)
			broken("a published batch never arrived");
		if (wire_unpack_pub(msg, &topic, &env) != 0
		    || env->body_case != BUS__ENVELOPE__BODY_AUDIO_BATCH)
			broken("a batch that is not an AudioBatch");
		t = strcmp(topic, topics[1]) == 0;
		if (!t && strcmp(topic, topics[0]) != 0)
			broken("a batch under another topic");
		for (k = 0; k < env->audio_batch->n_items; k++)
			expect(t, env->audio_batch->items[k]);
		wire_free(env);
		nng_msg_free(msg);
	}
}

static void
add(struct abatch_set *set, struct abatch *b[2], const uint8_t **pp,
    const uint8_t *end)
{
	static const Bus__BatchItem__ItemCase kinds[]
	    = { BUS__BATCH_ITEM__ITEM_AUDIO, BUS__BATCH_ITEM__ITEM_MARK,
		      BUS__BATCH_ITEM__ITEM_MARK_ECHO,
		      BUS__BATCH_ITEM__ITEM_CLEAR, BUS__BATCH_ITEM__ITEM_DTMF,
		      BUS__BATCH_ITEM__ITEM_SEND_DIGITS,
		      BUS__BATCH_ITEM__ITEM_DIGITS_RESULT,
		      BUS__BATCH_ITEM__ITEM_AUDIO_ACK };
	Bus__BatchItem    it = BUS__BATCH_ITEM__INIT;
	Bus__AudioFrame   af = BUS__AUDIO_FRAME__INIT;
	Bus__Mark         mk = BUS__MARK__INIT;
	Bus__MarkEcho     me = BUS__MARK_ECHO__INIT;
	Bus__Clear        cl = BUS__CLEAR__INIT;
	Bus__Dtmf         dt = BUS__DTMF__INIT;
	Bus__SendDigits   sd = BUS__SEND_DIGITS__INIT;
	Bus__DigitsResult dr = BUS__DIGITS_RESULT__INIT;
	Bus__AudioAck     ak = BUS__AUDIO_ACK__INIT;
	const uint8_t    *p = *pp;
	struct sent      *s;
	int               t;
	size_t            sl, dl;

	if (end - p < 4) {
		*pp = end;
		return;
	}
	t = (p[1] & 0x80) != 0;
	if (nsent[t] == MAX_SENT) {
		*pp = end;
		return;
	}
	s = &sent[t][nsent[t]];
	memset(s, 0, sizeof(*s));
	s->kind = kinds[p[0] % (sizeof(kinds) / sizeof(kinds[0]))];
	sl = p[1] & 0x3f; /* sids are checked before they get here */
	p += 2;
	sl = sl < (size_t)(end - p) ? sl : (size_t)(end - p);
	memcpy(s->sid, p, sl);
	s->sid[strnlen(s->sid, sl)] = '\0'; /* a C string, as sids are */
	p += sl;
	dl = end - p >= 2 ? (size_t)(p[0] << 8 | p[1]) % sizeof(s->data) : 0;
	p += end - p >= 2 ? 2 : end - p;
	dl = dl < (size_t)(end - p) ? dl : (size_t)(end - p);
	memcpy(s->data, p, dl);
	p += dl;
	if (s->kind != BUS__BATCH_ITEM__ITEM_AUDIO && dl > NAME_MAX_BYTES)
		dl = NAME_MAX_BYTES;
	s->len = dl;
	s->a = (uint32_t)dl * 2654435761u;
	s->b = (uint32_t)nsent[t];
	it.call_sid = s->sid;
	it.item_case = s->kind;
	switch (s->kind) {
	case BUS__BATCH_ITEM__ITEM_AUDIO:
		af.payload.data = s->data;
		af.payload.len = s->len;
		af.timestamp_ms = s->a;
		af.seq = s->b;
		it.audio = &af;
		break;
	case BUS__BATCH_ITEM__ITEM_MARK:
		s->data[s->len < sizeof(s->data) ? s->len : s->len - 1] = '\0';
		mk.name = (char *)s->data;
		it.mark = &mk;
		break;
	case BUS__BATCH_ITEM__ITEM_MARK_ECHO:
		s->data[s->len < sizeof(s->data) ? s->len : s->len - 1] = '\0';
		me.name = (char *)s->data;
		it.mark_echo = &me;
		break;
	case BUS__BATCH_ITEM__ITEM_CLEAR:
		it.clear = &cl;
		break;
	case BUS__BATCH_ITEM__ITEM_SEND_DIGITS:
		s->data[s->len < sizeof(s->data) ? s->len : s->len - 1] = '\0';
		sd.digits = (char *)s->data;
		sd.seq = s->a;
		it.send_digits = &sd;
		break;
	case BUS__BATCH_ITEM__ITEM_DIGITS_RESULT:
		s->data[s->len < sizeof(s->data) ? s->len : s->len - 1] = '\0';
		dr.error = (char *)s->data;
		dr.seq = s->a;
		it.digits_result = &dr;
		break;
	case BUS__BATCH_ITEM__ITEM_AUDIO_ACK:
		ak.seq = s->a;
		ak.holder = s->b;
		ak.released = (s->len & 1) != 0;
		it.audio_ack = &ak;
		break;
	default:
		s->data[s->len < sizeof(s->data) ? s->len : s->len - 1] = '\0';
		dt.digit = (char *)s->data;
		dt.duration_ms = s->a;
		it.dtmf = &dt;
		break;
	}
	nsent[t]++;
	if (abatch_add(set, b[t], &it) != 0)
		broken("items dropped by the pub socket");
	*pp = p;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct abatch_set set;
	struct abatch    *b[2];
	const uint8_t    *p = data, *end = data + size;
	uint64_t          done = 0;

	abatch_set_init(&set, pub);
	b[0] = abatch_ref(&set, topics[0]);
	b[1] = abatch_ref(&set, topics[1]);
	nsent[0] = nsent[1] = nseen[0] = nseen[1] = 0;
	while (p < end) {
		if (*p == 0xFF) { /* the end of a turn of the loop */
			p++;
			(void)abatch_flush(&set);
		} else
			add(&set, b, &p, end);
		drain(set.batches - done);
		done = set.batches;
	}
	(void)abatch_flush(&set);
	drain(set.batches - done);
	if (nseen[0] != nsent[0] || nseen[1] != nsent[1])
		broken("items added but never published");
	abatch_unref(&set, b[0]);
	abatch_unref(&set, b[1]);
	abatch_set_fini(&set);
	return (0);
}
