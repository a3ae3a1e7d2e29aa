/*
 * ai_fake_edge.h - the test process plays media-edge for ai-session's
 * integration tests (included by tests/integration/ai_*_test.c only).
 *
 * It binds a pub socket (the "edge pub": caller frames, mark echoes) and a
 * rep socket (the "edge ctl": HangUp), dials ai-session's request socket
 * and subscribes to its pub socket.  A receiver thread collects what
 * ai-session publishes and plays the model audio out in real time like a
 * telephone would: a mark is echoed when the audio before it has played,
 * and a Clear echoes every pending mark at once (as Twilio does).  A
 * control thread answers HangUp with Ack.
 *
 * Everything observed is kept in struct fedge under its mutex; tests read
 * it through the fe_* helpers.
 */
#ifndef AI_FAKE_EDGE_H
#define AI_FAKE_EDGE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "bus.h"
#include "fake_batch.h"
#include "harness.h"
#include "wire.h"

/* Not every test uses every helper. */
#define FE_FN static __attribute__((unused))

#define FE_MAX_MARKS 4096
#define FE_MAX_TAGS 20000

struct fe_mark {
	char      name[160];
	long long due_ms; /* echo when the audio has played */
};

#define FE_TOPIC "@fake-edge" /* our batch topic */

struct fedge {
	nng_socket      pub, rep, req, sub;
	char            ai_topic[160]; /* {mtx} the ai-session's batch topic */
	const char     *pub_url, *ctl_url, *ai_url, *ai_pub_url;
	pthread_t       rx_thread, ctl_thread;
	atomic_bool     stop;
	bool            echo_marks;
	pthread_mutex_t mtx;
	/* observed, {mtx} */
	long           audio_frames;
	long           audio_bytes;
	long           audio_after_clear; /* frames since the last clear */
	long           marks;
	long           echoed;
	long           clears;
	long           turns;
	long           hangups;
	char           hangup_reason[256];
	bool           hangup_failed; /* HangUp.failed of the last one */
	uint32_t       tags[FE_MAX_TAGS]; /* first 4 bytes of each frame */
	long           ntags;
	long long      first_audio_ms;
	long long      play_end_ms; /* caller's playback clock */
	struct fe_mark pending[FE_MAX_MARKS];
	int            npending;
	char           last_turn[512];
	uint32_t       pub_seq;
};

FE_FN long long
fe_now(void)
{
	return (harness_now_ms());
}

FE_FN void
fe_publish(struct fedge *fe, const char *sid, Bus__Envelope *env)
{
	struct wire_ids ids;

	wire_env_init(env, &ids, sid, NULL);
	(void)wire_publish(fe->pub, sid, env);
}

/* An audio item to the ai-session: in a batch under its topic, as
 * media-edge sends them. */
FE_FN void
fe_publish_item(struct fedge *fe, const char *sid, Bus__BatchItem *it)
{
	char topic[160];

	pthread_mutex_lock(&fe->mtx);
	snprintf(topic, sizeof(topic), "%s", fe->ai_topic);
	pthread_mutex_unlock(&fe->mtx);
	(void)fb_publish(fe->pub, topic, sid, it);
}

/* Under mtx (so ai_topic is read directly). */
FE_FN void
fe_echo(struct fedge *fe, const char *sid, const char *name)
{
	Bus__BatchItem it = BUS__BATCH_ITEM__INIT;
	Bus__MarkEcho  me = BUS__MARK_ECHO__INIT;

	me.name = (char *)name;
	it.item_case = BUS__BATCH_ITEM__ITEM_MARK_ECHO;
	it.mark_echo = &me;
	(void)fb_publish(fe->pub, fe->ai_topic, sid, &it);
}

/* Under mtx: echo the marks whose audio has played (all if force). */
FE_FN void
fe_flush_marks(struct fedge *fe, const char *sid, bool force)
{
	long long now = fe_now();
	int       i, j = 0;

	for (i = 0; i < fe->npending; i++) {
		if (force || fe->pending[i].due_ms <= now) {
			fe_echo(fe, sid, fe->pending[i].name);
			fe->echoed++;
		} else
			fe->pending[j++] = fe->pending[i];
	}
	fe->npending = j;
}

static char fe_sid[64]
    __attribute__((unused)); /* the one call a test runs at a time */

FE_FN void
fe_on_msg(struct fedge *fe, const Bus__Envelope *env)
{
	long long now = fe_now();
	size_t    n;

	pthread_mutex_lock(&fe->mtx);
	switch (env->body_case) {
	case BUS__ENVELOPE__BODY_AUDIO:
		n = env->audio->payload.len;
		fe->audio_frames++;
		fe->audio_after_clear++;
		fe->audio_bytes += (long)n;
		if (fe->first_audio_ms == 0)
			fe->first_audio_ms = now;
		if (fe->play_end_ms < now)
			fe->play_end_ms = now;
		fe->play_end_ms += (long long)n / 8;
		if (n >= 4 && fe->ntags < FE_MAX_TAGS) {
			const uint8_t *p = env->audio->payload.data;

			fe->tags[fe->ntags++] = (uint32_t)p[0] << 24
			    | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8
			    | p[3];
		}
		break;
	case BUS__ENVELOPE__BODY_MARK:
		fe->marks++;
		if (fe->echo_marks && fe->npending < FE_MAX_MARKS) {
			snprintf(fe->pending[fe->npending].name,
			    sizeof(fe->pending[0].name), "%s",
			    env->mark->name);
			fe->pending[fe->npending++].due_ms = fe->play_end_ms;
		}
		break;
	case BUS__ENVELOPE__BODY_CLEAR:
		fe->clears++;
		fe->audio_after_clear = 0;
		fe->play_end_ms = now;
		fe_flush_marks(fe, env->call_sid, true);
		break;
	case BUS__ENVELOPE__BODY_TRANSCRIPT_TURN:
		fe->turns++;
		snprintf(fe->last_turn, sizeof(fe->last_turn), "%s: %s",
		    env->transcript_turn->turn->role,
		    env->transcript_turn->turn->text);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&fe->mtx);
}

/* Audio arrives in batches under our topic; turns one by one. */
FE_FN void
fe_on_batch_or_msg(
    struct fedge *fe, const char *topic, const Bus__Envelope *env)
{
	Bus__Envelope one;
	size_t        i;

	if (env->body_case != BUS__ENVELOPE__BODY_AUDIO_BATCH) {
		fe_on_msg(fe, env);
		return;
	}
	if (strcmp(topic, FE_TOPIC) != 0)
		return;
	for (i = 0; i < env->audio_batch->n_items; i++) {
		fb_item_env(env->audio_batch->items[i], &one);
		fe_on_msg(fe, &one);
	}
}

FE_FN void *
fe_rx_main(void *arg)
{
	struct fedge  *fe = arg;
	Bus__Envelope *env;
	const char    *topic;
	nng_msg       *m;

	while (!atomic_load(&fe->stop)) {
		if (nng_recvmsg(fe->sub, &m, 0) == 0) {
			if (wire_unpack_pub(m, &topic, &env) == 0) {
				fe_on_batch_or_msg(fe, topic, env);
				wire_free(env);
			}
			nng_msg_free(m);
		}
		pthread_mutex_lock(&fe->mtx);
		fe_flush_marks(fe, fe_sid, false);
		pthread_mutex_unlock(&fe->mtx);
	}
	return (NULL);
}

FE_FN void *
fe_ctl_main(void *arg)
{
	struct fedge   *fe = arg;
	Bus__Envelope  *req, rep = BUS__ENVELOPE__INIT;
	Bus__Ack        ack = BUS__ACK__INIT;
	struct wire_ids ids;
	nng_msg        *m, *out;

	while (!atomic_load(&fe->stop)) {
		if (nng_recvmsg(fe->rep, &m, 0) != 0)
			continue;
		if (wire_unpack(m, &req) == 0) {
			if (req->body_case == BUS__ENVELOPE__BODY_HANG_UP) {
				pthread_mutex_lock(&fe->mtx);
				fe->hangups++;
				snprintf(fe->hangup_reason,
				    sizeof(fe->hangup_reason), "%s",
				    req->hang_up->reason);
				fe->hangup_failed = req->hang_up->failed;
				pthread_mutex_unlock(&fe->mtx);
			}
			wire_env_init(&rep, &ids, req->call_sid, NULL);
			rep.body_case = BUS__ENVELOPE__BODY_ACK;
			rep.ack = &ack;
			if (wire_pack(&rep, &out) == 0
			    && nng_sendmsg(fe->rep, out, 0) != 0)
				nng_msg_free(out);
			wire_free(req);
		}
		nng_msg_free(m);
	}
	return (NULL);
}

/* Bind the edge sockets; ai_url/ai_pub_url are ai-session's. */
FE_FN int
fe_open(struct fedge *fe, const char *ai_url, const char *ai_pub_url)
{
	static int n;
	char       name[32];

	memset(fe, 0, sizeof(*fe));
	pthread_mutex_init(&fe->mtx, NULL);
	fe->echo_marks = true;
	snprintf(name, sizeof(name), "edge_pub%d", ++n);
	fe->pub_url = harness_ipc_url(name);
	snprintf(name, sizeof(name), "edge_ctl%d", n);
	fe->ctl_url = harness_ipc_url(name);
	fe->ai_url = ai_url;
	fe->ai_pub_url = ai_pub_url;
	if (nng_pub0_open(&fe->pub) != 0
	    || nng_listen(fe->pub, fe->pub_url, NULL, 0) != 0
	    || nng_socket_set_int(fe->pub, NNG_OPT_SENDBUF, 8192) != 0
	    || nng_rep0_open(&fe->rep) != 0
	    || nng_listen(fe->rep, fe->ctl_url, NULL, 0) != 0
	    || nng_socket_set_ms(fe->rep, NNG_OPT_RECVTIMEO, 50) != 0
	    || nng_req0_open(&fe->req) != 0
	    || nng_dial(fe->req, ai_url, NULL, NNG_FLAG_NONBLOCK) != 0
	    || nng_sub0_open(&fe->sub) != 0
	    || nng_socket_set(fe->sub, NNG_OPT_SUB_SUBSCRIBE, "", 0) != 0
	    || nng_socket_set_int(fe->sub, NNG_OPT_RECVBUF, 8192) != 0
	    || nng_socket_set_ms(fe->sub, NNG_OPT_RECVTIMEO, 5) != 0
	    || nng_dial(fe->sub, ai_pub_url, NULL, NNG_FLAG_NONBLOCK) != 0)
		return (-1);
	pthread_create(&fe->rx_thread, NULL, fe_rx_main, fe);
	pthread_create(&fe->ctl_thread, NULL, fe_ctl_main, fe);
	return (0);
}

FE_FN void
fe_close(struct fedge *fe)
{
	atomic_store(&fe->stop, true);
	pthread_join(fe->rx_thread, NULL);
	pthread_join(fe->ctl_thread, NULL);
	/* bounded: the sub and req sockets may be dialling an ai-session
	 * the test has stopped, where nng_close can hang (bus.h) */
	(void)bus_close(fe->sub, "fake edge sub", BUS_CLOSE_MS);
	(void)bus_close(fe->req, "fake edge req", BUS_CLOSE_MS);
	(void)bus_close(fe->rep, "fake edge rep", BUS_CLOSE_MS);
	(void)bus_close(fe->pub, "fake edge pub", BUS_CLOSE_MS);
}

/* One request; *repp freed with wire_free.  0 or an nng error. */
FE_FN int
fe_request(struct fedge *fe, const char *sid, Bus__Envelope *env,
    Bus__Envelope **repp)
{
	struct wire_ids ids;

	wire_env_init(env, &ids, sid, NULL);
	env->idempotency_key = (char *)sid;
	return (bus_request(fe->req, env, repp, 5000, 2));
}

/* SessionStart; returns the reply's body case (or -1), and the error
 * code in *code for an Error reply. */
/* resume_from > 0: a resumed call whose turns up to that seq are stored;
 * holder: ai-sessions that held it before; started_at_ms: 0 for now;
 * turns: NULL, or a JSON array of {role, text, seq} media-edge carries. */
FE_FN int
fe_start_held(struct fedge *fe, const char *sid, const char *answered_by,
    uint32_t resume_from, uint32_t holder, int64_t started_at_ms,
    json_t *turns, int *code)
{
	Bus__Turn                      tb[64], *tp[64];
	json_t                        *o;
	size_t                         i;
	Bus__Envelope                  env = BUS__ENVELOPE__INIT, *rep = NULL;
	Bus__SessionStart              ss = BUS__SESSION_START__INIT;
	Bus__SessionStart__ParamsEntry pe
	    = BUS__SESSION_START__PARAMS_ENTRY__INIT;
	Bus__SessionStart__ParamsEntry *pes[1] = { &pe };
	int                             bc;

	snprintf(fe_sid, sizeof(fe_sid), "%s", sid);
	ss.stream_sid = "MZ0123";
	ss.provider = BUS__PROVIDER__TWILIO;
	ss.direction = BUS__DIRECTION__OUTBOUND;
	ss.edge_pub_url = (char *)fe->pub_url;
	ss.edge_ctl_url = (char *)fe->ctl_url;
	ss.batch_topic = FE_TOPIC;
	ss.resume = resume_from > 0 || holder > 0;
	ss.resume_from_seq = resume_from;
	ss.holder = holder;
	ss.started_at_ms = started_at_ms;
	json_array_foreach(turns, i, o)
	{
		if (i == 64)
			break;
		bus__turn__init(&tb[i]);
		tb[i].role
		    = (char *)json_string_value(json_object_get(o, "role"));
		tb[i].text
		    = (char *)json_string_value(json_object_get(o, "text"));
		tb[i].seq
		    = (uint32_t)json_integer_value(json_object_get(o, "seq"));
		tp[i] = &tb[i];
		ss.n_turns = i + 1;
	}
	ss.turns = tp;
	if (answered_by != NULL) {
		pe.key = "answered_by";
		pe.value = (char *)answered_by;
		ss.params = pes;
		ss.n_params = 1;
	}
	env.body_case = BUS__ENVELOPE__BODY_SESSION_START;
	env.session_start = &ss;
	if (fe_request(fe, sid, &env, &rep) != 0)
		return (-1);
	bc = rep->body_case;
	if (bc == BUS__ENVELOPE__BODY_SESSION_STARTED) {
		pthread_mutex_lock(&fe->mtx);
		snprintf(fe->ai_topic, sizeof(fe->ai_topic), "%s",
		    rep->session_started->batch_topic);
		pthread_mutex_unlock(&fe->mtx);
	}
	if (code != NULL)
		*code = bc == BUS__ENVELOPE__BODY_ERROR ? rep->error->code : 0;
	wire_free(rep);
	return (bc);
}

FE_FN int
fe_start_ex(struct fedge *fe, const char *sid, const char *answered_by,
    uint32_t resume_from, int *code)
{
	return (fe_start_held(
	    fe, sid, answered_by, resume_from, 0, 0, NULL, code));
}

FE_FN int
fe_start(struct fedge *fe, const char *sid, const char *answered_by, int *code)
{
	return (fe_start_ex(fe, sid, answered_by, 0, code));
}

FE_FN int
fe_end(struct fedge *fe, const char *sid)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT, *rep = NULL;
	Bus__SessionEnd se = BUS__SESSION_END__INIT;
	int             bc;

	se.reason = "stop";
	env.body_case = BUS__ENVELOPE__BODY_SESSION_END;
	env.session_end = &se;
	if (fe_request(fe, sid, &env, &rep) != 0)
		return (-1);
	bc = rep->body_case;
	wire_free(rep);
	return (bc);
}

/* Publish one caller frame of n bytes: the tag (big-endian, if tag > 0)
 * then `fill` bytes, or a 440 Hz tone when tone is set. */
FE_FN void
fe_frame(struct fedge *fe, const char *sid, uint32_t tag, bool tone, size_t n)
{
	static const uint8_t period[] = { /* 440 Hz-ish, mu-law, loud */
		0xff, 0x9a, 0x8c, 0x86, 0x83, 0x83, 0x86, 0x8c, 0x9a, 0xff,
		0x1a, 0x0c, 0x06, 0x03, 0x03, 0x06, 0x0c, 0x1a
	};
	Bus__BatchItem  it = BUS__BATCH_ITEM__INIT;
	Bus__AudioFrame af = BUS__AUDIO_FRAME__INIT;
	uint8_t         buf[1024];
	size_t          i;

	for (i = 0; i < n && i < sizeof(buf); i++)
		buf[i] = tone ? period[i % sizeof(period)] : 0xff;
	if (tag > 0 && n >= 4) {
		buf[0] = (uint8_t)(tag >> 24);
		buf[1] = (uint8_t)(tag >> 16);
		buf[2] = (uint8_t)(tag >> 8);
		buf[3] = (uint8_t)tag;
	}
	af.payload.data = buf;
	af.payload.len = n;
	af.seq = ++fe->pub_seq;
	af.timestamp_ms = fe->pub_seq * 20;
	it.item_case = BUS__BATCH_ITEM__ITEM_AUDIO;
	it.audio = &af;
	fe_publish_item(fe, sid, &it);
}

FE_FN long
fe_get(struct fedge *fe, long *field)
{
	long v;

	pthread_mutex_lock(&fe->mtx);
	v = *field;
	pthread_mutex_unlock(&fe->mtx);
	return (v);
}

/* Wait until *field >= want; 0 or -1 after timeout_ms. */
FE_FN int
fe_wait(struct fedge *fe, long *field, long want, int timeout_ms)
{
	long long end = fe_now() + timeout_ms;

	while (fe_get(fe, field) < want) {
		if (fe_now() > end)
			return (-1);
		nng_msleep(5);
	}
	return (0);
}

/* The sim-openai --record lines of one type, as a JSON array (caller
 * decrefs); the file is re-read each time. */
#include <jansson.h>

FE_FN json_t *
fe_records(const char *path, const char *type)
{
	json_t *out = json_array(), *line;
	FILE   *f;
	char    buf[65536];

	if ((f = fopen(path, "r")) == NULL)
		return (out);
	while (fgets(buf, sizeof(buf), f) != NULL) {
		if ((line = json_loads(buf, 0, NULL)) == NULL)
			continue;
		if (strcmp(json_string_value(json_object_get(line, "type"))
		            ? json_string_value(json_object_get(line, "type"))
		            : "",
		        type)
		    == 0)
			json_array_append(out, line);
		json_decref(line);
	}
	fclose(f);
	return (out);
}

/* Wait for at least n record lines of a type. */
FE_FN json_t *
fe_records_wait(const char *path, const char *type, size_t n, int timeout_ms)
{
	long long end = fe_now() + timeout_ms;
	json_t   *a;

	for (;;) {
		a = fe_records(path, type);
		if (json_array_size(a) >= n || fe_now() > end)
			return (a);
		json_decref(a);
		nng_msleep(20);
	}
}

/* GET /metrics and the value of one series line (exact prefix). */
FE_FN double
fe_metric(int port, const char *series)
{
	char   url[64], *body = NULL, *p;
	long   status;
	double v = -1;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
	if (harness_http("GET", url, NULL, NULL, &status, &body) != 0)
		return (-1);
	for (p = body; p != NULL && (p = strstr(p, series)) != NULL; p++) {
		if ((p == body || p[-1] == '\n') && p[strlen(series)] == ' ') {
			v = strtod(p + strlen(series) + 1, NULL);
			break;
		}
	}
	free(body);
	return (v);
}

#endif
