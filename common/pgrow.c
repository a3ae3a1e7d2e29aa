/*
 * pgrow.c - the INSERT builder of pgrow.h: the statement text is made
 * from the column table on each call (a few hundred bytes, next to a
 * round trip to the server).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgrow.h"
#include "xmalloc.h"

void
pgrow_init(struct pgrow *r, const char *table)
{
	memset(r, 0, sizeof(*r));
	r->table = table;
}

static int
column(struct pgrow *r, const char *col, const char *expr, enum pgrow_upd upd)
{
	int i = r->n;

	if (i == PGROW_MAX)
		fatalx(
		    "pgrow: more than %d columns for %s", PGROW_MAX, r->table);
	r->col[i] = col;
	r->expr[i] = expr != NULL ? expr : "$";
	r->upd[i] = upd;
	r->n++;
	return (i);
}

void
pgrow_add(struct pgrow *r, const char *col, const char *expr,
    enum pgrow_upd upd, const char *value)
{
	r->values[column(r, col, expr, upd)] = value;
}

void
pgrow_add_bytea(struct pgrow *r, const char *col, enum pgrow_upd upd,
    const unsigned char *value, int len)
{
	int i = column(r, col, NULL, upd);

	r->values[i] = (const char *)value;
	r->lengths[i] = len;
	r->formats[i] = 1;
}

void
pgrow_set(struct pgrow *r, const char *clause)
{
	if (r->nset == PGROW_SET_MAX)
		fatalx("pgrow: more than %d SET clauses for %s", PGROW_SET_MAX,
		    r->table);
	r->set[r->nset++] = clause;
}

struct sbuf {
	char  *p;
	size_t len, cap;
};

static void put(struct sbuf *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
put(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int     n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = (b->len + (size_t)n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* expr with its "$" numbered n. */
static void
put_param(struct sbuf *b, const char *expr, int n)
{
	const char *d = strchr(expr, '$');

	if (d == NULL || strchr(d + 1, '$') != NULL)
		fatalx("pgrow: not one $ in %s", expr);
	put(b, "%.*s$%d%s", (int)(d - expr), expr, n, d + 1);
}

char *
pgrow_sql(const struct pgrow *r, const char *conflict, const char *returning)
{
	struct sbuf b = { NULL, 0, 0 };
	const char *sep;
	int         i, nupd = 0;

	put(&b, "INSERT INTO %s (", r->table);
	for (i = 0; i < r->n; i++)
		put(&b, "%s%s", i > 0 ? ", " : "", r->col[i]);
	put(&b, ") VALUES (");
	for (i = 0; i < r->n; i++) {
		put(&b, "%s", i > 0 ? ", " : "");
		put_param(&b, r->expr[i], i + 1);
	}
	put(&b, ")");
	if (conflict != NULL) {
		put(&b, " ON CONFLICT (%s)", conflict);
		for (i = 0; i < r->n; i++) {
			sep = nupd++ > 0 ? ", " : " DO UPDATE SET ";
			if (r->upd[i] == PGROW_SET)
				put(&b, "%s%s = EXCLUDED.%s", sep, r->col[i],
				    r->col[i]);
			else if (r->upd[i] == PGROW_COALESCE)
				put(&b, "%s%s = coalesce(EXCLUDED.%s, %s.%s)",
				    sep, r->col[i], r->col[i], r->table,
				    r->col[i]);
			else
				nupd--;
		}
		for (i = 0; i < r->nset; i++)
			put(&b, "%s%s", nupd++ > 0 ? ", " : " DO UPDATE SET ",
			    r->set[i]);
		if (nupd == 0)
			put(&b, " DO NOTHING");
	}
	if (returning != NULL)
		put(&b, " RETURNING %s", returning);
	return (b.p);
}

PGresult *
pgrow_exec(struct pg *pg, const char *what, const struct pgrow *r,
    const char *conflict, const char *returning)
{
	char     *sql = pgrow_sql(r, conflict, returning);
	PGresult *res;

	res = pg_exec(pg, what, sql, r->n, r->values, r->lengths, r->formats);
	free(sql);
	return (res);
}
