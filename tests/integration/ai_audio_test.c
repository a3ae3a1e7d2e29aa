/*
 * ai_audio_test - the real ai-session between a fake media-edge (this
 * process, over NNG) and sim-openai.
 *
 *   order:     caller frames published right after SessionStarted (so
 *              before the model session is configured) reach the model in
 *              order, none lost; model audio and marks come back.
 *   barge-in:  the caller talks over a long answer: Clear is published,
 *              sim-openai accepts a truncate matching what was played, the
 *              late deltas of the cut response are dropped.
 *   error:     the model rejects the first session.update: ai-session
 *              sends it again and the call works; the error is counted.
 *   drop:      the model socket drops mid-call: the call ends and
 *              media-edge gets HangUp.
 *   garbage:   junk on the request socket and on the pub socket, wrong
 *              requests: clear errors, counted, and the call goes on.
 *   overload:  SessionStart over AI_MAX_CALLS gets OVERLOADED.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "ai_fake_edge.h"

#define FRAME 160

struct rig {
	struct harness_proc *sim, *ai;
	struct fedge         fe;
	char                 rec[512];
	char                 ai_url[256], ai_pub[256];
	int                  http_port;
};

static int nrig;

/* Start sim-openai (extra args) and ai-session (extra env). */
static void
rig_up(struct rig *r, const char *const *sim_args, const char *const *env)
{
	const char *argv[24], *envv[32];
	char        url[128], port[32], lu[300], pu[300], sport[16];
	char        name[32];
	int         i = 0, j = 0, simport;

	memset(r, 0, sizeof(*r));
	nrig++;
	snprintf(
	    r->rec, sizeof(r->rec), "%s/oai%d.jsonl", harness_tmpdir(), nrig);
	argv[i++] = "--port";
	argv[i++] = "0";
	argv[i++] = "--api-key";
	argv[i++] = "sk-test";
	argv[i++] = "--record";
	argv[i++] = r->rec;
	while (sim_args != NULL && *sim_args != NULL)
		argv[i++] = *sim_args++;
	argv[i] = NULL;
	r->sim = harness_spawn_args("sim-openai", argv, NULL);
	assert_non_null(r->sim);
	simport = harness_ready_port(r->sim);
	assert_true(simport > 0);

	snprintf(name, sizeof(name), "ai%d", nrig);
	snprintf(r->ai_url, sizeof(r->ai_url), "%s", harness_ipc_url(name));
	snprintf(name, sizeof(name), "aipub%d", nrig);
	snprintf(r->ai_pub, sizeof(r->ai_pub), "%s", harness_ipc_url(name));
	r->http_port = harness_free_port();
	snprintf(url, sizeof(url),
	    "OPENAI_REALTIME_URL=ws://127.0.0.1:%d/"
	    "v1/realtime?model=gpt-realtime-2",
	    simport);
	snprintf(lu, sizeof(lu), "AI_LISTEN_URL=%s", r->ai_url);
	snprintf(pu, sizeof(pu), "AI_PUB_URL=%s", r->ai_pub);
	snprintf(port, sizeof(port), "AI_HTTP_PORT=%d", r->http_port);
	(void)sport;
	envv[j++] = url;
	envv[j++] = lu;
	envv[j++] = pu;
	envv[j++] = port;
	envv[j++] = "AI_HTTP_ADDR=127.0.0.1";
	envv[j++] = "OPENAI_API_KEY=sk-test";
	envv[j++] = "PERSISTER_URL=";
	envv[j++] = "REASONER_URL=";
	envv[j++] = "LOG_LEVEL=debug";
	while (env != NULL && *env != NULL)
		envv[j++] = *env++;
	envv[j] = NULL;
	r->ai = harness_spawn("ai-session", envv);
	assert_non_null(r->ai);
	assert_int_equal(fe_open(&r->fe, r->ai_url, r->ai_pub), 0);
}

static void
rig_down(struct rig *r)
{
	fe_close(&r->fe);
	assert_int_equal(harness_stop(r->ai, 10000), 0);
	assert_int_equal(harness_stop(r->sim, 5000), 0);
}

static json_t *
closed_record(struct rig *r)
{
	json_t *a = fe_records_wait(r->rec, "connection_closed", 1, 5000);
	json_t *c = json_incref(json_array_get(a, 0));

	json_decref(a);
	assert_non_null(c);
	return (c);
}

/* How many times ai-session counted the call state change from -> to. */
static double
transitions(struct rig *r, const char *from, const char *to)
{
	char series[160];

	snprintf(series, sizeof(series),
	    "ai_call_state_transitions_total{from=\"%s\",to=\"%s\"}", from,
	    to);
	return (fe_metric(r->http_port, series));
}

/*
 * The states the calls went through: path is a list of states, each
 * change along it counted n times (the call ended and was recorded:
 * waited for); no change was refused, and no call is left in any state.
 */
static void
assert_states(struct rig *r, const char *const *path, double n)
{
	static const char *const all[] = { "new", "setup", "live",
		"reconnecting", "moving", "ending", "recorded", NULL };
	char                     series[96];
	long long                end = fe_now() + 5000;
	int                      i;

	while (transitions(r, "ending", "recorded") < n && fe_now() < end)
		nng_msleep(20);
	for (i = 0; path[i + 1] != NULL; i++) {
		print_message("state %s -> %s: %g\n", path[i], path[i + 1],
		    transitions(r, path[i], path[i + 1]));
		assert_true(transitions(r, path[i], path[i + 1]) == n);
	}
	assert_true(
	    fe_metric(r->http_port, "ai_call_state_errors_total") == 0);
	for (i = 0; all[i] != NULL; i++) {
		snprintf(series, sizeof(series),
		    "ai_calls_in_state{state=\"%s\"}", all[i]);
		assert_true(fe_metric(r->http_port, series) == 0);
	}
}

static void
test_order(void **state)
{
	struct rig r;
	json_t    *c;
	long       i;

	(void)state;
	rig_up(
	    &r, (const char *[]) { "--mode", "echo", "--tags", NULL }, NULL);
	assert_int_equal(fe_start(&r.fe, "CAorder1", NULL, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	/* At once: these arrive while the model session is being set up. */
	for (i = 1; i <= 40; i++)
		fe_frame(&r.fe, "CAorder1", (uint32_t)i, false, FRAME);
	for (; i <= 150; i++) {
		fe_frame(&r.fe, "CAorder1", (uint32_t)i, false, FRAME);
		nng_msleep(2);
	}
	assert_int_equal(fe_wait(&r.fe, &r.fe.audio_frames, 150, 5000), 0);
	pthread_mutex_lock(&r.fe.mtx);
	for (i = 0; i < r.fe.ntags; i++)
		assert_int_equal(r.fe.tags[i], (uint32_t)(i + 1));
	assert_true(r.fe.marks >= 10); /* every 200 ms of audio */
	pthread_mutex_unlock(&r.fe.mtx);
	assert_int_equal(fe_end(&r.fe, "CAorder1"), BUS__ENVELOPE__BODY_ACK);
	c = closed_record(&r);
	assert_true(json_is_true(json_object_get(c, "tags_in_order")));
	assert_int_equal(json_integer_value(json_object_get(c, "tags")), 150);
	assert_int_equal(
	    json_integer_value(json_object_get(c, "first_tag")), 1);
	json_decref(c);
	/* GA only, configured as the contract says */
	c = fe_records(r.rec, "session.update");
	assert_int_equal(json_array_size(c), 1);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(c, 0), "session_type")),
	    "realtime");
	assert_int_equal(json_array_size(json_object_get(
	                     json_array_get(c, 0), "beta_keys")),
	    0);
	json_decref(c);
	assert_true(fe_metric(r.http_port, "ai_frames_total{direction=\"in\"}")
	    >= 150);
	assert_states(&r,
	    (const char *[]) {
	        "new", "setup", "live", "ending", "recorded", NULL },
	    1);
	assert_true(transitions(&r, "live", "reconnecting") == 0);
	rig_down(&r);
}

/* Pace caller audio: tone or silence for ms, one frame per 20 ms. */
static void
speak(struct rig *r, const char *sid, bool tone, int ms)
{
	long long next = fe_now();
	int       i;

	for (i = 0; i < ms / 20; i++) {
		fe_frame(&r->fe, sid, 0, tone, FRAME);
		next += 20;
		while (fe_now() < next)
			nng_msleep(1);
	}
}

static void
test_bargein(void **state)
{
	struct rig r;
	json_t    *ok, *bad, *t;
	char       script[600];
	FILE      *f;
	long long  t0;
	long       ms, have, frames;

	(void)state;
	snprintf(script, sizeof(script), "%s/barge.json", harness_tmpdir());
	f = fopen(script, "w");
	assert_non_null(f);
	fprintf(f,
	    "{\"steps\":[{\"say\":\"This is a long answer that the "
	    "caller will interrupt halfway through.\",\"audio_ms\":4000}],"
	    "\"heard\":[\"Hello there.\",\"Wait, stop.\"]}\n");
	fclose(f);
	rig_up(&r,
	    (const char *[]) {
	        "--script", script, "--late-deltas", "5", NULL },
	    NULL);
	assert_int_equal(fe_start(&r.fe, "CAbarge1", NULL, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	speak(&r, "CAbarge1", true, 600); /* the caller's turn */
	/* silence until the answer has played for about a second */
	t0 = fe_now();
	while (fe_get(&r.fe, &r.fe.audio_frames) == 0 && fe_now() - t0 < 5000)
		speak(&r, "CAbarge1", false, 20);
	assert_true(fe_get(&r.fe, &r.fe.audio_frames) > 0);
	speak(&r, "CAbarge1", false, 1000);
	speak(&r, "CAbarge1", true, 200); /* barge in */
	assert_int_equal(fe_wait(&r.fe, &r.fe.clears, 1, 3000), 0);
	speak(&r, "CAbarge1", true, 200);
	/* the late deltas of the cut answer never reach the caller */
	assert_int_equal(fe_get(&r.fe, &r.fe.audio_after_clear), 0);
	frames = fe_get(&r.fe, &r.fe.audio_frames);
	assert_true(frames < 4000 / 20);

	ok = fe_records_wait(r.rec, "truncate_ok", 1, 3000);
	bad = fe_records(r.rec, "truncate_rejected");
	assert_int_equal(json_array_size(ok), 1);
	assert_int_equal(json_array_size(bad), 0);
	t = json_array_get(ok, 0);
	ms = (long)json_integer_value(json_object_get(t, "audio_end_ms"));
	have = (long)json_integer_value(json_object_get(t, "item_audio_ms"));
	print_message("truncate at %ld ms of %ld ms produced\n", ms, have);
	/* about a second was played before the caller spoke */
	assert_true(ms >= 700 && ms <= 1500);
	assert_true(ms <= have);
	json_decref(ok);
	json_decref(bad);
	assert_true(fe_metric(r.http_port,
	                "ai_frames_dropped_total{reason=\"late_delta\"}")
	    >= 1);
	assert_true(fe_metric(r.http_port, "ai_bargeins_total") == 1);
	/* the caller's first turn was transcribed and published */
	assert_true(fe_get(&r.fe, &r.fe.turns) >= 1);
	assert_int_equal(fe_end(&r.fe, "CAbarge1"), BUS__ENVELOPE__BODY_ACK);
	rig_down(&r);
}

static void
test_update_error(void **state)
{
	struct rig r;
	json_t    *c;
	int        i;

	(void)state;
	rig_up(&r,
	    (const char *[]) {
	        "--mode", "echo", "--tags", "--error-on-update", NULL },
	    NULL);
	assert_int_equal(fe_start(&r.fe, "CAerr1", NULL, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	for (i = 1; i <= 20; i++)
		fe_frame(&r.fe, "CAerr1", (uint32_t)i, false, FRAME);
	assert_int_equal(fe_wait(&r.fe, &r.fe.audio_frames, 20, 5000), 0);
	assert_int_equal(fe_end(&r.fe, "CAerr1"), BUS__ENVELOPE__BODY_ACK);
	c = closed_record(&r);
	assert_true(json_is_true(json_object_get(c, "tags_in_order")));
	assert_int_equal(json_integer_value(json_object_get(c, "tags")), 20);
	json_decref(c);
	assert_true(fe_metric(r.http_port,
	                "ai_model_errors_total{code=\"simulated_failure\"}")
	    == 1);
	rig_down(&r);
}

/*
 * The model socket drops 500 ms into the call (the first socket only):
 * the call goes on.  A new model session is opened with the conversation
 * so far, the caller audio sent meanwhile is held and reaches it (echo
 * mode: it comes back), and no HangUp is sent.
 */
static void
test_model_drop(void **state)
{
	struct rig r;
	json_t    *c;
	uint32_t   last = 0;
	long       i;

	(void)state;
	rig_up(&r,
	    (const char *[]) { "--mode", "echo", "--tags", "--drop-after-ms",
	        "500", "--drop-count", "1", NULL },
	    NULL);
	assert_int_equal(fe_start(&r.fe, "CAdrop1", NULL, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	for (i = 1; i <= 100; i++) { /* 2 s of caller audio */
		fe_frame(&r.fe, "CAdrop1", (uint32_t)i, false, FRAME);
		nng_msleep(20);
	}
	/* the last frames came back through the second session */
	for (i = 0; i < 150 && last < 100; i++) {
		pthread_mutex_lock(&r.fe.mtx);
		last = r.fe.ntags > 0 ? r.fe.tags[r.fe.ntags - 1] : 0;
		pthread_mutex_unlock(&r.fe.mtx);
		nng_msleep(20);
	}
	assert_int_equal(last, 100);
	assert_int_equal(fe_get(&r.fe, &r.fe.hangups), 0);
	assert_true(fe_metric(r.http_port,
	                "ai_model_reconnects_total{result=\"restored\"}")
	    == 1);
	assert_true(fe_metric(r.http_port, "ai_calls_active") == 1);
	c = fe_records(r.rec, "connection_opened");
	assert_int_equal(json_array_size(c), 2); /* one more */
	json_decref(c);
	assert_true(
	    fe_metric(r.http_port, "ai_calls_in_state{state=\"live\"}") == 1);
	assert_int_equal(fe_end(&r.fe, "CAdrop1"), BUS__ENVELOPE__BODY_ACK);
	assert_states(&r,
	    (const char *[]) { "new", "setup", "live", "reconnecting", "live",
	        "ending", "recorded", NULL },
	    1);
	rig_down(&r);
}

/* Every model socket drops: after AI_MODEL_RECONNECTS tries the call
 * ends with HangUp{failed} (media-edge then plays its fallback), and a
 * new call still works. */
static void
test_model_drop_gives_up(void **state)
{
	struct rig r;
	int        i;

	(void)state;
	rig_up(&r,
	    (const char *[]) {
	        "--mode", "echo", "--drop-after-ms", "300", NULL },
	    (const char *[]) { "AI_MODEL_RECONNECTS=2", NULL });
	assert_int_equal(fe_start(&r.fe, "CAdrop2", NULL, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	for (i = 1; i <= 10; i++)
		fe_frame(&r.fe, "CAdrop2", (uint32_t)i, false, FRAME);
	assert_int_equal(fe_wait(&r.fe, &r.fe.hangups, 1, 8000), 0);
	print_message("hangup reason: %s\n", r.fe.hangup_reason);
	assert_true(r.fe.hangup_failed);
	assert_true(fe_metric(r.http_port,
	                "ai_calls_ended_total{reason=\"model_closed\"}")
	    == 1);
	assert_true(fe_metric(r.http_port,
	                "ai_model_reconnects_total{result=\"gave_up\"}")
	    == 1);
	assert_true(fe_metric(r.http_port, "ai_calls_active") == 0);
	/* media-edge's SessionEnd afterwards is harmless */
	assert_int_equal(fe_end(&r.fe, "CAdrop2"), BUS__ENVELOPE__BODY_ACK);
	/* and a new call works */
	assert_int_equal(fe_start(&r.fe, "CAdrop3", NULL, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	rig_down(&r);
}

static int
raw_request(struct rig *r, const void *buf, size_t len)
{
	Bus__Envelope *rep;
	nng_socket     s;
	nng_msg       *m;
	int            code = -1;

	assert_int_equal(nng_req0_open(&s), 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 3000), 0);
	assert_int_equal(nng_dial(s, r->ai_url, NULL, 0), 0);
	assert_int_equal(nng_send(s, (void *)buf, len, 0), 0);
	if (nng_recvmsg(s, &m, 0) == 0) {
		if (wire_unpack(m, &rep) == 0) {
			if (rep->body_case == BUS__ENVELOPE__BODY_ERROR)
				code = rep->error->code;
			wire_free(rep);
		}
		nng_msg_free(m);
	}
	nng_close(s);
	return (code);
}

static void
test_garbage(void **state)
{
	struct rig        r;
	Bus__Envelope     env = BUS__ENVELOPE__INIT, *rep = NULL;
	Bus__RateCheck    rc = BUS__RATE_CHECK__INIT;
	Bus__SessionStart ss = BUS__SESSION_START__INIT;
	Bus__Ping         ping = BUS__PING__INIT;
	static const char junk[] = "\xff\x01not an envelope at all";
	nng_msg          *m;
	int               i;

	(void)state;
	/* with one NNG subscription per call, as the contract describes */
	rig_up(&r, (const char *[]) { "--mode", "echo", NULL },
	    (const char *[]) { "AI_SUB_ALL=false", NULL });
	assert_int_equal(fe_start(&r.fe, "CAjunk1", NULL, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	/* request socket: bytes, a type that is not ours, a bad start */
	assert_int_equal(raw_request(&r, junk, sizeof(junk)),
	    BUS__ERROR__CODE__BAD_REQUEST);
	env.body_case = BUS__ENVELOPE__BODY_RATE_CHECK;
	env.rate_check = &rc;
	assert_int_equal(fe_request(&r.fe, "CAjunk1", &env, &rep), 0);
	assert_int_equal(rep->body_case, BUS__ENVELOPE__BODY_ERROR);
	assert_int_equal(rep->error->code, BUS__ERROR__CODE__UNSUPPORTED);
	wire_free(rep);
	bus__envelope__init(&env);
	env.body_case = BUS__ENVELOPE__BODY_SESSION_START;
	env.session_start = &ss;
	assert_int_equal(fe_request(&r.fe, "CAjunk2", &env, &rep), 0);
	assert_int_equal(rep->body_case, BUS__ENVELOPE__BODY_ERROR);
	assert_int_equal(rep->error->code, BUS__ERROR__CODE__BAD_REQUEST);
	wire_free(rep);
	/* audio travels only in batches: a start without media-edge's
	 * batch topic is refused */
	ss.edge_pub_url = (char *)r.fe.pub_url;
	ss.edge_ctl_url = (char *)r.fe.ctl_url;
	assert_int_equal(fe_request(&r.fe, "CAjunk3", &env, &rep), 0);
	assert_int_equal(rep->body_case, BUS__ENVELOPE__BODY_ERROR);
	assert_int_equal(rep->error->code, BUS__ERROR__CODE__BAD_REQUEST);
	assert_non_null(strstr(rep->error->message, "batch_topic"));
	wire_free(rep);
	/* pub socket: junk under the call's topic, and no topic at all */
	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	nng_msg_append(m, "CAjunk1", 8);
	nng_msg_append(m, junk, sizeof(junk));
	assert_int_equal(nng_sendmsg(r.fe.pub, m, 0), 0);
	bus__envelope__init(&env);
	env.body_case = BUS__ENVELOPE__BODY_PING; /* not for the sub */
	env.ping = &ping;
	fe_publish(&r.fe, "CAjunk1", &env);
	/* the call goes on */
	for (i = 1; i <= 10; i++)
		fe_frame(&r.fe, "CAjunk1", (uint32_t)i, false, FRAME);
	assert_int_equal(fe_wait(&r.fe, &r.fe.audio_frames, 10, 5000), 0);
	assert_true(
	    fe_metric(r.http_port, "ai_bad_input_total{source=\"bus\"}") >= 2);
	assert_true(fe_metric(r.http_port, "bus_bad_messages_total") >= 1);
	assert_true(harness_alive(r.ai));
	assert_int_equal(fe_end(&r.fe, "CAjunk1"), BUS__ENVELOPE__BODY_ACK);
	rig_down(&r);
}

static void
test_overload(void **state)
{
	struct rig r;
	int        code = 0, i, bc = -1;

	(void)state;
	rig_up(&r, (const char *[]) { "--mode", "echo", NULL },
	    (const char *[]) { "AI_MAX_CALLS=1", NULL });
	assert_int_equal(fe_start(&r.fe, "CAover1", NULL, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	/* a repeated start of the same call is answered the same way */
	assert_int_equal(fe_start(&r.fe, "CAover1", NULL, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	assert_int_equal(fe_start(&r.fe, "CAover2", NULL, &code),
	    BUS__ENVELOPE__BODY_ERROR);
	assert_int_equal(code, BUS__ERROR__CODE__OVERLOADED);
	assert_int_equal(fe_end(&r.fe, "CAover1"), BUS__ENVELOPE__BODY_ACK);
	/* the end is processed asynchronously; media-edge retries */
	for (i = 0; i < 100; i++) {
		if ((bc = fe_start(&r.fe, "CAover2", NULL, NULL))
		    == BUS__ENVELOPE__BODY_SESSION_STARTED)
			break;
		nng_msleep(50);
	}
	assert_int_equal(bc, BUS__ENVELOPE__BODY_SESSION_STARTED);
	rig_down(&r);
}

/* media-edge reports an answering machine: the message, then HangUp. */
static void
test_amd_event(void **state)
{
	struct rig     r;
	Bus__Envelope  env = BUS__ENVELOPE__INIT;
	Bus__CallEvent ev = BUS__CALL_EVENT__INIT;
	long long      end;

	(void)state;
	rig_up(&r, NULL, NULL);
	assert_int_equal(fe_start(&r.fe, "CAamd1", NULL, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	speak(&r, "CAamd1", false, 300);
	ev.kind = "amd";
	ev.status = "machine_end_beep";
	env.body_case = BUS__ENVELOPE__BODY_CALL_EVENT;
	env.call_event = &ev;
	fe_publish(&r.fe, "CAamd1", &env);
	end = fe_now() + 8000;
	while (fe_get(&r.fe, &r.fe.hangups) == 0 && fe_now() < end)
		speak(&r, "CAamd1", false, 100);
	assert_int_equal(fe_get(&r.fe, &r.fe.hangups), 1);
	assert_string_equal(r.fe.hangup_reason, "voicemail");
	/* the message was played (its marks came back) before hanging up */
	assert_true(fe_get(&r.fe, &r.fe.audio_frames) > 10);
	assert_true(fe_get(&r.fe, &r.fe.echoed) > 0);
	assert_true(fe_metric(r.http_port,
	                "ai_calls_ended_total{reason=\"voicemail\"}")
	    == 1);
	rig_down(&r);
}

/* No caller audio for AI_IDLE_TIMEOUT_MS: media-edge is gone; the model
 * session must not stay open. */
static void
test_idle(void **state)
{
	struct rig r;
	int        i;

	(void)state;
	rig_up(&r, (const char *[]) { "--mode", "echo", NULL },
	    (const char *[]) { "AI_IDLE_TIMEOUT_MS=1000", NULL });
	assert_int_equal(fe_start(&r.fe, "CAidle1", NULL, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	for (i = 1; i <= 5; i++)
		fe_frame(&r.fe, "CAidle1", (uint32_t)i, false, FRAME);
	assert_int_equal(fe_wait(&r.fe, &r.fe.hangups, 1, 5000), 0);
	assert_string_equal(r.fe.hangup_reason, "no caller audio");
	assert_true(fe_metric(r.http_port,
	                "ai_calls_ended_total{reason=\"caller_silent\"}")
	    == 1);
	assert_true(fe_metric(r.http_port, "ai_calls_active") == 0);
	rig_down(&r);
}

struct late_start {
	struct fedge *fe;
	int           bc;
};

static void *
late_start_main(void *arg)
{
	struct late_start *ls = arg;

	ls->bc = fe_start(ls->fe, "CAearly1", NULL, NULL);
	return (NULL);
}

/* media-edge gives up (SessionEnd) while ai-session is still connecting
 * to its pub socket: the call ends as soon as it is set up. */
static void
test_end_while_starting(void **state)
{
	struct rig        r;
	struct late_start ls;
	pthread_t         t;
	nng_socket        late;
	const char       *url = harness_ipc_url("latepub");
	long long         end;

	(void)state;
	rig_up(&r, (const char *[]) { "--mode", "echo", NULL },
	    (const char *[]) { "AI_DIAL_TIMEOUT_MS=5000", NULL });
	r.fe.pub_url = url; /* nobody listens there yet */
	ls.fe = &r.fe;
	ls.bc = -1;
	pthread_create(&t, NULL, late_start_main, &ls);
	nng_msleep(300);
	assert_int_equal(fe_end(&r.fe, "CAearly1"), BUS__ENVELOPE__BODY_ACK);
	assert_int_equal(nng_pub0_open(&late), 0);
	assert_int_equal(nng_listen(late, url, NULL, 0), 0);
	pthread_join(t, NULL);
	assert_int_equal(ls.bc, BUS__ENVELOPE__BODY_SESSION_STARTED);
	end = fe_now() + 3000;
	while (
	    fe_metric(r.http_port, "ai_calls_active") != 0 && fe_now() < end)
		nng_msleep(20);
	assert_true(fe_metric(r.http_port, "ai_calls_active") == 0);
	assert_true(
	    fe_metric(r.http_port, "ai_calls_ended_total{reason=\"edge\"}")
	    == 1);
	/* ended while it was being set up: it never went live */
	assert_states(&r,
	    (const char *[]) { "new", "setup", "ending", "recorded", NULL },
	    1);
	assert_true(transitions(&r, "setup", "live") == 0);
	nng_close(late);
	rig_down(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_bargein),
		cmocka_unit_test(test_update_error),
		cmocka_unit_test(test_model_drop),
		cmocka_unit_test(test_model_drop_gives_up),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_overload),
		cmocka_unit_test(test_amd_event),
		cmocka_unit_test(test_idle),
		cmocka_unit_test(test_end_while_starting),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
