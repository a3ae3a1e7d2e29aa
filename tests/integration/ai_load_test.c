/*
 * ai_load_test - ai-session under many calls at once: this process plays
 * media-edge for N calls (one 160-byte frame per call every 20 ms), and
 * sim-openai in echo mode plays the model.  Every frame must come back,
 * in order; the test prints ai-session's CPU milliseconds per call-second
 * and resident KiB per call (from /proc), which is ai-session's share of
 * the audio path's budget (docs/performance.md).
 *
 * Bounded: AI_LOAD_CALLS calls (default 50) for AI_LOAD_SECONDS seconds
 * (default 4).  `AI_LOAD_CALLS=1000 AI_LOAD_SECONDS=20` measures the
 * target load.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include <cmocka.h>

#include "ai_fake_edge.h"

#define FRAME 160
#define MAX_CALLS 4000

struct load {
	struct harness_proc *sim, *ai;
	nng_socket           pub, sub, req;
	const char          *pub_url, *ctl_url;
	char                 ai_url[256], ai_pub[256], rec[512];
	int                  http_port;
	int                  ncalls;
	char                 sids[MAX_CALLS][24];
	_Atomic long         rx[MAX_CALLS]; /* frames back */
	_Atomic long         bad_order;
	uint32_t             next_tag[MAX_CALLS]; /* rx thread */
	atomic_bool          stop;
	long                 sent;
};

static struct load L;

static int
env_int(const char *name, int def)
{
	const char *v = getenv(name);
	long        n = v != NULL ? strtol(v, NULL, 10) : 0;

	return (n > 0 && n < 100000 ? (int)n : def);
}

static int
sid_index(const char *sid)
{
	return ((int)strtol(sid + 6, NULL, 10)); /* "CAload%05d" */
}

/* Receiver: count frames back per call, check order, echo marks. */
static void *
rx_main(void *arg)
{
	Bus__Envelope *env;
	const char    *topic;
	nng_msg       *m;
	int            i;

	(void)arg;
	while (!atomic_load(&L.stop)) {
		if (nng_recvmsg(L.sub, &m, 0) != 0)
			continue;
		if (wire_unpack_pub(m, &topic, &env) == 0) {
			i = sid_index(topic);
			if (env->body_case == BUS__ENVELOPE__BODY_AUDIO
			    && i >= 0 && i < L.ncalls) {
				const uint8_t *p = env->audio->payload.data;
				uint32_t       tag = (uint32_t)p[0] << 24
				    | (uint32_t)p[1] << 16
				    | (uint32_t)p[2] << 8 | p[3];

				if (tag != ++L.next_tag[i])
					atomic_fetch_add(&L.bad_order, 1);
				L.next_tag[i] = tag;
				atomic_fetch_add(&L.rx[i], 1);
			} else if (env->body_case
			    == BUS__ENVELOPE__BODY_MARK) {
				Bus__Envelope   e = BUS__ENVELOPE__INIT;
				Bus__MarkEcho   me = BUS__MARK_ECHO__INIT;
				struct wire_ids ids;

				me.name = env->mark->name;
				e.body_case = BUS__ENVELOPE__BODY_MARK_ECHO;
				e.mark_echo = &me;
				wire_env_init(&e, &ids, topic, NULL);
				(void)wire_publish(L.pub, topic, &e);
			}
			wire_free(env);
		}
		nng_msg_free(m);
	}
	return (NULL);
}

/* /proc/<pid>/stat utime + stime in ms, and VmRSS in KiB. */
static void
proc_usage(pid_t pid, double *cpu_ms, long *rss_kib)
{
	char          path[64], buf[2048], *p;
	unsigned long ut = 0, stt = 0;
	FILE         *f;
	int           i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(buf, sizeof(buf), f) != NULL
		    && (p = strrchr(buf, ')')) != NULL) {
			for (i = 0; i < 12 && p != NULL; i++)
				p = strchr(p + 1, ' ');
			if (p != NULL)
				sscanf(p + 1, "%lu %lu", &ut, &stt);
		}
		fclose(f);
	}
	*cpu_ms = (double)(ut + stt) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	*rss_kib = 0;
	if ((f = fopen(path, "r")) != NULL) {
		while (fgets(buf, sizeof(buf), f) != NULL)
			if (strncmp(buf, "VmRSS:", 6) == 0)
				*rss_kib = atol(buf + 6);
		fclose(f);
	}
}

static void
start_all(void)
{
	const char *argv[] = { "--port", "0", "--mode", "echo", "--tags",
		"--record", L.rec, NULL };
	const char *envv[16];
	char        url[160], lu[300], pu[300], port[48];

	snprintf(L.rec, sizeof(L.rec), "%s/load.jsonl", harness_tmpdir());
	L.sim = harness_spawn_args("sim-openai", argv, NULL);
	assert_non_null(L.sim);
	snprintf(L.ai_url, sizeof(L.ai_url), "%s", harness_ipc_url("lai"));
	snprintf(L.ai_pub, sizeof(L.ai_pub), "%s", harness_ipc_url("laip"));
	L.http_port = harness_free_port();
	snprintf(url, sizeof(url),
	    "OPENAI_REALTIME_URL=ws://127.0.0.1:%d/"
	    "v1/realtime?model=gpt-realtime-2",
	    harness_ready_port(L.sim));
	snprintf(lu, sizeof(lu), "AI_LISTEN_URL=%s", L.ai_url);
	snprintf(pu, sizeof(pu), "AI_PUB_URL=%s", L.ai_pub);
	snprintf(port, sizeof(port), "AI_HTTP_PORT=%d", L.http_port);
	envv[0] = url;
	envv[1] = lu;
	envv[2] = pu;
	envv[3] = port;
	envv[4] = "AI_HTTP_ADDR=127.0.0.1";
	envv[5] = "OPENAI_API_KEY=sk-test";
	envv[6] = "PERSISTER_URL=";
	envv[7] = "REASONER_URL=";
	envv[8] = "AI_MAX_CALLS=5000";
	envv[9] = "LOG_LEVEL=warn";
	envv[10] = NULL;
	L.ai = harness_spawn("ai-session", envv);
	assert_non_null(L.ai);

	L.pub_url = harness_ipc_url("lpub");
	L.ctl_url = harness_ipc_url("lctl");
	assert_int_equal(nng_pub0_open(&L.pub), 0);
	assert_int_equal(nng_socket_set_int(L.pub, NNG_OPT_SENDBUF, 8192), 0);
	assert_int_equal(nng_listen(L.pub, L.pub_url, NULL, 0), 0);
	assert_int_equal(nng_sub0_open(&L.sub), 0);
	assert_int_equal(
	    nng_socket_set(L.sub, NNG_OPT_SUB_SUBSCRIBE, "", 0), 0);
	assert_int_equal(nng_socket_set_int(L.sub, NNG_OPT_RECVBUF, 8192), 0);
	assert_int_equal(nng_socket_set_ms(L.sub, NNG_OPT_RECVTIMEO, 20), 0);
	assert_int_equal(
	    nng_dial(L.sub, L.ai_pub, NULL, NNG_FLAG_NONBLOCK), 0);
	assert_int_equal(bus_req_dial(&L.req, "load", L.ai_url), 0);
}

static void
session(const char *sid, bool start)
{
	Bus__Envelope     env = BUS__ENVELOPE__INIT, *rep = NULL;
	Bus__SessionStart ss = BUS__SESSION_START__INIT;
	Bus__SessionEnd   se = BUS__SESSION_END__INIT;
	struct wire_ids   ids;

	wire_env_init(&env, &ids, sid, NULL);
	env.idempotency_key = (char *)sid;
	if (start) {
		ss.edge_pub_url = (char *)L.pub_url;
		ss.edge_ctl_url = (char *)L.ctl_url;
		ss.direction = BUS__DIRECTION__OUTBOUND;
		env.body_case = BUS__ENVELOPE__BODY_SESSION_START;
		env.session_start = &ss;
	} else {
		se.reason = "stop";
		env.body_case = BUS__ENVELOPE__BODY_SESSION_END;
		env.session_end = &se;
	}
	assert_int_equal(bus_request(L.req, &env, &rep, 5000, 2), 0);
	assert_int_equal(rep->body_case,
	    start ? BUS__ENVELOPE__BODY_SESSION_STARTED
	          : BUS__ENVELOPE__BODY_ACK);
	wire_free(rep);
}

static void
send_tick(uint32_t tag)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT;
	Bus__AudioFrame af = BUS__AUDIO_FRAME__INIT;
	struct wire_ids ids;
	uint8_t         buf[FRAME];
	int             i;

	memset(buf, 0xff, sizeof(buf));
	buf[0] = (uint8_t)(tag >> 24);
	buf[1] = (uint8_t)(tag >> 16);
	buf[2] = (uint8_t)(tag >> 8);
	buf[3] = (uint8_t)tag;
	af.payload.data = buf;
	af.payload.len = FRAME;
	af.seq = tag;
	af.timestamp_ms = tag * 20;
	env.body_case = BUS__ENVELOPE__BODY_AUDIO;
	env.audio = &af;
	for (i = 0; i < L.ncalls; i++) {
		wire_env_init(&env, &ids, L.sids[i], NULL);
		while (wire_publish(L.pub, L.sids[i], &env) != 0)
			nng_msleep(1); /* never drop on our side */
		L.sent++;
	}
}

static void
test_load(void **state)
{
	pthread_t rx;
	double    cpu0, cpu1, cpu_call;
	long      rss0, rss1, rss_call, lost = 0, got = 0;
	long long t0, next, t_meas0 = 0;
	int       seconds, i, ticks;
	uint32_t  tag;
	json_t   *closed;

	(void)state;
	L.ncalls = env_int("AI_LOAD_CALLS", 50);
	seconds = env_int("AI_LOAD_SECONDS", 4);
	if (L.ncalls > MAX_CALLS)
		L.ncalls = MAX_CALLS;
	start_all();
	pthread_create(&rx, NULL, rx_main, NULL);
	nng_msleep(200);
	proc_usage(harness_pid(L.ai), &cpu0, &rss0);
	for (i = 0; i < L.ncalls; i++) {
		snprintf(L.sids[i], sizeof(L.sids[i]), "CAload%05d", i);
		session(L.sids[i], true);
	}
	/* frames from the first tick on, as media-edge flushes at once */
	ticks = seconds * 50;
	t0 = next = fe_now();
	for (tag = 1; tag <= (uint32_t)ticks; tag++) {
		send_tick(tag);
		if (tag == 50) { /* measure after the first second */
			proc_usage(harness_pid(L.ai), &cpu0, &rss1);
			t_meas0 = fe_now();
		}
		next += 20;
		while (fe_now() < next)
			nng_msleep(1);
	}
	proc_usage(harness_pid(L.ai), &cpu1, &rss1);
	cpu_call = (cpu1 - cpu0)
	    / ((double)L.ncalls * (double)(fe_now() - t_meas0) / 1000.0);
	rss_call = (rss1 - rss0) / L.ncalls;
	nng_msleep(500); /* the last frames come back */
	for (i = 0; i < L.ncalls; i++) {
		got += atomic_load(&L.rx[i]);
		if (atomic_load(&L.rx[i]) != ticks)
			lost += ticks - atomic_load(&L.rx[i]);
	}
	{
		static const char *const m[] = {
			"ai_frames_dropped_total{reason=\"queue_full\"}",
			"ai_frames_dropped_total{reason=\"unknown_call\"}",
			"ai_frames_dropped_total{reason=\"pub_full\"}",
			"ai_frames_dropped_total{reason=\"late_delta\"}",
			"ai_frame_gaps_total",
			"ai_frames_total{direction=\"in\"}",
			"ai_frames_total{direction=\"out\"}",
			"ai_marks_total{result=\"sent\"}", NULL
		};

		for (i = 0; m[i] != NULL; i++)
			print_message(
			    "  %s %.0f\n", m[i], fe_metric(L.http_port, m[i]));
	}
	for (i = 0; i < L.ncalls; i++)
		session(L.sids[i], false);
	print_message(
	    "load: %d calls x %d s: sent %ld, back %ld, lost %ld, "
	    "out of order %ld; ai-session %.3f CPU-ms per call-second, "
	    "%ld KiB RSS per call (%ld KiB before calls); %.1f s wall\n",
	    L.ncalls, seconds, L.sent, got, lost, atomic_load(&L.bad_order),
	    cpu_call, rss_call, rss0, (double)(fe_now() - t0) / 1000.0);
	closed = fe_records_wait(
	    L.rec, "connection_closed", (size_t)L.ncalls, 10000);
	assert_int_equal(json_array_size(closed), L.ncalls);
	for (i = 0; i < L.ncalls; i++) {
		json_t *c = json_array_get(closed, (size_t)i);

		assert_true(json_is_true(json_object_get(c, "tags_in_order")));
		assert_int_equal(
		    json_integer_value(json_object_get(c, "tags")), ticks);
	}
	json_decref(closed);
	atomic_store(&L.stop, true);
	pthread_join(rx, NULL);
	assert_int_equal(lost, 0);
	assert_int_equal(atomic_load(&L.bad_order), 0);
	nng_close(L.req);
	nng_close(L.sub);
	nng_close(L.pub);
	assert_int_equal(harness_stop(L.ai, 15000), 0);
	assert_int_equal(harness_stop(L.sim, 5000), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
