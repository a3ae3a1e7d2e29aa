/*
 * sim-anthropic - a scripted Anthropic Messages API on 127.0.0.1.
 *
 * main() parses the flags, blocks SIGINT/SIGTERM before any thread exists,
 * starts a signal thread, creates the lws context and runs the service loop
 * until a signal arrives.  The signal thread only sets sim.stop and wakes
 * the loop with lws_cancel_service(), the one lws call that is safe from
 * another thread.  See README.md next to tests/sim for the flags.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>

#include "sim_anthropic.h"

struct sim                 sim;
static atomic_int          stop_flag;
static struct lws_context *ctx;

/* Any thread: one JSON line on stderr. */
void
sim_log(const char *level, const char *fmt, ...)
{
	char            msg[1024], ts[32];
	struct timespec now;
	struct tm       tm;
	json_t         *line;
	char           *text;
	va_list         ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + strlen(ts), sizeof(ts) - strlen(ts), ".%03ldZ",
	    now.tv_nsec / 1000000);
	line = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", level,
	    "svc", SIM_SVC, "msg", msg);
	if (line == NULL)
		return;
	if ((text = json_dumps(line, JSON_PRESERVE_ORDER | JSON_COMPACT))
	    != NULL) {
		fprintf(stderr, "%s\n", text);
		free(text);
	}
	json_decref(line);
}

/* lws's own log lines, re-emitted as JSON (service thread). */
static void
lws_log_cb(int level, const char *line)
{
	char   copy[512];
	size_t n;

	snprintf(copy, sizeof(copy), "%s", line);
	n = strlen(copy);
	while (n > 0 && (copy[n - 1] == '\n' || copy[n - 1] == '\r'))
		copy[--n] = '\0';
	sim_log(level == LLL_ERR ? "error" : "warn", "lws: %s", copy);
}

/* Signal thread: waits for SIGINT/SIGTERM, then wakes the loop. */
static void *
signal_main(void *arg)
{
	sigset_t *set = arg;
	int       sig;

	if (sigwait(set, &sig) == 0) {
		atomic_store(&stop_flag, 1);
		lws_cancel_service(ctx);
	}
	return (NULL);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: sim-anthropic --port P [--api-key K] [--record FILE]\n"
	    "    [--latency-ms N] [--fail LIST] [--retry-after S] [--down]\n"
	    "    [--bad-output N] [--answer TEXT] [--models LIST]\n");
	exit(2);
}

static int
parse_int(const char *flag, const char *s, int min, int max)
{
	char *end;
	long  v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(
		    stderr, "sim-anthropic: bad value for %s: %s\n", flag, s);
		exit(2);
	}
	return ((int)v);
}

static void
parse_args(int argc, char *argv[])
{
	const char *a, *v;
	int         i;

	sim.port = -1;
	sim.retry_after = 1;
	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (strcmp(a, "--down") == 0) {
			sim.mode.down = 1;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		v = argv[++i];
		if (strcmp(a, "--port") == 0)
			sim.port = parse_int(a, v, 0, 65535);
		else if (strcmp(a, "--api-key") == 0)
			sim.api_key = v;
		else if (strcmp(a, "--answer") == 0)
			sim.answer = v;
		else if (strcmp(a, "--models") == 0)
			sim.models = v;
		else if (strcmp(a, "--latency-ms") == 0)
			sim.mode.latency_ms = parse_int(a, v, 0, 600000);
		else if (strcmp(a, "--retry-after") == 0)
			sim.retry_after = parse_int(a, v, 0, 3600);
		else if (strcmp(a, "--bad-output") == 0)
			sim.mode.bad_output = parse_int(a, v, 0, INT_MAX);
		else if (strcmp(a, "--fail") == 0) {
			if (mode_parse_fails(&sim.mode, v) == -1)
				usage();
		} else if (strcmp(a, "--record") == 0) {
			if ((sim.record = fopen(v, "a")) == NULL) {
				fprintf(stderr, "sim-anthropic: %s: %s\n", v,
				    strerror(errno));
				exit(1);
			}
		} else
			usage();
	}
	if (sim.port < 0)
		usage();
}

int
main(int argc, char *argv[])
{
	struct lws_context_creation_info info;
	struct lws_vhost                *vh;
	pthread_t                        sig_thread;
	sigset_t                         sigs;
	int                              stopped;

	parse_args(argc, argv);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* before any thread */
	signal(SIGPIPE, SIG_IGN);

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_cb);
	memset(&info, 0, sizeof(info));
	info.port = sim.port;
	info.iface = "127.0.0.1";
	info.protocols = http_protocols();
	info.max_http_header_pool = 256; /* requests may wait long */
	info.max_http_header_data = 16384;
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	if ((ctx = lws_create_context(&info)) == NULL) {
		sim_log("error", "lws_create_context failed");
		return (1);
	}
	if ((vh = lws_create_vhost(ctx, &info)) == NULL) {
		sim_log("error", "cannot listen on 127.0.0.1:%d", sim.port);
		lws_context_destroy(ctx);
		return (1);
	}
	sim.port = lws_get_vhost_listen_port(vh);
	if (pthread_create(&sig_thread, NULL, signal_main, &sigs) != 0) {
		sim_log("error", "pthread_create failed");
		lws_context_destroy(ctx);
		return (1);
	}
	/* The harness waits for exactly this line. */
	fprintf(stderr, "{\"msg\":\"ready\",\"svc\":\"%s\",\"port\":%d}\n",
	    SIM_SVC, sim.port);
	while (!atomic_load(&stop_flag))
		if (lws_service(ctx, 0) < 0)
			break;
	stopped = atomic_load(&stop_flag);
	if (stopped)
		sim_log("info", "shutting down");
	else {
		sim_log("error", "lws_service failed");
		pthread_cancel(sig_thread);
	}
	pthread_join(sig_thread, NULL);
	lws_context_destroy(ctx);
	if (sim.record != NULL)
		fclose(sim.record);
	return (stopped ? 0 : 1);
}
