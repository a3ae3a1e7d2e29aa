/*
 * edge_realai_test - the audio path through the real daemons:
 * sim-caller -> media-edge -> ai-session -> sim-openai (echo mode) and
 * back.  Asserts that the model heard every caller frame in order from
 * the first (sim-openai --record: tags_in_order, first_tag 1, one tag per
 * frame sent) and that the callers heard the model's audio (sim-caller:
 * no frame lost, start included), for both dialects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"

#define SECRET "edge-test-secret-0123456789"

struct stack {
	struct harness_proc *oai, *ai, *edge;
	char                 record[512];
	char                 ws[96];
};

static int
spawn_stack(struct stack *s)
{
	static int  gen;
	char        e[12][256], name[32];
	const char *env[16];
	const char *oai_args[] = { "--port", "0", "--mode", "echo", "--tags",
		"--record", s->record, NULL };
	int         n = 0, port, i;

	snprintf(s->record, sizeof(s->record), "%s/oai%d.jsonl",
	    harness_tmpdir(), gen);
	if ((s->oai = harness_spawn_args("sim-openai", oai_args, NULL)) == NULL
	    || (port = harness_ready_port(s->oai)) <= 0)
		return (-1);
	snprintf(e[n++], 256,
	    "OPENAI_REALTIME_URL=ws://127.0.0.1:%d/v1/"
	    "realtime?model=gpt-realtime-2",
	    port);
	snprintf(e[n++], 256, "OPENAI_API_KEY=sk-test");
	snprintf(name, sizeof(name), "ai%d", gen);
	snprintf(e[n++], 256, "AI_LISTEN_URL=%s", harness_ipc_url(name));
	snprintf(name, sizeof(name), "aipub%d", gen);
	snprintf(e[n++], 256, "AI_PUB_URL=%s", harness_ipc_url(name));
	snprintf(e[n++], 256, "AI_HTTP_PORT=%d", harness_free_port());
	snprintf(e[n++], 256, "AI_HTTP_ADDR=127.0.0.1");
	snprintf(e[n++], 256, "PERSISTER_URL=");
	snprintf(e[n++], 256, "REASONER_URL=");
	for (i = 0; i < n; i++)
		env[i] = e[i];
	env[n] = NULL;
	if ((s->ai = harness_spawn("ai-session", env)) == NULL)
		return (-1);
	n = 0;
	snprintf(name, sizeof(name), "ai%d", gen);
	snprintf(e[n++], 256, "AI_SESSION_URL=%s", harness_ipc_url(name));
	snprintf(name, sizeof(name), "edgectl%d", gen);
	snprintf(e[n++], 256, "EDGE_LISTEN_URL=%s", harness_ipc_url(name));
	snprintf(name, sizeof(name), "edgepub%d", gen++);
	snprintf(e[n++], 256, "EDGE_PUB_URL=%s", harness_ipc_url(name));
	port = harness_free_port();
	snprintf(e[n++], 256, "EDGE_HTTP_PORT=%d", port);
	snprintf(e[n++], 256, "EDGE_HTTP_ADDR=127.0.0.1");
	snprintf(e[n++], 256, "EDGE_STREAM_TOKEN_SECRET=" SECRET);
	for (i = 0; i < n; i++)
		env[i] = e[i];
	env[n] = NULL;
	snprintf(s->ws, sizeof(s->ws), "ws://127.0.0.1:%d/media", port);
	if ((s->edge = harness_spawn("media-edge", env)) == NULL)
		return (-1);
	return (0);
}

static void
stop_stack(struct stack *s)
{
	assert_int_equal(harness_stop(s->edge, 15000), 0);
	assert_int_equal(harness_stop(s->ai, 15000), 0);
	assert_int_equal(harness_stop(s->oai, 5000), 0);
}

static json_t *
caller(struct stack *s, const char *args)
{
	char        cmd[1024], *line = NULL;
	size_t      cap = 0;
	const char *bin = getenv("BIN_DIR");
	FILE       *f;
	json_t     *rep = NULL;

	snprintf(cmd, sizeof(cmd),
	    "%s/sim-caller --url %s %s 2>>%s/caller.log",
	    bin != NULL ? bin : "build/debug/bin", s->ws, args,
	    harness_tmpdir());
	if ((f = popen(cmd, "r")) == NULL)
		return (NULL);
	while (getline(&line, &cap, f) > 0)
		if (line[0] == '{')
			rep = json_loads(line, 0, NULL);
	free(line);
	pclose(f);
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

/* Every connection_closed fact of the model side, checked. */
static int
model_heard(struct stack *s, int calls, int frames_each)
{
	FILE   *f;
	char   *line = NULL;
	size_t  cap = 0;
	int     n = 0;
	json_t *o, *t;

	if ((f = fopen(s->record, "r")) == NULL)
		return (-1);
	while (getline(&line, &cap, f) > 0) {
		if ((o = json_loads(line, 0, NULL)) == NULL)
			continue;
		if (json_is_string(t = json_object_get(o, "type"))
		    && strcmp(json_string_value(t), "connection_closed")
		        == 0) {
			if (!json_is_true(json_object_get(o, "tags_in_order"))
			    || json_integer_value(
			           json_object_get(o, "first_tag"))
			        != 1
			    || json_integer_value(json_object_get(o, "tags"))
			        != frames_each)
				fprintf(stderr, "model heard: %s", line);
			else
				n++;
		}
		json_decref(o);
	}
	free(line);
	fclose(f);
	return (n == calls ? 0 : -1);
}

static int
records_closed(void *arg)
{
	struct stack *s = arg;
	FILE         *f = fopen(s->record, "r");
	char         *line = NULL;
	size_t        cap = 0;
	int           n = 0;

	if (f == NULL)
		return (0);
	while (getline(&line, &cap, f) > 0)
		if (strstr(line, "connection_closed") != NULL)
			n++;
	free(line);
	fclose(f);
	return (n >= 3);
}

static void
run(const char *dialect)
{
	struct stack s;
	json_t      *rep;
	char         args[256];

	assert_int_equal(spawn_stack(&s), 0);
	snprintf(args, sizeof(args),
	    "--calls 3 --duration-ms 2000 "
	    "--drain-ms 500 --tags --dialect %s --token-secret " SECRET,
	    dialect);
	rep = caller(&s, args);
	assert_non_null(rep);
	assert_int_equal(jget(rep, "completed", NULL), 3);
	assert_int_equal(jget(rep, "frames_sent", NULL), 300);
	/* the callers heard the model: every frame came back */
	assert_int_equal(jget(rep, "lost", "total"), 0);
	assert_int_equal(jget(rep, "frames_received", NULL), 300);
	assert_true(jget(rep, "marks_received", NULL) > 0);
	/* the model heard the callers: every frame, in order, from 1 */
	assert_int_equal(harness_wait_for(records_closed, &s, 5000), 0);
	assert_int_equal(model_heard(&s, 3, 100), 0);
	json_decref(rep);
	stop_stack(&s);
}

static void
test_twilio(void **state)
{
	(void)state;
	run("twilio");
}

static void
test_signalwire(void **state)
{
	(void)state;
	run("signalwire");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_twilio),
		cmocka_unit_test(test_signalwire),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
