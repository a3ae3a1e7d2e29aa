/*
 * media-edge - private header: structs, then prototypes by file.
 *
 * Threads:
 *   - the lws service thread (loop.c) owns every wsi, every struct call,
 *     the call table and the outgoing queues;
 *     it also receives from the sub socket (hop.c, common/ahop.c);
 *   - nng pipe callbacks (hop.c) and svc workers (dispatch.c) only push onto
 *     the event queue (evq.c) and call lws_cancel_service();
 *   - request workers (bridge.c) block on req/rep to ai-session and hand
 *     results back through the event queue;
 *   - main only starts, waits for a signal, drains and stops.
 * Each prototype below names the thread that may call it.
 */
#ifndef EDGE_H
#define EDGE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <nng/nng.h>

#include "abatch.h"
#include "ahop.h"
#include "bus.h"
#include "bus.pb-c.h"
#include "cfg.h"
#include "httpd.h"
#include "tel.h"

#define EDGE_SID_MAX 64 /* call / stream / account sid + NUL */
#define EDGE_NAME_MAX 256 /* mark name + NUL: the bus takes no longer */
#define EDGE_URL_MAX 256
#define EDGE_MAX_MSG (64 * 1024) /* caller message limit */
#define EDGE_FRAME_BYTES 160 /* 20 ms of 8 kHz mu-law */
#define EDGE_ULAW_SILENCE 0xFF
#define EDGE_CLOSE_POLICY 1008
#define EDGE_CLOSE_NORMAL 1000
#define EDGE_CLOSE_AWAY 1001
#define EDGE_CLOSE_ERROR 1011
#define EDGE_CLOSE_TRY_LATER 1013

struct http_client; /* common/http.h */
struct http_retry;
/* proxy.c: TRUSTED_PROXIES, parsed. */
#define PROXY_MAX 32
struct proxy_net {
	unsigned char addr[16]; /* IPv4 mapped into IPv6 */
	int           bits; /* prefix length over the 16 bytes */
};
struct proxies {
	struct proxy_net nets[PROXY_MAX];
	int              n;
};

struct edge_cfg {
	char *http_addr;
	long  http_port;
	char *listen_url; /* our request socket (HangUp, Ping) */
	char *ctl_advertise_url; /* "" = listen_url */
	char *pub_url;
	char *pub_advertise_url; /* "" = pub_url */
	char *ai_session_url; /* comma-separated list */
	char *public_url; /* https://edge.example.com */
	char *stream_token_secret;
	char *edge_twilio_auth_token;
	char *twilio_auth_token;
	char *log_level;
	long  max_calls;
	long  start_timeout_ms; /* a stream's start must come by then */
	long  pending_per_addr; /* sockets before start, per address */
	long  req_workers;
	long  session_timeout_ms;
	long  session_attempts;
	long  start_buffer_bytes;
	long  replay_ms;
	long  unacked_ms; /* bound of the frames kept for a move */
	long  out_queue_bytes;
	long  max_pad_ms;
	long  token_cache;
	long  token_max_ttl_s;
	long  drain_timeout_ms;
	long  shutdown_timeout_ms;
	long  pub_sendbuf;
	long  sub_recvbuf;
	long  connect_wait_ms;
	/* the HTTP part */
	char *api_token;
	char *provider; /* a name in tel.c's registry */
	char *twilio_api_base;
	char *twilio_account_sid;
	char *twilio_from;
	char *sw_api_base;
	char *sw_project_id;
	char *sw_api_token;
	char *sw_signing_key;
	char *sw_from;
	char *telnyx_api_base;
	char *telnyx_api_key;
	char *telnyx_app_id;
	char *telnyx_public_key;
	char *telnyx_from;
	long  telnyx_tolerance_s;
	char *rate_limiter_url;
	char *persister_url;
	char *machine_detection;
	char *notify_url;
	char *notify_secret;
	long  max_call_seconds;
	char *fallback_say;
	long  stream_token_ttl_s;
	long  web_workers;
	long  web_queue_max;
	long  provider_timeout_ms;
	long  notify_attempts;
	char *event_loop; /* "libev" (epoll) or "poll" */
	long  batch_flush_ms; /* paced loop turns (evloop.h); 0: off */
	/* the dashboard (dash.c) */
	char *dash_secret; /* "": sign-in off */
	char *dash_origins; /* comma-separated; "": EDGE_PUBLIC_URL's */
	long  dash_token_max_ttl_s;

	struct bus_tls bus_tls; /* BUS_TLS_* */
	char          *trusted_proxies; /* TRUSTED_PROXIES */
	struct proxies proxies; /* parsed by edge_config_check() */
};

/* ---- outq.c: a call's bounded queue of outgoing WebSocket messages ---- */

enum outq_kind { OUTQ_MEDIA = 1, OUTQ_MARK, OUTQ_CLEAR };

/*
 * Records live back to back in one buffer, each with LWS_PRE bytes of
 * room before its payload, so lws_write() needs no copy and the queue
 * allocates only when it grows.  Owned by the lws service thread.
 */
struct outq {
	unsigned char *buf;
	size_t         cap;
	size_t         head; /* first unsent record */
	size_t         tail; /* end of the last record */
	size_t         limit; /* most bytes the queue may hold */
	unsigned       count;
};

/* ---- pend: caller frames held until the ai-session is ready ---- */

struct pend {
	unsigned char *buf; /* records: u32 ts, u32 seq, u32 len */
	size_t         len;
	size_t         cap;
	size_t         limit;
};

/* ---- replay: caller frames not yet acknowledged (replay.c) ---- */

#define REPLAY_SLOT EDGE_FRAME_BYTES /* larger frames are not kept */

struct replay_frame {
	uint32_t      ts, seq, len;
	unsigned char p[REPLAY_SLOT];
};

struct replay {
	struct replay_frame *f; /* cap slots, growing up to max */
	unsigned             cap, max;
	unsigned             head; /* the oldest frame */
	unsigned             used;
	unsigned             tail; /* replayed without acks: the newest */
	uint32_t             top; /* highest seq kept */
	uint32_t             acked; /* highest seq acknowledged */
	uint32_t             holder; /* whose acks count */
	bool                 acks; /* the holder acknowledges */
};

enum replay_verdict {
	REPLAY_ACK_OK = 0,
	REPLAY_ACK_AHEAD, /* a frame not sent yet */
	REPLAY_ACK_STALE /* another holder's */
};

/* replay.c: lws service thread.  max frames kept (EDGE_UNACKED_MS),
 * tail of them replayed when the holder sends no acks (EDGE_REPLAY_MS). */
void replay_init(struct replay *, unsigned max, unsigned tail);
void replay_fini(struct replay *);
/* Keep a frame: 0; 1 when the bound pushed out one not acknowledged;
 * -1 when not kept (too large, or max 0). */
int replay_add(struct replay *, const unsigned char *p, size_t len,
    uint32_t ts, uint32_t seq);
/* The holder wrote every frame up to seq: forget them. */
enum replay_verdict replay_ack(struct replay *, uint32_t seq, uint32_t holder);
/* A new holder (SessionStart.holder): its acks, none yet. */
void replay_holder(struct replay *, uint32_t holder);
/* Frames to send again to the next holder; the i-th, oldest first. */
unsigned                   replay_pending(const struct replay *);
const struct replay_frame *replay_frame(const struct replay *, unsigned i);

enum call_state {
	CALL_CONNECTED = 0, /* socket open, no valid start yet */
	CALL_STARTING, /* SessionStart in flight */
	CALL_ACTIVE, /* frames flow */
	CALL_RESUMING, /* ai-session lost; SessionStart{resume} */
	CALL_ENDED /* stop seen or closing: no more audio */
};

struct edge;

/* One media stream.  lws service thread only. */
struct call {
	struct edge    *edge;
	struct lws     *wsi;
	uint64_t        id; /* serial: results from other threads */
	enum call_state state;
	bool            in_table; /* reachable by call sid */
	bool            session_sent; /* a SessionStart was submitted */
	bool            start_inflight;
	bool            hanging_up; /* provider hang-up in flight */
	uint32_t        holders; /* SessionStarts sent: next holder */
	bool            end_sent;
	bool            closing;
	bool            kill; /* drop without a close frame */
	int             close_code;
	const char     *close_why;
	const char     *end_reason;
	Bus__Direction  direction;
	char            call_sid[EDGE_SID_MAX];
	char            stream_sid[EDGE_SID_MAX];
	char            account_sid[EDGE_SID_MAX];
	char            trace_id[33];
	char            ai_url[EDGE_URL_MAX];
	struct abatch  *dest; /* the ai-session's batch; NULL: per frame */
	json_t         *params; /* customParameters minus the token */
	int64_t         started_us; /* start seen (monotonic) */
	int64_t         started_ms; /* start seen (wall clock) */
	uint32_t        seq; /* caller frames published */
	uint32_t        next_ts; /* expected next media.timestamp */
	bool            have_ts;
	struct pend     pend;
	struct replay   replay;
	unsigned        unacked_counted; /* replay.used in the gauge */
	bool            unacked_warned; /* the bound was hit: logged */
	json_t         *turns; /* published turns, for a resume */
	struct outq     out;
	unsigned char  *rx; /* reassembly of fragmented messages */
	size_t          rx_len;
	bool            rx_busy; /* inside a message */
	bool            rx_skip; /* oversized or binary: discard */
	bool            rx_binary;
	bool            pending; /* before a valid start: holds no slot */
	char            peer[48]; /* client address, for the pending bound */
	lws_sorted_usec_list_t start_sul; /* EDGE_START_TIMEOUT_MS */
	struct call           *hnext; /* call table chain */
	struct call           *prev, *next; /* every call */

	const struct tel_provider *prov; /* told by the /media path */
};

/* Per-connection state of the one lws protocol (HTTP and WebSocket). */
struct pss {
	struct httpd_sess hs;
	struct call      *call;
	struct web       *web;
	void             *events; /* an /events client */
	struct dashreq   *dash; /* a dashboard request (dash.c) */
};

/* ---- evq.c: work handed to the lws service thread ---- */

enum ev_kind {
	EV_STARTED = 1, /* SessionStarted for call id */
	EV_START_FAILED,
	EV_AI_GONE, /* a sub pipe to ai-session url closed */
	EV_HANGUP, /* HangUp for call sid */
	EV_WEB_REPLY, /* answer web id */
	EV_EVENTS_REPLY, /* answer an /events client */
	EV_SUMMARY, /* ai-session's summary for call sid: body JSON */
	EV_HANGUP_DONE, /* the provider hang-up of call id was tried */
	EV_KEYS_FAILED /* keys of call sid not sent: status seq, text why */
};

struct ev {
	struct ev   *next;
	enum ev_kind kind;
	uint64_t     call_id;
	char         call_sid[EDGE_SID_MAX];
	char         url[EDGE_URL_MAX];
	char         text[128]; /* reason, instance */
	bool         failed; /* EV_HANGUP: the call could not be served */
	char         topic[ABATCH_TOPIC_MAX]; /* EV_STARTED: batch topic */
	int          status; /* EV_WEB_REPLY */
	int          retry_after;
	const char  *ctype; /* static */
	char        *body; /* malloc'd */
};

struct evq {
	pthread_mutex_t     lock;
	struct lws_context *ctx; /* {lock} set once before threads */
	struct ev          *first, *last; /* {lock} control events */
	bool                woken; /* {lock} a cancel is pending */
};

/* ---- bridge.c: jobs for the request workers ---- */

enum job_kind { JOB_START = 1, JOB_END };

struct job {
	enum job_kind  kind;
	uint64_t       call_id;
	char           call_sid[EDGE_SID_MAX];
	char           trace_id[33];
	char           key[33];
	char           stream_sid[EDGE_SID_MAX];
	char           account_sid[EDGE_SID_MAX];
	Bus__Provider  provider;
	Bus__Direction direction;
	bool           resume;
	uint32_t       holder;
	bool           audio_acks; /* SessionStart.audio_acks */
	json_t        *turns; /* owned copy of call->turns, or NULL */
	int64_t        at_ms;
	char           reason[64];
	json_t        *params; /* owned copy */
};

struct bridge {
	struct edge *edge;
	struct jobs *q; /* common/jobs: EDGE_REQ_WORKERS threads */
	nng_socket   req;
};

/* ---- token.c: single-use stream tokens ---- */

struct token_slot {
	unsigned char mac[16];
	int64_t       expiry; /* 0: empty */
};

struct tokens {
	struct token_slot *slots;
	size_t             cap; /* power of two */
	size_t             used;
};

/* ---- form.c: urlencoded bodies and webhook signatures ---- */

struct form_pair {
	char *name;
	char *value;
};

struct form {
	struct form_pair *v;
	size_t            n, cap;
};

/* ---- web.c: one HTTP request on the public port ---- */

enum web_route {
	ROUTE_NONE = 0,
	ROUTE_CALLS,
	ROUTE_TWIML,
	ROUTE_STATUS,
	ROUTE_API /* the calls API (api_calls.c) but POST /calls */
};

struct web {
	struct web    *next; /* e->webs: waiting for a job */
	struct lws    *wsi;
	uint64_t       id;
	enum web_route route;
	char          *body;
	size_t         len;
	bool           too_big;
	bool           waiting;
	bool           body_unread; /* answer only after the body */
	bool           get; /* GET /twiml: body is the re-encoded query */
	char           ip[64]; /* the client (api_client_ip) */
	bool           xff_bad; /* a trusted proxy sent a bad X-F-F */
	bool           dash_read; /* ROUTE_API: a valid dashboard cookie */
	char           auth[300];
	char           sig[160]; /* the provider's signature header */
	char           ts[32]; /* and its timestamp header */
	char           method[8]; /* ROUTE_API: "GET", "POST", ... */
	char           path[128]; /* ROUTE_API */
	char           query[512]; /* ROUTE_API: "a=1&b=2", decoded */
	/* the reply, written by web_writeable() */
	int         state; /* 0 none, 1 headers, 2 body */
	int         status;
	const char *ctype;
	char       *out;
	size_t      outlen;
	int         retry_after;
};

/* ---- webjobs.c: blocking work of the HTTP part ---- */

enum wjob_kind {
	WJ_CREATE_CALL = 1, /* POST /calls */
	WJ_INBOUND, /* /twiml of an inbound call */
	WJ_EVENT, /* CallEvent to persister */
	WJ_HANGUP, /* provider REST Status=completed */
	WJ_NOTIFY, /* signed notification */
	WJ_RATE_PEEK, /* /events rate query */
	WJ_API_QUERY, /* GET /calls, GET /calls/{sid} */
	WJ_API_HANGUP, /* POST /calls/{sid}/hangup */
	WJ_API_DNC, /* POST /dnc, /dnc/remove (status: "add", "remove") */
	WJ_RECORD, /* CallRecord of a call no ai-session served */
	WJ_KEYS /* the provider's REST request for keys (keys.c) */
};

/* POST /calls: what the business chose for this call (api_calls.c). */
struct call_settings {
	char     voice[32];
	char     language[16];
	char    *instructions;
	char    *greeting;
	char    *metadata_json;
	uint32_t max_duration_s;
};

struct wjob {
	enum wjob_kind kind;
	uint64_t       web_id;
	uint64_t       call_id; /* WJ_HANGUP: EV_HANGUP_DONE to it */
	uint32_t       version; /* WJ_RECORD */
	Bus__Direction direction; /* WJ_RECORD */
	char           call_sid[EDGE_SID_MAX];
	char           to[40];
	char           from[40];
	char           ip[64];
	char           lead_id[128];
	char           status[64];
	char           ev_kind[16];
	char          *objective;
	char          *context_json;
	char          *payload; /* CallEvent payload / notification */
	char          *twiml_params; /* extra <Parameter>s (inbound) */
	int64_t        at_ms;
	uint32_t       seq;
	/* WJ_CREATE_CALL */
	struct call_settings settings;
	/* WJ_KEYS: the request (seq above: SendDigits.seq) */
	struct tel_req *req;
	/* WJ_API_QUERY (call_sid, status and lead_id above) */
	int64_t      since_ms, until_ms, cursor;
	uint32_t     limit;
	struct wjob *next; /* webjobs.deferred */
};

struct webjobs {
	struct edge    *edge;
	struct jobs    *q; /* common/jobs: EDGE_WEB_WORKERS threads */
	atomic_int      stop; /* set by webjobs_stop() */
	nng_socket      rl, ps; /* rate-limiter, persister */
	bool            rl_open, ps_open;
	pthread_mutex_t mtx;
	/* Hang-ups, events, records, notifications the full queue
	 * refused, in order: offered again every tick (webjobs_retry). */
	struct wjob          *deferred, *deferred_tail; /* {mtx} */
	struct metric_family *m_deferred;
};

/* ---- the daemon ---- */

struct edge_metrics {
	struct metric        *active_calls;
	struct metric        *setup_seconds;
	struct metric        *frames_in;
	struct metric        *frames_out;
	struct metric        *frames_padded;
	struct metric        *frames_replayed;
	struct metric        *unacked_frames; /* gauge: kept for a move */
	struct metric_family *acks; /* AudioAcks by result */
	struct metric        *marks_out;
	struct metric        *clears_out;
	struct metric_family *dropped;
	struct metric_family *batches;
	struct metric        *batch_items;
	struct metric_family *bad_input;
	struct metric_family *auth_fail;
	struct metric_family *session_req;
	struct metric_family *closes;
	struct metric        *slow_reader;
	struct metric        *resumes;
	struct metric        *streams;
	struct metric_family *http;
	struct metric_family *webhook_refused;
	struct metric_family *records;
	struct metric_family *hangups;
	struct metric_family *keys; /* keys.c */
	struct metric_family *fallbacks;
	struct metric_family *notify;
	struct metric        *pending_streams;
	struct metric_family *upgrades_refused;
	struct metric_family *api_refused; /* api_calls.c */
	struct metric_family *dash_refused; /* dashboard sign-in, cookie */
};

struct edge {
	struct edge_cfg        cfg;
	struct svc            *svc;
	struct lws_context    *ctx;
	pthread_t              lws_thread;
	bool                   lws_running;
	struct httpd_conf      hconf;
	atomic_bool            draining; /* set by main */
	bool                   drain_started; /* lws thread */
	bool                   drain_closing; /* lws thread */
	bool                   loop_exit; /* lws thread */
	atomic_bool            ready;
	lws_sorted_usec_list_t drain_sul;
	struct ahop            hop; /* the audio hop (hop.c) */
	nng_socket             pub; /* hop.pub */
	char                   batch_topic[ABATCH_TOPIC_MAX]; /* ours */
	const char            *pub_adv;
	const char            *ctl_adv;
	const char            *twilio_key; /* upgrade signatures; NULL */
	struct evq             evq;
	struct bridge          bridge;
	struct tokens          tokens;
	struct webjobs         wj;
	struct edge_metrics    m;
	lws_sorted_usec_list_t tick_sul; /* call duration limit */
	struct web            *webs; /* lws thread */
	uint64_t               next_web;
	/* lws service thread only: */
	struct call  **table;
	size_t         table_mask;
	struct call   *calls;
	long           ncalls; /* every /media socket */
	long           nactive; /* calls holding a slot (a valid start) */
	long           npending; /* sockets still waiting for a start */
	atomic_long    refused; /* upgrades refused and start timeouts */
	uint64_t       next_id;
	unsigned char *scratch; /* base64 decode buffer */
	unsigned char *scratch2; /* unescaped payload */

	const struct tel_provider *tel; /* EDGE_PROVIDER */
};

extern const struct cfg_opt edge_cfg_opts[];

/* config.c (main) */
int edge_config_check(struct edge_cfg *);

/* metrics.c (main, before any thread) */
void edge_metrics_init(struct edge_metrics *);
void edge_bad_input(struct edge *, const char *reason);
void edge_dropped(struct edge *, const char *reason, double n);
void edge_auth_fail(struct edge *, const char *reason);
/* A /media upgrade refused, or a socket closed for want of a start. */
void edge_refused(struct edge *, const char *reason);

/* evq.c: push from any thread; drain on the lws service thread. */
void evq_init(struct evq *);
void evq_fini(struct evq *);
void evq_set_ctx(struct evq *, struct lws_context *);
/* Takes ev (malloc'd). */
void evq_push(struct evq *, struct ev *ev);
/* Every event queued so far (the caller frees each). */
struct ev *evq_take(struct evq *);

/* outq.c: lws service thread. */
void outq_init(struct outq *, size_t limit);
void outq_fini(struct outq *);
/* Room for up to len payload bytes, or NULL when over the limit. */
unsigned char *outq_reserve(struct outq *, size_t len);
void           outq_commit(struct outq *, size_t len, enum outq_kind);
/* The first record: payload with LWS_PRE bytes before it; false if empty. */
bool outq_peek(
    struct outq *, unsigned char **p, size_t *len, enum outq_kind *kind);
void outq_pop(struct outq *);
/* Drop queued media (marks stay, so their echoes still come back). */
unsigned outq_drop_media(struct outq *);
size_t   outq_bytes(const struct outq *);

/* token.c: lws service thread. */
int  tokens_init(struct tokens *, size_t cap);
void tokens_fini(struct tokens *);
/* 0 valid (and now used), -1 with *why set to a metric label. */
int token_check(struct edge *, const char *call_sid, const char *token,
    int64_t now_s, const char **why);
/* Make a token (tests, phase 2 /twiml).  buf holds 128 bytes. */
int token_make(const char *secret, const char *call_sid, int64_t expiry,
    char *buf, size_t len);
/* x-twilio-signature on the upgrade: 0 ok or absent, -1 forged. */
int token_check_upgrade(struct edge *, struct lws *wsi, const char *path);
int token_upgrade_sig(const char *key, const char *url, char out[29]);

/* calls.c: lws service thread. */
int          calls_init(struct edge *);
void         calls_fini(struct edge *);
struct call *call_new(
    struct edge *, struct lws *wsi, const struct tel_provider *);
struct call *call_find(struct edge *, const char *call_sid);
struct call *call_find_id(struct edge *, uint64_t id);
/* 0 registered (the call now holds a slot); -1 another stream already
 * has this call sid; -2 every slot is taken. */
int call_register(struct call *);
/* /media sockets from addr still waiting for their start. */
long calls_pending_from(struct edge *, const char *addr);
/* Close with a code (flushes queued output first unless kill). */
void call_close(struct call *, int code, const char *why);
void call_kill(struct call *, const char *why);
/* The socket is gone: send SessionEnd if needed, unlink, free. */
void call_free(struct call *);
/* Caller audio, decoded: publish or hold; pads timestamp gaps. */
void call_audio_in(struct call *, const unsigned char *ulaw, size_t len,
    uint32_t ts, bool have_ts);
/* MarkEcho / Dtmf towards the ai-session, in order with the audio. */
void call_publish_item(struct call *, const Bus__BatchItem *it);
void call_started(
    struct call *, const char *ai_url, const char *inst, const char *topic);
void call_start_failed(struct call *, const char *why);
void call_ai_gone(struct edge *, const char *url);
/* AudioAck from the call's ai-session: forget what it wrote; released:
 * hand the call over now. */
void call_audio_ack(struct call *, const Bus__AudioAck *);
void call_request_session(struct call *, bool resume);
/* A turn the ai-session published: kept (the last EDGE_KEEP_TURNS) for
 * the SessionStart of a resume. */
void call_keep_turn(struct call *, const Bus__Turn *);
/* Queue outgoing JSON for the caller; cuts a slow reader off. */
void call_send_media(struct call *, const unsigned char *ulaw, size_t len);
void call_send_mark(struct call *, const char *name);
void call_send_clear(struct call *);

/* Publish the batches filled during this turn of the loop. */
void calls_flush(struct edge *);

/* stream.c: lws service thread. */
void stream_message(struct call *, const char *buf, size_t len);
void stream_media(
    struct call *, const char *b64, size_t len, uint32_t ts, bool have_ts);

/*
 * fastjson.c: fj_media() reads event, media.payload and media.timestamp
 * of a `media` message: 0, or -1 when the message is anything else or
 * needs jansson.  The payload points into buf, or into scratch when it
 * had escapes.  Pure; any thread.  stream_media_fast(): lws thread, 0
 * handled, -1 use jansson.
 */
struct fj_media {
	const char *payload;
	size_t      len;
	uint32_t    ts;
	bool        have_ts;
};
int fj_media(const char *buf, size_t len, char *scratch, size_t cap,
    struct fj_media *out);
int stream_media_fast(struct call *, const char *buf, size_t len);

/* ws.c: lws service thread. */
int  ws_receive(struct lws *, struct pss *, const void *in, size_t len);
int  ws_writeable(struct lws *, struct pss *);
int  ws_send_queued(struct call *);
int  ws_established(struct edge *, struct lws *, struct pss *);
void ws_closed(struct edge *, struct pss *);
int  ws_filter(struct edge *, struct lws *);
/* The provider of a /media path (/media: EDGE_PROVIDER), or NULL. */
const struct tel_provider *ws_provider(struct edge *, const char *path);

/* loop.c */
int  loop_start(struct edge *); /* main */
void loop_drain(struct edge *); /* main: blocks until done */
void loop_stop(struct edge *); /* main */

/* bridge.c */
int  bridge_start(struct edge *); /* main */
void bridge_stop(struct bridge *); /* main: after the loop is done */
void bridge_submit(struct bridge *, struct job *); /* any thread */

/* hop.c */
int  hop_start(struct edge *); /* main */
void hop_stop(struct edge *); /* main, after the loop */
/* Dial url once; wait (bounded) until a pipe is up.  Worker threads. */
int hop_connect(struct edge *, const char *url, int timeout_ms);
/* Take up to max messages from the sub socket without blocking and
 * route them; how many.  lws service thread. */
size_t hop_recv(struct edge *, size_t max);

/* dispatch.c: bus messages in. */
struct reply;
struct svc;
/* The request socket's svc handler (svc worker threads). */
int dispatch_request(
    struct svc *, const Bus__Envelope *, struct reply *, void *worker);
/* ahop_ops of the audio hop (lws service thread). */
void dispatch_item(void *arg, const Bus__BatchItem *, const char *what);
void dispatch_message(void *arg, const char *sid, const Bus__Envelope *);
/* loop.c: /health and /ready. */
int edge_health(void *arg, int ready, char *buf, size_t len);

/* form.c: any thread. */
int         form_parse(struct form *, const char *body, size_t len);
void        form_free(struct form *);
const char *form_get(const struct form *, const char *name);
/* The first of names (NULL-terminated) that occurs more than once in
 * the form, or NULL.  form_get() reads the first of several, while the
 * signature covers them all. */
const char *form_dup(const struct form *, const char *const *names);
int         form_sign(const char *key, const char *url, const struct form *,
            bool signalwire, char out[29]);
bool        form_sig_ok(const char *key, const char *url, const struct form *,
           bool signalwire, const char *header);
/* s (n bytes) percent-encoded as RFC 3986 wants it: unreserved bytes
 * as they are, every other byte %XX (upper case hex), a space %20.
 * out holds 3n + 1 bytes; returns the length written. */
size_t form_escape(const char *s, size_t n, char *out);
/* A GET webhook: the signature over url + "?" + query alone (no form
 * params), query being form_escape()d pairs; tried as it is and with
 * each %20 as "+", and with the port variants of form_sig_ok(). */
bool form_query_sig_ok(
    const char *key, const char *url, const char *query, const char *header);

/* web.c: lws service thread. */
int  web_http(struct edge *, struct lws *, struct pss *, const char *path);
int  web_body(struct edge *, struct pss *, const void *in, size_t len);
int  web_body_done(struct edge *, struct lws *, struct pss *);
int  web_writeable(struct lws *, struct pss *);
void web_closed(struct edge *, struct pss *);
void web_job_reply(struct edge *, struct ev *);
/* Start the call-duration timer. */
void web_tick_start(struct edge *);
/* Reply now: status, ctype (static), body copied, Retry-After if > 0. */
void web_reply(struct web *, int status, const char *ctype, const char *body,
    size_t len, int retry_after);
/* The <Connect><Stream> document with a fresh token; caller frees. Any
 * thread. */
char *web_twiml_stream(struct edge *, const char *call_sid,
    const char *direction, const char *answered_by);
/* Hang up through the provider's REST API (lws thread). */
void web_hangup(struct edge *, const char *call_sid, const char *why);
/* Hang c up through the provider first, then close its stream
 * (EV_HANGUP_DONE): closed first, the provider would go on to the
 * fallback <Say> after </Connect>. */
void web_hangup_call(struct edge *, struct call *, const char *why);
/* c cannot be served: count it, store its record (status failed, end
 * reason why) unless an ai-session held it, and close the stream, so the
 * provider speaks the fallback <Say>. */
void web_fallback(struct call *, const char *why, bool record);

/* The JSON error {error, reason} now (lws thread). */
void web_json_error(struct web *, int status, const char *error,
    const char *reason, int retry_after);
/* Hand j to the web workers; w is answered by EV_WEB_REPLY. */
void web_wait_job(struct edge *, struct web *, struct wjob *);

/*
 * api_calls.c: the calls API on the public port.  api_path(): the paths
 * it serves (any thread); api_capture(): method, path and query of a
 * request (web_http); api_request(): answer it once the body is read;
 * api_create(): POST /calls and POST /api/call (lws thread).
 * api_scope(): the one check of an Authorization header: which scope
 * its token grants.
 */
enum api_scope { API_SCOPE_NONE = 0, API_SCOPE_READ, API_SCOPE_ADMIN };
enum api_scope api_scope(const struct edge *, const char *authorization);
bool           api_path(const char *path);
void api_capture(struct edge *, struct web *, struct lws *, const char *path);
int  api_request(struct edge *, struct web *);
int  api_create(struct edge *, struct web *);
/* Worker threads: WJ_API_QUERY and WJ_API_HANGUP. */
void api_job(struct edge *, struct http_client *, struct wjob *);
void call_settings_free(struct call_settings *);

/* proxy.c: any thread.  TRUSTED_PROXIES into p: 0, or -1 (logged). */
int  proxy_parse(const char *list, struct proxies *p);
bool proxy_trusted(const struct proxies *, const char *addr);
/* The client of a request from peer with X-Forwarded-For xff (NULL:
 * none) into out: 0, or -1 when the header is malformed. */
int proxy_client(const struct proxies *, const char *peer, const char *xff,
    char *out, size_t len);
/* lws service thread: the client of the request on wsi, into out: 0, or
 * -1 (out is the TCP peer) when a trusted proxy's header is unusable. */
int proxy_wsi_client(
    const struct proxies *, struct lws *wsi, char *out, size_t len);
/* web_http: w->ip becomes the client (api_calls.c). */
void api_client_ip(struct edge *, struct lws *, struct web *);

/* events.c: lws service thread. */
/* Admission of an /events upgrade: 0, or the HTTP status to refuse it
 * with (401, 403) and *reason (static). */
int events_admit(struct edge *, struct lws *, const char **reason);
/* Push o (borrowed) to every client subscribed to sid or to "*". */
void  events_broadcast(const char *sid, json_t *o);
void *events_open(struct edge *, struct lws *);
void  events_close(void *);
void  events_message(struct edge *, void *, const char *buf, size_t len);
int   events_writeable(struct lws *, void *);
void  events_status(struct edge *, const char *sid, const char *status);
void  events_turn(struct edge *, const char *sid, const Bus__TranscriptTurn *);
/* The summary object of a call as JSON text (for the event queue). */
char *events_summary_text(const char *sid, const Bus__Summary *);
/* Notify the business and push to /events: o is consumed.  lws thread. */
void events_summary_obj(struct edge *, const char *sid, json_t *o);
void events_rate_answer(struct edge *, struct ev *);

/* dash.c: the dashboard page, sign-in and cookie; lws service thread. */
enum dash_verdict {
	DASH_OK = 0,
	DASH_OFF, /* no EDGE_DASHBOARD_SECRET */
	DASH_MISSING,
	DASH_MALFORMED,
	DASH_BAD_SIGNATURE,
	DASH_EXPIRED,
	DASH_TOO_LONG_LIVED,
	DASH_SCOPE /* a valid token for another scope */
};
#define DASH_SCOPE_READ "dashboard:read"
#define DASH_COOKIE "edge_dash"
#define DASH_TOKEN_MAX 256
/* Check a dashboard token at time now; *expiry set when DASH_OK.  Pure. */
enum dash_verdict dash_token_check(
    const struct edge_cfg *, const char *tok, int64_t now, int64_t *expiry);
/* Make a token for scope expiring at expiry into out; 0 or -1.  Pure. */
int dash_token_make(const char *secret, const char *scope, int64_t expiry,
    char *out, size_t len);
const char *dash_verdict_name(enum dash_verdict);
/* HTTP status of a refusal: 401, or 403 for another scope. */
int dash_verdict_status(enum dash_verdict);
/* Is origin (an Origin header value) on the allow-list?  Pure. */
bool dash_origin_ok(const struct edge_cfg *, const char *origin);
/* The request's cookie, checked; *expiry (may be NULL) set when DASH_OK. */
enum dash_verdict dash_cookie_check(
    struct edge *, struct lws *, int64_t *expiry);
/* Count a refusal in edge_dashboard_refusals_total{reason}. */
void dash_refused(struct edge *, const char *reason);
/* GET /dashboard..., POST /dashboard/signin|signout: 0 when it is ours
 * (an answer is queued or a body is awaited), 1 when it is not. */
int  dash_http(struct edge *, struct lws *, struct pss *, const char *path);
int  dash_body(struct pss *, const void *in, size_t len);
int  dash_body_done(struct edge *, struct lws *, struct pss *);
int  dash_writeable(struct lws *, struct pss *);
void dash_closed(struct pss *);
/* An API answer is about to go out (EV_WEB_REPLY): a created or refused
 * call becomes an /events "call" or "refusal" event. */
void dash_web_reply_seen(struct edge *, const struct ev *);

/* webjobs.c */
int  webjobs_start(struct edge *); /* main */
void webjobs_stop(struct webjobs *); /* main, after the loop */
void webjobs_submit(struct webjobs *, struct wjob *); /* any */
/* Offer the deferred jobs to the queue again, in order: true when none
 * is left (lws tick; main at shutdown). */
bool webjobs_retry(struct webjobs *);
void wjob_free(struct wjob *);
/* Worker threads: answer web request j->web_id (body: malloc'd, taken). */
void webjobs_reply(struct edge *, const struct wjob *, int status,
    const char *ctype, char *body, int retry_after);
void webjobs_reply_json(struct edge *, const struct wjob *, int status,
    const char *error, const char *reason, int retry_after);
/* Worker threads: the provider's "update call" Status=completed; the
 * HTTP status it answered (0: unreachable or no provider). */
long webjobs_provider_hangup(struct edge *, struct http_client *,
    const char *call_sid, const struct http_retry *);
/* Worker threads: the provider REST request r, tried once; 0 with the
 * HTTP status (0: no answer), or -1. */
int webjobs_post(struct http_client *, const struct tel_req *, long *status);

/* keys.c: keys the model presses.  keys_send() and keys_rest_failed_ev()
 * on the lws thread; keys_run() on a web thread (WJ_KEYS);
 * keys_rest_failed() from any thread. */
void keys_send(struct call *, const Bus__SendDigits *);
void keys_dropped(struct edge *); /* SendDigits for a call that ended */
void keys_run(struct edge *, struct http_client *, struct wjob *);
void keys_rest_failed(struct edge *, const struct wjob *, const char *why);
void keys_rest_failed_ev(struct edge *, const struct ev *);
/* Worker threads: a request to rate-limiter (true) or persister; the
 * reply (wire_free) or NULL. */
Bus__Envelope *webjobs_request(
    struct edge *, bool rate_limiter, Bus__Envelope *, int attempts);

/* util */
int64_t edge_mono_us(void);

#endif
