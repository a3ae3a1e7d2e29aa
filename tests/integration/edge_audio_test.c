/*
 * edge_audio_test - media-edge's audio path against the real binary.
 *
 * The test process plays ai-session over NNG (a rep socket at
 * AI_SESSION_URL, a pub socket, a sub socket dialled to the edge's pub
 * URL, echoing every caller frame back with a mark) and the telephone
 * with sim-caller, or with a raw WebSocket client where sim-caller cannot
 * misbehave the way a test needs (a caller that stops reading, a payload
 * with escapes).
 *
 * Cases: both dialects end to end; bad, expired, reused and missing
 * tokens refused with 1008 and no SessionStart; every bad-input kind
 * counted without ending the call; garbage on the NNG sockets; a slow
 * reader cut off; HangUp; an ai-session that dies mid-call replaced via
 * SessionStart{resume} (it sent no acks: the last second is replayed);
 * one that acknowledges its frames and releases the call (exactly the
 * frames after its last ack are replayed); drain on SIGTERM; keys the
 * model presses (SendDigits) heard by the caller as tones on both
 * dialects, bad ones refused with a DigitsResult and a metric.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "codec.h"
#include "fake_batch.h"
#include "harness.h"
#include "hmac.h"
#include "wire.h"

#define SECRET "edge-test-secret-0123456789"
#define MAX_FAKE_CALLS 64
#define FAKE_TOPIC "@fake" /* the fake ai-session's batch topic */

/* ---- the fake ai-session ---- */

struct fcall {
	char     sid[64];
	uint32_t last_seq;
	uint32_t frames;
	uint32_t replayed; /* frames at or below a seq seen before */
	bool     in_order;
	bool     first_is_1;
	uint32_t holder; /* SessionStart.holder */
	bool     released; /* AudioAck{released} sent */
	bool     resumed; /* the next holder's SessionStart came */
	uint32_t ignored; /* frames after the release, before the resume */
};

struct fake {
	nng_socket  rep, pub, sub;
	char        pub_url[256];
	char        edge_pub[256];
	char        edge_topic[160]; /* media-edge's batch topic */
	atomic_bool no_topic; /* answer without a batch topic */
	pthread_t   rep_thr, sub_thr;
	atomic_bool stop;
	atomic_int  starts, resumes, ends, overload_left, marks_echo;
	atomic_int  dtmf, frames, garbage_sent;
	atomic_int  per_call; /* messages outside batches */
	atomic_bool echo;
	atomic_int  pump_bytes; /* extra audio per frame (slow reader) */
	atomic_bool ack; /* AudioAck every caller frame */
	atomic_bool release_now; /* release the call at the next frame */
	atomic_bool bad_acks; /* also send an ack ahead, one stale */
	atomic_int  acks_asked; /* SessionStarts with audio_acks */
	const char *_Atomic keys; /* SendDigits after caller frame 10 */
	atomic_int          keys_failed; /* DigitsResult items back */
	pthread_mutex_t     lock;
	bool                running;
	struct fcall        calls[MAX_FAKE_CALLS];
	int                 ncalls;
	bool                sub_dialled;
	int                 pub_gen;
};

static struct fake F;

static struct fcall *
fcall_get(const char *sid)
{
	int i;

	for (i = 0; i < F.ncalls; i++)
		if (strcmp(F.calls[i].sid, sid) == 0)
			return (&F.calls[i]);
	if (F.ncalls == MAX_FAKE_CALLS)
		return (NULL);
	memset(&F.calls[F.ncalls], 0, sizeof(F.calls[0]));
	snprintf(F.calls[F.ncalls].sid, 64, "%s", sid);
	F.calls[F.ncalls].in_order = true;
	return (&F.calls[F.ncalls++]);
}

static void
send_env(nng_socket s, Bus__Envelope *env)
{
	nng_msg *m;

	if (wire_pack(env, &m) == 0 && nng_sendmsg(s, m, 0) != 0)
		nng_msg_free(m);
}

static void
reply_started(const Bus__Envelope *in)
{
	Bus__Envelope       env = BUS__ENVELOPE__INIT;
	Bus__SessionStarted ss = BUS__SESSION_STARTED__INIT;
	struct wire_ids     ids;

	wire_env_init(&env, &ids, in->call_sid, in->trace_id);
	ss.ai_pub_url = F.pub_url;
	ss.instance = "fake";
	if (!atomic_load(&F.no_topic))
		ss.batch_topic = FAKE_TOPIC;
	env.body_case = BUS__ENVELOPE__BODY_SESSION_STARTED;
	env.session_started = &ss;
	send_env(F.rep, &env);
}

static void
reply_error(const Bus__Envelope *in, Bus__Error__Code code)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT;
	Bus__Error      er = BUS__ERROR__INIT;
	struct wire_ids ids;

	wire_env_init(&env, &ids, in->call_sid, in->trace_id);
	er.code = code;
	er.message = "fake";
	env.body_case = BUS__ENVELOPE__BODY_ERROR;
	env.error = &er;
	send_env(F.rep, &env);
}

static void
reply_ack(const Bus__Envelope *in)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT;
	Bus__Ack        ack = BUS__ACK__INIT;
	struct wire_ids ids;

	wire_env_init(&env, &ids, in->call_sid, in->trace_id);
	env.body_case = BUS__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	send_env(F.rep, &env);
}

static void *
rep_main(void *arg)
{
	Bus__Envelope *in;
	nng_msg       *m;
	struct fcall  *fc;

	(void)arg;
	while (!atomic_load(&F.stop)) {
		if (nng_recvmsg(F.rep, &m, 0) != 0)
			continue; /* receive timeout: check stop */
		if (wire_unpack(m, &in) != 0) {
			nng_msg_free(m);
			continue;
		}
		nng_msg_free(m);
		if (in->body_case == BUS__ENVELOPE__BODY_SESSION_START) {
			if (atomic_load(&F.overload_left) > 0) {
				atomic_fetch_sub(&F.overload_left, 1);
				reply_error(in, BUS__ERROR__CODE__OVERLOADED);
				wire_free(in);
				continue;
			}
			pthread_mutex_lock(&F.lock);
			snprintf(F.edge_pub, sizeof(F.edge_pub), "%s",
			    in->session_start->edge_pub_url);
			snprintf(F.edge_topic, sizeof(F.edge_topic), "%s",
			    in->session_start->batch_topic);
			if (!F.sub_dialled) {
				nng_dial(F.sub, F.edge_pub, NULL,
				    NNG_FLAG_NONBLOCK);
				F.sub_dialled = true;
				nng_msleep(100);
			}
			fc = fcall_get(in->call_sid);
			if (in->session_start->audio_acks)
				atomic_fetch_add(&F.acks_asked, 1);
			if (fc != NULL && fc->released) {
				/* what media-edge published before the
				 * release reaches us first */
				pthread_mutex_unlock(&F.lock);
				nng_msleep(200);
				pthread_mutex_lock(&F.lock);
				fc->resumed = true;
			}
			if (fc != NULL)
				fc->holder = in->session_start->holder;
			pthread_mutex_unlock(&F.lock);
			if (in->session_start->resume)
				atomic_fetch_add(&F.resumes, 1);
			else
				atomic_fetch_add(&F.starts, 1);
			reply_started(in);
		} else if (in->body_case == BUS__ENVELOPE__BODY_SESSION_END) {
			atomic_fetch_add(&F.ends, 1);
			reply_ack(in);
		} else
			reply_error(in, BUS__ERROR__CODE__UNSUPPORTED);
		wire_free(in);
	}
	return (NULL);
}

static void
echo_frame(const char *sid, const Bus__AudioFrame *af)
{
	Bus__BatchItem  it = BUS__BATCH_ITEM__INIT;
	Bus__AudioFrame out = BUS__AUDIO_FRAME__INIT;
	Bus__Mark       mk = BUS__MARK__INIT;
	Bus__BatchItem  mit = BUS__BATCH_ITEM__INIT;
	Bus__BatchItem *items[2] = { &it, &mit };
	unsigned char  *big = NULL;
	char            name[32];
	int             extra = atomic_load(&F.pump_bytes);

	out = *af;
	if (extra > 0) {
		big = calloc(1, (size_t)extra);
		memset(big, 0xFF, (size_t)extra);
		out.payload.data = big;
		out.payload.len = (size_t)extra;
	}
	it.call_sid = (char *)sid;
	it.item_case = BUS__BATCH_ITEM__ITEM_AUDIO;
	it.audio = &out;
	snprintf(name, sizeof(name), "m%u", af->seq);
	mk.name = name;
	mit.call_sid = (char *)sid;
	mit.item_case = BUS__BATCH_ITEM__ITEM_MARK;
	mit.mark = &mk;
	pthread_mutex_lock(&F.lock);
	(void)fb_publish_items(F.pub, F.edge_topic, items, 2);
	pthread_mutex_unlock(&F.lock);
	free(big);
}

/* The model presses keys: a SendDigits item after the echoed audio. */
static void
send_keys(const char *sid, const char *digits)
{
	Bus__BatchItem  it = BUS__BATCH_ITEM__INIT;
	Bus__SendDigits sd = BUS__SEND_DIGITS__INIT;

	sd.digits = (char *)digits;
	sd.seq = 1;
	it.item_case = BUS__BATCH_ITEM__ITEM_SEND_DIGITS;
	it.send_digits = &sd;
	pthread_mutex_lock(&F.lock);
	(void)fb_publish(F.pub, F.edge_topic, sid, &it);
	pthread_mutex_unlock(&F.lock);
}

/* AudioAck{seq, released, holder} for call sid (F.lock held). */
static void
send_ack(const char *sid, uint32_t seq, bool released, uint32_t holder)
{
	Bus__BatchItem  it = BUS__BATCH_ITEM__INIT;
	Bus__AudioAck   ack = BUS__AUDIO_ACK__INIT;
	Bus__BatchItem *items[1] = { &it };

	ack.seq = seq;
	ack.released = released;
	ack.holder = holder;
	it.call_sid = (char *)sid;
	it.item_case = BUS__BATCH_ITEM__ITEM_AUDIO_ACK;
	it.audio_ack = &ack;
	(void)fb_publish_items(F.pub, F.edge_topic, items, 1);
}

static void on_item(const char *topic, const Bus__Envelope *in);

static void *
sub_main(void *arg)
{
	Bus__Envelope *in, one;
	const char    *topic;
	nng_msg       *m;
	size_t         i;

	(void)arg;
	while (!atomic_load(&F.stop)) {
		if (nng_recvmsg(F.sub, &m, 0) != 0)
			continue;
		if (wire_unpack_pub(m, &topic, &in) != 0) {
			nng_msg_free(m);
			continue;
		}
		/* media-edge sends audio, mark echoes and digits only in
		 * batches under our topic */
		if (strcmp(topic, FAKE_TOPIC) == 0
		    && in->body_case == BUS__ENVELOPE__BODY_AUDIO_BATCH)
			for (i = 0; i < in->audio_batch->n_items; i++) {
				if (in->audio_batch->items[i]->item_case
				    == BUS__BATCH_ITEM__ITEM_DIGITS_RESULT)
					atomic_fetch_add(&F.keys_failed, 1);
				fb_item_env(in->audio_batch->items[i], &one);
				on_item(one.call_sid, &one);
			}
		else if (in->body_case != BUS__ENVELOPE__BODY_AUDIO_BATCH)
			atomic_fetch_add(&F.per_call, 1);
		wire_free(in);
		nng_msg_free(m);
	}
	return (NULL);
}

static void
on_item(const char *topic, const Bus__Envelope *in)
{
	struct fcall *fc;

	switch (in->body_case) {
	case BUS__ENVELOPE__BODY_AUDIO:
		atomic_fetch_add(&F.frames, 1);
		if (atomic_load(&F.keys) != NULL && in->audio->seq == 10)
			send_keys(topic, atomic_load(&F.keys));
		pthread_mutex_lock(&F.lock);
		fc = fcall_get(topic);
		if (fc != NULL && fc->released && !fc->resumed) {
			/* let go: media-edge replays it to the next one */
			fc->ignored++;
			pthread_mutex_unlock(&F.lock);
			break;
		}
		if (fc != NULL) {
			if (fc->frames == 0)
				fc->first_is_1 = in->audio->seq == 1;
			else if (in->audio->seq != fc->last_seq + 1)
				fc->in_order = false;
			if (fc->frames > 0 && in->audio->seq <= fc->last_seq)
				fc->replayed++;
			else
				fc->last_seq = in->audio->seq;
			fc->frames++;
			if (atomic_exchange(&F.bad_acks, false)) {
				send_ack(topic, in->audio->seq + 1000, false,
				    fc->holder);
				send_ack(topic, in->audio->seq, false,
				    fc->holder + 1);
			}
			if (!fc->released
			    && atomic_exchange(&F.release_now, false)) {
				send_ack(
				    topic, in->audio->seq, true, fc->holder);
				fc->released = true;
			} else if (atomic_load(&F.ack))
				send_ack(
				    topic, in->audio->seq, false, fc->holder);
		}
		pthread_mutex_unlock(&F.lock);
		if (atomic_load(&F.echo))
			echo_frame(topic, in->audio);
		break;
	case BUS__ENVELOPE__BODY_MARK_ECHO:
		atomic_fetch_add(&F.marks_echo, 1);
		break;
	case BUS__ENVELOPE__BODY_DTMF:
		atomic_fetch_add(&F.dtmf, 1);
		break;
	default:
		break;
	}
}

static void
fake_open_pub(void)
{
	char name[32];

	snprintf(name, sizeof(name), "fakepub%d", F.pub_gen++);
	snprintf(F.pub_url, sizeof(F.pub_url), "%s", harness_ipc_url(name));
	assert_int_equal(nng_pub0_open(&F.pub), 0);
	nng_socket_set_int(F.pub, NNG_OPT_SENDBUF, 8192);
	assert_int_equal(nng_listen(F.pub, F.pub_url, NULL, 0), 0);
}

static void
fake_start(const char *rep_url)
{
	memset(&F, 0, sizeof(F));
	pthread_mutex_init(&F.lock, NULL);
	atomic_store(&F.echo, true);
	assert_int_equal(nng_rep0_open(&F.rep), 0);
	assert_int_equal(nng_listen(F.rep, rep_url, NULL, 0), 0);
	fake_open_pub();
	assert_int_equal(nng_sub0_open(&F.sub), 0);
	assert_int_equal(
	    nng_socket_set(F.sub, NNG_OPT_SUB_SUBSCRIBE, "", 0), 0);
	nng_socket_set_ms(F.rep, NNG_OPT_RECVTIMEO, 100);
	nng_socket_set_ms(F.sub, NNG_OPT_RECVTIMEO, 100);
	nng_socket_set_int(F.sub, NNG_OPT_RECVBUF, 8192);
	pthread_create(&F.rep_thr, NULL, rep_main, NULL);
	pthread_create(&F.sub_thr, NULL, sub_main, NULL);
	F.running = true;
}

static void
fake_stop(void)
{
	if (!F.running)
		return;
	F.running = false;
	atomic_store(&F.stop, true);
	pthread_join(F.rep_thr, NULL);
	pthread_join(F.sub_thr, NULL);
	nng_close(F.rep);
	nng_close(F.pub);
	nng_close(F.sub);
	pthread_mutex_destroy(&F.lock);
}

/* ---- media-edge ---- */

struct edge_run {
	struct harness_proc *p;
	int                  port;
	char                 http[64];
	char                 ws[96];
	const char          *ctl;
	const char          *ai;
};

static struct harness_proc *current;

/* After every test, also a failed one: nothing left running. */
static int
teardown(void **state)
{
	(void)state;
	if (current != NULL && harness_alive(current))
		harness_kill9(current);
	current = NULL;
	fake_stop();
	return (0);
}

static int
edge_spawn(struct edge_run *r, const char *const extra[])
{
	static char buf[16][128];
	const char *env[32];
	int         n = 0, i;

	static int gen;
	char       name[32];

	r->port = harness_free_port();
	snprintf(name, sizeof(name), "ai%d", gen);
	r->ai = harness_ipc_url(name);
	snprintf(name, sizeof(name), "edgectl%d", gen);
	r->ctl = harness_ipc_url(name);
	snprintf(name, sizeof(name), "edgepub%d", gen++);
	snprintf(r->http, sizeof(r->http), "http://127.0.0.1:%d", r->port);
	snprintf(r->ws, sizeof(r->ws), "ws://127.0.0.1:%d/media", r->port);
	snprintf(buf[0], 128, "EDGE_HTTP_PORT=%d", r->port);
	snprintf(buf[1], 128, "EDGE_LISTEN_URL=%s", r->ctl);
	snprintf(buf[2], 128, "EDGE_PUB_URL=%s", harness_ipc_url(name));
	snprintf(buf[3], 128, "AI_SESSION_URL=%s", r->ai);
	for (i = 0; i < 4; i++)
		env[n++] = buf[i];
	env[n++] = "EDGE_HTTP_ADDR=127.0.0.1";
	env[n++] = "EDGE_STREAM_TOKEN_SECRET=" SECRET;
	env[n++] = "EDGE_SESSION_TIMEOUT_MS=1000";
	env[n++] = "TWILIO_AUTH_TOKEN";
	env[n++] = "EDGE_TWILIO_AUTH_TOKEN";
	for (i = 0; extra != NULL && extra[i] != NULL; i++)
		env[n++] = extra[i];
	env[n] = NULL;
	fake_start(r->ai);
	r->p = harness_spawn("media-edge", env);
	current = r->p;
	return (r->p == NULL ? -1 : 0);
}

static void
edge_finish(struct edge_run *r)
{
	assert_int_equal(harness_stop(r->p, 15000), 0);
	fake_stop();
}

/* Value of one series in /metrics (0 when absent). */
static double
metric(struct edge_run *r, const char *series)
{
	char   url[96], *body = NULL, *p;
	long   status = 0;
	double v = 0;
	size_t n = strlen(series);

	snprintf(url, sizeof(url), "%s/metrics", r->http);
	if (harness_http("GET", url, NULL, NULL, &status, &body) != 0)
		return (-1);
	for (p = body; (p = strstr(p, series)) != NULL; p += n)
		if ((p == body || p[-1] == '\n') && p[n] == ' ') {
			v = strtod(p + n + 1, NULL);
			break;
		}
	free(body);
	return (v);
}

/* Runs sim-caller to the end and returns its report. */
static json_t *
caller_run(struct edge_run *r, const char *args)
{
	char        cmd[2048], *line = NULL;
	size_t      cap = 0;
	const char *bin = getenv("BIN_DIR");
	FILE       *f;
	json_t     *rep = NULL;

	snprintf(cmd, sizeof(cmd),
	    "%s/sim-caller --url %s %s 2>>%s/caller.log",
	    bin != NULL ? bin : "build/debug/bin", r->ws, args,
	    harness_tmpdir());
	if ((f = popen(cmd, "r")) == NULL)
		return (NULL);
	while (getline(&line, &cap, f) > 0)
		if (line[0] == '{')
			rep = json_loads(line, 0, NULL);
	free(line);
	pclose(f);
	if (rep == NULL)
		fprintf(stderr, "no report from: %s\n", cmd);
	else if (getenv("EDGE_TEST_VERBOSE") != NULL)
		json_dumpf(rep, stderr, JSON_COMPACT);
	return (rep);
}

static json_int_t
jint(json_t *o, const char *path)
{
	char        key[64];
	const char *dot;
	json_t     *v = o;

	while ((dot = strchr(path, '.')) != NULL) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		v = json_object_get(v, key);
		path = dot + 1;
	}
	return (json_integer_value(json_object_get(v, path)));
}

static int
ends_at_least(void *arg)
{
	return (atomic_load(&F.ends) >= *(int *)arg);
}

static void
wait_ends(int n)
{
	assert_int_equal(harness_wait_for(ends_at_least, &n, 5000), 0);
}

static void
check_order(int ncalls)
{
	int i;

	pthread_mutex_lock(&F.lock);
	assert_int_equal(F.ncalls, ncalls);
	for (i = 0; i < F.ncalls; i++) {
		assert_true(F.calls[i].in_order);
		assert_true(F.calls[i].first_is_1);
		assert_true(F.calls[i].frames >= 45);
	}
	pthread_mutex_unlock(&F.lock);
}

/* ---- raw WebSocket client ---- */

static int
raw_connect(struct edge_run *r, int rcvbuf)
{
	struct sockaddr_in sa;
	char               req[512], buf[2048];
	int                fd, n, got = 0;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)r->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return (-1);
	n = snprintf(req, sizeof(req),
	    "GET /media HTTP/1.1\r\nHost: "
	    "127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n",
	    r->port);
	if (write(fd, req, (size_t)n) != n)
		return (-1);
	while (got < (int)sizeof(buf) - 1) {
		if ((n = (int)read(fd, buf + got, 1)) <= 0)
			return (-1);
		got += n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL)
			break;
	}
	if (strstr(buf, " 101 ") == NULL) {
		close(fd);
		return (-1);
	}
	return (fd);
}

static void
raw_send(int fd, int opcode, const void *data, size_t len)
{
	unsigned char hdr[14], mask[4] = { 1, 2, 3, 4 }, *p;
	size_t        h = 0, i;

	hdr[h++] = (unsigned char)(0x80 | opcode);
	if (len < 126)
		hdr[h++] = (unsigned char)(0x80 | len);
	else if (len < 65536) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	} else {
		hdr[h++] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			hdr[h++]
			    = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	}
	memcpy(hdr + h, mask, 4);
	h += 4;
	p = malloc(h + len);
	memcpy(p, hdr, h);
	for (i = 0; i < len; i++)
		p[h + i] = ((const unsigned char *)data)[i] ^ mask[i % 4];
	assert_int_equal(write(fd, p, h + len), (ssize_t)(h + len));
	free(p);
}

static void
raw_text(int fd, const char *fmt, ...)
{
	char    buf[8192];
	va_list ap;
	int     n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	raw_send(fd, 1, buf, (size_t)n);
}

static void
make_token(const char *sid, long long ttl, char *out)
{
	char      msg[128], hex[65];
	long long exp = (long long)time(NULL) + ttl;
	int       n;

	n = snprintf(msg, sizeof(msg), "%s.%lld", sid, exp);
	assert_int_equal(hmac_sha256_hex(SECRET, msg, (size_t)n, hex), 0);
	snprintf(out, 160, "v1.%lld.%s", exp, hex);
}

static void
raw_start(int fd, const char *sid)
{
	char tok[160];

	make_token(sid, 60, tok);
	raw_text(fd,
	    "{\"event\":\"connected\",\"protocol\":\"Call\","
	    "\"version\":\"1.0.0\"}");
	raw_text(fd,
	    "{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":"
	    "{\"streamSid\":\"MZ%s\",\"callSid\":\"%s\",\"accountSid\":"
	    "\"AC1\",\"tracks\":[\"inbound\"],\"customParameters\":{\"token\":"
	    "\"%s\"}},\"streamSid\":\"MZ%s\"}",
	    sid + 2, sid, tok, sid + 2);
}

/* ---- tests ---- */

static void
test_twilio_echo(void **state)
{
	struct edge_run r;
	json_t         *rep;

	(void)state;
	assert_int_equal(edge_spawn(&r, NULL), 0);
	rep = caller_run(&r,
	    "--calls 4 --duration-ms 1500 --drain-ms 500 "
	    "--tags --dtmf 5@300 --token-secret " SECRET);
	assert_non_null(rep);
	assert_int_equal(jint(rep, "completed"), 4);
	assert_int_equal(jint(rep, "lost.total"), 0);
	assert_true(jint(rep, "frames_received") >= 4 * 70);
	assert_true(jint(rep, "marks_received") >= 4 * 70);
	assert_true(jint(rep, "rtt_ms.samples") > 0);
	wait_ends(4);
	assert_int_equal(atomic_load(&F.starts), 4);
	assert_int_equal(atomic_load(&F.dtmf), 4);
	assert_true(atomic_load(&F.marks_echo) > 0);
	check_order(4);
	assert_true(
	    metric(&r, "edge_audio_frames_total{direction=\"in\"}") >= 4 * 70);
	assert_true(metric(&r, "edge_call_setup_seconds_count") == 4);
	assert_true(metric(&r, "edge_active_calls") == 0);
	json_decref(rep);
	edge_finish(&r);
}

static void
test_signalwire_echo(void **state)
{
	struct edge_run r;
	json_t         *rep;

	(void)state;
	assert_int_equal(edge_spawn(&r, NULL), 0);
	atomic_store(&F.overload_left, 2); /* retried, not failed */
	rep = caller_run(&r,
	    "--calls 2 --duration-ms 1500 --drain-ms 500 "
	    "--tags --dialect signalwire --token-secret " SECRET);
	assert_non_null(rep);
	assert_int_equal(jint(rep, "completed"), 2);
	assert_int_equal(jint(rep, "lost.total"), 0);
	assert_true(jint(rep, "frames_received") >= 2 * 70);
	wait_ends(2);
	assert_int_equal(atomic_load(&F.starts), 2);
	check_order(2);
	assert_true(metric(&r,
	                "edge_session_requests_total{type=\"start\","
	                "result=\"overloaded\"}")
	    == 2);
	json_decref(rep);
	edge_finish(&r);
}

/* The fake model presses keys in each call of the dialect: the callers
 * hear them (sim-caller's DTMF detector) or, bad, they are refused. */
static void
keys_case(const char *dialect, const char *keys, int heard, int failed)
{
	struct edge_run r;
	json_t         *rep;
	char            args[256];

	assert_int_equal(edge_spawn(&r, NULL), 0);
	atomic_store(&F.keys, keys);
	snprintf(args, sizeof(args),
	    "--calls 2 --duration-ms 2500 --drain-ms 500 --dialect %s "
	    "--token-secret " SECRET,
	    dialect);
	rep = caller_run(&r, args);
	assert_non_null(rep);
	assert_int_equal(jint(rep, "completed"), 2);
	assert_int_equal(jint(rep, "dtmf_heard"), heard);
	wait_ends(2);
	assert_int_equal(atomic_load(&F.keys_failed), failed);
	assert_int_equal(
	    metric(&r, "edge_keys_total{how=\"tones\",result=\"sent\"}"),
	    failed > 0 ? 0 : 2);
	assert_int_equal(
	    metric(&r, "edge_bad_input_total{reason=\"bad_digits\"}"), failed);
	json_decref(rep);
	atomic_store(&F.keys, NULL);
	edge_finish(&r);
}

static void
test_keys_twilio(void **state)
{
	(void)state;
	keys_case("twilio", "159#", 2 * 4, 0);
}

static void
test_keys_signalwire(void **state)
{
	(void)state;
	keys_case("signalwire", "7w*0D", 2 * 4, 0);
}

static void
test_keys_bad(void **state)
{
	(void)state;
	keys_case("twilio", "12x", 0, 2);
}

static double keys_ended_n;

static int
keys_ended(void *arg)
{
	keys_ended_n = metric(
	    arg, "edge_keys_total{how=\"none\",result=\"call_ended\"}");
	return (keys_ended_n >= 1);
}

/* Keys for a call that has ended: dropped and counted, nothing else. */
static void
test_keys_call_ended(void **state)
{
	struct edge_run r;
	json_t         *rep;
	char            sid[64];

	(void)state;
	assert_int_equal(edge_spawn(&r, NULL), 0);
	rep = caller_run(&r,
	    "--calls 1 --duration-ms 600 --drain-ms 200 "
	    "--token-secret " SECRET);
	assert_non_null(rep);
	assert_int_equal(jint(rep, "completed"), 1);
	json_decref(rep);
	wait_ends(1);
	pthread_mutex_lock(&F.lock);
	snprintf(sid, sizeof(sid), "%s", F.calls[0].sid);
	pthread_mutex_unlock(&F.lock);
	send_keys(sid, "123");
	assert_int_equal(harness_wait_for(keys_ended, &r, 5000), 0);
	assert_true(keys_ended_n == 1);
	assert_int_equal(atomic_load(&F.keys_failed), 0);
	assert_true(metric(&r, "edge_active_calls") == 0);
	edge_finish(&r);
}

static void
refused(const char *inject, const char *reason, int calls, int starts)
{
	struct edge_run r;
	json_t         *rep;
	char            args[256], series[128];

	assert_int_equal(edge_spawn(&r, NULL), 0);
	snprintf(args, sizeof(args),
	    "--calls %d --duration-ms 1000 "
	    "--ramp-ms 300 --inject %s --token-secret " SECRET,
	    calls, inject);
	rep = caller_run(&r, args);
	assert_non_null(rep);
	assert_int_equal(jint(rep, "close_codes.1008"), calls - starts);
	nng_msleep(300);
	assert_int_equal(atomic_load(&F.starts), starts);
	assert_int_equal(atomic_load(&F.frames) > 0, starts > 0);
	snprintf(series, sizeof(series),
	    "edge_stream_auth_failures_total{reason=\"%s\"}", reason);
	assert_true(metric(&r, series) == calls - starts);
	json_decref(rep);
	edge_finish(&r);
}

static void
test_no_token(void **state)
{
	(void)state;
	refused("no-token", "missing", 2, 0);
}

static void
test_bad_token(void **state)
{
	(void)state;
	refused("bad-token", "bad_signature", 2, 0);
}

static void
test_expired_token(void **state)
{
	(void)state;
	refused("expired-token", "expired", 2, 0);
}

static void
test_reused_token(void **state)
{
	(void)state;
	refused("reused-token", "reused", 3, 1);
}

static void
bad_input(const char *inject, const char *reason)
{
	struct edge_run r;
	json_t         *rep;
	char            args[256], series[128];

	assert_int_equal(edge_spawn(&r, NULL), 0);
	snprintf(args, sizeof(args),
	    "--calls 1 --duration-ms 1200 "
	    "--drain-ms 300 --inject %s --token-secret " SECRET,
	    inject);
	rep = caller_run(&r, args);
	assert_non_null(rep);
	/* the call went on: completed by the caller, audio both ways */
	assert_int_equal(jint(rep, "completed"), 1);
	assert_true(jint(rep, "frames_received") >= 40);
	snprintf(series, sizeof(series), "edge_bad_input_total{reason=\"%s\"}",
	    reason);
	assert_true(metric(&r, series) >= 1);
	assert_true(harness_alive(r.p));
	json_decref(rep);
	edge_finish(&r);
}

static void
test_bad_json(void **state)
{
	(void)state;
	bad_input("bad-json", "malformed_json");
}

static void
test_bad_base64(void **state)
{
	(void)state;
	bad_input("bad-base64", "bad_base64");
}

static void
test_media_before_start(void **state)
{
	(void)state;
	bad_input("media-before-start", "media_before_start");
}

static void
test_double_start(void **state)
{
	(void)state;
	bad_input("double-start", "second_start");
}

static void
test_oversize(void **state)
{
	(void)state;
	bad_input("oversize", "oversize");
}

static void
test_binary(void **state)
{
	(void)state;
	bad_input("binary-frame", "binary_frame");
}

static void
test_unknown_event(void **state)
{
	(void)state;
	bad_input("unknown-event", "unknown_event");
}

/* Escaped payloads, odd field order, numbers as numbers, timestamp gaps. */
static void
test_raw_shapes_and_gaps(void **state)
{
	struct edge_run r;
	char            b64[300];
	unsigned char   frame[160];
	int             fd, i;

	(void)state;
	assert_int_equal(edge_spawn(&r, NULL), 0);
	atomic_store(&F.echo, false);
	assert_true((fd = raw_connect(&r, 0)) >= 0);
	raw_start(fd, "CAraw1");
	memset(frame, 0x7f, sizeof(frame));
	frame[0] = 0xfb; /* base64 starts with "+/" */
	frame[1] = 0xff;
	assert_int_equal(codec_b64_encode(frame, 160, b64, sizeof(b64)), 216);
	/* ts 0: fields in another order, payload with \/ escapes */
	raw_text(fd,
	    "{\"media\":{\"payload\":\"%c%c\\/%s\",\"timestamp\":0},"
	    "\"event\":\"media\",\"streamSid\":\"MZraw1\"}",
	    b64[0], b64[1], b64 + 3);
	/* ts 20, plain */
	raw_text(fd,
	    "{\"event\":\"media\",\"media\":{\"track\":\"inbound\","
	    "\"timestamp\":\"20\",\"payload\":\"%s\"}}",
	    b64);
	/* ts 100: a 60 ms gap, padded with three silence frames */
	raw_text(fd,
	    "{\"event\":\"media\",\"media\":{\"timestamp\":\"100\","
	    "\"payload\":\"%s\"},\"extra\":[1,{\"a\":null},true,-2.5e3]}",
	    b64);
	/* \u escape in the event name: jansson's path */
	raw_text(fd,
	    "{\"event\":\"m\\u0065dia\",\"media\":{\"timestamp\":"
	    "\"120\",\"payload\":\"%s\"}}",
	    b64);
	for (i = 0; i < 50 && atomic_load(&F.frames) < 7; i++)
		nng_msleep(20);
	assert_int_equal(atomic_load(&F.frames), 7);
	pthread_mutex_lock(&F.lock);
	assert_int_equal(F.ncalls, 1);
	assert_true(F.calls[0].in_order && F.calls[0].first_is_1);
	assert_int_equal(F.calls[0].frames, 7);
	pthread_mutex_unlock(&F.lock);
	assert_true(
	    metric(&r, "edge_audio_frames_total{direction=\"padded\"}") == 3);
	assert_true(
	    metric(&r, "edge_bad_input_total{reason=\"bad_base64\"}") == 0);
	raw_text(fd, "{\"event\":\"stop\"}");
	close(fd);
	wait_ends(1);
	edge_finish(&r);
}

/* Garbage on both NNG sockets: answered or dropped, counted, no crash. */
static void
test_bus_garbage(void **state)
{
	struct edge_run r;
	nng_socket      req;
	nng_msg        *m;
	Bus__Envelope  *env;

	(void)state;
	assert_int_equal(edge_spawn(&r, NULL), 0);
	assert_int_equal(nng_req0_open(&req), 0);
	nng_socket_set_ms(req, NNG_OPT_RECVTIMEO, 3000);
	assert_int_equal(nng_dial(req, r.ctl, NULL, 0), 0);
	assert_int_equal(nng_send(req, "\xff\xff\xffgarbage", 10, 0), 0);
	assert_int_equal(nng_recvmsg(req, &m, 0), 0);
	assert_int_equal(wire_unpack(m, &env), 0);
	assert_int_equal(env->body_case, BUS__ENVELOPE__BODY_ERROR);
	wire_free(env);
	nng_msg_free(m);
	nng_close(req);
	/* garbage published by "ai-session" reaches the edge's sub socket
	 * once it has dialled us, i.e. after one call started */
	json_decref(caller_run(&r,
	    "--calls 1 --duration-ms 300 "
	    "--token-secret " SECRET));
	assert_int_equal(nng_send(F.pub, "CAx\0\xff\xfe", 6, 0), 0);
	assert_int_equal(nng_send(F.pub, "no-nul-at-all", 13, 0), 0);
	nng_msleep(300);
	assert_true(
	    metric(&r, "edge_bad_input_total{reason=\"bus_garbage\"}") >= 1);
	assert_true(harness_alive(r.p));
	edge_finish(&r);
}

/* Audio travels only in batches: an ai-session that answers without its
 * batch topic does not get the call (closed 1011, its session ended). */
static void
test_no_batch_topic(void **state)
{
	struct edge_run r;
	json_t         *rep;

	(void)state;
	assert_int_equal(edge_spawn(&r, NULL), 0);
	atomic_store(&F.no_topic, true);
	rep = caller_run(&r,
	    "--calls 1 --duration-ms 1500 --drain-ms 500 "
	    "--token-secret " SECRET);
	assert_non_null(rep);
	assert_int_equal(jint(rep, "close_codes.1011"), 1);
	assert_int_equal(jint(rep, "frames_received"), 0);
	wait_ends(1);
	assert_int_equal(atomic_load(&F.frames), 0);
	assert_true(
	    metric(&r, "edge_stream_closes_total{reason=\"session_failed\"}")
	    == 1);
	json_decref(rep);
	edge_finish(&r);
}

/* A caller that stops reading is cut off, not buffered without bound. */
static void
test_slow_reader(void **state)
{
	const char *const env[] = { "EDGE_OUT_QUEUE_BYTES=65536", NULL };
	struct edge_run   r;
	char              b64[300], rd[64];
	unsigned char     frame[160];
	int               fd, i;
	ssize_t           n;

	(void)state;
	assert_int_equal(edge_spawn(&r, env), 0);
	atomic_store(&F.pump_bytes, 60000); /* ~80 KB of JSON per frame */
	assert_true((fd = raw_connect(&r, 4096)) >= 0);
	raw_start(fd, "CAslow1");
	memset(frame, 0xff, sizeof(frame));
	codec_b64_encode(frame, 160, b64, sizeof(b64));
	for (i = 0;
	     i < 200 && metric(&r, "edge_slow_reader_cutoffs_total") < 1;
	     i++) {
		raw_text(fd,
		    "{\"event\":\"media\",\"media\":{\"timestamp\":"
		    "\"%d\",\"payload\":\"%s\"}}",
		    i * 20, b64);
		nng_msleep(20);
	}
	assert_true(metric(&r, "edge_slow_reader_cutoffs_total") == 1);
	/* the socket was dropped: reading drains, then hits EOF */
	for (i = 0; i < 100000; i++)
		if ((n = read(fd, rd, sizeof(rd))) <= 0)
			break;
	assert_true(n <= 0);
	close(fd);
	wait_ends(1);
	assert_true(harness_alive(r.p));
	edge_finish(&r);
}

static void
send_hangup(struct edge_run *r, const char *sid)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT, *rep;
	Bus__HangUp     hu = BUS__HANG_UP__INIT;
	struct wire_ids ids;
	nng_socket      req;
	nng_msg        *m;

	assert_int_equal(nng_req0_open(&req), 0);
	nng_socket_set_ms(req, NNG_OPT_RECVTIMEO, 3000);
	assert_int_equal(nng_dial(req, r->ctl, NULL, 0), 0);
	wire_env_init(&env, &ids, sid, NULL);
	hu.reason = "test";
	env.body_case = BUS__ENVELOPE__BODY_HANG_UP;
	env.hang_up = &hu;
	send_env(req, &env);
	assert_int_equal(nng_recvmsg(req, &m, 0), 0);
	assert_int_equal(wire_unpack(m, &rep), 0);
	assert_int_equal(rep->body_case, BUS__ENVELOPE__BODY_ACK);
	wire_free(rep);
	nng_msg_free(m);
	nng_close(req);
}

/* HangUp closes the stream normally; the ai-session gets SessionEnd. */
static void
test_hangup(void **state)
{
	struct edge_run r;
	unsigned char   buf[4096];
	int             fd, i;
	ssize_t         n = 0;
	bool            closed = false;

	(void)state;
	assert_int_equal(edge_spawn(&r, NULL), 0);
	assert_true((fd = raw_connect(&r, 0)) >= 0);
	raw_start(fd, "CAhang1");
	for (i = 0; i < 100 && atomic_load(&F.starts) < 1; i++)
		nng_msleep(20);
	send_hangup(&r, "CAhang1");
	/* a close frame (opcode 8) with 1000 arrives, then EOF */
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (n >= 4 && (buf[0] & 0x0f) == 8 && buf[2] == 0x03
		    && buf[3] == 0xe8)
			closed = true;
	assert_true(closed);
	close(fd);
	wait_ends(1);
	edge_finish(&r);
}

/* The ai-session's pub pipe goes away: SessionStart{resume} follows and
 * audio flows through the new instance, starting with the last second of
 * caller audio (EDGE_REPLAY_MS), which the old one may not have passed
 * on. */
static void
test_resume(void **state)
{
	struct edge_run r;
	json_t         *rep;
	FILE           *f;
	char            cmd[1024];
	const char     *bin = getenv("BIN_DIR");
	int             i;

	(void)state;
	assert_int_equal(edge_spawn(&r, NULL), 0);
	snprintf(cmd, sizeof(cmd),
	    "%s/sim-caller --url %s --calls 1 "
	    "--duration-ms 3000 --drain-ms 500 --token-secret " SECRET
	    " 2>>%s/caller.log",
	    bin != NULL ? bin : "build/debug/bin", r.ws, harness_tmpdir());
	assert_non_null(f = popen(cmd, "r"));
	for (i = 0; i < 100 && atomic_load(&F.frames) < 20; i++)
		nng_msleep(20);
	pthread_mutex_lock(&F.lock);
	nng_close(F.pub); /* the old instance "dies" */
	fake_open_pub();
	pthread_mutex_unlock(&F.lock);
	for (i = 0; i < 100 && atomic_load(&F.resumes) < 1; i++)
		nng_msleep(20);
	assert_int_equal(atomic_load(&F.resumes), 1);
	rep = json_loadf(f, 0, NULL);
	pclose(f);
	assert_non_null(rep);
	assert_int_equal(jint(rep, "completed"), 1);
	/* frames came back after the switch too */
	assert_true(jint(rep, "frames_received") >= 100);
	assert_true(metric(&r, "edge_session_resumes_total") == 1);
	pthread_mutex_lock(&F.lock);
	print_message("frames replayed: %u\n", F.calls[0].replayed);
	assert_true(F.calls[0].replayed >= 20 && F.calls[0].replayed <= 50);
	pthread_mutex_unlock(&F.lock);
	assert_true(
	    metric(&r, "edge_audio_frames_total{direction=\"replayed\"}")
	    == F.calls[0].replayed);
	json_decref(rep);
	wait_ends(1);
	edge_finish(&r);
}

/* The ai-session acknowledges every frame it takes, then releases the
 * call (a graceful move): media-edge hands it over at once and the next
 * holder gets exactly the frames after the last ack, in order: nothing
 * repeated, nothing lost.  Acks ahead of what was sent and of another
 * holder are ignored and counted, and the call goes on. */
static void
test_handover_acked(void **state)
{
	struct edge_run r;
	json_t         *rep;
	FILE           *f;
	char            cmd[1024];
	const char     *bin = getenv("BIN_DIR");
	int             i;

	(void)state;
	assert_int_equal(edge_spawn(&r, NULL), 0);
	atomic_store(&F.ack, true);
	snprintf(cmd, sizeof(cmd),
	    "%s/sim-caller --url %s --calls 1 "
	    "--duration-ms 3000 --drain-ms 500 --token-secret " SECRET
	    " 2>>%s/caller.log",
	    bin != NULL ? bin : "build/debug/bin", r.ws, harness_tmpdir());
	assert_non_null(f = popen(cmd, "r"));
	for (i = 0; i < 100 && atomic_load(&F.frames) < 20; i++)
		nng_msleep(20);
	atomic_store(&F.bad_acks, true);
	for (i = 0; i < 100 && atomic_load(&F.bad_acks); i++)
		nng_msleep(20);
	nng_msleep(200);
	atomic_store(&F.release_now, true);
	for (i = 0; i < 200 && atomic_load(&F.resumes) < 1; i++)
		nng_msleep(20);
	assert_int_equal(atomic_load(&F.resumes), 1);
	rep = json_loadf(f, 0, NULL);
	pclose(f);
	assert_non_null(rep);
	assert_int_equal(jint(rep, "completed"), 1);
	wait_ends(1);
	pthread_mutex_lock(&F.lock);
	print_message("%u frames taken, %u ignored after the release, "
	              "%u repeated\n",
	    F.calls[0].frames, F.calls[0].ignored, F.calls[0].replayed);
	assert_true(F.calls[0].in_order); /* no gap */
	assert_true(F.calls[0].first_is_1);
	assert_int_equal(F.calls[0].replayed, 0); /* no repeat */
	assert_int_equal(F.calls[0].holder, 1);
	assert_true(F.calls[0].frames >= 140);
	pthread_mutex_unlock(&F.lock);
	assert_int_equal(atomic_load(&F.acks_asked), 2);
	assert_true(metric(&r, "edge_session_resumes_total") == 1);
	assert_true(
	    metric(&r, "edge_audio_acks_total{result=\"released\"}") == 1);
	assert_true(
	    metric(&r, "edge_audio_acks_total{result=\"bad_ack\"}") == 1);
	assert_true(
	    metric(&r, "edge_audio_acks_total{result=\"stale\"}") == 1);
	assert_true(
	    metric(&r, "edge_bad_input_total{reason=\"bad_ack\"}") == 2);
	assert_true(metric(&r, "edge_audio_acks_total{result=\"ok\"}") >= 100);
	/* the call is gone: nothing kept */
	assert_true(metric(&r, "edge_audio_unacked_frames") == 0);
	json_decref(rep);
	edge_finish(&r);
}

/* A call past EDGE_MAX_CALL_SECONDS is closed normally (and hung up at
 * the provider, not configured here). */
static void
test_max_duration(void **state)
{
	const char *const env[] = { "EDGE_MAX_CALL_SECONDS=1", NULL };
	struct edge_run   r;
	json_t           *rep;

	(void)state;
	assert_int_equal(edge_spawn(&r, env), 0);
	rep = caller_run(
	    &r, "--calls 1 --duration-ms 5000 --token-secret " SECRET);
	assert_non_null(rep);
	assert_int_equal(jint(rep, "closed_by_peer"), 1);
	assert_int_equal(jint(rep, "close_codes.1000"), 1);
	assert_true(jint(rep, "frames_sent") < 150); /* cut at 1-2 s */
	wait_ends(1);
	assert_true(
	    metric(&r, "edge_stream_closes_total{reason=\"max_duration\"}")
	    == 1);
	json_decref(rep);
	edge_finish(&r);
}

static int
ready_status(struct edge_run *r)
{
	char url[96];
	long status = 0;

	snprintf(url, sizeof(url), "%s/ready", r->http);
	if (harness_http("GET", url, NULL, NULL, &status, NULL) != 0)
		return (-1);
	return ((int)status);
}

/* SIGTERM: /ready 503, new streams refused, calls closed with 1001 at
 * the drain deadline, exit 0. */
static void
test_drain(void **state)
{
	const char *const env[] = { "EDGE_DRAIN_TIMEOUT_MS=1500", NULL };
	struct edge_run   r;
	json_t           *rep;
	FILE             *f;
	char              cmd[1024];
	const char       *bin = getenv("BIN_DIR");
	int               i;

	(void)state;
	assert_int_equal(edge_spawn(&r, env), 0);
	assert_int_equal(ready_status(&r), 200);
	snprintf(cmd, sizeof(cmd),
	    "%s/sim-caller --url %s --calls 2 "
	    "--duration-ms 20000 --token-secret " SECRET " 2>>%s/caller.log",
	    bin != NULL ? bin : "build/debug/bin", r.ws, harness_tmpdir());
	assert_non_null(f = popen(cmd, "r"));
	for (i = 0; i < 100 && atomic_load(&F.starts) < 2; i++)
		nng_msleep(20);
	assert_int_equal(atomic_load(&F.starts), 2);
	kill(harness_pid(r.p), SIGTERM);
	nng_msleep(200);
	assert_int_equal(ready_status(&r), 503);
	assert_true(raw_connect(&r, 0) < 0); /* refused */
	rep = json_loadf(f, 0, NULL);
	pclose(f);
	assert_non_null(rep);
	assert_int_equal(jint(rep, "close_codes.1001"), 2);
	/* The calls (20 s) were given the drain window, then closed by it. */
	assert_true(
	    harness_log_contains(r.p, "drain timeout: closing 2 streams"));
	assert_true(jint(rep, "wall_ms") >= 1500);
	assert_int_equal(harness_stop(r.p, 10000), 0);
	assert_int_equal(atomic_load(&F.ends), 2);
	json_decref(rep);
	fake_stop();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_twilio_echo, teardown),
		cmocka_unit_test_teardown(test_signalwire_echo, teardown),
		cmocka_unit_test_teardown(test_keys_twilio, teardown),
		cmocka_unit_test_teardown(test_keys_signalwire, teardown),
		cmocka_unit_test_teardown(test_keys_bad, teardown),
		cmocka_unit_test_teardown(test_keys_call_ended, teardown),
		cmocka_unit_test_teardown(test_no_token, teardown),
		cmocka_unit_test_teardown(test_bad_token, teardown),
		cmocka_unit_test_teardown(test_expired_token, teardown),
		cmocka_unit_test_teardown(test_reused_token, teardown),
		cmocka_unit_test_teardown(test_bad_json, teardown),
		cmocka_unit_test_teardown(test_bad_base64, teardown),
		cmocka_unit_test_teardown(test_media_before_start, teardown),
		cmocka_unit_test_teardown(test_double_start, teardown),
		cmocka_unit_test_teardown(test_oversize, teardown),
		cmocka_unit_test_teardown(test_binary, teardown),
		cmocka_unit_test_teardown(test_unknown_event, teardown),
		cmocka_unit_test_teardown(test_raw_shapes_and_gaps, teardown),
		cmocka_unit_test_teardown(test_bus_garbage, teardown),
		cmocka_unit_test_teardown(test_no_batch_topic, teardown),
		cmocka_unit_test_teardown(test_slow_reader, teardown),
		cmocka_unit_test_teardown(test_hangup, teardown),
		cmocka_unit_test_teardown(test_resume, teardown),
		cmocka_unit_test_teardown(test_handover_acked, teardown),
		cmocka_unit_test_teardown(test_max_duration, teardown),
		cmocka_unit_test_teardown(test_drain, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
