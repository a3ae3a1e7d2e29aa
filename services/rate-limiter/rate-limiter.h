/*
 * rate-limiter - private header: configuration, the limit rules, the
 * in-memory window, the PostgreSQL store and the request handler.
 *
 * A RateCheck names a phone number and a client IP.  The number is
 * validated (E.164, allowed country) and replaced at once by its
 * HMAC-SHA256 under RATE_LIMIT_HMAC_KEY; the IP likewise.  Each key has
 * a rule (at most `max` calls per rolling `window_ms`).  The decision is
 * taken in PostgreSQL in one transaction that holds an advisory lock per
 * key, so replicas agree exactly; when the database cannot answer, the
 * process's own in-memory window answers and the reply says degraded.
 */
#ifndef RATE_LIMITER_H
#define RATE_LIMITER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "bus.h"
#include "cfg.h"
#include "hmac.h"
#include "jobs.h"
#include "pg.h"

#define RL_HASH_HEX (2 * HMAC_SHA256_LEN + 1)
#define RL_MAX_COUNTRIES 64
#define RL_MAX_HITS 1000 /* largest max a rule may have */

struct rl_cfg {
	char *listen_url;
	char *http_addr;
	long  http_port;
	long  workers;
	char *database_url; /* secret */
	char *hmac_key; /* secret */
	char *countries;
	long  phone_max;
	long  phone_window_ms;
	long  ip_max;
	long  ip_window_ms;
	long  cleanup_ms;
	long  memory_max_keys;
	char *dnc_when_down; /* "refuse" or "allow" */
	char *calling_hours; /* "HH:MM-HH:MM" or "" */
	char *log_level;
	long  shutdown_timeout_ms;

	struct bus_tls bus_tls; /* BUS_TLS_* */
};

extern const struct cfg_opt rl_cfg_opts[];

/* ---- phone.c: E.164 and the country allow-list ---------------------- */

struct rl_countries {
	int  n;
	char codes[RL_MAX_COUNTRIES][4]; /* calling codes, digits */
};

enum rl_phone_verdict {
	RL_PHONE_OK = 0,
	RL_PHONE_INVALID, /* not E.164 */
	RL_PHONE_COUNTRY /* valid, but country not allowed */
};

/* Parse "US,CA,GB,+61,91" (ISO 3166 alpha-2 codes or calling codes)
 * into c.  Returns 0, or -1 naming each unknown entry (logged). */
int phone_countries_parse(const char *list, struct rl_countries *c);
/* Validate s as E.164 (+, 8 to 15 digits, no leading 0, a known national
 * length for the codes we know) and check its country against c. */
enum rl_phone_verdict phone_check(const char *s, const struct rl_countries *c);

/* ---- hours.c: calling hours in the callee's time zone ---------------- */

struct rl_hours {
	bool on;
	int  start_min,
	    end_min; /* local minutes since midnight, [start, end) */
};

/* "HH:MM-HH:MM" or "" (no window) into h; -1 (logged) when malformed. */
int hours_parse(const char *s, struct rl_hours *h);
/* NULL when an outbound call to phone (valid E.164) may be placed at
 * now; else the refusal reason, *retry_after_s until the window opens. */
const char *hours_check(const struct rl_hours *, const char *phone, time_t now,
    uint32_t *retry_after_s);

/* ---- compliance.c: the do-not-call list ----------------------------- */

struct rl;
struct reply;
void dnc_metrics_init(void);
/* 1 when phone's HMAC is listed, 0 when not, -1 when the list cannot be
 * read (database down).  Worker threads. */
int dnc_listed(const struct rl *, struct pg *, const char *phone);
/* DncUpdate: answer Ack, or an Error; -1 to answer INTERNAL. */
int dnc_update(
    const struct rl *, struct pg *, const Bus__DncUpdate *, struct reply *out);

/* ---- window.c: rolling-window arithmetic and the in-memory window --- */

struct rl_rule {
	int     max; /* <= 0: no limit */
	int64_t window_ms;
};

/* One key of a check: the rule and what we know of its recent hits. */
struct rl_key {
	const char    *scope; /* "phone", "ip" */
	char           hash[RL_HASH_HEX];
	struct rl_rule rule;
	int            count; /* hits inside the window */
	int64_t        retry_ms; /* until count < max; 0 if below */
};

struct rl_verdict {
	bool        allowed;
	unsigned    remaining;
	unsigned    retry_after_s;
	const char *reason; /* static string */
	bool        degraded;
};

/*
 * Count the hits (ms timestamps, newest first, n of them) that fall
 * inside k->rule's window ending at now, and how long until the count
 * drops below max; fills k->count and k->retry_ms.  Pure.
 */
void rl_eval(struct rl_key *k, const int64_t *hits, int n, int64_t now);
/* The verdict over nkeys evaluated keys: allowed if every key is below
 * its max; counted says whether this call is being counted. */
void rl_decide(
    const struct rl_key *keys, int nkeys, bool counted, struct rl_verdict *v);

struct window;

/* In-memory window for at most max_keys keys.  Any thread (one mutex). */
struct window *window_new(long max_keys);
void           window_free(struct window *);
/*
 * Check-and-count nkeys keys at now (ms, any clock, monotonic per
 * caller): evaluates every key, and unless peek counts the call in each
 * key if all are below their max.  Fills keys' count/retry and v.
 */
void window_take(struct window *, struct rl_key *keys, int nkeys, int64_t now,
    bool peek, struct rl_verdict *v);
/* Count a call the database allowed, so that a later outage starts from
 * what this process has seen. */
void window_record(
    struct window *, const struct rl_key *keys, int nkeys, int64_t now);
/* Drop hits older than max_window_ms and keys left empty. */
void window_prune(struct window *, int64_t now, int64_t max_window_ms);
long window_keys(struct window *);

/* ---- store.c: the decision in PostgreSQL ---------------------------- */

/*
 * One transaction: advisory locks on every key (in a fixed order, so two
 * checks never deadlock), read the recent hits, decide, insert this call
 * unless peek or refused, commit.  Returns 0 with v filled, or -1 if the
 * database could not answer (logged); the caller falls back to memory.
 */
int store_take(struct pg *, struct rl_key *keys, int nkeys, const char *kind,
    bool peek, struct rl_verdict *v);
/* A call allowed from memory while the database was down, written to
 * the table when it returns so that it still counts. */
struct rl_pending {
	char    scope[8];
	char    hash[RL_HASH_HEX];
	char    kind[16];
	int64_t at_ms; /* wall clock, Unix ms */
};

/* Insert the pending hits in one transaction: 0 or -1 (logged). */
int store_backfill(struct pg *, const struct rl_pending *, int n);
/* Delete hits older than max_window_ms, in bounded batches; returns the
 * number of rows deleted or -1. */
long store_cleanup(struct pg *, int64_t max_window_ms);

/* ---- limiter.c: the daemon ------------------------------------------ */

struct rl {
	struct rl_cfg       cfg;
	struct rl_countries countries;
	struct rl_hours     hours; /* RATE_LIMIT_CALLING_HOURS */
	struct window      *mem;
	struct svc         *svc;
	struct jobs_bg      janitor; /* janitor.c */
	int                 db_up; /* last answer's source */
};

/* Validate the configuration, start the workers, HTTP and the janitor.
 * Returns 0, or -1 (logged).  Main thread, signals blocked. */
int rl_start(struct rl *);
/* Stop everything rl_start started; blocks until the threads are gone. */
void rl_stop(struct rl *);
/* The janitor saw the database answer again: write the hits allowed
 * from memory, then send the workers back to the database.  Returns 0,
 * or -1 (still degraded) if the hits could not be written. */
int  rl_db_returned(struct pg *);
bool rl_is_degraded(void);
void rl_mem_keys(long n);

/* ---- janitor.c ------------------------------------------------------- */

int  janitor_start(struct rl *);
void janitor_stop(struct rl *);

#endif
