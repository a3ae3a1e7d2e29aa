/*
 * pgrow - an INSERT built one column at a time: each pgrow_add() names
 * the column, says how its parameter is written and how an upsert
 * treats it, and gives the value; the parameters are numbered $1, $2,
 * ... in the order added.  Adding a column is one line, and the SQL
 * and the values cannot drift apart.
 *
 *	struct pgrow r;
 *	pgrow_init(&r, "calls");
 *	pgrow_add(&r, "call_sid", NULL, PGROW_KEY, sid);
 *	pgrow_add(&r, "context", "$::jsonb", PGROW_COALESCE, json);
 *	pgrow_set(&r, "updated_at = now()");
 *	res = pgrow_exec(pg, "call open", &r, "call_sid", NULL);
 *
 * builds INSERT INTO calls (call_sid, context) VALUES ($1, $2::jsonb)
 * ON CONFLICT (call_sid) DO UPDATE SET context = coalesce(EXCLUDED.context,
 * calls.context), updated_at = now().  Values are only ever parameters.
 * The struct is the caller's; values are not copied and must outlive
 * pgrow_exec().  Any thread (one struct per thread).
 */
#ifndef PGROW_H
#define PGROW_H

#include <libpq-fe.h>

#include "pg.h"

#define PGROW_MAX 48
#define PGROW_SET_MAX 8

/* What an upsert does with the column. */
enum pgrow_upd {
	PGROW_KEY, /* not updated (the conflict target, insert-only) */
	PGROW_SET, /* col = EXCLUDED.col */
	PGROW_COALESCE, /* col = coalesce(EXCLUDED.col, table.col) */
};

struct pgrow {
	const char    *table;
	int            n, nset;
	const char    *col[PGROW_MAX];
	const char    *expr[PGROW_MAX]; /* "$" stands for the parameter */
	enum pgrow_upd upd[PGROW_MAX];
	const char    *set[PGROW_SET_MAX]; /* extra SET clauses, verbatim */
	const char    *where; /* the upsert's condition, or NULL */
	const char    *values[PGROW_MAX]; /* NULL: SQL NULL */
	int            lengths[PGROW_MAX];
	int            formats[PGROW_MAX]; /* 1: binary */
};

void pgrow_init(struct pgrow *, const char *table);
/* A text parameter written as expr (NULL: "$", the parameter alone;
 * exactly one "$" otherwise).  Too many columns is a broken invariant
 * (fatalx). */
void pgrow_add(struct pgrow *, const char *col, const char *expr,
    enum pgrow_upd upd, const char *value);
/* A binary (bytea) parameter of len bytes; NULL is SQL NULL. */
void pgrow_add_bytea(struct pgrow *, const char *col, enum pgrow_upd upd,
    const unsigned char *value, int len);
/* An extra SET clause of the upsert, such as "updated_at = now()". */
void pgrow_set(struct pgrow *, const char *clause);
/* The upsert updates only WHERE cond holds (cond verbatim: the table's
 * and EXCLUDED's columns, no parameters). */
void pgrow_where(struct pgrow *, const char *cond);
/*
 * The statement (caller frees): with conflict (the conflict target's
 * column list) NULL, a plain INSERT; else ON CONFLICT (conflict) DO
 * UPDATE SET the updated columns and clauses, or DO NOTHING when there
 * are none.  returning, if not NULL, is appended as RETURNING returning.
 */
char *pgrow_sql(
    const struct pgrow *, const char *conflict, const char *returning);
/* pg_exec() of pgrow_sql() with the row's values. */
PGresult *pgrow_exec(struct pg *, const char *what, const struct pgrow *,
    const char *conflict, const char *returning);

#endif
