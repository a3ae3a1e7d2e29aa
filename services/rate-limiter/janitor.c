/*
 * janitor - the rate-limiter's background thread (common/jobs' jobs_bg).
 *
 * Every second: while the database is marked down, probe it; when it
 * answers, bump the epoch so the workers reconnect at once.  Every
 * RATE_LIMIT_CLEANUP_MS: delete hits older than the longest window from
 * the table and from memory, so neither grows without bound.
 *
 * Threads: janitor_main is its own thread with its own struct pg;
 * janitor_start/stop are called from rl_start/rl_stop on main.
 */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "rate-limiter.h"
#include "util.h"

static const char sql_probe[] = "SELECT 1 FROM rate_limit_hits LIMIT 1";

static void
probe(struct rl *rl, struct pg *pg)
{
	PGresult *res;

	pg->next_try_ms = 0; /* once a second is gentle enough */
	if ((res = pg_exec(pg, "probe", sql_probe, 0, NULL, NULL, NULL))
	    == NULL)
		return;
	PQclear(res);
	if (rl_db_returned(pg) == 0)
		log_info("database reachable again: rate checks exact");
}

static void
janitor_main(struct jobs_bg *bg, void *arg)
{
	struct rl *rl = arg;
	struct pg  pg;
	int64_t    longest, next_clean = 0, now;
	long       n;

	if (pg_init(&pg, rl->cfg.database_url, "rate-limiter-janitor") == -1)
		return;
	longest = rl->cfg.phone_window_ms > rl->cfg.ip_window_ms
	    ? rl->cfg.phone_window_ms
	    : rl->cfg.ip_window_ms;
	while (!jobs_bg_nap(bg, 1000)) {
		if (rl_is_degraded())
			probe(rl, &pg);
		now = util_mono_ms();
		if (now < next_clean)
			continue;
		next_clean = now + rl->cfg.cleanup_ms;
		window_prune(rl->mem, now, longest);
		rl_mem_keys(window_keys(rl->mem));
		if (!rl_is_degraded() && (n = store_cleanup(&pg, longest)) > 0)
			log_info(
			    "cleanup: %ld old rate-limit rows deleted", n);
	}
	pg_fini(&pg);
}

int
janitor_start(struct rl *rl)
{
	return (jobs_bg_start(&rl->janitor, "janitor", janitor_main, rl));
}

void
janitor_stop(struct rl *rl)
{
	jobs_bg_stop(&rl->janitor);
}
