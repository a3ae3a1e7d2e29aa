/*
 * migrate - versioned schema migrations, embedded in the binary.
 *
 * services/persister/migrations/NNN_name.sql are the source; each is
 * embedded here with the assembler's .incbin (paths relative to the top
 * of the tree, where make runs), so a deployed persister needs no files
 * beside it.  Add a migration: a new NNN_name.sql and one MIGRATION line
 * below.  (make does not see .incbin dependencies: touch this file after
 * editing an .sql.)
 *
 * migrate_run() applies, in one transaction under a transaction-level
 * advisory lock (held by one persister at a time per schema, and usable
 * through a transaction-mode pooler), every version not yet in
 * schema_migrations.  The files are written to be re-runnable, so a
 * schema that a test prepared by running them directly is upgraded in
 * place.  A failed migration rolls the whole transaction back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "persister.h"

#define MIGRATION(sym, file)                                                  \
	__asm__(".section .rodata\n"                                          \
	        ".global " #sym "\n"                                          \
	        ".type " #sym ", @object\n"                                   \
	        ".balign 16\n" #sym ":\n"                                     \
	        ".incbin \"services/persister/migrations/" file "\"\n"        \
	        ".byte 0\n"                                                   \
	        ".previous\n")

MIGRATION(ps_migration_001, "001_init.sql");
MIGRATION(ps_migration_002, "002_calls_api.sql");
MIGRATION(ps_migration_003, "003_usage.sql");
MIGRATION(ps_migration_004, "004_dnc.sql");
MIGRATION(ps_migration_005, "005_record_version.sql");

extern const char ps_migration_001[];
extern const char ps_migration_002[];
extern const char ps_migration_003[];
extern const char ps_migration_004[];
extern const char ps_migration_005[];

struct migration {
	int         version;
	const char *name;
	const char *sql;
};

static const struct migration migrations[] = {
	{ 1, "001_init", ps_migration_001 },
	{ 2, "002_calls_api", ps_migration_002 },
	{ 3, "003_usage", ps_migration_003 },
	{ 4, "004_dnc", ps_migration_004 },
	{ 5, "005_record_version", ps_migration_005 },
};

#define NMIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

static const char sql_lock[]
    = "SELECT pg_advisory_xact_lock(hashtext('persister.migrate'), "
      "hashtext(coalesce(current_schema(), '')))";
static const char sql_table[]
    = "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version integer PRIMARY KEY,"
      " name text NOT NULL,"
      " applied_at timestamptz NOT NULL DEFAULT now());"
      "ALTER TABLE schema_migrations ENABLE ROW LEVEL SECURITY";
static const char sql_applied[]
    = "SELECT 1 FROM schema_migrations WHERE version = $1::integer";
static const char sql_record[]
    = "INSERT INTO schema_migrations (version, name) "
      "VALUES ($1::integer, $2)";

int
migrate_latest(void)
{
	return (migrations[NMIGRATIONS - 1].version);
}

/* Apply one migration unless recorded: 1 applied, 0 already, -1 error. */
static int
apply_one(struct pg *pg, const struct migration *m)
{
	PGresult   *res;
	char        ver[16];
	const char *v[2] = { ver, m->name };
	int         have;

	snprintf(ver, sizeof(ver), "%d", m->version);
	if ((res = pg_exec(
	         pg, "migration check", sql_applied, 1, v, NULL, NULL))
	    == NULL)
		return (-1);
	have = PQntuples(res) > 0;
	PQclear(res);
	if (have)
		return (0);
	if (pg_script(pg, m->name, m->sql) == -1
	    || pg_cmd(pg, "migration record", sql_record, 2, v) == -1)
		return (-1);
	log_info("migration %s applied", m->name);
	return (1);
}

int
migrate_run(struct pg *pg)
{
	size_t i;
	int    n = 0, r;

	if (pg_begin(pg) == -1)
		return (-1);
	if (pg_cmd(pg, "migration lock", sql_lock, 0, NULL) == -1
	    || pg_script(pg, "schema_migrations", sql_table) == -1)
		goto fail;
	for (i = 0; i < NMIGRATIONS; i++) {
		if ((r = apply_one(pg, &migrations[i])) == -1)
			goto fail;
		n += r;
	}
	if (pg_commit(pg) == -1)
		goto fail;
	log_info("schema at version %d (%d migration%s applied now)",
	    migrate_latest(), n, n == 1 ? "" : "s");
	return (0);
fail:
	pg_rollback(pg);
	log_warnx("migrations not applied; will retry");
	return (-1);
}
