/*
 * e2e_fixture.h - the whole product on one machine for the e2e_* tests:
 * the five real daemons (persister and rate-limiter on a fresh schema of
 * the test PostgreSQL with the persister's migrations, reasoner on
 * sim-anthropic, ai-session on sim-openai in conversation mode,
 * media-edge with its HTTP part on sim-twilio's REST API), every bus
 * socket on ipc:// in the test's scratch directory, every HTTP port on
 * loopback.  The simulated callee speaks a clip made by
 * tests/sim/scripts/voice.h at the offsets the test gives; the model
 * follows a conversation script from tests/sim/scripts/.
 *
 * Helpers read what a test asserts on: the database (pgtest), the
 * simulators' records and views (sim-twilio /sim/calls, sim-openai
 * --record, sim-anthropic /sim/stats) and the daemons' logs (which run at
 * debug level so that "no phone number in any log" covers everything
 * they can print).
 *
 * Header-only (static functions): each integration test is one binary
 * linked with tests/lib and common/ only.  Main thread only.  Nothing
 * here skips: a missing binary or database fails the test.
 */
#ifndef E2E_FIXTURE_H
#define E2E_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "hmac.h"
#include "pgtest.h"
#include "telnyx_keys.h"

#include "../sim/scripts/voice.h"

#define E2E_FN static __attribute__((unused))

#define E2E_ACCOUNT "AC0123456789ABCDEF0123456789ABCDEF"
#define E2E_AUTH_TOKEN "e2e0auth0token0f00d4b1c2d3e4f5a6"
#define E2E_API_TOKEN "e2e-api-token-7d1c5b9e2a40f368"
#define E2E_STREAM_SECRET "e2e-stream-secret-4a9f1c7e2b3d"
#define E2E_HMAC_KEY "e2e-rate-hmac-key-93b1e07c5d2a"
#define E2E_PHONE_KEY                                                         \
	"a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define E2E_OPENAI_KEY "sk-e2e-openai"
#define E2E_ANTHROPIC_KEY "sk-ant-e2e"
#define E2E_FROM "+15005550006" /* our caller id */
#define E2E_LEAD_PHONE "+14155550123"
#define E2E_BUSINESS "biz-e2e"
#define E2E_LEAD "lead-e2e"

enum { E2E_PER, E2E_RL, E2E_RSN, E2E_AI, E2E_EDGE, E2E_NDAEMONS };

static const char *const e2e_names[E2E_NDAEMONS]
    = { "persister", "rate-limiter", "reasoner", "ai-session", "media-edge" };

struct e2e_opts {
	const char        *script; /* tests/sim/scripts/<script>, or NULL */
	const char        *speak_at; /* callee's clip offsets, or NULL */
	const char        *answered_by; /* sim-twilio AMD result, or NULL */
	const char        *dtmf; /* keys the callee presses (D@ms,...) */
	const char        *sim_auth_token; /* sim-twilio's (NULL: ours) */
	bool               telnyx; /* EDGE_PROVIDER=telnyx, sim --telnyx */
	bool               twiml_get; /* sim-twilio fetches TwiML by GET */
	const char *const *ant_args; /* more sim-anthropic arguments */
	const char *const *oai_args; /* more sim-openai arguments */
	const char *const *tw_args; /* more sim-twilio arguments */
	const char *const *rsn_env; /* more environment per daemon */
	const char *const *ai_env;
	const char *const *edge_env;
	const char *const *rl_env;
};

struct e2e_env {
	const char *v[64];
	char        buf[64][600];
	int         n;
};

struct e2e {
	struct pgtest_schema db;
	struct harness_proc *d[E2E_NDAEMONS];
	struct harness_proc *twilio, *openai, *anthropic;
	char                 req[E2E_NDAEMONS][256];
	char                 edge_pub[256], ai_pub[256];
	int                  http[E2E_NDAEMONS];
	char                 edge_base[64]; /* http://127.0.0.1:port */
	char                 tw_base[64], oai_base[64], ant_base[64];
	char                 tw_rec[512], oai_rec[512], ant_rec[512];
	char                 wav[512];
	long long            t0;
	int                  seq; /* 1, 2, ... per process: file names */
	struct tx_keys       tx; /* telnyx: this run's webhook key pair */
};

static int e2e_nstarted;

/* ---- small things ---- */

E2E_FN void
e2e_put(struct e2e_env *v, const char *fmt, ...)
{
	va_list ap;

	assert_true(v->n < 63);
	va_start(ap, fmt);
	vsnprintf(v->buf[v->n], sizeof(v->buf[0]), fmt, ap);
	va_end(ap);
	v->v[v->n] = v->buf[v->n];
	v->n++;
	v->v[v->n] = NULL;
}

E2E_FN void
e2e_put_list(struct e2e_env *v, const char *const *list)
{
	for (; list != NULL && *list != NULL; list++)
		e2e_put(v, "%s", *list);
}

E2E_FN const char *
e2e_top(void)
{
	const char *t = getenv("TOP_DIR");

	return (t != NULL && *t != '\0' ? t : ".");
}

/* Seconds since the fixture started, for progress lines. */
E2E_FN double
e2e_elapsed(const struct e2e *e)
{
	return ((harness_now_ms() - e->t0) / 1000.0);
}

E2E_FN void
e2e_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A simulator on --port 0; its base URL from the ready line. */
static struct harness_proc *
e2e_sim(const char *name, const char *const *argv, char *base, size_t len)
{
	struct harness_proc *p = harness_spawn_args(name, argv, NULL);

	if (p == NULL || harness_ready_port(p) <= 0) {
		fprintf(stderr, "e2e: %s did not start\n", name);
		return (NULL);
	}
	snprintf(base, len, "http://127.0.0.1:%d", harness_ready_port(p));
	return (p);
}

/*
 * Spawns daemon i with env (its HTTP port variable last, added here).  A
 * port taken by someone else between harness_free_port() and the bind
 * makes the start fail: tried again on another port, at most 3 times.
 */
static int
e2e_daemon(struct e2e *e, int i, struct e2e_env *env, const char *port_var)
{
	int tries, n = env->n;

	for (tries = 0; tries < 3; tries++) {
		env->n = n;
		if ((e->http[i] = harness_free_port()) <= 0)
			return (-1);
		e2e_put(env, "%s=%d", port_var, e->http[i]);
		if ((e->d[i] = harness_spawn(e2e_names[i], env->v)) != NULL)
			return (0);
	}
	fprintf(stderr, "e2e: %s did not start\n", e2e_names[i]);
	return (-1);
}

/* ---- start and stop ---- */

static int
e2e_start_sims(struct e2e *e, const struct e2e_opts *o)
{
	const char *tw[32], *oai[16], *ant[24];
	char        script[600];
	int         n, i;

	snprintf(e->wav, sizeof(e->wav), "%s/callee.wav", harness_tmpdir());
	if (voice_write_wav(e->wav, 950) == -1) {
		fprintf(stderr, "e2e: cannot write %s\n", e->wav);
		return (-1);
	}
	snprintf(e->ant_rec, sizeof(e->ant_rec), "%s/anthropic%d.jsonl",
	    harness_tmpdir(), e->seq);
	n = 0;
	ant[n++] = "--port";
	ant[n++] = "0";
	ant[n++] = "--api-key";
	ant[n++] = E2E_ANTHROPIC_KEY;
	ant[n++] = "--record";
	ant[n++] = e->ant_rec;
	for (i = 0; o->ant_args != NULL && o->ant_args[i] != NULL && n < 22;
	     i++)
		ant[n++] = o->ant_args[i];
	ant[n] = NULL;
	if ((e->anthropic = e2e_sim(
	         "sim-anthropic", ant, e->ant_base, sizeof(e->ant_base)))
	    == NULL)
		return (-1);

	snprintf(e->oai_rec, sizeof(e->oai_rec), "%s/openai%d.jsonl",
	    harness_tmpdir(), e->seq);
	n = 0;
	oai[n++] = "--port";
	oai[n++] = "0";
	oai[n++] = "--api-key";
	oai[n++] = E2E_OPENAI_KEY;
	oai[n++] = "--mode";
	oai[n++] = "conversation";
	oai[n++] = "--record";
	oai[n++] = e->oai_rec;
	if (o->script != NULL) {
		snprintf(script, sizeof(script), "%s/tests/sim/scripts/%s",
		    e2e_top(), o->script);
		oai[n++] = "--script";
		oai[n++] = script;
	}
	for (i = 0; o->oai_args != NULL && o->oai_args[i] != NULL && n < 14;
	     i++)
		oai[n++] = o->oai_args[i];
	oai[n] = NULL;
	if ((e->openai
	        = e2e_sim("sim-openai", oai, e->oai_base, sizeof(e->oai_base)))
	    == NULL)
		return (-1);

	snprintf(e->tw_rec, sizeof(e->tw_rec), "%s/twilio%d.jsonl",
	    harness_tmpdir(), e->seq);
	n = 0;
	tw[n++] = "--port";
	tw[n++] = "0";
	tw[n++] = "--account-sid";
	tw[n++] = E2E_ACCOUNT;
	tw[n++] = "--auth-token";
	tw[n++]
	    = o->sim_auth_token != NULL ? o->sim_auth_token : E2E_AUTH_TOKEN;
	tw[n++] = "--record";
	tw[n++] = e->tw_rec;
	tw[n++] = "--ring-ms";
	tw[n++] = "200";
	tw[n++] = "--call-duration-ms";
	tw[n++] = "45000"; /* the callee hangs up at the latest then */
	tw[n++] = "--caller-audio";
	tw[n++] = e->wav;
	if (o->speak_at != NULL) {
		tw[n++] = "--caller-speak-at-ms";
		tw[n++] = o->speak_at;
	}
	if (o->dtmf != NULL) {
		tw[n++] = "--caller-dtmf";
		tw[n++] = o->dtmf;
	}
	if (o->answered_by != NULL) {
		tw[n++] = "--answered-by";
		tw[n++] = o->answered_by;
	}
	if (o->twiml_get)
		tw[n++] = "--twiml-get";
	if (o->telnyx) {
		if (tx_keys_new(&e->tx) == -1)
			return (-1);
		tw[n++] = "--telnyx";
		tw[n++] = "--telnyx-key";
		tw[n++] = e->tx.seed_b64;
	}
	for (i = 0; o->tw_args != NULL && o->tw_args[i] != NULL && n < 30; i++)
		tw[n++] = o->tw_args[i];
	tw[n] = NULL;
	if ((e->twilio
	        = e2e_sim("sim-twilio", tw, e->tw_base, sizeof(e->tw_base)))
	    == NULL)
		return (-1);
	return (0);
}

static int
e2e_start_back(struct e2e *e, const struct e2e_opts *o)
{
	struct e2e_env env;
	char           spool[512];

	snprintf(spool, sizeof(spool), "%s/spool", harness_tmpdir());
	memset(&env, 0, sizeof(env));
	e2e_put(&env, "PERSISTER_LISTEN_URL=%s", e->req[E2E_PER]);
	e2e_put(&env, "PERSISTER_HTTP_ADDR=127.0.0.1");
	e2e_put(&env, "DATABASE_URL=%s", e->db.dsn);
	e2e_put(&env, "PHONE_ENCRYPTION_KEY=%s", E2E_PHONE_KEY);
	e2e_put(&env, "PERSISTER_SPOOL_DIR=%s", spool);
	e2e_put(&env, "LOG_LEVEL=debug");
	if (e2e_daemon(e, E2E_PER, &env, "PERSISTER_HTTP_PORT") == -1)
		return (-1);

	memset(&env, 0, sizeof(env));
	e2e_put(&env, "RATE_LIMITER_LISTEN_URL=%s", e->req[E2E_RL]);
	e2e_put(&env, "RATE_LIMITER_HTTP_ADDR=127.0.0.1");
	e2e_put(&env, "DATABASE_URL=%s", e->db.dsn);
	e2e_put(&env, "RATE_LIMIT_HMAC_KEY=%s", E2E_HMAC_KEY);
	e2e_put(&env, "LOG_LEVEL=debug");
	e2e_put_list(&env, o->rl_env);
	if (e2e_daemon(e, E2E_RL, &env, "RATE_LIMITER_HTTP_PORT") == -1)
		return (-1);

	memset(&env, 0, sizeof(env));
	e2e_put(&env, "REASONER_LISTEN_URL=%s", e->req[E2E_RSN]);
	e2e_put(&env, "REASONER_HTTP_ADDR=127.0.0.1");
	e2e_put(&env, "ANTHROPIC_BASE_URL=%s", e->ant_base);
	e2e_put(&env, "ANTHROPIC_API_KEY=%s", E2E_ANTHROPIC_KEY);
	e2e_put(&env, "LOG_LEVEL=debug");
	e2e_put_list(&env, o->rsn_env);
	if (e2e_daemon(e, E2E_RSN, &env, "REASONER_HTTP_PORT") == -1)
		return (-1);

	memset(&env, 0, sizeof(env));
	e2e_put(&env, "AI_LISTEN_URL=%s", e->req[E2E_AI]);
	e2e_put(&env, "AI_PUB_URL=%s", e->ai_pub);
	e2e_put(&env, "AI_HTTP_ADDR=127.0.0.1");
	e2e_put(&env,
	    "OPENAI_REALTIME_URL=ws://%s/v1/realtime?model=gpt-realtime-2",
	    e->oai_base + strlen("http://"));
	e2e_put(&env, "OPENAI_API_KEY=%s", E2E_OPENAI_KEY);
	e2e_put(&env, "PERSISTER_URL=%s", e->req[E2E_PER]);
	e2e_put(&env, "REASONER_URL=%s", e->req[E2E_RSN]);
	e2e_put(&env, "AI_SUMMARY_RETRY_MS=500");
	e2e_put(&env, "AI_RECORD_RETRY_MAX_MS=1000");
	e2e_put(&env, "LOG_LEVEL=debug");
	e2e_put_list(&env, o->ai_env);
	if (e2e_daemon(e, E2E_AI, &env, "AI_HTTP_PORT") == -1)
		return (-1);
	return (0);
}

/* media-edge: its public URL names its own port, so a retry on another
 * port rebuilds the whole environment. */
static int
e2e_start_edge(struct e2e *e, const struct e2e_opts *o)
{
	struct e2e_env env;
	int            tries;

	for (tries = 0; tries < 3; tries++) {
		if ((e->http[E2E_EDGE] = harness_free_port()) <= 0)
			return (-1);
		snprintf(e->edge_base, sizeof(e->edge_base),
		    "http://127.0.0.1:%d", e->http[E2E_EDGE]);
		memset(&env, 0, sizeof(env));
		e2e_put(&env, "EDGE_LISTEN_URL=%s", e->req[E2E_EDGE]);
		e2e_put(&env, "EDGE_PUB_URL=%s", e->edge_pub);
		e2e_put(&env, "EDGE_HTTP_ADDR=127.0.0.1");
		e2e_put(&env, "EDGE_HTTP_PORT=%d", e->http[E2E_EDGE]);
		e2e_put(&env, "EDGE_PUBLIC_URL=%s", e->edge_base);
		e2e_put(&env, "AI_SESSION_URL=%s", e->req[E2E_AI]);
		e2e_put(&env, "RATE_LIMITER_URL=%s", e->req[E2E_RL]);
		e2e_put(&env, "PERSISTER_URL=%s", e->req[E2E_PER]);
		e2e_put(
		    &env, "EDGE_STREAM_TOKEN_SECRET=%s", E2E_STREAM_SECRET);
		e2e_put(&env, "EDGE_API_TOKEN=%s", E2E_API_TOKEN);
		if (o->telnyx) {
			/* the sim's application id and API key are the
			 * Twilio account's sid and token */
			e2e_put(&env, "EDGE_PROVIDER=telnyx");
			e2e_put(&env, "TELNYX_API_BASE_URL=%s/v2", e->tw_base);
			e2e_put(&env, "TELNYX_APPLICATION_ID=%s", E2E_ACCOUNT);
			e2e_put(&env, "TELNYX_API_KEY=%s", E2E_AUTH_TOKEN);
			e2e_put(&env, "TELNYX_PUBLIC_KEY=%s", e->tx.pub_b64);
			e2e_put(&env, "TELNYX_FROM_NUMBER=%s", E2E_FROM);
		} else {
			e2e_put(&env, "EDGE_PROVIDER=twilio");
			e2e_put(&env, "TWILIO_API_BASE_URL=%s/2010-04-01",
			    e->tw_base);
			e2e_put(&env, "TWILIO_ACCOUNT_SID=%s", E2E_ACCOUNT);
			e2e_put(&env, "TWILIO_AUTH_TOKEN=%s", E2E_AUTH_TOKEN);
			e2e_put(&env, "TWILIO_FROM_NUMBER=%s", E2E_FROM);
		}
		e2e_put(&env, "EDGE_TWILIO_AUTH_TOKEN");
		e2e_put(&env, "EDGE_DRAIN_TIMEOUT_MS=2000");
		e2e_put(&env, "LOG_LEVEL=debug");
		e2e_put_list(&env, o->edge_env);
		if ((e->d[E2E_EDGE] = harness_spawn("media-edge", env.v))
		    != NULL)
			return (0);
	}
	fprintf(stderr, "e2e: media-edge did not start\n");
	return (-1);
}

/* Starts everything (fails the test on error). */
E2E_FN void
e2e_start(struct e2e *e, const struct e2e_opts *o)
{
	static const struct e2e_opts none;
	int                          i;

	if (o == NULL)
		o = &none;
	memset(e, 0, sizeof(*e));
	e->t0 = harness_now_ms();
	e->seq = ++e2e_nstarted;
	assert_int_equal(pgtest_schema_new(&e->db, 1), 0);
	for (i = 0; i < E2E_NDAEMONS; i++)
		snprintf(e->req[i], sizeof(e->req[i]), "%s",
		    harness_ipc_url(e2e_names[i]));
	snprintf(e->edge_pub, sizeof(e->edge_pub), "%s",
	    harness_ipc_url("edge-pub"));
	snprintf(
	    e->ai_pub, sizeof(e->ai_pub), "%s", harness_ipc_url("ai-pub"));
	assert_int_equal(e2e_start_sims(e, o), 0);
	assert_int_equal(e2e_start_back(e, o), 0);
	assert_int_equal(e2e_start_edge(e, o), 0);
	print_message("e2e: stack up in %.1f s (scratch %s)\n", e2e_elapsed(e),
	    harness_tmpdir());
}

/* Stops everything; every process must exit 0 in time. */
E2E_FN void
e2e_stop(struct e2e *e)
{
	struct harness_proc *sims[3] = { e->twilio, e->openai, e->anthropic };
	int                  i, rc, bad = 0;

	for (i = E2E_NDAEMONS - 1; i >= 0; i--) {
		if (e->d[i] == NULL)
			continue;
		if ((rc = harness_stop(e->d[i], 15000)) != 0) {
			print_error("e2e: %s exited with %d (log %s)\n",
			    e2e_names[i], rc, harness_log_path(e->d[i]));
			bad++;
		}
	}
	for (i = 0; i < 3; i++)
		if (sims[i] != NULL
		    && (rc = harness_stop(sims[i], 5000)) != 0) {
			print_error(
			    "e2e: a simulator exited with %d (log %s)\n", rc,
			    harness_log_path(sims[i]));
			bad++;
		}
	if (e->db.dsn != NULL)
		pgtest_schema_drop(&e->db);
	tx_keys_free(&e->tx);
	assert_int_equal(bad, 0);
}

/* ---- the database ---- */

/* One business and its lead, as an operator's system would hold them. */
E2E_FN void
e2e_seed(struct e2e *e)
{
	assert_int_equal(
	    pgtest_exec(e->db.dsn,
	        "INSERT INTO businesses (id, name, description, "
	        "voicemail_message) VALUES ('" E2E_BUSINESS
	        "', 'Acme Plumbing', 'Boiler servicing and heating repairs', "
	        "'Hi, this is Sam from Acme Plumbing about your yearly boiler "
	        "service. Please call us back. Thank you!');"
	        "INSERT INTO leads (id, business_id, name) VALUES ('" E2E_LEAD
	        "', '" E2E_BUSINESS "', 'Dana')"),
	    0);
}

E2E_FN long
e2e_count(struct e2e *e, const char *sql)
{
	long n = -1;

	if (pgtest_query_int(e->db.dsn, sql, &n) != 0)
		fail_msg("query failed: %s", sql);
	return (n);
}

/* sql's first column once it is a non-NULL text (malloc'd), or NULL
 * after timeout_ms. */
E2E_FN char *
e2e_db_wait(struct e2e *e, const char *sql, int timeout_ms)
{
	long long end = harness_now_ms() + timeout_ms;
	char     *s;

	for (;;) {
		s = NULL;
		if (pgtest_query_text(e->db.dsn, sql, &s) == 0 && s != NULL)
			return (s);
		if (harness_now_ms() > end)
			return (NULL);
		e2e_sleep_ms(100);
	}
}

/* A text value of the call's row (malloc'd; NULL if NULL). */
E2E_FN char *
e2e_call_field(struct e2e *e, const char *sid, const char *expr)
{
	char        sql[512], *s = NULL;
	const char *p[1] = { sid };

	snprintf(sql, sizeof(sql),
	    "SELECT (%s)::text FROM calls WHERE "
	    "call_sid = $1",
	    expr);
	if (pgtest_query_text_params(e->db.dsn, sql, 1, p, &s) != 0)
		fail_msg("no calls row for %s", sid);
	return (s);
}

E2E_FN long
e2e_count_sid(struct e2e *e, const char *sql, const char *sid)
{
	const char *p[1] = { sid };
	long        n = -1;

	if (pgtest_query_int_params(e->db.dsn, sql, 1, p, &n) != 0)
		fail_msg("query failed: %s", sql);
	return (n);
}

/* Waits until the call's row has ended_at and the summary is settled
 * (stored, or pending when want_pending); 0 or -1. */
E2E_FN int
e2e_wait_record(
    struct e2e *e, const char *sid, int want_pending, int timeout_ms)
{
	long long end = harness_now_ms() + timeout_ms;
	char      sql[400];
	long      n;

	snprintf(sql, sizeof(sql),
	    "SELECT count(*) FROM calls WHERE call_sid = $1 AND ended_at IS "
	    "NOT NULL AND transcript IS NOT NULL AND %s",
	    want_pending ? "summary_pending"
	                 : "NOT summary_pending AND summary IS NOT NULL");
	for (;;) {
		n = e2e_count_sid(e, sql, sid);
		if (n == 1)
			return (0);
		if (harness_now_ms() > end)
			return (-1);
		e2e_sleep_ms(100);
	}
}

/* ---- HTTP ---- */

/* POST /calls with our bearer token; the status, *sid on 2xx. */
E2E_FN long
e2e_post_call(struct e2e *e, const char *to, const char *bearer, char *sid,
    size_t sidlen, char **respp)
{
	const char *h[3] = { "Content-Type: application/json", NULL, NULL };
	char        url[128], auth[200], body[1024], *resp = NULL;
	long        status = 0;
	json_t     *o;

	if (bearer != NULL) {
		snprintf(
		    auth, sizeof(auth), "Authorization: Bearer %s", bearer);
		h[1] = auth;
	}
	snprintf(url, sizeof(url), "%s/calls", e->edge_base);
	snprintf(body, sizeof(body),
	    "{\"to\":\"%s\",\"lead_id\":\"" E2E_LEAD "\","
	    "\"objective\":\"Book Dana's yearly boiler service; Thursday "
	    "mornings suit the technician.\",\"context\":{\"last_service\":"
	    "\"2025-11-02\",\"boiler\":\"Vaillant ecoTEC\"}}",
	    to);
	assert_int_equal(
	    harness_http("POST", url, h, body, &status, &resp), 0);
	if (sid != NULL && status >= 200 && status < 300) {
		o = json_loads(resp != NULL ? resp : "", 0, NULL);
		assert_non_null(
		    json_string_value(json_object_get(o, "call_sid")));
		snprintf(sid, sidlen, "%s",
		    json_string_value(json_object_get(o, "call_sid")));
		json_decref(o);
	}
	if (respp != NULL)
		*respp = resp;
	else
		free(resp);
	return (status);
}

/* GET base + path as JSON (NULL unless 200). */
E2E_FN json_t *
e2e_get_json(const char *base, const char *path)
{
	char    url[600], *body = NULL;
	long    status = 0;
	json_t *o = NULL;

	snprintf(url, sizeof(url), "%s%s", base, path);
	if (harness_http("GET", url, NULL, NULL, &status, &body) == 0
	    && status == 200)
		o = json_loads(body, 0, NULL);
	free(body);
	return (o);
}

E2E_FN void
e2e_post_json(const char *base, const char *path, const char *json)
{
	const char *h[] = { "Content-Type: application/json", NULL };
	char        url[600], *body = NULL;
	long        status = 0;

	snprintf(url, sizeof(url), "%s%s", base, path);
	assert_int_equal(
	    harness_http("POST", url, h, json, &status, &body), 0);
	if (status < 200 || status > 299)
		fail_msg("POST %s: %ld %s", url, status, body ? body : "");
	free(body);
}

/* sim-twilio's view of one call (see tests/sim/sim-twilio/api.c). */
E2E_FN json_t *
e2e_tw_call(struct e2e *e, const char *sid)
{
	char path[160];

	snprintf(path, sizeof(path), "/sim/calls/%s", sid);
	return (e2e_get_json(e->tw_base, path));
}

/* Waits until sim-twilio has finished the call (completed callback
 * posted); its view, or NULL. */
E2E_FN json_t *
e2e_tw_wait_done(struct e2e *e, const char *sid, int timeout_ms)
{
	long long end = harness_now_ms() + timeout_ms;
	json_t   *v;

	for (;;) {
		v = e2e_tw_call(e, sid);
		if (v != NULL
		    && strcmp(json_string_value(json_object_get(v, "step")),
		           "done")
		        == 0)
			return (v);
		json_decref(v);
		if (harness_now_ms() > end)
			return (NULL);
		e2e_sleep_ms(100);
	}
}

/* The single call sid sim-twilio knows (inbound calls), or fails. */
E2E_FN void
e2e_tw_inbound(struct e2e *e, const char *from, char *sid, size_t len)
{
	char        json[600], url[128], *body = NULL;
	json_t     *o;
	long        status = 0;
	const char *h[] = { "Content-Type: application/json", NULL };

	snprintf(json, sizeof(json),
	    "{\"to\":\"%s\",\"from\":\"%s\",\"url\":\"%s/twiml\","
	    "\"status_callback\":\"%s/status\"}",
	    E2E_FROM, from, e->edge_base, e->edge_base);
	snprintf(url, sizeof(url), "%s/sim/inbound", e->tw_base);
	assert_int_equal(
	    harness_http("POST", url, h, json, &status, &body), 0);
	assert_int_equal(status, 201);
	o = json_loads(body, 0, NULL);
	assert_non_null(json_string_value(json_object_get(o, "call_sid")));
	snprintf(
	    sid, len, "%s", json_string_value(json_object_get(o, "call_sid")));
	json_decref(o);
	free(body);
}

/* A number from a JSON object (sim stats), or -1. */
E2E_FN long
e2e_json_num(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b != NULL)
		v = json_object_get(v, b);
	return (json_is_integer(v) ? (long)json_integer_value(v) : -1);
}

/* Prints label and o as compact JSON. */
E2E_FN void
e2e_print_json(const char *label, const json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);

	print_message("%s: %s\n", label, s != NULL ? s : "(null)");
	free(s);
}

/* ---- records (JSON lines) ---- */

/* Lines of a record file whose key equals val, as an array. */
E2E_FN json_t *
e2e_records(const char *path, const char *key, const char *val)
{
	json_t     *all = json_array(), *o;
	FILE       *f = fopen(path, "r");
	char       *line = NULL;
	size_t      cap = 0;
	const char *s;

	if (f == NULL)
		return (all);
	while (getline(&line, &cap, f) > 0) {
		if ((o = json_loads(line, 0, NULL)) == NULL)
			continue;
		s = json_string_value(json_object_get(o, key));
		if (s != NULL && strcmp(s, val) == 0)
			json_array_append(all, o);
		json_decref(o);
	}
	free(line);
	fclose(f);
	return (all);
}

E2E_FN size_t
e2e_nrecords(const char *path, const char *key, const char *val)
{
	json_t *a = e2e_records(path, key, val);
	size_t  n = json_array_size(a);

	json_decref(a);
	return (n);
}

/* ---- logs ---- */

/* 1 if the file contains s. */
static int
e2e_file_has(const char *path, const char *s)
{
	FILE  *f = fopen(path, "r");
	char  *line = NULL;
	size_t cap = 0;
	int    found = 0;

	if (f == NULL)
		return (0);
	while (!found && getline(&line, &cap, f) > 0)
		found = strstr(line, s) != NULL;
	free(line);
	fclose(f);
	return (found);
}

/*
 * No daemon log holds the number in any common spelling: E.164, its
 * digits alone, or its national part (a phone number is never logged).
 */
E2E_FN void
e2e_assert_no_phone_in_logs(struct e2e *e, const char *phone)
{
	const char *forms[3] = { phone, phone + 1, phone + 2 };
	int         i, k;

	for (i = 0; i < E2E_NDAEMONS; i++)
		for (k = 0; k < 3; k++)
			if (e->d[i] != NULL
			    && e2e_file_has(
			        harness_log_path(e->d[i]), forms[k]))
				fail_msg(
				    "%s's log (%s) holds the phone number",
				    e2e_names[i], harness_log_path(e->d[i]));
}

/* The rate limiter's key for a number, as rate-limiter computes it. */
E2E_FN void
e2e_phone_hash(const char *phone, char out[65])
{
	assert_int_equal(
	    hmac_sha256_hex(E2E_HMAC_KEY, phone, strlen(phone), out), 0);
}

#endif /* E2E_FIXTURE_H */
