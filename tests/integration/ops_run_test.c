/*
 * ops_run_test - `make run` (scripts/run.sh) as an operator uses it.
 *
 * run.sh is started on private addresses (every socket on ipc:// in the
 * scratch directory, every HTTP port a free one), a test schema as
 * DATABASE_URL and an env file holding the model keys, so several test
 * runs never collide.  It must start all five daemons, say where they
 * listen, show `callctl health` with every daemon healthy, generate the
 * internal secrets it was not given (as 0600 files it reuses on the next
 * start), warn about the provider token it lacks but not about the keys
 * the env file gave, and on SIGINT stop media-edge first and persister
 * last, every daemon exiting 0, and exit 0 itself.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "pgtest.h"

static const char *const daemons[]
    = { "media-edge", "ai-session", "reasoner", "rate-limiter", "persister" };
static const char *const http_var[]
    = { "EDGE_HTTP_PORT", "AI_HTTP_PORT", "REASONER_HTTP_PORT",
	      "RATE_LIMITER_HTTP_PORT", "PERSISTER_HTTP_PORT" };
static const char *const http_url_var[] = { "EDGE_HTTP_URL", "AI_HTTP_URL",
	"REASONER_HTTP_URL", "RATE_LIMITER_HTTP_URL", "PERSISTER_HTTP_URL" };

static struct pgtest_schema db;
static char                 state[600], out_path[600];

static void
put(const char *name, const char *fmt, ...)
{
	char    val[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	setenv(name, val, 1);
}

/* The environment run.sh (and the callctl it runs) inherits. */
static void
environment(void)
{
	const char *bin = getenv("BIN_DIR");
	char        envfile[700];
	FILE       *f;
	int         i, port;

	put("RUN_BIN", "%s", bin != NULL ? bin : "build/debug/bin");
	put("RUN_DIR", "%s", state);
	put("RUN_QUIET", "1");
	snprintf(envfile, sizeof(envfile), "%s/test.env", harness_tmpdir());
	assert_non_null(f = fopen(envfile, "w"));
	fprintf(f,
	    "# a comment\nOPENAI_API_KEY=\"sk-from-env-file\"\n"
	    "ANTHROPIC_API_KEY='sk-ant-from-env-file'\n"
	    "LOG_LEVEL=debug\nbad name=x\nexport "
	    "PUBLIC_URL=https://calls.from-env-file.example\n");
	fclose(f);
	put("RUN_ENV_FILE", "%s", envfile);
	/* The environment wins over the file. */
	put("LOG_LEVEL", "info");
	unsetenv("TWILIO_AUTH_TOKEN");
	unsetenv("EDGE_STREAM_TOKEN_SECRET");
	unsetenv("RATE_LIMIT_HMAC_KEY");
	unsetenv("PHONE_ENCRYPTION_KEY");
	unsetenv("EDGE_API_TOKEN");
	unsetenv("PUBLIC_URL");
	unsetenv("EDGE_PUBLIC_URL");
	put("DATABASE_URL", "%s", db.dsn);
	/* Nothing reachable: the model URLs point at a closed port. */
	put("OPENAI_REALTIME_URL", "ws://127.0.0.1:1/v1/realtime");
	put("ANTHROPIC_BASE_URL", "http://127.0.0.1:1");

	put("EDGE_LISTEN_URL", "%s", harness_ipc_url("edge"));
	put("EDGE_URL", "%s", harness_ipc_url("edge"));
	put("EDGE_PUB_URL", "%s", harness_ipc_url("edge-pub"));
	put("AI_LISTEN_URL", "%s", harness_ipc_url("ai"));
	put("AI_SESSION_URL", "%s", harness_ipc_url("ai"));
	put("AI_PUB_URL", "%s", harness_ipc_url("ai-pub"));
	put("REASONER_LISTEN_URL", "%s", harness_ipc_url("reasoner"));
	put("REASONER_URL", "%s", harness_ipc_url("reasoner"));
	put("RATE_LIMITER_LISTEN_URL", "%s", harness_ipc_url("rl"));
	put("RATE_LIMITER_URL", "%s", harness_ipc_url("rl"));
	put("PERSISTER_LISTEN_URL", "%s", harness_ipc_url("persister"));
	put("PERSISTER_URL", "%s", harness_ipc_url("persister"));
	for (i = 0; i < 5; i++) {
		assert_true((port = harness_free_port()) > 0);
		put(http_var[i], "%d", port);
		put(http_url_var[i], "http://127.0.0.1:%d", port);
	}
	put("EDGE_HTTP_ADDR", "127.0.0.1");
	put("AI_HTTP_ADDR", "127.0.0.1");
	put("REASONER_HTTP_ADDR", "127.0.0.1");
	put("RATE_LIMITER_HTTP_ADDR", "127.0.0.1");
	put("PERSISTER_HTTP_ADDR", "127.0.0.1");
	put("EDGE_DRAIN_TIMEOUT_MS", "1000");
}

static char *
slurp(const char *path)
{
	FILE  *f = fopen(path, "r");
	char  *buf;
	size_t n;

	if (f == NULL)
		return (calloc(1, 1));
	buf = calloc(1, 1 << 20);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return (buf);
}

/* Starts run.sh with output to out_path; its pid. */
static pid_t
start_run(void)
{
	pid_t pid;
	int   fd;

	unlink(out_path); /* not the last run's banner */
	if ((pid = fork()) == 0) {
		fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		execl("/bin/bash", "bash", "scripts/run.sh", (char *)NULL);
		_exit(127);
	}
	return (pid);
}

/* Waits up to ms for s in the output; 0 or -1. */
static int
wait_out(const char *s, int ms)
{
	long long end = harness_now_ms() + ms;
	char     *o;
	int       found;

	for (;;) {
		o = slurp(out_path);
		found = strstr(o, s) != NULL;
		free(o);
		if (found)
			return (0);
		if (harness_now_ms() >= end)
			return (-1);
		usleep(100000);
	}
}

/* SIGINT, then the exit status within ms, or -1 (then SIGKILL). */
static int
interrupt(pid_t pid, int ms)
{
	long long end = harness_now_ms() + ms;
	int       st;

	kill(pid, SIGINT);
	while (harness_now_ms() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return (WIFEXITED(st) ? WEXITSTATUS(st) : 128);
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return (-1);
}

static int
setup(void **state_)
{
	const char *top = getenv("TOP_DIR");

	if (top != NULL && chdir(top) != 0)
		return (-1);
	if (pgtest_schema_new(&db, 1) != 0)
		return (-1);
	snprintf(state, sizeof(state), "%s/state", harness_tmpdir());
	snprintf(out_path, sizeof(out_path), "%s/run.out", harness_tmpdir());
	return (0);
}

static int
teardown(void **state_)
{
	return (pgtest_schema_drop(&db));
}

static void
test_run_start_and_stop(void **state_)
{
	char        path[700], want[128], *o, *a, *b;
	struct stat st;
	pid_t       pid;
	int         i, rc;

	environment();
	pid = start_run();
	assert_true(pid > 0);
	rc = wait_out("Ctrl-C stops everything.", 60000);
	if (rc != 0) {
		o = slurp(out_path);
		fprintf(stderr, "run.sh did not come up:\n%s\n", o);
		free(o);
		interrupt(pid, 20000);
	}
	assert_int_equal(rc, 0);
	/* The health table follows the banner. */
	assert_int_equal(wait_out("persister     200    healthy", 10000), 0);

	o = slurp(out_path);
	for (i = 0; i < 5; i++) {
		snprintf(
		    want, sizeof(want), "%-13s 200    healthy ", daemons[i]);
		if (strstr(o, want) == NULL)
			fprintf(stderr, "no \"%s\" in:\n%s\n", want, o);
		assert_non_null(strstr(o, want));
	}
	assert_non_null(strstr(o, "loaded "));
	assert_non_null(strstr(o, "ignoring: bad name"));
	/* It warns about what is missing, not about what the file gave. */
	assert_non_null(strstr(o, "WARNING: not set: TWILIO_AUTH_TOKEN."));
	assert_null(strstr(o, "OPENAI_API_KEY"));
	assert_null(strstr(o, "ANTHROPIC_API_KEY"));
	/* "export NAME=value" lines are read too. */
	assert_null(strstr(o, "WARNING: PUBLIC_URL not set"));
	assert_non_null(
	    strstr(o, "Public URL: https://calls.from-env-file.example"));
	assert_null(strstr(o, "PostgreSQL:")); /* DATABASE_URL was given */
	free(o);

	/* Generated internal secrets: private files. */
	for (i = 0; i < 4; i++) {
		static const char *const f[]
		    = { "stream-token-secret", "rate-limit-hmac-key",
			      "phone-encryption-key", "edge-api-token" };

		snprintf(path, sizeof(path), "%s/run-secrets/%s", state, f[i]);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 077, 0);
		assert_int_equal(st.st_size, 64);
	}
	/* The env file's LOG_LEVEL lost to the environment's. */
	snprintf(path, sizeof(path), "%s/run-logs/persister.log", state);
	o = slurp(path);
	assert_null(strstr(o, "\"level\":\"debug\""));
	free(o);

	assert_int_equal(interrupt(pid, 60000), 0);
	o = slurp(out_path);
	assert_non_null(a = strstr(o, "stopping media-edge"));
	assert_non_null(b = strstr(o, "stopping persister"));
	assert_true(a < b);
	assert_null(strstr(o, "exited with status"));
	assert_null(strstr(o, "exited (status"));
	free(o);
	/* Every daemon is gone: its HTTP port no longer answers. */
	for (i = 0; i < 5; i++) {
		char url[64];
		long status = 0;

		snprintf(url, sizeof(url), "http://127.0.0.1:%s/health",
		    getenv(http_var[i]));
		assert_int_equal(harness_http_full("GET", url, NULL, NULL,
		                     1000, &status, NULL, NULL),
		    -1);
	}
}

/* A second start reuses the secrets it generated the first time. */
static void
test_run_reuses_secrets(void **state_)
{
	char  path[700], *before, *after;
	pid_t pid;

	snprintf(
	    path, sizeof(path), "%s/run-secrets/phone-encryption-key", state);
	before = slurp(path);
	assert_int_equal(strlen(before), 64);
	environment();
	pid = start_run();
	assert_int_equal(wait_out("Ctrl-C stops everything.", 60000), 0);
	assert_int_equal(interrupt(pid, 60000), 0);
	after = slurp(path);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_start_and_stop),
		cmocka_unit_test(test_run_reuses_secrets),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
