/*
 * ai-session - private header: structs, then prototypes by file.
 *
 * Threads (see README.md for the picture):
 *   svc workers (dispatch.c)  SessionStart / SessionEnd; may block briefly
 *                             (dialling media-edge's pub socket).
 *   nng callbacks (edge.c)    pipe notifications only.
 *   lws service thread        loop.c, ws.c, session.c, rt_openai.c,
 *                             barge.c, transcript.c: every call's state.
 *   job workers (jobs.c)      blocking requests: HangUp to media-edge,
 *                             persister and reasoner.
 * The call table (calls.c) is the one structure shared by the svc workers
 * and the lws thread; its mutex guards the fields marked {calls}.
 */
#ifndef AI_H
#define AI_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>

#include "abatch.h"
#include "bus.h"
#include "bus.pb-c.h"
#include "cfg.h"
#include "log.h"
#include "rt.h"

struct cmd;

#define AI_DTMF_MAX 32 /* keys gathered into one conversation item */
#define AI_SID_MAX 64 /* longest call sid we accept */
#define AI_ID_MAX 64 /* longest model item / response id tracked */
#define AI_FRAME_MAX 8192 /* caller frames are split above this */
#define AI_MARK_MAX (AI_ID_MAX + 48)

/* ---- configuration (config.c) ------------------------------------- */

struct ai_cfg {
	char *listen_url;
	char *pub_url;
	char *pub_advertise_url;
	char *http_addr;
	long  http_port;
	long  workers;
	long  job_workers;
	long  job_queue_max;
	long  max_calls;
	long  start_buffer_ms;
	long  audio_ack_ms; /* AudioAck at most this often per call */
	long  dial_timeout_ms;
	long  setup_timeout_ms;
	long  mark_min_ms;
	long  request_timeout_ms;
	long  pub_buffer;
	long  shutdown_timeout_ms;
	char *log_level;
	char *openai_url;
	char *openai_key;
	char *openai_voice;
	char *openai_ca_file;
	char *transcribe_model;
	char *reasoning_effort;
	char *instructions;
	char *persister_url;
	char *reasoner_url;
	char *voicemail_message;
	long  reason_timeout_ms;
	long  record_retry_max_ms;
	long  max_pending_records;
	long  summary_retry_ms;
	long  model_reconnects; /* tries after a lost model socket */
	long  reconnect_timeout_ms; /* each try: ready within */
	char *journal_dir; /* "": no record journal */
	long  journal_max_bytes;
	int   sub_all;
	long  idle_timeout_ms;
	char *event_loop; /* "libev" (epoll) or "poll" */
	long  batch_flush_ms; /* paced loop turns (evloop.h); 0: off */

	struct bus_tls bus_tls; /* BUS_TLS_* */
};

extern const struct cfg_opt ai_cfg_opts[];

/*
 * The model session a call asks for, from the configuration c:
 * instructions NULL means c's base instructions.  Pointers into c (and
 * instructions); nothing is copied.  Also used by `callctl doctor`, which
 * sends the same session.update (oai_session_update) as a call does.
 */
void config_rt_session(
    struct rt_session *, const struct ai_cfg *c, const char *instructions);

/* ---- bounded queue of caller frames (ring.c) ---------------------- */

/* Frames stored back to back as [u16 length][bytes] in a byte ring that
 * grows (doubling) up to max bytes.  lws thread only. */
struct ring {
	uint8_t *buf;
	size_t   cap;
	size_t   head;
	size_t   len;
	size_t   max;
	unsigned frames;
};

void ring_init(struct ring *, size_t max);
void ring_fini(struct ring *);
/* Append one frame (n <= AI_FRAME_MAX) with its seq (0: none); -1 if it
 * does not fit in max. */
int ring_push(struct ring *, const void *, size_t n, uint32_t seq);
/* Take the oldest frame into out and its seq; its length, 0 if empty (or
 * if outlen is too small, which is a programming error). */
size_t ring_pop(struct ring *, void *out, size_t outlen, uint32_t *seq);

/* ---- barge-in bookkeeping (barge.c) ------------------------------- */

#define BARGE_ITEMS 8 /* assistant items with audio not yet heard */
#define BARGE_DROPPED 8 /* interrupted response ids remembered */
#define BARGE_TRUNC_MAX BARGE_ITEMS

struct barge_item {
	char     id[AI_ID_MAX];
	char     resp[AI_ID_MAX];
	uint64_t sent_bytes; /* model audio received and passed on */
	uint64_t marked_bytes; /* covered by a mark already sent */
	uint32_t played_ms; /* highest mark echoed */
	bool     done; /* output_audio.done seen */
};

struct barge {
	struct barge_item items[BARGE_ITEMS];
	unsigned          nitems;
	char              dropped[BARGE_DROPPED][AI_ID_MAX];
	unsigned          ndropped; /* next slot (ring) */
	char              active_resp[AI_ID_MAX];
	uint32_t          gen;
	uint32_t          seq_sent;
	uint32_t          seq_echoed;
	uint64_t          mark_min_bytes;
	/* counters, read by session.c for metrics */
	uint64_t late_deltas;
	uint64_t stale_marks;
	uint64_t evicted;
};

struct barge_trunc {
	char     item_id[AI_ID_MAX];
	unsigned ms;
};

enum barge_verdict {
	BARGE_DROP = 0, /* late audio of an interrupted response */
	BARGE_PLAY, /* pass the audio on */
	BARGE_PLAY_MARK /* pass it on, then publish the mark */
};

enum barge_echo {
	BARGE_ECHO_OK = 0,
	BARGE_ECHO_STALE, /* cleared, duplicate or unknown: ignored */
	BARGE_ECHO_BAD /* not one of our names */
};

void barge_init(struct barge *, unsigned mark_min_ms);
/* n bytes of model audio for item/resp.  May write a mark name. */
enum barge_verdict barge_delta(struct barge *, const char *item,
    const char *resp, size_t n, char *mark, size_t marklen);
/* The item's audio ended: 1 and a final mark name to publish, else 0. */
int barge_audio_done(struct barge *, const char *item, const char *resp,
    char *mark, size_t marklen);
enum barge_echo barge_echo(struct barge *, const char *name);
/* Audio that the caller has not heard yet is queued at media-edge. */
bool barge_pending(const struct barge *);
/* The caller spoke: returns the number of truncates written to out (0:
 * nothing was playing, publish no Clear).  Forgets every pending mark,
 * starts a new generation and drops further audio of the responses. */
int  barge_interrupt(struct barge *, struct barge_trunc *out, int max);
void barge_response_created(struct barge *, const char *resp);
void barge_response_done(struct barge *, const char *resp, bool cancelled);
bool barge_is_dropped(const struct barge *, const char *resp);

/* ---- transcript (transcript.c) ------------------------------------ */

struct turn {
	uint32_t     seq;
	enum rt_role role;
	int64_t      at_ms;
	char        *text;
	char        *item_id;
};

struct transcript {
	struct turn *turns;
	size_t       n;
	size_t       cap;
	uint32_t     next_seq; /* seq of the next turn, from 1 */
	size_t       bytes;
};

void transcript_init(struct transcript *, uint32_t first_seq);
void transcript_fini(struct transcript *);
/* Append a turn; NULL if the text is empty or the transcript is full. */
const struct turn *transcript_add(struct transcript *, enum rt_role,
    const char *item_id, const char *text, int64_t at_ms);
/* "AI: ...\nUser: ..." in a new string the caller frees. */
char *transcript_format(const struct transcript *);

/* ---- the call (calls.c, session.c) -------------------------------- */

/* The call's state machine (session.c owns it; the diagram and the
 * allowed transitions are at the top of session.c).  lws thread only,
 * but CALL_NEW, which the worker that creates the call sets. */
enum call_state {
	CALL_NEW = 0, /* SessionStart still dialling media-edge */
	CALL_SETUP, /* call context, model socket being opened / configured */
	CALL_LIVE, /* audio flows */
	CALL_RECONNECTING, /* model session lost: opening another, audio
	                      held */
	CALL_MOVING, /* this ai-session is going: the call moves on */
	CALL_ENDING, /* session_end: closing, telling media-edge */
	CALL_RECORDED, /* the record is with record.c; freed next */
	CALL_NSTATES
};

struct job_ctx;

/* Tokens one call used (usage.c); sent with its CallRecord. */
struct call_usage {
	uint64_t in, out, in_audio, out_audio, cached; /* the model */
	uint64_t rsn_in, rsn_out; /* the reasoner */
	uint32_t responses;
};

struct call {
	struct call *hnext; /* {calls} */
	bool         live; /* {calls} handed to the lws thread */
	bool         end_requested; /* {calls} */

	/* set before the call is live, then read-only */
	char           sid[AI_SID_MAX];
	char           trace[33];
	struct log_ctx lc;
	char          *stream_sid;
	char          *edge_ctl_url;
	char *edge_topic; /* media-edge's batch topic; "": per frame */
	char *answered_by;
	Bus__Direction direction;
	Bus__Provider  provider;
	bool           resume;
	uint32_t       resume_from_seq;
	uint32_t       holder; /* ai-sessions that held the call before */
	bool           carried; /* media-edge carried the turns so far */
	int64_t        started_at_ms; /* wall clock */
	int64_t        t_start; /* monotonic ms at SessionStart */

	/* lws service thread only */
	enum call_state   state;
	struct rt_conn   *rt;
	struct abatch    *dest; /* edge.c: media-edge's batch */
	struct ring       inq;
	uint32_t          in_seq; /* last caller frame seq seen */
	bool              audio_acks; /* SessionStart.audio_acks */
	bool              released; /* handed over: caller audio ignored */
	bool              ack_hello; /* the first AudioAck went out */
	uint32_t          written_seq; /* last caller frame to the model */
	uint32_t          acked_seq; /* last one acknowledged to media-edge */
	int64_t           ack_ms; /* monotonic ms of the last AudioAck */
	uint32_t          out_seq; /* last model frame seq published */
	struct barge      barge;
	struct transcript tr;
	int64_t           t_speech_stopped; /* monotonic ms, 0: none */
	char             *instructions;
	char             *objective;
	char             *voicemail_message;
	char             *voice; /* per call (CallSettings); NULL: config */
	char             *language; /* per call; NULL: config */
	bool              hangup_after_audio; /* end_call: after goodbye */
	bool              hangup_armed; /* after the next response */
	bool              voicemail_wanted; /* once none is active */
	bool              response_wanted; /* once none is active */
	unsigned          user_turns;
	char             *hangup_reason;
	char             *end_reason;
	char             *outcome;
	bool              voicemail;
	unsigned          tools_running;
	struct call_usage usage;
	void             *setup_timer; /* lws_sorted_usec_list_t, loop.c */
	void             *hangup_timer;
	void             *dtmf_timer; /* dtmf.c: keys gathered */
	char              dtmf[AI_DTMF_MAX + 1]; /* keys not yet sent */
	uint32_t          keys_seq; /* tools.c: press_keys sent, from 1 */
	char              keys_last[AI_DTMF_MAX + 1]; /* the last pressed */
	void             *idle_timer;
	int64_t           last_frame_ms; /* monotonic */
	unsigned          reconnects; /* model sessions opened again */
	unsigned          rt_gen; /* model sessions opened, 1 for the first */
	int64_t           t_lost; /* monotonic ms the model was lost */
	size_t            ctx_turns; /* turns of c->tr in c->instructions */
};

/* calls.c: the table of calls, keyed by call sid. */
struct call *call_new(const char *sid, const char *trace);
void         call_free(struct call *);
/* Insert c unless its sid is there (1: live, 2: still pending; *existing
 * set) or max calls are held (-1).  0: inserted, pending. */
int  calls_reserve(struct call *, long max, struct call **existing);
void calls_remove(struct call *);
/* The call if it is live (lws thread only: the pointer stays valid until
 * the lws thread removes it). */
struct call *calls_find_live(const char *sid);
/* Mark live (worker, after subscribing); true if a SessionEnd came
 * meanwhile. */
bool calls_set_live(struct call *);
/* SessionEnd: set end_requested; 0 if the call is live (queue CMD_END),
 * 1 if it is still being set up (its SessionStart will end it), -1 if it
 * is ending or ended here lately, -2 if we do not know it (another
 * instance's call). */
int  calls_request_end(const char *sid);
long calls_count(void);
/* Free calls still in the table (after the lws thread has stopped). */
void calls_free_all(void);
/* lws thread: every live call, for shutdown. */
void calls_foreach_live(void (*fn)(struct call *, void *), void *arg);

/* session.c: the life of a call on the lws service thread. */
const char *call_state_name(enum call_state);
/* The transition table: may a call go from one state to the other? */
bool call_state_allowed(enum call_state from, enum call_state to);
/* Every state change goes through here: 0, or -1 (logged, counted in
 * ai_call_state_errors_total, state unchanged) if the table refuses it. */
int session_set_state(struct call *, enum call_state to);
/* ai_call_state_* series (after stats_init; main thread). */
void session_stats_init(void);
void session_start(struct call *);
/* End the call once: why is a metric label from a fixed set ("edge",
 * "model_closed", "model_error", "setup_timeout", "connect_failed",
 * "end_call", "voicemail", "caller_silent", "shutdown"); detail goes to the
 * log and the record. */
void session_end(
    struct call *, const char *why, const char *detail, bool tell_edge);
void session_frame(struct call *, const Bus__AudioFrame *);
void session_mark_echo(struct call *, const char *name);
/* dtmf.c: a key the caller pressed (lws thread). */
void session_dtmf(struct call *, const Bus__Dtmf *);
void session_event(struct call *, const Bus__CallEvent *);
void session_keys_result(struct call *, const Bus__DigitsResult *);
void session_shutdown_all(void);
/* lws thread: one command from the inbox (the caller frees it). */
void session_command(struct cmd *);
/* context.c, a leaf of session.c: ctx_request() asks for the call context
 * (true: CMD_CONTEXT will follow; false: no persister, c->instructions
 * are set already); ctx_apply() takes CMD_CONTEXT's result into the call
 * (instructions, objective, voicemail message, the stored turns). */
bool ctx_request(struct call *);
void ctx_apply(struct call *, struct cmd *);
/* The instructions for a call: base + context + voicemail message (+ the
 * stored turns of a resumed call).  New string; cc may be NULL. */
char *ctx_instructions(const char *base, const Bus__CallContext *cc,
    Bus__Direction, const char                                  *voicemail);
/* The instructions of a model session opened again mid-call: the call's
 * instructions and the turns of tr from index `from` on (the earlier ones
 * are in the instructions already).  New string. */
char *ctx_continue(
    const char *instructions, const struct transcript *tr, size_t from);

/* tools.c, a leaf of session.c: tool calls, end_call, voicemail.  Each
 * function does its part with the model and returns what the session is
 * to do next; none ends the call or arms a timer itself. */
enum tools_next {
	TOOLS_NONE = 0, /* nothing: the call goes on */
	TOOLS_SAY_AND_END, /* a goodbye or voicemail message is coming:
	                      hang up once it has played (bounded wait) */
	TOOLS_HANG_UP /* it has played: hang up now */
};

#define TOOLS_HANGUP_WAIT_MS 20000 /* goodbye audio plays within this */

/* The model called a tool; args is a JSON text. */
enum tools_next tools_call(
    struct call *, const char *call_id, const char *name, const char *args);
/* The model session is configured for the first time. */
enum tools_next tools_ready(struct call *);
/* A CallEvent from media-edge (answering machine detection). */
enum tools_next tools_call_event(struct call *, const Bus__CallEvent *);
/* A finished turn (voicemail greetings are recognised here). */
enum tools_next tools_turn(struct call *, const struct turn *);
/* A mark of ours came back: model audio was heard. */
enum tools_next tools_echo(struct call *);
/* A model response is done. */
enum tools_next tools_response_done(struct call *);
/* A press_keys of c that media-edge could not send (DigitsResult). */
enum tools_next tools_keys_result(struct call *, const Bus__DigitsResult *);
/* CMD_TOOL_RESULT: text = output JSON, text2 = call_id. */
enum tools_next tools_result(struct call *, struct cmd *);

/* record.c: turns to persister as they happen; the call record at the
 * end (summary from reasoner), kept and retried until acknowledged. */
void record_turn(struct call *, const struct turn *);
void record_finish(struct call *, const char *why);
int  record_start(void);
/* Shutdown: stop the record thread and make a last try for each pending
 * record while the monotonic clock (ai_mono_ms) is before until; what is
 * not stored by then stays in the journal.  Blocks, till about until. */
void record_stop(int64_t until);
/* Too many records wait: take no new calls until they are stored. */
bool record_backlogged(void);
/* The provider every call uses. */
extern const struct rt_provider *session_provider;

/* ---- the lws service thread (loop.c) ------------------------------ */

enum cmd_kind {
	CMD_START,
	CMD_END,
	CMD_CONTEXT, /* call context arrived (phase 2) */
	CMD_TOOL_RESULT,
	CMD_SHUTDOWN
};

struct cmd {
	struct cmd   *next;
	enum cmd_kind kind;
	char          sid[AI_SID_MAX];
	char         *text; /* reason, result, ... (owned) */
	char         *text2;
	void         *ptr;
	void (*ptr_free)(void *); /* frees ptr if not taken */
	uint32_t tokens_in, tokens_out; /* CMD_TOOL_RESULT: reasoner's */
	unsigned gen; /* CMD_TOOL_RESULT: the model session that asked */
};

struct lws_context;

int loop_start(void);
/* End every call, stop the thread, destroy the context.  Blocks. */
void                loop_stop(void);
struct lws_context *loop_context(void);
/* Any thread: queue a command (ownership passes). */
void        loop_push_cmd(struct cmd *);
struct cmd *cmd_new(enum cmd_kind, const char *sid, const char *text);
void        cmd_free(struct cmd *);
/* lws thread: (re)arm or cancel a per-call timer. */
void loop_timer(
    void **slot, long ms, void (*fn)(struct call *), struct call *);
void loop_timer_cancel(void **slot);
bool loop_is_lws_thread(void);
/* lws thread (CMD_SHUTDOWN): leave the service loop. */
void loop_request_stop(void);

/* ---- WebSocket client (ws.c), lws service thread only -------------- */

struct ws;
struct lws_protocols;

struct ws_handler {
	void (*open)(void *arg);
	void (*message)(void *arg, const char *buf, size_t len);
	/* Write with ws_write() while ws_can_write() says the socket takes
	 * it; what is left waits for the next call (ws_want_write()). */
	void (*writeable)(void *arg);
	void (*closed)(void *arg, const char *reason);
};

/* Connect to url (ws:// or wss://, certificates verified) sending
 * "Authorization: Bearer <bearer>" when bearer is not NULL. */
struct ws *ws_connect(const char *url, const char *bearer,
    const struct ws_handler *, void *arg, const struct log_ctx *);
/* Connections still open (shutdown waits for 0). */
int  ws_count(void);
void ws_want_write(struct ws *);
/* Open, not closing, and nothing of an earlier write left in lws's
 * partial buffer: a write now goes out whole and in order.  Lets a
 * writer send outside the WRITEABLE callback (same thread), sparing the
 * POLLOUT round trip per message. */
bool ws_can_write(const struct ws *);
/* buf has LWS_PRE bytes of headroom before the len bytes of text. */
int ws_write(struct ws *, unsigned char *buf, size_t len);
/* Detach the handler and close; no callback follows.  NULL is a no-op. */
void ws_close(struct ws *);
/* Handles EVENT_WAIT_CANCELLED: loop.c registers its drain function. */
void                              ws_set_wakeup(void (*fn)(void));
extern const struct lws_protocols ws_protocol;

/* ---- bus: media-edge's and our pub sockets (edge.c) ---------------- */

int  edge_open(void);
void edge_close(void);
/* Worker thread: dial url once per distinct url and wait (bounded) until
 * a pipe is up.  0, or -1 logged. */
int edge_attach(const char *url, long timeout_ms);
int edge_subscribe(const char *sid);
/* The sub socket's pollable descriptor (never read it: poll only). */
int edge_recv_fd(void);
/* lws thread: receive up to max waiting messages without blocking and
 * hand each item to its call (common/ahop.c); how many messages. */
size_t edge_recv(size_t max);
int    edge_unsubscribe(const char *sid);
/* lws thread: publish to media-edge: audio, marks and clears into the
 * batch for the call's media-edge when it announced a batch topic (sent
 * by edge_flush at the end of the loop turn), else under the call sid;
 * transcript turns always under the call sid. */
int         edge_pub_audio(struct call *, const uint8_t *, size_t);
int         edge_pub_mark(struct call *, const char *name);
int         edge_pub_clear(struct call *);
int         edge_pub_keys(struct call *, const char *digits, uint32_t seq);
int         edge_pub_turn(struct call *, const struct turn *);
void        edge_flush(void);
void        edge_release(struct call *); /* the call ends */
const char *edge_advertise_url(void);
/* Our batch topic ("@<instance>"; "" when the instance is too long). */
const char *edge_batch_topic(void);

/* lws thread: caller frame seq was written to the model socket; an
 * AudioAck goes to media-edge at most every AI_AUDIO_ACK_MS, in a batch
 * that goes anyway, and at least every twice that. */
void edge_audio_written(struct call *, uint32_t seq);
/* lws thread: a live call moves to another ai-session (shutdown): stop
 * taking its caller audio and tell media-edge, with the final AudioAck
 * {released}, what was written; the caller then closes the model
 * socket.  media-edge replays the rest to the next holder. */
void edge_hand_over(struct call *);

/* ---- dispatch.c: the request socket ------------------------------- */

struct svc;
struct reply;
int dispatch(
    struct svc *, const Bus__Envelope *, struct reply *, void *worker);
/* Active calls for Ping and /health. */
/* Set once svc is up; read by the loop thread too, so atomic. */
extern _Atomic(struct svc *) ai_svc;
/* Set once shutdown has begun: no new call is taken (main.c). */
extern atomic_bool ai_stopping;

/* ---- jobs.c: blocking work off the lws thread ---------------------- */

/* nthreads threads; at most max_queued jobs waiting for them. */
int jobs_start(int nthreads, long max_queued);
/* Drain what is queued (bounded by deadline_ms) and join.  Blocks. */
void jobs_stop(long deadline_ms);
/* Shutdown: close the request sockets now, so that a request waiting on
 * a peer that does not answer returns (each close bounded). */
void jobs_abort_requests(void);
/* Close the request sockets (after record_stop). */
void jobs_close(void);
/* Run fn(arg) on a job thread; fn owns arg: 0.  -1 when the queue is
 * full or stopped: arg stays the caller's, who fails its call path
 * (counted in ai_jobs_refused_total{kind}). */
int jobs_push(const char *kind, void (*fn)(void *), void *arg);
/* The same for what must not be lost (a call record, a turn, a HangUp):
 * refused, it is deferred and resubmitted until taken, in order
 * (ai_jobs_deferred_total{kind}).  fn owns arg. */
void jobs_push_kept(const char *kind, void (*fn)(void *), void *arg);
long jobs_pending(void);
/* Shutdown has begun: retry loops give up. */
bool jobs_stopping(void);
/* A req socket dialled to url, one per distinct url (thread-safe). */
int jobs_req_socket(const char *url, nng_socket *);
/* Any thread: queue a HangUp to media-edge's request socket url
 * (retried, bounded); the strings are copied.  failed: the call could not
 * be served, the caller is to hear media-edge's fallback message. */
void jobs_hangup(const char *url, const char *sid, const char *trace,
    const char *reason, bool failed);

/* ---- stats.c: metrics ---------------------------------------------- */

struct ai_stats {
	struct metric        *active;
	struct metric        *started, *overloaded, *start_failed;
	struct metric        *setup_s;
	struct metric        *latency_s;
	struct metric        *frames_in, *frames_out;
	struct metric        *drop_queue, *drop_unknown, *drop_late, *drop_pub;
	struct metric        *drop_not_ours;
	struct metric        *acks_sent; /* AudioAcks to media-edge */
	struct metric        *drop_released; /* caller audio after hand-over */
	struct metric        *batches_out, *batches_in, *batch_items_out;
	struct metric        *frame_gaps;
	struct metric        *bargeins, *truncates;
	struct metric        *marks_sent, *marks_echoed, *marks_stale;
	struct metric        *bad_bus, *bad_model_json, *unknown_events;
	struct metric        *bad_dtmf, *dtmf_keys;
	struct metric        *turns;
	struct metric        *model_closed;
	struct metric_family *model_reconnects;
	struct metric        *reconnect_s;
	struct metric_family *model_errors;
	struct metric_family *config_errors;
	struct metric_family *ended;
	struct metric_family *tools;
	/* session_set_state: [from][to], NULL where the table refuses */
	struct metric *transition[CALL_NSTATES][CALL_NSTATES];
	struct metric *in_state[CALL_NSTATES];
	struct metric *state_errors;
};

extern struct ai_stats st;
extern struct ai_cfg   cfg;

void stats_init(void);
void stats_model_error(const char *code);
/* An error a setting must fix; the label is the setting's name. */
void stats_config_error(const char *setting);
void stats_ended(const char *reason);

/* usage.c: token counts per call, ai_model_tokens_total{kind} and
 * ai_reasoner_tokens_total{direction}.  stats: from stats_init(); the
 * rest on the lws thread but usage_fill (any). */
void usage_stats_init(void);
/* The rt_events usage handler: arg is the struct call. */
void usage_model(void *call, const struct rt_usage *);
void usage_reasoner(struct call_usage *, uint32_t in, uint32_t out);
/* u's fields from cu (pointers none: u may live on the stack). */
void usage_fill(Bus__Usage *u, const struct call_usage *cu);

int64_t ai_mono_ms(void);

#endif
