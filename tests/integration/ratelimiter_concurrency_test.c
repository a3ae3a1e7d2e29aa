/*
 * ratelimiter_concurrency_test - limits are exact across replicas: two
 * real rate-limiter processes on one PostgreSQL schema, 100 simultaneous
 * checks for one number split between them allow exactly 2; 100
 * simultaneous checks from one IP for 100 numbers allow exactly 10; only
 * HMACs reach the table; peek counts nothing; bad numbers are refused
 * with a reason.
 */
#include <pthread.h>

#include "db_fixture.h"

#define NREQ 100

static struct pgtest_schema schema;
static struct dbfx_proc     rl[2];

struct shot {
	pthread_barrier_t *go;
	nng_socket         s;
	char               phone[32];
	char               ip[32];
	Bus__RateDecision  d;
	int                rv;
};

static void *
shoot(void *arg)
{
	struct shot *s = arg;

	pthread_barrier_wait(s->go);
	s->rv = dbfx_rate(s->s, s->phone, s->ip, false, &s->d);
	return (NULL);
}

/* Fire NREQ checks at once over both processes; count the allowed. */
static int
volley(struct shot *shots, int *degraded)
{
	pthread_barrier_t go;
	pthread_t         t[NREQ];
	int               i, allowed = 0;

	pthread_barrier_init(&go, NULL, NREQ);
	*degraded = 0;
	for (i = 0; i < NREQ; i++) {
		shots[i].go = &go;
		shots[i].s = rl[i % 2].req;
		assert_int_equal(
		    pthread_create(&t[i], NULL, shoot, &shots[i]), 0);
	}
	for (i = 0; i < NREQ; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&go);
	for (i = 0; i < NREQ; i++) {
		assert_int_equal(shots[i].rv, 0);
		allowed += shots[i].d.allowed;
		*degraded += shots[i].d.degraded;
	}
	return (allowed);
}

static int
setup(void **state)
{
	if (pgtest_schema_new(&schema, 1) != 0)
		return (-1);
	if (dbfx_start(&rl[0], "rate-limiter", "rl0", schema.dsn, NULL, NULL)
	        != 0
	    || dbfx_start(
	           &rl[1], "rate-limiter", "rl1", schema.dsn, NULL, NULL)
	        != 0)
		return (-1);
	return (0);
}

static int
teardown(void **state)
{
	dbfx_stop(&rl[0]);
	dbfx_stop(&rl[1]);
	return (pgtest_schema_drop(&schema));
}

static void
test_one_number_two_processes(void **state)
{
	static struct shot shots[NREQ];
	int                i, degraded, allowed;

	for (i = 0; i < NREQ; i++) {
		snprintf(
		    shots[i].phone, sizeof(shots[i].phone), "+14155550100");
		snprintf(shots[i].ip, sizeof(shots[i].ip), "10.0.%d.%d",
		    i / 200, i % 200);
	}
	allowed = volley(shots, &degraded);
	assert_int_equal(degraded, 0);
	assert_int_equal(allowed, 2);
	for (i = 0; i < NREQ; i++) {
		if (shots[i].d.allowed)
			continue;
		assert_string_equal(shots[i].d.reason, "phone_limit");
		assert_int_equal(shots[i].d.remaining, 0);
		assert_true(shots[i].d.retry_after_s > 3500
		    && shots[i].d.retry_after_s <= 3600);
	}
	assert_int_equal(dbfx_count(schema.dsn,
	                     "SELECT count(*) FROM "
	                     "rate_limit_hits WHERE scope = 'phone'"),
	    2);
	/* the table holds a 64-hex-digit HMAC, never the number */
	assert_int_equal(
	    dbfx_count(schema.dsn,
	        "SELECT count(*) FROM "
	        "rate_limit_hits WHERE key_hash !~ '^[0-9a-f]{64}$' OR "
	        "key_hash LIKE '%4155550100%'"),
	    0);
	/* the metric agrees: 2 allowed, 98 refused */
	assert_true(dbfx_metric(rl[0].http, "rate_limit_degraded") == 0);
	assert_true(dbfx_metric(rl[1].http, "rate_limit_db_up") == 1);
}

static void
test_one_ip_many_numbers(void **state)
{
	static struct shot shots[NREQ];
	int                i, degraded, allowed;

	for (i = 0; i < NREQ; i++) {
		snprintf(shots[i].phone, sizeof(shots[i].phone),
		    "+1415555%04d", 2000 + i);
		snprintf(shots[i].ip, sizeof(shots[i].ip), "192.0.2.77");
	}
	allowed = volley(shots, &degraded);
	assert_int_equal(degraded, 0);
	assert_int_equal(allowed, 10);
	for (i = 0; i < NREQ; i++) {
		if (!shots[i].d.allowed)
			assert_string_equal(shots[i].d.reason, "ip_limit");
	}
}

static void
test_peek_and_remaining(void **state)
{
	Bus__RateDecision d;

	assert_int_equal(
	    dbfx_rate(rl[0].req, "+447911123456", "", true, &d), 0);
	assert_true(d.allowed);
	assert_int_equal(d.remaining, 2);
	assert_int_equal(
	    dbfx_rate(rl[1].req, "+447911123456", "", true, &d), 0);
	assert_int_equal(d.remaining, 2); /* peek counted nothing */
	assert_int_equal(
	    dbfx_rate(rl[0].req, "+447911123456", "", false, &d), 0);
	assert_true(d.allowed);
	assert_int_equal(d.remaining, 1);
	assert_int_equal(
	    dbfx_rate(rl[1].req, "+447911123456", "", true, &d), 0);
	assert_int_equal(d.remaining, 1);
	assert_int_equal(
	    dbfx_rate(rl[1].req, "+447911123456", "", false, &d), 0);
	assert_true(d.allowed);
	assert_int_equal(d.remaining, 0);
	assert_int_equal(
	    dbfx_rate(rl[0].req, "+447911123456", "", false, &d), 0);
	assert_false(d.allowed);
	assert_false(d.degraded);
}

static void
test_refusals(void **state)
{
	Bus__RateDecision d;
	Bus__Envelope     env = BUS__ENVELOPE__INIT, *rep;
	Bus__Ping         ping = BUS__PING__INIT;
	Bus__CallEvent    ev = BUS__CALL_EVENT__INIT;

	assert_int_equal(dbfx_rate(rl[0].req, "4155550100", "", false, &d), 0);
	assert_false(d.allowed);
	assert_string_equal(d.reason, "invalid_number");
	assert_int_equal(
	    dbfx_rate(rl[0].req, "+33612345678", "", false, &d), 0);
	assert_false(d.allowed);
	assert_string_equal(d.reason, "other"); /* country_not_allowed */
	env.body_case = BUS__ENVELOPE__BODY_PING;
	env.ping = &ping;
	rep = dbfx_request(rl[1].req, &env, "", NULL, 2000, 2);
	assert_non_null(rep);
	assert_int_equal(rep->body_case, BUS__ENVELOPE__BODY_PONG);
	assert_string_equal(rep->pong->service, "rate-limiter");
	wire_free(rep);
	env.body_case = BUS__ENVELOPE__BODY_CALL_EVENT;
	env.call_event = &ev;
	rep = dbfx_request(rl[1].req, &env, "CA1", "k", 2000, 2);
	assert_non_null(rep);
	assert_int_equal(rep->body_case, BUS__ENVELOPE__BODY_ERROR);
	assert_int_equal(rep->error->code, BUS__ERROR__CODE__UNSUPPORTED);
	wire_free(rep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_number_two_processes),
		cmocka_unit_test(test_one_ip_many_numbers),
		cmocka_unit_test(test_peek_and_remaining),
		cmocka_unit_test(test_refusals),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
