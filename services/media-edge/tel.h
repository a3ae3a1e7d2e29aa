/*
 * tel - the one interface between media-edge and a telephony provider.
 *
 * A provider (tel_twilio.c, tel_signalwire.c, tel_telnyx.c) implements struct
 * tel_provider: how its webhooks are signed, the XML document that
 * answers its call webhook (<Connect><Stream>), the REST requests that
 * create and hang up a call and send keys, and the field names of its
 * media-stream messages.  web.c, webjobs.c, stream.c and calls.c reach the
 * provider only through it.  Adding a provider means one more tel_<name>.c and
 * its line in tel_providers[] (tel.c); its settings go in config.c.
 *
 * Which provider a call belongs to is never guessed: webhooks and REST
 * use EDGE_PROVIDER (e->tel), and a media stream is told by the path it
 * was opened on (/media/<name>, written into the answer document; plain
 * /media means EDGE_PROVIDER).  The provider travels with the call
 * (struct call.prov) and on the bus (Bus__Provider).
 *
 * Threads: every function is pure apart from reading the configuration;
 * any thread may call it.
 */
#ifndef TEL_H
#define TEL_H

#include <stdbool.h>
#include <stddef.h>

#include "bus.pb-c.h"

struct edge;
struct form;

/* One webhook as received (web.c). */
struct tel_hook {
	const char        *url; /* EDGE_PUBLIC_URL + path */
	const char        *body; /* the raw body, len bytes */
	size_t             len;
	const struct form *form; /* the body, parsed */
	const char        *sig; /* the provider's signature header, or "" */
	const char        *ts; /* its timestamp header, or "" */
	/* A GET: the query re-encoded from its decoded pairs (web.c,
	 * form_escape), signed with the URL; form is then empty.  NULL for
	 * a POST. */
	const char *query;
};

/* What the answer document says (strings already XML-escaped). */
struct tel_answer {
	const char *stream_url; /* wss://host/media/<name> */
	const char *token; /* single-use stream token */
	const char *direction; /* "inbound" or "outbound" */
	const char *answered_by; /* "" when AMD has not run */
	const char *say; /* XML-escaped: spoken after </Connect> when the
	                    stream ends with the call still up; "" none */
};

/* The call to create (POST /calls). */
struct tel_dial {
	const char *to, *from; /* E.164 */
	long        time_limit_s; /* the call's longest duration */
};

/* One REST request for webjobs.c's post(). */
struct tel_req {
	char        url[768];
	const char *user, *pass; /* HTTP basic auth, or NULL */
	char        hdr[320]; /* one more header line, or "" */
	const char *ctype;
	char       *body; /* malloc'd; the caller frees */
};

/* The media-stream dialect: field names of the JSON messages. */
struct tel_dialect {
	const char *stream_top; /* top-level stream id in every message
	                           (out and in), or NULL */
	const char *start_stream; /* start.<x>: stream id, or NULL */
	const char *start_call; /* start.<x>: the call sid */
	const char *start_account; /* start.<x>, or NULL */
	const char *start_params; /* start.<x>: our <Parameter>s */
	bool        media_ts_ms; /* media.timestamp: ms since the start */
};

struct tel_provider {
	const char   *name; /* EDGE_PROVIDER, /media/<name> */
	Bus__Provider id;
	/* Request headers (with the colon, lower case) carrying the webhook
	 * signature, tried in order; and its timestamp, or NULL. */
	const char *sig_headers[3];
	const char *ts_header;
	/* Characters a call sid may hold besides [A-Za-z0-9-_]. */
	const char *sid_extra;
	/* The statuses that end a call (status callbacks), NULL-ended. */
	const char *const        *end_statuses;
	const struct tel_dialect *ws;
	/* The call webhook may be fetched by GET (the query signed with the
	 * URL); false: POST only, a GET gets 405. */
	bool twiml_get;

	/* The webhook is the provider's: constant time. */
	bool (*webhook_ok)(const struct edge *, const struct tel_hook *);
	/* The answer document in *docp (the caller frees): 0, or -1. */
	int (*answer)(const struct tel_answer *, char **docp);
	/* Caller id when POST /calls names none. */
	const char *(*default_from)(const struct edge *);
	/* "Create call": 0 with req filled, -1 when not configured. */
	int (*create_req)(
	    const struct edge *, const struct tel_dial *, struct tel_req *);
	/* The call sid in a 2xx answer to create_req: 0, or -1. */
	int (*created_sid)(const char *resp, char *sid, size_t len);
	/* Hang the call up: 0 with req filled, -1 when not configured. */
	int (*hangup_req)(
	    const struct edge *, const char *call_sid, struct tel_req *);
	/* How keys the model presses are sent (keys.c): 0 with req filled
	 * when a REST request sends them; -1 (or no hook) when they go as
	 * in-band tones in the media stream. */
	int (*keys)(const struct edge *, const char *call_sid,
	    const char *digits, struct tel_req *);
};

extern const struct tel_provider tel_twilio;
extern const struct tel_provider tel_signalwire;
extern const struct tel_provider tel_telnyx;

/* tel.c: the registry. */
const struct tel_provider *tel_find(const char *name);
/* A call sid: [A-Za-z0-9-_] and p->sid_extra, 1 to EDGE_SID_MAX-1. */
bool tel_sid_ok(const struct tel_provider *p, const char *sid);
/* "twilio, signalwire, ..." for messages. */
const char *tel_names(void);
/* The statuses of Twilio's call resource, which the others reuse. */
extern const char *const tel_twiml_end_statuses[];
/* <Response><Connect><Stream url= ...> with our <Parameter>s in *docp
 * (the caller frees); attrs are more <Stream> attributes (" name=\"v\"")
 * or "".  0. */
int tel_connect_stream(
    const struct tel_answer *, const char *attrs, char **docp);
/* The first of keys (NULL-ended) that is a string in the JSON object
 * resp, copied to sid: 0, or -1. */
int tel_json_sid(
    const char *resp, const char *const *keys, char *sid, size_t len);
/* a=b pairs, form-encoded, appended to *body (malloc'd). */
void tel_form_add(char **body, const char *name, const char *value);

/* tel_twilio.c: the LaML REST shape and the dialect SignalWire shares. */
extern const struct tel_dialect tel_twiml_dialect;
int tel_laml_create(const struct edge *, const struct tel_dial *,
    const char *base, const char *user, const char *pass, struct tel_req *);
int tel_laml_hangup(const char *base, const char *user, const char *pass,
    const char *call_sid, struct tel_req *);
int tel_laml_sid(const char *resp, char *sid, size_t len);

#endif
