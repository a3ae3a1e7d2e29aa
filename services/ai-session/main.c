/*
 * ai-session - one realtime model session per call.
 *
 * REP AI_LISTEN_URL: SessionStart / SessionEnd from media-edge (svc.c
 * workers, dispatch.c).  SUB to each media-edge's pub socket: caller
 * audio, mark echoes.  PUB AI_PUB_URL: model audio, marks, clears,
 * transcript turns.  One lws service thread (loop.c) owns every call and
 * every model WebSocket; job threads talk to media-edge (HangUp),
 * persister and reasoner.  /health, /ready and /metrics on AI_HTTP_PORT.
 */
#include <string.h>
#include <sys/resource.h>
#include <sysexits.h>

#include <curl/curl.h>

#include "ai.h"
#include "cfg.h"
#include "httpd.h"
#include "metrics.h"
#include "sig.h"
#include "svc.h"

#define ABOUT                                                                 \
	"ai-session: bridges each call's audio to a realtime "                \
	"speech model (OpenAI Realtime), with barge-in, transcript, "         \
	"tools and the end-of-call record."

static int
health(struct svc *s, int ready, char *buf, size_t len)
{
	const char *status = "healthy";
	int         code = 200;

	if (ready && record_backlogged()) {
		status = "backlogged";
		code = 503;
	}
	httpd_health_json(buf, len, status, calls_count(), svc_uptime(s));
	return (code);
}

static void
raise_fd_limit(void)
{
	struct rlimit rl;

	/* a model socket per call, plus the bus */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
ai_start(void)
{
	struct svc_conf sc;
	struct svc     *s;

	if (edge_open() != 0
	    || jobs_start((int)cfg.job_workers, cfg.job_queue_max) != 0
	    || record_start() != 0 || loop_start() != 0)
		return (-1);
	memset(&sc, 0, sizeof(sc));
	sc.name = "ai-session";
	sc.about = ABOUT;
	sc.rep_url = cfg.listen_url;
	sc.workers = (int)cfg.workers;
	sc.handle = dispatch;
	sc.http_addr = cfg.http_addr;
	sc.http_port = cfg.http_port;
	sc.health = health;
	if (svc_start(&s, &sc) != 0)
		return (-1);
	ai_svc = s;
	return (0);
}

/* One shutdown step, timed: a slow one is named in the log, so that a
 * shutdown that ends by the watchdog says where its time went. */
static void
stop_step(const char *name, void (*fn)(void))
{
	int64_t t0 = ai_mono_ms(), ms;

	sig_watchdog_step(name);
	fn();
	ms = ai_mono_ms() - t0;
	if (ms >= 1000)
		log_warnx("shutdown: %s took %lld ms", name, (long long)ms);
	else
		log_debug("shutdown: %s took %lld ms", name, (long long)ms);
}

static void
svc_stop_ai(void)
{
	svc_stop(ai_svc);
	ai_svc = NULL;
}

/*
 * The shutdown's budget, within the watchdog's SHUTDOWN_TIMEOUT_MS: the
 * calls end and the jobs and records get until stop_until; what is not
 * stored by then stays in the record journal.  The rest is for closing
 * the sockets, each close bounded (the audio hop's two at 2 s, a request
 * socket's at 0.5 s).
 */
#define STOP_CLOSE_RESERVE_MS 5000

static int64_t stop_until;

static void
jobs_stop_ai(void)
{
	int64_t left = stop_until - ai_mono_ms();

	jobs_stop(left > 0 ? (long)left : 0);
}

static void
record_stop_ai(void)
{
	record_stop(stop_until);
}

static void
ai_stop(void)
{
	long t = cfg.shutdown_timeout_ms;

	stop_until = ai_mono_ms()
	    + (t - STOP_CLOSE_RESERVE_MS > t / 2 ? t - STOP_CLOSE_RESERVE_MS
	                                         : t / 2);
	atomic_store(&ai_stopping, true); /* new calls go elsewhere */
	stop_step("ending the calls", loop_stop); /* records are queued */
	stop_step("the request workers", svc_stop_ai);
	stop_step("freeing the calls", calls_free_all);
	stop_step("the jobs", jobs_stop_ai);
	stop_step("the records", record_stop_ai);
	stop_step("the request sockets", jobs_close);
	/* The audio hop closes last.  Every call was handed over by the
	 * loop (AudioAck{released}: media-edge moved it then; a media-edge
	 * that takes no acks moves it when the pipe goes, at exit).  Closing
	 * it earlier, while media-edge drops its side, can hang in NNG 1.5
	 * (bus_close leaves it behind after 2 s). */
	stop_step("the audio hop", edge_close);
	sig_watchdog_step("after the last step");
}

int
main(int argc, char *argv[])
{
	sigset_t sigs;
	int      rv;

	log_init("ai-session");
	if ((rv = cfg_main(argc, argv, "ai-session", ABOUT, ai_cfg_opts, &cfg))
	    != -1)
		return (rv);
	if (log_set_level(cfg.log_level) == -1)
		log_warnx("LOG_LEVEL %s unknown; using info", cfg.log_level);
	if (bus_tls_init(&cfg.bus_tls) == -1)
		return (EX_CONFIG);
	sig_block(&sigs); /* before the first thread */
	raise_fd_limit();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	metrics_init("ai-session", cfg_version);
	stats_init();
	session_stats_init();
	if (ai_start() == -1)
		fatalx("startup failed");
	/* always written, whatever LOG_LEVEL: tests and operators wait
	 * for it */
	log_emit(LOG_LVL_INFO, NULL, 0, "ready");
	rv = sig_wait(&sigs);
	log_info("shutting down (signal %d)", rv);
	sig_watchdog(cfg.shutdown_timeout_ms);
	ai_stop();
	cfg_free(ai_cfg_opts, &cfg);
	metrics_fini();
	curl_global_cleanup();
	log_info("stopped");
	sig_exit(0); /* no exit handlers under threads left behind: sig.h */
}
