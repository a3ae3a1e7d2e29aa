/*
 * ahop - the audio hop between media-edge and ai-session, one
 * implementation for both daemons: socket setup (through bus.c), the
 * peers we dial, the receive model, the Envelope <-> BatchItem mapping and
 * the batches (abatch.h).
 *
 * Each side binds a pub socket and dials every peer's pub socket it is
 * told about with one sub socket that takes everything (the topic is
 * checked here, which with many calls is cheaper than nng's linear list
 * of subscriptions).  Audio items go into one AudioBatch per destination
 * instance (topic "@<instance>"), published by ahop_flush() once per turn
 * of the owner's event loop, or at once when full.  Audio travels only in
 * batches: both ends announce their batch topic when a session starts,
 * and a peer that announces none is refused there.
 *
 * Receiving: the owner's event loop polls ahop_recv_fd() (nng's
 * NNG_OPT_RECVFD: readable while messages wait) and calls ahop_recv(),
 * which takes what is queued with non-blocking receives and hands each
 * item to ops->item on the calling thread: no frame changes threads on
 * our side, and nothing here allocates per item: a batch is unpacked into
 * a reused arena (wire_arena), so what remains is nng's one message per
 * batch.  An item is valid during the callback only.  What arrives:
 *   - a batch under our topic: unpacked once, each item in order;
 *   - a batch under another topic (another instance's): dropped on its
 *     topic alone (AHOP_DROP_OTHER_INSTANCE, counted once per batch);
 *   - a per-call message (topic = call sid: TranscriptTurn, CallEvent):
 *     ops->wanted may refuse it before it is decoded, then ops->message
 *     (which counts anything it does not expect, audio included);
 *   - anything that is not a topic and an envelope, or a batch that does
 *     not unpack (truncated): AHOP_DROP_GARBAGE; a batch topic carrying
 *     something else than an AudioBatch: AHOP_DROP_UNEXPECTED.
 *
 * Peers: ahop_attach() dials a URL once and waits, bounded, until a pipe
 * to it is up (then a short settle, the first time, so that the peer's
 * pub side has attached its end too).  When the last pipe to a peer
 * closes, ops->peer_gone names it (nng thread); nng redials with backoff.
 *
 * Threads: ahop_open/ahop_close from main; ahop_attach and
 * ahop_subscribe/unsubscribe from worker threads (they block or lock);
 * ahop_recv, ahop_send, ahop_publish and ahop_flush from the one event
 * loop thread that owns the hop; ops->peer_gone from nng's threads.
 */
#ifndef AHOP_H
#define AHOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

#include "abatch.h"
#include "bus.pb-c.h"
#include "wire.h"

/* unpacked batches live here (a full one needs about 150 KiB) */
#define AHOP_ARENA_BYTES (256 * 1024)

enum ahop_drop {
	AHOP_DROP_OTHER_INSTANCE = 1, /* a batch for another instance */
	AHOP_DROP_GARBAGE, /* not a topic and an envelope; truncated */
	AHOP_DROP_UNEXPECTED, /* not an AudioBatch under our batch topic */
	AHOP_DROP_PUBLISH /* items the pub socket refused */
};

struct ahop_ops {
	/* Loop thread: one audio item of a batch for it->call_sid (what
	 * names it for logs).  Required. */
	void (*item)(void *arg, const Bus__BatchItem *it, const char *what);
	/* Loop thread: a per-call message (topic = call sid).  NULL: such
	 * messages are counted as AHOP_DROP_UNEXPECTED. */
	void (*message)(void *arg, const char *sid, const Bus__Envelope *env);
	/* Loop thread: false drops a per-call message before it is decoded
	 * (the callback counts it).  NULL: every one is decoded. */
	bool (*wanted)(void *arg, const char *sid);
	/* Loop thread: n items (or messages) dropped for why.  May be NULL. */
	void (*dropped)(void *arg, enum ahop_drop why, unsigned n);
	/* nng thread, must not block: the last pipe to url closed.  May be
	 * NULL. */
	void (*peer_gone)(void *arg, const char *url);
};

struct ahop_cfg {
	const char            *pub_name; /* metric label of the pub socket */
	const char            *pub_url; /* bound */
	int                    pub_sendbuf; /* messages per subscriber; 0 */
	const char            *sub_name; /* metric label of the sub socket */
	int                    sub_recvbuf; /* messages; 0: nng's default */
	bool                   sub_all; /* false: subscribe per call sid */
	const char            *instance; /* our batch topic is "@instance" */
	int                    settle_ms; /* after a first pipe to a peer */
	const struct ahop_ops *ops;
	void                  *arg;
};

struct ahop_peer;

struct ahop {
	nng_socket             pub;
	nng_socket             sub;
	bool                   pub_open, sub_open;
	bool                   sub_all;
	int                    recvfd;
	int                    settle_ms;
	char                   topic[ABATCH_TOPIC_MAX]; /* ours */
	const struct ahop_ops *ops;
	void                  *arg;
	struct abatch_set      ab; /* loop thread */
	struct wire_arena      arena; /* loop thread: unpacked messages */
	char                   id_prefix[17];
	uint64_t               id_next; /* loop thread */
	pthread_mutex_t        mtx;
	pthread_cond_t         cv;
	struct ahop_peer      *peers; /* {mtx} */
	bool                   closing; /* {mtx} */
	struct metric         *gauge, *ev_add, *ev_rem;
	/* loop thread: what was received */
	uint64_t batches_in;
	uint64_t items_in;
};

/* Open the pub socket (listening) and the sub socket (no peer yet).
 * 0, or -1 (logged).  main. */
int ahop_open(struct ahop *, const struct ahop_cfg *);
/* Close both sockets and free the peers and batches.  main, after the
 * loop thread ended. */
void ahop_close(struct ahop *);

/* Our batch topic ("@<instance>"; ahop_open fails when the instance
 * name is too long for one). */
const char *ahop_topic(const struct ahop *);
/* The sub socket's pollable descriptor: readable while messages wait.
 * Owned by nng: poll a dup() if the poller closes what it watches. */
int ahop_recv_fd(const struct ahop *);

/* Dial url (once per distinct URL) and wait until a pipe to it is up,
 * at most timeout_ms.  0, or -1 (logged).  Blocks: worker threads. */
int ahop_attach(struct ahop *, const char *url, long timeout_ms);
/* With sub_all false: take / stop taking a call sid's messages.  Our
 * batch topic is subscribed at open.  0 or -1.  Any thread. */
int ahop_subscribe(struct ahop *, const char *sid);
int ahop_unsubscribe(struct ahop *, const char *sid);

/* Take up to max queued messages without blocking and hand them to ops
 * (see above).  Returns how many were taken.  Loop thread. */
size_t ahop_recv(struct ahop *, size_t max);

/*
 * Send one audio item for call sid into batch dest (ahop_dest on the
 * peer's batch topic; NULL is refused and counted as unexpected).  0, or
 * -1 when something was refused (counted through ops->dropped).  Loop
 * thread.
 */
int ahop_send(struct ahop *, struct abatch *dest, const char *sid,
    const Bus__BatchItem *it);
/* Publish a whole envelope under topic (low-rate messages such as a
 * TranscriptTurn).  0 or the nng error (counted).  Loop thread. */
int ahop_publish(struct ahop *, const char *topic, Bus__Envelope *env);
/* Publish every batch holding items.  Once per loop turn.  Loop thread. */
void ahop_flush(struct ahop *);

/* The batch for a peer's topic (abatch_ref / abatch_unref).  Loop
 * thread. */
struct abatch *ahop_dest(struct ahop *, const char *peer_topic);
void           ahop_dest_release(struct ahop *, struct abatch *);

#endif
