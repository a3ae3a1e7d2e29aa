/*
 * edge_handover_test - calls move between two real ai-sessions and every
 * caller frame reaches a model: exactly once on a graceful move, with a
 * bounded repeat on a kill -9.
 *
 * The whole stack (ops_stack.h) with two ai-sessions behind media-edge
 * and sim-openai in conversation mode reading sim-caller's frame tags
 * (a per-call counter in the first four bytes of each frame) and
 * recording every input_audio_buffer.append with its tag and model
 * socket.  CALLS calls of CALL_MS run while both ai-sessions are stopped
 * one after the other and restarted, so that every call moves at least
 * once:
 *
 *   SIGTERM: each holder acknowledges what it wrote to the model and
 *	releases its calls (AudioAck{released}); media-edge replays exactly
 *	the frames after that.  Every tag up to the last second of the
 *	calls reaches a model CALLS times: 0 lost, 0 duplicated.
 *   kill -9: media-edge replays what the dead holder had not
 *	acknowledged.  0 lost; the duplicates (frames written after the
 *	last ack, at most AI_AUDIO_ACK_MS plus the frames in flight) are
 *	counted and bounded by 1 s per move.
 *
 * Duplicates per move: a resumed model socket's first tag against the
 * last tag of the socket that held the call before (the one whose range
 * it continues).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "ops_stack.h"

#define CALLS 4
#define CALL_MS 14000
#define MAX_TAG (CALL_MS / 20 + 200)
#define MAX_CONNS 64

static struct ops_stack S;
static bool             up;

struct conn {
	long     id;
	uint32_t first, last;
	long     n;
};

struct tally {
	int         count[MAX_TAG + 1]; /* appends per tag, all sockets */
	struct conn conns[MAX_CONNS];
	int         nconns;
	long        appends;
};

static int
teardown(void **state)
{
	(void)state;
	if (!up)
		return (0);
	up = false;
	return (ops_stack_stop(&S) == 0 ? 0 : -1);
}

static double
edge_metric(const char *series)
{
	char        url[96], *body = NULL;
	const char *p;
	long        status = 0;
	double      v = 0; /* absent: none counted */
	size_t      n = strlen(series);

	snprintf(
	    url, sizeof(url), "http://127.0.0.1:%d/metrics", S.http[OPS_EDGE]);
	if (harness_http("GET", url, NULL, NULL, &status, &body) != 0)
		return (-1);
	for (p = body; (p = strstr(p, series)) != NULL; p += n)
		if ((p == body || p[-1] == '\n') && p[n] == ' ') {
			v = strtod(p + n + 1, NULL);
			break;
		}
	free(body);
	return (v);
}

static struct conn *
conn_get(struct tally *t, long id)
{
	int i;

	for (i = 0; i < t->nconns; i++)
		if (t->conns[i].id == id)
			return (&t->conns[i]);
	assert_true(t->nconns < MAX_CONNS);
	memset(&t->conns[t->nconns], 0, sizeof(t->conns[0]));
	t->conns[t->nconns].id = id;
	return (&t->conns[t->nconns++]);
}

/* Every tagged append of the record file. */
static void
tally_read(struct tally *t, const char *path)
{
	char        *line = NULL;
	size_t       cap = 0;
	FILE        *f;
	json_t      *o;
	json_int_t   tag;
	struct conn *c;

	memset(t, 0, sizeof(*t));
	assert_non_null(f = fopen(path, "r"));
	while (getline(&line, &cap, f) > 0) {
		if ((o = json_loads(line, 0, NULL)) == NULL)
			continue;
		if (json_object_get(o, "tag") != NULL
		    && strcmp(json_string_value(json_object_get(o, "type")),
		           "input_audio_buffer.append")
		        == 0) {
			tag = json_integer_value(json_object_get(o, "tag"));
			if (tag >= 1 && tag <= MAX_TAG) {
				t->count[tag]++;
				t->appends++;
				c = conn_get(t,
				    (long)json_integer_value(
				        json_object_get(o, "conn")));
				if (c->n == 0)
					c->first = (uint32_t)tag;
				c->last = (uint32_t)tag;
				c->n++;
			}
		}
		json_decref(o);
	}
	free(line);
	fclose(f);
}

/*
 * The frames a move repeated: for each model socket that took a call
 * over (its first tag is not 1), the socket it continues is the one whose
 * tags run up to just before or into its first tag; what they share was
 * heard twice.  The largest over all moves; *moves counts them.
 */
static long
max_repeat(const struct tally *t, int *moves)
{
	const struct conn *r, *p, *best;
	long               most = 0, over;
	int                i, j;

	*moves = 0;
	for (i = 0; i < t->nconns; i++) {
		r = &t->conns[i];
		if (r->first <= 1)
			continue;
		best = NULL;
		for (j = 0; j < t->nconns; j++) {
			p = &t->conns[j];
			if (p == r || p->first >= r->first
			    || p->last + 1 < r->first)
				continue;
			/* the closest end: another call's socket may span
			 * it as well, ending later */
			if (best == NULL || p->last < best->last)
				best = p;
		}
		if (best == NULL)
			continue;
		(*moves)++;
		over = (long)best->last + 1 - (long)r->first;
		if (over > most)
			most = over;
	}
	return (most);
}

/* Stop (SIGTERM, or kill -9) one ai-session and start it again. */
static void
fault(struct harness_proc **pp, const char *const *envv, bool kill9)
{
	if (kill9) {
		harness_kill9(*pp);
		sleep(1); /* an orchestrator's restart delay */
	} else
		assert_int_equal(harness_stop(*pp, 15000), 0);
	assert_non_null(*pp = harness_spawn("ai-session", envv));
}

static void
run(bool kill9)
{
	const char  *t = harness_tmpdir(), *how = kill9 ? "kill9" : "sigterm";
	char         report[512];
	json_t      *rep;
	struct tally ta;
	long         sent, per_call, cutoff, lost = 0, dup = 0, most;
	int          i, moves;

	snprintf(
	    ops_oai_record, sizeof(ops_oai_record), "%s/oai-%s.jsonl", t, how);
	snprintf(report, sizeof(report), "%s/caller-%s.json", t, how);
	assert_int_equal(ops_stack_start_opts(&S, "conversation", true), 0);
	up = true;
	assert_int_equal(
	    ops_sh(NULL,
	        "%s/sim-caller --url ws://127.0.0.1:%d/media "
	        "--calls %d --ramp-ms 300 --duration-ms %d --tags "
	        "--token-secret " OPS_STREAM_SECRET " --report %s "
	        ">/dev/null 2>%s/caller-%s.log &",
	        ops_bin(), S.http[OPS_EDGE], CALLS, CALL_MS, report, t, how),
	    0);
	for (i = 0; i < 100 && edge_metric("edge_active_calls") < CALLS; i++)
		usleep(100000);
	assert_true(edge_metric("edge_active_calls") == CALLS);
	sleep(3);
	/* every call moves at least once: both holders go, in turn */
	fault(&S.proc[OPS_AI], S.envv[OPS_AI], kill9);
	sleep(3);
	fault(&S.ai2, S.ai2_envv, kill9);

	assert_non_null(rep = ops_caller_report(report, CALL_MS + 30000));
	assert_int_equal(
	    json_integer_value(json_object_get(rep, "completed")), CALLS);
	sent = (long)json_integer_value(json_object_get(rep, "frames_sent"));
	json_decref(rep);
	/* the model sockets close after the calls: the record is whole */
	sleep(2);
	tally_read(&ta, ops_oai_record);
	/* the last second of each call may end before it is passed on */
	per_call = sent / CALLS;
	cutoff = per_call - 50;
	assert_true(cutoff > 300);
	for (i = 1; i <= MAX_TAG; i++) {
		if (i <= cutoff && ta.count[i] < CALLS)
			lost += CALLS - ta.count[i];
		if (ta.count[i] > CALLS)
			dup += ta.count[i] - CALLS;
	}
	most = max_repeat(&ta, &moves);
	print_message("handover %s: %d calls, %ld frames sent (%ld per call), "
	              "%ld tagged appends on %d model sockets; frames 1..%ld: "
	              "%ld lost; %ld duplicated in all, at most %ld (%.2f s) "
	              "at one of %d moves\n",
	    how, CALLS, sent, per_call, ta.appends, ta.nconns, cutoff, lost,
	    dup, most, (double)most * 0.02, moves);
	print_message("handover %s: media-edge acks ok %.0f, released %.0f, "
	              "bad %.0f, stale %.0f; frames replayed %.0f; resumes "
	              "%.0f\n",
	    how, edge_metric("edge_audio_acks_total{result=\"ok\"}"),
	    edge_metric("edge_audio_acks_total{result=\"released\"}"),
	    edge_metric("edge_audio_acks_total{result=\"bad_ack\"}"),
	    edge_metric("edge_audio_acks_total{result=\"stale\"}"),
	    edge_metric("edge_audio_frames_total{direction=\"replayed\"}"),
	    edge_metric("edge_session_resumes_total"));
	assert_true(moves >= CALLS);
	assert_int_equal(lost, 0);
	if (kill9) {
		assert_true(most <= 50); /* 1 s of audio per move */
	} else {
		assert_int_equal(dup, 0);
		assert_true(
		    edge_metric("edge_audio_acks_total{result=\"released\"}")
		    >= CALLS);
	}
}

static void
test_sigterm(void **state)
{
	(void)state;
	run(false);
}

static void
test_kill9(void **state)
{
	(void)state;
	run(true);
}

int
main(void)
{
	const char             *top = getenv("TOP_DIR");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_sigterm, teardown),
		cmocka_unit_test_teardown(test_kill9, teardown),
	};

	if (top != NULL && chdir(top) != 0)
		return (1);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
