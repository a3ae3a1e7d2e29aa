/*
 * circuit_test - the reasoner's circuit breaker on a fake clock: opens
 * after N consecutive failures (a success in between resets the count),
 * refuses while open, lets exactly one probe through after the open
 * period, closes on a good probe and re-opens on a bad one; neutral
 * results change nothing; every transition reaches on_change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "log.h"
#include "../../../services/reasoner/reasoner.h"

#define OPEN_MS 1000

static int changes[3];

static void
on_change(enum circuit_state s, void *arg)
{
	(void)arg;
	changes[s]++;
}

static int
setup(void **state)
{
	struct circuit *c = test_malloc(sizeof(*c));

	circuit_init(c, 3, OPEN_MS);
	c->on_change = on_change;
	changes[0] = changes[1] = changes[2] = 0;
	*state = c;
	return (0);
}

static int
teardown(void **state)
{
	circuit_fini(*state);
	test_free(*state);
	return (0);
}

/* One attempt at time now with result res; returns whether allowed. */
static bool
attempt(struct circuit *c, int64_t now, enum circuit_result res)
{
	bool probe;

	if (!circuit_allow(c, now, &probe))
		return (false);
	circuit_report(c, now, probe, res);
	return (true);
}

static void
test_opens_after_threshold(void **state)
{
	struct circuit *c = *state;

	assert_true(attempt(c, 0, CIRCUIT_FAIL));
	assert_true(attempt(c, 1, CIRCUIT_FAIL));
	assert_int_equal(circuit_get(c, 2), CIRCUIT_CLOSED);
	assert_true(attempt(c, 2, CIRCUIT_FAIL));
	assert_int_equal(circuit_get(c, 3), CIRCUIT_OPEN);
	assert_int_equal(changes[CIRCUIT_OPEN], 1);
	/* refused at once for the whole open period */
	assert_false(attempt(c, 3, CIRCUIT_OK));
	assert_false(attempt(c, 2 + OPEN_MS - 1, CIRCUIT_OK));
	assert_int_equal(circuit_get(c, 2 + OPEN_MS - 1), CIRCUIT_OPEN);
}

static void
test_success_resets_count(void **state)
{
	struct circuit *c = *state;
	int             i;

	for (i = 0; i < 10; i++) {
		assert_true(attempt(c, i * 3, CIRCUIT_FAIL));
		assert_true(attempt(c, i * 3 + 1, CIRCUIT_FAIL));
		assert_true(attempt(c, i * 3 + 2, CIRCUIT_OK));
	}
	assert_int_equal(circuit_get(c, 100), CIRCUIT_CLOSED);
	/* neutral results neither count nor reset */
	assert_true(attempt(c, 101, CIRCUIT_FAIL));
	assert_true(attempt(c, 102, CIRCUIT_NEUTRAL));
	assert_true(attempt(c, 103, CIRCUIT_FAIL));
	assert_int_equal(circuit_get(c, 104), CIRCUIT_CLOSED);
	assert_true(attempt(c, 105, CIRCUIT_FAIL));
	assert_int_equal(circuit_get(c, 106), CIRCUIT_OPEN);
}

static void
open_it(struct circuit *c)
{
	assert_true(attempt(c, 0, CIRCUIT_FAIL));
	assert_true(attempt(c, 0, CIRCUIT_FAIL));
	assert_true(attempt(c, 0, CIRCUIT_FAIL));
	assert_int_equal(circuit_get(c, 0), CIRCUIT_OPEN);
}

static void
test_half_open_single_probe(void **state)
{
	struct circuit *c = *state;
	bool            probe, p2;

	open_it(c);
	assert_int_equal(circuit_get(c, OPEN_MS), CIRCUIT_HALF_OPEN);
	assert_int_equal(changes[CIRCUIT_HALF_OPEN], 1);
	assert_true(circuit_allow(c, OPEN_MS, &probe));
	assert_true(probe);
	/* while the probe is out, everyone else is refused */
	assert_false(circuit_allow(c, OPEN_MS + 1, &p2));
	assert_false(circuit_allow(c, OPEN_MS + 2, &p2));
	circuit_report(c, OPEN_MS + 5, probe, CIRCUIT_OK);
	assert_int_equal(circuit_get(c, OPEN_MS + 6), CIRCUIT_CLOSED);
	assert_int_equal(changes[CIRCUIT_CLOSED], 1);
	assert_true(circuit_allow(c, OPEN_MS + 7, &p2));
	assert_false(p2);
	circuit_report(c, OPEN_MS + 7, p2, CIRCUIT_OK);
	/* closed again: it takes the full threshold to re-open */
	assert_true(attempt(c, OPEN_MS + 8, CIRCUIT_FAIL));
	assert_int_equal(circuit_get(c, OPEN_MS + 9), CIRCUIT_CLOSED);
}

static void
test_bad_probe_reopens(void **state)
{
	struct circuit *c = *state;
	int64_t         t = OPEN_MS;
	bool            probe;

	open_it(c);
	assert_true(circuit_allow(c, t, &probe));
	assert_true(probe);
	circuit_report(c, t + 10, probe, CIRCUIT_FAIL);
	/* one failed probe is enough: open for another full period */
	assert_int_equal(circuit_get(c, t + 10), CIRCUIT_OPEN);
	assert_int_equal(changes[CIRCUIT_OPEN], 2);
	assert_false(attempt(c, t + 10 + OPEN_MS - 1, CIRCUIT_OK));
	assert_true(circuit_allow(c, t + 10 + OPEN_MS, &probe));
	assert_true(probe);
	/* a neutral probe (say a 400) decides nothing: probe again */
	circuit_report(c, t + 10 + OPEN_MS, probe, CIRCUIT_NEUTRAL);
	assert_int_equal(circuit_get(c, t + 11 + OPEN_MS), CIRCUIT_HALF_OPEN);
	assert_true(circuit_allow(c, t + 11 + OPEN_MS, &probe));
	assert_true(probe);
	circuit_report(c, t + 12 + OPEN_MS, probe, CIRCUIT_OK);
	assert_int_equal(circuit_get(c, t + 12 + OPEN_MS), CIRCUIT_CLOSED);
}

static void
test_lost_probe_replaced(void **state)
{
	struct circuit *c = *state;
	bool            probe;

	open_it(c);
	assert_true(circuit_allow(c, OPEN_MS, &probe));
	assert_true(probe);
	/* never reported: after another open period, a new probe */
	assert_false(circuit_allow(c, 2 * OPEN_MS - 1, &probe));
	assert_true(circuit_allow(c, 2 * OPEN_MS, &probe));
	assert_true(probe);
}

static void
test_late_success_closes(void **state)
{
	struct circuit *c = *state;
	bool            early;

	/* an attempt let through while closed ends after the circuit has
	 * opened: its success shows upstream is alive */
	assert_true(circuit_allow(c, 0, &early));
	open_it(c);
	circuit_report(c, 10, early, CIRCUIT_OK);
	assert_int_equal(circuit_get(c, 10), CIRCUIT_CLOSED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_opens_after_threshold, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_success_resets_count, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_half_open_single_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_bad_probe_reopens, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_lost_probe_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_late_success_closes, setup, teardown),
	};

	log_init("circuit_test");
	log_set_level("error");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
