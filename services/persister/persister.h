/*
 * persister - private header: configuration, migrations, the SQL store,
 * the local journal and the daemon.
 *
 * Every write (CallOpen, CallEvent, TranscriptTurn, CallRecord) is one
 * transaction that also inserts the envelope's idempotency key, so a
 * retried write changes nothing and is answered Ack{duplicate}.  When the
 * database cannot take a write, the packed envelope is appended to an
 * fsync'd journal and acknowledged Ack{spooled}; the maintenance thread
 * replays the journal in order once the database is back.
 */
#ifndef PERSISTER_H
#define PERSISTER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bus.h"
#include "bus.pb-c.h"
#include "cfg.h"
#include "jobs.h"
#include "pg.h"
#include "seal.h"

struct ps_cfg {
	char *listen_url;
	char *http_addr;
	long  http_port;
	long  workers;
	char *database_url; /* secret */
	char *phone_key; /* secret: PHONE_ENCRYPTION_KEY */
	char *spool_dir;
	long  spool_max_bytes;
	long  idempotency_ttl_ms;
	char *log_level;
	long  shutdown_timeout_ms;

	struct bus_tls bus_tls; /* BUS_TLS_* */
};

extern const struct cfg_opt ps_cfg_opts[];

/* ---- migrate.c: the schema ------------------------------------------ */

/*
 * Apply every embedded migration not yet recorded in schema_migrations,
 * in one transaction under an advisory lock (several persisters may start
 * at once).  Returns 0, or -1 (logged).  Blocks.
 */
int migrate_run(struct pg *);
/* Highest embedded migration version. */
int migrate_latest(void);

/* ---- journal.c: the local spool ------------------------------------- */

/*
 * An append-only file of records, each a header (magic, length, SHA-256
 * prefix of the payload) and the payload (a packed envelope).  Appends
 * are fsync'd before they return.  A torn last record (a crash during an
 * append, never acknowledged) is cut off when the journal is opened.
 * Records are consumed in order; the file is truncated to nothing only
 * when every record has been consumed (replayed and committed).
 * Threads: every call takes j->lock; any thread.
 */
struct journal {
	pthread_mutex_t lock;
	int             fd; /* {lock} */
	int             dirfd;
	char           *path;
	off_t           size; /* bytes in the file {lock} */
	off_t           head; /* first unconsumed byte {lock} */
	long            records; /* unconsumed records {lock} */
	long            max_bytes;
};

enum journal_rv {
	JOURNAL_OK = 0,
	JOURNAL_FULL = -2, /* append would pass max_bytes */
	JOURNAL_IOERR = -1 /* logged */
};

/* Open (create) dir/journal, lock it against a second process, drop a
 * torn tail.  Returns 0 or -1 (logged). */
int  journal_open(struct journal *, const char *dir, long max_bytes);
void journal_close(struct journal *);
/* Append one record and fsync it. */
enum journal_rv journal_append(struct journal *, const void *buf, size_t len);
/*
 * Copy the first unconsumed record into a new buffer (*bufp, free()),
 * *lenp its length, *nextp the offset to pass to journal_consume().
 * Returns 1 with a record, 0 when there is none, -1 on a read error.
 */
int journal_peek(struct journal *, void **bufp, size_t *lenp, off_t *nextp);
/* Mark everything before next consumed; truncate the file when that is
 * all of it.  0 or -1 (logged). */
int journal_consume(struct journal *, off_t next);
/* Unconsumed bytes and records (for metrics and the spool decision). */
void journal_depth(struct journal *, off_t *bytes, long *records);

/* Associated data of sealed journal records (dispatch.c, replay.c). */
#define PS_JOURNAL_AAD "persister.journal"

/* ---- store.c: writes and reads -------------------------------------- */

enum store_rv {
	STORE_OK = 0,
	STORE_DUPLICATE, /* key applied before: nothing done */
	STORE_UNAVAILABLE, /* database unreachable: spool */
	STORE_BAD, /* the request is wrong: do not retry */
	STORE_FAILED /* SQL failed otherwise: retry later */
};

/*
 * Apply one write envelope in one transaction with its idempotency key.
 * errbuf receives a reason for STORE_BAD / STORE_FAILED.  Blocks.
 */
enum store_rv store_apply(struct pg *, const unsigned char *key,
    const Bus__Envelope *, char *errbuf, size_t errlen);
/* True for the body cases store_apply() handles. */
bool store_is_write(int body_case);
/* Delete idempotency keys older than ttl_ms; rows deleted or -1. */
long store_expire_keys(struct pg *, long ttl_ms);

/* context.c: GetCallContext.  Fills out (found or not); cleanup set on
 * out frees what it points at.  Returns STORE_OK, STORE_UNAVAILABLE or
 * STORE_FAILED. */
struct reply;
enum store_rv context_get(
    struct pg *, const char *call_sid, struct reply *out);
/* query.c: CallQuery (the calls API), answered like context_get(). */
enum store_rv query_calls(
    struct pg *, const Bus__CallQuery *, struct reply *out);

/* ---- persister.c: the daemon ---------------------------------------- */

struct ps {
	struct ps_cfg  cfg;
	unsigned char  phone_key[SEAL_KEY_LEN];
	struct journal journal;
	struct svc    *svc;
	struct jobs_bg maint; /* the maintenance thread (replay.c) */
};

int  ps_start(struct ps *);
void ps_stop(struct ps *);
/* Wake the maintenance thread (a record was spooled). */
void ps_kick(struct ps *);
/* Set by the maintenance thread once migrations are applied. */
bool ps_migrated(void);
void ps_set_migrated(void);
void ps_set_db_up(bool up);
/* Refresh the journal depth gauges. */
void ps_journal_gauges(struct ps *);
/* Count one write: type, result ("ok", "duplicate", "spooled", ...). */
void ps_count(const char *type, const char *result);

/* dispatch.c: the svc handler (worker threads). */
int ps_handle(
    struct svc *, const Bus__Envelope *, struct reply *, void *worker);
void *ps_worker_init(struct svc *, int n);
void  ps_worker_fini(void *);

/* replay.c: the maintenance thread: migrations, replay, expiry. */
int  replay_start(struct ps *);
void replay_stop(struct ps *);

#endif
