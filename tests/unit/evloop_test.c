/*
 * evloop_test - the paced service turn the audio loops use
 * (evloop_service_paced), on a real lws context without a listener, with
 * lws's poll loop and, when libev is installed, with epoll through it:
 *   - idle, a turn blocks until something happens (a wake-up from another
 *     thread), so an idle daemon costs nothing;
 *   - busy (another thread wakes the loop every 200 us), turns come at
 *     most once per tick, and each turn takes every wake-up that came in
 *     meanwhile at once;
 *   - tick 0 is the unpaced turn: no sleep between busy turns.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libwebsockets.h>

#include "evloop.h"

static atomic_int  wakeups; /* EVENT_WAIT_CANCELLED seen */
static atomic_bool waker_stop;

static int
cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
    size_t len)
{
	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED)
		atomic_fetch_add(&wakeups, 1);
	return (lws_callback_http_dummy(wsi, reason, user, in, len));
}

static const struct lws_protocols protos[]
    = { { "t", cb, 0, 0, 0, NULL, 0 }, { NULL, NULL, 0, 0, 0, NULL, 0 } };

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static struct lws_context *
ctx_new(const char *mode)
{
	struct lws_context_creation_info info;
	struct lws_context              *ctx;

	lws_set_log_level(0, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protos;
	info.count_threads = 1;
	(void)evloop_open(mode);
	evloop_lws_info(&info);
	ctx = lws_create_context(&info);
	assert_non_null(ctx);
	return (ctx);
}

static void
ctx_free(struct lws_context *ctx)
{
	evloop_detach();
	lws_context_destroy(ctx);
	evloop_close();
}

/* Wake the loop once, after a pause. */
static void *
late_waker(void *arg)
{
	usleep(150 * 1000);
	lws_cancel_service(arg);
	return (NULL);
}

/* Wake the loop every 200 us until told to stop. */
static void *
busy_waker(void *arg)
{
	while (!atomic_load(&waker_stop)) {
		lws_cancel_service(arg);
		usleep(200);
	}
	return (NULL);
}

static void
idle_blocks(const char *mode)
{
	struct lws_context *ctx = ctx_new(mode);
	pthread_t           t;
	int64_t             t0;
	int                 turns = 0;

	/* one turn to take what creation left ready (woken, so it cannot
	 * block) */
	lws_cancel_service(ctx);
	(void)evloop_service_paced(ctx, 5);
	atomic_store(&wakeups, 0);
	assert_int_equal(pthread_create(&t, NULL, late_waker, ctx), 0);
	t0 = now_ms();
	while (atomic_load(&wakeups) == 0 && now_ms() - t0 < 5000) {
		assert_int_equal(evloop_service_paced(ctx, 5), 0);
		turns++;
	}
	/* it waited for the wake-up (150 ms) in a few turns instead of
	 * taking one every 5 ms tick */
	assert_true(now_ms() - t0 >= 100);
	assert_true(turns <= 10);
	assert_true(atomic_load(&wakeups) >= 1);
	pthread_join(t, NULL);
	ctx_free(ctx);
}

/* 40 turns under a busy waker; returns the milliseconds they took. */
static int64_t
busy_turns(const char *mode, long tick_ms, int *wakes)
{
	struct lws_context *ctx = ctx_new(mode);
	pthread_t           t;
	int64_t             t0, took;
	int                 i;

	atomic_store(&waker_stop, false);
	assert_int_equal(pthread_create(&t, NULL, busy_waker, ctx), 0);
	(void)evloop_service_paced(ctx, tick_ms);
	atomic_store(&wakeups, 0);
	t0 = now_ms();
	for (i = 0; i < 40; i++)
		assert_int_equal(evloop_service_paced(ctx, tick_ms), 0);
	took = now_ms() - t0;
	*wakes = atomic_load(&wakeups);
	atomic_store(&waker_stop, true);
	pthread_join(t, NULL);
	ctx_free(ctx);
	return (took);
}

static void
paced(const char *mode)
{
	int64_t took;
	int     wakes;

	took = busy_turns(mode, 10, &wakes);
	/* at most one turn per 10 ms tick */
	assert_true(took >= 39 * 10);
	/* about 50 wake-ups per tick were folded into each turn (at most
	 * two callbacks a turn: one per pass) */
	assert_true(wakes <= 2 * 40);
	assert_true(wakes >= 1);
}

static void
unpaced(const char *mode)
{
	int64_t took;
	int     wakes;

	/* tick 0: a turn per wake-up, no sleep; generous bound for a loaded
	 * machine, still far below 40 ticks of the paced case */
	took = busy_turns(mode, 0, &wakes);
	assert_true(took < 39 * 10);
	assert_true(wakes >= 1);
}

static void
test_idle_blocks_poll(void **state)
{
	(void)state;
	idle_blocks("poll");
}

static void
test_paced_poll(void **state)
{
	(void)state;
	paced("poll");
}

static void
test_unpaced_poll(void **state)
{
	(void)state;
	unpaced("poll");
}

static void
test_idle_blocks_libev(void **state)
{
	(void)state;
	if (!evloop_open("libev"))
		skip(); /* no libev: the poll tests cover the loop */
	evloop_close();
	idle_blocks("libev");
}

static void
test_paced_libev(void **state)
{
	(void)state;
	if (!evloop_open("libev"))
		skip();
	evloop_close();
	paced("libev");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_blocks_poll),
		cmocka_unit_test(test_paced_poll),
		cmocka_unit_test(test_unpaced_poll),
		cmocka_unit_test(test_idle_blocks_libev),
		cmocka_unit_test(test_paced_libev),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
