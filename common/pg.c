/*
 * pg - libpq connection with retry and parameterised statements only;
 * see pg.h.
 *
 * The DSN is parsed once with PQconninfoParse() (so a URI and a key=value
 * string both work, and a typo fails at start-up), then each connect
 * passes the parsed options back through PQconnectdbParams() with our
 * defaults added.  Nothing here formats SQL: values travel as parameters.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pg.h"
#include "util.h"
#include "xmalloc.h"

#define PG_BACKOFF_MIN_MS 100
#define PG_BACKOFF_MAX_MS 5000
#define PG_CONNECT_TIMEOUT_S "5"
#define PG_MAX_OPTS 64

static void
set_state(struct pg *pg, const char *state)
{
	snprintf(pg->sqlstate, sizeof(pg->sqlstate), "%s", state);
}

int
pg_init(struct pg *pg, const char *dsn, const char *app_name)
{
	PQconninfoOption *opts;
	char             *err = NULL;

	memset(pg, 0, sizeof(*pg));
	if ((opts = PQconninfoParse(dsn, &err)) == NULL) {
		/* libpq's message names the bad part, not the password */
		log_warnx("database URL is not valid: %s",
		    err != NULL ? err : "out of memory");
		PQfreemem(err);
		return (-1);
	}
	PQconninfoFree(opts);
	pg->dsn = xstrdup(dsn);
	pg->name = app_name;
	pg->backoff_ms = PG_BACKOFF_MIN_MS;
	return (0);
}

void
pg_fini(struct pg *pg)
{
	if (pg->conn != NULL)
		PQfinish(pg->conn);
	pg->conn = NULL;
	free(pg->dsn);
	pg->dsn = NULL;
}

/* Connect with the DSN's own options plus our defaults. */
static PGconn *
connect_once(struct pg *pg)
{
	PQconninfoOption *opts, *o;
	const char       *keys[PG_MAX_OPTS + 3], *vals[PG_MAX_OPTS + 3];
	PGconn           *conn;
	int               n = 0;
	int               has_timeout = 0, has_app = 0;

	if ((opts = PQconninfoParse(pg->dsn, NULL)) == NULL)
		return (NULL);
	for (o = opts; o->keyword != NULL && n < PG_MAX_OPTS; o++) {
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "connect_timeout") == 0)
			has_timeout = 1;
		if (strcmp(o->keyword, "application_name") == 0)
			has_app = 1;
		keys[n] = o->keyword;
		vals[n++] = o->val;
	}
	if (!has_timeout) {
		keys[n] = "connect_timeout";
		vals[n++] = PG_CONNECT_TIMEOUT_S;
	}
	if (!has_app && pg->name != NULL) {
		keys[n] = "application_name";
		vals[n++] = pg->name;
	}
	keys[n] = NULL;
	vals[n] = NULL;
	conn = PQconnectdbParams(keys, vals, 0);
	PQconninfoFree(opts);
	return (conn);
}

/* libpq prints NOTICEs on stderr by default; keep our log JSON. */
static void
notice_cb(void *arg, const char *msg)
{
	size_t n = strlen(msg);

	if (n > 0 && msg[n - 1] == '\n')
		n--;
	log_debug("database notice: %.*s", (int)n, msg);
}

int
pg_ensure(struct pg *pg)
{
	PGconn *conn;
	int64_t now;

	if (pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK)
		return (0);
	if (pg->conn != NULL) {
		PQfinish(pg->conn);
		pg->conn = NULL;
	}
	now = util_mono_ms();
	if (now < pg->next_try_ms) {
		set_state(pg, "08006");
		return (-1);
	}
	conn = connect_once(pg);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		if (pg->was_up || pg->backoff_ms == PG_BACKOFF_MIN_MS)
			log_warnx("database connection failed: %s",
			    conn != NULL ? PQerrorMessage(conn)
			                 : "out of memory");
		if (conn != NULL)
			PQfinish(conn);
		pg->was_up = false;
		pg->next_try_ms = now + pg->backoff_ms;
		pg->backoff_ms *= 2;
		if (pg->backoff_ms > PG_BACKOFF_MAX_MS)
			pg->backoff_ms = PG_BACKOFF_MAX_MS;
		set_state(pg, "08006");
		return (-1);
	}
	log_info("database connected (server %d, ssl %s)",
	    PQserverVersion(conn), PQsslInUse(conn) ? "on" : "off");
	PQsetNoticeProcessor(conn, notice_cb, NULL);
	pg->conn = conn;
	pg->was_up = true;
	pg->backoff_ms = PG_BACKOFF_MIN_MS;
	pg->next_try_ms = 0;
	pg->sqlstate[0] = '\0';
	return (0);
}

void
pg_reset(struct pg *pg)
{
	if (pg->conn != NULL)
		PQfinish(pg->conn);
	pg->conn = NULL;
	pg->next_try_ms = 0;
}

bool
pg_is_up(const struct pg *pg)
{
	return (pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK);
}

/* Log a failed result and remember its SQLSTATE; drop a dead connection. */
static void
fail(struct pg *pg, const char *what, const PGresult *res)
{
	const char *state = NULL, *msg;

	if (res != NULL)
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	msg = res != NULL ? PQresultErrorMessage(res) : "";
	if (msg == NULL || msg[0] == '\0')
		msg = PQerrorMessage(pg->conn);
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		/* lost the server mid-statement: reconnect next time */
		state = "08006";
		pg->was_up = false;
		PQfinish(pg->conn);
		pg->conn = NULL;
		pg->next_try_ms = 0;
	}
	if (state == NULL)
		state = "XX000";
	set_state(pg, state);
	log_warnx("sql %s failed: sqlstate %s: %.300s", what, pg->sqlstate,
	    msg != NULL ? msg : "");
}

PGresult *
pg_exec(struct pg *pg, const char *what, const char *sql, int n,
    const char *const *values, const int *lengths, const int *formats)
{
	PGresult *res;
	int       st;

	if (pg_ensure(pg) == -1)
		return (NULL);
	res = PQexecParams(
	    pg->conn, sql, n, NULL, values, lengths, formats, 0);
	st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		pg->sqlstate[0] = '\0';
		return (res);
	}
	fail(pg, what, res);
	PQclear(res);
	return (NULL);
}

int
pg_cmd(struct pg *pg, const char *what, const char *sql, int n,
    const char *const *values)
{
	PGresult *res;

	if ((res = pg_exec(pg, what, sql, n, values, NULL, NULL)) == NULL)
		return (-1);
	PQclear(res);
	return (0);
}

int
pg_script(struct pg *pg, const char *what, const char *sql)
{
	PGresult *res;
	int       st;

	if (pg_ensure(pg) == -1)
		return (-1);
	/* PQexec runs every statement and returns the last result, or
	 * the first error. */
	res = PQexec(pg->conn, sql);
	st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		PQclear(res);
		return (0);
	}
	fail(pg, what, res);
	PQclear(res);
	return (-1);
}

int
pg_begin(struct pg *pg)
{
	return (pg_cmd(pg, "begin", "BEGIN", 0, NULL));
}

int
pg_commit(struct pg *pg)
{
	return (pg_cmd(pg, "commit", "COMMIT", 0, NULL));
}

void
pg_rollback(struct pg *pg)
{
	PGresult *res;

	if (pg->conn == NULL || PQstatus(pg->conn) != CONNECTION_OK)
		return;
	res = PQexec(pg->conn, "ROLLBACK");
	if (PQresultStatus(res) != PGRES_COMMAND_OK
	    && PQstatus(pg->conn) != CONNECTION_OK)
		pg_reset(pg);
	PQclear(res);
}

bool
pg_is_transient(const struct pg *pg)
{
	const char *s = pg->sqlstate;

	if (s[0] == '\0')
		return (false);
	if (strncmp(s, "08", 2) == 0 || /* connection exception */
	    strncmp(s, "53", 2) == 0 || /* insufficient resources */
	    strncmp(s, "57P", 3) == 0 || /* shutdown, cannot connect */
	    strcmp(s, "40001") == 0 || /* serialization failure */
	    strcmp(s, "40P01") == 0 || /* deadlock detected */
	    strcmp(s, "55P03") == 0 || /* lock not available */
	    strcmp(s, "25P03") == 0) /* idle in tx timeout */
		return (true);
	return (false);
}

const char *
pg_value(const PGresult *res, int row, int col)
{
	if (res == NULL || row >= PQntuples(res) || col >= PQnfields(res)
	    || PQgetisnull(res, row, col))
		return (NULL);
	return (PQgetvalue(res, row, col));
}
