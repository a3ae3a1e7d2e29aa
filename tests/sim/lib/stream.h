/*
 * stream - the telephone side of a Twilio / SignalWire / Telnyx media
 * stream (docs/providers.md for Telnyx's dialect), as a
 * libwebsockets client.  One call is one WebSocket: we send connected,
 * start (customParameters with the stream token), 20 ms mu-law media paced
 * in real time, optional dtmf, then stop, and we play the part of the
 * phone's speaker: inbound media fills a play-out queue, marks queue behind
 * it and are echoed when the play-out clock passes them, clear empties the
 * queue and echoes every pending mark at once (protocols.md 1.3-1.5, 4.3).
 *
 * Usage: put STREAM_PROTOCOL_INIT in the protocols of the vhost that makes
 * client connections, stream_hub_init() once, then stream_call_new() per
 * call.  Each call reports its end through its done callback; its
 * counters stay readable until stream_call_free().
 *
 * Threads: everything here runs on the lws service thread only (the
 * callbacks, the pacing timer, and every function below).
 */
#ifndef STREAM_H
#define STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "stream_audio.h"
#include "stream_util.h"

#define STREAM_PROTOCOL_NAME "sim-stream"

struct stream_call;

enum stream_dialect {
	STREAM_TWILIO, /* MZ/CA/AC ids, streamSid everywhere */
	STREAM_SIGNALWIRE, /* UUIDs, version 0.2.0, leaner messages */
	STREAM_TELNYX /* v3: call_control_id, stream_id, snake_case */
};

/* Bad input the caller can send on purpose (--inject). */
enum stream_inject {
	STREAM_INJECT_NONE,
	STREAM_INJECT_BAD_JSON, /* truncated JSON after start */
	STREAM_INJECT_BAD_BASE64, /* one media payload not base64 */
	STREAM_INJECT_MEDIA_BEFORE_START,
	STREAM_INJECT_DOUBLE_START,
	STREAM_INJECT_OVERSIZE, /* one 100 KiB text frame */
	STREAM_INJECT_BINARY_FRAME,
	STREAM_INJECT_UNKNOWN_EVENT,
	STREAM_INJECT_NO_TOKEN,
	STREAM_INJECT_BAD_TOKEN, /* right shape, wrong MAC */
	STREAM_INJECT_EXPIRED_TOKEN, /* right MAC, expired a minute ago */
	STREAM_INJECT_REUSED_TOKEN, /* calls 2.. replay call 1's sids+token */
	STREAM_INJECT__COUNT
};

/* What the peer sent that Twilio would flag (1.7), by kind. */
enum stream_err {
	STREAM_ERR_BAD_JSON, /* 31951 invalid JSON */
	STREAM_ERR_UNKNOWN_EVENT, /* 31951 unknown event */
	STREAM_ERR_BAD_MESSAGE, /* 31951 missing or extra field */
	STREAM_ERR_WRONG_SID, /* 31951 wrong streamSid */
	STREAM_ERR_BEFORE_START, /* sent before our start */
	STREAM_ERR_BINARY, /* 31950 binary frame */
	STREAM_ERR_BAD_BASE64,
	STREAM_ERR_TOO_BIG, /* message over 1 MiB */
	STREAM_ERR__COUNT
};

struct stream_dtmf {
	char    digit;
	int64_t at_ms; /* since our start message */
};

/* Settings shared by every call of a hub; must outlive the hub. */
struct stream_cfg {
	enum stream_dialect        dialect;
	const struct stream_audio *audio; /* what the phone says */
	int                        duration_ms; /* of media; 0: until hangup */
	int                        drain_ms; /* listen this long before stop */
	bool                       tags; /* frame index in bytes 0..3 */
	enum stream_inject         inject;
	struct stream_dtmf        *dtmf;
	size_t                     ndtmf;
	const char                *token_secret; /* mint a v1 token per call */
	const char                *token; /* or send this literal one */
	int                        token_ttl_s;
	const char                *sig_key; /* sign the upgrade (1.6) ... */
	const char                *sig_url; /* ... over this wss:// URL */
	FILE                      *record; /* JSON line per event received */
};

/* One call's counters; final once its done callback has run. */
struct stream_stats {
	bool     connected; /* upgrade answered 101 */
	bool     failed_connect;
	bool     completed; /* we sent stop */
	bool     closed_by_peer; /* peer closed before our stop */
	bool     timed_out; /* still open at stream_hub_abort() */
	int      close_code; /* peer's close code; 1006 none */
	uint64_t frames_sent, frames_received, bytes_received;
	uint64_t marks_received, marks_echoed, clears, dtmf_sent;
	uint64_t errors;
	uint64_t lost_start, lost_middle, lost_end; /* tags only */
	uint64_t rtt_samples;
	int64_t  rtt_max_us, rtt_sum_us;
	int64_t  lag_max_us; /* worst media send lateness */
	uint64_t late_frames; /* sent over STREAM_LATE_MS late */
	char     error[160]; /* first error seen */
};

#define STREAM_RTT_BUCKETS 100000 /* 0.1 ms each, up to 10 s */
#define STREAM_LATE_MS 40 /* pacing fell behind: report it */
#define STREAM_MAX_CODES 16
#define STREAM_MAX_SAMPLES 8

/* Sums over finished calls, for one report. */
struct stream_totals {
	uint64_t  calls, connected, completed, failed_connect;
	uint64_t  closed_by_peer, timed_out;
	uint64_t  frames_sent, frames_received, bytes_received;
	uint64_t  marks_received, marks_echoed, clears, dtmf_sent;
	uint64_t  dtmf_heard; /* keys detected in what the calls heard */
	uint64_t  lost_start, lost_middle, lost_end;
	uint64_t  lost_max; /* the most one call lost */
	uint64_t  late_frames;
	int64_t   lag_max_us;
	uint64_t  errors, err_kind[STREAM_ERR__COUNT];
	int       codes[STREAM_MAX_CODES]; /* close code ... */
	uint64_t  code_n[STREAM_MAX_CODES]; /* ... and count */
	char      samples[STREAM_MAX_SAMPLES][208];
	int       nsamples;
	char      connect_error[160]; /* first failed upgrade */
	uint32_t *rtt_hist;
	uint64_t  rtt_samples;
	int64_t   rtt_max_us;
};

struct stream_hub {
	struct lws_context      *ctx;
	struct lws_vhost        *vhost; /* NULL: the default vhost */
	const struct stream_cfg *cfg;
	struct stream_call      *active; /* open calls, doubly linked */
	lws_sorted_usec_list_t   tick; /* pacing and mark clock */
	bool                     ticking;
	struct stream_totals     tot;
	unsigned char           *tx; /* LWS_PRE + STREAM_TX_MAX */
	char                     silence_b64[STREAM_FRAME_B64 + 1];
	unsigned char           *dec; /* base64 decode scratch */
	size_t                   deccap;
	char                     first_call[STREAM_SID_LEN + 1];
	char                     first_account[STREAM_SID_LEN + 1];
	char                     first_token[STREAM_TOKEN_LEN + 1];
};

struct stream_call_opts {
	const char *url; /* ws:// or wss:// to connect to */
	int         id; /* shown in records */
	const char *call_sid; /* NULL: random */
	const char *account_sid; /* NULL: random */
	json_t     *params; /* customParameters; copied */
	const char *sig_url; /* overrides cfg->sig_url */
	const char *bearer; /* Authorization: Bearer (SignalWire) */
	/* Runs once, from the lws loop, never inside stream_call_new. */
	void (*done_cb)(struct stream_call *, void *);
	void *arg;
};

int stream_lws_cb(
    struct lws *, enum lws_callback_reasons, void *, void *, size_t);

#define STREAM_PROTOCOL_INIT                                                  \
	{                                                                     \
		STREAM_PROTOCOL_NAME, stream_lws_cb, 0, 4096, 0, NULL, 0      \
	}

/* Binds the hub to a context (and vhost); cfg is borrowed. */
void stream_hub_init(struct stream_hub *hub, struct lws_context *ctx,
    struct lws_vhost *vhost, const struct stream_cfg *cfg);

/* Ends the accounting of every open call (timed_out); no done callbacks. */
void stream_hub_abort(struct stream_hub *hub);

/* Frees the hub's buffers; after lws_context_destroy(). */
void stream_hub_fini(struct stream_hub *hub);

/* The aggregate report (new reference). */
json_t *stream_hub_report(const struct stream_hub *hub);

/*
 * Starts one call: picks ids, mints the token, opens the WebSocket.
 * Never NULL; a connection failure is reported through done_cb.
 */
struct stream_call *stream_call_new(
    struct stream_hub *hub, const struct stream_call_opts *opts);

/* Hangs up: stop then close if open, else abandon the connection. */
void stream_call_hangup(struct stream_call *sc);

const struct stream_stats *stream_call_stats(const struct stream_call *sc);
const char                *stream_call_sid(const struct stream_call *sc);

/* Counters and ids of one call as JSON (new reference). */
json_t *stream_call_json(const struct stream_call *sc);

/* Frees a call after its done callback, or after context destroy. */
void stream_call_free(struct stream_call *sc);

/* Name <-> value for --inject; parse returns 0 or -1 (not logged). */
int         stream_inject_parse(const char *name, enum stream_inject *outp);
const char *stream_inject_name(enum stream_inject inject);

/* Parses "D@ms,..." into cfg->dtmf.  Returns 0 or -1 (logged). */
int stream_dtmf_parse(struct stream_cfg *cfg, const char *list);

#endif /* STREAM_H */
