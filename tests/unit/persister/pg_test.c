/*
 * pg_test - common/pg.c without a server: DSN parsing (URI and key=value,
 * sslmode kept, bad options refused without echoing the password), a
 * connection that cannot be made (fails fast, backs off, marked
 * transient), and the SQLSTATE classification.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "pg.h"

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void
test_parse(void **state)
{
	struct pg pg;

	assert_int_equal(pg_init(&pg,
	                     "postgresql://postgres.ref:s%40cret@"
	                     "aws-0-eu-west-1.pooler.supabase.com:6543/"
	                     "postgres?sslmode=require",
	                     "t"),
	    0);
	assert_non_null(strstr(pg.dsn, "sslmode=require"));
	pg_fini(&pg);
	assert_int_equal(pg_init(&pg,
	                     "host=/tmp dbname=x user=y "
	                     "options=-csearch_path=t_1_1",
	                     "t"),
	    0);
	pg_fini(&pg);
	assert_int_equal(pg_init(&pg, "host=a bogus_option=1", "t"), -1);
	assert_int_equal(pg_init(&pg, "postgresql://u:pw@[::1", "t"), -1);
	assert_int_equal(pg_init(&pg, "host='unterminated", "t"), -1);
}

static void
test_unreachable(void **state)
{
	struct pg   pg;
	long long   t0;
	PGresult   *res;
	const char *v[1] = { "x" };

	assert_int_equal(pg_init(&pg,
	                     "host=/nonexistent-pg-test-dir dbname=x "
	                     "connect_timeout=2",
	                     "t"),
	    0);
	t0 = now_ms();
	assert_int_equal(pg_ensure(&pg), -1);
	assert_false(pg_is_up(&pg));
	assert_true(pg_is_transient(&pg));
	assert_string_equal(pg.sqlstate, "08006");
	/* within the backoff: no new attempt, fails at once */
	res = pg_exec(&pg, "test", "SELECT $1::text", 1, v, NULL, NULL);
	assert_null(res);
	assert_int_equal(pg_cmd(&pg, "test", "SELECT 1", 0, NULL), -1);
	assert_int_equal(pg_begin(&pg), -1);
	pg_rollback(&pg); /* quiet without a connection */
	assert_true(now_ms() - t0 < 1000);
	assert_true(pg.backoff_ms > 100);
	pg_reset(&pg); /* next attempt at once */
	assert_int_equal(pg.next_try_ms, 0);
	pg_fini(&pg);
}

/* A loopback listener that answers libpq's first packet with 'N' (no
 * SSL) and records its code: 80877103 is SSLRequest, 196608 a plain
 * StartupMessage. */
struct fake {
	int      fd;
	uint32_t code;
};

static void *
fake_main(void *arg)
{
	struct fake  *f = arg;
	unsigned char b[8];
	ssize_t       n;
	int           c;

	if ((c = accept(f->fd, NULL, NULL)) == -1)
		return (NULL);
	n = read(c, b, sizeof(b));
	if (n == 8)
		f->code = (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16
		    | (uint32_t)b[6] << 8 | b[7];
	(void)!write(c, "N", 1);
	close(c);
	return (NULL);
}

static uint32_t
first_packet(const char *sslmode)
{
	struct sockaddr_in sa = { 0 };
	socklen_t          len = sizeof(sa);
	struct fake        f = { 0 };
	struct pg          pg;
	pthread_t          t;
	char               dsn[160];

	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((f.fd = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	assert_int_equal(bind(f.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f.fd, 1), 0);
	assert_int_equal(getsockname(f.fd, (struct sockaddr *)&sa, &len), 0);
	assert_int_equal(pthread_create(&t, NULL, fake_main, &f), 0);
	snprintf(dsn, sizeof(dsn),
	    "postgresql://u:pw@127.0.0.1:%d/db?sslmode=%s&connect_timeout=2",
	    ntohs(sa.sin_port), sslmode);
	assert_int_equal(pg_init(&pg, dsn, "t"), 0);
	assert_int_equal(pg_ensure(&pg), -1);
	pthread_join(t, NULL);
	close(f.fd);
	pg_fini(&pg);
	return (f.code);
}

static void
test_sslmode_honoured(void **state)
{
	assert_int_equal(first_packet("require"), 80877103);
	assert_int_equal(first_packet("verify-full"), 80877103);
	assert_int_equal(first_packet("disable"), 196608);
}

static void
test_transient(void **state)
{
	static const char *const yes[] = { "08006", "08001", "57P01", "57P03",
		"53300", "40001", "40P01", "55P03", NULL };
	static const char *const no[]
	    = { "", "23505", "22P02", "42P01", "42601", "XX000", NULL };
	struct pg pg;
	int       i;

	memset(&pg, 0, sizeof(pg));
	for (i = 0; yes[i] != NULL; i++) {
		snprintf(pg.sqlstate, sizeof(pg.sqlstate), "%s", yes[i]);
		if (!pg_is_transient(&pg))
			fail_msg("%s not transient", yes[i]);
	}
	for (i = 0; no[i] != NULL; i++) {
		snprintf(pg.sqlstate, sizeof(pg.sqlstate), "%s", no[i]);
		if (pg_is_transient(&pg))
			fail_msg("%s transient", no[i]);
	}
	assert_null(pg_value(NULL, 0, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_sslmode_honoured),
		cmocka_unit_test(test_transient),
	};

	log_init("pg_test");
	log_set_level("error");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
