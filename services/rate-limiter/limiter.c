/*
 * limiter - the rate-limiter daemon: start/stop, the RateCheck handler,
 * the janitor thread and the metrics.
 *
 * A check first validates the number (a bad or foreign number is refused
 * with a reason, never an error), replaces the number and the IP by their
 * HMAC-SHA256 under RATE_LIMIT_HMAC_KEY, and asks PostgreSQL (store.c).
 * When the database cannot answer, the in-memory window (window.c) does,
 * and the reply says degraded.  Calls the database allowed are mirrored
 * into memory, so an outage starts from what this process has seen.
 *
 * The janitor wakes every second: while the database is down it probes
 * it and, when it answers again, tells the workers to reconnect at once
 * (instead of waiting out their backoff); every RATE_LIMIT_CLEANUP_MS it
 * deletes hits older than the longest window, in SQL and in memory.
 *
 * Threads: rl_handle on the svc worker threads (each owns a struct pg);
 * the janitor owns its own struct pg; health on the lws thread reads
 * atomics only.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfg.h"
#include "hmac.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "rate-limiter.h"
#include "svc.h"
#include "util.h"
#include "wire.h"
#include "xmalloc.h"

struct rl_worker {
	struct rl *rl;
	struct pg  pg;
	int        epoch; /* last db_epoch seen */
};

static struct metric_family *fam_decisions;
static struct metric        *m_degraded, *m_db_up, *m_mem_keys;
static _Atomic int           db_epoch; /* bumped when the db returns */
static _Atomic int           degraded;

/* Calls allowed from memory, waiting for the database. {pending_lock} */
#define RL_PENDING_MAX 100000
static pthread_mutex_t    pending_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rl_pending *pending;
static int                npending, pending_cap;
static bool               pending_dropped;

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/*
 * Worker thread.  Bounded: past RL_PENDING_MAX the oldest are kept.
 * Returns false if degraded mode ended meanwhile (the janitor has
 * drained the list): the caller writes its hits itself.
 */
static bool
pending_add(const struct rl_key *keys, int n, const char *kind)
{
	struct rl_pending *p;
	int64_t            now = wall_ms();
	int                i;

	pthread_mutex_lock(&pending_lock);
	if (!atomic_load(&degraded)) {
		pthread_mutex_unlock(&pending_lock);
		return (false);
	}
	for (i = 0; i < n; i++) {
		if (npending == RL_PENDING_MAX) {
			if (!pending_dropped)
				log_warnx("too many calls allowed from memory "
				          "to remember; later ones are not "
				          "written back");
			pending_dropped = true;
			break;
		}
		if (npending == pending_cap) {
			pending_cap = pending_cap * 2 + 64;
			pending = xrealloc(
			    pending, (size_t)pending_cap * sizeof(*pending));
		}
		p = &pending[npending++];
		snprintf(p->scope, sizeof(p->scope), "%s", keys[i].scope);
		memcpy(p->hash, keys[i].hash, sizeof(p->hash));
		snprintf(p->kind, sizeof(p->kind), "%s", kind);
		p->at_ms = now;
	}
	pthread_mutex_unlock(&pending_lock);
	return (true);
}

/* The backfill failed: put its entries back in front. */
static void
pending_putback(struct rl_pending *p, int n)
{
	pthread_mutex_lock(&pending_lock);
	if (npending > 0) {
		p = xrealloc(p, (size_t)(n + npending) * sizeof(*p));
		memcpy(p + n, pending, (size_t)npending * sizeof(*p));
		free(pending);
	}
	pending = p;
	npending += n;
	pending_cap = npending;
	pthread_mutex_unlock(&pending_lock);
}

static void
set_degraded(int on)
{
	atomic_store(&degraded, on);
	metric_set(m_degraded, on);
	metric_set(m_db_up, !on);
}

static const char *
kind_name(Bus__RateCheck__Kind k)
{
	switch (k) {
	case BUS__RATE_CHECK__KIND__OUTBOUND:
		return ("outbound");
	case BUS__RATE_CHECK__KIND__INBOUND:
		return ("inbound");
	default:
		return ("unspecified");
	}
}

/* Build the keys of a check: the phone's and (if given) the IP's. */
static int
make_keys(struct rl *rl, const Bus__RateCheck *rc, struct rl_key *keys)
{
	char *ipmsg;
	int   n = 0;

	if (rl->cfg.phone_max > 0) {
		keys[n].scope = "phone";
		keys[n].rule.max = (int)rl->cfg.phone_max;
		keys[n].rule.window_ms = rl->cfg.phone_window_ms;
		if (hmac_sha256_hex(rl->cfg.hmac_key, rc->phone,
		        strlen(rc->phone), keys[n].hash)
		    == -1)
			return (-1);
		n++;
	}
	if (rl->cfg.ip_max > 0 && rc->client_ip[0] != '\0') {
		keys[n].scope = "ip";
		keys[n].rule.max = (int)rl->cfg.ip_max;
		keys[n].rule.window_ms = rl->cfg.ip_window_ms;
		/* a separate domain, so an IP never equals a number */
		ipmsg = xasprintf("ip:%s", rc->client_ip);
		if (hmac_sha256_hex(
		        rl->cfg.hmac_key, ipmsg, strlen(ipmsg), keys[n].hash)
		    == -1) {
			free(ipmsg);
			return (-1);
		}
		free(ipmsg);
		n++;
	}
	return (n);
}

static void
count(const char *reason, bool allowed, bool mem)
{
	metric_inc(metric_get(fam_decisions, allowed ? "allowed" : "refused",
	    reason, mem ? "memory" : "database"));
}

static void
answer(struct reply *out, const struct rl_verdict *v)
{
	Bus__RateDecision *d = &out->u.rate_decision;

	bus__rate_decision__init(d);
	d->allowed = v->allowed;
	d->remaining = v->remaining;
	d->retry_after_s = v->retry_after_s;
	d->reason = (char *)v->reason;
	d->degraded = v->degraded;
	reply_body(out, BUS__ENVELOPE__BODY_RATE_DECISION, d);
}

/* Degraded mode ended while this call was answered from memory: write
 * its hits now, as the janitor did for the others. */
static void
write_now(
    struct rl_worker *w, const struct rl_key *keys, int n, const char *kind)
{
	struct rl_pending p[2];
	int64_t           now = wall_ms();
	int               i;

	memset(p, 0, sizeof(p));
	for (i = 0; i < n && i < 2; i++) {
		snprintf(p[i].scope, sizeof(p[i].scope), "%s", keys[i].scope);
		memcpy(p[i].hash, keys[i].hash, sizeof(p[i].hash));
		snprintf(p[i].kind, sizeof(p[i].kind), "%s", kind);
		p[i].at_ms = now;
	}
	if (store_backfill(&w->pg, p, i) == -1)
		log_warnx("a call allowed from memory could not be written "
		          "to the database");
}

/* The database decision; a connection that died while idle (the server
 * restarted) gets one fresh try before we call the database down. */
static int
take(struct rl_worker *w, struct rl_key *keys, int n, const Bus__RateCheck *rc,
    struct rl_verdict *v)
{
	bool was_up = pg_is_up(&w->pg);

	if (store_take(&w->pg, keys, n, kind_name(rc->kind), rc->peek, v) == 0)
		return (0);
	if (!was_up || pg_is_up(&w->pg))
		return (-1);
	return (store_take(&w->pg, keys, n, kind_name(rc->kind), rc->peek, v));
}

static int
check(struct rl_worker *w, const Bus__RateCheck *rc, struct reply *out)
{
	struct rl            *rl = w->rl;
	struct rl_key         keys[2];
	struct rl_verdict     v = { 0 };
	enum rl_phone_verdict pv;
	int                   n, e;

	pv = phone_check(rc->phone, &rl->countries);
	if (pv != RL_PHONE_OK) {
		v.reason = pv == RL_PHONE_INVALID ? "invalid_number"
		                                  : "country_not_allowed";
		log_info("rate check refused: %s", v.reason);
		count(v.reason, false, false);
		answer(out, &v);
		return (0);
	}
	if (rc->kind == BUS__RATE_CHECK__KIND__OUTBOUND
	    && (v.reason = hours_check(
	            &rl->hours, rc->phone, time(NULL), &v.retry_after_s))
	        != NULL) {
		log_info("rate check refused: %s", v.reason);
		count(v.reason, false, false);
		answer(out, &v);
		return (0);
	}
	if (rc->kind == BUS__RATE_CHECK__KIND__OUTBOUND
	    && (n = dnc_listed(rl, &w->pg, rc->phone)) != 0
	    && (n == 1 || strcmp(rl->cfg.dnc_when_down, "refuse") == 0)) {
		v.reason = n == 1 ? "do_not_call" : "dnc_unavailable";
		log_info("rate check refused: %s", v.reason);
		count(v.reason, false, false);
		answer(out, &v);
		return (0);
	}
	memset(keys, 0, sizeof(keys));
	if ((n = make_keys(rl, rc, keys)) == -1)
		return (-1);
	if ((e = atomic_load(&db_epoch)) != w->epoch) {
		w->epoch = e;
		w->pg.next_try_ms = 0; /* the janitor saw the db return */
	}
	/* Degraded is process-wide: only the janitor ends it, after the
	 * hits allowed from memory are in the table. */
	if (!atomic_load(&degraded) && take(w, keys, n, rc, &v) == 0) {
		if (v.allowed && !rc->peek)
			window_record(rl->mem, keys, n, util_mono_ms());
	} else {
		if (atomic_exchange(&degraded, 1) == 0)
			log_warnx("database unavailable: rate checks answered "
			          "from memory (degraded)");
		set_degraded(1);
		window_take(rl->mem, keys, n, util_mono_ms(), rc->peek, &v);
		v.degraded = true;
		if (v.allowed && !rc->peek
		    && !pending_add(keys, n, kind_name(rc->kind)))
			write_now(w, keys, n, kind_name(rc->kind));
	}
	log_debug("rate check %s phone=%.12s %s remaining=%u%s",
	    kind_name(rc->kind), keys[0].hash, v.reason, v.remaining,
	    v.degraded ? " degraded" : "");
	count(v.reason, v.allowed, v.degraded);
	answer(out, &v);
	return (0);
}

/* svc handler: worker thread. */
static int
rl_handle(
    struct svc *s, const Bus__Envelope *in, struct reply *out, void *worker)
{
	switch (in->body_case) {
	case BUS__ENVELOPE__BODY_RATE_CHECK:
		return (check(worker, in->rate_check, out));
	case BUS__ENVELOPE__BODY_DNC_UPDATE:
		return (dnc_update(((struct rl_worker *)worker)->rl,
		    &((struct rl_worker *)worker)->pg, in->dnc_update, out));
	default:
		log_warnx(
		    "unsupported request %s", wire_type_name(in->body_case));
		reply_error(out, BUS__ERROR__CODE__UNSUPPORTED,
		    "rate-limiter does not handle %s",
		    wire_type_name(in->body_case));
		return (0);
	}
}

/* svc: runs on the worker thread itself. */
static void *
rl_worker_init(struct svc *s, int n)
{
	struct rl_worker *w = xcalloc(1, sizeof(*w));

	w->rl = svc_arg(s);
	if (pg_init(&w->pg, w->rl->cfg.database_url, "rate-limiter") == -1)
		fatalx("worker %d: bad DATABASE_URL", n);
	return (w);
}

static void
rl_worker_fini(void *arg)
{
	struct rl_worker *w = arg;

	pg_fini(&w->pg);
	free(w);
}

/* lws service thread: atomics only. */
static int
rl_health(struct svc *s, int ready, char *buf, size_t len)
{
	httpd_health_json(buf, len,
	    atomic_load(&degraded) ? "degraded" : "healthy", svc_active(s),
	    svc_uptime(s));
	return (200); /* degraded still answers: stay in service */
}

int
rl_db_returned(struct pg *pg)
{
	struct rl_pending *p;
	int                n, total = 0, round;

	/* Drain until nothing is pending, then leave degraded mode under
	 * the same lock, so no worker can add a hit that is never written
	 * (pending_add checks the flag under that lock too). */
	for (round = 0; round < 10; round++) {
		pthread_mutex_lock(&pending_lock);
		if (npending == 0) {
			set_degraded(0);
			pthread_mutex_unlock(&pending_lock);
			break;
		}
		p = pending;
		n = npending;
		pending = NULL;
		npending = pending_cap = 0;
		pthread_mutex_unlock(&pending_lock);
		if (store_backfill(pg, p, n) == -1) {
			pending_putback(p, n);
			return (-1);
		}
		free(p);
		total += n;
	}
	if (rl_is_degraded())
		return (-1); /* hits keep coming: next probe */
	if (total > 0)
		log_info("%d calls allowed from memory written to the "
		         "database",
		    total);
	atomic_fetch_add(&db_epoch, 1);
	return (0);
}

bool
rl_is_degraded(void)
{
	return (atomic_load(&degraded) != 0);
}

void
rl_mem_keys(long n)
{
	metric_set(m_mem_keys, (double)n);
}

static void
metrics_register(void)
{
	fam_decisions = metrics_counter("rate_limit_decisions_total",
	    "Rate checks answered, by result, reason and source",
	    "result,reason,source");
	m_degraded = metrics_gauge1("rate_limit_degraded",
	    "1 while checks are answered from memory (database down)");
	m_db_up = metrics_gauge1(
	    "rate_limit_db_up", "1 while the database answers rate checks");
	m_mem_keys = metrics_gauge1(
	    "rate_limit_memory_keys", "Keys held by the in-memory window");
	metric_set(m_db_up, 1);
	dnc_metrics_init();
}

/* Check what the table cannot: the key, the countries, the limits. */
static int
check_config(struct rl *rl)
{
	int rv = 0;

	if (strlen(rl->cfg.hmac_key) < 16) {
		log_warnx("RATE_LIMIT_HMAC_KEY must be at least 16 bytes "
		          "(32 random bytes recommended)");
		rv = -1;
	}
	if (phone_countries_parse(rl->cfg.countries, &rl->countries) == -1)
		rv = -1;
	if (hours_parse(rl->cfg.calling_hours, &rl->hours) == -1)
		rv = -1;
	if (strcmp(rl->cfg.dnc_when_down, "refuse") != 0
	    && strcmp(rl->cfg.dnc_when_down, "allow") != 0) {
		log_warnx("RATE_LIMIT_DNC_WHEN_DOWN must be refuse or allow");
		rv = -1;
	}
	if (rl->cfg.phone_max > RL_MAX_HITS || rl->cfg.ip_max > RL_MAX_HITS) {
		log_warnx("rate limits above %d per window are not supported",
		    RL_MAX_HITS);
		rv = -1;
	}
	if (rl->cfg.phone_window_ms <= 0 || rl->cfg.ip_window_ms <= 0
	    || rl->cfg.cleanup_ms <= 0 || rl->cfg.workers < 1) {
		log_warnx("windows, cleanup interval and workers must be > 0");
		rv = -1;
	}
	return (rv);
}

int
rl_start(struct rl *rl)
{
	struct svc_conf conf = { 0 };
	struct pg       probe;

	if (check_config(rl) == -1)
		return (-1);
	if (pg_init(&probe, rl->cfg.database_url, "rate-limiter") == -1)
		return (-1);
	pg_fini(&probe);
	rl->mem = window_new(rl->cfg.memory_max_keys);
	metrics_register();
	conf.name = "rate-limiter";
	conf.about = "phone and IP rate limits on PostgreSQL";
	conf.rep_url = rl->cfg.listen_url;
	conf.workers = (int)rl->cfg.workers;
	conf.handle = rl_handle;
	conf.worker_init = rl_worker_init;
	conf.worker_fini = rl_worker_fini;
	conf.http_addr = rl->cfg.http_addr;
	conf.http_port = rl->cfg.http_port;
	conf.health = rl_health;
	conf.arg = rl;
	if (svc_start(&rl->svc, &conf) == -1)
		return (-1);
	if (janitor_start(rl) == -1)
		return (-1);
	log_info("listening on %s; phone %ld per %ld ms, ip %ld per %ld ms, "
	         "%d country codes",
	    rl->cfg.listen_url, rl->cfg.phone_max, rl->cfg.phone_window_ms,
	    rl->cfg.ip_max, rl->cfg.ip_window_ms, rl->countries.n);
	return (0);
}

void
rl_stop(struct rl *rl)
{
	svc_stop(rl->svc);
	rl->svc = NULL;
	janitor_stop(rl);
	window_free(rl->mem);
	rl->mem = NULL;
	pthread_mutex_lock(&pending_lock);
	if (npending > 0)
		log_warnx("%d calls allowed from memory were never written "
		          "to the database",
		    npending);
	free(pending);
	pending = NULL;
	npending = pending_cap = 0;
	pthread_mutex_unlock(&pending_lock);
}
