/*
 * persister_idempotency_test - two real persister processes on one
 * schema: every write applied three times (to either process) leaves the
 * rows of one; twenty simultaneous deliveries of one key apply once; a
 * CallRecord upserts the call and moves the lead's status together;
 * GetCallContext returns lead, business, objective and stored turns;
 * bad requests are refused without writing; migrations are recorded once.
 */
#include <pthread.h>

#include "db_fixture.h"

#define SID "CAidem0000000000000000000000000001"

static struct pgtest_schema schema;
static struct dbfx_proc     ps[2];

static int
setup(void **state)
{
	char spool[2][256];
	int  i;

	if (pgtest_schema_new(&schema, 1) != 0)
		return (-1);
	if (pgtest_exec(schema.dsn,
	        "INSERT INTO businesses (id, name, "
	        "description, voicemail_message) VALUES ('biz1', 'Acme "
	        "Solar', "
	        "'Solar panels for homes', 'Please call us back.');"
	        "INSERT INTO leads (id, business_id, name) VALUES ('lead1', "
	        "'biz1', 'Dana O''Neil')")
	    != 0)
		return (-1);
	for (i = 0; i < 2; i++) {
		snprintf(spool[i], sizeof(spool[i]), "%s/spool%d",
		    harness_tmpdir(), i);
		if (dbfx_start(&ps[i], "persister", i ? "ps1" : "ps0",
		        schema.dsn, spool[i], NULL)
		    != 0)
			return (-1);
	}
	return (0);
}

static int
teardown(void **state)
{
	dbfx_stop(&ps[0]);
	dbfx_stop(&ps[1]);
	return (pgtest_schema_drop(&schema));
}

static enum dbfx_ans
send_open(nng_socket s, const char *key, int *code)
{
	Bus__Envelope env = BUS__ENVELOPE__INIT;
	Bus__CallOpen o = BUS__CALL_OPEN__INIT;

	o.direction = BUS__DIRECTION__OUTBOUND;
	o.provider = BUS__PROVIDER__TWILIO;
	o.lead_id = "lead1";
	o.business_id = "biz1";
	o.objective = "Book a free solar survey";
	o.context_json = "{\"campaign\":\"spring\"}";
	o.to_phone = "+14155550142";
	o.from_phone = "+14155550100";
	o.created_at_ms = 1763700000000LL;
	env.body_case = BUS__ENVELOPE__BODY_CALL_OPEN;
	env.call_open = &o;
	return (dbfx_answer(dbfx_request(s, &env, SID, key, 5000, 1), code));
}

static enum dbfx_ans
send_event(nng_socket s, const char *sid, const char *key, const char *payload,
    int *code)
{
	Bus__Envelope  env = BUS__ENVELOPE__INIT;
	Bus__CallEvent e = BUS__CALL_EVENT__INIT;

	e.kind = "status";
	e.status = "in-progress";
	e.payload_json = (char *)payload;
	e.at_ms = 1763700001000LL;
	e.seq = 1;
	env.body_case = BUS__ENVELOPE__BODY_CALL_EVENT;
	env.call_event = &e;
	return (dbfx_answer(dbfx_request(s, &env, sid, key, 5000, 1), code));
}

static enum dbfx_ans
send_record_v(nng_socket s, const char *key, const char *lead_status,
    unsigned version, bool partial, const char *transcript)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT;
	Bus__CallRecord r = BUS__CALL_RECORD__INIT;
	Bus__Summary    sm = BUS__SUMMARY__INIT;

	sm.outcome = "goal_achieved";
	sm.interest_level = "high";
	sm.next_action = "Send the survey confirmation";
	sm.appointment = "Thursday 10:00";
	sm.summary = "Dana booked a survey.";
	r.direction = BUS__DIRECTION__OUTBOUND;
	r.status = "completed";
	r.started_at_ms = 1763700000000LL;
	r.ended_at_ms = 1763700064000LL;
	r.duration_s = 64;
	r.transcript = (char *)transcript;
	r.version = version;
	r.partial = partial;
	r.summary = &sm;
	r.end_reason = "hang-up";
	r.answered_by = "human";
	r.lead_status = (char *)lead_status;
	env.body_case = BUS__ENVELOPE__BODY_CALL_RECORD;
	env.call_record = &r;
	return (dbfx_answer(dbfx_request(s, &env, SID, key, 5000, 1), NULL));
}

static enum dbfx_ans
send_record(nng_socket s, const char *key, const char *lead_status)
{
	return (send_record_v(
	    s, key, lead_status, 0, false, "AI: Hello\nUser: Hi"));
}

static long
rows(const char *table)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	return (dbfx_count(schema.dsn, sql));
}

static void
test_three_times_is_once(void **state)
{
	int i;

	assert_int_equal(send_open(ps[0].req, "k-open", NULL), DBFX_ACK);
	assert_int_equal(
	    send_event(ps[0].req, SID, "k-ev", "{\"a\":1}", NULL), DBFX_ACK);
	assert_int_equal(dbfx_turn(ps[0].req, SID, 1, "Hello, is that Dana?",
	                     "k-t1", 5000, NULL),
	    DBFX_ACK);
	assert_int_equal(
	    dbfx_turn(ps[0].req, SID, 2, "Yes, speaking.", "k-t2", 5000, NULL),
	    DBFX_ACK);
	for (i = 0; i < 2; i++) {
		/* again, through either process */
		assert_int_equal(
		    send_open(ps[i].req, "k-open", NULL), DBFX_DUP);
		assert_int_equal(
		    send_event(ps[1 - i].req, SID, "k-ev", "{\"a\":1}", NULL),
		    DBFX_DUP);
		assert_int_equal(dbfx_turn(ps[i].req, SID, 1,
		                     "Hello, is "
		                     "that Dana?",
		                     "k-t1", 5000, NULL),
		    DBFX_DUP);
	}
	assert_int_equal(rows("calls"), 1);
	assert_int_equal(rows("call_events"), 1);
	assert_int_equal(rows("transcript_turns"), 2);
	assert_int_equal(rows("idempotency_keys"), 4);
	/* the key, not the content, decides: same event, new key */
	assert_int_equal(
	    send_event(ps[1].req, SID, "k-ev2", "{\"a\":1}", NULL), DBFX_ACK);
	assert_int_equal(rows("call_events"), 2);
	/* the status event moved the call's status */
	assert_int_equal(
	    dbfx_count(schema.dsn,
	        "SELECT count(*) FROM calls "
	        "WHERE status = 'in-progress' AND context->>'campaign' = "
	        "'spring' AND to_phone_enc IS NOT NULL"),
	    1);
}

static void
test_record_and_lead(void **state)
{
	char *upd1 = NULL, *upd2 = NULL;

	assert_int_equal(
	    send_record(ps[1].req, "k-rec", "interested"), DBFX_ACK);
	assert_int_equal(dbfx_count(schema.dsn,
	                     "SELECT count(*) FROM leads "
	                     "WHERE id = 'lead1' AND status = 'interested'"),
	    1);
	assert_int_equal(
	    dbfx_count(schema.dsn,
	        "SELECT count(*) FROM calls "
	        "WHERE status = 'completed' AND duration_s = 64 AND "
	        "outcome = 'goal_achieved' AND interest_level = 'high' AND "
	        "summary->>'appointment' = 'Thursday 10:00' AND "
	        "NOT summary_pending AND objective = 'Book a free solar "
	        "survey' AND ended_at = to_timestamp(1763700064)"),
	    1);
	assert_int_equal(pgtest_query_text(schema.dsn,
	                     "SELECT updated_at::"
	                     "text FROM calls",
	                     &upd1),
	    0);
	assert_int_equal(
	    send_record(ps[0].req, "k-rec", "interested"), DBFX_DUP);
	assert_int_equal(
	    send_record(ps[1].req, "k-rec", "interested"), DBFX_DUP);
	assert_int_equal(pgtest_query_text(schema.dsn,
	                     "SELECT updated_at::"
	                     "text FROM calls",
	                     &upd2),
	    0);
	assert_string_equal(upd1, upd2); /* a replay changed nothing */
	free(upd1);
	free(upd2);
	assert_int_equal(rows("calls"), 1);
	/* a late CallOpen replay must not undo the record */
	assert_int_equal(send_open(ps[0].req, "k-open-late", NULL), DBFX_ACK);
	assert_int_equal(
	    dbfx_count(schema.dsn,
	        "SELECT count(*) FROM calls "
	        "WHERE status = 'completed' AND outcome = 'goal_achieved'"),
	    1);
}

/* The record is a versioned document: a lower version (a hand-over
 * record, or one replayed late) is acknowledged and changes nothing. */
static void
test_record_versions(void **state)
{
	static const char whole[] = "AI: Hello\nUser: Hi\nAI: See you then";
	static const char holder1_row[]
	    = "SELECT count(*) FROM calls WHERE record_version = 65536 AND "
	      "NOT record_partial AND transcript LIKE '%See you then'";

	assert_int_equal(send_record_v(ps[0].req, "k-rec-h1", "interested",
	                     1u << 16, false, whole),
	    DBFX_ACK);
	assert_int_equal(dbfx_count(schema.dsn, holder1_row), 1);
	/* the partial record of the holder before, arriving late */
	assert_int_equal(send_record_v(ps[1].req, "k-rec-h0", "callback", 3,
	                     true, "AI: Hello"),
	    DBFX_ACK);
	assert_int_equal(dbfx_count(schema.dsn, holder1_row), 1);
	/* nor did it move the lead */
	assert_int_equal(dbfx_count(schema.dsn,
	                     "SELECT count(*) FROM leads "
	                     "WHERE id = 'lead1' AND status = 'interested'"),
	    1);
	/* the same holder's next version does */
	assert_int_equal(send_record_v(ps[1].req, "k-rec-h1b", "won",
	                     (1u << 16) + 1, false, whole),
	    DBFX_ACK);
	assert_int_equal(dbfx_count(schema.dsn,
	                     "SELECT count(*) FROM calls WHERE "
	                     "record_version = 65537"),
	    1);
	assert_int_equal(dbfx_count(schema.dsn,
	                     "SELECT count(*) FROM leads "
	                     "WHERE id = 'lead1' AND status = 'won'"),
	    1);
	assert_int_equal(rows("calls"), 1);
}

struct racer {
	pthread_barrier_t *go;
	nng_socket         s;
	enum dbfx_ans      a;
};

static void *
race(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	r->a = dbfx_turn(r->s, SID, 77, "raced", "k-race", 5000, NULL);
	return (NULL);
}

static void
test_simultaneous_same_key(void **state)
{
	pthread_barrier_t go;
	pthread_t         t[20];
	struct racer      r[20];
	int               i, acks = 0, dups = 0;

	pthread_barrier_init(&go, NULL, 20);
	for (i = 0; i < 20; i++) {
		r[i].go = &go;
		r[i].s = ps[i % 2].req;
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (i = 0; i < 20; i++) {
		pthread_join(t[i], NULL);
		acks += r[i].a == DBFX_ACK;
		dups += r[i].a == DBFX_DUP;
	}
	pthread_barrier_destroy(&go);
	assert_int_equal(acks, 1);
	assert_int_equal(dups, 19);
	assert_int_equal(dbfx_count(schema.dsn,
	                     "SELECT count(*) FROM "
	                     "transcript_turns WHERE seq = 77"),
	    1);
}

static void
test_call_context(void **state)
{
	Bus__Envelope       env = BUS__ENVELOPE__INIT, *rep;
	Bus__GetCallContext g = BUS__GET_CALL_CONTEXT__INIT;
	Bus__CallContext   *c;

	env.body_case = BUS__ENVELOPE__BODY_GET_CALL_CONTEXT;
	env.get_call_context = &g;
	rep = dbfx_request(ps[1].req, &env, SID, NULL, 5000, 1);
	assert_non_null(rep);
	assert_int_equal(rep->body_case, BUS__ENVELOPE__BODY_CALL_CONTEXT);
	c = rep->call_context;
	assert_true(c->found);
	assert_int_equal(c->direction, BUS__DIRECTION__OUTBOUND);
	assert_string_equal(c->lead_id, "lead1");
	assert_string_equal(c->lead_name, "Dana O'Neil");
	assert_string_equal(c->business_name, "Acme Solar");
	assert_string_equal(c->business_description, "Solar panels for homes");
	assert_string_equal(c->voicemail_message, "Please call us back.");
	assert_string_equal(c->objective, "Book a free solar survey");
	assert_non_null(strstr(c->context_json, "spring"));
	assert_int_equal(c->n_turns, 3);
	assert_int_equal(c->turns[0]->seq, 1);
	assert_string_equal(c->turns[0]->text, "Hello, is that Dana?");
	assert_string_equal(c->turns[1]->role, "assistant");
	assert_int_equal(c->turns[1]->at_ms, 1763700000002LL);
	assert_int_equal(c->turns[2]->seq, 77);
	wire_free(rep);
	rep = dbfx_request(ps[0].req, &env, "CAnosuchcall", NULL, 5000, 1);
	assert_non_null(rep);
	assert_int_equal(rep->body_case, BUS__ENVELOPE__BODY_CALL_CONTEXT);
	assert_false(rep->call_context->found);
	wire_free(rep);
}

static void
test_bad_requests(void **state)
{
	Bus__Envelope  env = BUS__ENVELOPE__INIT, *rep;
	Bus__RateCheck rc = BUS__RATE_CHECK__INIT;
	long           keys = rows("idempotency_keys");
	int            code = -1;

	assert_int_equal(
	    send_event(ps[0].req, SID, "k-bad", "{not json", &code),
	    DBFX_ERROR);
	assert_int_equal(code, BUS__ERROR__CODE__BAD_REQUEST);
	assert_int_equal(
	    send_event(ps[0].req, "", "k-bad2", "{}", &code), DBFX_ERROR);
	assert_int_equal(code, BUS__ERROR__CODE__BAD_REQUEST);
	assert_int_equal(rows("idempotency_keys"), keys);
	/* the refused key was not used up: a fixed retry applies */
	assert_int_equal(
	    send_event(ps[1].req, SID, "k-bad", "{\"ok\":1}", NULL), DBFX_ACK);
	env.body_case = BUS__ENVELOPE__BODY_RATE_CHECK;
	env.rate_check = &rc;
	rep = dbfx_request(ps[0].req, &env, SID, "k-x", 5000, 1);
	assert_int_equal(dbfx_answer(rep, &code), DBFX_ERROR);
	assert_int_equal(code, BUS__ERROR__CODE__UNSUPPORTED);
}

static void
test_migrations_once(void **state)
{
	struct pgtest_schema fresh;
	struct dbfx_proc     a, b;
	char                 spool[2][256];

	assert_int_equal(dbfx_count(schema.dsn,
	                     "SELECT count(*) FROM "
	                     "schema_migrations WHERE version = 1"),
	    1);
	assert_true(harness_log_contains(ps[1].p, "0 migrations applied"));
	/* RLS is on for every table we own */
	assert_int_equal(
	    dbfx_count(schema.dsn,
	        "SELECT count(*) FROM "
	        "pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
	        "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND "
	        "NOT c.relrowsecurity"),
	    0);
	/* an empty schema: the persister builds it itself */
	assert_int_equal(pgtest_schema_new(&fresh, 0), 0);
	snprintf(spool[0], sizeof(spool[0]), "%s/fresh0", harness_tmpdir());
	snprintf(spool[1], sizeof(spool[1]), "%s/fresh1", harness_tmpdir());
	assert_int_equal(
	    dbfx_start(&a, "persister", "fresh0", fresh.dsn, spool[0], NULL),
	    0);
	assert_int_equal(
	    dbfx_start(&b, "persister", "fresh1", fresh.dsn, spool[1], NULL),
	    0);
	assert_true(harness_log_contains(a.p, "5 migrations applied"));
	assert_true(harness_log_contains(b.p, "0 migrations applied"));
	assert_int_equal(dbfx_count(fresh.dsn,
	                     "SELECT count(*) FROM "
	                     "schema_migrations"),
	    5);
	assert_int_equal(
	    dbfx_turn(b.req, "CAfresh", 1, "hi", "k-fresh", 5000, NULL),
	    DBFX_ACK);
	nng_close(a.req);
	nng_close(b.req);
	dbfx_stop(&a);
	dbfx_stop(&b);
	assert_int_equal(pgtest_schema_drop(&fresh), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_three_times_is_once),
		cmocka_unit_test(test_record_and_lead),
		cmocka_unit_test(test_record_versions),
		cmocka_unit_test(test_simultaneous_same_key),
		cmocka_unit_test(test_call_context),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_migrations_once),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
