/*
 * pgrow_test - the INSERT builder without a server: parameters numbered
 * in the order added and written through their expressions, the upsert's
 * SET list (EXCLUDED, coalesce, extra clauses), DO NOTHING when nothing
 * is updated, RETURNING, and binary parameters kept with their lengths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "pgrow.h"

static void
test_plain_insert(void **state)
{
	struct pgrow r;
	char        *sql;

	(void)state;
	pgrow_init(&r, "call_events");
	pgrow_add(&r, "call_sid", NULL, PGROW_KEY, "CA1");
	pgrow_add(&r, "payload", "$::jsonb", PGROW_KEY, NULL);
	pgrow_add(&r, "at", "coalesce(to_timestamp($ / 1000), now())",
	    PGROW_KEY, "5");
	sql = pgrow_sql(&r, NULL, NULL);
	assert_string_equal(sql,
	    "INSERT INTO call_events (call_sid, payload, at) VALUES ($1, "
	    "$2::jsonb, coalesce(to_timestamp($3 / 1000), now()))");
	free(sql);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.values[0], "CA1");
	assert_null(r.values[1]);
	assert_string_equal(r.values[2], "5");
	assert_int_equal(r.formats[0] + r.formats[1] + r.formats[2], 0);
}

static void
test_upsert(void **state)
{
	static const unsigned char blob[] = { 0, 1, 2 };
	struct pgrow               r;
	char                      *sql;

	(void)state;
	pgrow_init(&r, "calls");
	pgrow_add(&r, "call_sid", NULL, PGROW_KEY, "CA1");
	pgrow_add(&r, "status", NULL, PGROW_SET, "done");
	pgrow_add_bytea(&r, "to_enc", PGROW_COALESCE, blob, 3);
	pgrow_set(&r, "updated_at = now()");
	sql = pgrow_sql(&r, "call_sid", "lead_id");
	assert_string_equal(sql,
	    "INSERT INTO calls (call_sid, status, to_enc) VALUES ($1, $2, "
	    "$3) ON CONFLICT (call_sid) DO UPDATE SET status = "
	    "EXCLUDED.status, to_enc = coalesce(EXCLUDED.to_enc, "
	    "calls.to_enc), updated_at = now() RETURNING lead_id");
	free(sql);
	assert_int_equal(r.formats[2], 1);
	assert_int_equal(r.lengths[2], 3);
	assert_ptr_equal(r.values[2], (const char *)blob);
}

static void
test_do_nothing(void **state)
{
	struct pgrow r;
	char        *sql;

	(void)state;
	pgrow_init(&r, "idempotency_keys");
	pgrow_add(&r, "key", NULL, PGROW_KEY, "k");
	pgrow_add(&r, "kind", NULL, PGROW_KEY, "CallOpen");
	sql = pgrow_sql(&r, "key", NULL);
	assert_string_equal(sql,
	    "INSERT INTO idempotency_keys (key, kind) VALUES ($1, $2) ON "
	    "CONFLICT (key) DO NOTHING");
	free(sql);
	/* only the extra clause: it still updates */
	pgrow_set(&r, "kind = 'x'");
	sql = pgrow_sql(&r, "key", NULL);
	assert_string_equal(sql,
	    "INSERT INTO idempotency_keys (key, kind) VALUES ($1, $2) ON "
	    "CONFLICT (key) DO UPDATE SET kind = 'x'");
	free(sql);
}

static void
test_many_columns(void **state)
{
	struct pgrow r;
	char        *sql, *p;
	int          i;

	(void)state;
	pgrow_init(&r, "t");
	for (i = 0; i < 16; i++)
		pgrow_add(&r, "c", NULL, PGROW_SET, "v");
	sql = pgrow_sql(&r, NULL, NULL);
	/* the 16th is $16, the last one written */
	p = strstr(sql, "$16)");
	assert_non_null(p);
	assert_null(strstr(sql, "$17"));
	free(sql);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_insert),
		cmocka_unit_test(test_upsert),
		cmocka_unit_test(test_do_nothing),
		cmocka_unit_test(test_many_columns),
	};

	log_init("pgrow_test");
	log_set_level("error");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
