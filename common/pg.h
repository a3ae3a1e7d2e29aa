/*
 * pg - libpq for the daemons that touch PostgreSQL (persister,
 * rate-limiter).
 *
 * A struct pg is one connection owned by one thread (libpq forbids
 * sharing a PGconn).  pg_ensure() connects on first use and again after
 * the connection went bad, with a backoff between attempts (100 ms
 * doubling to 5 s) so a dead database costs a request one failed attempt,
 * not a stall.  The DSN is handed to libpq as is, so sslmode, sslrootcert
 * and options=-csearch_path=... in the URL or key=value string are
 * honoured; pg adds connect_timeout (5 s) and application_name when the
 * DSN does not set them.  The DSN is never logged: it holds the password.
 *
 * SQL goes only through PQexecParams (the unnamed statement, one round
 * trip): no server-side prepared statements, so a transaction-mode pooler
 * (Supabase port 6543, PgBouncer) works.  pg_exec() checks the result and
 * logs a failure with its SQLSTATE; when the failure was the connection
 * itself, the connection is marked bad and the next pg_ensure() makes a
 * new one.  pg_is_transient() tells "the database is unreachable or
 * overloaded, try again later" from "this statement is wrong".
 *
 * Threads: every call on one struct pg from its owning thread only.
 * All calls may block (network); never from an nng or lws callback.
 */
#ifndef PG_H
#define PG_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

struct pg {
	char       *dsn; /* owned; secret */
	const char *name; /* application_name, for logs */
	PGconn     *conn; /* NULL until connected */
	int64_t     next_try_ms; /* no connect attempt before this */
	int         backoff_ms;
	bool        was_up; /* for "lost"/"back" log lines */
	char        sqlstate[6]; /* of the last failure, "" if none */
};

/* Fill pg (caller's storage); no connection yet.  dsn is copied.
 * Returns -1 (logged, without the DSN) if libpq cannot parse dsn. */
int pg_init(struct pg *, const char *dsn, const char *app_name);
/* Close the connection and free the copy of the DSN. */
void pg_fini(struct pg *);

/*
 * Make sure pg->conn is usable: connect if there is none or it went bad,
 * unless the backoff since the last failed attempt has not run out (then
 * fail at once).  Returns 0, or -1 (logged once per outage).  Blocks up
 * to connect_timeout.
 */
int pg_ensure(struct pg *);
/* Drop the connection (after a protocol error); the next pg_ensure
 * reconnects at once. */
void pg_reset(struct pg *);
/* True if the last pg_ensure() or pg_exec() found the server reachable. */
bool pg_is_up(const struct pg *);

/*
 * Run sql with n text parameters (values[i] NULL is SQL NULL).  lengths
 * and formats may be NULL (all text); formats[i] 1 passes values[i] as
 * lengths[i] bytes of binary (bytea).  Results come back as text.
 * Returns the result if its status is PGRES_COMMAND_OK or
 * PGRES_TUPLES_OK (caller PQclear()s it), else NULL with the failure
 * logged under `what` with its SQLSTATE (kept in pg->sqlstate).  Calls
 * pg_ensure() first.  Blocks.
 */
PGresult *pg_exec(struct pg *, const char *what, const char *sql, int n,
    const char *const *values, const int *lengths, const int *formats);
/* pg_exec() for statements whose rows are not wanted: 0 or -1. */
int pg_cmd(struct pg *, const char *what, const char *sql, int n,
    const char *const *values);
/* Several statements without parameters (a migration file) through the
 * simple query protocol: 0 or -1 (logged). */
int pg_script(struct pg *, const char *what, const char *sql);

/* BEGIN / COMMIT / ROLLBACK: 0 or -1 (logged).  pg_rollback() is quiet
 * when the connection is gone (the server rolls back by itself). */
int  pg_begin(struct pg *);
int  pg_commit(struct pg *);
void pg_rollback(struct pg *);

/*
 * True when the last failure means "try again later": no connection,
 * connection lost, server shutting down or starting, too many
 * connections, out of resources, serialization failure or deadlock.
 * False for errors in the statement or the data (class 22, 23, 42...).
 */
bool pg_is_transient(const struct pg *);

/* Column col of row 0 as a C string, or NULL if absent or SQL NULL. */
const char *pg_value(const PGresult *, int row, int col);

#endif
