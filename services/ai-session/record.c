/*
 * record.c - what persister keeps of a call.
 *
 * Turns: each finished turn is sent as TranscriptTurn when it happens
 * (idempotency key "<sid>:turn:<seq>", a few bounded tries), so a crash
 * loses at most the turn in flight.
 *
 * The call record: when a call ends, a job thread asks the reasoner for
 * the summary (SummarizeRequest), then sends the CallRecord (transcript
 * "AI: ..." / "User: ...", summary, duration, outcome, end reason).  A
 * record persister has not acknowledged is kept in memory and retried by
 * the record thread with backoff (RETRY_MIN_MS doubling to
 * AI_RECORD_RETRY_MAX_MS) for as long as the process lives; while more
 * than AI_MAX_PENDING_RECORDS wait, ai-session takes no new calls
 * (record_backlogged), so the bound is kept without dropping any.  When
 * the reasoner cannot summarise, the record is stored with
 * summary_pending, the summary is retried every AI_SUMMARY_RETRY_MS, and
 * the record is sent again (same call sid, key "<sid>:record:<n+1>")
 * with the summary.  The record carries the call's token usage
 * (usage.c), the summary's own included.
 *
 * Versions: the record is a versioned document of the call, not of this
 * process.  Each holder of the call numbers its versions from
 * holder << 16 (SessionStart.holder: how many ai-sessions held the call
 * before), and persister never lets a lower version overwrite a higher
 * one.  A call handed over at shutdown is stored as a partial record (no
 * summary, nothing told to media-edge); the next holder's record, whole
 * because its transcript starts with the stored turns, supersedes it.  A
 * duplicate acknowledgement is not taken for success: see send_record.
 *
 * Threads: record_turn/record_finish on the lws thread (they only copy
 * and queue); the work on job threads and the record thread.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "ai.h"
#include "bus.h"
#include "journal.h"
#include "metrics.h"
#include "pbjson.h"
#include "util.h"
#include "wire.h"
#include "xmalloc.h"

#define TURN_ATTEMPTS 3
#define SEND_ATTEMPTS 2
#define DUP_BUMPS 3
#define RETRY_MIN_MS 250

enum rec_state {
	REC_SEND, /* the current version is not acknowledged */
	REC_SUMMARY /* stored; summary still to fetch */
};

struct rec {
	struct rec       *next;
	char              sid[AI_SID_MAX];
	char              trace[33];
	Bus__Direction    direction;
	int64_t           started_at_ms;
	int64_t           ended_at_ms;
	struct transcript tr;
	char             *objective;
	char             *answered_by;
	char             *end_reason;
	char             *outcome; /* ours (voicemail), until summarised */
	char          *edge_ctl_url; /* media-edge: the summary goes there */
	bool           failed; /* the call never got going */
	bool           partial; /* handed over: the call goes on elsewhere */
	Bus__Summary  *summary; /* unpacked reply, or NULL */
	Bus__Envelope *summary_env;
	struct call_usage usage; /* the call's; the summary's added */
	Bus__Summary     *summary_own; /* read back from the journal */
	unsigned          holder; /* SessionStart.holder */
	unsigned          version;
	enum rec_state    state;
	int64_t           next_try;
	long              backoff;
};

static struct {
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	struct rec     *list; /* {mtx} */
	long            n; /* {mtx} */
	bool            stop; /* {mtx} */
	pthread_t       thread;
	bool            started;
	/* record_stop's last tries (main thread, the record thread gone):
	 * each send ends by this monotonic time */
	int64_t         until;
	struct metric  *pending, *sent, *failed, *turns_failed, *edge_failed;
	struct metric  *duplicate, *unjournaled, *replayed;
} rq = { .mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/*
 * The record journal (AI_JOURNAL_DIR; common/journal.c): each record is
 * written there (fsync'd) before it is first sent, again when it changes
 * (its summary arrived), and a "done" entry once persister has it, so a
 * record or summary persister has not acknowledged survives kill -9 of
 * this process.  record_start() reads the journal back and queues every
 * record without its "done"; the file is emptied whenever no record is
 * open.  Entries are JSON: {"op":"put","id":..., the record} or
 * {"op":"done","id":...}, id "<sid>/<holder>".  The record's token
 * usage is in the entry ("usage"), so a replayed record costs what the
 * call did.
 */
static struct {
	pthread_mutex_t mtx;
	struct journal  j;
	bool            on;
	json_t         *open; /* {mtx} ids put and not done */
} jr = { .mtx = PTHREAD_MUTEX_INITIALIZER };

static const char *
lead_status(const char *outcome)
{
	static const char *map[][2] = { { "goal_achieved", "won" },
		{ "callback_requested", "callback" },
		{ "not_interested", "lost" }, { "wrong_number", "invalid" },
		{ "voicemail", "voicemail" }, { "no_answer", "no_answer" },
		{ "failed", "retry" }, { NULL, NULL } };
	int                i;

	if (outcome == NULL || outcome[0] == '\0')
		return ("contacted");
	for (i = 0; map[i][0] != NULL; i++)
		if (strcmp(map[i][0], outcome) == 0)
			return (map[i][1]);
	return ("contacted");
}

static void
rec_free(struct rec *r)
{
	transcript_fini(&r->tr);
	free(r->objective);
	free(r->answered_by);
	free(r->end_reason);
	free(r->outcome);
	free(r->edge_ctl_url);
	wire_free(r->summary_env);
	if (r->summary_own != NULL)
		protobuf_c_message_free_unpacked(&r->summary_own->base, NULL);
	free(r);
}

static void
rec_id(const struct rec *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%u", r->sid, r->holder);
}

/* The token counts of a record as a journal object. */
static json_t *
usage_json(const struct call_usage *u)
{
	return (json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "in",
	    (json_int_t)u->in, "out", (json_int_t)u->out, "in_audio",
	    (json_int_t)u->in_audio, "out_audio", (json_int_t)u->out_audio,
	    "cached", (json_int_t)u->cached, "rsn_in", (json_int_t)u->rsn_in,
	    "rsn_out", (json_int_t)u->rsn_out, "responses",
	    (json_int_t)u->responses));
}

/* u from a journal object; keys missing (or an entry older than the
 * object) count 0.  Negative counts are not ours: 0 too. */
static void
usage_from_json(json_t *o, struct call_usage *u)
{
	json_int_t v[8] = { 0 };
	int        i;

	if (!json_is_object(o))
		return;
	(void)json_unpack(o, "{s?I,s?I,s?I,s?I,s?I,s?I,s?I,s?I}", "in", &v[0],
	    "out", &v[1], "in_audio", &v[2], "out_audio", &v[3], "cached",
	    &v[4], "rsn_in", &v[5], "rsn_out", &v[6], "responses", &v[7]);
	for (i = 0; i < 8; i++)
		if (v[i] < 0)
			v[i] = 0;
	u->in = (uint64_t)v[0];
	u->out = (uint64_t)v[1];
	u->in_audio = (uint64_t)v[2];
	u->out_audio = (uint64_t)v[3];
	u->cached = (uint64_t)v[4];
	u->rsn_in = (uint64_t)v[5];
	u->rsn_out = (uint64_t)v[6];
	u->responses = (uint32_t)v[7];
}

/* The record as a journal entry. */
static json_t *
rec_json(const struct rec *r)
{
	json_t *o, *turns = json_array();
	char    id[AI_SID_MAX + 16];
	size_t  i;

	for (i = 0; i < r->tr.n; i++)
		json_array_append_new(turns,
		    json_pack("{s:i,s:b,s:I,s:s}", "seq",
		        (int)r->tr.turns[i].seq, "ai",
		        r->tr.turns[i].role == RT_ASSISTANT, "at",
		        (json_int_t)r->tr.turns[i].at_ms, "text",
		        r->tr.turns[i].text));
	rec_id(r, id, sizeof(id));
	/* s*: a NULL string leaves its key out */
	o = json_pack("{s:s,s:s,s:s,s:s,s:i,s:I,s:I,s:o,s:s*,s:s*,s:s*,s:s*,"
	              "s:s*,s:b,s:b,s:I,s:I,s:i}",
	    "op", "put", "id", id, "sid", r->sid, "trace", r->trace,
	    "direction", (int)r->direction, "started",
	    (json_int_t)r->started_at_ms, "ended", (json_int_t)r->ended_at_ms,
	    "turns", turns, "objective", r->objective, "answered_by",
	    r->answered_by, "end_reason", r->end_reason, "outcome", r->outcome,
	    "edge_ctl_url", r->edge_ctl_url, "failed", r->failed, "partial",
	    r->partial, "holder", (json_int_t)r->holder, "version",
	    (json_int_t)r->version, "state", (int)r->state);
	if (o != NULL)
		json_object_set_new(o, "usage", usage_json(&r->usage));
	if (o != NULL && r->summary != NULL)
		json_object_set_new(
		    o, "summary", pbjson_from_pb(&r->summary->base));
	return (o);
}

static char *
dup_or_null(const char *s)
{
	return (s != NULL ? xstrdup(s) : NULL);
}

/* A record from its journal entry; NULL if the entry is not one. */
static struct rec *
rec_from_json(json_t *o)
{
	struct rec *r;
	json_t     *turns, *t, *sj;
	const char *sid, *trace, *obj = NULL, *ab = NULL, *er = NULL;
	const char *oc = NULL, *url = NULL, *text;
	json_int_t  started, ended, holder, version, at;
	int         dir, failed, partial, state, seq, ai;
	size_t      i;
	char        err[160];

	if (json_unpack(o,
	        "{s:s,s:s,s:i,s:I,s:I,s:o,s?s,s?s,s?s,s?s,s?s,s:b,s:b,s:I,"
	        "s:I,s:i}",
	        "sid", &sid, "trace", &trace, "direction", &dir, "started",
	        &started, "ended", &ended, "turns", &turns, "objective", &obj,
	        "answered_by", &ab, "end_reason", &er, "outcome", &oc,
	        "edge_ctl_url", &url, "failed", &failed, "partial", &partial,
	        "holder", &holder, "version", &version, "state", &state)
	        != 0
	    || !json_is_array(turns) || strlen(sid) >= AI_SID_MAX)
		return (NULL);
	r = xcalloc(1, sizeof(*r));
	snprintf(r->sid, sizeof(r->sid), "%s", sid);
	snprintf(r->trace, sizeof(r->trace), "%s", trace);
	r->direction = (Bus__Direction)dir;
	r->started_at_ms = started;
	r->ended_at_ms = ended;
	transcript_init(&r->tr, 1);
	json_array_foreach(turns, i, t)
	{
		if (json_unpack(t, "{s:i,s:b,s:I,s:s}", "seq", &seq, "ai", &ai,
		        "at", &at, "text", &text)
		    != 0)
			continue;
		if (r->tr.n == 0)
			transcript_init(&r->tr, (uint32_t)seq);
		(void)transcript_add(
		    &r->tr, ai ? RT_ASSISTANT : RT_USER, "", text, at);
	}
	r->objective = dup_or_null(obj);
	r->answered_by = dup_or_null(ab);
	r->end_reason = xstrdup(er != NULL ? er : "");
	r->outcome = dup_or_null(oc);
	r->edge_ctl_url = dup_or_null(url);
	r->failed = failed;
	r->partial = partial;
	r->holder = (unsigned)holder;
	r->version = (unsigned)version;
	r->state = state == REC_SUMMARY ? REC_SUMMARY : REC_SEND;
	usage_from_json(json_object_get(o, "usage"), &r->usage);
	if ((sj = json_object_get(o, "summary")) != NULL
	    && pbjson_to_pb(&bus__summary__descriptor, sj,
	           (ProtobufCMessage **)&r->summary_own, err, sizeof(err))
	        == 0)
		r->summary = r->summary_own;
	return (r);
}

/* Append one entry (the reference is taken); 0 once it is on disk. */
static int
jr_append(json_t *o)
{
	char           *text;
	enum journal_rv rv = JOURNAL_IOERR;

	if (o != NULL && (text = json_dumps(o, JSON_COMPACT)) != NULL) {
		rv = journal_append(&jr.j, text, strlen(text));
		free(text);
	}
	json_decref(o);
	return (rv == JOURNAL_OK ? 0 : -1);
}

/* Job or record thread: r (new or changed) goes to the journal. */
static void
jr_put(struct rec *r)
{
	struct log_ctx lc = { r->sid, r->trace };
	json_t        *o;
	char           id[AI_SID_MAX + 16];
	int            rv;

	if (!jr.on)
		return;
	o = rec_json(r);
	rec_id(r, id, sizeof(id));
	pthread_mutex_lock(&jr.mtx);
	if ((rv = jr_append(o)) == 0)
		json_object_set_new(jr.open, id, json_true());
	pthread_mutex_unlock(&jr.mtx);
	if (rv != 0) {
		metric_inc(rq.unjournaled);
		logc_warnx(&lc,
		    "call record not written to the journal (full or "
		    "I/O error): kept in memory only");
	}
}

/* Persister has r: mark it done; empty the file when nothing is open. */
static void
jr_done(struct rec *r)
{
	char id[AI_SID_MAX + 16];

	if (!jr.on)
		return;
	rec_id(r, id, sizeof(id));
	pthread_mutex_lock(&jr.mtx);
	if (json_object_get(jr.open, id) != NULL) {
		json_object_del(jr.open, id);
		if (json_object_size(jr.open) == 0)
			(void)journal_reset(&jr.j);
		else
			(void)jr_append(
			    json_pack("{s:s,s:s}", "op", "done", "id", id));
	}
	pthread_mutex_unlock(&jr.mtx);
}

/* Finished with r: persister has it. */
static void
rec_done(struct rec *r)
{
	jr_done(r);
	rec_free(r);
}

/* Job or record thread: 0 once the reasoner has summarised. */
static int
summarize(struct rec *r)
{
	Bus__Envelope         env = BUS__ENVELOPE__INIT, *rep = NULL;
	Bus__SummarizeRequest sr = BUS__SUMMARIZE_REQUEST__INIT;
	Bus__Turn            *tp, **tpp;
	struct wire_ids       ids;
	struct log_ctx        lc = { r->sid, r->trace };
	nng_socket            s;
	size_t                i;
	int                   rv = -1;

	if (cfg.reasoner_url[0] == '\0')
		return (-1);
	tp = xcalloc(r->tr.n + 1, sizeof(*tp));
	tpp = xcalloc(r->tr.n + 1, sizeof(*tpp));
	for (i = 0; i < r->tr.n; i++) {
		bus__turn__init(&tp[i]);
		tp[i].role = r->tr.turns[i].role == RT_ASSISTANT ? "assistant"
		                                                 : "user";
		tp[i].text = r->tr.turns[i].text;
		tp[i].seq = r->tr.turns[i].seq;
		tp[i].at_ms = r->tr.turns[i].at_ms;
		tpp[i] = &tp[i];
	}
	wire_env_init(&env, &ids, r->sid, r->trace);
	sr.objective = r->objective != NULL ? r->objective : "";
	sr.turns = tpp;
	sr.n_turns = r->tr.n;
	sr.answered_by = r->answered_by != NULL ? r->answered_by : "";
	sr.duration_s = (uint32_t)((r->ended_at_ms - r->started_at_ms) / 1000);
	env.body_case = BUS__ENVELOPE__BODY_SUMMARIZE_REQUEST;
	env.summarize_request = &sr;
	if (jobs_req_socket(cfg.reasoner_url, &s) == 0
	    && bus_request(s, &env, &rep, (int)cfg.reason_timeout_ms * 2, 1)
	        == 0
	    && rep->body_case == BUS__ENVELOPE__BODY_SUMMARY) {
		wire_free(r->summary_env);
		r->summary_env = rep;
		r->summary = rep->summary;
		usage_reasoner(&r->usage, r->summary->input_tokens,
		    r->summary->output_tokens); /* once per summary */
		rep = NULL;
		rv = 0;
		logc_info(&lc, "summary: outcome %s", r->summary->outcome);
	} else
		logc_warnx(&lc, "summary: reasoner did not summarise (%s)",
		    rep != NULL ? wire_type_name(rep->body_case)
		                : "no answer");
	wire_free(rep);
	free(tp);
	free(tpp);
	return (rv);
}

/* One CallRecord request: 1 stored, 0 the key was applied before
 * (duplicate), -1 not acknowledged. */
static int
send_version(struct rec *r, Bus__CallRecord *cr)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT, *rep = NULL;
	struct wire_ids ids;
	struct log_ctx  lc = { r->sid, r->trace };
	nng_socket      s;
	char            key[AI_SID_MAX + 24];
	int             rv = -1, tmo = (int)cfg.request_timeout_ms;
	int             tries = SEND_ATTEMPTS;

	if (rq.until != 0) {
		/* a last try at shutdown: one attempt, within its budget */
		int64_t left = rq.until - ai_mono_ms();

		if (left <= 0)
			return (-1);
		tries = 1;
		if (left < tmo)
			tmo = (int)left;
	}
	wire_env_init(&env, &ids, r->sid, r->trace);
	snprintf(key, sizeof(key), "%s:record:%u", r->sid, r->version);
	env.idempotency_key = key;
	cr->version = r->version;
	env.body_case = BUS__ENVELOPE__BODY_CALL_RECORD;
	env.call_record = cr;
	if (jobs_req_socket(cfg.persister_url, &s) == 0
	    && bus_request(s, &env, &rep, tmo, tries) == 0
	    && rep->body_case == BUS__ENVELOPE__BODY_ACK)
		rv = rep->ack->duplicate ? 0 : 1;
	else
		logc_warnx(&lc, "call record not acknowledged (%s); kept",
		    rep != NULL ? wire_type_name(rep->body_case)
		                : "no answer");
	wire_free(rep);
	return (rv);
}

/*
 * 0 once persister acknowledged this version of the record.  A duplicate
 * acknowledgement means the key "<sid>:record:<version>" was applied
 * before: our own earlier try whose answer was lost, or a holder of the
 * call that did not know its place in the sequence.  Either way the
 * record goes again as the next version, which supersedes the stored one
 * (the content is ours and current), a bounded number of times.
 */
static int
send_record(struct rec *r)
{
	Bus__CallRecord cr = BUS__CALL_RECORD__INIT;
	Bus__Summary    pend = BUS__SUMMARY__INIT, ours;
	Bus__Usage      usage;
	struct log_ctx  lc = { r->sid, r->trace };
	char           *text;
	int             i, got = -1;

	text = transcript_format(&r->tr);
	cr.direction = r->direction;
	cr.status = r->failed ? "failed" : "completed";
	cr.started_at_ms = r->started_at_ms;
	cr.ended_at_ms = r->ended_at_ms;
	cr.duration_s = (uint32_t)((r->ended_at_ms - r->started_at_ms) / 1000);
	cr.transcript = text;
	cr.end_reason = r->end_reason;
	cr.answered_by = r->answered_by != NULL ? r->answered_by : "";
	cr.partial = r->partial;
	if (r->summary != NULL) {
		/* what we saw ourselves (voicemail) beats a guess from text */
		ours = *r->summary;
		if (r->outcome != NULL)
			ours.outcome = r->outcome;
		cr.summary = &ours;
	} else {
		pend.outcome = r->outcome != NULL
		    ? r->outcome
		    : (r->failed ? "failed" : "");
		cr.summary = &pend;
		cr.summary_pending = true;
	}
	usage_fill(&usage, &r->usage);
	cr.usage = &usage;
	cr.lead_status = (char *)lead_status(cr.summary->outcome);
	for (i = 0; i <= DUP_BUMPS; i++) {
		if ((got = send_version(r, &cr)) != 0)
			break;
		metric_inc(rq.duplicate);
		logc_warnx(&lc,
		    "call record version %u was stored before (duplicate "
		    "key); sending it as version %u",
		    r->version, r->version + 1);
		r->version++;
	}
	free(text);
	if (got != 1)
		return (-1);
	metric_inc(rq.sent);
	logc_info(&lc, "call record stored (version %u%s%s)", r->version,
	    cr.summary_pending ? ", summary pending" : "",
	    r->partial ? ", partial: handed over" : "");
	return (0);
}

/*
 * Record thread: hand the stored summary to the media-edge that carried
 * the call, which sends the business its signed notification and pushes
 * it to /events dashboards.  Request/reply, so it is not lost on a busy
 * pub socket; a media-edge that is gone by now is logged and counted.
 */
static void
tell_edge(struct rec *r)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT, *rep = NULL;
	Bus__Summary    s;
	struct wire_ids ids;
	struct log_ctx  lc = { r->sid, r->trace };
	nng_socket      sock;
	char            key[AI_SID_MAX + 16];

	if (r->summary == NULL || r->partial || r->edge_ctl_url == NULL
	    || r->edge_ctl_url[0] == '\0')
		return;
	s = *r->summary;
	if (r->outcome != NULL)
		s.outcome = r->outcome;
	wire_env_init(&env, &ids, r->sid, r->trace);
	snprintf(key, sizeof(key), "%s:summary", r->sid);
	env.idempotency_key = key;
	env.body_case = BUS__ENVELOPE__BODY_SUMMARY;
	env.summary = &s;
	if (jobs_req_socket(r->edge_ctl_url, &sock) == 0
	    && bus_request(sock, &env, &rep, (int)cfg.request_timeout_ms,
	           SEND_ATTEMPTS)
	        == 0
	    && rep->body_case == BUS__ENVELOPE__BODY_ACK)
		logc_info(&lc, "summary handed to media-edge");
	else {
		metric_inc(rq.edge_failed);
		logc_warnx(&lc, "media-edge did not take the summary (%s)",
		    rep != NULL ? wire_type_name(rep->body_case)
		                : "no answer");
	}
	wire_free(rep);
}

/* Put r on the retry list (or free it when it is done). */
static void
retry_later(struct rec *r, long delay_ms)
{
	r->next_try = ai_mono_ms() + delay_ms;
	pthread_mutex_lock(&rq.mtx);
	r->next = rq.list;
	rq.list = r;
	rq.n++;
	metric_set(rq.pending, (double)rq.n);
	pthread_cond_signal(&rq.cv);
	pthread_mutex_unlock(&rq.mtx);
}

/* One step for r; returns true when r is finished with. */
static bool
step(struct rec *r)
{
	if (r->state == REC_SUMMARY) {
		if (summarize(r) != 0)
			return (false);
		r->version++; /* a new write: new key */
		r->state = REC_SEND;
		jr_put(r);
	}
	if (send_record(r) != 0)
		return (false);
	tell_edge(r);
	if (r->summary == NULL && !r->partial && cfg.reasoner_url[0] != '\0') {
		r->state = REC_SUMMARY;
		r->backoff = cfg.summary_retry_ms;
		return (false);
	}
	return (true);
}

static long
next_backoff(struct rec *r)
{
	if (r->state == REC_SUMMARY)
		return (cfg.summary_retry_ms);
	r->backoff = r->backoff < RETRY_MIN_MS ? RETRY_MIN_MS : r->backoff * 2;
	if (r->backoff > cfg.record_retry_max_ms)
		r->backoff = cfg.record_retry_max_ms;
	return (r->backoff);
}

/* Job thread: the first attempt, right after the call. */
static void
record_first(void *arg)
{
	struct rec *r = arg;

	/* journalled before anything is asked of a peer: from now on the
	 * record survives us, whatever a summary or a send may take */
	jr_put(r);
	if (cfg.reasoner_url[0] != '\0' && !r->partial
	    && summarize(r) == 0)
		jr_put(r); /* with its summary */
	if (step(r))
		rec_done(r);
	else
		retry_later(r, next_backoff(r));
}

/* The record thread: retries whatever is due, one at a time. */
static void *
record_main(void *arg)
{
	struct rec    **pp, *r;
	struct timespec ts;
	int64_t         now, first;

	(void)arg;
	pthread_mutex_lock(&rq.mtx);
	while (!rq.stop) {
		now = ai_mono_ms();
		first = now + 1000;
		for (pp = &rq.list; (r = *pp) != NULL; pp = &r->next) {
			if (r->next_try <= now)
				break;
			if (r->next_try < first)
				first = r->next_try;
		}
		if (r == NULL) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (first - now) * 1000000;
			ts.tv_sec += ts.tv_nsec / 1000000000;
			ts.tv_nsec %= 1000000000;
			pthread_cond_timedwait(&rq.cv, &rq.mtx, &ts);
			continue;
		}
		*pp = r->next;
		rq.n--;
		pthread_mutex_unlock(&rq.mtx);
		if (step(r)) {
			rec_done(r);
			pthread_mutex_lock(&rq.mtx);
			metric_set(rq.pending, (double)rq.n);
			continue;
		}
		retry_later(r, next_backoff(r));
		pthread_mutex_lock(&rq.mtx);
	}
	pthread_mutex_unlock(&rq.mtx);
	return (NULL);
}

/* Queue every record of the journal without its "done" entry. */
static int
jr_replay(void)
{
	json_t     *wanted = json_object(), *o, *v;
	const char *op, *id;
	struct rec *r;
	void       *buf;
	size_t      len;
	off_t       off = 0, next;
	long        bad = 0, n = 0;
	int         rv;

	while ((rv = journal_read(&jr.j, off, &buf, &len, &next)) == 1) {
		o = json_loadb(buf, len, 0, NULL);
		free(buf);
		off = next;
		if (json_unpack(o, "{s:s,s:s}", "op", &op, "id", &id) != 0) {
			bad++;
			json_decref(o);
			continue;
		}
		if (strcmp(op, "put") == 0)
			json_object_set(wanted, id, o);
		else
			json_object_del(wanted, id);
		json_decref(o);
	}
	json_object_foreach(wanted, id, v)
	{
		if ((r = rec_from_json(v)) == NULL) {
			bad++;
			continue;
		}
		json_object_set_new(jr.open, id, json_true());
		metric_inc(rq.replayed);
		retry_later(r, 0);
		n++;
	}
	json_decref(wanted);
	if (bad > 0)
		log_warnx(
		    "record journal: %ld entries unreadable, skipped", bad);
	if (n == 0)
		(void)journal_reset(&jr.j);
	else
		log_info("record journal: %ld call records to send again", n);
	return (rv == -1 ? -1 : 0);
}

int
record_start(void)
{
	rq.pending = metrics_gauge1("ai_records_pending",
	    "Call records or summaries waiting for persister or reasoner");
	rq.sent = metrics_counter1("ai_records_stored_total",
	    "Call records acknowledged by persister");
	rq.failed = metrics_counter1("ai_records_lost_total",
	    "Call records still unacknowledged when the process stopped");
	rq.turns_failed = metrics_counter1("ai_turns_unstored_total",
	    "Transcript turns persister did not acknowledge");
	rq.edge_failed = metrics_counter1("ai_summaries_undelivered_total",
	    "Summaries media-edge did not take for the business notification");
	rq.duplicate = metrics_counter1("ai_records_duplicate_total",
	    "Call record versions persister had stored before (sent again "
	    "as the next version)");
	rq.unjournaled = metrics_counter1("ai_records_unjournaled_total",
	    "Call records the journal could not take (kept in memory only)");
	rq.replayed = metrics_counter1("ai_records_replayed_total",
	    "Call records read back from the journal at start");
	if (cfg.journal_dir[0] != '\0' && cfg.persister_url[0] != '\0') {
		if (journal_open(&jr.j, cfg.journal_dir, cfg.journal_max_bytes)
		    != 0)
			return (-1);
		jr.on = true;
		jr.open = json_object();
		if (jr_replay() != 0)
			return (-1);
	}
	if (pthread_create(&rq.thread, NULL, record_main, NULL) != 0) {
		log_warnx("cannot start the record thread");
		return (-1);
	}
	rq.started = true;
	return (0);
}

/* Join the record thread by the monotonic time until: 0, or -1 if it is
 * still running then. */
static int
join_by(int64_t until)
{
	struct timespec ts;
	long            left = (long)(until - ai_mono_ms());

	util_deadline(&ts, CLOCK_REALTIME, left > 0 ? left : 0);
	return (pthread_timedjoin_np(rq.thread, NULL, &ts) == 0 ? 0 : -1);
}

void
record_stop(int64_t until)
{
	struct rec *r;

	if (!rq.started)
		return;
	pthread_mutex_lock(&rq.mtx);
	rq.stop = true;
	pthread_cond_broadcast(&rq.cv);
	pthread_mutex_unlock(&rq.mtx);
	/* The thread may be inside a request to persister or reasoner (a
	 * summary can take AI_REASON_TIMEOUT_MS twice): at until the
	 * request sockets close, which ends it. */
	if (join_by(until) != 0) {
		log_warnx("shutdown: a call record request still waits; "
		          "closing the request sockets");
		jobs_abort_requests();
		if (join_by(ai_mono_ms() + 2 * cfg.request_timeout_ms) != 0) {
			/* its record stays in the journal (taken at the
			 * next start), or is lost without one */
			log_warnx("shutdown: the record thread did not stop; "
			          "left behind");
			rq.started = false;
			return;
		}
	}
	rq.started = false;
	/* One last try each while there is time; what is not stored stays
	 * in the journal for the next start, or is lost with this process
	 * without one. */
	rq.until = until;
	while ((r = rq.list) != NULL) {
		struct log_ctx lc = { r->sid, r->trace };
		bool           sent;

		rq.list = r->next;
		sent = r->state == REC_SEND && ai_mono_ms() < until
		    && send_record(r) == 0;
		if (sent
		    && (r->summary != NULL || r->partial
		        || cfg.reasoner_url[0] == '\0')) {
			rec_done(r);
			continue;
		}
		if (jr.on)
			logc_warnx(&lc,
			    "call record kept in the journal for "
			    "the next start");
		else if (r->state == REC_SEND && !sent) {
			metric_inc(rq.failed);
			logc_errorx(&lc, "call record lost at shutdown");
		}
		rec_free(r);
	}
	rq.n = 0;
	if (jr.on) {
		journal_close(&jr.j);
		json_decref(jr.open);
		jr.on = false;
	}
}

bool
record_backlogged(void)
{
	bool b;

	pthread_mutex_lock(&rq.mtx);
	b = rq.n >= cfg.max_pending_records;
	pthread_mutex_unlock(&rq.mtx);
	return (b);
}

struct turn_job {
	char        sid[AI_SID_MAX];
	char        trace[33];
	struct turn t;
};

/* Job thread. */
static void
turn_run(void *arg)
{
	struct turn_job    *j = arg;
	Bus__Envelope       env = BUS__ENVELOPE__INIT, *rep = NULL;
	Bus__TranscriptTurn tt = BUS__TRANSCRIPT_TURN__INIT;
	Bus__Turn           tu = BUS__TURN__INIT;
	struct wire_ids     ids;
	struct log_ctx      lc = { j->sid, j->trace };
	nng_socket          s;
	char                key[AI_SID_MAX + 24];

	wire_env_init(&env, &ids, j->sid, j->trace);
	snprintf(key, sizeof(key), "%s:turn:%u", j->sid, j->t.seq);
	env.idempotency_key = key;
	tu.role = j->t.role == RT_ASSISTANT ? "assistant" : "user";
	tu.text = j->t.text;
	tu.seq = j->t.seq;
	tu.at_ms = j->t.at_ms;
	tt.turn = &tu;
	tt.item_id = j->t.item_id;
	env.body_case = BUS__ENVELOPE__BODY_TRANSCRIPT_TURN;
	env.transcript_turn = &tt;
	if (jobs_req_socket(cfg.persister_url, &s) != 0
	    || bus_request(
	           s, &env, &rep, (int)cfg.request_timeout_ms, TURN_ATTEMPTS)
	        != 0
	    || rep->body_case != BUS__ENVELOPE__BODY_ACK) {
		metric_inc(rq.turns_failed);
		logc_warnx(&lc,
		    "turn %u not stored (it stays in the call "
		    "record)",
		    j->t.seq);
	}
	wire_free(rep);
	free(j->t.text);
	free(j->t.item_id);
	free(j);
}

void
record_turn(struct call *c, const struct turn *t)
{
	struct turn_job *j;

	if (cfg.persister_url[0] == '\0')
		return;
	j = xcalloc(1, sizeof(*j));
	snprintf(j->sid, sizeof(j->sid), "%s", c->sid);
	snprintf(j->trace, sizeof(j->trace), "%s", c->trace);
	j->t = *t;
	j->t.text = xstrdup(t->text);
	j->t.item_id = xstrdup(t->item_id);
	jobs_push_kept("turn", turn_run, j);
}

void
record_finish(struct call *c, const char *why)
{
	struct rec *r;

	if (cfg.persister_url[0] == '\0')
		return;
	r = xcalloc(1, sizeof(*r));
	snprintf(r->sid, sizeof(r->sid), "%s", c->sid);
	snprintf(r->trace, sizeof(r->trace), "%s", c->trace);
	r->direction = c->direction;
	r->started_at_ms = c->started_at_ms;
	r->ended_at_ms = wire_now_ms();
	if (r->started_at_ms <= 0 || r->started_at_ms > r->ended_at_ms)
		r->started_at_ms
		    = r->ended_at_ms - (ai_mono_ms() - c->t_start);
	r->tr = c->tr; /* moved */
	r->usage = c->usage;
	transcript_init(&c->tr, 1);
	r->objective = c->objective != NULL ? xstrdup(c->objective) : NULL;
	r->answered_by
	    = c->answered_by != NULL ? xstrdup(c->answered_by) : NULL;
	r->end_reason = xstrdup(c->end_reason != NULL ? c->end_reason : why);
	r->outcome = c->outcome != NULL ? xstrdup(c->outcome) : NULL;
	r->edge_ctl_url
	    = c->edge_ctl_url != NULL ? xstrdup(c->edge_ctl_url) : NULL;
	/* the version sequence is the call's: each holder its own range */
	r->holder = c->holder;
	r->version = c->holder << 16;
	r->partial = strcmp(why, "shutdown") == 0;
	r->failed = r->tr.n == 0
	    && (strcmp(why, "connect_failed") == 0
	        || strcmp(why, "setup_timeout") == 0
	        || strcmp(why, "model_error") == 0);
	jobs_push_kept("record", record_first, r);
}
