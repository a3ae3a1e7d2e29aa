/*
 * jobs_test - ai-session's job queue when it is full (jobs.c): with one
 * thread and room for one waiting job, both held by jobs that block, a
 * call record and a HangUp are deferred (ai_jobs_deferred_total{kind})
 * and still go out, in order, once the queue has room again: the HangUp
 * reaches a media-edge request socket played by this test.  A context
 * fetch is refused instead (-1, the caller keeps its argument,
 * ai_jobs_refused_total{kind}).  At shutdown, what is still deferred
 * runs all the same.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>

#include "../../../services/ai-session/ai.h"
#include "metrics.h"
#include "wire.h"

static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  cond = PTHREAD_COND_INITIALIZER;
static bool            released; /* {mtx} */
static int             blocked; /* {mtx}: blockers running */
static char            order[16]; /* {mtx}: kept jobs as they ran */

static void
blocker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mtx);
	blocked++;
	pthread_cond_broadcast(&cond);
	while (!released)
		pthread_cond_wait(&cond, &mtx);
	pthread_mutex_unlock(&mtx);
}

static void
mark(void *arg)
{
	pthread_mutex_lock(&mtx);
	strncat(order, arg, sizeof(order) - strlen(order) - 1);
	pthread_mutex_unlock(&mtx);
}

static void
never(void *arg)
{
	fail_msg("a refused job ran (%s)", (const char *)arg);
}

static double
series(const char *family_line)
{
	size_t len = 0, n = strlen(family_line);
	char  *text = metrics_render(&len), *p;
	double v = -1;

	for (p = text; p != NULL && (p = strstr(p, family_line)) != NULL;
	     p += n)
		if ((p == text || p[-1] == '\n') && p[n] == ' ') {
			v = strtod(p + n + 1, NULL);
			break;
		}
	free(text);
	return (v);
}

/* Fill the queue: one blocker running, one waiting. */
static void
fill(void)
{
	released = false;
	blocked = 0;
	assert_int_equal(jobs_push("test", blocker, NULL), 0);
	pthread_mutex_lock(&mtx);
	while (blocked == 0)
		pthread_cond_wait(&cond, &mtx);
	pthread_mutex_unlock(&mtx);
	assert_int_equal(jobs_push("test", blocker, NULL), 0);
}

static void
release(void)
{
	pthread_mutex_lock(&mtx);
	released = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mtx);
}

static void
test_full_queue(void **state)
{
	const char     *url = "inproc://jobs_test_edge";
	nng_socket      edge;
	nng_msg        *msg, *rmsg;
	Bus__Envelope  *env, rep = BUS__ENVELOPE__INIT;
	Bus__Ack        ack = BUS__ACK__INIT;
	struct wire_ids ids;
	int             i;

	(void)state;
	assert_int_equal(nng_rep0_open(&edge), 0);
	assert_int_equal(nng_listen(edge, url, NULL, 0), 0);
	assert_int_equal(nng_socket_set_ms(edge, NNG_OPT_RECVTIMEO, 5000), 0);

	fill();
	/* what must not be lost waits for room */
	jobs_push_kept("record", mark, "r");
	jobs_hangup(url, "CAfull1", "", "end_call", false);
	jobs_push_kept("turn", mark, "t");
	assert_true(series("ai_jobs_deferred_total{kind=\"record\"}") == 1);
	assert_true(series("ai_jobs_deferred_total{kind=\"hangup\"}") == 1);
	assert_true(series("ai_jobs_deferred_total{kind=\"turn\"}") == 1);
	/* the rest is refused and stays the caller's */
	assert_int_equal(jobs_push("context", never, "context"), -1);
	assert_true(series("ai_jobs_refused_total{kind=\"context\"}") == 1);
	nng_msleep(100); /* several retries refused meanwhile */
	pthread_mutex_lock(&mtx);
	assert_string_equal(order, "");
	pthread_mutex_unlock(&mtx);

	release();
	/* the HangUp reaches media-edge */
	assert_int_equal(nng_recvmsg(edge, &msg, 0), 0);
	assert_int_equal(wire_unpack(msg, &env), 0);
	nng_msg_free(msg);
	assert_int_equal(env->body_case, BUS__ENVELOPE__BODY_HANG_UP);
	assert_string_equal(env->call_sid, "CAfull1");
	assert_string_equal(env->hang_up->reason, "end_call");
	wire_env_init(&rep, &ids, "CAfull1", "");
	rep.body_case = BUS__ENVELOPE__BODY_ACK;
	rep.ack = &ack;
	assert_int_equal(wire_pack(&rep, &rmsg), 0);
	assert_int_equal(nng_sendmsg(edge, rmsg, 0), 0);
	wire_free(env);
	/* and the record before it, the turn after it */
	for (i = 0; i < 100; i++) {
		pthread_mutex_lock(&mtx);
		if (strcmp(order, "rt") == 0)
			i = 1000;
		pthread_mutex_unlock(&mtx);
		nng_msleep(20);
	}
	pthread_mutex_lock(&mtx);
	assert_string_equal(order, "rt");
	order[0] = '\0';
	pthread_mutex_unlock(&mtx);
	nng_close(edge);
}

/* Deferred when shutdown begins: run before jobs_stop() returns. */
static void
test_deferred_at_stop(void **state)
{
	(void)state;
	fill();
	jobs_push_kept("record", mark, "R");
	release();
	jobs_stop(5000);
	pthread_mutex_lock(&mtx);
	assert_string_equal(order, "R");
	pthread_mutex_unlock(&mtx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_queue),
		cmocka_unit_test(test_deferred_at_stop),
	};
	int rv;

	metrics_init("ai-session", "test");
	cfg.request_timeout_ms = 2000;
	if (jobs_start(1, 1) != 0)
		return (1);
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	jobs_close();
	return (rv);
}
