/*
 * sim-openai - private header: one struct per concern, then the prototypes
 * grouped by the file that defines them.
 *
 * Threads: everything here runs on the single lws service thread, except
 * the signal thread in main.c, which only sets sim->stop and calls
 * lws_cancel_service().  No function below may be called from elsewhere.
 */
#ifndef OAI_H
#define OAI_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <libwebsockets.h>

#define OAI_RX_BUFFER (64 * 1024) /* lws per-connection rx buffer */
#define OAI_MAX_MESSAGE (16 * 1024 * 1024) /* append may be 15 MiB */
#define OAI_QUEUE_ECHO 64 /* frames queued per echo socket */
#define OAI_QUEUE_CONV 4096 /* frames queued per conversation */
#define OAI_CHUNK_BYTES 160 /* one 20 ms mu-law audio delta */
#define OAI_BYTES_PER_MS 8 /* mu-law at 8 kHz */
#define OAI_ID_LEN 48
#define OAI_TONE_LEN 8000 /* one second: 440 whole periods */

enum oai_mode { OAI_CONVERSATION, OAI_ECHO };

struct oai_opts {
	int           port;
	const char   *api_key; /* NULL: no Authorization check */
	enum oai_mode mode;
	const char   *record_path;
	bool          tags;
	const char   *script_path;
	double        speed;
	int           late_deltas;
	int           drop_after_ms; /* 0: never */
	int           drop_count; /* sockets to drop; 0: every one */
	bool          error_on_update;
	const char   *models; /* --models: comma-separated; NULL: built in */
};

enum step_kind { STEP_SAY, STEP_CALL, STEP_SAY_OUTPUT };

/* One model response of the script. */
struct step {
	enum step_kind kind;
	char          *text; /* STEP_SAY */
	int            audio_ms; /* STEP_SAY, STEP_SAY_OUTPUT */
	char          *name; /* STEP_CALL: function name */
	char          *arguments; /* STEP_CALL: JSON text */
};

struct script {
	struct step *steps;
	size_t       nsteps;
	char       **heard; /* transcripts of caller turns */
	size_t       nheard;
};

/* An outgoing WebSocket frame; the payload starts at buf + LWS_PRE. */
struct frame {
	unsigned char *buf;
	size_t         cap; /* payload capacity, LWS_PRE excluded */
	size_t         len;
};

/*
 * Bounded ring of frames.  Slot buffers are kept and reused, so a busy
 * echo socket stops allocating once every slot has grown to its size.
 */
struct outq {
	struct frame *slots;
	unsigned      cap;
	unsigned      head;
	unsigned      count;
	uint64_t      drops;
};

/* Energy VAD over 10 ms blocks of decoded mu-law. */
struct vad {
	bool     enabled;
	double   level; /* RMS threshold, linear 16-bit */
	int      silence_ms;
	bool     speaking;
	int      loud_ms; /* consecutive loud ms */
	int      quiet_ms; /* consecutive quiet ms */
	uint64_t run_start; /* ms where the current run began */
	uint64_t speech_start; /* ms of the current speech start */
	double   blk_sum; /* sum of squares in the block */
	int      blk_n; /* samples in the block */
	uint64_t samples; /* samples seen: the audio clock */
};

struct tags {
	uint64_t count;
	uint32_t first;
	uint32_t last;
	bool     in_order;
};

enum item_kind { ITEM_USER, ITEM_ASSISTANT, ITEM_CALL, ITEM_OUTPUT };

struct item {
	char           id[OAI_ID_LEN];
	enum item_kind kind;
	uint64_t       audio_bytes; /* ITEM_ASSISTANT: audio produced */
	char           call_id[OAI_ID_LEN]; /* ITEM_CALL, ITEM_OUTPUT */
};

/* The response being produced; at most one per session. */
struct response {
	bool           active;
	enum step_kind kind;
	int            step;
	char           id[OAI_ID_LEN];
	char           item_id[OAI_ID_LEN];
	char          *text; /* transcript being spoken */
	size_t         text_len;
	size_t         text_sent;
	uint64_t       total_bytes;
	uint64_t       sent_bytes;
};

struct sim;

/* Per-connection state: lws allocates it, CLOSED frees what hangs off. */
struct sess {
	struct sim    *sim;
	struct lws    *wsi;
	lws_dll2_t     list; /* in sim->sessions */
	unsigned       conn; /* 1, 2, ... in accept order */
	bool           established;
	char           model[64];
	bool           beta_header;
	struct outq    q;
	unsigned char *rx; /* reassembly of fragmented messages */
	size_t         rx_len;
	size_t         rx_cap;
	bool           rx_oversize;
	bool           closing; /* flush the queue, then close */
	int            close_code;
	uint64_t       nevent;
	uint64_t       nid;
	char           sess_id[OAI_ID_LEN];

	/* session configuration */
	json_t    *cfg; /* effective session object */
	bool       create_response;
	bool       interrupt_response;
	int        nupdates;
	struct vad vad;
	char       user_item[OAI_ID_LEN]; /* item of the caller turn */
	char       last_item[OAI_ID_LEN]; /* previous_item_id */
	uint64_t   committed; /* audio clock (samples) at last commit */

	/* counters, reported when the connection closes */
	uint64_t    appends;
	uint64_t    in_bytes;
	struct tags tags;
	uint64_t    nresponses;
	uint64_t    nerrors;
	uint64_t    nbarge;
	uint64_t    ntrunc_ok;
	uint64_t    ntrunc_rej;

	/* conversation */
	struct response resp;
	int             next_step;
	int             next_heard;
	char           *last_output; /* last function_call_output text */
	struct item    *items;
	size_t          nitems;
	unsigned        late_left; /* deltas still owed by a cancelled one */
	char            late_resp[OAI_ID_LEN];
	char            late_item[OAI_ID_LEN];
	unsigned        tone_pos;
	lws_usec_t      pace_due;
	lws_sorted_usec_list_t pace_sul;
	lws_sorted_usec_list_t drop_sul;
};

struct sim {
	struct oai_opts     opt;
	struct lws_context *ctx;
	struct script       script;
	unsigned            nconn;
	lws_dll2_owner_t    sessions;
	atomic_bool         stop; /* set by the signal thread */
	int16_t             ulaw[256]; /* mu-law byte -> linear */
	unsigned char       tone[OAI_TONE_LEN]; /* 440 Hz in mu-law */
	unsigned char      *scratch; /* base64 decode buffer */
	size_t              scratch_cap;
};

/* models_api.c: GET /v1/models[/{id}] on the HTTP side.  0 when answered
 * (the connection goes on), -1 to close it, 1 when the path is not
 * ours.  lws service thread only. */
int models_http(struct lws *wsi, struct sim *sim, const char *uri);

/* main.c: logging and allocation shared by the files below. */
void oai_log(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void   *oai_calloc(size_t, size_t); /* aborts on OOM */
void   *oai_realloc(void *, size_t);
char   *oai_strdup(const char *);
int64_t oai_now_ms(void); /* monotonic, since start */

/*
 * server.c: the lws protocol and the outgoing queue.
 * server_send() takes ownership of ev, adds "event_id" and queues it.
 * server_reserve() returns room for len payload bytes in the next queue
 * slot (NULL and a counted drop when the queue is full); server_commit()
 * queues what was written there.  server_close() flushes the queue first;
 * server_drop() closes at once without a close frame.
 */
int server_callback(
    struct lws *, enum lws_callback_reasons, void *, void *, size_t);
void           server_send(struct sess *, json_t *ev);
unsigned char *server_reserve(struct sess *, size_t len);
void           server_commit(struct sess *, size_t len);
void           server_close(struct sess *, int code);
void           server_drop(struct sess *);
void           server_shutdown(struct sim *);
void           server_event_id(struct sess *, char *buf, size_t len);

/*
 * session.c: client events of a conversation (and the non-audio events of
 * echo mode).  session_message() parses one complete text message.
 */
void session_open(struct sess *);
void session_close(struct sess *);
void session_message(struct sess *, const char *buf, size_t len);
void session_error(struct sess *, const char *code, const char *param,
    const char *client_event_id, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void session_beta_reject(struct sess *, const char *client_event_id);
/* An unknown model (model= of the URL): error model_not_found, close. */
void         session_model_reject(struct sess *);
void         session_new_id(struct sess *, const char *prefix, char *out);
struct item *session_item_add(struct sess *, enum item_kind, const char *id);
struct item *session_item_find(struct sess *, const char *id);
void         session_speech_started(struct sess *, uint64_t start_ms);
void session_speech_stopped(struct sess *, uint64_t start_ms, uint64_t end_ms);

/*
 * config.c: the session object.  config_update() validates a
 * session.update body and applies it all or nothing: 0 applied, -1 an
 * error event was sent, 1 the body is beta-shaped (caller rejects).
 */
/* models.c: the models served (pure). */
bool        models_realtime_known(const char *name);
bool        models_realtime_reasons(const char *name); /* takes reasoning */
bool        models_transcribe_known(const char *name);
const char *models_nth(size_t i); /* NULL past the last */

json_t *config_default(struct sess *);
int     config_update(struct sess *, json_t *session, const char *event_id);
void    config_record(struct sess *, json_t *session, const char *event_id);

/* response.c: script steps as paced model responses. */
void response_init(struct sim *);
void response_start(struct sess *, const char *trigger);
void response_cancel(struct sess *, const char *reason);
void response_stop(struct sess *);

/*
 * vad.c: audio input.  vad_b64_decode() decodes into sim->scratch (valid
 * until the next call): 0, or -1 if the text is not base64.  vad_tag()
 * checks the frame tag of one chunk and returns it (-1: chunk too short).
 */
void vad_tables_init(struct sim *);
int  vad_b64_decode(struct sim *, const char *b64, size_t len,
     const unsigned char **outp, size_t *outlenp);
void vad_configure(
    struct vad *, bool enabled, double threshold, int silence_ms);
void    vad_feed(struct sess *, const unsigned char *ulaw, size_t n);
int64_t vad_tag(struct sess *, const unsigned char *audio, size_t n);

/*
 * echo.c: --mode echo.  echo_message() answers an append without a JSON
 * parser when the message is simple enough (0), else returns -1 and the
 * caller parses it; echo_append() answers one base64 payload (NULL: bad).
 */
int  echo_message(struct sess *, const char *buf, size_t len);
void echo_append(struct sess *, const char *b64, size_t len);

/* script.c */
int                script_load(struct script *, const char *path);
void               script_free(struct script *);
const struct step *script_step(const struct script *, int idx);
const char        *script_heard(
           const struct script *, int idx, uint64_t speech_ms, char *buf, size_t len);

/*
 * record.c: --record lines, flushed one by one.  record_fact() builds the
 * fields with json_pack() format fmt (an object, or NULL for none).
 */
int  record_open(struct sim *, const char *path);
void record_close(struct sim *);
void record_client(
    struct sess *, const char *type, const char *event_id, json_t *fields);
void record_fact(struct sess *, const char *type, const char *fmt, ...);

#endif
