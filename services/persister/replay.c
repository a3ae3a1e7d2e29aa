/*
 * replay - the persister's maintenance thread: migrations until they
 * are applied, replay of the journal in order once the database answers,
 * and hourly expiry of old idempotency keys.
 *
 * Replay applies each journalled envelope through store_apply(), the
 * same code as the live path, and consumes the record only after its
 * transaction committed (or its key proved it committed before), so a
 * crash or an outage in the middle of replay loses nothing and applies
 * nothing twice.  A record the database rejects as malformed can never
 * succeed; it is logged, counted and skipped so it cannot block the
 * journal forever.
 *
 * Threads: one thread with its own struct pg; woken by ps_kick().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs.h"
#include "log.h"
#include "persister.h"
#include "util.h"
#include "wire.h"
#include "xmalloc.h"

#define REPLAY_BATCH 100
#define EXPIRE_EVERY_MS (3600 * 1000)

/* Apply one record; 1 consumed, -1 the database cannot take it now. */
static int
replay_one(struct ps *ps, struct pg *pg, const void *buf, size_t len)
{
	Bus__Envelope *env;
	enum store_rv  r;
	const char    *type;
	char           err[200];
	unsigned char *plain;
	int            n, rv;

	plain = xmalloc(len);
	n = seal_decrypt(ps->phone_key, buf, len, PS_JOURNAL_AAD, plain, len);
	if (n == -1) {
		/* whole (digest checked) but will not open: another key */
		log_errorx("journal: a record does not open with "
		           "PHONE_ENCRYPTION_KEY; replay stopped");
		free(plain);
		return (-1);
	}
	rv = wire_unpack_buf(plain, (size_t)n, &env);
	free(plain);
	if (rv != 0) {
		log_warnx("journal: a record that is not an envelope; "
		          "skipped");
		ps_count("unknown", "replay_dropped");
		return (1);
	}
	type = wire_type_name(env->body_case);
	r = store_apply(pg, ps->phone_key, env, err, sizeof(err));
	switch (r) {
	case STORE_OK:
		ps_count(type, "replayed");
		break;
	case STORE_DUPLICATE:
		ps_count(type, "replay_duplicate");
		break;
	case STORE_BAD:
		log_warnx(
		    "journal: %s rejected on replay, skipped: %s", type, err);
		ps_count(type, "replay_dropped");
		break;
	default:
		wire_free(env);
		return (-1);
	}
	wire_free(env);
	return (1);
}

/* Replay up to a batch: 1 progress, 0 journal empty, -1 db trouble. */
static int
replay_batch(struct ps *ps, struct pg *pg)
{
	void  *buf;
	size_t len;
	off_t  next;
	int    i, r;

	for (i = 0; i < REPLAY_BATCH; i++) {
		if ((r = journal_peek(&ps->journal, &buf, &len, &next)) != 1) {
			if (r == 0 && i > 0)
				log_info("journal replayed: empty again");
			return (r == 0 ? (i > 0) : -1);
		}
		r = replay_one(ps, pg, buf, len);
		free(buf);
		if (r == -1) {
			ps_set_db_up(false);
			return (-1);
		}
		ps_set_db_up(true);
		if (journal_consume(&ps->journal, next) == -1)
			return (-1);
		ps_journal_gauges(ps);
	}
	return (1);
}

static void
maint_main(struct jobs_bg *bg, void *arg)
{
	struct ps *ps = arg;
	struct pg  pg;
	int64_t    next_expire;
	long       n;
	int        r;

	if (pg_init(&pg, ps->cfg.database_url, "persister-replay") == -1)
		return;
	next_expire = util_mono_ms() + 60 * 1000;
	while (!jobs_bg_is_stopping(bg)) {
		pg.next_try_ms = 0; /* at most one attempt per nap */
		if (!ps_migrated()) {
			if (migrate_run(&pg) == -1) {
				(void)jobs_bg_nap(bg, 1000);
				continue;
			}
			ps_set_migrated();
		}
		if ((r = replay_batch(ps, &pg)) == 1)
			continue;
		if (r == 0 && util_mono_ms() >= next_expire) {
			next_expire = util_mono_ms() + EXPIRE_EVERY_MS;
			if ((n = store_expire_keys(
			         &pg, ps->cfg.idempotency_ttl_ms))
			    > 0)
				log_info("expired %ld idempotency keys", n);
		}
		(void)jobs_bg_nap(bg, r == -1 ? 500 : 1000);
	}
	pg_fini(&pg);
}

int
replay_start(struct ps *ps)
{
	return (jobs_bg_start(&ps->maint, "maintenance", maint_main, ps));
}

void
replay_stop(struct ps *ps)
{
	jobs_bg_stop(&ps->maint);
}
