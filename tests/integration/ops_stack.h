/*
 * ops_stack.h - the whole bridge on one machine for the ops_* tests:
 * persister and rate-limiter on a fresh test schema, reasoner on
 * sim-anthropic, ai-session on sim-openai (echo mode), media-edge in
 * front, every bus socket on ipc:// in the test's scratch directory and
 * every HTTP port a free loopback port.  ops_stack_callctl_env() is the
 * environment that points callctl at it, as the same variables point
 * it at a deployment.
 *
 * Header-only (static functions): each integration test is one binary
 * linked with tests/lib and common/ only.  Main thread only.  A daemon
 * that is not built fails ops_stack_start(): nothing here skips.
 */
#ifndef OPS_STACK_H
#define OPS_STACK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "pgtest.h"

#define OPS_FN static __attribute__((unused))

#define OPS_STREAM_SECRET "ops-test-stream-secret-5c1e9a7f03d2"
#define OPS_HMAC_KEY "ops-test-hmac-key-0b7d4e2f9a6c1358"
#define OPS_PHONE_KEY                                                         \
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

enum { OPS_EDGE, OPS_AI, OPS_REASONER, OPS_RL, OPS_PERSISTER, OPS_N };

static const char *const ops_daemons[OPS_N]
    = { "media-edge", "ai-session", "reasoner", "rate-limiter", "persister" };

struct ops_stack {
	struct pgtest_schema db;
	struct harness_proc *proc[OPS_N];
	struct harness_proc *sim_openai, *sim_anthropic;
	char                 req[OPS_N][256]; /* request sockets */
	char                 edge_pub[256], ai_pub[256];
	int                  http[OPS_N]; /* HTTP ports */
	char                 env[4096]; /* callctl's environment */
	char                 envbuf[64][320];
	int                  nbuf;
	const char          *envv[OPS_N][20]; /* each daemon's settings */
	/* a second ai-session (ops_stack_start_opts, two_ai) */
	struct harness_proc *ai2;
	char                 ai2_req[256], ai2_pub[256], ai_urls[600];
	int                  ai2_http;
	const char          *ai2_envv[20];
};

/*
 * Runs a shell command (sh -c) and returns its exit status, or -1 if it
 * did not exit normally.  *outp (if outp is not NULL) is its stdout,
 * malloc'd; commands add 2>&1 where stderr matters.  With OPS_TEST_VERBOSE
 * set, each command and its output go to stderr.
 */
OPS_FN int ops_sh(char **outp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

OPS_FN int
ops_sh(char **outp, const char *fmt, ...)
{
	char   *cmd, *out, *tmp, buf[4096];
	size_t  len = 0, n;
	FILE   *p;
	va_list ap;
	int     st;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) == -1)
		abort();
	va_end(ap);
	if ((p = popen(cmd, "r")) == NULL || (out = malloc(1)) == NULL)
		abort();
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0) {
		if ((tmp = realloc(out, len + n + 1)) == NULL)
			abort();
		out = tmp;
		memcpy(out + len, buf, n);
		len += n;
	}
	out[len] = '\0';
	st = pclose(p);
	if (getenv("OPS_TEST_VERBOSE") != NULL)
		fprintf(stderr, "$ %s\n%s", cmd, out);
	free(cmd);
	if (outp != NULL)
		*outp = out;
	else
		free(out);
	if (st == -1 || !WIFEXITED(st))
		return (-1);
	return (WEXITSTATUS(st));
}

/* "NAME=value" in the next env buffer. */
static const char *
ops_kvs(struct ops_stack *s, const char *name, const char *val)
{
	char *b = s->envbuf[s->nbuf++];

	snprintf(b, sizeof(s->envbuf[0]), "%s=%s", name, val);
	return (b);
}

static const char *
ops_kvi(struct ops_stack *s, const char *name, int val)
{
	char *b = s->envbuf[s->nbuf++];

	snprintf(b, sizeof(s->envbuf[0]), "%s=%d", name, val);
	return (b);
}

static struct harness_proc *
ops_sim(const char *name, const char *const *args)
{
	struct harness_proc *p = harness_spawn_args(name, args, NULL);

	if (p == NULL || harness_ready_port(p) <= 0) {
		fprintf(stderr, "ops_stack: %s did not start\n", name);
		return (NULL);
	}
	return (p);
}

/* One ai-session's settings into env (20 entries at most). */
static void
ops_ai_env(struct ops_stack *s, const char **env, const char *req,
    const char *pub, int http, const char *journal)
{
	char url[128];
	int  n = 0;

	env[n++] = ops_kvs(s, "AI_LISTEN_URL", req);
	env[n++] = ops_kvs(s, "AI_PUB_URL", pub);
	env[n++] = "AI_HTTP_ADDR=127.0.0.1";
	env[n++] = ops_kvi(s, "AI_HTTP_PORT", http);
	snprintf(url, sizeof(url),
	    "ws://127.0.0.1:%d/v1/realtime?model=gpt-realtime-2",
	    harness_ready_port(s->sim_openai));
	env[n++] = ops_kvs(s, "OPENAI_REALTIME_URL", url);
	env[n++] = "OPENAI_API_KEY=sk-ops";
	env[n++] = ops_kvs(s, "PERSISTER_URL", s->req[OPS_PERSISTER]);
	env[n++] = ops_kvs(s, "REASONER_URL", s->req[OPS_REASONER]);
	if (journal != NULL) {
		env[n++] = ops_kvs(s, "AI_JOURNAL_DIR", journal);
		env[n++] = "AI_RECORD_RETRY_MAX_MS=1000";
	}
	env[n] = NULL;
}

/*
 * Starts everything, sim-openai in mode oai_mode ("echo": every caller
 * chunk comes straight back as model audio; "conversation": VAD, spoken
 * answers and transcripts); with two_ai, two ai-sessions behind
 * media-edge, each with its record journal.  0, or -1 with the reason
 * printed.
 */
/* Set before ops_stack_start_opts(): sim-openai reads sim-caller's frame
 * tags and records every append to this file (--tags --record). */
static char ops_oai_record[512] __attribute__((unused));

OPS_FN int
ops_stack_start_opts(struct ops_stack *s, const char *oai_mode, bool two_ai)
{
	const char *oai[] = { "--port", "0", "--api-key", "sk-ops", "--mode",
		oai_mode, NULL, NULL, NULL, NULL };
	const char *const ant[]
	    = { "--port", "0", "--api-key", "sk-ant-ops", NULL };
	const char **env;
	char         spool[512], url[128], jdir[2][512], *p;
	int          i, n;

	memset(s, 0, sizeof(*s));
	if (ops_oai_record[0] != '\0') {
		oai[6] = "--tags";
		oai[7] = "--record";
		oai[8] = ops_oai_record;
	}
	if (pgtest_schema_new(&s->db, 1) != 0)
		return (-1);
	for (i = 0; i < OPS_N; i++) {
		snprintf(s->req[i], sizeof(s->req[i]), "%s",
		    harness_ipc_url(ops_daemons[i]));
		if ((s->http[i] = harness_free_port()) <= 0)
			return (-1);
	}
	snprintf(s->edge_pub, sizeof(s->edge_pub), "%s",
	    harness_ipc_url("edge-pub"));
	snprintf(
	    s->ai_pub, sizeof(s->ai_pub), "%s", harness_ipc_url("ai-pub"));
	snprintf(spool, sizeof(spool), "%s/spool", harness_tmpdir());

	n = 0;
	env = s->envv[OPS_PERSISTER];
	env[n++] = ops_kvs(s, "PERSISTER_LISTEN_URL", s->req[OPS_PERSISTER]);
	env[n++] = "PERSISTER_HTTP_ADDR=127.0.0.1";
	env[n++] = ops_kvi(s, "PERSISTER_HTTP_PORT", s->http[OPS_PERSISTER]);
	env[n++] = ops_kvs(s, "DATABASE_URL", s->db.dsn);
	env[n++] = "PHONE_ENCRYPTION_KEY=" OPS_PHONE_KEY;
	env[n++] = ops_kvs(s, "PERSISTER_SPOOL_DIR", spool);
	env[n] = NULL;
	if ((s->proc[OPS_PERSISTER] = harness_spawn("persister", env)) == NULL)
		return (-1);

	n = 0;
	env = s->envv[OPS_RL];
	env[n++] = ops_kvs(s, "RATE_LIMITER_LISTEN_URL", s->req[OPS_RL]);
	env[n++] = "RATE_LIMITER_HTTP_ADDR=127.0.0.1";
	env[n++] = ops_kvi(s, "RATE_LIMITER_HTTP_PORT", s->http[OPS_RL]);
	env[n++] = ops_kvs(s, "DATABASE_URL", s->db.dsn);
	env[n++] = "RATE_LIMIT_HMAC_KEY=" OPS_HMAC_KEY;
	env[n] = NULL;
	if ((s->proc[OPS_RL] = harness_spawn("rate-limiter", env)) == NULL)
		return (-1);

	if ((s->sim_anthropic = ops_sim("sim-anthropic", ant)) == NULL)
		return (-1);
	n = 0;
	env = s->envv[OPS_REASONER];
	env[n++] = ops_kvs(s, "REASONER_LISTEN_URL", s->req[OPS_REASONER]);
	env[n++] = "REASONER_HTTP_ADDR=127.0.0.1";
	env[n++] = ops_kvi(s, "REASONER_HTTP_PORT", s->http[OPS_REASONER]);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d",
	    harness_ready_port(s->sim_anthropic));
	env[n++] = ops_kvs(s, "ANTHROPIC_BASE_URL", url);
	env[n++] = "ANTHROPIC_API_KEY=sk-ant-ops";
	env[n] = NULL;
	if ((s->proc[OPS_REASONER] = harness_spawn("reasoner", env)) == NULL)
		return (-1);

	if ((s->sim_openai = ops_sim("sim-openai", oai)) == NULL)
		return (-1);
	snprintf(jdir[0], sizeof(jdir[0]), "%s/aijournal0", harness_tmpdir());
	snprintf(jdir[1], sizeof(jdir[1]), "%s/aijournal1", harness_tmpdir());
	ops_ai_env(s, s->envv[OPS_AI], s->req[OPS_AI], s->ai_pub,
	    s->http[OPS_AI], two_ai ? jdir[0] : NULL);
	if ((s->proc[OPS_AI] = harness_spawn("ai-session", s->envv[OPS_AI]))
	    == NULL)
		return (-1);
	snprintf(s->ai_urls, sizeof(s->ai_urls), "%s", s->req[OPS_AI]);
	if (two_ai) {
		snprintf(s->ai2_req, sizeof(s->ai2_req), "%s",
		    harness_ipc_url("ai-session2"));
		snprintf(s->ai2_pub, sizeof(s->ai2_pub), "%s",
		    harness_ipc_url("ai-pub2"));
		if ((s->ai2_http = harness_free_port()) <= 0)
			return (-1);
		ops_ai_env(s, s->ai2_envv, s->ai2_req, s->ai2_pub, s->ai2_http,
		    jdir[1]);
		if ((s->ai2 = harness_spawn("ai-session", s->ai2_envv))
		    == NULL)
			return (-1);
		snprintf(s->ai_urls, sizeof(s->ai_urls), "%s,%s",
		    s->req[OPS_AI], s->ai2_req);
	}

	n = 0;
	env = s->envv[OPS_EDGE];
	env[n++] = ops_kvs(s, "EDGE_LISTEN_URL", s->req[OPS_EDGE]);
	env[n++] = ops_kvs(s, "EDGE_PUB_URL", s->edge_pub);
	env[n++] = "EDGE_HTTP_ADDR=127.0.0.1";
	env[n++] = ops_kvi(s, "EDGE_HTTP_PORT", s->http[OPS_EDGE]);
	env[n++] = ops_kvs(s, "AI_SESSION_URL", s->ai_urls);
	env[n++] = ops_kvs(s, "RATE_LIMITER_URL", s->req[OPS_RL]);
	env[n++] = ops_kvs(s, "PERSISTER_URL", s->req[OPS_PERSISTER]);
	env[n++] = "EDGE_STREAM_TOKEN_SECRET=" OPS_STREAM_SECRET;
	env[n++] = "EDGE_DRAIN_TIMEOUT_MS=2000";
	env[n++] = "TWILIO_AUTH_TOKEN";
	env[n++] = "EDGE_TWILIO_AUTH_TOKEN";
	env[n] = NULL;
	if ((s->proc[OPS_EDGE] = harness_spawn("media-edge", env)) == NULL)
		return (-1);

	p = s->env;
	p += snprintf(p, sizeof(s->env),
	    "EDGE_URL=%s AI_SESSION_URL=%s REASONER_URL=%s "
	    "RATE_LIMITER_URL=%s PERSISTER_URL=%s EDGE_PUB_URL=%s "
	    "AI_PUB_URL=%s",
	    s->req[OPS_EDGE], s->req[OPS_AI], s->req[OPS_REASONER],
	    s->req[OPS_RL], s->req[OPS_PERSISTER], s->edge_pub, s->ai_pub);
	snprintf(p, sizeof(s->env) - (size_t)(p - s->env),
	    " EDGE_HTTP_URL=http://127.0.0.1:%d"
	    " AI_HTTP_URL=http://127.0.0.1:%d"
	    " REASONER_HTTP_URL=http://127.0.0.1:%d"
	    " RATE_LIMITER_HTTP_URL=http://127.0.0.1:%d"
	    " PERSISTER_HTTP_URL=http://127.0.0.1:%d",
	    s->http[OPS_EDGE], s->http[OPS_AI], s->http[OPS_REASONER],
	    s->http[OPS_RL], s->http[OPS_PERSISTER]);
	return (0);
}

OPS_FN int
ops_stack_start_mode(struct ops_stack *s, const char *oai_mode)
{
	return (ops_stack_start_opts(s, oai_mode, false));
}

/* The stack with sim-openai echoing audio. */
OPS_FN int
ops_stack_start(struct ops_stack *s)
{
	return (ops_stack_start_mode(s, "echo"));
}

/*
 * Restarts daemon i on the same addresses and settings: SIGTERM (it must
 * exit 0 within 15 s), then a new process, waited for until ready.
 * 0, or -1 with the reason printed.
 */
OPS_FN int
ops_stack_restart(struct ops_stack *s, int i)
{
	int rc;

	if ((rc = harness_stop(s->proc[i], 15000)) != 0) {
		fprintf(stderr, "%s exited with %d on SIGTERM\n",
		    ops_daemons[i], rc);
		return (-1);
	}
	if ((s->proc[i] = harness_spawn(ops_daemons[i], s->envv[i])) == NULL)
		return (-1);
	return (0);
}

/* Stops every process; returns how many did not exit 0 in time. */
OPS_FN int
ops_stack_stop(struct ops_stack *s)
{
	int bad = 0, i, rc;

	for (i = 0; i < OPS_N; i++) {
		if (s->proc[i] == NULL)
			continue;
		if ((rc = harness_stop(s->proc[i], 15000)) != 0) {
			fprintf(
			    stderr, "%s exited with %d\n", ops_daemons[i], rc);
			bad++;
		}
	}
	if (s->ai2 != NULL && (rc = harness_stop(s->ai2, 15000)) != 0) {
		fprintf(stderr, "ai-session (2) exited with %d\n", rc);
		bad++;
	}
	if (s->sim_openai != NULL && harness_stop(s->sim_openai, 5000) != 0)
		bad++;
	if (s->sim_anthropic != NULL
	    && harness_stop(s->sim_anthropic, 5000) != 0)
		bad++;
	if (s->db.dsn != NULL)
		pgtest_schema_drop(&s->db);
	return (bad);
}

/* sim-caller's --report at path once it is written (it comes in one
 * go at the end of the run), or NULL after wait_ms. */
OPS_FN json_t *
ops_caller_report(const char *path, int wait_ms)
{
	long long   end = harness_now_ms() + wait_ms;
	struct stat st;

	while (stat(path, &st) != 0 || st.st_size == 0) {
		if (harness_now_ms() > end)
			return (NULL);
		usleep(100000);
	}
	usleep(300000); /* let the whole of it land */
	return (json_load_file(path, 0, NULL));
}

/* The path of a program in BIN_DIR. */
OPS_FN const char *
ops_bin(void)
{
	const char *b = getenv("BIN_DIR");

	return (b != NULL ? b : "build/debug/bin");
}

#endif /* OPS_STACK_H */
