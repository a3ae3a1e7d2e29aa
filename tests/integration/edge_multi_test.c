/*
 * edge_multi_test - two media-edges and two ai-sessions on one bus, the
 * real daemons with sim-caller and sim-openai (echo mode): each media-edge
 * spreads its calls over both ai-sessions (AI_SESSION_URL lists both),
 * so each ai-session sends batched model audio to both media-edges and
 * each media-edge receives the other's batches too (NNG pub sends to
 * every subscriber).  Asserts that every caller heard every frame back,
 * that the model heard every caller frame in order from the first, that
 * both ai-sessions took calls, and that each media-edge dropped the
 * batches meant for the other (counted, not delivered to its calls).
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
#define CALLS_PER_EDGE 6
#define FRAMES_EACH 100 /* 2 s */

struct multi {
	struct harness_proc *oai, *ai[2], *edge[2];
	int                  ai_http[2], edge_http[2];
	char                 record[512];
};

static struct multi M;

static struct harness_proc *
spawn_ai(int i, int oai_port)
{
	char        e[8][256], name[32];
	const char *env[9];
	int         n = 0, k;

	snprintf(e[n++], 256,
	    "OPENAI_REALTIME_URL=ws://127.0.0.1:%d/v1/"
	    "realtime?model=gpt-realtime-2",
	    oai_port);
	snprintf(e[n++], 256, "OPENAI_API_KEY=sk-test");
	snprintf(name, sizeof(name), "mai%d", i);
	snprintf(e[n++], 256, "AI_LISTEN_URL=%s", harness_ipc_url(name));
	snprintf(name, sizeof(name), "maipub%d", i);
	snprintf(e[n++], 256, "AI_PUB_URL=%s", harness_ipc_url(name));
	M.ai_http[i] = harness_free_port();
	snprintf(e[n++], 256, "AI_HTTP_PORT=%d", M.ai_http[i]);
	snprintf(e[n++], 256, "AI_HTTP_ADDR=127.0.0.1");
	snprintf(e[n++], 256, "PERSISTER_URL=");
	snprintf(e[n++], 256, "REASONER_URL=");
	for (k = 0; k < n; k++)
		env[k] = e[k];
	env[n] = NULL;
	return (harness_spawn("ai-session", env));
}

static struct harness_proc *
spawn_edge(int i)
{
	char        e[7][512], name[32];
	const char *env[8];
	int         n = 0, k;

	snprintf(e[n++], 512, "AI_SESSION_URL=%s,", harness_ipc_url("mai0"));
	strncat(e[0], harness_ipc_url("mai1"), 200);
	snprintf(name, sizeof(name), "medgectl%d", i);
	snprintf(e[n++], 512, "EDGE_LISTEN_URL=%s", harness_ipc_url(name));
	snprintf(name, sizeof(name), "medgepub%d", i);
	snprintf(e[n++], 512, "EDGE_PUB_URL=%s", harness_ipc_url(name));
	M.edge_http[i] = harness_free_port();
	snprintf(e[n++], 512, "EDGE_HTTP_PORT=%d", M.edge_http[i]);
	snprintf(e[n++], 512, "EDGE_HTTP_ADDR=127.0.0.1");
	snprintf(e[n++], 512, "EDGE_STREAM_TOKEN_SECRET=" SECRET);
	for (k = 0; k < n; k++)
		env[k] = e[k];
	env[n] = NULL;
	return (harness_spawn("media-edge", env));
}

static int
setup(void **state)
{
	const char *oai_args[] = { "--port", "0", "--mode", "echo", "--tags",
		"--record", M.record, NULL };
	int         port, i;

	(void)state;
	snprintf(M.record, sizeof(M.record), "%s/multi-oai.jsonl",
	    harness_tmpdir());
	if ((M.oai = harness_spawn_args("sim-openai", oai_args, NULL)) == NULL
	    || (port = harness_ready_port(M.oai)) <= 0)
		return (-1);
	for (i = 0; i < 2; i++)
		if ((M.ai[i] = spawn_ai(i, port)) == NULL)
			return (-1);
	for (i = 0; i < 2; i++)
		if ((M.edge[i] = spawn_edge(i)) == NULL)
			return (-1);
	return (0);
}

static int
teardown(void **state)
{
	int i, rv = 0;

	(void)state;
	for (i = 0; i < 2; i++)
		if (M.edge[i] != NULL && harness_stop(M.edge[i], 15000) != 0)
			rv = -1;
	for (i = 0; i < 2; i++)
		if (M.ai[i] != NULL && harness_stop(M.ai[i], 15000) != 0)
			rv = -1;
	if (M.oai != NULL && harness_stop(M.oai, 5000) != 0)
		rv = -1;
	return (rv);
}

/* One metric's value from a /metrics page (0 when absent). */
static double
metric(int port, const char *series)
{
	char   url[128], *body = NULL, *p;
	long   status = 0;
	double v = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
	if (harness_http("GET", url, NULL, NULL, &status, &body) == 0
	    && body != NULL && (p = strstr(body, series)) != NULL)
		v = strtod(p + strlen(series), NULL);
	free(body);
	return (v);
}

static json_t *
report(FILE *f)
{
	char   *line = NULL;
	size_t  cap = 0;
	json_t *rep = NULL;

	while (getline(&line, &cap, f) > 0)
		if (line[0] == '{')
			rep = json_loads(line, 0, NULL);
	free(line);
	pclose(f);
	return (rep);
}

/* connection_closed records of the model side that heard every frame of
 * a call in order from the first. */
static int
model_heard_ok(void)
{
	FILE   *f;
	char   *line = NULL;
	size_t  cap = 0;
	int     n = 0;
	json_t *o;

	if ((f = fopen(M.record, "r")) == NULL)
		return (0);
	while (getline(&line, &cap, f) > 0) {
		if ((o = json_loads(line, 0, NULL)) == NULL)
			continue;
		if (strstr(line, "connection_closed") != NULL) {
			if (json_is_true(json_object_get(o, "tags_in_order"))
			    && json_integer_value(
			           json_object_get(o, "first_tag"))
			        == 1
			    && json_integer_value(json_object_get(o, "tags"))
			        == FRAMES_EACH)
				n++;
			else
				fprintf(stderr, "model heard: %s", line);
		}
		json_decref(o);
	}
	free(line);
	fclose(f);
	return (n);
}

static int
all_closed(void *arg)
{
	(void)arg;
	return (model_heard_ok() >= 2 * CALLS_PER_EDGE);
}

static void
test_two_edges_two_sessions(void **state)
{
	const char *bin = getenv("BIN_DIR");
	char        cmd[1024];
	FILE       *f[2];
	json_t     *rep;
	int         i;

	(void)state;
	for (i = 0; i < 2; i++) {
		snprintf(cmd, sizeof(cmd),
		    "%s/sim-caller --url ws://127.0.0.1:%d/media --calls %d "
		    "--duration-ms %d --drain-ms 500 --tags "
		    "--token-secret " SECRET " 2>>%s/multi-caller%d.log",
		    bin != NULL ? bin : "build/debug/bin", M.edge_http[i],
		    CALLS_PER_EDGE, FRAMES_EACH * 20, harness_tmpdir(), i);
		assert_non_null(f[i] = popen(cmd, "r"));
	}
	for (i = 0; i < 2; i++) {
		rep = report(f[i]);
		assert_non_null(rep);
		assert_int_equal(
		    json_integer_value(json_object_get(rep, "completed")),
		    CALLS_PER_EDGE);
		assert_int_equal(json_integer_value(json_object_get(
		                     json_object_get(rep, "lost"), "total")),
		    0);
		assert_int_equal(json_integer_value(
		                     json_object_get(rep, "frames_received")),
		    CALLS_PER_EDGE * FRAMES_EACH);
		json_decref(rep);
	}
	assert_int_equal(harness_wait_for(all_closed, NULL, 10000), 0);
	assert_int_equal(model_heard_ok(), 2 * CALLS_PER_EDGE);
	for (i = 0; i < 2; i++) {
		/* both ai-sessions took calls and sent batches */
		assert_true(
		    metric(M.ai_http[i], "ai_calls_total{result=\"started\"}")
		    >= 1);
		assert_true(metric(M.ai_http[i],
		                "ai_bus_batches_total{direction=\"out\"}")
		    >= 1);
		assert_true(metric(M.ai_http[i],
		                "ai_bus_batches_total{direction=\"in\"}")
		    >= 1);
		/* each media-edge got (and dropped) the other's batches */
		assert_true(metric(M.edge_http[i],
		                "edge_bus_batches_total{result=\"received\"}")
		    >= 1);
		assert_true(metric(M.edge_http[i],
		                "edge_bus_batches_total{result="
		                "\"other_instance\"}")
		    >= 1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_edges_two_sessions),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
