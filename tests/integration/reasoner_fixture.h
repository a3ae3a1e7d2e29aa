/*
 * reasoner_fixture.h - what the reasoner_*_test binaries share: start
 * sim-anthropic and the real reasoner pointed at it, send requests over
 * NNG like ai-session does, and read /metrics and /sim/stats.
 *
 * Header-only (static functions) because each integration test is one
 * binary linked with tests/lib and common/ only.  Main thread, except
 * fx_decision()/fx_summary(), which any thread may call (bus_request
 * uses one nng context per call).
 */
#ifndef REASONER_FIXTURE_H
#define REASONER_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <nng/nng.h>

#include "bus.h"
#include "harness.h"
#include "wire.h"

#define FX_KEY "sk-ant-test-7f3a9c"
#define FX_MAX_ENV 32
/* Not every test uses every helper. */
#define FX_FN static __attribute__((unused))

struct fx {
	struct harness_proc *sim;
	struct harness_proc *rsn;
	char                 sim_base[64];
	char                 http_base[64];
	const char          *url; /* reasoner request socket */
	nng_socket           req;
};

/* env: defaults, then extra ("NAME=value", or "NAME" to unset)
 * replacing same-named ones. */
FX_FN void
fx_env(const char **out, const char *const *defs, const char *const *extra)
{
	size_t n = 0, i, j, len;
	int    replaced;

	for (i = 0; defs[i] != NULL; i++) {
		len = strcspn(defs[i], "=");
		replaced = 0;
		for (j = 0; extra != NULL && extra[j] != NULL; j++)
			if (strcspn(extra[j], "=") == len
			    && strncmp(defs[i], extra[j], len) == 0)
				replaced = 1; /* "NAME=v" or "NAME" (unset) */
		if (!replaced && n < FX_MAX_ENV - 1)
			out[n++] = defs[i];
	}
	for (j = 0; extra != NULL && extra[j] != NULL; j++)
		if (n < FX_MAX_ENV - 1)
			out[n++] = extra[j];
	out[n] = NULL;
}

/*
 * Spawn the reasoner on a fresh HTTP port; other tests on the machine may
 * take a port between harness_free_port() and our bind, so a failed start
 * is tried again (at most 3 times) with another port.
 */
FX_FN int
fx_spawn_reasoner(struct fx *f, const char *const *extra_env)
{
	const char *env[FX_MAX_ENV];
	char        listen[300], base[96], port[48];
	int         hp, tries;
	const char *defs[] = { listen, "REASONER_HTTP_ADDR=127.0.0.1", port,
		base, "ANTHROPIC_API_KEY=" FX_KEY, "LOG_LEVEL=info", NULL };

	snprintf(listen, sizeof(listen), "REASONER_LISTEN_URL=%s", f->url);
	snprintf(base, sizeof(base), "ANTHROPIC_BASE_URL=%s", f->sim_base);
	for (tries = 0; tries < 3; tries++) {
		if ((hp = harness_free_port()) < 0)
			return (-1);
		snprintf(port, sizeof(port), "REASONER_HTTP_PORT=%d", hp);
		snprintf(f->http_base, sizeof(f->http_base),
		    "http://127.0.0.1:%d", hp);
		fx_env(env, defs, extra_env);
		if ((f->rsn = harness_spawn("reasoner", env)) != NULL)
			return (0);
	}
	return (-1);
}

/* Start the sim (sim_args: extra flags) and only then the reasoner. */
FX_FN int
fx_start(
    struct fx *f, const char *const *sim_args, const char *const *extra_env)
{
	static int  n;
	const char *argv[24] = { "--port", "0", "--api-key", FX_KEY };
	char        name[32];
	int         i, k = 4;

	memset(f, 0, sizeof(*f));
	for (i = 0; sim_args != NULL && sim_args[i] != NULL && k < 23; i++)
		argv[k++] = sim_args[i];
	argv[k] = NULL;
	if ((f->sim = harness_spawn_args("sim-anthropic", argv, NULL)) == NULL)
		return (-1);
	snprintf(f->sim_base, sizeof(f->sim_base), "http://127.0.0.1:%d",
	    harness_ready_port(f->sim));
	snprintf(name, sizeof(name), "reasoner%d", n++);
	f->url = harness_ipc_url(name);
	if (fx_spawn_reasoner(f, extra_env) == -1)
		return (-1);
	if (bus_req_dial(&f->req, "test", f->url) != 0)
		return (-1);
	return (0);
}

/* Stop both, expecting exit status 0 from each. */
FX_FN void
fx_stop(struct fx *f)
{
	nng_close(f->req);
	assert_int_equal(harness_stop(f->rsn, 5000), 0);
	assert_int_equal(harness_stop(f->sim, 5000), 0);
}

/* Send a request body; NULL if no reply came within timeout_ms. */
FX_FN Bus__Envelope *
fx_request(struct fx *f, Bus__Envelope *env, int timeout_ms)
{
	struct wire_ids ids;
	Bus__Envelope  *rep = NULL;
	char            key[33];

	wire_env_init(env, &ids, "CAtest0001", NULL);
	snprintf(key, sizeof(key), "%s", ids.msg_id);
	env->idempotency_key = key;
	if (bus_request(f->req, env, &rep, timeout_ms, 1) != 0)
		return (NULL);
	return (rep);
}

FX_FN Bus__Envelope *
fx_decision(
    struct fx *f, const char *question, unsigned deadline_ms, int timeout_ms)
{
	Bus__Envelope      env = BUS__ENVELOPE__INIT;
	Bus__ReasonRequest q = BUS__REASON_REQUEST__INIT;
	Bus__Turn          t = BUS__TURN__INIT, *turns[] = { &t };

	t.role = "user";
	t.text = "Could we do Thursday at 10am instead?";
	q.situation = "Booking a free solar survey for Acme Solar.";
	q.recent_turns = turns;
	q.n_recent_turns = 1;
	q.question = (char *)question;
	q.deadline_ms = deadline_ms;
	env.body_case = BUS__ENVELOPE__BODY_REASON_REQUEST;
	env.reason_request = &q;
	return (fx_request(f, &env, timeout_ms));
}

/* A summary of a two-turn call whose caller says user_text. */
FX_FN Bus__Envelope *
fx_summary(struct fx *f, const char *user_text, int timeout_ms)
{
	Bus__Envelope         env = BUS__ENVELOPE__INIT;
	Bus__SummarizeRequest q = BUS__SUMMARIZE_REQUEST__INIT;
	Bus__Turn             a = BUS__TURN__INIT, u = BUS__TURN__INIT;
	Bus__Turn            *turns[] = { &a, &u };

	a.role = "assistant";
	a.text = "Hi, this is Sam from Acme Solar. Could we book a survey?";
	u.role = "user";
	u.text = (char *)user_text;
	q.objective = "Book a free solar survey";
	q.turns = turns;
	q.n_turns = 2;
	q.answered_by = "human";
	q.duration_s = 64;
	env.body_case = BUS__ENVELOPE__BODY_SUMMARIZE_REQUEST;
	env.summarize_request = &q;
	return (fx_request(f, &env, timeout_ms));
}

FX_FN void
fx_expect_error(Bus__Envelope *rep, Bus__Error__Code code)
{
	assert_non_null(rep);
	if (rep->body_case != BUS__ENVELOPE__BODY_ERROR)
		fail_msg("expected an Error, got %s",
		    wire_type_name(rep->body_case));
	if (rep->error->code != code)
		fail_msg("expected error code %d, got %d (%s)", code,
		    rep->error->code, rep->error->message);
}

/* /sim/stats as JSON (new reference). */
FX_FN json_t *
fx_sim_stats(struct fx *f)
{
	json_error_t err;
	json_t      *v;
	char         url[128], *body = NULL;
	long         status = 0;

	snprintf(url, sizeof(url), "%s/sim/stats", f->sim_base);
	assert_int_equal(
	    harness_http("GET", url, NULL, NULL, &status, &body), 0);
	assert_int_equal(status, 200);
	v = json_loads(body, 0, &err);
	free(body);
	assert_non_null(v);
	return (v);
}

FX_FN long
fx_sim_requests(struct fx *f)
{
	json_t *s = fx_sim_stats(f);
	long    n = (long)json_integer_value(json_object_get(s, "requests"));

	json_decref(s);
	return (n);
}

FX_FN void
fx_sim_mode(struct fx *f, const char *json)
{
	char url[128], *body = NULL;
	long status = 0;

	snprintf(url, sizeof(url), "%s/sim/mode", f->sim_base);
	assert_int_equal(
	    harness_http("POST", url, NULL, json, &status, &body), 0);
	if (status != 200)
		fail_msg("/sim/mode %s: %ld %s", json, status,
		    body != NULL ? body : "");
	free(body);
}

/* The value of one series in /metrics ("name{labels}"), or -1. */
FX_FN double
fx_metric(struct fx *f, const char *series)
{
	char   url[128], *body = NULL, *p;
	long   status = 0;
	double v = -1;
	size_t n = strlen(series);

	snprintf(url, sizeof(url), "%s/metrics", f->http_base);
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

#endif
