/*
 * store - the rate-limit decision in PostgreSQL, exact across replicas.
 *
 * One transaction per check:
 *
 *	BEGIN
 *	SELECT pg_advisory_xact_lock(1, hashtext(phone)),
 *	       pg_advisory_xact_lock(2, hashtext(ip)), <clock after locks>
 *	SELECT the key's hits inside its window	  (a fresh snapshot)
 *	INSERT this call's hits			  (only if every key fits)
 *	COMMIT					  (releases the locks)
 *
 * The locks serialise every check of one number (or IP) across all
 * rate-limiter processes; the SELECT runs after the lock is granted, so
 * under READ COMMITTED its snapshot sees every hit committed by the
 * previous holder (a lock taken inside the counting statement would not:
 * that statement's snapshot predates the wait).  Phone locks are class 1
 * and IP locks class 2, always in that order, so two checks never wait on
 * each other in a cycle.  Transaction-level locks and PQexecParams only:
 * nothing here needs a session, so a transaction-mode pooler works.
 * Time is the database's clock, one clock for all replicas.
 *
 * Threads: called by worker threads, each with its own struct pg.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rate-limiter.h"

#define RL_MAX_KEYS 2

/*
 * The bounds come first in the select list (evaluated left to right) and
 * hold for this transaction only: no lock wait beyond 2 s (a stuck
 * holder makes us degraded, not hung) and no later statement beyond 5 s.
 */
#define RL_BOUNDS                                                             \
	"set_config('lock_timeout', '2000', true), "                          \
	"set_config('statement_timeout', '5000', true), "

static const char sql_lock1[]
    = "SELECT " RL_BOUNDS "pg_advisory_xact_lock(1, hashtext($1)), "
      "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";
static const char sql_lock2[]
    = "SELECT " RL_BOUNDS "pg_advisory_xact_lock(1, hashtext($1)), "
      "pg_advisory_xact_lock(2, hashtext($2)), "
      "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";
static const char sql_lock_ip[]
    = "SELECT " RL_BOUNDS "pg_advisory_xact_lock(2, hashtext($1)), "
      "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";
static const char sql_now[]
    = "SELECT 0, (extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/* Hits inside each key's window, newest first.  $1/$3 may be NULL. */
static const char sql_hits[]
    = "SELECT scope, (extract(epoch FROM hit_at) * 1000)::bigint "
      "FROM rate_limit_hits "
      "WHERE (scope = 'phone' AND key_hash = $1 "
      "       AND hit_at > to_timestamp($2::double precision / 1000)) "
      "   OR (scope = 'ip' AND key_hash = $3 "
      "       AND hit_at > to_timestamp($4::double precision / 1000)) "
      "ORDER BY hit_at DESC LIMIT 4000";

static const char sql_insert[]
    = "INSERT INTO rate_limit_hits (scope, key_hash, kind, hit_at) "
      "SELECT v.s, v.h, $3, to_timestamp($4::double precision / 1000) "
      "FROM (VALUES ('phone', $1::text), ('ip', $2::text)) AS v(s, h) "
      "WHERE v.h IS NOT NULL";

static const char sql_backfill[]
    = "INSERT INTO rate_limit_hits (scope, key_hash, kind, hit_at) "
      "VALUES ($1, $2, $3, to_timestamp($4::double precision / 1000))";

static const char sql_cleanup[]
    = "DELETE FROM rate_limit_hits WHERE id IN (SELECT id FROM "
      "rate_limit_hits WHERE hit_at < clock_timestamp() - "
      "$1::bigint * interval '1 millisecond' LIMIT 10000)";

/* The phone key's hash (or NULL) and the IP key's hash (or NULL). */
static void
split_keys(struct rl_key *keys, int nkeys, const char **phone, const char **ip,
    int *pi, int *ii)
{
	int i;

	*phone = *ip = NULL;
	*pi = *ii = -1;
	for (i = 0; i < nkeys; i++) {
		if (strcmp(keys[i].scope, "ip") == 0) {
			*ip = keys[i].hash;
			*ii = i;
		} else {
			*phone = keys[i].hash;
			*pi = i;
		}
	}
}

/* Lock (unless peek) and read the database clock. */
static int
lock_keys(
    struct pg *pg, const char *phone, const char *ip, bool peek, int64_t *nowp)
{
	const char *v[2] = { phone, ip };
	PGresult   *res;
	const char *s;

	if (peek || (phone == NULL && ip == NULL))
		res = pg_exec(pg, "rate clock", sql_now, 0, NULL, NULL, NULL);
	else if (ip == NULL)
		res = pg_exec(pg, "rate lock", sql_lock1, 1, v, NULL, NULL);
	else if (phone == NULL)
		res = pg_exec(
		    pg, "rate lock", sql_lock_ip, 1, v + 1, NULL, NULL);
	else
		res = pg_exec(pg, "rate lock", sql_lock2, 2, v, NULL, NULL);
	if (res == NULL)
		return (-1);
	/* the clock is the last column, read after the locks */
	s = pg_value(res, 0, PQnfields(res) - 1);
	*nowp = s != NULL ? strtoll(s, NULL, 10) : 0;
	PQclear(res);
	return (s != NULL ? 0 : -1);
}

/* Read the hits of every key and evaluate them at now. */
static int
read_hits(struct pg *pg, struct rl_key *keys, int nkeys, int64_t now)
{
	int64_t     hits[RL_MAX_KEYS][RL_MAX_HITS];
	int         nh[RL_MAX_KEYS] = { 0 }, pi, ii, k, r;
	const char *phone, *ip, *v[4];
	char        since[2][24];
	PGresult   *res;

	split_keys(keys, nkeys, &phone, &ip, &pi, &ii);
	snprintf(since[0], sizeof(since[0]), "%lld",
	    (long long)(now - (pi >= 0 ? keys[pi].rule.window_ms : 0)));
	snprintf(since[1], sizeof(since[1]), "%lld",
	    (long long)(now - (ii >= 0 ? keys[ii].rule.window_ms : 0)));
	v[0] = phone;
	v[1] = since[0];
	v[2] = ip;
	v[3] = since[1];
	if ((res = pg_exec(pg, "rate hits", sql_hits, 4, v, NULL, NULL))
	    == NULL)
		return (-1);
	for (r = 0; r < PQntuples(res); r++) {
		k = strcmp(PQgetvalue(res, r, 0), "ip") == 0 ? ii : pi;
		if (k < 0 || nh[k] >= RL_MAX_HITS)
			continue;
		hits[k][nh[k]++] = strtoll(PQgetvalue(res, r, 1), NULL, 10);
	}
	PQclear(res);
	for (k = 0; k < nkeys; k++)
		rl_eval(&keys[k], hits[k], nh[k], now);
	return (0);
}

static int
insert_hits(struct pg *pg, struct rl_key *keys, int nkeys, const char *kind,
    int64_t now)
{
	const char *phone, *ip, *v[4];
	char        at[24];
	int         pi, ii;

	split_keys(keys, nkeys, &phone, &ip, &pi, &ii);
	snprintf(at, sizeof(at), "%lld", (long long)now);
	v[0] = phone;
	v[1] = ip;
	v[2] = kind;
	v[3] = at;
	return (pg_cmd(pg, "rate insert", sql_insert, 4, v));
}

int
store_take(struct pg *pg, struct rl_key *keys, int nkeys, const char *kind,
    bool peek, struct rl_verdict *v)
{
	const char *phone, *ip;
	int64_t     now;
	bool        fits = true;
	int         i, pi, ii;

	if (nkeys > RL_MAX_KEYS)
		return (-1);
	split_keys(keys, nkeys, &phone, &ip, &pi, &ii);
	if (pg_begin(pg) == -1)
		return (-1);
	if (lock_keys(pg, phone, ip, peek, &now) == -1
	    || read_hits(pg, keys, nkeys, now) == -1)
		goto fail;
	for (i = 0; i < nkeys; i++) {
		if (keys[i].rule.max > 0 && keys[i].count >= keys[i].rule.max)
			fits = false;
	}
	if (fits && !peek && nkeys > 0
	    && insert_hits(pg, keys, nkeys, kind, now) == -1)
		goto fail;
	if (pg_commit(pg) == -1)
		goto fail;
	rl_decide(keys, nkeys, fits && !peek, v);
	return (0);
fail:
	pg_rollback(pg);
	return (-1);
}

int
store_backfill(struct pg *pg, const struct rl_pending *p, int n)
{
	const char *v[4];
	char        at[24];
	int         i;

	if (n == 0)
		return (0);
	if (pg_begin(pg) == -1)
		return (-1);
	for (i = 0; i < n; i++) {
		snprintf(at, sizeof(at), "%lld", (long long)p[i].at_ms);
		v[0] = p[i].scope;
		v[1] = p[i].hash;
		v[2] = p[i].kind;
		v[3] = at;
		if (pg_cmd(pg, "rate backfill", sql_backfill, 4, v) == -1) {
			pg_rollback(pg);
			return (-1);
		}
	}
	if (pg_commit(pg) == -1) {
		pg_rollback(pg);
		return (-1);
	}
	return (0);
}

long
store_cleanup(struct pg *pg, int64_t max_window_ms)
{
	const char *v[1];
	char        ms[24];
	PGresult   *res;
	long        total = 0, n;
	int         batch;

	snprintf(ms, sizeof(ms), "%lld", (long long)max_window_ms);
	v[0] = ms;
	/* bounded: at most 100 batches of 10,000 per round */
	for (batch = 0; batch < 100; batch++) {
		res = pg_exec(
		    pg, "rate cleanup", sql_cleanup, 1, v, NULL, NULL);
		if (res == NULL)
			return (total > 0 ? total : -1);
		n = strtol(PQcmdTuples(res), NULL, 10);
		PQclear(res);
		total += n;
		if (n < 10000)
			break;
	}
	return (total);
}
