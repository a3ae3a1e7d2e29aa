/*
 * pgtest - the real PostgreSQL for integration tests.
 *
 * The test runner (tests/run.sh) starts a throwaway cluster with
 * tests/pg.sh and exports its DSN as TEST_PG_DSN.  Each test makes its own
 * schema t_<pid>_<n> there with pgtest_schema_new(), optionally with the
 * persister's migrations applied, hands s.dsn (which pins search_path to
 * that schema) to the daemon under test, and drops the schema at the end.
 *
 * Tests that stop or crash PostgreSQL get a private cluster instead:
 * pgtest_cluster_start() runs tests/pg.sh on a new /tmp directory.
 *
 * Each helper opens its own short connection and blocks; they are for the
 * test's main thread.  int functions return 0 on success and -1 with the
 * reason already printed on stderr.  tests/pg.sh and the migrations are
 * found under TOP_DIR, or the current directory when TOP_DIR is unset.
 */
#ifndef PGTEST_H
#define PGTEST_H

#include <limits.h>

struct pgtest_schema {
	char  name[64]; /* t_<pid>_<n> */
	char *dsn; /* TEST_PG_DSN + options=-csearch_path=name */
	char *base_dsn; /* TEST_PG_DSN as given */
};

struct pgtest_cluster {
	char dir[PATH_MAX]; /* set by start; removed by destroy */
	char dsn[PATH_MAX + 64];
	int  running;
};

/*
 * Creates a fresh schema in the TEST_PG_DSN database (an unset TEST_PG_DSN
 * is a failure, never a skip).  With with_migrations, applies
 * services/persister/migrations/NNN_*.sql in name order with search_path set
 * to the schema; a missing directory means no migrations.  On success s->dsn
 * is the DSN to give the daemon; free everything with pgtest_schema_drop().
 */
int pgtest_schema_new(struct pgtest_schema *s, int with_migrations);

/* Drops the schema (CASCADE) and frees s's strings. */
int pgtest_schema_drop(struct pgtest_schema *s);

/* Runs sql (several statements allowed), discarding any rows. */
int pgtest_exec(const char *dsn, const char *sql);

/* Runs one statement with $1..$n text parameters (values may be NULL). */
int pgtest_exec_params(
    const char *dsn, const char *sql, int nparams, const char *const params[]);

/*
 * First column of the first row as an integer.  No row, a NULL value or
 * a non-integer is a failure.
 */
int pgtest_query_int(const char *dsn, const char *sql, long *out);
int pgtest_query_int_params(const char *dsn, const char *sql, int nparams,
    const char *const params[], long *out);

/*
 * First column of the first row as text, malloc'd (free() it); a NULL
 * value gives *out == NULL.  No row is a failure.
 */
int pgtest_query_text(const char *dsn, const char *sql, char **out);
int pgtest_query_text_params(const char *dsn, const char *sql, int nparams,
    const char *const params[], char **out);

/*
 * A private cluster in a new /tmp directory (c->dir), started with
 * tests/pg.sh; c->dsn is filled.  Takes about a second.
 */
int pgtest_cluster_start(struct pgtest_cluster *c);
/* Clean shutdown (pg_ctl -m fast). */
int pgtest_cluster_stop(struct pgtest_cluster *c);
/* A crash: pg_ctl -m immediate, no checkpoint. */
int pgtest_cluster_kill(struct pgtest_cluster *c);
/* Stop (if running) and start again on the same data. */
int pgtest_cluster_restart(struct pgtest_cluster *c);
/* Stops the cluster if running and removes c->dir. */
void pgtest_cluster_destroy(struct pgtest_cluster *c);

#endif /* PGTEST_H */
