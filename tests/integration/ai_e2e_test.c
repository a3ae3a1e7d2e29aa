/*
 * ai_e2e_test - the audio path end to end, every piece real:
 * sim-caller -> media-edge -> ai-session -> sim-openai and back.
 *
 *   echo:     several calls in echo mode with frame tags: the model hears
 *             every caller frame in order, the caller hears every echoed
 *             frame, nothing lost at the start, middle or end.
 *   barge-in: the caller talks over a long answer: media-edge gets Clear
 *             (the caller's buffer is cleared), sim-openai accepts one
 *             truncate that matches what was played and rejects none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "ai_fake_edge.h"

#define SECRET "e2e-stream-secret-0123456789abcdef"

struct e2e {
	struct harness_proc *oai, *ai, *edge;
	char                 rec[512];
	char                 ws[128];
	int                  ai_port;
};

static int ne2e;

static void
e2e_up(struct e2e *e, const char *const *oai_args)
{
	const char *argv[16], *env[24], *ai_url;
	char        b[8][300], name[32];
	int         i = 0, j = 0, edge_port;

	memset(e, 0, sizeof(*e));
	ne2e++;
	snprintf(
	    e->rec, sizeof(e->rec), "%s/e2e%d.jsonl", harness_tmpdir(), ne2e);
	argv[i++] = "--port";
	argv[i++] = "0";
	argv[i++] = "--record";
	argv[i++] = e->rec;
	while (oai_args != NULL && *oai_args != NULL)
		argv[i++] = *oai_args++;
	argv[i] = NULL;
	e->oai = harness_spawn_args("sim-openai", argv, NULL);
	assert_non_null(e->oai);

	e->ai_port = harness_free_port();
	snprintf(name, sizeof(name), "e2eai%d", ne2e);
	ai_url = harness_ipc_url(name);
	snprintf(b[0], sizeof(b[0]), "AI_LISTEN_URL=%s", ai_url);
	snprintf(name, sizeof(name), "e2eaipub%d", ne2e);
	snprintf(b[1], sizeof(b[1]), "AI_PUB_URL=%s", harness_ipc_url(name));
	snprintf(b[2], sizeof(b[2]), "AI_HTTP_PORT=%d", e->ai_port);
	snprintf(b[3], sizeof(b[3]),
	    "OPENAI_REALTIME_URL=ws://127.0.0.1:%d/"
	    "v1/realtime?model=gpt-realtime-2",
	    harness_ready_port(e->oai));
	for (i = 0; i < 4; i++)
		env[j++] = b[i];
	env[j++] = "AI_HTTP_ADDR=127.0.0.1";
	env[j++] = "OPENAI_API_KEY=sk-test";
	env[j++] = "PERSISTER_URL=";
	env[j++] = "REASONER_URL=";
	env[j] = NULL;
	e->ai = harness_spawn("ai-session", env);
	assert_non_null(e->ai);

	edge_port = harness_free_port();
	snprintf(e->ws, sizeof(e->ws), "ws://127.0.0.1:%d/media", edge_port);
	j = 0;
	snprintf(b[4], sizeof(b[4]), "AI_SESSION_URL=%s", ai_url);
	snprintf(name, sizeof(name), "e2eedge%d", ne2e);
	snprintf(
	    b[5], sizeof(b[5]), "EDGE_LISTEN_URL=%s", harness_ipc_url(name));
	snprintf(name, sizeof(name), "e2eedgepub%d", ne2e);
	snprintf(b[6], sizeof(b[6]), "EDGE_PUB_URL=%s", harness_ipc_url(name));
	snprintf(b[7], sizeof(b[7]), "EDGE_HTTP_PORT=%d", edge_port);
	for (i = 4; i < 8; i++)
		env[j++] = b[i];
	env[j++] = "EDGE_HTTP_ADDR=127.0.0.1";
	env[j++] = "EDGE_STREAM_TOKEN_SECRET=" SECRET;
	env[j] = NULL;
	e->edge = harness_spawn("media-edge", env);
	assert_non_null(e->edge);
}

static void
e2e_down(struct e2e *e)
{
	assert_int_equal(harness_stop(e->edge, 15000), 0);
	assert_int_equal(harness_stop(e->ai, 10000), 0);
	assert_int_equal(harness_stop(e->oai, 5000), 0);
}

/* Run sim-caller to the end; its JSON report. */
static json_t *
caller(struct e2e *e, const char *args)
{
	char        cmd[2048], *line = NULL;
	size_t      cap = 0;
	const char *bin = getenv("BIN_DIR");
	json_t     *rep = NULL;
	FILE       *f;

	snprintf(cmd, sizeof(cmd),
	    "%s/sim-caller --url %s --token-secret %s "
	    "%s 2>>%s/caller.log",
	    bin != NULL ? bin : "build/debug/bin", e->ws, SECRET, args,
	    harness_tmpdir());
	f = popen(cmd, "r");
	assert_non_null(f);
	while (getline(&line, &cap, f) > 0)
		if (line[0] == '{') {
			json_decref(rep);
			rep = json_loads(line, 0, NULL);
		}
	free(line);
	pclose(f);
	assert_non_null(rep);
	return (rep);
}

static json_int_t
jget(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b != NULL)
		v = json_object_get(v, b);
	return (json_integer_value(v));
}

static void
test_echo(void **state)
{
	struct e2e e;
	json_t    *rep, *closed;
	size_t     i;

	(void)state;
	e2e_up(&e, (const char *[]) { "--mode", "echo", "--tags", NULL });
	rep = caller(&e,
	    "--calls 5 --duration-ms 3000 --ramp-ms 200 "
	    "--drain-ms 1000 --tags");
	print_message("sent %lld, received %lld, lost %lld\n",
	    (long long)jget(rep, "frames_sent", NULL),
	    (long long)jget(rep, "frames_received", NULL),
	    (long long)jget(rep, "lost", "total"));
	assert_int_equal(jget(rep, "connected", NULL), 5);
	assert_int_equal(jget(rep, "completed", NULL), 5);
	assert_true(jget(rep, "frames_sent", NULL) >= 5 * 140);
	assert_int_equal(jget(rep, "frames_received", NULL),
	    jget(rep, "frames_sent", NULL));
	assert_int_equal(jget(rep, "lost", "total"), 0);
	assert_true(jget(rep, "marks_received", NULL) > 0);
	json_decref(rep);
	/* the model heard every frame of every call, in order */
	closed = fe_records_wait(e.rec, "connection_closed", 5, 5000);
	assert_int_equal(json_array_size(closed), 5);
	for (i = 0; i < 5; i++) {
		json_t *c = json_array_get(closed, i);

		assert_true(json_is_true(json_object_get(c, "tags_in_order")));
		assert_int_equal(jget(c, "first_tag", NULL), 1);
	}
	json_decref(closed);
	e2e_down(&e);
}

static void
test_bargein(void **state)
{
	struct e2e e;
	json_t    *rep, *ok, *bad;
	char       script[600];
	FILE      *f;
	long       ms;

	(void)state;
	snprintf(
	    script, sizeof(script), "%s/e2e-barge.json", harness_tmpdir());
	f = fopen(script, "w");
	assert_non_null(f);
	fprintf(f,
	    "{\"steps\":[{\"say\":\"Let me tell you all about our "
	    "boiler service plans, there are several.\",\"audio_ms\":5000}],"
	    "\"heard\":[\"Hello?\",\"Sorry, stop.\"]}\n");
	fclose(f);
	e2e_up(&e,
	    (const char *[]) {
	        "--script", script, "--late-deltas", "3", NULL });
	rep = caller(&e,
	    "--calls 1 --duration-ms 6000 --drain-ms 500 "
	    "--tone-at-ms 200:600,2700:500");
	assert_int_equal(jget(rep, "completed", NULL), 1);
	assert_true(jget(rep, "frames_received", NULL) > 0);
	assert_true(jget(rep, "clears", NULL) >= 1);
	assert_true(jget(rep, "marks_received", NULL) > 0);
	json_decref(rep);
	ok = fe_records_wait(e.rec, "truncate_ok", 1, 3000);
	bad = fe_records(e.rec, "truncate_rejected");
	assert_int_equal(json_array_size(ok), 1);
	assert_int_equal(json_array_size(bad), 0);
	ms = (long)jget(json_array_get(ok, 0), "audio_end_ms", NULL);
	print_message("truncated at %ld ms of %lld produced\n", ms,
	    (long long)jget(json_array_get(ok, 0), "item_audio_ms", NULL));
	/* the answer started around 1.3 s, the caller spoke at 2.7 s */
	assert_true(ms >= 600 && ms <= 2000);
	json_decref(ok);
	json_decref(bad);
	assert_true(fe_metric(e.ai_port, "ai_bargeins_total") >= 1);
	e2e_down(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo),
		cmocka_unit_test(test_bargein),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
