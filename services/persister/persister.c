/*
 * persister - start/stop, metrics and health.
 *
 * Start: parse the phone key, open (and lock) the journal, try the
 * migrations once (a database that is down does not stop the start:
 * writes spool until the maintenance thread has migrated), start the
 * workers, HTTP and the maintenance thread.  Stop in reverse: no new
 * requests, workers joined, maintenance thread joined, journal closed.
 *
 * /health is liveness and never touches the database.  /ready is 503
 * only when neither the database nor the journal can take a write.
 *
 * Threads: ps_start/ps_stop on main; the rest from any thread (atomics
 * and lock-free metrics).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "persister.h"
#include "svc.h"

static struct metric_family *fam_writes;
static struct metric        *m_jbytes, *m_jrecords, *m_db_up;
static _Atomic int           migrated;
static _Atomic int           db_up = 1;
static _Atomic long          spool_free = 1;

void
ps_count(const char *type, const char *result)
{
	metric_inc(metric_get(fam_writes, type, result));
}

bool
ps_migrated(void)
{
	return (atomic_load(&migrated) != 0);
}

void
ps_set_migrated(void)
{
	atomic_store(&migrated, 1);
}

void
ps_set_db_up(bool up)
{
	if (atomic_exchange(&db_up, up) != up)
		log_info("database %s",
		    up ? "reachable again"
		       : "unreachable: writes go to the journal");
	metric_set(m_db_up, up);
}

void
ps_journal_gauges(struct ps *ps)
{
	off_t bytes;
	long  recs;

	journal_depth(&ps->journal, &bytes, &recs);
	metric_set(m_jbytes, (double)bytes);
	metric_set(m_jrecords, (double)recs);
	atomic_store(&spool_free, ps->cfg.spool_max_bytes - (long)bytes);
}

void
ps_kick(struct ps *ps)
{
	jobs_bg_kick(&ps->maint);
}

/* lws service thread: atomics only. */
static int
ps_health(struct svc *s, int ready, char *buf, size_t len)
{
	int up = atomic_load(&db_up) && atomic_load(&migrated);

	if (!ready) {
		httpd_health_json(
		    buf, len, "healthy", svc_active(s), svc_uptime(s));
		return (200);
	}
	if (up) {
		httpd_health_json(
		    buf, len, "ready", svc_active(s), svc_uptime(s));
		return (200);
	}
	/* spooling still takes writes while the journal has room */
	if (atomic_load(&spool_free) > 64 * 1024) {
		httpd_health_json(
		    buf, len, "spooling", svc_active(s), svc_uptime(s));
		return (200);
	}
	httpd_health_json(
	    buf, len, "unavailable", svc_active(s), svc_uptime(s));
	return (503);
}

static void
metrics_register(void)
{
	fam_writes = metrics_counter("persister_writes_total",
	    "Requests handled and journal records replayed, by type and "
	    "result",
	    "type,result");
	m_jbytes = metrics_gauge1("persister_journal_bytes",
	    "Bytes in the local journal not yet replayed");
	m_jrecords = metrics_gauge1("persister_journal_records",
	    "Records in the local journal not yet replayed");
	m_db_up = metrics_gauge1(
	    "persister_db_up", "1 while the database takes writes");
	metric_set(m_db_up, 1);
}

/* Parse the key, open the journal and try the migrations once. */
static int
prepare(struct ps *ps)
{
	struct pg pg;

	if (seal_key_parse(ps->cfg.phone_key, ps->phone_key) == -1) {
		log_warnx("PHONE_ENCRYPTION_KEY is not a 32-byte key");
		return (-1);
	}
	OPENSSL_cleanse(ps->cfg.phone_key, strlen(ps->cfg.phone_key));
	if (ps->cfg.spool_max_bytes < 4096 || ps->cfg.workers < 1) {
		log_warnx("PERSISTER_SPOOL_MAX_BYTES must be >= 4096 and "
		          "PERSISTER_WORKERS >= 1");
		return (-1);
	}
	if (journal_open(
	        &ps->journal, ps->cfg.spool_dir, ps->cfg.spool_max_bytes)
	    == -1)
		return (-1);
	ps_journal_gauges(ps);
	if (pg_init(&pg, ps->cfg.database_url, "persister") == -1)
		return (-1);
	if (migrate_run(&pg) == 0)
		ps_set_migrated();
	else {
		ps_set_db_up(false);
		log_warnx("database not ready at start: writes are spooled "
		          "until the migrations can run");
	}
	pg_fini(&pg);
	return (0);
}

int
ps_start(struct ps *ps)
{
	struct svc_conf conf = { 0 };

	metrics_register();
	if (prepare(ps) == -1)
		return (-1);
	conf.name = "persister";
	conf.about = "call records on PostgreSQL, never lost";
	conf.rep_url = ps->cfg.listen_url;
	conf.workers = (int)ps->cfg.workers;
	conf.handle = ps_handle;
	conf.worker_init = ps_worker_init;
	conf.worker_fini = ps_worker_fini;
	conf.http_addr = ps->cfg.http_addr;
	conf.http_port = ps->cfg.http_port;
	conf.health = ps_health;
	conf.arg = ps;
	if (svc_start(&ps->svc, &conf) == -1 || replay_start(ps) == -1)
		return (-1);
	log_info("listening on %s; journal %s/journal (max %ld bytes)",
	    ps->cfg.listen_url, ps->cfg.spool_dir, ps->cfg.spool_max_bytes);
	return (0);
}

void
ps_stop(struct ps *ps)
{
	svc_stop(ps->svc);
	ps->svc = NULL;
	replay_stop(ps);
	journal_close(&ps->journal);
	OPENSSL_cleanse(ps->phone_key, sizeof(ps->phone_key));
}
