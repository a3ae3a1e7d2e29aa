/*
 * doctor_db - the persister's and the rate-limiter's settings (their own
 * tables; the phone key must parse as persister's does), then PostgreSQL:
 * DATABASE_URL connects, and the schema is at the version this build's
 * persister applies (migrate_latest()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "callctl.h"
#include "cfg.h"
#include "log.h"
#include "../persister/persister.h"
#include "../rate-limiter/rate-limiter.h"
#include "seal.h"
#include "xmalloc.h"

static struct ps_cfg ps;
static struct rl_cfg rl;
static int           loaded;

/* The password inside a DSN (libpq may quote parts of a DSN back in
 * its messages), malloc'd and kept to the end; NULL if none. */
static const char *
dsn_password(const char *dsn)
{
	PQconninfoOption *opts, *o;
	char             *pw = NULL;

	if ((opts = PQconninfoParse(dsn, NULL)) == NULL)
		return (NULL);
	for (o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL)
			pw = xstrdup(o->val);
	PQconninfoFree(opts);
	return (pw);
}

int
doctor_ps_load(void)
{
	unsigned char key[SEAL_KEY_LEN];
	int           rv = 0;

	if (cfg_load(ps_cfg_opts, &ps) == -1)
		return (-1);
	if (seal_key_parse(ps.phone_key, key) == -1) {
		log_warnx(
		    "PHONE_ENCRYPTION_KEY: unusable"); /* and why above */
		rv = -1;
	}
	OPENSSL_cleanse(key, sizeof(key));
	doc_secret(ps.database_url);
	doc_secret(dsn_password(ps.database_url));
	doc_secret(ps.phone_key);
	if (rv == 0)
		loaded = 1;
	return (rv);
}

int
doctor_rl_load(void)
{
	if (cfg_load(rl_cfg_opts, &rl) == -1)
		return (-1);
	doc_secret(rl.hmac_key);
	doc_secret(rl.database_url);
	return (0);
}

/* First line of a libpq message (they end in a newline). */
static const char *
pq_err(PGconn *conn, char *buf, size_t len)
{
	char *nl;

	snprintf(buf, len, "%s", PQerrorMessage(conn));
	if ((nl = strchr(buf, '\n')) != NULL)
		*nl = '\0';
	return (buf);
}

void
doctor_postgres(struct doc_check *c)
{
	const char *kw[]
	    = { "dbname", "connect_timeout", "application_name", NULL };
	const char *val[4];
	char        tmo[24], err[300];
	PGconn     *conn;
	PGresult   *res;
	int         have, want = migrate_latest();

	if (!loaded) {
		doc_fail(c, "connect",
		    "correct the persister's settings first",
		    "not checked: the persister's settings are invalid");
		return;
	}
	snprintf(
	    tmo, sizeof(tmo), "%ld", (ctl_cfg.doctor_timeout_ms + 999) / 1000);
	val[0] = ps.database_url;
	val[1] = tmo;
	val[2] = "callctl-doctor";
	val[3] = NULL;
	conn = PQconnectdbParams(kw, val, 1);
	if (PQstatus(conn) != CONNECTION_OK) {
		doc_fail(c, "connect",
		    "check DATABASE_URL (host, port, user, password, "
		    "sslmode) and that PostgreSQL is up",
		    "cannot connect: %s", pq_err(conn, err, sizeof(err)));
		PQfinish(conn);
		return;
	}
	doc_ok(c, "connect", "connected (server %d)", PQserverVersion(conn));
	res = PQexec(conn,
	    "SELECT coalesce(max(version), 0) "
	    "FROM schema_migrations");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		doc_fail(c, "migrations",
		    "start persister once: it applies the migrations at "
		    "start-up",
		    "no schema_migrations table: %s",
		    pq_err(conn, err, sizeof(err)));
	} else if ((have = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10))
	    < want)
		doc_fail(c, "migrations",
		    "restart persister with this release: it applies the "
		    "missing migrations",
		    "schema at version %d, this release needs %d", have, want);
	else if (have > want)
		doc_fail(c, "migrations",
		    "run the release that migrated the database (no "
		    "downgrades)",
		    "schema at version %d is newer than this release (%d)",
		    have, want);
	else
		doc_ok(
		    c, "migrations", "schema at version %d (current)", have);
	PQclear(res);
	PQfinish(conn);
}
