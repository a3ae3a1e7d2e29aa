/*
 * db_fixture.h - what the ratelimiter_* and persister_* tests share:
 * start the real rate-limiter and persister on a test database, send
 * them requests over NNG as media-edge and ai-session do, read their
 * /metrics, count rows, and dump the database to look for plaintext.
 *
 * Header-only (static functions) because each integration test is one
 * binary linked with tests/lib and common/ only.  Main thread, except
 * dbfx_request() and the dbfx_rate()/dbfx_turn() senders, which any
 * thread may call (bus_request uses one nng context per call).
 */
#ifndef DB_FIXTURE_H
#define DB_FIXTURE_H

#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nng/nng.h>

#include "bus.h"
#include "harness.h"
#include "pgtest.h"
#include "wire.h"

#define DBFX_FN static __attribute__((unused))
#define DBFX_MAX_ENV 32
#define DBFX_HMAC_KEY "rl-test-hmac-key-4f0c2a9e7b15d3c8"
#define DBFX_PHONE_KEY                                                        \
	"8d3f1a2b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7"

struct dbfx_proc {
	const char          *name; /* "rate-limiter", "persister" */
	struct harness_proc *p;
	const char          *url; /* its request socket */
	char                 http[64]; /* http://127.0.0.1:port */
	const char          *env[DBFX_MAX_ENV];
	char                 envbuf[8][512];
	nng_socket           req;
	bool                 dialled;
};

/* Start (or restart, same addresses) the daemon with its env. */
DBFX_FN int
dbfx_run(struct dbfx_proc *d)
{
	if ((d->p = harness_spawn(d->name, d->env)) == NULL)
		return (-1);
	if (!d->dialled && bus_req_dial(&d->req, "test", d->url) != 0)
		return (-1);
	d->dialled = true;
	return (0);
}

/*
 * Prepare and start a daemon: name, its ipc socket tag, DATABASE_URL and
 * extra NAME=value settings (after ours, so they win where libc's getenv
 * takes the first: we skip our default when extra names the variable).
 */
DBFX_FN int
dbfx_start(struct dbfx_proc *d, const char *name, const char *tag,
    const char *dsn, const char *spool, const char *const *extra)
{
	const char *pre
	    = strcmp(name, "persister") == 0 ? "PERSISTER" : "RATE_LIMITER";
	const char *defs[12];
	size_t      n = 0, i, j, len;
	int         port, k = 0, dup;

	memset(d, 0, sizeof(*d));
	d->name = name;
	d->url = harness_ipc_url(tag);
	if ((port = harness_free_port()) < 0)
		return (-1);
	snprintf(d->http, sizeof(d->http), "http://127.0.0.1:%d", port);
	snprintf(d->envbuf[k], 512, "%s_LISTEN_URL=%s", pre, d->url);
	defs[n++] = d->envbuf[k++];
	snprintf(d->envbuf[k], 512, "%s_HTTP_PORT=%d", pre, port);
	defs[n++] = d->envbuf[k++];
	snprintf(d->envbuf[k], 512, "%s_HTTP_ADDR=127.0.0.1", pre);
	defs[n++] = d->envbuf[k++];
	snprintf(d->envbuf[k], 512, "DATABASE_URL=%s", dsn);
	defs[n++] = d->envbuf[k++];
	if (spool != NULL) {
		snprintf(d->envbuf[k], 512, "PERSISTER_SPOOL_DIR=%s", spool);
		defs[n++] = d->envbuf[k++];
	}
	defs[n++] = "RATE_LIMIT_HMAC_KEY=" DBFX_HMAC_KEY;
	defs[n++] = "PHONE_ENCRYPTION_KEY=" DBFX_PHONE_KEY;
	defs[n++] = "LOG_LEVEL=debug"; /* the most the logs ever say */
	defs[n] = NULL;
	n = 0;
	for (i = 0; defs[i] != NULL; i++) {
		len = strcspn(defs[i], "=");
		for (j = 0, dup = 0; extra != NULL && extra[j] != NULL; j++)
			dup |= strncmp(defs[i], extra[j], len + 1) == 0;
		if (!dup)
			d->env[n++] = defs[i];
	}
	for (j = 0; extra != NULL && extra[j] != NULL; j++)
		if (n < DBFX_MAX_ENV - 1)
			d->env[n++] = extra[j];
	d->env[n] = NULL;
	return (dbfx_run(d));
}

/* SIGTERM and expect a clean exit. */
DBFX_FN void
dbfx_stop(struct dbfx_proc *d)
{
	if (d->p == NULL)
		return; /* never started: setup failed */
	assert_int_equal(harness_stop(d->p, 10000), 0);
}

/*
 * Send env (body already set) with call sid and idempotency key; the
 * reply (wire_free it) or NULL if none came in attempts * timeout_ms.
 */
DBFX_FN Bus__Envelope *
dbfx_request(nng_socket s, Bus__Envelope *env, const char *call_sid,
    const char *key, int timeout_ms, int attempts)
{
	struct wire_ids ids;
	Bus__Envelope  *rep = NULL;

	wire_env_init(env, &ids, call_sid, NULL);
	env->idempotency_key = (char *)(key != NULL ? key : "");
	if (bus_request(s, env, &rep, timeout_ms, attempts) != 0)
		return (NULL);
	return (rep);
}

/* A RateCheck; 0 with *out filled, or -1 (no reply or not a decision). */
DBFX_FN int
dbfx_rate(nng_socket s, const char *phone, const char *ip, bool peek,
    Bus__RateDecision *out)
{
	Bus__Envelope  env = BUS__ENVELOPE__INIT;
	Bus__RateCheck rc = BUS__RATE_CHECK__INIT;
	Bus__Envelope *rep;
	int            rv = -1;

	rc.phone = (char *)phone;
	rc.client_ip = (char *)(ip != NULL ? ip : "");
	rc.kind = BUS__RATE_CHECK__KIND__OUTBOUND;
	rc.peek = peek;
	env.body_case = BUS__ENVELOPE__BODY_RATE_CHECK;
	env.rate_check = &rc;
	if ((rep = dbfx_request(s, &env, "", NULL, 5000, 3)) == NULL)
		return (-1);
	if (rep->body_case == BUS__ENVELOPE__BODY_RATE_DECISION) {
		*out = *rep->rate_decision;
		out->reason = NULL; /* points into rep */
		if (strcmp(rep->rate_decision->reason, "ok") == 0)
			out->reason = "ok";
		else if (strcmp(rep->rate_decision->reason, "phone_limit")
		    == 0)
			out->reason = "phone_limit";
		else if (strcmp(rep->rate_decision->reason, "ip_limit") == 0)
			out->reason = "ip_limit";
		else if (strcmp(rep->rate_decision->reason, "invalid_number")
		    == 0)
			out->reason = "invalid_number";
		else if (strcmp(rep->rate_decision->reason, "do_not_call")
		    == 0)
			out->reason = "do_not_call";
		else if (strcmp(rep->rate_decision->reason, "dnc_unavailable")
		    == 0)
			out->reason = "dnc_unavailable";
		else
			out->reason = "other";
		rv = 0;
	}
	wire_free(rep);
	return (rv);
}

/* What a write was answered. */
enum dbfx_ans {
	DBFX_NONE = 0, /* no reply (timeout, peer gone) */
	DBFX_ACK,
	DBFX_DUP,
	DBFX_SPOOLED,
	DBFX_ERROR /* *code says which */
};

DBFX_FN enum dbfx_ans
dbfx_answer(Bus__Envelope *rep, int *code)
{
	enum dbfx_ans a = DBFX_NONE;

	if (rep == NULL)
		return (DBFX_NONE);
	if (rep->body_case == BUS__ENVELOPE__BODY_ACK)
		a = rep->ack->duplicate ? DBFX_DUP
		    : rep->ack->spooled ? DBFX_SPOOLED
		                        : DBFX_ACK;
	else if (rep->body_case == BUS__ENVELOPE__BODY_ERROR) {
		a = DBFX_ERROR;
		if (code != NULL)
			*code = rep->error->code;
	}
	wire_free(rep);
	return (a);
}

/* A TranscriptTurn of call sid with seq and text, under key. */
DBFX_FN enum dbfx_ans
dbfx_turn(nng_socket s, const char *sid, unsigned seq, const char *text,
    const char *key, int timeout_ms, int *code)
{
	Bus__Envelope       env = BUS__ENVELOPE__INIT;
	Bus__TranscriptTurn tt = BUS__TRANSCRIPT_TURN__INIT;
	Bus__Turn           t = BUS__TURN__INIT;

	t.role = seq % 2 ? "user" : "assistant";
	t.text = (char *)text;
	t.seq = seq;
	t.at_ms = 1763700000000LL + seq;
	tt.turn = &t;
	tt.item_id = "item_x";
	env.body_case = BUS__ENVELOPE__BODY_TRANSCRIPT_TURN;
	env.transcript_turn = &tt;
	return (
	    dbfx_answer(dbfx_request(s, &env, sid, key, timeout_ms, 1), code));
}

/* A CallEvent of call sid with seq, under key.  call_events has no
 * unique column: only the idempotency key can stop a double. */
DBFX_FN enum dbfx_ans
dbfx_event(nng_socket s, const char *sid, unsigned seq, const char *key,
    int timeout_ms, int *code)
{
	Bus__Envelope  env = BUS__ENVELOPE__INIT;
	Bus__CallEvent e = BUS__CALL_EVENT__INIT;
	char           payload[64];

	snprintf(payload, sizeof(payload), "{\"n\":%u}", seq);
	e.kind = "edge";
	e.status = "tick";
	e.payload_json = payload;
	e.at_ms = 1763700000000LL + seq;
	e.seq = seq;
	env.body_case = BUS__ENVELOPE__BODY_CALL_EVENT;
	env.call_event = &e;
	return (
	    dbfx_answer(dbfx_request(s, &env, sid, key, timeout_ms, 1), code));
}

/* The value of an unlabelled series in /metrics, or -1. */
DBFX_FN double
dbfx_metric(const char *http, const char *series)
{
	char   url[128], *body = NULL, *p;
	long   status = 0;
	double v = -1;
	size_t n = strlen(series);

	snprintf(url, sizeof(url), "%s/metrics", http);
	if (harness_http("GET", url, NULL, NULL, &status, &body) != 0
	    || status != 200) {
		free(body);
		return (-1);
	}
	for (p = body; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, series, n) == 0 && p[n] == ' ') {
			v = strtod(p + n + 1, NULL);
			break;
		}
	}
	free(body);
	return (v);
}

DBFX_FN long
dbfx_count(const char *dsn, const char *sql)
{
	long n = -1;

	if (pgtest_query_int(dsn, sql, &n) != 0)
		fail_msg("query failed: %s", sql);
	return (n);
}

/* Apply the persister's migrations (every NNN_*.sql, in order) to dsn
 * (for a private cluster). */
DBFX_FN int
dbfx_migrate(const char *dsn)
{
	const char *top = getenv("TOP_DIR");
	char        path[512], *sql;
	glob_t      g;
	FILE       *f;
	long        len;
	size_t      i;
	int         rv = 0;

	snprintf(path, sizeof(path), "%s/services/persister/migrations/*.sql",
	    top != NULL ? top : ".");
	if (glob(path, 0, NULL, &g) != 0)
		return (-1);
	for (i = 0; i < g.gl_pathc && rv == 0; i++) {
		if ((f = fopen(g.gl_pathv[i], "r")) == NULL) {
			rv = -1;
			break;
		}
		fseek(f, 0, SEEK_END);
		len = ftell(f);
		rewind(f);
		sql = calloc(1, (size_t)len + 1);
		if (fread(sql, 1, (size_t)len, f) != (size_t)len)
			len = -1;
		fclose(f);
		rv = len < 0 ? -1 : pgtest_exec(dsn, sql);
		free(sql);
	}
	globfree(&g);
	return (rv);
}

/* pg_dump --data-only of schema (NULL: all) into a new string. */
DBFX_FN char *
dbfx_dump(const char *dsn, const char *schema)
{
	char   cmd[1024], *buf = NULL;
	size_t cap = 0, len = 0, n;
	FILE  *p;

	snprintf(cmd, sizeof(cmd), "pg_dump --data-only %s%s -d '%s'",
	    schema != NULL ? "-n " : "", schema != NULL ? schema : "", dsn);
	if ((p = popen(cmd, "r")) == NULL)
		return (NULL);
	for (;;) {
		if (cap - len < 4096) {
			char *nbuf;

			cap = cap * 2 + 65536;
			if ((nbuf = realloc(buf, cap)) == NULL) {
				free(buf);
				pclose(p);
				return (NULL);
			}
			buf = nbuf;
		}
		if ((n = fread(buf + len, 1, cap - len - 1, p)) == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	if (pclose(p) != 0) {
		free(buf);
		return (NULL);
	}
	return (buf);
}

/* Does the file at path contain s? */
DBFX_FN int
dbfx_file_contains(const char *path, const char *s)
{
	char *buf;
	FILE *f;
	long  len;
	int   hit;

	if ((f = fopen(path, "r")) == NULL)
		return (0);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)len + 1);
	len = (long)fread(buf, 1, (size_t)len, f);
	fclose(f);
	buf[len] = '\0';
	hit = strstr(buf, s) != NULL;
	free(buf);
	return (hit);
}

#endif
