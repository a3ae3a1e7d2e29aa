/*
 * dash.c - the live dashboard: its page (embedded at build time from
 * dashboard/ by embed.sh, both here), the sign-in with a scoped read-only
 * token, the cookie that carries it, and the "call" and "refusal" events
 * the page shows besides status, turns and summaries.
 *
 *	GET  /dashboard[/]          the page (index.html)
 *	GET  /dashboard/<file>      its script and style sheet
 *	GET  /dashboard/session     200 {"scope","expires"} or 401/403
 *	POST /dashboard/signin      form token=<token>: 200 + Set-Cookie
 *	POST /dashboard/signout     204, the cookie cleared
 *
 * A token is "dsh1.<scope>.<expiry>.<hex HMAC-SHA256(EDGE_DASHBOARD_SECRET,
 * "dsh1.<scope>.<expiry>")>" (docs/security.md#the-dashboard); only scope
 * dashboard:read is accepted here, and never the master EDGE_API_TOKEN.
 * The cookie holds the token itself (HttpOnly, SameSite=Strict, Secure
 * when EDGE_PUBLIC_URL is https) and is checked again on every use.
 *
 * Every answer carries a strict Content-Security-Policy (scripts and
 * styles from this origin only, nothing inline, no framing),
 * X-Content-Type-Options: nosniff and no caching.  Refusals are JSON
 * {"error","reason"} and counted in edge_dashboard_refusals_total{reason}.
 *
 * lws service thread only, except the pure token and origin functions.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edge.h"
#include "hmac.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

struct dash_asset {
	const char          *name;
	const char          *ctype;
	const unsigned char *data;
	size_t               len;
};

#include "dash_assets.h"

#define DASH_BODY_MAX 1024 /* a sign-in form */
#define DASH_PREFIX "dsh1"
#define CT_JSON "application/json"

static const char csp[]
    = "default-src 'none'; script-src 'self'; style-src 'self'; "
      "img-src 'self'; connect-src 'self'; form-action 'self'; "
      "base-uri 'none'; frame-ancestors 'none'";

static const char not_allowed[]
    = "{\"error\":\"method_not_allowed\",\"reason\":\"GET, or POST to "
      "signin and signout\"}";

enum dash_kind { DR_ANSWERED = 1, DR_SIGNIN, DR_SIGNOUT };

struct dashreq {
	enum dash_kind       kind;
	char                *body;
	size_t               len;
	bool                 too_big;
	bool                 body_unread; /* answer only after the body */
	int                  state; /* 0 none, 1 headers, 2 body */
	int                  status;
	const char          *ctype;
	const unsigned char *out; /* static asset or owned */
	char                *owned;
	size_t               outlen;
	char                 cookie[DASH_TOKEN_MAX + 128];
};

static const char *const verdict_names[] = { "ok", "off", "missing",
	"malformed", "bad_signature", "expired", "too_long_lived", "scope" };

const char *
dash_verdict_name(enum dash_verdict v)
{
	return (verdict_names[v]);
}

int
dash_verdict_status(enum dash_verdict v)
{
	return (v == DASH_SCOPE ? 403 : 401);
}

void
dash_refused(struct edge *e, const char *reason)
{
	metric_inc(metric_get(e->m.dash_refused, reason));
}

/* ---- tokens ---- */

static int
token_mac(const char *secret, const char *scope, int64_t expiry,
    char hex[2 * HMAC_SHA256_LEN + 1])
{
	char msg[160];
	int  n;

	n = snprintf(msg, sizeof(msg), DASH_PREFIX ".%s.%lld", scope,
	    (long long)expiry);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return (-1);
	return (hmac_sha256_hex(secret, msg, (size_t)n, hex));
}

int
dash_token_make(const char *secret, const char *scope, int64_t expiry,
    char *out, size_t len)
{
	char hex[2 * HMAC_SHA256_LEN + 1];
	int  n;

	if (token_mac(secret, scope, expiry, hex) == -1)
		return (-1);
	n = snprintf(out, len, DASH_PREFIX ".%s.%lld.%s", scope,
	    (long long)expiry, hex);
	return (n < 0 || (size_t)n >= len ? -1 : 0);
}

static bool
scope_char(char c)
{
	return ((c >= 'a' && c <= 'z') || c == ':' || c == '-' || c == '_');
}

enum dash_verdict
dash_token_check(
    const struct edge_cfg *cfg, const char *tok, int64_t now, int64_t *expiry)
{
	char        scope[64], want[2 * HMAC_SHA256_LEN + 1];
	const char *p, *dot;
	char       *end;
	long long   exp;
	size_t      n;

	if (cfg->dash_secret == NULL || cfg->dash_secret[0] == '\0')
		return (DASH_OFF);
	if (tok == NULL || tok[0] == '\0')
		return (DASH_MISSING);
	if (strlen(tok) >= DASH_TOKEN_MAX
	    || strncmp(tok, DASH_PREFIX ".", sizeof(DASH_PREFIX)) != 0)
		return (DASH_MALFORMED);
	p = tok + sizeof(DASH_PREFIX);
	if ((dot = strchr(p, '.')) == NULL || dot == p
	    || (n = (size_t)(dot - p)) >= sizeof(scope))
		return (DASH_MALFORMED);
	memcpy(scope, p, n);
	scope[n] = '\0';
	for (p = scope; *p != '\0'; p++)
		if (!scope_char(*p))
			return (DASH_MALFORMED);
	if (!isdigit((unsigned char)dot[1]))
		return (DASH_MALFORMED);
	exp = strtoll(dot + 1, &end, 10);
	if (*end != '.' || strlen(end + 1) != 2 * HMAC_SHA256_LEN)
		return (DASH_MALFORMED);
	if (token_mac(cfg->dash_secret, scope, exp, want) == -1)
		return (DASH_MALFORMED);
	if (!hmac_streq(end + 1, want))
		return (DASH_BAD_SIGNATURE);
	if (exp <= now)
		return (DASH_EXPIRED);
	if (exp - now > cfg->dash_token_max_ttl_s)
		return (DASH_TOO_LONG_LIVED);
	if (strcmp(scope, DASH_SCOPE_READ) != 0)
		return (DASH_SCOPE);
	if (expiry != NULL)
		*expiry = exp;
	return (DASH_OK);
}

/* ---- origins ---- */

/*
 * The origin of a URL (its first n bytes) as browsers send it:
 * "scheme://host[:port]", lower case, without the scheme's default port
 * (https 443, http 80).
 */
static void
url_origin(const char *url, size_t n, char *out, size_t len)
{
	const char *rest;
	size_t      i, end;

	if (n >= len)
		n = len - 1;
	for (i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)url[i]);
	out[n] = '\0';
	if ((rest = strstr(out, "://")) != NULL) {
		end = (size_t)(rest - out) + 3 + strcspn(rest + 3, "/?#");
		out[end] = '\0';
	}
	end = strlen(out);
	if (strncmp(out, "https://", 8) == 0 && end > 4
	    && strcmp(out + end - 4, ":443") == 0)
		out[end - 4] = '\0';
	else if (strncmp(out, "http://", 7) == 0 && end > 3
	    && strcmp(out + end - 3, ":80") == 0)
		out[end - 3] = '\0';
}

bool
dash_origin_ok(const struct edge_cfg *cfg, const char *origin)
{
	char        want[256], got[256];
	const char *p, *q;
	size_t      n;

	if (origin == NULL || origin[0] == '\0' || strcmp(origin, "null") == 0
	    || strlen(origin) >= sizeof(got))
		return (false);
	url_origin(origin, strlen(origin), got, sizeof(got));
	if (cfg->dash_origins == NULL || cfg->dash_origins[0] == '\0') {
		url_origin(cfg->public_url, strlen(cfg->public_url), want,
		    sizeof(want));
		return (strcmp(got, want) == 0);
	}
	for (p = cfg->dash_origins; *p != '\0'; p = *q == ',' ? q + 1 : q) {
		while (*p == ' ')
			p++;
		q = p + strcspn(p, ",");
		for (n = (size_t)(q - p); n > 0 && p[n - 1] == ' '; n--)
			;
		if (n == 0)
			continue;
		url_origin(p, n, want, sizeof(want));
		if (strcmp(got, want) == 0)
			return (true);
	}
	return (false);
}

/* An Origin header, when present, must be allowed. */
static bool
request_origin_ok(struct edge *e, struct lws *wsi)
{
	char origin[256];

	if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
		return (true);
	if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
		return (false);
	return (dash_origin_ok(&e->cfg, origin));
}

enum dash_verdict
dash_cookie_check(struct edge *e, struct lws *wsi, int64_t *expiry)
{
	char   tok[DASH_TOKEN_MAX];
	size_t max = sizeof(tok);

	if (e->cfg.dash_secret[0] == '\0')
		return (DASH_OFF);
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COOKIE) <= 0)
		return (DASH_MISSING);
	if (lws_http_cookie_get(wsi, DASH_COOKIE, tok, &max) != 0)
		return (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COOKIE)
		            > DASH_TOKEN_MAX
		        ? DASH_MALFORMED
		        : DASH_MISSING);
	return (dash_token_check(&e->cfg, tok, (int64_t)time(NULL), expiry));
}

/* ---- answers ---- */

static void
count(struct edge *e, int status)
{
	char code[8];

	snprintf(code, sizeof(code), "%d", status);
	metric_inc(metric_get(e->m.http, "dashboard", code));
}

static void
answer(struct edge *e, struct lws *wsi, struct dashreq *d, int status,
    const char *ctype, const void *body, size_t len, bool copy)
{
	if (d->state != 0)
		return;
	d->status = status;
	d->ctype = ctype;
	if (copy) {
		d->owned = xmalloc(len + 1);
		memcpy(d->owned, body, len);
		d->out = (const unsigned char *)d->owned;
	} else
		d->out = body;
	d->outlen = len;
	d->state = 1;
	count(e, status);
	if (!d->body_unread)
		lws_callback_on_writable(wsi);
}

static void
answer_str(struct edge *e, struct lws *wsi, struct dashreq *d, int status,
    const char *json)
{
	answer(e, wsi, d, status, CT_JSON, json, strlen(json), true);
}

static void
refuse(struct edge *e, struct lws *wsi, struct dashreq *d, int status,
    const char *reason)
{
	json_t *o = json_pack("{s:s, s:s}", "error",
	    status == 403       ? "forbidden"
	        : status == 401 ? "unauthorized"
	        : status == 413 ? "too_large"
	                        : "bad_request",
	    "reason", reason);
	char   *s = json_dumps(o, JSON_COMPACT);

	log_info("dashboard request refused: %d %s", status, reason);
	dash_refused(e, reason);
	answer(e, wsi, d, status, CT_JSON, s, strlen(s), true);
	free(s);
	json_decref(o);
}

static void
refuse_verdict(
    struct edge *e, struct lws *wsi, struct dashreq *d, enum dash_verdict v)
{
	if (v == DASH_OFF) {
		dash_refused(e, "off");
		answer_str(e, wsi, d, 503,
		    "{\"error\":\"unavailable\",\"reason\":\"dashboard "
		    "sign-in "
		    "is not configured\"}");
		return;
	}
	refuse(e, wsi, d, dash_verdict_status(v), dash_verdict_name(v));
}

static void
answer_session(struct edge *e, struct lws *wsi, struct dashreq *d,
    int64_t expiry, int status)
{
	char buf[128];
	int  n
	    = snprintf(buf, sizeof(buf), "{\"scope\":\"%s\",\"expires\":%lld}",
	        DASH_SCOPE_READ, (long long)expiry);

	answer(e, wsi, d, status, CT_JSON, buf, (size_t)n, true);
}

static int
add_header(struct lws *wsi, const char *name, const char *value,
    unsigned char **p, unsigned char *end)
{
	return (lws_add_http_header_by_name(wsi, (const unsigned char *)name,
	    (const unsigned char *)value, (int)strlen(value), p, end));
}

int
dash_writeable(struct lws *wsi, struct pss *pss)
{
	struct dashreq *d = pss->dash;
	unsigned char buf[LWS_PRE + 2048], *start = buf + LWS_PRE, *p = start,
	                                   *end = buf + sizeof(buf);

	if (d->state == 1) {
		if (lws_add_http_common_headers(wsi, (unsigned)d->status,
		        d->ctype, (lws_filepos_t)d->outlen, &p, end)
		    || add_header(wsi, "connection:", "close", &p, end)
		    || add_header(
		        wsi, "content-security-policy:", csp, &p, end)
		    || add_header(
		        wsi, "x-content-type-options:", "nosniff", &p, end)
		    || add_header(wsi, "x-frame-options:", "DENY", &p, end)
		    || add_header(
		        wsi, "referrer-policy:", "no-referrer", &p, end)
		    || add_header(wsi, "cache-control:", "no-store", &p, end)
		    || (d->cookie[0] != '\0'
		        && add_header(wsi, "set-cookie:", d->cookie, &p, end))
		    || lws_finalize_write_http_header(wsi, start, &p, end))
			return (-1);
		d->state = 2;
		lws_callback_on_writable(wsi);
		return (0);
	}
	if (d->state == 2) {
		d->state = 3;
		/* lws keeps what the socket does not take at once */
		(void)lws_write(wsi, (unsigned char *)(uintptr_t)d->out,
		    d->outlen, LWS_WRITE_HTTP_FINAL);
		return (-1); /* one request per connection (httpd.h) */
	}
	return (0);
}

void
dash_closed(struct pss *pss)
{
	struct dashreq *d = pss->dash;

	if (d == NULL)
		return;
	free(d->body);
	free(d->owned);
	free(d);
	pss->dash = NULL;
}

/* ---- requests ---- */

static const struct dash_asset *
asset(const char *name)
{
	const struct dash_asset *a;

	for (a = dash_assets; a->name != NULL; a++)
		if (strcmp(a->name, name) == 0)
			return (a);
	return (NULL);
}

static void
set_cookie(struct edge *e, struct dashreq *d, const char *tok, long max_age)
{
	snprintf(d->cookie, sizeof(d->cookie),
	    DASH_COOKIE
	    "=%s; Path=/; Max-Age=%ld; HttpOnly; SameSite=Strict%s",
	    tok, max_age,
	    strncasecmp(e->cfg.public_url, "https:", 6) == 0 ? "; Secure"
	                                                     : "");
}

static void
get(struct edge *e, struct lws *wsi, struct dashreq *d, const char *rest)
{
	const struct dash_asset *a;
	enum dash_verdict        v;
	int64_t                  exp = 0;

	if (strcmp(rest, "session") == 0) {
		if ((v = dash_cookie_check(e, wsi, &exp)) != DASH_OK)
			refuse_verdict(e, wsi, d, v);
		else
			answer_session(e, wsi, d, exp, 200);
		return;
	}
	if ((a = asset(rest[0] == '\0' ? "index.html" : rest)) == NULL) {
		answer_str(e, wsi, d, 404,
		    "{\"error\":\"not_found\",\"reason\":\"no such file\"}");
		return;
	}
	answer(e, wsi, d, 200, a->ctype, a->data, a->len, false);
}

int
dash_http(struct edge *e, struct lws *wsi, struct pss *pss, const char *path)
{
	struct dashreq *d;
	const char     *rest;
	char            cl[24];
	long long       len = 0;
	bool            post;

	if (strncmp(path, "/dashboard", 10) != 0
	    || (path[10] != '\0' && path[10] != '/'))
		return (1);
	rest = path[10] == '/' ? path + 11 : path + 10;
	d = xcalloc(1, sizeof(*d));
	d->kind = DR_ANSWERED;
	pss->dash = d;
	if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH)
	    > 0)
		len = strtoll(cl, NULL, 10);
	d->body_unread = len > 0;
	post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	if (!post && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
		answer_str(e, wsi, d, 405, not_allowed);
		return (0);
	}
	if (!post) {
		get(e, wsi, d, rest);
		return (0);
	}
	if (strcmp(rest, "signin") != 0 && strcmp(rest, "signout") != 0) {
		answer_str(e, wsi, d, 405, not_allowed);
		return (0);
	}
	if (!request_origin_ok(e, wsi)) {
		refuse(e, wsi, d, 403, "origin");
		return (0);
	}
	if (len > DASH_BODY_MAX) {
		refuse(e, wsi, d, 413, "oversize");
		return (0);
	}
	d->kind = strcmp(rest, "signin") == 0 ? DR_SIGNIN : DR_SIGNOUT;
	if (len == 0)
		return (dash_body_done(e, wsi, pss));
	return (0);
}

int
dash_body(struct pss *pss, const void *in, size_t len)
{
	struct dashreq *d = pss->dash;

	if (d->too_big || d->len + len > DASH_BODY_MAX) {
		d->too_big = true;
		return (0);
	}
	d->body = xrealloc(d->body, d->len + len + 1);
	memcpy(d->body + d->len, in, len);
	d->len += len;
	d->body[d->len] = '\0';
	return (0);
}

static void
signin(struct edge *e, struct lws *wsi, struct dashreq *d)
{
	struct form       f;
	const char       *tok;
	enum dash_verdict v;
	int64_t           exp = 0, now = (int64_t)time(NULL);

	if (d->too_big) {
		refuse(e, wsi, d, 413, "oversize");
		return;
	}
	if (form_parse(&f, d->body != NULL ? d->body : "", d->len) == -1) {
		refuse(e, wsi, d, 400, "bad_form");
		return;
	}
	if (form_dup(&f, (const char *const[]) { "token", NULL }) != NULL) {
		form_free(&f);
		refuse(e, wsi, d, 400, "bad_form");
		return;
	}
	tok = form_get(&f, "token");
	if ((v = dash_token_check(&e->cfg, tok, now, &exp)) != DASH_OK) {
		form_free(&f);
		refuse_verdict(e, wsi, d, v);
		return;
	}
	set_cookie(e, d, tok, (long)(exp - now));
	form_free(&f);
	log_info("dashboard sign-in accepted");
	answer_session(e, wsi, d, exp, 200);
}

int
dash_body_done(struct edge *e, struct lws *wsi, struct pss *pss)
{
	struct dashreq *d = pss->dash;

	if (d->body_unread) {
		d->body_unread = false;
		if (d->state == 1)
			lws_callback_on_writable(wsi); /* an early answer */
	}
	if (d->state != 0)
		return (0);
	if (d->kind == DR_SIGNIN)
		signin(e, wsi, d);
	else {
		set_cookie(e, d, "", 0);
		answer(e, wsi, d, 204, CT_JSON, "", 0, true);
	}
	return (0);
}

/* ---- events the page shows besides the call's own ---- */

/* Who a call is with, without the number: its last two digits and a
 * keyed hash, so calls with one number can be told apart. */
static void
who(struct edge *e, const char *phone, char *out, size_t len)
{
	const char *key = e->cfg.dash_secret[0] != '\0'
	    ? e->cfg.dash_secret
	    : e->cfg.stream_token_secret;
	char        hex[2 * HMAC_SHA256_LEN + 1];
	size_t      n = phone != NULL ? strlen(phone) : 0;

	if (n < 4 || hmac_sha256_hex(key, phone, n, hex) == -1) {
		snprintf(out, len, "unknown");
		return;
	}
	snprintf(out, len, "\xe2\x80\xa6%s #%.8s", phone + n - 2, hex);
}

static void
push(const char *sid, json_t *o)
{
	if (o != NULL)
		events_broadcast(sid, o);
	json_decref(o);
}

static void
outbound_seen(struct edge *e, const struct web *w, const struct ev *ev)
{
	json_t *req
	    = json_loadb(w->body != NULL ? w->body : "", w->len, 0, NULL),
	    *rep = ev->body != NULL ? json_loads(ev->body, 0, NULL) : NULL;
	const char *sid = json_string_value(json_object_get(rep, "call_sid")),
	           *reason = json_string_value(json_object_get(rep, "reason"));
	char tag[64];

	who(e, json_string_value(json_object_get(req, "to")), tag,
	    sizeof(tag));
	if ((ev->status == 200 || ev->status == 201) && sid != NULL)
		push(sid,
		    json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "call",
		        "call_sid", sid, "direction", "outbound", "who", tag,
		        "status", "queued"));
	else if (ev->status == 429)
		push("",
		    json_pack("{s:s, s:s, s:s, s:s, s:i}", "type", "refusal",
		        "direction", "outbound", "who", tag, "reason",
		        reason != NULL ? reason : "rate limited",
		        "retry_after", ev->retry_after));
	json_decref(req);
	json_decref(rep);
}

static void
inbound_seen(struct edge *e, const struct web *w, const struct ev *ev)
{
	struct form f;
	const char *sid;
	char        tag[64];

	if (form_parse(&f, w->body != NULL ? w->body : "", w->len) == -1)
		return;
	sid = form_get(&f, "CallSid");
	who(e, form_get(&f, "From"), tag, sizeof(tag));
	if (ev->body != NULL && strstr(ev->body, "<Connect>") != NULL
	    && sid != NULL)
		push(sid,
		    json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "call",
		        "call_sid", sid, "direction", "inbound", "who", tag,
		        "status", "ringing"));
	else if (ev->body != NULL && strstr(ev->body, "<Hangup/>") != NULL)
		push("",
		    json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "type",
		        "refusal", "call_sid", sid != NULL ? sid : "",
		        "direction", "inbound", "who", tag, "reason",
		        "refused at the door (rate limit or rate-limiter "
		        "down)",
		        "retry_after", 0));
	form_free(&f);
}

void
dash_web_reply_seen(struct edge *e, const struct ev *ev)
{
	const struct web *w;

	for (w = e->webs; w != NULL; w = w->next)
		if (w->id == ev->call_id)
			break;
	if (w == NULL)
		return;
	if (w->route == ROUTE_CALLS)
		outbound_seen(e, w, ev);
	else if (w->route == ROUTE_TWIML)
		inbound_seen(e, w, ev);
}
