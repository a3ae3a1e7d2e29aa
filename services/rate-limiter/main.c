/*
 * rate-limiter - per-phone and per-IP call limits that hold across
 * replicas.  REP RATE_LIMITER_LISTEN_URL: RateCheck -> RateDecision;
 * RATE_LIMITER_WORKERS threads, each owning one nng_ctx and one PGconn.
 * Phone numbers are validated (E.164, allowed countries) and only their
 * HMAC-SHA256 is stored or logged.  With the database down, answers come
 * from an in-memory window and say degraded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "cfg.h"
#include "log.h"
#include "rate-limiter.h"
#include "sig.h"

static const char about[] = "phone and IP call limits on PostgreSQL";

int
main(int argc, char *argv[])
{
	static struct rl rl;
	sigset_t         sigs;
	int              rv;

	log_init("rate-limiter");
	if ((rv = cfg_main(
	         argc, argv, "rate-limiter", about, rl_cfg_opts, &rl.cfg))
	    != -1)
		return (rv);
	if (log_set_level(rl.cfg.log_level) == -1)
		log_warnx(
		    "LOG_LEVEL \"%s\" unknown; using info", rl.cfg.log_level);
	if (bus_tls_init(&rl.cfg.bus_tls) == -1)
		return (EX_CONFIG);
	sig_block(&sigs); /* before the first thread exists */
	if (rl_start(&rl) == -1)
		fatalx("startup failed");
	log_info("ready"); /* the test harness waits for this */
	sig_wait(&sigs);
	log_info("shutting down");
	sig_watchdog(rl.cfg.shutdown_timeout_ms);
	rl_stop(&rl);
	cfg_free(rl_cfg_opts, &rl.cfg);
	log_info("stopped");
	sig_exit(0); /* no exit handlers under threads left behind: sig.h */
}
