/*
 * reasoner_load_test - many requests at once: 50 decisions with the sim
 * answering each after 200 ms finish in well under 50 * 200 ms (they
 * run side by side); over REASONER_MAX_INFLIGHT the extra requests get
 * Error{OVERLOADED} at once; SIGTERM with requests in flight exits 0
 * quickly, each of them answered Error{UNAVAILABLE, "shutting down"}.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "reasoner_fixture.h"

#define MAXN 64

/* Outlives burst(): threads may still be leaving it when burst returns. */
static pthread_barrier_t go;

struct job {
	struct fx     *f;
	unsigned       deadline;
	int            timeout;
	Bus__Envelope *rep;
	long long      ms;
};

static void *
job_main(void *arg)
{
	struct job *j = arg;
	long long   t0;

	pthread_barrier_wait(&go);
	t0 = harness_now_ms();
	j->rep = fx_decision(
	    j->f, "Thursday at 10am, what do I say?", j->deadline, j->timeout);
	j->ms = harness_now_ms() - t0;
	return (NULL);
}

/* n requests at once; returns the wall time of the whole burst. */
static long long
burst(struct fx *f, struct job *jobs, pthread_t *th, int n, unsigned deadline,
    int timeout, int join)
{
	long long t0;
	int       i;

	assert_int_equal(pthread_barrier_init(&go, NULL, (unsigned)n + 1), 0);
	for (i = 0; i < n; i++) {
		jobs[i] = (struct job) { f, deadline, timeout, NULL, 0 };
		assert_int_equal(
		    pthread_create(&th[i], NULL, job_main, &jobs[i]), 0);
	}
	pthread_barrier_wait(&go);
	t0 = harness_now_ms();
	if (!join)
		return (t0); /* the caller joins, then destroys go */
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	return (harness_now_ms() - t0);
}

static void
test_fifty_at_once(void **state)
{
	const char *const sim[] = { "--latency-ms", "200", NULL };
	struct job        jobs[MAXN];
	pthread_t         th[MAXN];
	struct fx         f;
	long long         ms;
	int               i, ok = 0;

	(void)state;
	/* the default configuration */
	assert_int_equal(fx_start(&f, sim, NULL), 0);
	ms = burst(&f, jobs, th, 50, 5000, 10000, 1);
	for (i = 0; i < 50; i++) {
		if (jobs[i].rep != NULL
		    && jobs[i].rep->body_case
		        == BUS__ENVELOPE__BODY_REASON_DECISION)
			ok++;
		wire_free(jobs[i].rep);
	}
	print_message(
	    "50 decisions at 200 ms each: %lld ms in all, %d ok\n", ms, ok);
	assert_int_equal(ok, 50);
	assert_true(ms >= 200);
	assert_true(ms < 2000); /* serially: 10000 ms */
	assert_int_equal(fx_sim_requests(&f), 50);
	assert_true(fx_metric(&f,
	                "reasoner_requests_total{kind=\"decision\","
	                "result=\"ok\"}")
	    == 50);
	assert_true(fx_metric(&f, "reasoner_inflight") == 0);
	fx_stop(&f);
}

static void
test_over_the_cap(void **state)
{
	const char *const sim[] = { "--latency-ms", "600", NULL };
	const char *const env[]
	    = { "REASONER_WORKERS=8", "REASONER_MAX_INFLIGHT=3", NULL };
	struct job jobs[MAXN];
	pthread_t  th[MAXN];
	struct fx  f;
	int        i, ok = 0, over = 0;

	(void)state;
	assert_int_equal(fx_start(&f, sim, env), 0);
	(void)burst(&f, jobs, th, 12, 5000, 10000, 1);
	for (i = 0; i < 12; i++) {
		Bus__Envelope *r = jobs[i].rep;

		assert_non_null(r);
		if (r->body_case == BUS__ENVELOPE__BODY_REASON_DECISION) {
			ok++;
			assert_true(jobs[i].ms >= 600);
		} else {
			fx_expect_error(r, BUS__ERROR__CODE__OVERLOADED);
			over++;
			assert_true(jobs[i].ms < 500); /* no waiting */
		}
		wire_free(r);
	}
	print_message("12 at once, cap 3: %d ok, %d overloaded\n", ok, over);
	assert_int_equal(ok, 3);
	assert_int_equal(over, 9);
	assert_int_equal(fx_sim_requests(&f), 3);
	assert_true(fx_metric(&f,
	                "reasoner_requests_total{kind=\"decision\","
	                "result=\"overloaded\"}")
	    == 9);
	fx_stop(&f);
}

static int
five_inflight(void *arg)
{
	return (fx_metric(arg, "reasoner_inflight") == 5);
}

static void
test_sigterm_in_flight(void **state)
{
	const char *const sim[] = { "--latency-ms", "8000", NULL };
	const char *const env[]
	    = { "REASONER_DECISION_TIMEOUT_MS=20000", NULL };
	struct job jobs[MAXN];
	pthread_t  th[MAXN];
	struct fx  f;
	long long  t0;
	int        i, rv, answered = 0;

	(void)state;
	assert_int_equal(fx_start(&f, sim, env), 0);
	(void)burst(&f, jobs, th, 5, 9000, 4000, 0);
	assert_int_equal(harness_wait_for(five_inflight, &f, 3000), 0);
	t0 = harness_now_ms();
	rv = harness_stop(f.rsn, 3000);
	print_message("SIGTERM with 5 in flight: exit %d after %lld ms\n", rv,
	    harness_now_ms() - t0);
	assert_int_equal(rv, 0);
	/* ~20 ms normally; ThreadSanitizer alone sleeps 1 s at exit */
	assert_true(harness_now_ms() - t0 < 2000);
	for (i = 0; i < 5; i++) {
		pthread_join(th[i], NULL);
		/* the "shutting down" answer (or none, should the socket
		 * close first), never a success */
		if (jobs[i].rep != NULL) {
			fx_expect_error(
			    jobs[i].rep, BUS__ERROR__CODE__UNAVAILABLE);
			answered++;
		}
		wire_free(jobs[i].rep);
	}
	print_message("%d of 5 answered \"shutting down\"\n", answered);
	assert_int_equal(answered, 5);
	pthread_barrier_destroy(&go);
	nng_close(f.req);
	assert_int_equal(harness_stop(f.sim, 5000), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifty_at_once),
		cmocka_unit_test(test_over_the_cap),
		cmocka_unit_test(test_sigterm_in_flight),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
