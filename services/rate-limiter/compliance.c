/*
 * compliance - the do-not-call list.
 *
 * DncUpdate (media-edge's POST /dnc, /dnc/remove) adds or removes the
 * HMAC of a number in do_not_call (migration 004); the number itself is
 * never stored.  Before an outbound RateCheck is counted, the number's
 * HMAC is looked up: a listed number is refused "do_not_call".  When the
 * database cannot answer, the list cannot be read and outbound calls are
 * refused "dnc_unavailable" (compliance fails closed), unless
 * RATE_LIMIT_DNC_WHEN_DOWN=allow lets them go on unchecked with the rate
 * limits answered from memory.  Inbound calls do not look at the list.
 * Counted in rate_limit_dnc_total{op,result}.
 *
 * Threads: worker threads, each with its own struct pg.
 */
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "rate-limiter.h"
#include "svc.h"

static const char sql_listed[]
    = "SELECT 1 FROM do_not_call WHERE key_hash = $1";
static const char sql_add[] = "INSERT INTO do_not_call (key_hash) VALUES ($1) "
                              "ON CONFLICT (key_hash) DO NOTHING";
static const char sql_remove[] = "DELETE FROM do_not_call WHERE key_hash = $1";

static struct metric_family *fam_dnc;

void
dnc_metrics_init(void)
{
	fam_dnc = metrics_counter("rate_limit_dnc_total",
	    "Do-not-call list operations (check, add, remove), by result",
	    "op,result");
	(void)metric_get(fam_dnc, "check", "listed");
}

static int
phone_hash(const struct rl *rl, const char *phone, char hex[RL_HASH_HEX])
{
	return (hmac_sha256_hex(rl->cfg.hmac_key, phone, strlen(phone), hex));
}

int
dnc_listed(const struct rl *rl, struct pg *pg, const char *phone)
{
	char        hex[RL_HASH_HEX];
	const char *v[1] = { hex };
	PGresult   *res;
	int         listed;

	if (phone_hash(rl, phone, hex) == -1
	    || (res = pg_exec(pg, "dnc check", sql_listed, 1, v, NULL, NULL))
	        == NULL) {
		metric_inc(metric_get(fam_dnc, "check", "unavailable"));
		return (-1);
	}
	listed = PQntuples(res) > 0;
	PQclear(res);
	metric_inc(metric_get(fam_dnc, "check", listed ? "listed" : "clear"));
	return (listed);
}

int
dnc_update(const struct rl *rl, struct pg *pg, const Bus__DncUpdate *u,
    struct reply *out)
{
	char        hex[RL_HASH_HEX];
	const char *v[1] = { hex }, *op = u->remove ? "remove" : "add";

	if (phone_check(u->phone, &rl->countries) == RL_PHONE_INVALID) {
		metric_inc(metric_get(fam_dnc, op, "bad_request"));
		reply_error(out, BUS__ERROR__CODE__BAD_REQUEST,
		    "phone must be an E.164 number");
		return (0);
	}
	if (phone_hash(rl, u->phone, hex) == -1)
		return (-1);
	if (pg_cmd(pg, "dnc update", u->remove ? sql_remove : sql_add, 1, v)
	    == -1) {
		metric_inc(metric_get(fam_dnc, op, "unavailable"));
		reply_error(out, BUS__ERROR__CODE__UNAVAILABLE,
		    "database unavailable; retry later");
		return (0);
	}
	metric_inc(metric_get(fam_dnc, op, "ok"));
	log_info(
	    "do-not-call list: number %s", u->remove ? "removed" : "added");
	reply_ack(out, false, false);
	return (0);
}
