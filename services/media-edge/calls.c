/*
 * calls.c - one struct call per media stream: the call table, caller
 * audio towards the ai-session (published, or held until the session is
 * ready), model audio and controls towards the caller, and the call's
 * single teardown path.
 *
 * A call is reachable by call sid once its start was accepted.  Other
 * threads refer to a call by its serial id only, so a result for a call
 * that has gone in the meantime finds nothing (and a SessionStart that
 * raced with the hang-up is followed by its SessionEnd).
 *
 * lws service thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "edge.h"
#include "log.h"
#include "metrics.h"
#include "svc.h"
#include "wire.h"
#include "xmalloc.h"

#define PEND_HDR 12 /* u32 ts, u32 seq, u32 len */

int64_t
edge_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

static uint32_t
hash_sid(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return (h);
}

int
calls_init(struct edge *e)
{
	size_t n = 64;

	while (n < (size_t)e->cfg.max_calls * 2)
		n *= 2;
	e->table = xcalloc(n, sizeof(*e->table));
	e->table_mask = n - 1;
	return (0);
}

void
calls_fini(struct edge *e)
{
	free(e->table);
	e->table = NULL;
}

struct call *
call_find(struct edge *e, const char *sid)
{
	struct call *c;

	for (c = e->table[hash_sid(sid) & e->table_mask]; c != NULL;
	     c = c->hnext)
		if (strcmp(c->call_sid, sid) == 0)
			return (c);
	return (NULL);
}

struct call *
call_find_id(struct edge *e, uint64_t id)
{
	struct call *c;

	for (c = e->calls; c != NULL; c = c->next)
		if (c->id == id)
			return (c);
	return (NULL);
}

/* No valid start in EDGE_START_TIMEOUT_MS: the socket goes. */
static void
start_timeout_cb(lws_sorted_usec_list_t *sul)
{
	struct call *c = lws_container_of(sul, struct call, start_sul);

	if (!c->pending || c->closing)
		return;
	log_warnx("media stream closed: no valid start in %ld ms",
	    c->edge->cfg.start_timeout_ms);
	edge_refused(c->edge, "start_timeout");
	call_close(c, EDGE_CLOSE_POLICY, "start_timeout");
}

/* The socket has had its start (or is gone): it is no longer pending. */
static void
pending_end(struct call *c)
{
	if (!c->pending)
		return;
	c->pending = false;
	c->edge->npending--;
	metric_dec(c->edge->m.pending_streams);
	lws_sul_cancel(&c->start_sul);
}

long
calls_pending_from(struct edge *e, const char *addr)
{
	struct call *c;
	long         n = 0;

	for (c = e->calls; c != NULL; c = c->next)
		if (c->pending && strcmp(c->peer, addr) == 0)
			n++;
	return (n);
}

/*
 * A /media socket, upgraded: it holds no call slot until its start is
 * accepted (call_register()), and has EDGE_START_TIMEOUT_MS to send it.
 */
struct call *
call_new(struct edge *e, struct lws *wsi, const struct tel_provider *prov)
{
	struct call *c = xcalloc(1, sizeof(*c));

	c->edge = e;
	c->prov = prov;
	c->wsi = wsi;
	c->id = ++e->next_id;
	/* as ws_filter() counted it (a bad header was refused there) */
	(void)proxy_wsi_client(&e->cfg.proxies, wsi, c->peer, sizeof(c->peer));
	c->pending = true;
	e->npending++;
	metric_inc(e->m.pending_streams);
	lws_sul_schedule(lws_get_context(wsi), 0, &c->start_sul,
	    start_timeout_cb, e->cfg.start_timeout_ms * LWS_US_PER_MS);
	outq_init(&c->out, (size_t)e->cfg.out_queue_bytes);
	c->pend.limit = (size_t)e->cfg.start_buffer_bytes;
	replay_init(&c->replay, (unsigned)(e->cfg.unacked_ms / 20),
	    (unsigned)(e->cfg.replay_ms / 20));
	c->next = e->calls;
	if (e->calls != NULL)
		e->calls->prev = c;
	e->calls = c;
	e->ncalls++;
	return (c);
}

/* 0 registered; -1 another stream already has this call sid. */
int
call_register(struct call *c)
{
	struct edge *e = c->edge;
	size_t       b = hash_sid(c->call_sid) & e->table_mask;

	if (call_find(e, c->call_sid) != NULL)
		return (-1);
	if (e->nactive >= e->cfg.max_calls)
		return (-2);
	pending_end(c);
	c->hnext = e->table[b];
	e->table[b] = c;
	c->in_table = true;
	e->nactive++;
	metric_inc(e->m.active_calls);
	svc_active_add(e->svc, 1);
	return (0);
}

static void
unregister(struct call *c)
{
	struct edge  *e = c->edge;
	struct call **pp;

	if (!c->in_table)
		return;
	for (pp = &e->table[hash_sid(c->call_sid) & e->table_mask];
	     *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	c->in_table = false;
	e->nactive--;
	metric_dec(e->m.active_calls);
	svc_active_add(e->svc, -1);
}

static void
submit_end(
    struct edge *e, const char *sid, const char *trace, const char *reason)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->kind = JOB_END;
	snprintf(j->call_sid, sizeof(j->call_sid), "%s", sid);
	snprintf(j->trace_id, sizeof(j->trace_id), "%s", trace);
	(void)codec_rand_hex(j->key, 16);
	snprintf(j->reason, sizeof(j->reason), "%s", reason);
	j->at_ms = wire_now_ms();
	bridge_submit(&e->bridge, j);
}

/* The socket is gone (LWS_CALLBACK_CLOSED). */
void
call_free(struct call *c)
{
	struct edge   *e = c->edge;
	struct log_ctx lc = { c->call_sid, c->trace_id };

	unregister(c);
	pending_end(c);
	/* A start still in flight sends its own SessionEnd when its result
	 * finds the call gone (loop.c), so the two never cross. */
	if (c->session_sent && !c->end_sent && !c->start_inflight) {
		submit_end(e, c->call_sid, c->trace_id,
		    c->end_reason != NULL ? c->end_reason : "socket closed");
		c->end_sent = true;
	}
	if (c->call_sid[0] != '\0')
		logc_info(&lc, "stream closed: %s",
		    c->close_why != NULL        ? c->close_why
		        : c->end_reason != NULL ? c->end_reason
		                                : "socket closed");
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		e->calls = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	e->ncalls--;
	ahop_dest_release(&e->hop, c->dest);
	json_decref(c->params);
	free(c->pend.buf);
	metric_add(e->m.unacked_frames, -(double)c->unacked_counted);
	replay_fini(&c->replay);
	json_decref(c->turns);
	free(c->rx);
	outq_fini(&c->out);
	free(c);
}

void
call_close(struct call *c, int code, const char *why)
{
	if (c->closing)
		return;
	c->closing = true;
	c->state = CALL_ENDED;
	c->close_code = code;
	c->close_why = why;
	metric_inc(metric_get(c->edge->m.closes, why));
	lws_callback_on_writable(c->wsi);
	/* a peer that never lets us write still goes away */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 5);
}

void
call_kill(struct call *c, const char *why)
{
	if (!c->closing)
		metric_inc(metric_get(c->edge->m.closes, why));
	c->closing = true;
	c->kill = true;
	c->state = CALL_ENDED;
	c->close_why = why;
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/*
 * Towards the ai-session: into its batch (its SessionStarted.batch_topic),
 * published at the end of this loop turn (calls_flush).  Audio travels
 * only in batches; a refusal is counted in common/ahop.c
 * (edge_audio_frames_dropped_total{reason="publish"}).
 */
static void
publish_audio(struct call *c, const unsigned char *p, size_t len, uint32_t ts,
    uint32_t seq)
{
	Bus__AudioFrame af = BUS__AUDIO_FRAME__INIT;
	Bus__BatchItem  it = BUS__BATCH_ITEM__INIT;

	af.payload.data = (uint8_t *)p;
	af.payload.len = len;
	af.timestamp_ms = ts;
	af.seq = seq;
	it.item_case = BUS__BATCH_ITEM__ITEM_AUDIO;
	it.audio = &af;
	(void)ahop_send(&c->edge->hop, c->dest, c->call_sid, &it);
}

/* MarkEcho and Dtmf: the same way as the frames, so they keep their
 * order. */
void
call_publish_item(struct call *c, const Bus__BatchItem *it)
{
	(void)ahop_send(&c->edge->hop, c->dest, c->call_sid, it);
}

/* Hold a frame until the session is ready; a replayed one (force) is
 * held whatever the bound, since it was kept within EDGE_UNACKED_MS. */
static void
pend_add(struct call *c, const unsigned char *p, size_t len, uint32_t ts,
    uint32_t seq, bool force)
{
	struct pend *pd = &c->pend;
	uint32_t     hdr[3] = { ts, seq, (uint32_t)len };
	size_t       need = PEND_HDR + len;

	if (!force && pd->len + need > pd->limit) {
		edge_dropped(c->edge, "start_buffer_full", 1);
		return;
	}
	if (pd->len + need > pd->cap) {
		pd->cap = pd->cap == 0 ? 2048 : pd->cap;
		while (pd->cap < pd->len + need)
			pd->cap *= 2;
		pd->buf = xrealloc(pd->buf, pd->cap);
	}
	memcpy(pd->buf + pd->len, hdr, PEND_HDR);
	memcpy(pd->buf + pd->len + PEND_HDR, p, len);
	pd->len += need;
}

static void
pend_flush(struct call *c)
{
	struct pend *pd = &c->pend;
	uint32_t     hdr[3];
	size_t       off = 0;

	while (off + PEND_HDR <= pd->len) {
		memcpy(hdr, pd->buf + off, PEND_HDR);
		publish_audio(
		    c, pd->buf + off + PEND_HDR, hdr[2], hdr[0], hdr[1]);
		off += PEND_HDR + hdr[2];
	}
	free(pd->buf);
	pd->buf = NULL;
	pd->len = pd->cap = 0;
}

/* The gauge follows the frames kept for a move. */
static void
unacked_sync(struct call *c)
{
	metric_add(c->edge->m.unacked_frames,
	    (double)c->replay.used - (double)c->unacked_counted);
	c->unacked_counted = c->replay.used;
}

/* Keep the frame until the ai-session acknowledges it (replay.c). */
static void
replay_keep(struct call *c, const unsigned char *p, size_t len, uint32_t ts,
    uint32_t seq)
{
	if (replay_add(&c->replay, p, len, ts, seq) == 1) {
		edge_dropped(c->edge, "replay_unacked", 1);
		if (!c->unacked_warned) {
			struct log_ctx lc = { c->call_sid, c->trace_id };

			logc_warnx(&lc,
			    "ai-session acknowledges no caller audio: more "
			    "than EDGE_UNACKED_MS kept; the oldest dropped "
			    "from what a move would replay");
			c->unacked_warned = true;
		}
	}
	unacked_sync(c);
}

/*
 * A call moves to another ai-session: the frames its holder did not
 * acknowledge go first into what is held for the next one, oldest first,
 * with their seq.  A holder that acknowledged its frames (AudioAck) and
 * let the call go gets nothing repeated; a killed one has repeated what
 * it wrote after its last ack.  A holder that sent no acks (an older
 * ai-session) has the last EDGE_REPLAY_MS repeated.
 */
static void
replay_to_pend(struct call *c)
{
	const struct replay_frame *f;
	unsigned                   i, n = replay_pending(&c->replay);

	for (i = 0; i < n; i++) {
		f = replay_frame(&c->replay, i);
		pend_add(c, f->p, f->len, f->ts, f->seq, true);
	}
	metric_add(c->edge->m.frames_replayed, n);
}

static void
deliver(struct call *c, const unsigned char *p, size_t len, uint32_t ts)
{
	uint32_t seq = ++c->seq;

	replay_keep(c, p, len, ts, seq);
	if (c->state == CALL_ACTIVE)
		publish_audio(c, p, len, ts, seq);
	else
		pend_add(c, p, len, ts, seq, false);
}

/*
 * Caller audio.  A jump in media.timestamp means the provider lost
 * audio; the gap is filled with mu-law silence so the model's clock (and
 * the barge-in arithmetic built on it) stays right.
 */
void
call_audio_in(struct call *c, const unsigned char *p, size_t len, uint32_t ts,
    bool have_ts)
{
	static const unsigned char silence[EDGE_FRAME_BYTES]
	    = { [0 ... EDGE_FRAME_BYTES - 1] = EDGE_ULAW_SILENCE };
	struct edge *e = c->edge;
	uint32_t     gap, chunk, padded = 0;

	if (c->state == CALL_ENDED)
		return;
	metric_inc(e->m.frames_in);
	if (!have_ts) {
		deliver(c, p, len, c->next_ts);
		c->next_ts += (uint32_t)(len / 8);
		return;
	}
	if (c->have_ts && ts > c->next_ts
	    && (gap = ts - c->next_ts) >= EDGE_FRAME_BYTES / 8) {
		if (gap > (uint32_t)e->cfg.max_pad_ms)
			gap = (uint32_t)e->cfg.max_pad_ms;
		while (gap > 0) {
			chunk = gap > EDGE_FRAME_BYTES / 8
			    ? EDGE_FRAME_BYTES / 8
			    : gap;
			deliver(c, silence, chunk * 8, c->next_ts + padded);
			padded += chunk;
			gap -= chunk;
			metric_inc(e->m.frames_padded);
		}
	}
	deliver(c, p, len, ts);
	if (!c->have_ts || ts + (uint32_t)(len / 8) > c->next_ts)
		c->next_ts = ts + (uint32_t)(len / 8);
	c->have_ts = true;
}

void
call_started(
    struct call *c, const char *ai_url, const char *inst, const char *topic)
{
	struct log_ctx lc = { c->call_sid, c->trace_id };
	bool           first = c->state == CALL_STARTING;

	c->start_inflight = false;
	snprintf(c->ai_url, sizeof(c->ai_url), "%s", ai_url);
	if (c->state != CALL_STARTING && c->state != CALL_RESUMING)
		return; /* ended meanwhile */
	c->state = CALL_ACTIVE;
	ahop_dest_release(&c->edge->hop, c->dest);
	c->dest = ahop_dest(&c->edge->hop, topic);
	if (first)
		metric_observe(c->edge->m.setup_seconds,
		    (double)(edge_mono_us() - c->started_us) / 1e6);
	logc_info(&lc, "session %s on %s (%s), %zu bytes held",
	    first ? "started" : "resumed", inst, ai_url, c->pend.len);
	pend_flush(c);
}

void
call_start_failed(struct call *c, const char *why)
{
	struct log_ctx lc = { c->call_sid, c->trace_id };

	c->start_inflight = false;
	logc_warnx(&lc, "no ai-session took the call: %s", why);
	c->end_reason = "no ai-session";
	web_fallback(c,
	    strcmp(why, "overloaded") == 0    ? "overloaded"
	        : strcmp(why, "refused") == 0 ? "refused"
	                                      : "no_ai_session",
	    true);
}

void
call_request_session(struct call *c, bool resume)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->kind = JOB_START;
	j->call_id = c->id;
	memcpy(j->call_sid, c->call_sid, sizeof(j->call_sid));
	memcpy(j->trace_id, c->trace_id, sizeof(j->trace_id));
	(void)codec_rand_hex(j->key, 16);
	memcpy(j->stream_sid, c->stream_sid, sizeof(j->stream_sid));
	memcpy(j->account_sid, c->account_sid, sizeof(j->account_sid));
	j->provider = c->prov->id;
	j->direction = c->direction;
	j->resume = resume;
	j->holder = c->holders++; /* the record's version range */
	j->audio_acks = c->edge->cfg.unacked_ms > 0;
	replay_holder(&c->replay, j->holder);
	j->at_ms = c->started_ms;
	/* a copy: jansson objects are not shared between threads */
	j->params = json_deep_copy(c->params);
	if (resume && c->turns != NULL)
		j->turns = json_deep_copy(c->turns);
	c->session_sent = true;
	c->start_inflight = true;
	c->state = resume ? CALL_RESUMING : CALL_STARTING;
	bridge_submit(&c->edge->bridge, j);
}

#define EDGE_KEEP_TURNS 40

void
call_keep_turn(struct call *c, const Bus__Turn *t)
{
	json_t *o;

	if (t == NULL || t->text == NULL || t->role == NULL)
		return;
	if (c->turns == NULL)
		c->turns = json_array();
	o = json_pack("{s:s,s:s,s:I,s:I}", "role", t->role, "text", t->text,
	    "seq", (json_int_t)t->seq, "at", (json_int_t)t->at_ms);
	if (o == NULL)
		return;
	json_array_append_new(c->turns, o);
	if (json_array_size(c->turns) > EDGE_KEEP_TURNS)
		json_array_remove(c->turns, 0);
}

/* A sub pipe to url went away: that ai-session is gone, or restarting. */
void
call_ai_gone(struct edge *e, const char *url)
{
	struct call   *c;
	struct log_ctx lc;

	for (c = e->calls; c != NULL; c = c->next) {
		if (c->state != CALL_ACTIVE || strcmp(c->ai_url, url) != 0)
			continue;
		lc.call_sid = c->call_sid;
		lc.trace_id = c->trace_id;
		logc_warnx(&lc, "ai-session at %s went away; resuming", url);
		metric_inc(e->m.resumes);
		replay_to_pend(c);
		call_request_session(c, true);
	}
}

void
call_audio_ack(struct call *c, const Bus__AudioAck *ack)
{
	struct edge   *e = c->edge;
	struct log_ctx lc = { c->call_sid, c->trace_id };

	switch (replay_ack(&c->replay, ack->seq, ack->holder)) {
	case REPLAY_ACK_OK:
		break;
	case REPLAY_ACK_AHEAD:
		/* never the holder's own mistake to trust: keep the frames */
		metric_inc(metric_get(e->m.acks, "bad_ack"));
		edge_bad_input(e, "bad_ack");
		logc_debug(&lc, "audio ack %u ahead of the last frame sent %u",
		    ack->seq, c->replay.top);
		return;
	case REPLAY_ACK_STALE:
		metric_inc(metric_get(e->m.acks, "stale"));
		edge_bad_input(e, "bad_ack");
		logc_debug(&lc, "audio ack of holder %u; the holder is %u",
		    ack->holder, c->replay.holder);
		return;
	}
	metric_inc(metric_get(e->m.acks, "ok"));
	unacked_sync(c);
	if (!ack->released || c->state != CALL_ACTIVE)
		return;
	/* the holder let the call go, its ack final: hand it over now */
	metric_inc(metric_get(e->m.acks, "released"));
	logc_info(&lc,
	    "ai-session at %s released the call at frame %u; %u frames "
	    "after it go to the next one",
	    c->ai_url, ack->seq, replay_pending(&c->replay));
	metric_inc(e->m.resumes);
	replay_to_pend(c);
	call_request_session(c, true);
}

/* Queue one record; false (and the caller cut off) when over the limit. */
static unsigned char *
reserve(struct call *c, size_t len)
{
	unsigned char *p;

	if (c->closing)
		return (NULL);
	if ((p = outq_reserve(&c->out, len)) == NULL) {
		struct log_ctx lc = { c->call_sid, c->trace_id };

		logc_warnx(&lc,
		    "caller not reading: %zu bytes queued; "
		    "cutting it off",
		    outq_bytes(&c->out));
		metric_inc(c->edge->m.slow_reader);
		edge_dropped(c->edge, "slow_reader", c->out.count);
		call_kill(c, "slow_reader");
	}
	return (p);
}

static void
commit(struct call *c, size_t len, enum outq_kind kind)
{
	bool was_empty = c->out.count == 0;

	outq_commit(&c->out, len, kind);
	if (!was_empty)
		return; /* a WRITEABLE is already asked for */
	if (c->closing || c->kill)
		lws_callback_on_writable(c->wsi);
	else if (ws_send_queued(c) < 0)
		call_kill(c, "write_failed");
}

static size_t
put(unsigned char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return (n);
}

/* {"event":"<ev>" and the dialect's stream id, if it has one. */
static size_t
head(struct call *c, unsigned char *p, const char *ev)
{
	const char *key = c->prov->ws->stream_top;
	size_t      n;

	n = put(p, "{\"event\":\"");
	n += put(p + n, ev);
	n += put(p + n, "\"");
	if (key != NULL) {
		n += put(p + n, ",\"");
		n += put(p + n, key);
		n += put(p + n, "\":\"");
		n += put(p + n, c->stream_sid);
		n += put(p + n, "\"");
	}
	return (n);
}

/* Room for a message of payload bytes besides its head. */
static size_t
head_room(struct call *c)
{
	const char *key = c->prov->ws->stream_top;

	return (64 + (key != NULL ? strlen(key) : 0) + strlen(c->stream_sid));
}

void
call_send_media(struct call *c, const unsigned char *ulaw, size_t len)
{
	unsigned char *p;
	size_t         n;
	int            b;

	p = reserve(c, head_room(c) + CODEC_B64_LEN(len));
	if (p == NULL)
		return;
	n = head(c, p, "media");
	n += put(p + n, ",\"media\":{\"payload\":\"");
	b = codec_b64_encode(ulaw, len, (char *)p + n, CODEC_B64_LEN(len));
	if (b < 0)
		return;
	n += (size_t)b;
	n += put(p + n, "\"}}");
	commit(c, n, OUTQ_MEDIA);
}

void
call_send_mark(struct call *c, const char *name)
{
	char           esc[512];
	unsigned char *p;
	size_t         n;

	(void)log_json_escape(esc, sizeof(esc), name);
	p = reserve(c, head_room(c) + strlen(esc));
	if (p == NULL)
		return;
	n = head(c, p, "mark");
	n += put(p + n, ",\"mark\":{\"name\":\"");
	n += put(p + n, esc);
	n += put(p + n, "\"}}");
	commit(c, n, OUTQ_MARK);
}

void
call_send_clear(struct call *c)
{
	unsigned char *p;
	unsigned       dropped;
	size_t         n;

	if ((dropped = outq_drop_media(&c->out)) > 0)
		edge_dropped(c->edge, "cleared", dropped);
	p = reserve(c, head_room(c));
	if (p == NULL)
		return;
	n = head(c, p, "clear");
	n += put(p + n, "}");
	commit(c, n, OUTQ_CLEAR);
}
