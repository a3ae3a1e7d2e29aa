/*
 * persister_spool_test - PostgreSQL (a private cluster) stops under
 * writes: persister acknowledges them as spooled in its fsync'd journal,
 * survives a kill -9 with the journal full of unreplayed records,
 * restarts while the database is still down, and when the database
 * starts the journal drains in order: every record is there once.  A
 * small journal fills up and then refuses with UNAVAILABLE and a clear
 * message; the refused writes, retried later, are applied.
 */
#include <unistd.h>

#include "db_fixture.h"

#define SID "CAspool000000000000000000000000001"
#define SID2 "CAspool000000000000000000000000002"

static struct pgtest_cluster cl;
static struct dbfx_proc      ps;

static int
setup(void **state)
{
	char spool[256];

	if (pgtest_cluster_start(&cl) != 0)
		return (-1);
	snprintf(spool, sizeof(spool), "%s/spool", harness_tmpdir());
	return (dbfx_start(&ps, "persister", "pss", cl.dsn, spool, NULL));
}

static int
teardown(void **state)
{
	dbfx_stop(&ps);
	pgtest_cluster_destroy(&cl);
	return (0);
}

/* Send events [from, to) under keys "sp-<seq>"; all must answer want. */
static void
events(nng_socket s, const char *sid, unsigned from, unsigned to,
    enum dbfx_ans want)
{
	char          key[32];
	enum dbfx_ans a;
	unsigned      i;

	for (i = from; i < to; i++) {
		snprintf(key, sizeof(key), "sp-%s-%u", sid + 20, i);
		if ((a = dbfx_event(s, sid, i, key, 5000, NULL)) != want)
			fail_msg(
			    "event %u answered %d, wanted %d", i, a, want);
	}
}

static enum dbfx_ans
record(nng_socket s)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT;
	Bus__CallRecord r = BUS__CALL_RECORD__INIT;

	r.direction = BUS__DIRECTION__INBOUND;
	r.status = "completed";
	r.duration_s = 33;
	r.summary_pending = true; /* the reasoner was down too */
	r.transcript = "AI: Hello\nUser: It's me";
	env.body_case = BUS__ENVELOPE__BODY_CALL_RECORD;
	env.call_record = &r;
	return (dbfx_answer(
	    dbfx_request(s, &env, SID, "sp-record", 5000, 1), NULL));
}

#define PHONE "+14155550177"

static enum dbfx_ans
open_call(nng_socket s)
{
	Bus__Envelope env = BUS__ENVELOPE__INIT;
	Bus__CallOpen o = BUS__CALL_OPEN__INIT;

	o.direction = BUS__DIRECTION__INBOUND;
	o.from_phone = PHONE;
	o.objective = "Take a message";
	env.body_case = BUS__ENVELOPE__BODY_CALL_OPEN;
	env.call_open = &o;
	return (
	    dbfx_answer(dbfx_request(s, &env, SID, "sp-open", 5000, 1), NULL));
}

static int
drained(void *arg)
{
	struct dbfx_proc *p = arg;

	return (dbfx_metric(p->http, "persister_journal_records") == 0
	    && dbfx_metric(p->http, "persister_journal_bytes") == 0);
}

static void
test_outage_kill_restart_drain(void **state)
{
	char      url[128], path[300], *body = NULL;
	long      status = 0;
	long long t0;

	events(ps.req, SID, 1, 11, DBFX_ACK);
	assert_int_equal(pgtest_cluster_stop(&cl), 0);
	events(ps.req, SID, 11, 310, DBFX_SPOOLED);
	assert_int_equal(record(ps.req), DBFX_SPOOLED);
	assert_int_equal(open_call(ps.req), DBFX_SPOOLED);
	assert_true(dbfx_metric(ps.http, "persister_journal_records") == 301);
	assert_true(
	    dbfx_metric(ps.http, "persister_journal_bytes") > 301 * 16);
	/* the journal is at rest too: sealed, no number in it */
	snprintf(path, sizeof(path), "%s/spool/journal", harness_tmpdir());
	assert_false(dbfx_file_contains(path, PHONE));
	assert_false(dbfx_file_contains(path, "Take a message"));
	assert_true(dbfx_metric(ps.http, "persister_db_up") == 0);
	snprintf(url, sizeof(url), "%s/ready", ps.http);
	assert_int_equal(
	    harness_http("GET", url, NULL, NULL, &status, &body), 0);
	assert_int_equal(status, 200); /* still takes writes */
	assert_non_null(strstr(body, "spooling"));
	free(body);

	/* crash with 301 records waiting; restart with the db still down */
	assert_int_equal(harness_kill9(ps.p), 128 + 9);
	assert_int_equal(dbfx_run(&ps), 0);
	assert_true(dbfx_metric(ps.http, "persister_journal_records") == 301);
	events(ps.req, SID, 311, 411, DBFX_SPOOLED);
	/* a retried spooled write is spooled again: replay dedups it */
	events(ps.req, SID, 400, 411, DBFX_SPOOLED);

	assert_int_equal(pgtest_cluster_restart(&cl), 0);
	t0 = harness_now_ms();
	assert_int_equal(harness_wait_for(drained, &ps, 30000), 0);
	print_message("journal of 412 records drained %lld ms after the "
	              "database started\n",
	    harness_now_ms() - t0);
	assert_int_equal(dbfx_count(cl.dsn,
	                     "SELECT count(*) FROM "
	                     "call_events"),
	    409);
	assert_int_equal(dbfx_count(cl.dsn,
	                     "SELECT count(DISTINCT seq) FROM "
	                     "call_events WHERE seq BETWEEN 1 AND 410"),
	    409);
	assert_int_equal(
	    dbfx_count(cl.dsn,
	        "SELECT count(*) FROM calls "
	        "WHERE call_sid = '" SID "' AND summary_pending AND "
	        "duration_s = 33 AND direction = 'inbound' AND "
	        "from_phone_enc IS NOT NULL AND objective = 'Take a message'"),
	    1);
	assert_true(dbfx_metric(ps.http, "persister_db_up") == 1);
	/* the keys were recorded by the replay: resending is a no-op */
	events(ps.req, SID, 300, 310, DBFX_DUP);
	assert_int_equal(record(ps.req), DBFX_DUP);
	/* and new writes go straight to the database again */
	events(ps.req, SID, 411, 421, DBFX_ACK);
}

static void
test_full_spool_refuses(void **state)
{
	static const char *const small[]
	    = { "PERSISTER_SPOOL_MAX_BYTES=4096", NULL };
	struct dbfx_proc p2;
	Bus__Envelope    env = BUS__ENVELOPE__INIT, *rep;
	Bus__CallEvent   e = BUS__CALL_EVENT__INIT;
	char             spool[256], key[32];
	unsigned         i, spooled = 0, refused = 0;

	snprintf(spool, sizeof(spool), "%s/small", harness_tmpdir());
	assert_int_equal(
	    dbfx_start(&p2, "persister", "small", cl.dsn, spool, small), 0);
	assert_int_equal(pgtest_cluster_stop(&cl), 0);
	for (i = 1; i <= 100; i++) {
		snprintf(key, sizeof(key), "full-%u", i);
		e.kind = "edge";
		e.seq = i;
		env.body_case = BUS__ENVELOPE__BODY_CALL_EVENT;
		env.call_event = &e;
		rep = dbfx_request(p2.req, &env, SID2, key, 5000, 1);
		assert_non_null(rep);
		if (rep->body_case == BUS__ENVELOPE__BODY_ACK) {
			assert_true(rep->ack->spooled);
			assert_int_equal(refused, 0); /* no gaps */
			spooled++;
		} else {
			assert_int_equal(
			    rep->body_case, BUS__ENVELOPE__BODY_ERROR);
			assert_int_equal(
			    rep->error->code, BUS__ERROR__CODE__UNAVAILABLE);
			assert_non_null(
			    strstr(rep->error->message, "spool full"));
			refused++;
		}
		wire_free(rep);
	}
	print_message(
	    "4096-byte journal: %u spooled, %u refused\n", spooled, refused);
	assert_true(spooled >= 10 && refused > 0);
	assert_true(dbfx_metric(p2.http, "persister_journal_bytes") <= 4096);
	assert_int_equal(pgtest_cluster_restart(&cl), 0);
	assert_int_equal(harness_wait_for(drained, &p2, 30000), 0);
	/* the senders retry what was refused */
	for (i = spooled + 1; i <= 100; i++) {
		snprintf(key, sizeof(key), "full-%u", i);
		if (dbfx_event(p2.req, SID2, i, key, 5000, NULL) != DBFX_ACK
		    && dbfx_event(p2.req, SID2, i, key, 5000, NULL)
		        != DBFX_DUP)
			fail_msg("retry of %u not applied", i);
	}
	assert_int_equal(dbfx_count(cl.dsn,
	                     "SELECT count(*) FROM call_events "
	                     "WHERE call_sid = '" SID2 "'"),
	    100);
	nng_close(p2.req);
	dbfx_stop(&p2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outage_kill_restart_drain),
		cmocka_unit_test(test_full_spool_refuses),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
