/*
 * doctor_ai - ai-session's settings (its own table), the OpenAI key and
 * models, and one Realtime session.
 *
 * Models: GET {api}/models/{id} for the Realtime model (the model= of
 * OPENAI_REALTIME_URL) and AI_TRANSCRIBE_MODEL, where {api} is that URL
 * with https for wss (http for ws) up to /realtime.  200: available;
 * 401: the key is refused; 404: no such model for this key.
 *
 * Realtime: one WebSocket to OPENAI_REALTIME_URL with the key, exactly
 * as a call opens it; after session.created, the session.update a call
 * sends (built by ai-session's own config_rt_session() and
 * oai_session_update()) must come back as session.updated, not error.
 * Then the socket is closed; no audio is sent.  A private lws context served
 * on this thread until done or DOCTOR_TIMEOUT_MS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "../ai-session/ai.h"
#include "callctl.h"
#include "cfg.h"
#include "../ai-session/oai_json.h"
#include "util.h"
#include "xmalloc.h"

static struct ai_cfg ac;
static int           loaded;
static char          api[512], model[128];

/* {api} and the model from OPENAI_REALTIME_URL; -1 if it has neither. */
static int
split_url(const char *u)
{
	const char *rest, *rt, *m;
	size_t      n;

	if (strncmp(u, "wss://", 6) == 0)
		rest = u + 6;
	else if (strncmp(u, "ws://", 5) == 0)
		rest = u + 5;
	else
		return (-1);
	if ((rt = strstr(rest, "/realtime")) == NULL)
		return (-1);
	snprintf(api, sizeof(api), "%s://%.*s", u[2] == 's' ? "https" : "http",
	    (int)(rt - rest), rest);
	if ((m = strstr(rt, "?model=")) == NULL
	    && (m = strstr(rt, "&model=")) == NULL)
		return (-1);
	m += 7;
	n = strcspn(m, "&#");
	if (n == 0 || n >= sizeof(model))
		return (-1);
	snprintf(model, sizeof(model), "%.*s", (int)n, m);
	return (0);
}

int
doctor_ai_load(void)
{
	if (cfg_load(ai_cfg_opts, &ac) == -1)
		return (-1);
	if (split_url(ac.openai_url) == -1) {
		log_warnx("OPENAI_REALTIME_URL: want ws[s]://host/v1/realtime?"
		          "model=NAME");
		return (-1);
	}
	doc_secret(ac.openai_key);
	loaded = 1;
	return (0);
}

/* One model: 1 available, 0 not, -1 the key was refused or no answer. */
static int
check_model(struct doc_check *c, const char *what, const char *id,
    const char *setting, int *key_reported)
{
	struct doc_http h;
	char           *url, *auth, fix[300];
	const char     *hdr[2];
	int             rv = -1;

	url = xasprintf("%s/models/%s", api, id);
	auth = xasprintf("Authorization: Bearer %s", ac.openai_key);
	hdr[0] = auth;
	hdr[1] = NULL;
	if (doc_get(url, hdr, NULL, NULL, ac.openai_ca_file, &h) == -1)
		doc_fail(c, what,
		    "check OPENAI_REALTIME_URL (and OPENAI_CA_FILE) and that "
		    "this host reaches it",
		    "no answer from %s: %s", api, h.err);
	else if (h.status == 401 || h.status == 403)
		doc_fail(c, "key",
		    "set OPENAI_API_KEY (or OPENAI_API_KEY_FILE) to a current "
		    "key from platform.openai.com",
		    "key refused (HTTP %ld)", h.status);
	else {
		/* 200 and 404 are answers to an accepted key; a 429 or 5xx
		 * says nothing about it. */
		if (!*key_reported && (h.status == 200 || h.status == 404)) {
			doc_ok(c, "key", "key accepted");
			*key_reported = 1;
		}
		snprintf(fix, sizeof(fix),
		    "set %s to a model this key may use (GET /v1/models "
		    "lists them)",
		    setting);
		if (h.status == 200) {
			doc_ok(c, what, "%s available", id);
			rv = 1;
		} else if (h.status == 404) {
			doc_fail(c, what, fix, "%s not available: %s", id,
			    doc_api_message(h.body));
			rv = 0;
		} else
			doc_fail(c, what, "see the provider's status page",
			    "GET %s answered %ld: %s", url, h.status,
			    doc_api_message(h.body));
	}
	doc_http_free(&h);
	free(url);
	explicit_bzero(auth, strlen(auth));
	free(auth);
	return (rv);
}

void
doctor_openai(struct doc_check *c)
{
	int reported = 0;

	if (!loaded) {
		doc_fail(c, "key", "correct ai-session's settings first",
		    "not checked: ai-session's settings are invalid");
		return;
	}
	if (check_model(c, "realtime model", model,
	        "the model= of OPENAI_REALTIME_URL", &reported)
	    == -1)
		return;
	if (ac.transcribe_model[0] == '\0')
		doc_ok(c, "transcription", "off (AI_TRANSCRIBE_MODEL empty)");
	else
		(void)check_model(c, "transcription", ac.transcribe_model,
		    "AI_TRANSCRIBE_MODEL", &reported);
}

/* ---- the Realtime probe: lws client, this thread only ---- */

struct probe {
	const char *update;
	int         created, sent, done, ok, peer_code;
	char        why[300];
	char       *rx;
	size_t      rxlen;
};

static void
probe_message(struct probe *p)
{
	json_t     *j = json_loadb(p->rx, p->rxlen, 0, NULL);
	const char *type = json_string_value(json_object_get(j, "type"));
	json_t     *e;

	if (type != NULL && strcmp(type, "session.created") == 0)
		p->created = 1; /* now the update, as a call sends it */
	else if (type != NULL && strcmp(type, "session.updated") == 0) {
		p->ok = 1;
		p->done = 1;
	} else if (type != NULL && strcmp(type, "error") == 0) {
		e = json_object_get(j, "error");
		snprintf(p->why, sizeof(p->why),
		    "session.update refused: %s: %s",
		    json_string_value(json_object_get(e, "code")) != NULL
		        ? json_string_value(json_object_get(e, "code"))
		        : "error",
		    json_string_value(json_object_get(e, "message")) != NULL
		        ? json_string_value(json_object_get(e, "message"))
		        : "");
		p->done = 1;
	}
	json_decref(j);
}

static int
probe_auth(struct lws *wsi, void *in, size_t len)
{
	unsigned char **q = in, *end = *q + len;
	char           *val = xasprintf("Bearer %s", ac.openai_key);
	int             rv;

	rv = lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
	    (unsigned char *)val, (int)strlen(val), q, end);
	explicit_bzero(val, strlen(val));
	free(val);
	return (rv != 0 ? -1 : 0);
}

static int
probe_write(struct lws *wsi, struct probe *p)
{
	unsigned char *buf;
	size_t         n = strlen(p->update);
	int            rv;

	if (p->done) {
		lws_close_reason(
		    wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"bye", 3);
		return (-1);
	}
	if (p->sent || !p->created)
		return (0);
	buf = xcalloc(1, LWS_PRE + n);
	memcpy(buf + LWS_PRE, p->update, n);
	rv = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
	free(buf);
	p->sent = 1;
	return (rv < (int)n ? -1 : 0);
}

/* lws callback, on the probing thread (lws_service). */
static int
probe_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct probe *p = wsi != NULL ? lws_get_opaque_user_data(wsi) : NULL;

	if (p == NULL)
		return (lws_callback_http_dummy(wsi, reason, user, in, len));
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return (probe_auth(wsi, in, len));
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return (probe_write(wsi, p));
	case LWS_CALLBACK_CLIENT_RECEIVE:
		p->rx = xrealloc(p->rx, p->rxlen + len + 1);
		memcpy(p->rx + p->rxlen, in, len);
		p->rxlen += len;
		if (lws_is_final_fragment(wsi)) {
			probe_message(p);
			p->rxlen = 0;
			if (p->done || (p->created && !p->sent))
				lws_callback_on_writable(wsi);
		}
		return (0);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2)
			p->peer_code = ((const unsigned char *)in)[0] << 8
			    | ((const unsigned char *)in)[1];
		return (0);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		snprintf(p->why, sizeof(p->why), "cannot open the session: %s",
		    in != NULL ? (const char *)in : "connection failed");
		p->done = -1;
		return (0);
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (!p->done)
			snprintf(p->why, sizeof(p->why),
			    "closed by the model before session.updated "
			    "(code %d)",
			    p->peer_code);
		p->done = -1;
		return (0);
	default:
		break;
	}
	return (lws_callback_http_dummy(wsi, reason, user, in, len));
}

/* Open, update, close: 0 with p->ok, or p->why says what went wrong. */
static void
probe_run(struct probe *p)
{
	static const struct lws_protocols protos[]
	    = { { "doctor-realtime", probe_cb, 0, 65536, 0, NULL, 0 },
		      { NULL, NULL, 0, 0, 0, NULL, 0 } };
	struct lws_context_creation_info info;
	struct lws_client_connect_info   ci;
	struct lws_context              *ctx;
	char                            *u = xstrdup(ac.openai_url), *path;
	const char                      *prot, *ads, *pth;
	long long                        end;
	int                              port;

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protos;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	if (ac.openai_ca_file[0] != '\0')
		info.client_ssl_ca_filepath = ac.openai_ca_file;
	if ((ctx = lws_create_context(&info)) == NULL) {
		snprintf(p->why, sizeof(p->why), "cannot create lws context");
		free(u);
		return;
	}
	if (lws_parse_uri(u, &prot, &ads, &port, &pth) != 0) {
		snprintf(p->why, sizeof(p->why), "cannot parse the URL");
		lws_context_destroy(ctx);
		free(u);
		return;
	}
	path = xasprintf("/%s", pth);
	memset(&ci, 0, sizeof(ci));
	ci.context = ctx;
	ci.address = ads;
	ci.port = port;
	ci.path = path;
	ci.host = ads;
	ci.origin = ads;
	ci.ssl_connection = strcmp(prot, "wss") == 0 ? LCCSCF_USE_SSL : 0;
	ci.local_protocol_name = protos[0].name;
	ci.opaque_user_data = p;
	if (lws_client_connect_via_info(&ci) == NULL && p->done == 0) {
		snprintf(p->why, sizeof(p->why), "cannot start connecting");
		p->done = -1;
	}
	end = util_mono_ms() + ctl_cfg.doctor_timeout_ms;
	while (p->done == 0 && util_mono_ms() < end)
		lws_service(ctx, 50);
	/* A clean close: let the close frame go out (bounded). */
	end = util_mono_ms() + 500;
	while (p->done == 1 && util_mono_ms() < end)
		lws_service(ctx, 20);
	if (p->done == 0)
		snprintf(p->why, sizeof(p->why),
		    "no %s within %ld ms (DOCTOR_TIMEOUT_MS)",
		    p->created ? "session.updated" : "session.created",
		    ctl_cfg.doctor_timeout_ms);
	lws_context_destroy(ctx);
	free(path);
	free(u);
	free(p->rx);
}

void
doctor_realtime(struct doc_check *c)
{
	struct rt_session s;
	struct probe      p;

	if (!loaded) {
		doc_fail(c, "session", "correct ai-session's settings first",
		    "not checked: ai-session's settings are invalid");
		return;
	}
	memset(&p, 0, sizeof(p));
	config_rt_session(&s, &ac, NULL);
	if ((p.update = oai_session_update(&s)) == NULL) {
		doc_fail(c, "session", "check AI_INSTRUCTIONS (valid UTF-8)",
		    "cannot encode session.update");
		return;
	}
	probe_run(&p);
	if (p.ok)
		doc_ok(
		    c, "session", "opened, session.update accepted, closed");
	else
		doc_fail(c, "session",
		    "check OPENAI_REALTIME_URL, OPENAI_VOICE, "
		    "AI_TRANSCRIBE_MODEL and OPENAI_API_KEY against the line "
		    "above",
		    "%s", p.why);
	free((char *)p.update);
}
