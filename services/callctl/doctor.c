/*
 * callctl doctor - the pre-flight of a deployment, with its production
 * settings: a user runs it before the first call, an operator after a
 * change.  One line per finding, "ok" or "FAIL" with the fix, and exit
 * status 1 if anything failed.
 *
 * The settings are read through the daemons' own tables (linked in from
 * services/<daemon>/config.c, defaults included), so doctor checks what
 * the daemons will use, not a copy of it.  Configuration is loaded first,
 * on the main thread; then every check below runs on its own thread, each
 * bounded by DOCTOR_TIMEOUT_MS (bus pings by CALLCTL_TIMEOUT_MS), so the
 * whole run takes about the slowest check.  Nothing secret is printed:
 * every secret is registered before the threads start and any line that
 * would contain one shows *** instead; provider error bodies are printed
 * only through that filter, and not at all for a refused key (some
 * providers echo part of the key).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libwebsockets.h>
#include <nng/nng.h>

#include "callctl.h"
#include "http.h"
#include "log.h"
#include "wire.h"
#include "xmalloc.h"

#define DOC_MAX_SECRETS 16
#define DOC_MAX_BODY (1024 * 1024)

static const char *secrets[DOC_MAX_SECRETS]; /* set before threads */
static int         nsecrets;

/* Kept longest first, so that a secret inside another (a DSN's password)
 * does not break the longer one's match. */
void
doc_secret(const char *s)
{
	int i;

	if (s == NULL || strlen(s) < 4 || nsecrets == DOC_MAX_SECRETS)
		return;
	for (i = nsecrets; i > 0 && strlen(secrets[i - 1]) < strlen(s); i--)
		secrets[i] = secrets[i - 1];
	secrets[i] = s;
	nsecrets++;
}

/* Replace every registered secret in buf (NUL-terminated, len bytes
 * of room) by ***. */
static void
redact(char *buf, size_t len)
{
	char  *p;
	size_t n;
	int    i;

	for (i = 0; i < nsecrets; i++) {
		n = strlen(secrets[i]);
		while ((p = strstr(buf, secrets[i])) != NULL) {
			memmove(p + 3, p + n, strlen(p + n) + 1);
			memcpy(p, "***", 3);
		}
	}
	(void)len;
}

static struct doc_line *
next_line(struct doc_check *c, int ok, const char *what, const char *fix)
{
	struct doc_line *l;

	if (c->nlines == DOC_LINES)
		return (NULL);
	l = &c->lines[c->nlines++];
	l->ok = ok;
	snprintf(l->what, sizeof(l->what), "%s", what);
	snprintf(l->fix, sizeof(l->fix), "%s", fix != NULL ? fix : "");
	redact(l->fix, sizeof(l->fix));
	return (l);
}

void
doc_ok(struct doc_check *c, const char *what, const char *fmt, ...)
{
	struct doc_line *l = next_line(c, 1, what, NULL);
	va_list          ap;

	if (l == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(l->text, sizeof(l->text), fmt, ap);
	va_end(ap);
	redact(l->text, sizeof(l->text));
}

void
doc_fail(struct doc_check *c, const char *what, const char *fix,
    const char *fmt, ...)
{
	struct doc_line *l = next_line(c, 0, what, fix);
	va_list          ap;

	if (l == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(l->text, sizeof(l->text), fmt, ap);
	va_end(ap);
	redact(l->text, sizeof(l->text));
}

int
doc_get(const char *url, const char *const *headers, const char *user,
    const char *pass, const char *ca_file, struct doc_http *r)
{
	struct http_client hc;
	struct http_opts   o = { 0 };
	struct http_req    q = { 0 };
	struct http_resp   resp;
	int                rv;

	memset(r, 0, sizeof(*r));
	o.connect_timeout_ms = ctl_cfg.doctor_timeout_ms;
	o.timeout_ms = ctl_cfg.doctor_timeout_ms;
	o.max_body = DOC_MAX_BODY;
	o.ca_file = ca_file;
	o.user_agent = "callctl-doctor";
	if (http_client_init(&hc, &o) == -1) {
		snprintf(r->err, sizeof(r->err), "cannot start libcurl");
		return (-1);
	}
	q.url = url;
	q.headers = headers;
	q.user = user;
	q.pass = pass;
	if ((rv = http_perform(&hc, &q, &resp)) == 0) {
		r->status = resp.status;
		if (resp.len > 0)
			r->body = json_loadb(resp.body, resp.len, 0, NULL);
	} else {
		snprintf(r->err, sizeof(r->err), "%s", resp.err);
		r->tls_err = resp.cc == CURLE_PEER_FAILED_VERIFICATION
		    || resp.cc == CURLE_SSL_CONNECT_ERROR
		    || resp.cc == CURLE_SSL_CERTPROBLEM
		    || resp.cc == CURLE_SSL_CACERT_BADFILE
		    || resp.cc == CURLE_SSL_ISSUER_ERROR;
	}
	http_client_fini(&hc);
	return (rv);
}

void
doc_http_free(struct doc_http *r)
{
	json_decref(r->body);
	r->body = NULL;
}

const char *
doc_api_message(const json_t *body)
{
	const json_t *e = json_object_get(body, "error");
	const char   *m;

	/* OpenAI and Anthropic: {"error":{"message"}}; Twilio: top level. */
	if ((m = json_string_value(json_object_get(e, "message"))) != NULL)
		return (m);
	if ((m = json_string_value(json_object_get(body, "message"))) != NULL)
		return (m);
	return ("");
}

/* Daemon c->arg answers Ping on its request socket and 200 on /ready.
 * One thread per daemon, so five that are down cost one timeout. */
static void
check_daemon(struct doc_check *c)
{
	const struct service_addr *svcs, *a;
	Bus__Envelope             *rep = NULL;
	struct doc_http            h;
	char                       url[512], fix[400];
	double                     rtt;
	int                        n, rv;
	static const char *const   vars[]
	    = { "EDGE_URL and EDGE_HTTP_URL", "AI_SESSION_URL and AI_HTTP_URL",
		      "REASONER_URL and REASONER_HTTP_URL",
		      "RATE_LIMITER_URL and RATE_LIMITER_HTTP_URL",
		      "PERSISTER_URL and PERSISTER_HTTP_URL" };

	svcs = config_services(&n);
	if (c->arg >= n || c->arg >= 5)
		return;
	a = &svcs[c->arg];
	snprintf(fix, sizeof(fix),
	    "start %s; if it runs, set %s to its addresses", a->name,
	    vars[c->arg]);
	if ((rv = ping_once(a->req_url, &rep, &rtt)) != 0) {
		doc_fail(c, a->name, fix, "no answer to Ping at %s: %s",
		    a->req_url, nng_strerror(rv));
		return;
	}
	if (rep->body_case != BUS__ENVELOPE__BODY_PONG) {
		doc_fail(c, a->name, fix, "answered %s to Ping",
		    wire_type_name(rep->body_case));
		wire_free(rep);
		return;
	}
	wire_free(rep);
	snprintf(url, sizeof(url), "%s/ready", a->http_url);
	if (doc_get(url, NULL, NULL, NULL, NULL, &h) == -1)
		doc_fail(c, a->name, fix, "no answer at %s: %s", url, h.err);
	else if (h.status != 200)
		doc_fail(c, a->name,
		    "read its log: /ready stays 503 until its own "
		    "dependencies "
		    "are up",
		    "Ping answered, but %s is %ld", url, h.status);
	else
		doc_ok(c, a->name, "Ping %.1f ms, /ready 200", rtt);
	doc_http_free(&h);
}

/*
 * One daemon's settings: load() logs each problem (a setting's name, never
 * its value) as a JSON line on stderr; those lines are caught in a
 * temporary file and their messages become the FAIL line.  Main thread,
 * before any check thread exists.
 */
static void
config_line(struct doc_check *c, const char *daemon, int (*load)(void))
{
	char    line[1024], text[400] = "", *m;
	FILE   *tmp = tmpfile();
	json_t *j;
	int     saved = -1, rv;
	size_t  n;

	fflush(stderr);
	if (tmp != NULL && (saved = dup(2)) != -1)
		dup2(fileno(tmp), 2);
	rv = load();
	fflush(stderr);
	if (saved != -1) {
		dup2(saved, 2);
		close(saved);
	}
	if (tmp != NULL) {
		rewind(tmp);
		while (fgets(line, sizeof(line), tmp) != NULL) {
			j = json_loads(line, 0, NULL);
			m = (char *)json_string_value(
			    json_object_get(j, "msg"));
			n = strlen(text);
			if (m != NULL && n + 3 < sizeof(text))
				snprintf(text + n, sizeof(text) - n, "%s%s",
				    n > 0 ? "; " : "",
				    strncmp(m, "config: ", 8) == 0 ? m + 8
				                                   : m);
			else if (m == NULL)
				fputs(line, stderr); /* not ours: pass it on */
			json_decref(j);
		}
		fclose(tmp);
	}
	if (rv == 0)
		doc_ok(c, daemon, "settings valid, secrets present");
	else
		doc_fail(c, daemon,
		    "set what this line names (docs/configuration.md)", "%s",
		    text[0] != '\0' ? text : "settings invalid");
}

static void *
check_main(void *arg)
{
	struct doc_check *c = arg;

	c->fn(c);
	return (NULL);
}

static void
print_check(const struct doc_check *c, int *failed)
{
	const struct doc_line *l;
	int                    i;

	for (i = 0; i < c->nlines; i++) {
		l = &c->lines[i];
		printf("%-4s  %-10s %-16s %s\n", l->ok ? "ok" : "FAIL",
		    c->name, l->what, l->text);
		if (!l->ok) {
			printf("      %-10s %-16s fix: %s\n", "", "", l->fix);
			*failed = 1;
		}
	}
}

int
cmd_doctor(int argc, char *argv[])
{
	static struct doc_check checks[] = {
		{ "postgres", doctor_postgres, 0, 0, { { 0 } } },
		{ "openai", doctor_openai, 0, 0, { { 0 } } },
		{ "realtime", doctor_realtime, 0, 0, { { 0 } } },
		{ "anthropic", doctor_anthropic, 0, 0, { { 0 } } },
		{ "telephony", doctor_phone, 0, 0, { { 0 } } },
		{ "public-url", doctor_public_url, 0, 0, { { 0 } } },
		{ "daemons", check_daemon, 0, 0, { { 0 } } },
		{ "daemons", check_daemon, 1, 0, { { 0 } } },
		{ "daemons", check_daemon, 2, 0, { { 0 } } },
		{ "daemons", check_daemon, 3, 0, { { 0 } } },
		{ "daemons", check_daemon, 4, 0, { { 0 } } },
	};
	const size_t     nchecks = sizeof(checks) / sizeof(checks[0]);
	pthread_t        t[sizeof(checks) / sizeof(checks[0])];
	bool             started[sizeof(checks) / sizeof(checks[0])];
	struct doc_check cfgc = { "config", NULL, 0, 0, { { 0 } } };
	size_t           i;
	int              failed = 0;

	if (argc != 1) {
		fprintf(stderr, "usage: callctl doctor\n");
		return (EX_USAGE);
	}
	lws_set_log_level(LLL_ERR, NULL);
	config_line(&cfgc, "media-edge", doctor_edge_load);
	config_line(&cfgc, "ai-session", doctor_ai_load);
	config_line(&cfgc, "reasoner", doctor_reasoner_load);
	config_line(&cfgc, "rate-limiter", doctor_rl_load);
	config_line(&cfgc, "persister", doctor_ps_load);
	for (i = 0; i < nchecks; i++) {
		checks[i].nlines = 0;
		started[i]
		    = pthread_create(&t[i], NULL, check_main, &checks[i]) == 0;
		if (!started[i])
			checks[i].fn(&checks[i]);
	}
	for (i = 0; i < nchecks; i++)
		if (started[i])
			pthread_join(t[i], NULL);
	print_check(&cfgc, &failed);
	for (i = 0; i < nchecks; i++)
		print_check(&checks[i], &failed);
	printf(failed ? "doctor: FAILED (fix the lines marked FAIL)\n"
	              : "doctor: all checks passed\n");
	return (failed ? 1 : 0);
}
