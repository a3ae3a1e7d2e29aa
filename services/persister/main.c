/*
 * persister - the only daemon that touches the call tables.
 * REP PERSISTER_LISTEN_URL: CallOpen, CallEvent, TranscriptTurn and
 * CallRecord writes (idempotent by key) and GetCallContext reads;
 * PERSISTER_WORKERS threads, each owning one nng_ctx and one PGconn.  A
 * write is acknowledged only once it is durable: committed, or fsync'd
 * into the local journal when the database is down.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "cfg.h"
#include "log.h"
#include "persister.h"
#include "sig.h"

static const char about[] = "call records on PostgreSQL, never lost";

int
main(int argc, char *argv[])
{
	static struct ps ps;
	sigset_t         sigs;
	int              rv;

	log_init("persister");
	if ((rv = cfg_main(
	         argc, argv, "persister", about, ps_cfg_opts, &ps.cfg))
	    != -1)
		return (rv);
	if (log_set_level(ps.cfg.log_level) == -1)
		log_warnx(
		    "LOG_LEVEL \"%s\" unknown; using info", ps.cfg.log_level);
	if (bus_tls_init(&ps.cfg.bus_tls) == -1)
		return (EX_CONFIG);
	sig_block(&sigs); /* before the first thread exists */
	if (ps_start(&ps) == -1)
		fatalx("startup failed");
	log_info("ready"); /* the test harness waits for this */
	sig_wait(&sigs);
	log_info("shutting down");
	sig_watchdog(ps.cfg.shutdown_timeout_ms);
	ps_stop(&ps);
	cfg_free(ps_cfg_opts, &ps.cfg);
	log_info("stopped");
	sig_exit(0); /* no exit handlers under threads left behind: sig.h */
}
