/*
 * api_calls.c - the calls API on the public port:
 *
 *   POST /calls, POST /api/call   place a call (per-call settings)
 *   GET  /calls                   a page of calls, newest first
 *   GET  /calls/{sid}             one call: timeline, transcript, summary
 *   POST /calls/{sid}/hangup      end a call through the provider
 *   POST /dnc, POST /dnc/remove   the do-not-call list ({"phone"})
 *
 * Every request is authorised in one place, api_scope(): the master API
 * token (EDGE_API_TOKEN) grants everything; reads need API_SCOPE_READ,
 * which a dashboard:read token grants (dash.c), as a bearer token or in
 * the dashboard's cookie (reads only: the cookie never authorises a
 * write).  Bad input is answered before any
 * side effect with a 4xx {error, reason[, field]} and counted in
 * edge_api_refused_total{route,reason}.  Reads go to persister
 * (CallQuery), the hang-up to the provider's REST API, both on the web
 * workers (api_job()); answers come back as EV_WEB_REPLY.
 *
 * Threads: api_job() on web workers, the rest on the lws service thread.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edge.h"
#include "hmac.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "wire.h"
#include "xmalloc.h"

#define API_PAGE_MAX 100
#define API_INSTRUCTIONS_MAX 8000
#define API_GREETING_MAX 1000
#define API_METADATA_MAX 4096
#define API_MIN_DURATION_S 10

/* The voices the Realtime API speaks. */
static const char *const voices[] = { "alloy", "ash", "ballad", "coral",
	"echo", "sage", "shimmer", "verse", "marin", "cedar", NULL };

/* The fields POST /calls takes; anything else is refused. */
static const char *const create_keys[] = { "to", "from", "lead_id",
	"objective", "context", "voice", "instructions", "language",
	"greeting", "max_duration_s", "metadata", NULL };

enum api_scope
api_scope(const struct edge *e, const char *authorization)
{
	char want[300];

	if (authorization == NULL)
		return (API_SCOPE_NONE);
	/* a dashboard token (dash.c) reads, never writes */
	if (strncmp(authorization, "Bearer dsh1.", 12) == 0)
		return (dash_token_check(
		            &e->cfg, authorization + 7, time(NULL), NULL)
		            == DASH_OK
		        ? API_SCOPE_READ
		        : API_SCOPE_NONE);
	if (e->cfg.api_token[0] == '\0')
		return (API_SCOPE_NONE);
	snprintf(want, sizeof(want), "Bearer %s", e->cfg.api_token);
	if (hmac_streq(authorization, want))
		return (API_SCOPE_ADMIN);
	return (API_SCOPE_NONE);
}

bool
api_path(const char *path)
{
	return (strncmp(path, "/calls/", 7) == 0 || strcmp(path, "/dnc") == 0
	    || strcmp(path, "/dnc/remove") == 0);
}

void
call_settings_free(struct call_settings *s)
{
	free(s->instructions);
	free(s->greeting);
	free(s->metadata_json);
	s->instructions = s->greeting = s->metadata_json = NULL;
}

void
api_client_ip(struct edge *e, struct lws *wsi, struct web *w)
{
	if (proxy_wsi_client(&e->cfg.proxies, wsi, w->ip, sizeof(w->ip)) == -1)
		w->xff_bad = true; /* unreadable or too long */
}

static const char *
method_of(struct lws *wsi)
{
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0)
		return ("GET");
	if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0)
		return ("POST");
	return ("OTHER");
}

void
api_capture(struct edge *e, struct web *w, struct lws *wsi, const char *path)
{
	w->dash_read = dash_cookie_check(e, wsi, NULL) == DASH_OK;
	char   frag[256];
	int    i, n;
	size_t used = 0;

	snprintf(w->method, sizeof(w->method), "%s", method_of(wsi));
	if (strlen(path) >= sizeof(w->path))
		w->path[0] = '\0'; /* refused as an unknown path */
	else
		snprintf(w->path, sizeof(w->path), "%s", path);
	w->query[0] = '\0';
	for (i = 0;
	     lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i) > 0;
	     i++) {
		n = lws_hdr_copy_fragment(
		    wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
		if (n < 0 || used + (size_t)n + 2 > sizeof(w->query)) {
			snprintf(w->query, sizeof(w->query), "\x01");
			return; /* too long: refused */
		}
		used += (size_t)snprintf(w->query + used,
		    sizeof(w->query) - used, "%s%s", used > 0 ? "&" : "",
		    frag);
	}
}

/* Refuse with a reason (and the field at fault): no side effect. */
static int
refuse(struct edge *e, struct web *w, const char *route, int status,
    const char *label, const char *reason, const char *field)
{
	json_t *o = json_pack("{s:s, s:s}", "error",
	    status == 401       ? "unauthorized"
	        : status == 403 ? "forbidden"
	        : status == 404 ? "not_found"
	        : status == 405 ? "method_not_allowed"
	        : status == 413 ? "too_large"
	        : status == 503 ? "unavailable"
	                        : "bad_request",
	    "reason", reason);
	char   *s;

	if (field != NULL)
		json_object_set_new(o, "field", json_string(field));
	s = json_dumps(o, JSON_COMPACT);
	web_reply(w, status, "application/json", s, strlen(s), 0);
	free(s);
	json_decref(o);
	metric_inc(metric_get(e->m.api_refused, route, label));
	return (0);
}

/* 0 when the request holds the scope; otherwise refused (401 / 403). */
static int
authorise(
    struct edge *e, struct web *w, const char *route, enum api_scope need)
{
	enum api_scope have = api_scope(e, w->auth);

	if (have == API_SCOPE_NONE && w->auth[0] == '\0' && w->dash_read)
		have = API_SCOPE_READ; /* the dashboard's cookie */

	if (have == API_SCOPE_NONE) {
		refuse(e, w, route, 401, "unauthorized",
		    w->auth[0] == '\0' ? "bearer token required"
		                       : "token not accepted",
		    NULL);
		return (-1);
	}
	if (have < need) {
		refuse(e, w, route, 403, "scope", "this token may only read",
		    NULL);
		return (-1);
	}
	return (0);
}

static bool
sid_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n >= EDGE_SID_MAX)
		return (false);
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z')
		        || (s[i] >= 'a' && s[i] <= 'z')
		        || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'
		        || s[i] == '_'))
			return (false);
	return (true);
}

static bool
e164(const char *s)
{
	size_t n;

	if (s == NULL || s[0] != '+' || s[1] < '1' || s[1] > '9')
		return (false);
	for (n = 1; s[n] != '\0'; n++)
		if (s[n] < '0' || s[n] > '9')
			return (false);
	return (n >= 8 && n <= 16);
}

/* ---- POST /calls ---- */

struct field_err {
	const char *field;
	const char *reason;
	char        name[64]; /* field points here for an unknown one */
};

static void
set_err(struct field_err *fe, const char *field, const char *reason)
{
	fe->field = field;
	fe->reason = reason;
}

/* A string field: NULL when absent; *fe set when wrong. */
static const char *
opt_str(json_t *o, const char *k, size_t max, struct field_err *fe)
{
	json_t *v = json_object_get(o, k);

	if (v == NULL || json_is_null(v) || fe->field != NULL)
		return (NULL);
	if (!json_is_string(v) || json_string_length(v) > max
	    || strlen(json_string_value(v)) != json_string_length(v)) {
		fe->field = k;
		fe->reason = "must be a string of bounded length";
		return (NULL);
	}
	return (json_string_value(v));
}

static bool
in_list(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return (true);
	return (false);
}

static bool
language_ok(const char *s)
{
	size_t n = strlen(s);

	return ((n == 2 || n == 3)
	    && strspn(s, "abcdefghijklmnopqrstuvwxyz") == n);
}

/* The per-call settings of o into cs; fe set on the first bad one. */
static void
read_settings(
    struct edge *e, json_t *o, struct call_settings *cs, struct field_err *fe)
{
	const char *voice, *lang, *instr, *greet;
	json_t     *v;

	voice = opt_str(o, "voice", 20, fe);
	lang = opt_str(o, "language", 3, fe);
	instr = opt_str(o, "instructions", API_INSTRUCTIONS_MAX, fe);
	greet = opt_str(o, "greeting", API_GREETING_MAX, fe);
	if (fe->field != NULL)
		return;
	if (voice != NULL && !in_list(voice, voices)) {
		set_err(fe, "voice",
		    "must be one of alloy, ash, ballad, coral, echo, "
		    "sage, shimmer, verse, marin, cedar");
		return;
	}
	if (lang != NULL && !language_ok(lang)) {
		set_err(fe, "language",
		    "must be an ISO 639-1 code such as \"en\"");
		return;
	}
	v = json_object_get(o, "max_duration_s");
	if (v != NULL && !json_is_null(v)
	    && (!json_is_integer(v)
	        || json_integer_value(v) < API_MIN_DURATION_S
	        || json_integer_value(v) > e->cfg.max_call_seconds)) {
		set_err(fe, "max_duration_s",
		    "must be a whole number of seconds from 10 to "
		    "EDGE_MAX_CALL_SECONDS");
		return;
	}
	cs->max_duration_s
	    = json_is_integer(v) ? (uint32_t)json_integer_value(v) : 0;
	v = json_object_get(o, "metadata");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_object(v)) {
			set_err(fe, "metadata", "must be an object");
			return;
		}
		cs->metadata_json
		    = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
		if (cs->metadata_json == NULL
		    || strlen(cs->metadata_json) > API_METADATA_MAX) {
			set_err(fe, "metadata",
			    "must encode to at most 4096 bytes");
			return;
		}
	}
	snprintf(
	    cs->voice, sizeof(cs->voice), "%s", voice != NULL ? voice : "");
	snprintf(cs->language, sizeof(cs->language), "%s",
	    lang != NULL ? lang : "");
	cs->instructions = instr != NULL ? xstrdup(instr) : NULL;
	cs->greeting = greet != NULL ? xstrdup(greet) : NULL;
}

static const char *
unknown_key(json_t *o, const char *const *known)
{
	const char *k;
	json_t     *v;

	json_object_foreach(o, k, v)
	{
		if (!in_list(k, known))
			return (k);
	}
	return (NULL);
}

/* The body of POST /calls into j's fields; fe set on the first bad one. */
static void
read_create(struct edge *e, json_t *o, struct wjob *j, struct field_err *fe)
{
	const char *to, *from, *lead, *obj;
	json_t     *ctx = json_object_get(o, "context");

	if ((to = unknown_key(o, create_keys)) != NULL) {
		snprintf(fe->name, sizeof(fe->name), "%s", to);
		fe->field = fe->name;
		fe->reason = "unknown field";
		return;
	}
	to = opt_str(o, "to", 20, fe);
	from = opt_str(o, "from", 20, fe);
	lead = opt_str(o, "lead_id", 100, fe);
	obj = opt_str(o, "objective", 4000, fe);
	if (fe->field != NULL)
		return;
	if (from == NULL)
		from = e->tel->default_from(e);
	if (!e164(to))
		set_err(fe, "to", "must be an E.164 number");
	else if (!e164(from))
		set_err(fe, "from", "must be an E.164 number");
	else if (ctx != NULL && !json_is_object(ctx) && !json_is_null(ctx))
		set_err(fe, "context", "must be an object");
	if (fe->field != NULL)
		return;
	read_settings(e, o, &j->settings, fe);
	if (fe->field != NULL)
		return;
	snprintf(j->to, sizeof(j->to), "%s", to);
	snprintf(j->from, sizeof(j->from), "%s", from);
	snprintf(
	    j->lead_id, sizeof(j->lead_id), "%s", lead != NULL ? lead : "");
	j->objective = xstrdup(obj != NULL ? obj : "");
	j->context_json = json_is_object(ctx) ? json_dumps(ctx, JSON_COMPACT)
	                                      : xstrdup("{}");
}

int
api_create(struct edge *e, struct web *w)
{
	json_t          *o;
	json_error_t     err;
	struct wjob     *j;
	struct field_err fe = { NULL, NULL, "" };

	if (authorise(e, w, "create", API_SCOPE_ADMIN) == -1)
		return (0);
	if (w->xff_bad)
		return (refuse(e, w, "create", 400, "bad_forwarded_for",
		    "X-Forwarded-For from a trusted proxy is not a list of "
		    "addresses",
		    NULL));
	if (w->too_big)
		return (refuse(
		    e, w, "create", 413, "too_large", "body too large", NULL));
	if ((o = json_loadb(w->body != NULL ? w->body : "", w->len, 0, &err))
	        == NULL
	    || !json_is_object(o)) {
		json_decref(o);
		return (refuse(e, w, "create", 400, "bad_json",
		    "body is not a JSON object", NULL));
	}
	j = xcalloc(1, sizeof(*j));
	read_create(e, o, j, &fe);
	json_decref(o);
	if (fe.field != NULL) {
		wjob_free(j);
		return (refuse(
		    e, w, "create", 400, "bad_field", fe.reason, fe.field));
	}
	if (atomic_load(&e->draining)) {
		wjob_free(j);
		return (
		    refuse(e, w, "create", 503, "draining", "draining", NULL));
	}
	j->kind = WJ_CREATE_CALL;
	snprintf(j->ip, sizeof(j->ip), "%s", w->ip);
	web_wait_job(e, w, j);
	return (0);
}

/* ---- GET /calls ---- */

/* A decimal integer in [min, max]. */
static bool
int_arg(const char *s, long long min, long long max, long long *out)
{
	char *end;

	if (*s == '\0' || strspn(s, "0123456789") != strlen(s)
	    || strlen(s) > 18)
		return (false);
	*out = strtoll(s, &end, 10);
	return (*out >= min && *out <= max);
}

/* One name=value of the list's query into j; a reason when wrong. */
static const char *
list_arg(struct wjob *j, const char *name, const char *val)
{
	long long n;

	if (strcmp(name, "status") == 0) {
		if (strlen(val) == 0 || strlen(val) >= 32
		    || strspn(val, "abcdefghijklmnopqrstuvwxyz-_")
		        != strlen(val))
			return ("must be a call status such as completed");
		snprintf(j->status, sizeof(j->status), "%s", val);
	} else if (strcmp(name, "lead_id") == 0) {
		if (strlen(val) == 0 || strlen(val) > 100)
			return ("must be 1 to 100 characters");
		snprintf(j->lead_id, sizeof(j->lead_id), "%s", val);
	} else if (strcmp(name, "since") == 0 || strcmp(name, "until") == 0) {
		if (!int_arg(val, 1, 253402300799999LL, &n))
			return ("must be a time in Unix milliseconds");
		*(name[0] == 's' ? &j->since_ms : &j->until_ms) = n;
	} else if (strcmp(name, "cursor") == 0) {
		if (!int_arg(val, 1, INT64_MAX / 2, &n))
			return ("must be the next_cursor of a previous page");
		j->cursor = n;
	} else if (strcmp(name, "limit") == 0) {
		if (!int_arg(val, 1, API_PAGE_MAX, &n))
			return ("must be from 1 to 100");
		j->limit = (uint32_t)n;
	} else
		return ("unknown parameter");
	return (NULL);
}

static int
route_list(struct edge *e, struct web *w)
{
	struct wjob *j = xcalloc(1, sizeof(*j));
	char         q[sizeof(w->query)], seen[8][16], *arg, *save, *eq;
	const char  *why = NULL;
	int          nseen = 0, i;

	snprintf(q, sizeof(q), "%s", w->query);
	for (arg = strtok_r(q, "&", &save); arg != NULL;
	     arg = strtok_r(NULL, "&", &save)) {
		if ((eq = strchr(arg, '=')) == NULL
		    || (size_t)(eq - arg) >= 16) {
			why = "query parameters are name=value";
			break;
		}
		*eq = '\0';
		for (i = 0; i < nseen; i++)
			if (strcmp(seen[i], arg) == 0)
				why = "given twice";
		if (why != NULL || (why = list_arg(j, arg, eq + 1)) != NULL)
			break;
		if (nseen < 8)
			snprintf(seen[nseen++], sizeof(seen[0]), "%s", arg);
	}
	if (why != NULL) {
		refuse(e, w, "list", 400, "bad_query", why, arg);
		wjob_free(j);
		return (0);
	}
	j->kind = WJ_API_QUERY;
	web_wait_job(e, w, j);
	return (0);
}

/* ---- the do-not-call list ---- */

static int
route_dnc(struct edge *e, struct web *w)
{
	static const char *const keys[] = { "phone", NULL };
	json_t                  *o;
	const char              *phone, *k;
	struct wjob             *j;

	if (strcmp(w->method, "POST") != 0)
		return (refuse(e, w, "dnc", 405, "method", "POST only", NULL));
	if ((o = json_loadb(w->body != NULL ? w->body : "", w->len, 0, NULL))
	        == NULL
	    || !json_is_object(o)) {
		json_decref(o);
		return (refuse(e, w, "dnc", 400, "bad_json",
		    "body is not a JSON object", NULL));
	}
	if ((k = unknown_key(o, keys)) != NULL) {
		refuse(e, w, "dnc", 400, "bad_field", "unknown field", k);
		json_decref(o);
		return (0);
	}
	phone = json_string_value(json_object_get(o, "phone"));
	if (!e164(phone)) {
		json_decref(o);
		return (refuse(e, w, "dnc", 400, "bad_field",
		    "must be an E.164 number", "phone"));
	}
	j = xcalloc(1, sizeof(*j));
	j->kind = WJ_API_DNC;
	snprintf(j->to, sizeof(j->to), "%s", phone);
	snprintf(j->status, sizeof(j->status), "%s",
	    strcmp(w->path, "/dnc") == 0 ? "add" : "remove");
	json_decref(o);
	web_wait_job(e, w, j);
	return (0);
}

/* ---- dispatch ---- */

int
api_request(struct edge *e, struct web *w)
{
	const char  *rest, *slash;
	struct wjob *j;
	bool         get = strcmp(w->method, "GET") == 0;
	const char  *route = strncmp(w->path, "/dnc", 4) == 0 ? "dnc"
	     : strcmp(w->path, "/calls") == 0                 ? "list"
	     : strstr(w->path + 1, "/hangup") != NULL         ? "hangup"
	                                                      : "get";

	if (authorise(e, w, route, get ? API_SCOPE_READ : API_SCOPE_ADMIN)
	    == -1)
		return (0);
	if (w->too_big)
		return (refuse(
		    e, w, route, 413, "too_large", "body too large", NULL));
	if (w->query[0] == '\x01')
		return (refuse(e, w, route, 400, "bad_query",
		    "query string too long", NULL));
	if (strcmp(route, "dnc") == 0)
		return (w->query[0] != '\0'
		        ? refuse(e, w, route, 400, "bad_query",
		            "this resource takes no query parameters", NULL)
		        : route_dnc(e, w));
	if (strcmp(w->path, "/calls") == 0)
		return (get ? route_list(e, w)
		            : refuse(e, w, route, 405, "method",
		                "GET or POST only", NULL));
	if (strncmp(w->path, "/calls/", 7) != 0)
		return (refuse(e, w, route, 405, "method", "POST only", NULL));
	rest = w->path + 7;
	slash = strchr(rest, '/');
	if (!sid_ok(
	        rest, slash != NULL ? (size_t)(slash - rest) : strlen(rest)))
		return (refuse(e, w, route, 400, "bad_sid",
		    "the call sid must be 1 to 63 letters, digits, - or _",
		    NULL));
	if (slash != NULL && strcmp(slash, "/hangup") != 0)
		return (refuse(e, w, route, 404, "unknown_path",
		    "no such resource", NULL));
	if (slash == NULL ? !get : get)
		return (refuse(e, w, route, 405, "method",
		    slash == NULL ? "GET only" : "POST only", NULL));
	if (w->query[0] != '\0')
		return (refuse(e, w, route, 400, "bad_query",
		    "this resource takes no query parameters", NULL));
	if (w->len > 0 && strspn(w->body, " \t\r\n{}") != w->len)
		return (refuse(e, w, route, 400, "bad_json",
		    "the body must be empty or {}", NULL));
	j = xcalloc(1, sizeof(*j));
	j->kind = slash == NULL ? WJ_API_QUERY : WJ_API_HANGUP;
	snprintf(j->call_sid, sizeof(j->call_sid), "%.*s",
	    (int)(slash != NULL ? (size_t)(slash - rest) : strlen(rest)),
	    rest);
	web_wait_job(e, w, j);
	return (0);
}

/* ---- the workers ---- */

static void
run_query(struct edge *e, struct wjob *j)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT, *rep;
	Bus__CallQuery  q = BUS__CALL_QUERY__INIT;
	struct wire_ids ids;

	wire_env_init(&env, &ids, j->call_sid, NULL);
	q.call_sid = j->call_sid;
	q.status = j->status;
	q.lead_id = j->lead_id;
	q.since_ms = j->since_ms;
	q.until_ms = j->until_ms;
	q.cursor = j->cursor;
	q.limit = j->limit;
	env.body_case = BUS__ENVELOPE__BODY_CALL_QUERY;
	env.call_query = &q;
	if ((rep = webjobs_request(e, false, &env, 2)) == NULL) {
		webjobs_reply_json(
		    e, j, 503, "unavailable", "persister unavailable", 0);
		return;
	}
	if (rep->body_case != BUS__ENVELOPE__BODY_CALL_QUERY_RESULT)
		webjobs_reply_json(e, j, 503, "unavailable",
		    rep->body_case == BUS__ENVELOPE__BODY_ERROR
		        ? rep->error->message
		        : "unexpected answer",
		    0);
	else if (!rep->call_query_result->found)
		webjobs_reply_json(e, j, 404, "not_found", "no such call", 0);
	else if (j->call_sid[0] != '\0')
		webjobs_reply(e, j, 200, "application/json",
		    xstrdup(rep->call_query_result->json), 0);
	else {
		json_t *o = json_loads(rep->call_query_result->json, 0, NULL);

		if (o == NULL)
			o = json_pack("{s:[]}", "calls");
		json_object_set_new(o, "next_cursor",
		    rep->call_query_result->next_cursor > 0
		        ? json_integer(rep->call_query_result->next_cursor)
		        : json_null());
		webjobs_reply(e, j, 200, "application/json",
		    json_dumps(o, JSON_COMPACT), 0);
		json_decref(o);
	}
	wire_free(rep);
}

/* Two tries: the person who asked is waiting for the answer. */
static const struct http_retry api_hangup_retry
    = { 2, 1000, 2000, NULL, NULL };

static void
run_hangup(struct edge *e, struct http_client *hc, struct wjob *j)
{
	struct log_ctx lc = { j->call_sid, NULL };
	long           st
	    = webjobs_provider_hangup(e, hc, j->call_sid, &api_hangup_retry);

	logc_info(&lc, "hang-up through the API: provider HTTP %ld", st);
	if (st >= 200 && st < 300)
		webjobs_reply(e, j, 200, "application/json",
		    xasprintf("{\"call_sid\":\"%s\",\"hangup\":\"requested\"}",
		        j->call_sid),
		    0);
	else if (st == 404)
		webjobs_reply_json(e, j, 404, "not_found",
		    "the provider knows no such call", 0);
	else if (st == 0)
		webjobs_reply_json(
		    e, j, 503, "unavailable", "provider unreachable", 0);
	else
		webjobs_reply_json(e, j, 502, "provider_error",
		    "the provider refused the hang-up", 0);
}

static void
run_dnc(struct edge *e, struct wjob *j)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT, *rep;
	Bus__DncUpdate  u = BUS__DNC_UPDATE__INIT;
	struct wire_ids ids;

	wire_env_init(&env, &ids, "", NULL);
	u.phone = j->to;
	u.remove = strcmp(j->status, "remove") == 0;
	env.body_case = BUS__ENVELOPE__BODY_DNC_UPDATE;
	env.dnc_update = &u;
	if ((rep = webjobs_request(e, true, &env, 2)) == NULL)
		webjobs_reply_json(
		    e, j, 503, "unavailable", "rate limiter unavailable", 0);
	else if (rep->body_case == BUS__ENVELOPE__BODY_ACK)
		webjobs_reply(e, j, 200, "application/json",
		    xasprintf(
		        "{\"do_not_call\":%s}", u.remove ? "false" : "true"),
		    0);
	else if (rep->body_case == BUS__ENVELOPE__BODY_ERROR
	    && rep->error->code == BUS__ERROR__CODE__BAD_REQUEST)
		webjobs_reply_json(
		    e, j, 400, "bad_request", rep->error->message, 0);
	else
		webjobs_reply_json(e, j, 503, "unavailable",
		    rep->body_case == BUS__ENVELOPE__BODY_ERROR
		        ? rep->error->message
		        : "unexpected answer",
		    0);
	wire_free(rep);
}

void
api_job(struct edge *e, struct http_client *hc, struct wjob *j)
{
	if (j->kind == WJ_API_QUERY)
		run_query(e, j);
	else if (j->kind == WJ_API_DNC)
		run_dnc(e, j);
	else
		run_hangup(e, hc, j);
}
