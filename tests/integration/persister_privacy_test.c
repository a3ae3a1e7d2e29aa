/*
 * persister_privacy_test - phone numbers never at rest or in logs in
 * plain text, and SQL built only with parameters.  A call is written
 * through persister and rate-checked through rate-limiter (both at
 * LOG_LEVEL=debug) with ordinary numbers and with a "number" full of
 * quotes and SQL; then the schema's data is dumped with pg_dump and the
 * daemons' logs are read, looking for each number in every spelling.
 * The sealed columns open with the key to exactly what was sent, and
 * text full of quotes and SQL is stored verbatim.
 */
#include <ctype.h>

#include "db_fixture.h"
#include "seal.h"

#define SID "CApriv0000000000000000000000000001"
#define SID2 "CApriv0000000000000000000000000002"
#define NASTY "+1415555'); DROP TABLE calls; --\"\\"
#define NOTE "{\"note\":\"O'Brien said \\\"hi\\\"; DROP TABLE call_events;\"}"
#define TEXT "It's Robert'); DROP TABLE transcript_turns; -- here $1 \\x"

static struct pgtest_schema schema;
static struct dbfx_proc     ps, rl;

static int
setup(void **state)
{
	char spool[256];

	if (pgtest_schema_new(&schema, 1) != 0)
		return (-1);
	snprintf(spool, sizeof(spool), "%s/spool", harness_tmpdir());
	if (dbfx_start(&ps, "persister", "psp", schema.dsn, spool, NULL) != 0)
		return (-1);
	return (
	    dbfx_start(&rl, "rate-limiter", "rlp", schema.dsn, NULL, NULL));
}

static int
teardown(void **state)
{
	dbfx_stop(&ps);
	dbfx_stop(&rl);
	return (pgtest_schema_drop(&schema));
}

static void
open_call(const char *sid, const char *to, const char *from)
{
	Bus__Envelope env = BUS__ENVELOPE__INIT;
	Bus__CallOpen o = BUS__CALL_OPEN__INIT;
	char          key[64];

	o.direction = BUS__DIRECTION__INBOUND;
	o.to_phone = (char *)to;
	o.from_phone = (char *)from;
	o.objective = "Answer questions about O'Brien's order";
	env.body_case = BUS__ENVELOPE__BODY_CALL_OPEN;
	env.call_open = &o;
	snprintf(key, sizeof(key), "open-%s", sid);
	assert_int_equal(
	    dbfx_answer(dbfx_request(ps.req, &env, sid, key, 5000, 1), NULL),
	    DBFX_ACK);
}

/* The sealed column of sid, opened with the test's key. */
static char *
unseal(const char *sid, const char *col, const char *aad)
{
	unsigned char key[SEAL_KEY_LEN], raw[512], out[512];
	const char   *v[1] = { sid };
	char          sql[160], *hex = NULL;
	size_t        i, n;
	int           len;

	assert_int_equal(seal_key_parse(DBFX_PHONE_KEY, key), 0);
	snprintf(sql, sizeof(sql),
	    "SELECT encode(%s, 'hex') FROM calls "
	    "WHERE call_sid = $1",
	    col);
	assert_int_equal(
	    pgtest_query_text_params(schema.dsn, sql, 1, v, &hex), 0);
	assert_non_null(hex);
	n = strlen(hex) / 2;
	assert_true(n <= sizeof(raw));
	for (i = 0; i < n; i++)
		sscanf(hex + 2 * i, "%2hhx", &raw[i]);
	free(hex);
	assert_int_equal(raw[0], SEAL_VERSION);
	len = seal_decrypt(key, raw, n, aad, out, sizeof(out) - 1);
	assert_true(len >= 0);
	out[len] = '\0';
	return (strdup((char *)out));
}

/* "+1 415..." spelled as digits, national digits and the last 7. */
static void
no_trace(const char *where, const char *text, const char *phone)
{
	char   digits[64];
	size_t n = 0, i;

	for (i = 0; phone[i] != '\0' && n < sizeof(digits) - 1; i++)
		if (isdigit((unsigned char)phone[i]))
			digits[n++] = phone[i];
	digits[n] = '\0';
	if (strstr(text, phone) != NULL)
		fail_msg("%s holds the number %s in plain text", where, phone);
	if (n >= 10 && strstr(text, digits) != NULL)
		fail_msg("%s holds the digits of %s", where, phone);
	if (n >= 10 && strstr(text, digits + n - 7) != NULL)
		fail_msg("%s holds the last 7 digits of %s", where, phone);
}

static void
test_sql_in_values(void **state)
{
	Bus__RateDecision d;
	const char       *v[1] = { SID };
	char             *s = NULL;

	open_call(SID, "+14155550142", "+14155550100");
	open_call(SID2, NASTY, "+447911123456");
	assert_int_equal(
	    dbfx_turn(ps.req, SID, 1, TEXT, "t1", 5000, NULL), DBFX_ACK);
	{
		Bus__Envelope  env = BUS__ENVELOPE__INIT;
		Bus__CallEvent e = BUS__CALL_EVENT__INIT;

		e.kind = "status";
		e.status = "ringing'; --";
		e.payload_json = NOTE;
		env.body_case = BUS__ENVELOPE__BODY_CALL_EVENT;
		env.call_event = &e;
		assert_int_equal(
		    dbfx_answer(
		        dbfx_request(ps.req, &env, SID,
		            "e1'; DROP TABLE idempotency_keys; --", 5000, 1),
		        NULL),
		    DBFX_ACK);
	}
	/* rate-limiter: the nasty number is refused before any SQL; a
	 * nasty IP is hashed like anything else */
	assert_int_equal(
	    dbfx_rate(rl.req, NASTY, "203.0.113.9", false, &d), 0);
	assert_false(d.allowed);
	assert_string_equal(d.reason, "invalid_number");
	assert_int_equal(
	    dbfx_rate(rl.req, "+14155550142",
	        "1.2.3.4'; DROP TABLE rate_limit_hits; --", false, &d),
	    0);
	assert_true(d.allowed);
	assert_false(d.degraded);
	assert_int_equal(dbfx_rate(rl.req, "+447911123456", "", false, &d), 0);
	assert_true(d.allowed);

	/* every table is still there and holds what was sent, verbatim */
	assert_int_equal(
	    dbfx_count(schema.dsn, "SELECT count(*) FROM calls"), 2);
	assert_int_equal(dbfx_count(schema.dsn,
	                     "SELECT count(*) FROM "
	                     "rate_limit_hits"),
	    3);
	assert_int_equal(pgtest_query_text_params(schema.dsn,
	                     "SELECT text "
	                     "FROM transcript_turns WHERE call_sid = $1",
	                     1, v, &s),
	    0);
	assert_string_equal(s, TEXT);
	free(s);
	assert_int_equal(
	    pgtest_query_text_params(schema.dsn,
	        "SELECT "
	        "payload->>'note' FROM call_events WHERE call_sid = $1",
	        1, v, &s),
	    0);
	assert_string_equal(s,
	    "O'Brien said \"hi\"; DROP TABLE "
	    "call_events;");
	free(s);
	assert_int_equal(dbfx_count(schema.dsn,
	                     "SELECT count(*) FROM "
	                     "idempotency_keys WHERE key LIKE 'e1''; DROP%'"),
	    1);
	/* the sealed numbers open to exactly what was sent */
	s = unseal(SID2, "to_phone_enc", "calls.to_phone");
	assert_string_equal(s, NASTY);
	free(s);
	s = unseal(SID, "from_phone_enc", "calls.from_phone");
	assert_string_equal(s, "+14155550100");
	free(s);
}

static void
test_no_plaintext_anywhere(void **state)
{
	static const char *const phones[]
	    = { "+14155550142", "+14155550100", "+447911123456", NASTY, NULL };
	char *dump;
	int   i;

	dump = dbfx_dump(schema.dsn, schema.name);
	assert_non_null(dump);
	/* the dump is real: it holds the rows we wrote */
	assert_non_null(strstr(dump, "Robert"));
	assert_non_null(strstr(dump, "rate_limit_hits"));
	for (i = 0; phones[i] != NULL; i++) {
		no_trace("the database dump", dump, phones[i]);
		assert_true(
		    !dbfx_file_contains(harness_log_path(ps.p), phones[i]));
		assert_true(
		    !dbfx_file_contains(harness_log_path(rl.p), phones[i]));
	}
	assert_null(strstr(dump, "DROP TABLE calls"));
	free(dump);
	/* the logs are real and verbose: debug lines of both daemons */
	assert_true(harness_log_contains(rl.p, "\"level\":\"debug\""));
	assert_true(harness_log_contains(rl.p, "rate check"));
	for (i = 0; phones[i] != NULL; i++) {
		char *log = NULL;
		FILE *f;
		long  len;
		int   k;

		for (k = 0; k < 2; k++) {
			f = fopen(harness_log_path(k ? rl.p : ps.p), "r");
			assert_non_null(f);
			fseek(f, 0, SEEK_END);
			len = ftell(f);
			rewind(f);
			log = calloc(1, (size_t)len + 1);
			assert_int_equal(
			    fread(log, 1, (size_t)len, f), (size_t)len);
			fclose(f);
			no_trace(k ? "rate-limiter's log" : "persister's log",
			    log, phones[i]);
			free(log);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sql_in_values),
		cmocka_unit_test(test_no_plaintext_anywhere),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
