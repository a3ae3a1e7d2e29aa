/*
 * sim-twilio - the telephone provider, simulated: Twilio's (or SignalWire's
 * compatibility) REST "calls" API, and the provider's behaviour after a
 * call is created: signed status callbacks, the signed TwiML request, the
 * media stream opened from <Connect><Stream>, <Say>/<Hangup>, answering
 * machine detection, hang-up by the callee, updates through REST.
 *
 *	main.c	options, --self-test, start and stop
 *	rest.c	the lws HTTP server: requests in, responses out
 *	api.c	routes: create/update/fetch call, /sim/inbound, /sim/calls,
 *		and the JSON views of a call
 *	call.c	one call's life as a state machine
 *	twiml.c	the small TwiML subset we execute
 *	hook.c	webhook posts on worker threads (libcurl), results back
 *	form.c	application/x-www-form-urlencoded in and out
 *	telnyx.c	--telnyx: its REST routes and webhook signatures
 *
 * Threads: the main thread runs the lws loop and owns every struct below
 * except hook jobs in flight (hook.c says who owns what when).
 */
#ifndef TWILIO_H
#define TWILIO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include <openssl/evp.h>

#include "stream.h"
#include "twsig.h"

#define SIM_BODY_MAX (256 * 1024) /* largest request body accepted */
#define SIM_RING_MS 200 /* initiated -> ringing -> answered */
#define SIM_AMD_MS 500 /* async AMD result after answer */
#define SIM_PAUSE_MAX_S 10 /* <Pause> is honoured up to this */

struct sim_opts {
	int         port;
	const char *account_sid;
	const char *auth_token;
	const char *record_path;
	const char *answered_by; /* AMD result to report */
	const char *caller_audio;
	const char *caller_speak_at;
	const char *caller_tone_at;
	const char *caller_dtmf; /* keys the caller presses: D@ms,... */
	int         call_duration_ms; /* callee hangs up; 0 never */
	int         ring_ms;
	const char *media_url; /* overrides <Stream url> */
	bool        signalwire;
	const char *signing_key; /* SignalWire webhook key */
	bool        telnyx;
	const char *telnyx_key; /* base64 Ed25519 seed: webhook signatures */
	int         telnyx_dtmf_status; /* send_dtmf answers this; 0: 200 */
	int         hook_workers;
	int         hook_timeout_ms;
	bool        tags;
	bool        self_test;
	const char *number; /* one IncomingPhoneNumber (E.164), or NULL */
	const char *number_voice_url;
	const char *number_status_cb;
	bool        twiml_get; /* fetch TwiML by GET, the pairs in the query */
};

/* The account's phone number (numbers.c); strings owned here. */
struct number {
	char  sid[35]; /* PN + 32 hex */
	char *phone, *voice_url, *voice_method, *status_cb, *status_cb_method;
	char *app_sid; /* VoiceApplicationSid; "" when none */
	char  created[40];
};

/* Decoded form pairs; the strings are owned by the form. */
struct form {
	struct twsig_pair *v;
	size_t             n, cap;
};

struct hooks;
struct twiml;

struct sim {
	struct sim_opts     o;
	struct lws_context *ctx;
	struct lws_vhost   *vhost;
	int                 port;
	const char         *api_base; /* /2010-04-01, laml's or /v2 */
	EVP_PKEY           *ed_key; /* --telnyx-key */
	struct stream_audio audio;
	struct stream_cfg   scfg;
	struct stream_hub   hub;
	struct call        *calls; /* newest first */
	struct number      *number; /* NULL: the account has none */
	struct hooks       *hooks;
	FILE               *record;
	atomic_int          stop;
};

enum call_wait {
	WAIT_NONE,
	WAIT_HOOK, /* a webhook this step posted */
	WAIT_TIMER, /* step_sul: ringing, <Pause> */
	WAIT_STREAM /* the media stream to end */
};

enum call_step {
	STEP_INITIATED, /* initiated callback */
	STEP_RINGING, /* ringing callback */
	STEP_RING_WAIT, /* the phone rings for ring_ms */
	STEP_ANSWERED, /* answered callback, AMD and limits armed */
	STEP_FETCH, /* POST the TwiML Url */
	STEP_RUN, /* execute TwiML verbs */
	STEP_END, /* completed callback */
	STEP_DONE
};

struct call {
	struct call           *next;
	struct sim            *sim;
	char                   sid[STREAM_SID_LEN + 1];
	bool                   inbound;
	char                  *to, *from, *url, *status_cb, *amd_cb;
	unsigned               events; /* CALL_EV_* requested */
	bool                   amd, amd_async;
	int                    time_limit_s;
	const char            *status; /* REST status word */
	const char            *answered_by; /* when AMD ran */
	char                   created[40]; /* RFC 2822 */
	int64_t                created_us, answered_us, ended_us;
	enum call_step         step;
	enum call_wait         wait; /* what step waits for */
	bool                   ending;
	bool                   doc_stale; /* TwiML replaced mid-fetch */
	const char            *end_status; /* completed, canceled */
	struct twiml          *doc;
	size_t                 pc; /* next verb in doc */
	struct stream_call    *stream; /* open stream, if any */
	json_t                *streams; /* stats of finished streams */
	json_t                *hooks_log; /* webhooks posted and results */
	json_t                *twiml_log; /* TwiML documents executed */
	json_t                *said; /* <Say> texts, in order */
	json_t                *skipped; /* verbs we do not run */
	json_t                *send_dtmf; /* Telnyx send_dtmf requests */
	char                  *error;
	int                    seq; /* status callback counter */
	lws_sorted_usec_list_t step_sul, limit_sul, amd_sul;
};

#define CALL_EV_INITIATED 0x1
#define CALL_EV_RINGING 0x2
#define CALL_EV_ANSWERED 0x4
#define CALL_EV_COMPLETED 0x8

/* main.c */
void sim_record(struct sim *sim, json_t *line); /* consumes line */

/* rest.c */
int rest_lws_cb(
    struct lws *, enum lws_callback_reasons, void *, void *, size_t);
size_t rest_pss_size(void);

/* api.c */
struct api_req {
	bool        post;
	const char *path;
	const char *body;
	size_t      len;
	const char *auth; /* Authorization header or "" */
	const char *phone_filter; /* ?PhoneNumber= (decoded) or NULL */
};
struct api_resp {
	int     status;
	json_t *body; /* owned; serialized by rest.c */
};
void api_handle(
    struct sim *sim, const struct api_req *req, struct api_resp *resp);
json_t *api_error(int code, const char *message, int status);

/* numbers.c: {base}/Accounts/{sid}/IncomingPhoneNumbers...; rest is
 * what follows "IncomingPhoneNumbers". */
void numbers_init(struct sim *sim);
void numbers_fini(struct sim *sim);
void numbers_handle(struct sim *sim, const struct api_req *req,
    const char *rest, const struct form *f, struct api_resp *resp);

/* call.c */
struct call *call_new(
    struct sim *sim, const struct form *f, bool inbound, struct api_resp *err);
struct call *call_find(struct sim *sim, const char *sid);
void         call_start(struct call *c);
int call_update(struct call *c, const struct form *f, struct api_resp *err);
json_t *call_resource(const struct call *c);
json_t *call_view(const struct call *c);
void    call_free_all(struct sim *sim);

/* twiml.c */
enum twiml_verb {
	TWIML_SAY,
	TWIML_PAUSE,
	TWIML_HANGUP,
	TWIML_STREAM, /* <Connect><Stream> */
	TWIML_UNSUPPORTED /* recorded, then skipped */
};
struct twiml_action {
	enum twiml_verb verb;
	char           *text; /* say text, stream url, verb name */
	int             length; /* pause seconds */
	char           *bearer; /* <Stream authBearerToken> */
	json_t         *params; /* <Parameter>s as an object */
};
struct twiml {
	struct twiml_action *v;
	size_t               n;
};
int  twiml_parse(const char *xml, size_t len, struct twiml **docp, char *err,
     size_t errlen);
void twiml_free(struct twiml *doc);

/* hook.c */
struct hook_job;
typedef void (*hook_done_fn)(struct call *, struct hook_job *);
struct hook_job {
	struct hook_job *next;
	struct call     *call; /* calls live until exit */
	const char      *kind; /* "status", "twiml", "amd" */
	char            *url; /* GET: with the params as its query */
	struct form      params;
	bool             get; /* the TwiML request by GET (--twiml-get) */
	char             sig[TWSIG_LEN + 1];
	char             esig[96]; /* Telnyx: Ed25519, base64 */
	char             ts[24]; /* Telnyx: telnyx-timestamp */
	hook_done_fn     done;
	/* Filled by the worker. */
	long    http_status; /* 0: no HTTP answer */
	char   *resp; /* response body, NUL-terminated */
	size_t  resp_len;
	char    error[256];
	int64_t ms; /* how long the post took */
};
int  hook_start(struct sim *sim);
void hook_stop(struct sim *sim);
void hook_post(struct sim *sim, struct call *c, const char *kind,
    const char *url, struct form *params, hook_done_fn done);
void hook_drain(struct sim *sim);

/* telnyx.c */
int telnyx_key_load(struct sim *sim);
/* Answers a /v2/ request; "ok", "none" or "bad": its bearer token. */
const char *telnyx_handle(
    struct sim *sim, const struct api_req *req, struct api_resp *resp);

/* form.c */
int         form_parse(struct form *f, const char *body, size_t len);
void        form_add(struct form *f, const char *name, const char *value);
const char *form_get(const struct form *f, const char *name);
char       *form_encode(const struct form *f);
json_t     *form_json(const struct form *f);
void        form_free(struct form *f);

#endif /* TWILIO_H */
