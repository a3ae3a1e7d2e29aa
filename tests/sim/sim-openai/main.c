/*
 * sim-openai - a simulator of the OpenAI Realtime API, GA protocol only.
 *
 * It listens on 127.0.0.1 for WebSockets on /v1/realtime and plays the
 * model: session events, server VAD on the caller's mu-law audio, scripted
 * spoken answers paced like real audio, function calls, barge-in,
 * truncation and the GA error events.  --mode echo instead returns each
 * appended audio chunk at once, for load tests.  Everything a client did
 * can be written to a JSON-lines file (--record) that tests read.
 *
 * Threads: one lws service thread runs every connection and timer.  A
 * signal thread waits for SIGINT/SIGTERM, sets sim.stop and wakes the
 * loop with lws_cancel_service(); the loop then closes every socket and
 * exits 0 within a second.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "oai.h"

#define SHUTDOWN_MS 500 /* time given to close frames */

static struct sim      sim;
static struct timespec t0;

static const struct lws_protocols protocols[]
    = { { "openai-realtime", server_callback, sizeof(struct sess),
	    OAI_RX_BUFFER, 0, NULL, 0 },
	      { NULL, NULL, 0, 0, 0, NULL, 0 } };

void
oai_log(const char *level, const char *fmt, ...)
{
	char    msg[1024];
	char   *line;
	va_list ap;
	json_t *j;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	j = json_pack("{s:s, s:s, s:s}", "level", level, "svc", "sim-openai",
	    "msg", msg);
	if (j == NULL)
		return;
	if ((line = json_dumps(j, JSON_COMPACT)) != NULL) {
		fprintf(stderr, "%s\n", line);
		free(line);
	}
	json_decref(j);
}

void *
oai_calloc(size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n, size)) == NULL) {
		oai_log("fatal", "out of memory");
		abort();
	}
	return (p);
}

void *
oai_realloc(void *p, size_t size)
{
	if ((p = realloc(p, size)) == NULL) {
		oai_log("fatal", "out of memory");
		abort();
	}
	return (p);
}

char *
oai_strdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL) {
		oai_log("fatal", "out of memory");
		abort();
	}
	return (p);
}

int64_t
oai_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)(ts.tv_sec - t0.tv_sec) * 1000
	    + (ts.tv_nsec - t0.tv_nsec) / 1000000);
}

/* lws logging goes through ours, so stderr stays one JSON object a line. */
static void
lws_emit(int level, const char *line)
{
	char   buf[512];
	size_t n;

	snprintf(buf, sizeof(buf), "lws: %s", line);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	oai_log(level == LLL_ERR ? "error" : "warn", "%s", buf);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: sim-openai [--port N] [--api-key K] "
	    "[--mode echo|conversation]\n"
	    "\t[--record FILE] [--tags] [--script FILE] [--speed X]\n"
	    "\t[--late-deltas N] [--drop-after-ms N] [--drop-count N]\n"
	    "\t[--error-on-update]\n"
	    "\t[--models LIST]\n");
	exit(2);
}

static int
parse_int(const char *s, int min, int max)
{
	char *end;
	long  v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < min || v > max)
		usage();
	return ((int)v);
}

static void
parse_args(int argc, char *argv[], struct oai_opts *o)
{
	static const struct option longopts[]
	    = { { "port", required_argument, NULL, 'p' },
		      { "api-key", required_argument, NULL, 'k' },
		      { "mode", required_argument, NULL, 'm' },
		      { "record", required_argument, NULL, 'r' },
		      { "tags", no_argument, NULL, 't' },
		      { "script", required_argument, NULL, 's' },
		      { "speed", required_argument, NULL, 'x' },
		      { "late-deltas", required_argument, NULL, 'l' },
		      { "drop-after-ms", required_argument, NULL, 'd' },
		      { "drop-count", required_argument, NULL, 'D' },
		      { "error-on-update", no_argument, NULL, 'e' },
		      { "models", required_argument, NULL, 'M' },
		      { NULL, 0, NULL, 0 } };
	char *end;
	int   c;

	o->mode = OAI_CONVERSATION;
	o->speed = 2.0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o->port = parse_int(optarg, 0, 65535);
			break;
		case 'k':
			o->api_key = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "echo") == 0)
				o->mode = OAI_ECHO;
			else if (strcmp(optarg, "conversation") == 0)
				o->mode = OAI_CONVERSATION;
			else
				usage();
			break;
		case 'r':
			o->record_path = optarg;
			break;
		case 't':
			o->tags = true;
			break;
		case 's':
			o->script_path = optarg;
			break;
		case 'x':
			o->speed = strtod(optarg, &end);
			if (*end != '\0'
			    || !(o->speed >= 0.1 && o->speed <= 100))
				usage();
			break;
		case 'l':
			o->late_deltas = parse_int(optarg, 0, 10000);
			break;
		case 'd':
			o->drop_after_ms = parse_int(optarg, 1, 86400000);
			break;
		case 'D':
			o->drop_count = parse_int(optarg, 0, 1000000);
			break;
		case 'e':
			o->error_on_update = true;
			break;
		case 'M':
			o->models = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
}

/* Signal thread: the only thing it touches is sim.stop and the wakeup. */
static void *
signal_main(void *arg)
{
	sigset_t *set = arg;
	int       sig;

	if (sigwait(set, &sig) == 0) {
		atomic_store(&sim.stop, true);
		lws_cancel_service(sim.ctx);
	}
	return (NULL);
}

/* A thousand echo sockets need more descriptors than the usual 1024. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static struct lws_context *
context_create(void)
{
	struct lws_context_creation_info info;

	memset(&info, 0, sizeof(info));
	info.port = sim.opt.port;
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	info.user = &sim;
	info.count_threads = 1;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	return (lws_create_context(&info));
}

static void
shutdown_sockets(void)
{
	int64_t deadline;

	server_shutdown(&sim);
	deadline = oai_now_ms() + SHUTDOWN_MS;
	while (sim.sessions.count > 0 && oai_now_ms() < deadline)
		lws_service(sim.ctx, 0);
}

int
main(int argc, char *argv[])
{
	sigset_t          set;
	pthread_t         tid;
	struct lws_vhost *vh;
	int               port;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	parse_args(argc, argv, &sim.opt);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread */
	raise_fd_limit();
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_emit);

	if (sim.opt.script_path != NULL
	    && script_load(&sim.script, sim.opt.script_path) == -1)
		return (1);
	if (sim.opt.record_path != NULL
	    && record_open(&sim, sim.opt.record_path) == -1)
		return (1);
	vad_tables_init(&sim);
	response_init(&sim);
	if ((sim.ctx = context_create()) == NULL) {
		oai_log(
		    "error", "cannot listen on 127.0.0.1:%d", sim.opt.port);
		return (1);
	}
	vh = lws_get_vhost_by_name(sim.ctx, "default");
	port = vh != NULL ? lws_get_vhost_listen_port(vh) : sim.opt.port;
	if (pthread_create(&tid, NULL, signal_main, &set) != 0) {
		oai_log("error", "cannot start the signal thread");
		return (1);
	}
	fprintf(stderr,
	    "{\"msg\":\"ready\",\"svc\":\"sim-openai\",\"port\":%d}\n", port);

	while (!atomic_load(&sim.stop))
		if (lws_service(sim.ctx, 0) < 0)
			break;
	/* the signal thread still waits if the loop failed: wake it */
	if (!atomic_load(&sim.stop))
		pthread_kill(tid, SIGTERM);
	pthread_join(tid, NULL);
	shutdown_sockets();
	lws_context_destroy(sim.ctx);
	record_close(&sim);
	script_free(&sim.script);
	free(sim.scratch);
	oai_log("info", "stopped");
	return (0);
}
