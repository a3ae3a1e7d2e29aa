/*
 * persister_crash_test - kill -9 of persister in the middle of 1,000
 * writes.  Four sender threads write 250 call events each and, as
 * ai-session does, keep every write that was not acknowledged and retry
 * it with the same idempotency key.  The test kills the persister twice
 * with SIGKILL while writes are in flight (after 300 and 700 acks) and
 * starts it again on the same address.  At the end the table holds each
 * of the 1,000 events exactly once: nothing lost, nothing doubled
 * (call_events has no unique column, so only the idempotency keys can
 * prevent a double).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "db_fixture.h"

#define SID "CAcrash000000000000000000000000001"
#define NSENDERS 4
#define PER_SENDER 250
#define NWRITES (NSENDERS * PER_SENDER)
#define DEADLINE_MS 90000

static struct pgtest_schema schema;
static struct dbfx_proc     ps;
static _Atomic int          acked, dups, retries, failed;

struct sender {
	int       n;
	pthread_t t;
};

static void *
send_all(void *arg)
{
	struct sender *s = arg;
	char           key[32];
	unsigned       seq;
	long long      end = harness_now_ms() + DEADLINE_MS;
	enum dbfx_ans  a;
	int            i;

	for (i = 0; i < PER_SENDER; i++) {
		seq = (unsigned)(s->n * PER_SENDER + i + 1);
		snprintf(key, sizeof(key), "crash-%u", seq);
		/* unacknowledged: keep it and try again, same key */
		while ((a = dbfx_event(ps.req, SID, seq, key, 1000, NULL))
		        != DBFX_ACK
		    && a != DBFX_DUP && a != DBFX_SPOOLED) {
			atomic_fetch_add(&retries, 1);
			if (harness_now_ms() > end) {
				atomic_fetch_add(&failed, 1);
				return (NULL);
			}
			usleep(20 * 1000);
		}
		if (a == DBFX_DUP)
			atomic_fetch_add(&dups, 1);
		atomic_fetch_add(&acked, 1);
	}
	return (NULL);
}

static int
setup(void **state)
{
	char spool[256];

	if (pgtest_schema_new(&schema, 1) != 0)
		return (-1);
	snprintf(spool, sizeof(spool), "%s/spool", harness_tmpdir());
	return (dbfx_start(&ps, "persister", "psc", schema.dsn, spool, NULL));
}

static int
teardown(void **state)
{
	dbfx_stop(&ps);
	return (pgtest_schema_drop(&schema));
}

static void
kill_at(int acks)
{
	long long end = harness_now_ms() + DEADLINE_MS;
	int       st;

	while (atomic_load(&acked) < acks && harness_now_ms() < end)
		usleep(1000);
	st = harness_kill9(ps.p);
	assert_int_equal(st, 128 + 9);
	print_message("killed persister with SIGKILL after %d acks\n",
	    atomic_load(&acked));
	assert_int_equal(dbfx_run(&ps), 0); /* same address, same spool */
}

static void
test_kill9_during_writes(void **state)
{
	struct sender s[NSENDERS];
	long long     t0 = harness_now_ms();
	int           i;

	for (i = 0; i < NSENDERS; i++) {
		s[i].n = i;
		assert_int_equal(
		    pthread_create(&s[i].t, NULL, send_all, &s[i]), 0);
	}
	kill_at(300);
	kill_at(700);
	for (i = 0; i < NSENDERS; i++)
		pthread_join(s[i].t, NULL);
	print_message("%d writes acknowledged in %lld ms; %d retries, %d "
	              "answered duplicate\n",
	    atomic_load(&acked), harness_now_ms() - t0, atomic_load(&retries),
	    atomic_load(&dups));
	assert_int_equal(atomic_load(&failed), 0);
	assert_int_equal(atomic_load(&acked), NWRITES);
	/* nothing lost, nothing doubled */
	assert_int_equal(dbfx_count(schema.dsn,
	                     "SELECT count(*) FROM "
	                     "call_events"),
	    NWRITES);
	assert_int_equal(dbfx_count(schema.dsn,
	                     "SELECT count(DISTINCT seq) "
	                     "FROM call_events WHERE seq BETWEEN 1 AND 1000"),
	    NWRITES);
	assert_int_equal(dbfx_count(schema.dsn,
	                     "SELECT count(*) FROM "
	                     "call_events WHERE (payload->>'n')::int <> seq"),
	    0);
	assert_int_equal(dbfx_count(schema.dsn,
	                     "SELECT count(*) FROM "
	                     "idempotency_keys"),
	    NWRITES);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill9_during_writes),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
