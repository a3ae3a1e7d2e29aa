/*
 * ratelimiter_degraded_test - PostgreSQL stops under a running
 * rate-limiter (a private cluster): checks are answered from memory and
 * flagged degraded, limits still hold per process, /metrics and /health
 * say so; when PostgreSQL starts again the daemon goes back to it by
 * itself, the calls it allowed from memory are written to the table so
 * they still count, and the answers are exact again.  A second
 * rate-limiter with the default RATE_LIMIT_DNC_WHEN_DOWN shows that
 * compliance fails closed: while the do-not-call list cannot be read,
 * outbound calls are refused "dnc_unavailable".
 */
#include <libpq-fe.h>

#include "db_fixture.h"
#include "hmac.h"

static struct pgtest_cluster cl;
static struct dbfx_proc      rl, strict;

static int
setup(void **state)
{
	/* outbound calls go on from memory although the do-not-call list
	 * is unreadable then (by default they are refused) */
	static const char *const env[]
	    = { "RATE_LIMIT_DNC_WHEN_DOWN=allow", NULL };

	if (pgtest_cluster_start(&cl) != 0 || dbfx_migrate(cl.dsn) != 0)
		return (-1);
	if (dbfx_start(&rl, "rate-limiter", "rl", cl.dsn, NULL, env) != 0)
		return (-1);
	/* the default: no list, no outbound call */
	return (
	    dbfx_start(&strict, "rate-limiter", "rls", cl.dsn, NULL, NULL));
}

static int
teardown(void **state)
{
	dbfx_stop(&strict);
	dbfx_stop(&rl);
	pgtest_cluster_destroy(&cl);
	return (0);
}

static void
expect(const char *phone, const char *ip, bool allowed, bool degraded,
    const char *reason)
{
	Bus__RateDecision d;

	assert_int_equal(dbfx_rate(rl.req, phone, ip, false, &d), 0);
	if (d.allowed != allowed || d.degraded != degraded
	    || strcmp(d.reason, reason) != 0)
		fail_msg("%s: allowed %d degraded %d reason %s; wanted %d %d "
		         "%s",
		    phone, d.allowed, d.degraded, d.reason, allowed, degraded,
		    reason);
}

/* The strict rate-limiter's answer for a fresh outbound number. */
static void
expect_strict(const char *phone, bool allowed, const char *reason)
{
	Bus__RateDecision d;

	assert_int_equal(dbfx_rate(strict.req, phone, "", false, &d), 0);
	if (d.allowed != allowed || strcmp(d.reason, reason) != 0)
		fail_msg("strict %s: allowed %d reason %s; wanted %d %s",
		    phone, d.allowed, d.reason, allowed, reason);
}

static int
answers_exact(void *arg)
{
	Bus__RateDecision d;

	return (dbfx_rate(rl.req, "+61412345999", "", true, &d) == 0
	    && !d.degraded);
}

/* The strict rate-limiter reads the do-not-call list again (each of
 * its workers reconnects on its own): a fresh outbound call goes out.
 * Refusals count no hit. */
static int
strict_calls_again(void *arg)
{
	Bus__RateDecision d;

	return (dbfx_rate(strict.req, "+14155550999", "", false, &d) == 0
	    && d.allowed && !d.degraded && strcmp(d.reason, "ok") == 0);
}

static void
test_outage_and_recovery(void **state)
{
	char url[128], *body = NULL;
	long status = 0, t0;

	/* database up: exact */
	expect("+14155550111", "198.51.100.1", true, false, "ok");
	expect_strict("+14155550777", true, "ok");
	assert_true(dbfx_metric(rl.http, "rate_limit_degraded") == 0);

	assert_int_equal(pgtest_cluster_stop(&cl), 0);
	/* the first number's database hit is remembered in memory */
	expect("+14155550111", "198.51.100.1", true, true, "ok");
	expect("+14155550111", "198.51.100.1", false, true, "phone_limit");
	/* a fresh number: two, then refused, all degraded */
	expect("+14155550222", "198.51.100.2", true, true, "ok");
	expect("+14155550222", "198.51.100.2", true, true, "ok");
	expect("+14155550222", "198.51.100.2", false, true, "phone_limit");
	assert_true(dbfx_metric(rl.http, "rate_limit_degraded") == 1);
	assert_true(dbfx_metric(rl.http, "rate_limit_db_up") == 0);
	/* compliance fails closed: the list is unreadable, so no outbound
	 * call, not even a fresh number well under its limits */
	expect_strict("+14155550888", false, "dnc_unavailable");
	expect_strict("+14155550777", false, "dnc_unavailable");
	assert_true(dbfx_metric(strict.http,
	                "rate_limit_dnc_total{op=\"check\",result="
	                "\"unavailable\"}")
	    >= 2);
	/* liveness and readiness never wait for the database */
	snprintf(url, sizeof(url), "%s/health", rl.http);
	assert_int_equal(
	    harness_http("GET", url, NULL, NULL, &status, &body), 0);
	assert_int_equal(status, 200);
	assert_non_null(strstr(body, "degraded"));
	free(body);
	snprintf(url, sizeof(url), "%s/ready", rl.http);
	assert_int_equal(
	    harness_http("GET", url, NULL, NULL, &status, NULL), 0);
	assert_int_equal(status, 200);

	assert_int_equal(pgtest_cluster_restart(&cl), 0);
	t0 = harness_now_ms();
	assert_int_equal(harness_wait_for(answers_exact, NULL, 10000), 0);
	print_message("back on the database %lld ms after it started\n",
	    harness_now_ms() - t0);
	assert_true(dbfx_metric(rl.http, "rate_limit_degraded") == 0);
	assert_true(dbfx_metric(rl.http, "rate_limit_db_up") == 1);
	/* the three calls allowed from memory were written back (and the
	 * strict one's first call) */
	assert_int_equal(dbfx_count(cl.dsn,
	                     "SELECT count(*) FROM "
	                     "rate_limit_hits WHERE scope = 'phone'"),
	    5);
	expect("+14155550111", "198.51.100.1", false, false, "phone_limit");
	expect("+14155550222", "198.51.100.2", false, false, "phone_limit");
	expect("+14155550333", "198.51.100.3", true, false, "ok");
	/* and once the list can be read again, calls go out again */
	assert_int_equal(harness_wait_for(strict_calls_again, NULL, 10000), 0);
}

static int
old_rows_gone(void *arg)
{
	long n = -1;

	return (pgtest_query_int(cl.dsn,
	            "SELECT count(*) FROM "
	            "rate_limit_hits WHERE hit_at < now() - interval '1 hour'",
	            &n)
	        == 0
	    && n == 0);
}

static void
test_cleanup_keeps_recent(void **state)
{
	static const char *const fast[]
	    = { "RATE_LIMIT_CLEANUP_MS=200", NULL };
	long recent;

	recent = dbfx_count(cl.dsn, "SELECT count(*) FROM rate_limit_hits");
	assert_true(recent >= 5);
	assert_int_equal(
	    pgtest_exec(cl.dsn,
	        "INSERT INTO rate_limit_hits "
	        "(scope, key_hash, hit_at) SELECT 'phone', md5(g::text) || "
	        "md5(g::text), now() - interval '2 hours' "
	        "FROM generate_series(1, 25000) g"),
	    0);
	/* a second process with a fast janitor: batches of 10,000 */
	dbfx_stop(&rl);
	assert_int_equal(
	    dbfx_start(&rl, "rate-limiter", "rl2", cl.dsn, NULL, fast), 0);
	assert_int_equal(harness_wait_for(old_rows_gone, NULL, 10000), 0);
	assert_int_equal(dbfx_count(cl.dsn,
	                     "SELECT count(*) FROM "
	                     "rate_limit_hits"),
	    recent);
}

/* A session that holds a number's lock and hangs: bounded, degraded. */
static void
test_stuck_lock_holder(void **state)
{
	Bus__RateDecision d;
	PGconn           *c;
	PGresult         *r;
	char              h[65];
	const char       *v[1] = { h };
	long long         t0;

	assert_int_equal(
	    hmac_sha256_hex(DBFX_HMAC_KEY, "+14155550444", 12, h), 0);
	c = PQconnectdb(cl.dsn);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PQclear(PQexec(c, "BEGIN"));
	r = PQexecParams(c, "SELECT pg_advisory_xact_lock(1, hashtext($1))", 1,
	    NULL, v, NULL, NULL, 0);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	PQclear(r);
	t0 = harness_now_ms();
	assert_int_equal(dbfx_rate(rl.req, "+14155550444", "", false, &d), 0);
	print_message("answered in %lld ms behind a stuck lock holder\n",
	    harness_now_ms() - t0);
	assert_true(harness_now_ms() - t0 < 4000);
	assert_true(d.degraded);
	assert_true(d.allowed);
	PQfinish(c); /* the holder goes away: exact again */
	assert_int_equal(harness_wait_for(answers_exact, NULL, 10000), 0);
	/* the call allowed from memory was written back */
	assert_int_equal(dbfx_rate(rl.req, "+14155550444", "", true, &d), 0);
	assert_false(d.degraded);
	assert_int_equal(d.remaining, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outage_and_recovery),
		cmocka_unit_test(test_stuck_lock_holder),
		cmocka_unit_test(test_cleanup_keeps_recent),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
