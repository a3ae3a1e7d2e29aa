/*
 * pgtest.c - schemas in the test database, query helpers, private clusters.
 *
 * Every helper connects, does one thing and disconnects: tests are short
 * and this keeps no state between calls.  Values always travel as
 * PQexecParams parameters; only identifiers we generate ourselves
 * (t_<pid>_<n>) are put into SQL text.  Main thread only.
 */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <postgresql/libpq-fe.h>

#include "pgtest.h"
#include "xmalloc.h"

#define CONNECT_TIMEOUT "10"

static int schema_seq;

/* libpq callback: NOTICEs ("schema does not exist, skipping") are noise. */
static void
quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static PGconn *
connect_db(const char *dsn)
{
	const char *keys[] = { "dbname", "connect_timeout", NULL };
	const char *vals[] = { dsn, CONNECT_TIMEOUT, NULL };
	PGconn     *conn;

	if (dsn == NULL) {
		fprintf(stderr, "pgtest: no DSN\n");
		return (NULL);
	}
	/* expand_dbname: dsn may be "key=value ..." or a URI */
	conn = PQconnectdbParams(keys, vals, 1);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "pgtest: connect: %s",
		    conn != NULL ? PQerrorMessage(conn) : "out of memory\n");
		PQfinish(conn);
		return (NULL);
	}
	PQsetNoticeProcessor(conn, quiet_notice, NULL);
	return (conn);
}

/* Runs sql on conn; returns the result if its status is ok, else NULL. */
static PGresult *
run(PGconn *conn, const char *sql, int nparams, const char *const params[])
{
	PGresult *res;
	int       st;

	if (nparams > 0)
		res = PQexecParams(
		    conn, sql, nparams, NULL, params, NULL, NULL, 0);
	else
		res = PQexec(conn, sql);
	st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return (res);
	fprintf(
	    stderr, "pgtest: %s\n  in: %.300s\n", PQerrorMessage(conn), sql);
	PQclear(res);
	return (NULL);
}

static int
exec_on(
    const char *dsn, const char *sql, int nparams, const char *const params[])
{
	PGconn   *conn;
	PGresult *res;

	if ((conn = connect_db(dsn)) == NULL)
		return (-1);
	res = run(conn, sql, nparams, params);
	PQclear(res);
	PQfinish(conn);
	return (res == NULL ? -1 : 0);
}

int
pgtest_exec(const char *dsn, const char *sql)
{
	return (exec_on(dsn, sql, 0, NULL));
}

int
pgtest_exec_params(
    const char *dsn, const char *sql, int nparams, const char *const params[])
{
	return (exec_on(dsn, sql, nparams, params));
}

int
pgtest_query_text_params(const char *dsn, const char *sql, int nparams,
    const char *const params[], char **out)
{
	PGconn   *conn;
	PGresult *res;
	char     *v = NULL;
	int       rv = -1;

	if ((conn = connect_db(dsn)) == NULL)
		return (-1);
	if ((res = run(conn, sql, nparams, params)) == NULL)
		goto out;
	if (PQntuples(res) < 1 || PQnfields(res) < 1) {
		fprintf(stderr, "pgtest: no row from: %.300s\n", sql);
		goto out;
	}
	if (!PQgetisnull(res, 0, 0))
		v = xstrdup(PQgetvalue(res, 0, 0));
	*out = v;
	rv = 0;
out:
	PQclear(res);
	PQfinish(conn);
	return (rv);
}

int
pgtest_query_text(const char *dsn, const char *sql, char **out)
{
	return (pgtest_query_text_params(dsn, sql, 0, NULL, out));
}

int
pgtest_query_int_params(const char *dsn, const char *sql, int nparams,
    const char *const params[], long *out)
{
	char *text, *end;
	long  v;

	if (pgtest_query_text_params(dsn, sql, nparams, params, &text) == -1)
		return (-1);
	if (text == NULL) {
		fprintf(stderr,
		    "pgtest: NULL where an integer was expected: "
		    "%.300s\n",
		    sql);
		return (-1);
	}
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0') {
		fprintf(stderr, "pgtest: not an integer: '%s' from %.300s\n",
		    text, sql);
		free(text);
		return (-1);
	}
	free(text);
	*out = v;
	return (0);
}

int
pgtest_query_int(const char *dsn, const char *sql, long *out)
{
	return (pgtest_query_int_params(dsn, sql, 0, NULL, out));
}

/* Appends " key='value'" to *s, quoted as libpq's conninfo wants. */
static void
append_kv(char **s, const char *key, const char *val)
{
	size_t len = strlen(*s), i, k;
	char  *out;

	out = xrealloc(*s, len + strlen(key) + 2 * strlen(val) + 6);
	k = len;
	if (k > 0)
		out[k++] = ' ';
	memcpy(out + k, key, strlen(key));
	k += strlen(key);
	out[k++] = '=';
	out[k++] = '\'';
	for (i = 0; val[i] != '\0'; i++) {
		if (val[i] == '\'' || val[i] == '\\')
			out[k++] = '\\';
		out[k++] = val[i];
	}
	out[k++] = '\'';
	out[k] = '\0';
	*s = out;
}

/* base (keyword list or URI) with search_path pinned to schema. */
static char *
dsn_with_schema(const char *base, const char *schema)
{
	PQconninfoOption *opts, *o;
	char             *err = NULL, *s, *opt;
	int               have_options = 0;

	if ((opts = PQconninfoParse(base, &err)) == NULL) {
		fprintf(stderr, "pgtest: bad TEST_PG_DSN: %s",
		    err != NULL ? err : "out of memory\n");
		PQfreemem(err);
		return (NULL);
	}
	s = xstrdup("");
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "options") == 0) {
			opt = xasprintf("%s -csearch_path=%s", o->val, schema);
			append_kv(&s, "options", opt);
			free(opt);
			have_options = 1;
		} else
			append_kv(&s, o->keyword, o->val);
	}
	PQconninfoFree(opts);
	if (!have_options) {
		opt = xasprintf("-csearch_path=%s", schema);
		append_kv(&s, "options", opt);
		free(opt);
	}
	return (s);
}

static char *
read_file(const char *path)
{
	FILE  *f;
	char  *buf = NULL;
	size_t len = 0, n;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "pgtest: %s: %s\n", path, strerror(errno));
		return (NULL);
	}
	do {
		buf = xrealloc(buf, len + 65536 + 1);
		n = fread(buf + len, 1, 65536, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return (buf);
}

/* services/persister/migrations/NNN_*.sql in name order, inside s's schema. */
static int
apply_migrations(struct pgtest_schema *s)
{
	const char *top = getenv("TOP_DIR");
	PGconn     *conn = NULL;
	PGresult   *res;
	glob_t      g;
	char       *pattern, *sql;
	size_t      i;
	int         rv = -1, grc;

	pattern = xasprintf("%s/services/persister/migrations/*.sql",
	    top != NULL && *top != '\0' ? top : ".");
	grc = glob(pattern, 0, NULL, &g);
	free(pattern);
	if (grc == GLOB_NOMATCH)
		return (0); /* no persister migrations yet */
	if (grc != 0) {
		fprintf(stderr, "pgtest: glob migrations failed\n");
		return (-1);
	}
	if ((conn = connect_db(s->dsn)) == NULL)
		goto out;
	for (i = 0; i < g.gl_pathc; i++) {
		if ((sql = read_file(g.gl_pathv[i])) == NULL)
			goto out;
		res = run(conn, sql, 0, NULL);
		free(sql);
		if (res == NULL) {
			fprintf(stderr, "pgtest: migration %s failed\n",
			    g.gl_pathv[i]);
			goto out;
		}
		PQclear(res);
	}
	rv = 0;
out:
	PQfinish(conn);
	globfree(&g);
	return (rv);
}

static void
schema_free(struct pgtest_schema *s)
{
	free(s->dsn);
	free(s->base_dsn);
	s->dsn = s->base_dsn = NULL;
}

int
pgtest_schema_new(struct pgtest_schema *s, int with_migrations)
{
	const char *base = getenv("TEST_PG_DSN");
	char       *sql;
	int         rv;

	memset(s, 0, sizeof(*s));
	if (base == NULL || *base == '\0') {
		fprintf(stderr,
		    "pgtest: TEST_PG_DSN is not set.  Run the "
		    "tests with 'make test' (tests/run.sh), or start a "
		    "database with: export TEST_PG_DSN=\"$(tests/pg.sh start "
		    "/tmp/pgx)\"\n");
		return (-1);
	}
	snprintf(s->name, sizeof(s->name), "t_%ld_%d", (long)getpid(),
	    ++schema_seq);
	if ((s->dsn = dsn_with_schema(base, s->name)) == NULL)
		return (-1);
	s->base_dsn = xstrdup(base);
	/* a schema of this name can only be left over from a dead pid */
	sql = xasprintf("DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s",
	    s->name, s->name);
	rv = pgtest_exec(base, sql);
	free(sql);
	if (rv == 0 && with_migrations && apply_migrations(s) == -1) {
		pgtest_schema_drop(s);
		return (-1);
	}
	if (rv == -1)
		schema_free(s);
	return (rv);
}

int
pgtest_schema_drop(struct pgtest_schema *s)
{
	char *sql;
	int   rv = 0;

	if (s->base_dsn != NULL && s->name[0] != '\0') {
		sql = xasprintf("DROP SCHEMA IF EXISTS %s CASCADE", s->name);
		rv = pgtest_exec(s->base_dsn, sql);
		free(sql);
	}
	schema_free(s);
	return (rv);
}
