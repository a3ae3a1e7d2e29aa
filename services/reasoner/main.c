/*
 * reasoner - every call to the Anthropic Messages API: short in-call
 * decisions and end-of-call summaries, with retries, timeouts, a
 * concurrency cap and a circuit breaker.
 * REP REASONER_LISTEN_URL: ReasonRequest, SummarizeRequest, Ping;
 * REASONER_WORKERS threads, each owning one nng_ctx and one CURL handle.
 * HTTP REASONER_HTTP_PORT: /health, /ready, /metrics.  No per-call state.
 */
#include <stdlib.h>
#include <sysexits.h>

#include <curl/curl.h>

#include "cfg.h"
#include "log.h"
#include "reasoner.h"
#include "sig.h"

int
main(int argc, char *argv[])
{
	struct reasoner r = { 0 };
	sigset_t        sigs;
	int             rv;

	log_init(REASONER_NAME);
	if ((rv = cfg_main(argc, argv, REASONER_NAME,
	         "Anthropic Messages API: in-call decisions and summaries",
	         reasoner_cfg_opts, &r.cfg))
	    != -1) {
		cfg_free(reasoner_cfg_opts, &r.cfg); /* NULL-safe fields */
		return (rv);
	}
	if (log_set_level(r.cfg.log_level) == -1)
		log_warnx(
		    "LOG_LEVEL=%s: unknown, using info", r.cfg.log_level);
	if (config_check(&r.cfg) == -1 || bus_tls_init(&r.cfg.bus_tls) == -1) {
		log_errorx("configuration has errors; see the lines above");
		cfg_free(reasoner_cfg_opts, &r.cfg);
		return (EX_CONFIG);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("curl_global_init failed");
	stats_init();
	sig_block(&sigs); /* before the first thread exists */
	if (reasoner_start(&r) == -1)
		fatalx("startup failed");
	log_info("ready"); /* the test harness waits for this */
	(void)sig_wait(&sigs);
	log_info("shutting down");
	sig_watchdog(r.cfg.shutdown_timeout_ms);
	reasoner_stop(&r);
	curl_global_cleanup();
	cfg_free(reasoner_cfg_opts, &r.cfg);
	log_info("stopped");
	sig_exit(0); /* no exit handlers under threads left behind: sig.h */
}
