/*
 * window_test - rolling-window arithmetic and the in-memory window on a
 * fake clock: limits, remaining, retry-after, peek, two keys, pruning,
 * eviction at max_keys, and exactness under threads.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "../../../services/rate-limiter/rate-limiter.h"

#define HOUR (3600 * 1000LL)
#define MIN15 (900 * 1000LL)

static void
keys_init(struct rl_key *k, const char *phone, const char *ip)
{
	memset(k, 0, 2 * sizeof(*k));
	k[0].scope = "phone";
	snprintf(k[0].hash, sizeof(k[0].hash), "%s", phone);
	k[0].rule.max = 2;
	k[0].rule.window_ms = HOUR;
	k[1].scope = "ip";
	snprintf(k[1].hash, sizeof(k[1].hash), "%s", ip);
	k[1].rule.max = 10;
	k[1].rule.window_ms = MIN15;
}

static void
test_eval(void **state)
{
	struct rl_key k = { .scope = "phone", .rule = { 2, 1000 } };
	int64_t       hits[] = { 900, 500, 100 };

	rl_eval(&k, hits, 3, 1000);
	assert_int_equal(k.count, 3);
	assert_int_equal(k.retry_ms, 500); /* 500 + 1000 - 1000 */
	rl_eval(&k, hits, 3, 1100); /* 100 left the window */
	assert_int_equal(k.count, 2);
	assert_int_equal(k.retry_ms, 400);
	rl_eval(&k, hits, 3, 1500); /* > now - window only */
	assert_int_equal(k.count, 1);
	assert_int_equal(k.retry_ms, 0);
	rl_eval(&k, NULL, 0, 1500);
	assert_int_equal(k.count, 0);
}

static void
test_phone_limit(void **state)
{
	struct window    *w = window_new(100);
	struct rl_key     k[2];
	struct rl_verdict v;
	int64_t           t = 5 * HOUR;

	keys_init(k, "aa", "ip1");
	window_take(w, k, 2, t, false, &v);
	assert_true(v.allowed);
	assert_string_equal(v.reason, "ok");
	assert_int_equal(v.remaining, 1);
	window_take(w, k, 2, t + 1000, false, &v);
	assert_true(v.allowed);
	assert_int_equal(v.remaining, 0);
	window_take(w, k, 2, t + 2000, false, &v);
	assert_false(v.allowed);
	assert_string_equal(v.reason, "phone_limit");
	assert_int_equal(v.retry_after_s, 3600 - 2);
	/* a refused call is not counted: the first hit leaving frees one */
	window_take(w, k, 2, t + HOUR, false, &v);
	assert_true(v.allowed);
	window_take(w, k, 2, t + HOUR + 10, false, &v);
	assert_false(v.allowed);
	assert_int_equal(v.retry_after_s, 1); /* t+1000+HOUR - now, up */
	/* the IP saw 3 counted calls */
	assert_int_equal(window_keys(w), 2);
	window_free(w);
}

static void
test_ip_limit_and_peek(void **state)
{
	struct window    *w = window_new(1000);
	struct rl_key     k[2];
	struct rl_verdict v;
	char              phone[16];
	int               i;

	for (i = 0; i < 10; i++) {
		snprintf(phone, sizeof(phone), "p%d", i);
		keys_init(k, phone, "ip1");
		window_take(w, k, 2, 1000000 + i, false, &v);
		assert_true(v.allowed);
	}
	keys_init(k, "p99", "ip1");
	window_take(w, k, 2, 1000100, true, &v);
	assert_false(v.allowed);
	assert_string_equal(v.reason, "ip_limit");
	assert_int_equal(v.retry_after_s, 900);
	keys_init(k, "p99", "ip2");
	window_take(w, k, 2, 1000100, true, &v); /* peek: not counted */
	assert_true(v.allowed);
	assert_int_equal(v.remaining, 2);
	window_take(w, k, 2, 1000100, true, &v);
	assert_int_equal(v.remaining, 2);
	window_take(w, k, 1, 1000100, false, &v); /* phone key only */
	assert_int_equal(v.remaining, 1);
	window_free(w);
}

static void
test_record_and_prune(void **state)
{
	struct window    *w = window_new(100);
	struct rl_key     k[2];
	struct rl_verdict v;

	keys_init(k, "bb", "ip9");
	window_record(w, k, 2, 1000);
	window_record(w, k, 2, 2000);
	window_take(w, k, 2, 3000, false, &v);
	assert_false(v.allowed); /* the db allowed two */
	window_prune(w, 2000 + MIN15, HOUR); /* longest window: kept */
	assert_int_equal(window_keys(w), 2);
	window_prune(w, 1999 + HOUR, HOUR); /* the 1000 hit is gone */
	assert_int_equal(window_keys(w), 2);
	window_take(w, k, 1, 1999 + HOUR, true, &v);
	assert_int_equal(k[0].count, 1);
	window_prune(w, 2000 + HOUR, HOUR);
	assert_int_equal(window_keys(w), 0);
	window_free(w);
}

static void
test_eviction(void **state)
{
	struct window    *w = window_new(50);
	struct rl_key     k[2];
	struct rl_verdict v;
	char              phone[16];
	int               i;

	for (i = 0; i < 500; i++) {
		snprintf(phone, sizeof(phone), "e%d", i);
		keys_init(k, phone, "");
		window_take(w, k, 1, 1000 + i, false, &v);
		assert_true(v.allowed);
		assert_true(window_keys(w) <= 50);
	}
	window_free(w);
}

struct race {
	struct window  *w;
	int             allowed;
	pthread_mutex_t lock;
};

static void *
racer(void *arg)
{
	struct race      *r = arg;
	struct rl_key     k[2];
	struct rl_verdict v;
	int               i;

	for (i = 0; i < 100; i++) {
		keys_init(k, "hot", "iphot");
		k[1].rule.max = 1000;
		window_take(r->w, k, 2, 42 + i, false, &v);
		if (v.allowed) {
			pthread_mutex_lock(&r->lock);
			r->allowed++;
			pthread_mutex_unlock(&r->lock);
		}
	}
	return (NULL);
}

static void
test_threads_exact(void **state)
{
	struct race r = { .w = window_new(100) };
	pthread_t   t[8];
	int         i;

	pthread_mutex_init(&r.lock, NULL);
	for (i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, racer, &r), 0);
	for (i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(r.allowed, 2);
	window_free(r.w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eval),
		cmocka_unit_test(test_phone_limit),
		cmocka_unit_test(test_ip_limit_and_peek),
		cmocka_unit_test(test_record_and_prune),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_threads_exact),
	};

	log_init("window_test");
	log_set_level("error");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
