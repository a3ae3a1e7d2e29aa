/*
 * stream_int - private to the stream library: the per-call state and the
 * functions the stream_*.c files call in each other.  lws service thread
 * only, like everything in stream.h.
 *
 *	stream.c	calls: create, connect, lws callback, finish, free
 *	stream_tx.c	what to send next, message builders, injections
 *	stream_rx.c	inbound messages, play-out queue, marks, tags
 *	stream_stats.c	errors, records, totals and the JSON reports
 */
#ifndef STREAM_INT_H
#define STREAM_INT_H

#include "dtmf.h"
#include "stream.h"

#define STREAM_TICK_US 5000 /* pacing resolution */
#define STREAM_TX_MAX (128 * 1024) /* largest message we send */
#define STREAM_RX_MAX (1024 * 1024) /* largest we accept */
#define STREAM_MARK_NAME 256
#define STREAM_EDGE_MS 1000 /* lost: start/end windows */

struct stream_mark {
	char    name[STREAM_MARK_NAME];
	int64_t due_us; /* when the audio before it has played */
};

struct stream_call {
	struct stream_call *prev, *next; /* hub->active while open */
	struct stream_hub  *hub;
	struct lws         *wsi;
	int                 id;
	bool                finished; /* accounted; no more I/O */
	char                call_sid[STREAM_SID_LEN + 1];
	char                account_sid[STREAM_SID_LEN + 1];
	char                stream_sid[STREAM_SID_LEN + 1];
	char                token[STREAM_TOKEN_LEN + 1];
	json_t             *params; /* customParameters sent */
	char               *url_str; /* as given */
	struct stream_url   url; /* split copy */
	char                host_hdr[300];
	char                sig[32]; /* x-twilio-signature or "" */
	char               *bearer;
	void (*done_cb)(struct stream_call *, void *);
	void                  *arg;
	lws_sorted_usec_list_t done_sul;

	/* What we have sent. */
	bool     sent_connected, sent_start, sent_stop;
	bool     pre_injected; /* media-before-start done */
	bool     inject_due; /* post-start injection pending */
	bool     hangup;
	uint64_t seq; /* last sequenceNumber sent */
	int64_t  t0_us; /* start sent: media clock */
	uint64_t nframes; /* to send; 0 = until hangup */
	size_t   dtmf_next;

	/* Inbound: canonical media prefix for the fast path, reassembly. */
	char           media_prefix[STREAM_SID_LEN + 64];
	size_t         media_prefix_len;
	unsigned char *rx;
	size_t         rxlen, rxcap;
	bool           rx_skip; /* oversize or binary: drop */

	/* The phone's speaker. */
	int64_t             play_end_us;
	struct stream_mark *marks; /* ring, due times ascending */
	size_t              mhead, mcount, mcap;

	/* Keys heard in the audio received (common/dtmf's detector, made
	 * at the first media), and where: bytes_received after the media
	 * message that completed each. */
	struct dtmf_det *det;
	uint64_t         dtmf_heard_at[sizeof(((struct dtmf_det *)0)->keys)];

	/* Tags: send time (us after t0) and seen flag per frame index. */
	uint32_t *tag_us;
	uint8_t  *tag_seen;
	size_t    tagcap;

	struct stream_stats st;
};

/* stream.c */
void stream_finish(struct stream_call *sc, const char *why);
/* The stream id's key in every message of the call's dialect. */
const char *stream_sid_key(const struct stream_call *sc);
/* Its sequence number's key. */
const char *stream_seq_key(const struct stream_call *sc);

/* stream_tx.c */
int  stream_tx_one(struct stream_call *sc, int64_t now);
bool stream_tx_due(const struct stream_call *sc, int64_t now);

/* stream_rx.c */
/* One piece of an inbound message; final: the message is complete. */
void stream_rx(struct stream_call *sc, const void *in, size_t len, bool binary,
    bool final);
bool stream_marks_ready(const struct stream_call *sc, int64_t now);
void stream_tags_count_lost(struct stream_call *sc);

/* stream_stats.c */
void stream_error(struct stream_call *sc, enum stream_err kind,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void stream_record(struct stream_call *sc, const char *event, json_t *extra);
void stream_totals_add(struct stream_hub *hub, const struct stream_call *sc);
void stream_rtt_add(struct stream_call *sc, int64_t rtt_us);

#endif /* STREAM_INT_H */
