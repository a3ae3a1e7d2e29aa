/*
 * ai_lifecycle_test - a whole call through the real ai-session, persister
 * (on the test PostgreSQL) and reasoner (on sim-anthropic), with
 * sim-openai as the model and this process as media-edge.
 *
 *   conversation: the call context from persister reaches the model's
 *                 instructions; consult_reasoner asks the reasoner and the
 *                 answer goes back to the model; end_call hangs up after
 *                 the goodbye; each turn is stored as it happens; the call
 *                 record has the transcript ("AI: ..."/"User: ..."), the
 *                 summary, the outcome and the duration, and the lead's
 *                 status changed.
 *   voicemail:    an answering machine (answered_by) gets the configured
 *                 message, then HangUp; outcome voicemail.
 *   summary late: Anthropic down for the whole call: the record is stored
 *                 with summary_pending, and completed once it is back.
 *   journal:      kill -9 with a record persister has not acknowledged:
 *                 the next start sends it from AI_JOURNAL_DIR.
 *   unanswered:   SIGTERM while persister takes requests and never
 *                 answers (stopped): the shutdown ends in its budget with
 *                 exit 0, the records kept in the journal; the next start
 *                 stores them, whole.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "ai_fake_edge.h"
#include "db_fixture.h"
#include "pgtest.h"
#include "reasoner_fixture.h"

#define FRAME 160

struct life {
	struct pgtest_schema db;
	struct dbfx_proc     per;
	struct fx            rsn;
	struct harness_proc *oai, *ai;
	struct fedge         fe;
	char                 rec[512];
	char                 ai_url[256], ai_pub[256];
	int                  http_port;
	int                  nai; /* ai-sessions started */
};

static int nlife;

static void
seed(struct life *l, const char *sid)
{
	char sql[1024];

	snprintf(sql, sizeof(sql),
	    "INSERT INTO businesses (id, name, description, voicemail_message)"
	    " VALUES ('biz1', 'Acme Plumbing', 'Boilers and heating', "
	    "'Hi, this is Acme Plumbing about your boiler service. Please "
	    "call "
	    "us back.') ON CONFLICT DO NOTHING;"
	    "INSERT INTO leads (id, business_id, name) VALUES ('lead1', "
	    "'biz1', 'Dana') ON CONFLICT DO NOTHING;"
	    "INSERT INTO calls (call_sid, direction, lead_id, business_id, "
	    "objective) VALUES ('%s', 'outbound', 'lead1', 'biz1', "
	    "'Book the yearly boiler service.')",
	    sid);
	assert_int_equal(pgtest_exec(l->db.dsn, sql), 0);
}

/* One more ai-session on the life's model, persister and reasoner;
 * extra: one more NAME=value or NULL. */
static struct harness_proc *
ai_spawn(struct life *l, char *ai_url, char *ai_pub, int *http_port,
    const char *extra)
{
	const char          *envv[32];
	char                 url[160], lu[300], pu[300], port[48], per[300];
	char                 rsn[300], name[32];
	struct harness_proc *p;
	int                  j = 0;

	l->nai++;
	snprintf(name, sizeof(name), "lai%d_%d", nlife, l->nai);
	snprintf(ai_url, 256, "%s", harness_ipc_url(name));
	snprintf(name, sizeof(name), "laipub%d_%d", nlife, l->nai);
	snprintf(ai_pub, 256, "%s", harness_ipc_url(name));
	*http_port = harness_free_port();
	snprintf(url, sizeof(url),
	    "OPENAI_REALTIME_URL=ws://127.0.0.1:%d/"
	    "v1/realtime?model=gpt-realtime-2",
	    harness_ready_port(l->oai));
	snprintf(lu, sizeof(lu), "AI_LISTEN_URL=%s", ai_url);
	snprintf(pu, sizeof(pu), "AI_PUB_URL=%s", ai_pub);
	snprintf(port, sizeof(port), "AI_HTTP_PORT=%d", *http_port);
	snprintf(per, sizeof(per), "PERSISTER_URL=%s", l->per.url);
	snprintf(rsn, sizeof(rsn), "REASONER_URL=%s", l->rsn.url);
	envv[j++] = url;
	envv[j++] = lu;
	envv[j++] = pu;
	envv[j++] = port;
	envv[j++] = per;
	envv[j++] = rsn;
	envv[j++] = "AI_HTTP_ADDR=127.0.0.1";
	envv[j++] = "OPENAI_API_KEY=sk-test";
	envv[j++] = "AI_SUMMARY_RETRY_MS=300";
	envv[j++] = "AI_RECORD_RETRY_MAX_MS=500";
	envv[j++] = "AI_REASON_TIMEOUT_MS=3000";
	envv[j++] = "LOG_LEVEL=debug";
	if (extra != NULL)
		envv[j++] = extra;
	envv[j] = NULL;
	p = harness_spawn("ai-session", envv);
	assert_non_null(p);
	return (p);
}

static void
life_up(struct life *l, const char *script, const char *const *oai_args,
    const char *const *anth_args)
{
	const char *argv[16];
	char        name[32];
	int         i = 0;

	memset(l, 0, sizeof(*l));
	nlife++;
	assert_int_equal(pgtest_schema_new(&l->db, 1), 0);
	snprintf(name, sizeof(name), "per%d", nlife);
	{
		char spool[300];

		snprintf(spool, sizeof(spool), "%s/spool%d", harness_tmpdir(),
		    nlife);
		assert_int_equal(dbfx_start(&l->per, "persister", name,
		                     l->db.dsn, spool, NULL),
		    0);
	}
	assert_int_equal(fx_start(&l->rsn, anth_args,
	                     (const char *[]) { "REASONER_CIRCUIT_OPEN_MS=300",
	                         "REASONER_MAX_RETRIES=0", NULL }),
	    0);

	snprintf(l->rec, sizeof(l->rec), "%s/life%d.jsonl", harness_tmpdir(),
	    nlife);
	argv[i++] = "--port";
	argv[i++] = "0";
	argv[i++] = "--record";
	argv[i++] = l->rec;
	if (script != NULL) {
		argv[i++] = "--script";
		argv[i++] = script;
	}
	while (oai_args != NULL && *oai_args != NULL)
		argv[i++] = *oai_args++;
	argv[i] = NULL;
	l->oai = harness_spawn_args("sim-openai", argv, NULL);
	assert_non_null(l->oai);

	l->ai = ai_spawn(l, l->ai_url, l->ai_pub, &l->http_port, NULL);
	assert_int_equal(fe_open(&l->fe, l->ai_url, l->ai_pub), 0);
}

static void
life_down(struct life *l)
{
	fe_close(&l->fe);
	assert_int_equal(harness_stop(l->ai, 10000), 0);
	assert_int_equal(harness_stop(l->oai, 5000), 0);
	fx_stop(&l->rsn);
	dbfx_stop(&l->per);
	nng_close(l->per.req);
	pgtest_schema_drop(&l->db);
}

static void
speak(struct life *l, const char *sid, bool tone, int ms)
{
	long long next = fe_now();
	int       i;

	for (i = 0; i < ms / 20; i++) {
		fe_frame(&l->fe, sid, 0, tone, FRAME);
		next += 20;
		while (fe_now() < next)
			nng_msleep(1);
	}
}

/* The caller says something, then listens until the model has answered
 * and its audio has played (or until_ms passed). */
static void
turn(struct life *l, const char *sid, int until_ms)
{
	long      before = fe_get(&l->fe, &l->fe.audio_frames);
	long long end;

	speak(l, sid, true, 500);
	end = fe_now() + until_ms;
	while (fe_now() < end) {
		speak(l, sid, false, 100);
		if (fe_get(&l->fe, &l->fe.audio_frames) > before) {
			/* answering: let it finish playing */
			pthread_mutex_lock(&l->fe.mtx);
			if (l->fe.play_end_ms + 300 < fe_now()
			    && l->fe.npending == 0) {
				pthread_mutex_unlock(&l->fe.mtx);
				return;
			}
			pthread_mutex_unlock(&l->fe.mtx);
		}
	}
}

static char *
db_text(struct life *l, const char *sql)
{
	char *out = NULL;

	if (pgtest_query_text(l->db.dsn, sql, &out) != 0)
		return (NULL);
	return (out);
}

/* Wait until sql returns a non-NULL text (or timeout); the text or NULL. */
static char *
db_wait(struct life *l, const char *sql, int timeout_ms)
{
	long long end = fe_now() + timeout_ms;
	char     *s;

	for (;;) {
		if ((s = db_text(l, sql)) != NULL)
			return (s);
		if (fe_now() > end)
			return (NULL);
		nng_msleep(50);
	}
}

static void
test_conversation(void **state)
{
	struct life l;
	json_t     *a;
	char        script[600], *s;
	FILE       *f;
	long        n;

	(void)state;
	snprintf(script, sizeof(script), "%s/life.json", harness_tmpdir());
	f = fopen(script, "w");
	assert_non_null(f);
	fprintf(f,
	    "{\"steps\":["
	    "{\"say\":\"Hi Dana, this is Sam from Acme Plumbing.\","
	    "\"audio_ms\":600},"
	    "{\"call\":\"consult_reasoner\",\"arguments\":{\"question\":"
	    "\"Is Thursday at ten free?\"}},"
	    "{\"say_output\":true,\"audio_ms\":600},"
	    "{\"call\":\"end_call\",\"arguments\":{\"reason\":\"done\"}}],"
	    "\"heard\":[\"Hello?\",\"Can you come Thursday?\","
	    "\"Great, thanks, bye.\"]}\n");
	fclose(f);
	life_up(&l, script, NULL, NULL);
	seed(&l, "CAlife1");
	assert_int_equal(fe_start(&l.fe, "CAlife1", NULL, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	turn(&l, "CAlife1", 4000); /* greeting */
	turn(&l, "CAlife1", 6000); /* tool call, then the answer */
	a = fe_records_wait(l.rec, "conversation.item.create", 1, 5000);
	assert_int_equal(json_array_size(a), 1);
	s = (char *)json_string_value(
	    json_object_get(json_array_get(a, 0), "output"));
	assert_non_null(s);
	assert_non_null(strstr(s, "answer"));
	json_decref(a);
	turn(&l, "CAlife1", 3000); /* end_call */
	assert_int_equal(fe_wait(&l.fe, &l.fe.hangups, 1, 8000), 0);
	print_message("hangup: %s\n", l.fe.hangup_reason);

	/* the instructions carried the call context */
	a = fe_records(l.rec, "session.update");
	assert_true(json_integer_value(json_object_get(
	                json_array_get(a, 0), "instructions_len"))
	    > 400);
	json_decref(a);

	s = db_wait(&l,
	    "SELECT transcript FROM calls WHERE call_sid = "
	    "'CAlife1' AND summary IS NOT NULL AND NOT summary_pending",
	    10000);
	assert_non_null(s);
	print_message("transcript:\n%s\n", s);
	assert_true(
	    strncmp(s, "User: Hello?", 12) == 0 || strncmp(s, "AI: ", 4) == 0);
	assert_non_null(strstr(s, "AI: Hi Dana"));
	assert_non_null(strstr(s, "User: Can you come Thursday?"));
	free(s);
	s = db_text(&l,
	    "SELECT outcome FROM calls WHERE call_sid = "
	    "'CAlife1'");
	assert_non_null(s);
	print_message("outcome: %s\n", s);
	free(s);
	assert_int_equal(
	    pgtest_query_int(l.db.dsn,
	        "SELECT duration_s FROM "
	        "calls WHERE call_sid = 'CAlife1' AND duration_s >= 1",
	        &n),
	    0);
	s = db_text(&l, "SELECT status FROM leads WHERE id = 'lead1'");
	assert_non_null(s);
	assert_string_not_equal(s, "new");
	free(s);
	/* each turn was stored as it happened */
	assert_int_equal(pgtest_query_int(l.db.dsn,
	                     "SELECT count(*) FROM "
	                     "transcript_turns WHERE call_sid = 'CAlife1'",
	                     &n),
	    0);
	assert_true(n >= 4);
	life_down(&l);
}

static void
test_voicemail(void **state)
{
	struct life l;
	char       *s;
	long long   end;

	(void)state;
	life_up(&l, NULL, NULL, NULL);
	seed(&l, "CAvm1");
	assert_int_equal(fe_start(&l.fe, "CAvm1", "machine_end_beep", NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	end = fe_now() + 8000;
	while (fe_get(&l.fe, &l.fe.hangups) == 0 && fe_now() < end)
		speak(&l, "CAvm1", false, 100);
	assert_int_equal(fe_get(&l.fe, &l.fe.hangups), 1);
	assert_string_equal(l.fe.hangup_reason, "voicemail");
	/* the message was spoken before the hang-up */
	assert_true(fe_get(&l.fe, &l.fe.audio_frames) > 10);
	s = db_wait(&l,
	    "SELECT outcome FROM calls WHERE call_sid = 'CAvm1' "
	    "AND outcome IS NOT NULL AND ended_at IS NOT NULL",
	    10000);
	assert_non_null(s);
	assert_string_equal(s, "voicemail");
	free(s);
	s = db_text(&l,
	    "SELECT answered_by FROM calls WHERE call_sid = "
	    "'CAvm1'");
	assert_string_equal(s, "machine_end_beep");
	free(s);
	life_down(&l);
}

static void
test_summary_later(void **state)
{
	struct life l;
	char       *s;

	(void)state;
	life_up(&l, NULL, NULL, (const char *[]) { "--down", NULL });
	seed(&l, "CAlate1");
	assert_int_equal(fe_start(&l.fe, "CAlate1", NULL, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	turn(&l, "CAlate1", 4000);
	assert_int_equal(fe_end(&l.fe, "CAlate1"), BUS__ENVELOPE__BODY_ACK);
	/* stored at once, summary pending */
	s = db_wait(&l,
	    "SELECT transcript FROM calls WHERE call_sid = "
	    "'CAlate1' AND summary_pending AND ended_at IS NOT NULL",
	    10000);
	assert_non_null(s);
	free(s);
	/* no hang-up: media-edge ended the call */
	assert_int_equal(fe_get(&l.fe, &l.fe.hangups), 0);
	fx_sim_mode(&l.rsn, "{\"down\":false}");
	s = db_wait(&l,
	    "SELECT summary::text FROM calls WHERE call_sid = "
	    "'CAlate1' AND NOT summary_pending",
	    15000);
	assert_non_null(s);
	print_message("summary later: %s\n", s);
	free(s);
	life_down(&l);
}

/* ai-session died and media-edge hands the call to another one: the
 * stored turns go into the instructions, the model speaks first, the
 * numbering of turns goes on after the stored ones. */
static void
test_resume(void **state)
{
	struct life l;
	json_t     *a;
	char       *s;
	long        n;

	(void)state;
	life_up(&l, NULL, NULL, NULL);
	seed(&l, "CAres1");
	assert_int_equal(
	    pgtest_exec(l.db.dsn,
	        "INSERT INTO transcript_turns (call_sid, seq, role, text) "
	        "VALUES "
	        "('CAres1', 1, 'assistant', 'Hi Dana, this is Sam from "
	        "Acme.'),"
	        "('CAres1', 2, 'user', 'Oh hello, yes I remember.')"),
	    0);
	assert_int_equal(fe_start_ex(&l.fe, "CAres1", NULL, 2, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	/* the model speaks first: a response without any caller turn */
	assert_int_equal(fe_wait(&l.fe, &l.fe.audio_frames, 5, 5000), 0);
	a = fe_records(l.rec, "session.update");
	/* base + context + the two stored turns */
	assert_true(json_integer_value(json_object_get(
	                json_array_get(a, 0), "instructions_len"))
	    > 500);
	json_decref(a);
	turn(&l, "CAres1", 4000);
	assert_int_equal(fe_end(&l.fe, "CAres1"), BUS__ENVELOPE__BODY_ACK);
	s = db_wait(&l,
	    "SELECT transcript FROM calls WHERE call_sid = "
	    "'CAres1' AND ended_at IS NOT NULL AND transcript <> ''",
	    10000);
	assert_non_null(s);
	print_message("resumed transcript:\n%s\n", s);
	assert_true(strncmp(s,
	                "AI: Hi Dana, this is Sam from Acme.\nUser: "
	                "Oh hello, yes I remember.\nAI: ",
	                71)
	    == 0);
	free(s);
	/* the new turns were stored after the old ones, none overwritten */
	assert_int_equal(
	    pgtest_query_int(l.db.dsn,
	        "SELECT min(seq) FROM "
	        "transcript_turns WHERE call_sid = 'CAres1' AND seq > 2",
	        &n),
	    0);
	assert_int_equal(n, 3);
	assert_int_equal(
	    pgtest_query_int(l.db.dsn,
	        "SELECT count(*) FROM "
	        "transcript_turns WHERE call_sid = 'CAres1' AND seq <= 2 AND ("
	        "text LIKE '%Acme.' OR text LIKE 'Oh hello%')",
	        &n),
	    0);
	assert_int_equal(n, 2);
	life_down(&l);
}

/*
 * SIGTERM of the ai-session holding a call: it stores a partial record
 * (version 0) and media-edge hands the call to another ai-session
 * (holder 1), whose final record supersedes it: one row with the whole
 * transcript, the real end and duration, no duplicate.  With
 * persister_down, persister is stopped during the move: the new holder
 * gets the turns media-edge carried (SessionStart.turns), asks persister
 * once, and its record is stored, whole, once persister is back.
 */
static void
move_call(const char *sid, bool persister_down)
{
	struct life          l;
	struct harness_proc *ai2;
	char                 url2[256], pub2[256], *part, *s, sql[400];
	int                  port2;
	long                 n, seq;
	int64_t              t0;
	json_t              *turns = NULL;

	life_up(&l, NULL, NULL, NULL);
	ai2 = ai_spawn(&l, url2, pub2, &port2, NULL);
	seed(&l, sid);
	t0 = wire_now_ms();
	assert_int_equal(fe_start_held(&l.fe, sid, NULL, 0, 0, t0, NULL, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	turn(&l, sid, 4000);
	snprintf(sql, sizeof(sql),
	    "SELECT max(seq)::text FROM transcript_turns WHERE call_sid = "
	    "'%s' HAVING count(*) >= 2",
	    sid);
	s = db_wait(&l, sql, 5000);
	assert_non_null(s);
	seq = strtol(s, NULL, 10);
	free(s);
	/* a rolling deploy: the first ai-session goes */
	assert_int_equal(harness_stop(l.ai, 10000), 0);
	/* the call moved: live -> moving -> ending -> recorded there */
	assert_true(harness_log_contains(l.ai, "call state live -> moving"));
	assert_true(harness_log_contains(l.ai, "call state moving -> ending"));
	assert_true(
	    harness_log_contains(l.ai, "call state ending -> recorded"));
	assert_false(harness_log_contains(l.ai, "refused (a bug)"));
	snprintf(sql, sizeof(sql),
	    "SELECT transcript FROM calls WHERE call_sid = '%s' AND "
	    "record_partial AND record_version = 0",
	    sid);
	part = db_wait(&l, sql, 5000);
	assert_non_null(part);
	print_message("partial transcript:\n%s\n", part);
	if (persister_down) {
		/* what media-edge saw published, as it carries it */
		snprintf(sql, sizeof(sql),
		    "SELECT json_agg(json_build_object('role', role, 'text', "
		    "text, 'seq', seq) ORDER BY seq)::text FROM "
		    "transcript_turns WHERE call_sid = '%s'",
		    sid);
		s = db_text(&l, sql);
		assert_non_null(s);
		turns = json_loads(s, 0, NULL);
		free(s);
		assert_true(json_array_size(turns) >= 2);
		assert_int_equal(harness_stop(l.per.p, 10000), 0);
	}
	fe_close(&l.fe);
	l.ai = ai2;
	assert_int_equal(fe_open(&l.fe, url2, pub2), 0);
	assert_int_equal(
	    fe_start_held(&l.fe, sid, NULL, (uint32_t)seq, 1, t0, turns, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	json_decref(turns);
	turn(&l, sid, 4000);
	assert_int_equal(fe_end(&l.fe, sid), BUS__ENVELOPE__BODY_ACK);
	if (persister_down)
		assert_int_equal(dbfx_run(&l.per), 0);
	snprintf(sql, sizeof(sql),
	    "SELECT transcript FROM calls WHERE call_sid = '%s' AND "
	    "NOT record_partial AND record_version >= 65536 AND NOT "
	    "summary_pending",
	    sid);
	s = db_wait(&l, sql, 15000);
	assert_non_null(s);
	print_message("final transcript:\n%s\n", s);
	/* whole: the first holder's turns, then the second's */
	assert_true(strlen(s) > strlen(part));
	assert_memory_equal(s, part, strlen(part));
	free(part);
	free(s);
	snprintf(sql, sizeof(sql),
	    "SELECT count(*) FROM calls WHERE call_sid = '%s' AND "
	    "end_reason = 'stop' AND duration_s >= %lld",
	    sid, (long long)((wire_now_ms() - t0) / 1000 - 3));
	assert_int_equal(pgtest_query_int(l.db.dsn, sql, &n), 0);
	assert_int_equal(n, 1);
	assert_true(fe_metric(port2, "ai_records_duplicate_total") == 0);
	life_down(&l);
}

static void
test_move(void **state)
{
	(void)state;
	move_call("CAmove1", false);
}

static void
test_move_persister_down(void **state)
{
	(void)state;
	move_call("CAmove2", true);
}

/*
 * A new call while persister is down: the context is waited for at most
 * half the start buffer, so the caller audio held meanwhile (speaking
 * from the first frame) all fits and none is dropped; the call goes on
 * with the base instructions.
 */
static void
test_context_persister_down(void **state)
{
	struct life l;

	(void)state;
	life_up(&l, NULL, NULL, NULL);
	/* a 3 s start buffer: two tries of 2 s each would overrun it */
	fe_close(&l.fe);
	assert_int_equal(harness_stop(l.ai, 10000), 0);
	l.ai = ai_spawn(
	    &l, l.ai_url, l.ai_pub, &l.http_port, "AI_START_BUFFER_MS=3000");
	assert_int_equal(fe_open(&l.fe, l.ai_url, l.ai_pub), 0);
	assert_int_equal(harness_stop(l.per.p, 10000), 0);
	assert_int_equal(fe_start(&l.fe, "CActx1", NULL, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	speak(&l, "CActx1", true, 4000);
	assert_true(fe_metric(l.http_port,
	                "ai_frames_dropped_total{reason=\"queue_full\"}")
	    <= 0);
	assert_true(fe_metric(l.http_port, "ai_calls_active") == 1);
	assert_int_equal(fe_end(&l.fe, "CActx1"), BUS__ENVELOPE__BODY_ACK);
	assert_int_equal(dbfx_run(&l.per), 0);
	life_down(&l);
}

/* A life whose ai-session keeps a record journal; dir gets the
 * AI_JOURNAL_DIR=... setting, for the ai-sessions started after it. */
static void
life_up_journal(struct life *l, char *dir, size_t len)
{
	life_up(l, NULL, NULL, NULL);
	snprintf(dir, len, "AI_JOURNAL_DIR=%s/aijournal%d", harness_tmpdir(),
	    nlife);
	fe_close(&l->fe);
	assert_int_equal(harness_stop(l->ai, 10000), 0);
	l->ai = ai_spawn(l, l->ai_url, l->ai_pub, &l->http_port, dir);
	assert_int_equal(fe_open(&l->fe, l->ai_url, l->ai_pub), 0);
}

/*
 * The record journal: a call ends while persister is down, then its
 * ai-session is killed (kill -9).  Started again on the same
 * AI_JOURNAL_DIR, the next process sends the record, whole (its token
 * usage too), and the summary follows.
 */
static void
test_journal(void **state)
{
	struct life l;
	char        dir[300], *s;
	long long   end;

	(void)state;
	life_up_journal(&l, dir, sizeof(dir));
	seed(&l, "CAjour1");
	assert_int_equal(fe_start(&l.fe, "CAjour1", NULL, NULL),
	    BUS__ENVELOPE__BODY_SESSION_STARTED);
	turn(&l, "CAjour1", 4000);
	assert_int_equal(harness_stop(l.per.p, 10000), 0); /* persister down */
	assert_int_equal(fe_end(&l.fe, "CAjour1"), BUS__ENVELOPE__BODY_ACK);
	end = fe_now() + 10000;
	while (
	    fe_metric(l.http_port, "ai_records_pending") < 1 && fe_now() < end)
		nng_msleep(50);
	assert_true(fe_metric(l.http_port, "ai_records_pending") == 1);
	assert_int_equal(harness_kill9(l.ai), 128 + SIGKILL);
	fe_close(&l.fe);
	assert_int_equal(dbfx_run(&l.per), 0); /* persister back */
	assert_int_equal(dbfx_count(l.db.dsn,
	                     "SELECT count(*) FROM calls WHERE call_sid = "
	                     "'CAjour1' AND ended_at IS NOT NULL"),
	    0);
	l.ai = ai_spawn(&l, l.ai_url, l.ai_pub, &l.http_port, dir);
	assert_int_equal(fe_open(&l.fe, l.ai_url, l.ai_pub), 0);
	s = db_wait(&l,
	    "SELECT transcript FROM calls WHERE call_sid = 'CAjour1' AND "
	    "ended_at IS NOT NULL AND NOT summary_pending AND summary IS "
	    "NOT NULL",
	    15000);
	assert_non_null(s);
	print_message("journaled transcript:\n%s\n", s);
	assert_non_null(strstr(s, "AI: "));
	free(s);
	/* the token usage came back with it: the model's (the first life
	 * answered at least once) and the summary's */
	assert_true(
	    dbfx_count(l.db.dsn,
	        "SELECT count(*) FROM calls WHERE call_sid = "
	        "'CAjour1' AND model_input_tokens > 0 AND "
	        "model_output_tokens > 0 AND reasoner_input_tokens > 0")
	    == 1);
	assert_true(fe_metric(l.http_port, "ai_records_replayed_total") == 1);
	life_down(&l);
}

/*
 * SIGTERM while persister is there but does not answer (SIGSTOP: its
 * socket takes the requests) and two call records wait for it: the
 * shutdown gives them until its budget ends (SHUTDOWN_TIMEOUT_MS less
 * 5 s), closes the request sockets and exits 0, before the watchdog (one
 * last try of 4 s per record would not fit); the records stay in the
 * journal, and the next start stores them.
 */
static void
test_shutdown_unanswered(void **state)
{
	static const char *const sids[] = { "CAunans1", "CAunans2" };
	struct life              l;
	char                     dir[300], sql[300], *s;
	long long                t0;
	int                      i;

	(void)state;
	life_up_journal(&l, dir, sizeof(dir));
	for (i = 0; i < 2; i++) {
		seed(&l, sids[i]);
		assert_int_equal(fe_start(&l.fe, sids[i], NULL, NULL),
		    BUS__ENVELOPE__BODY_SESSION_STARTED);
		turn(&l, sids[i], 4000);
	}
	assert_int_equal(kill(harness_pid(l.per.p), SIGSTOP), 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(
		    fe_end(&l.fe, sids[i]), BUS__ENVELOPE__BODY_ACK);
	nng_msleep(300); /* the records' first sends are waiting */
	t0 = fe_now();
	assert_int_equal(harness_stop(l.ai, 15000), 0);
	print_message("shutdown with persister silent: %lld ms\n",
	    fe_now() - t0);
	assert_true(harness_log_contains(l.ai, "kept in the journal") == 1);
	assert_true(
	    harness_log_contains(l.ai, "shutdown took longer than") == 0);
	fe_close(&l.fe);
	assert_int_equal(kill(harness_pid(l.per.p), SIGCONT), 0);
	l.ai = ai_spawn(&l, l.ai_url, l.ai_pub, &l.http_port, dir);
	assert_int_equal(fe_open(&l.fe, l.ai_url, l.ai_pub), 0);
	for (i = 0; i < 2; i++) {
		snprintf(sql, sizeof(sql),
		    "SELECT transcript FROM calls WHERE call_sid = '%s' AND "
		    "ended_at IS NOT NULL AND NOT summary_pending AND "
		    "summary IS NOT NULL AND NOT record_partial",
		    sids[i]);
		assert_non_null(s = db_wait(&l, sql, 15000));
		assert_non_null(strstr(s, "AI: "));
		free(s);
	}
	life_down(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conversation),
		cmocka_unit_test(test_voicemail),
		cmocka_unit_test(test_summary_later),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_move),
		cmocka_unit_test(test_move_persister_down),
		cmocka_unit_test(test_context_persister_down),
		cmocka_unit_test(test_journal),
		cmocka_unit_test(test_shutdown_unanswered),
	};

	if (getenv("TEST_FILTER") != NULL) /* one test: TEST_FILTER=test_x */
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
