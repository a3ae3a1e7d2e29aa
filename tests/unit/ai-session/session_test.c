/*
 * session_test - ai-session's call state machine (session.c): every
 * transition of the table is accepted and counted, refused ones are
 * counted as errors and leave the state alone, and ai_calls_in_state
 * always adds up to the calls that exist.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../../services/ai-session/ai.h"
#include "metrics.h"

/* The value of one series in the exposition text; -1 if absent. */
static double
value(const char *series)
{
	char  *text, *p;
	size_t len, n = strlen(series);
	double v = -1;

	text = metrics_render(&len);
	assert_non_null(text);
	for (p = text; (p = strstr(p, series)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == ' ') {
			v = strtod(p + n + 1, NULL);
			break;
		}
	free(text);
	return (v);
}

static double
transitions(enum call_state from, enum call_state to)
{
	char s[128];

	snprintf(s, sizeof(s),
	    "ai_call_state_transitions_total{from=\"%s\",to=\"%s\"}",
	    call_state_name(from), call_state_name(to));
	return (value(s));
}

static double
in_state(enum call_state which)
{
	char s[96];

	snprintf(s, sizeof(s), "ai_calls_in_state{state=\"%s\"}",
	    call_state_name(which));
	return (value(s));
}

static double
errors(void)
{
	return (value("ai_call_state_errors_total"));
}

/* Every transition counted so far, allowed or not rendered. */
static double
all_transitions(void)
{
	double sum = 0;
	int    f, t;

	for (f = 0; f < CALL_NSTATES; f++)
		for (t = 0; t < CALL_NSTATES; t++)
			if (call_state_allowed(f, t))
				sum += transitions(f, t);
	return (sum);
}

/* A new call brought to state s through allowed transitions. */
static struct call *
call_in(enum call_state s)
{
	static const enum call_state path[CALL_NSTATES][3] = {
		[CALL_NEW] = { CALL_NEW },
		[CALL_SETUP] = { CALL_SETUP },
		[CALL_LIVE] = { CALL_SETUP, CALL_LIVE },
		[CALL_RECONNECTING]
		= { CALL_SETUP, CALL_LIVE, CALL_RECONNECTING },
		[CALL_MOVING] = { CALL_SETUP, CALL_MOVING },
		[CALL_ENDING] = { CALL_SETUP, CALL_ENDING },
		[CALL_RECORDED] = { CALL_SETUP, CALL_ENDING, CALL_RECORDED },
	};
	struct call *c = call_new("CAstate", "0123");
	int          i;

	for (i = 0; i < 3 && path[s][i] != CALL_NEW; i++)
		assert_int_equal(session_set_state(c, path[s][i]), 0);
	assert_int_equal(c->state, s);
	return (c);
}

static void
assert_gauge_empty(void)
{
	int s;

	for (s = 0; s < CALL_NSTATES; s++)
		assert_true(in_state(s) == 0);
}

static void
test_names(void **state)
{
	int s;

	(void)state;
	assert_string_equal(call_state_name(CALL_NEW), "new");
	assert_string_equal(call_state_name(CALL_RECORDED), "recorded");
	assert_string_equal(call_state_name(CALL_NSTATES), "invalid");
	for (s = 0; s < CALL_NSTATES; s++) {
		assert_non_null(call_state_name(s));
		assert_false(call_state_allowed(s, s)); /* no self loop */
		assert_false(call_state_allowed(s, CALL_NEW));
		assert_false(call_state_allowed(s, CALL_NSTATES));
		assert_false(call_state_allowed(CALL_NSTATES, s));
		/* every state but the last leads on; recorded is final */
		if (s != CALL_RECORDED) {
			assert_true(call_state_allowed(s, CALL_ENDING)
			    || call_state_allowed(s, CALL_RECORDED));
		}
		assert_false(call_state_allowed(CALL_RECORDED, s));
	}
}

/* Each allowed transition: accepted, counted once, gauge follows. */
static void
test_allowed(void **state)
{
	struct call *c;
	double       before, err0 = errors();
	int          f, t, n = 0;

	(void)state;
	for (f = 0; f < CALL_NSTATES; f++)
		for (t = 0; t < CALL_NSTATES; t++) {
			if (!call_state_allowed(f, t))
				continue;
			c = call_in(f);
			before = transitions(f, t);
			assert_true(in_state(f) == 1);
			assert_int_equal(session_set_state(c, t), 0);
			assert_int_equal(c->state, t);
			assert_true(transitions(f, t) == before + 1);
			assert_true(in_state(f) == 0);
			assert_true(in_state(t) == 1);
			call_free(c);
			assert_gauge_empty();
			n++;
		}
	assert_int_equal(n, 14); /* the table in session.c */
	assert_true(errors() == err0);
}

/* A sample of refused ones: counted as errors, nothing else moves. */
static void
test_refused(void **state)
{
	static const enum call_state bad[][2] = {
		{ CALL_NEW, CALL_LIVE },
		{ CALL_NEW, CALL_RECORDED },
		{ CALL_NEW, CALL_NEW },
		{ CALL_SETUP, CALL_RECONNECTING },
		{ CALL_SETUP, CALL_SETUP },
		{ CALL_LIVE, CALL_SETUP },
		{ CALL_LIVE, CALL_LIVE },
		{ CALL_LIVE, CALL_RECORDED },
		{ CALL_RECONNECTING, CALL_RECONNECTING },
		{ CALL_RECONNECTING, CALL_SETUP },
		{ CALL_MOVING, CALL_LIVE },
		{ CALL_MOVING, CALL_RECORDED },
		{ CALL_ENDING, CALL_LIVE },
		{ CALL_ENDING, CALL_MOVING },
		{ CALL_ENDING, CALL_ENDING },
		{ CALL_RECORDED, CALL_ENDING },
		{ CALL_RECORDED, CALL_NEW },
		{ CALL_LIVE, CALL_NSTATES },
	};
	struct call *c;
	double       err, total;
	size_t       i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = call_in(bad[i][0]);
		err = errors();
		total = all_transitions();
		assert_int_equal(session_set_state(c, bad[i][1]), -1);
		assert_int_equal(c->state, bad[i][0]);
		assert_true(errors() == err + 1);
		assert_true(all_transitions() == total);
		assert_true(in_state(bad[i][0]) == 1);
		call_free(c);
		assert_gauge_empty();
	}
}

/* Many calls in many states: the gauge counts each call once. */
static void
test_gauge(void **state)
{
	struct call *c[3 * CALL_NSTATES];
	int          i, s;
	double       sum;

	(void)state;
	for (i = 0; i < 3 * CALL_NSTATES; i++)
		c[i] = call_in(i % CALL_NSTATES);
	for (s = 0; s < CALL_NSTATES; s++)
		assert_true(in_state(s) == 3);
	/* the live ones lose their model; the rest go on */
	for (i = 0; i < 3 * CALL_NSTATES; i++)
		if (c[i]->state == CALL_LIVE)
			assert_int_equal(
			    session_set_state(c[i], CALL_RECONNECTING), 0);
	assert_true(in_state(CALL_LIVE) == 0);
	assert_true(in_state(CALL_RECONNECTING) == 6);
	for (sum = 0, s = 0; s < CALL_NSTATES; s++)
		sum += in_state(s);
	assert_true(sum == 3 * CALL_NSTATES);
	for (i = 0; i < 3 * CALL_NSTATES; i++)
		call_free(c[i]);
	assert_gauge_empty();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_allowed),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_gauge),
	};

	log_level = LOG_LVL_FATAL; /* the refused changes are logged */
	metrics_init("ai-session", "test");
	stats_init();
	session_stats_init();
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
