/*
 * jobs_test - common/jobs: every job runs once with its thread's state,
 * a full queue refuses (and counts) without blocking, a drain runs what
 * is queued, a cancel hands the queued jobs to the cancel hook while
 * running ones finish, and stopping under load from several submitting
 * threads loses or doubles nothing.  The background thread: naps time
 * out, a kick ends one early, stop ends one at once and joins.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "jobs.h"
#include "log.h"
#include "metrics.h"

static atomic_int ran, cancelled, inits, finis, started;
static atomic_int gate; /* jobs wait while 0 */

static void
reset(void)
{
	atomic_store(&ran, 0);
	atomic_store(&cancelled, 0);
	atomic_store(&inits, 0);
	atomic_store(&finis, 0);
	atomic_store(&started, 0);
	atomic_store(&gate, 1);
}

static void *
t_init(void *arg, int n)
{
	int *ts = malloc(sizeof(*ts));

	(void)arg;
	*ts = 1000 + n;
	atomic_fetch_add(&inits, 1);
	return (ts);
}

static void
t_fini(void *arg, void *ts)
{
	(void)arg;
	assert_true(*(int *)ts >= 1000);
	free(ts);
	atomic_fetch_add(&finis, 1);
}

static void
job(void *arg, void *ts)
{
	assert_non_null(ts);
	assert_true(*(int *)ts >= 1000 && *(int *)ts < 1010);
	atomic_fetch_add(&started, 1);
	while (atomic_load(&gate) == 0)
		usleep(1000);
	atomic_fetch_add(&ran, 1);
	free(arg);
}

static void
cancel(jobs_fn fn, void *arg)
{
	assert_ptr_equal(fn, job);
	atomic_fetch_add(&cancelled, 1);
	free(arg);
}

static struct jobs *
start(int threads, int max)
{
	struct jobs_conf c = { 0 };

	c.name = "test";
	c.threads = threads;
	c.max_queued = max;
	c.thread_init = t_init;
	c.thread_fini = t_fini;
	c.cancel = cancel;
	return (jobs_new(&c));
}

static double
rejected(void)
{
	return (metric_value(metric_get(
	    metrics_counter("jobs_rejected_total", "x", "queue"), "test")));
}

static void
test_runs_all(void **state)
{
	struct jobs *q;
	int          i;

	(void)state;
	reset();
	q = start(4, 1000);
	assert_non_null(q);
	for (i = 0; i < 500; i++)
		assert_int_equal(jobs_submit(q, job, malloc(8)), 0);
	assert_false(jobs_is_stopping(q));
	jobs_free(q, JOBS_DRAIN);
	assert_int_equal(atomic_load(&ran), 500);
	assert_int_equal(atomic_load(&cancelled), 0);
	assert_int_equal(atomic_load(&inits), 4);
	assert_int_equal(atomic_load(&finis), 4);
}

static void
test_full(void **state)
{
	struct jobs *q;
	double       before = rejected();
	int          i;

	(void)state;
	reset();
	atomic_store(&gate, 0); /* the one thread holds the first job */
	q = start(1, 3);
	assert_int_equal(jobs_submit(q, job, malloc(8)), 0);
	while (atomic_load(&started) != 1)
		usleep(1000); /* the thread has taken it: 3 may wait */
	for (i = 0; i < 3; i++)
		assert_int_equal(jobs_submit(q, job, malloc(8)), 0);
	{
		void *extra = malloc(8);

		assert_int_equal(jobs_submit(q, job, extra), -1);
		free(extra); /* still ours */
	}
	assert_true(rejected() - before == 1.0);
	assert_int_equal(jobs_queued(q), 4);
	atomic_store(&gate, 1);
	jobs_free(q, JOBS_DRAIN);
	assert_int_equal(atomic_load(&ran), 4);
}

static void *
release_later(void *arg)
{
	(void)arg;
	usleep(50000);
	atomic_store(&gate, 1);
	return (NULL);
}

static void
test_cancel(void **state)
{
	struct jobs *q;
	int          i;

	(void)state;
	reset();
	atomic_store(&gate, 0);
	q = start(2, 100);
	for (i = 0; i < 10; i++)
		assert_int_equal(jobs_submit(q, job, malloc(8)), 0);
	while (atomic_load(&started) != 2)
		usleep(1000); /* both threads hold a job */
	{
		pthread_t t;

		/* cancel while the two run; they finish once released */
		pthread_create(&t, NULL, release_later, NULL);
		jobs_free(q, JOBS_CANCEL);
		pthread_join(t, NULL);
	}
	assert_int_equal(atomic_load(&ran), 2);
	assert_int_equal(atomic_load(&cancelled), 8);
	assert_int_equal(atomic_load(&finis), 2);
}
struct load {
	struct jobs *q;
	atomic_int   ok, refused;
};

static void *
submitter(void *arg)
{
	struct load *l = arg;
	int          i;

	for (i = 0; i < 2000; i++) {
		void *a = malloc(8);

		if (jobs_submit(l->q, job, a) == 0)
			atomic_fetch_add(&l->ok, 1);
		else {
			free(a);
			atomic_fetch_add(&l->refused, 1);
		}
	}
	return (NULL);
}

static void *
drain(void *arg)
{
	jobs_free(arg, JOBS_DRAIN);
	return (NULL);
}

static void
test_stop_under_load(void **state)
{
	struct load l = { 0 };
	pthread_t   t[4], stopper;
	int         i;

	(void)state;
	reset();
	atomic_store(&gate, 0); /* the threads hold their jobs */
	l.q = start(3, 64);
	for (i = 0; i < 3; i++)
		assert_int_equal(jobs_submit(l.q, job, malloc(8)), 0);
	while (atomic_load(&started) != 3)
		usleep(1000); /* each thread holds one */
	for (i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, submitter, &l);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	/* the queue is full: 3 running, 64 waiting, the rest refused */
	assert_int_equal(atomic_load(&l.ok), 64);
	assert_int_equal(atomic_load(&l.refused), 8000 - 64);
	pthread_create(&stopper, NULL, drain, l.q);
	while (!jobs_is_stopping(l.q))
		usleep(1000);
	/* stopping: refused even though the queue is no longer full once
	 * the jobs move (the queue lives until the running jobs end) */
	{
		void *a = malloc(8);

		assert_int_equal(jobs_submit(l.q, job, a), -1);
		free(a);
	}
	atomic_store(&gate, 1);
	pthread_join(stopper, NULL);
	assert_int_equal(atomic_load(&ran), 67); /* drained, none lost */
	assert_int_equal(atomic_load(&cancelled), 0);
	assert_int_equal(atomic_load(&finis), 3);
}

static int64_t
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Rounds: a nap of 10 s each, so every round but a timeout is a kick. */
static void
bg_main(struct jobs_bg *bg, void *arg)
{
	atomic_int *rounds = arg;

	while (!jobs_bg_nap(bg, 10000))
		atomic_fetch_add(rounds, 1);
}

static void
test_bg(void **state)
{
	struct jobs_bg bg, idle = { 0 };
	atomic_int     rounds = 0;
	int64_t        t0;

	(void)state;
	jobs_bg_stop(&idle); /* never started: a no-op */
	assert_int_equal(jobs_bg_start(&bg, "test", bg_main, &rounds), 0);
	jobs_bg_kick(&bg);
	t0 = ms_now();
	while (atomic_load(&rounds) < 1 && ms_now() - t0 < 5000)
		usleep(1000);
	assert_int_equal(atomic_load(&rounds), 1); /* the kick ended a nap */
	assert_false(jobs_bg_is_stopping(&bg));
	t0 = ms_now();
	jobs_bg_stop(&bg); /* ends the 10 s nap at once */
	assert_true(ms_now() - t0 < 2000);
	assert_int_equal(atomic_load(&rounds), 1);
}

static void
short_naps(struct jobs_bg *bg, void *arg)
{
	atomic_int *rounds = arg;

	while (!jobs_bg_nap(bg, 20))
		atomic_fetch_add(rounds, 1);
}

static void
test_bg_timeout(void **state)
{
	struct jobs_bg bg;
	atomic_int     rounds = 0;

	(void)state;
	assert_int_equal(jobs_bg_start(&bg, "test", short_naps, &rounds), 0);
	usleep(300 * 1000);
	jobs_bg_stop(&bg);
	/* about 15 naps of 20 ms in 300 ms; a loaded machine does fewer */
	assert_true(atomic_load(&rounds) >= 3);
	assert_true(atomic_load(&rounds) <= 16);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs_all),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_stop_under_load),
		cmocka_unit_test(test_bg),
		cmocka_unit_test(test_bg_timeout),
	};

	log_init("jobs_test");
	log_set_level("error");
	metrics_init("jobs_test", "0");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
