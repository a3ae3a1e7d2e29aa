/*
 * dispatch.c - the request socket (AI_LISTEN_URL): SessionStart and
 * SessionEnd from media-edge; svc.c answers Ping.
 *
 * SessionStart takes the call: the sub socket is connected to the
 * media-edge pub socket named in the request (waiting, bounded, for the
 * pipe) and subscribed to the call sid before we answer, so the caller
 * frames media-edge flushes after our answer all arrive.  A repeated
 * SessionStart for a call we hold is answered the same way again (the
 * first answer was lost); one still being set up gets UNAVAILABLE (try
 * again).  Over AI_MAX_CALLS: OVERLOADED, and media-edge asks another
 * instance.
 *
 * svc worker threads (several at once); they may block, briefly, in
 * edge_attach().
 */
#include <string.h>

#include "ai.h"
#include "metrics.h"
#include "svc.h"
#include "wire.h"
#include "xmalloc.h"

_Atomic(struct svc *) ai_svc;
atomic_bool           ai_stopping;

static const char *
param(const Bus__SessionStart *ss, const char *k1, const char *k2)
{
	size_t i;

	for (i = 0; i < ss->n_params; i++) {
		const char *k = ss->params[i]->key;

		if (k != NULL && (strcmp(k, k1) == 0 || strcmp(k, k2) == 0))
			return (ss->params[i]->value);
	}
	return (NULL);
}

/* A resumed call: its transcript starts with the turns media-edge carried
 * (whole even when persister cannot give them), numbering goes on after
 * the last stored or carried one. */
static void
carry_turns(struct call *c, const Bus__SessionStart *ss)
{
	uint32_t next = ss->resume_from_seq + 1;
	size_t   i;

	if (ss->n_turns == 0 || ss->turns[0] == NULL) {
		transcript_init(&c->tr, next);
		return;
	}
	transcript_init(&c->tr, ss->turns[0]->seq);
	for (i = 0; i < ss->n_turns; i++)
		if (ss->turns[i]->role != NULL && ss->turns[i]->text != NULL)
			(void)transcript_add(&c->tr,
			    strcmp(ss->turns[i]->role, "assistant") == 0
			        ? RT_ASSISTANT
			        : RT_USER,
			    "", ss->turns[i]->text, ss->turns[i]->at_ms);
	if (c->tr.next_seq < next)
		c->tr.next_seq = next;
	c->carried = c->tr.n > 0;
}

static struct call *
call_from_request(const Bus__Envelope *in)
{
	const Bus__SessionStart *ss = in->session_start;
	struct call             *c;
	const char              *ab;

	c = call_new(in->call_sid, in->trace_id);
	c->stream_sid = xstrdup(ss->stream_sid != NULL ? ss->stream_sid : "");
	c->edge_ctl_url
	    = xstrdup(ss->edge_ctl_url != NULL ? ss->edge_ctl_url : "");
	/* a media-edge that takes batches says under which topic */
	c->edge_topic = xstrdup(
	    ss->batch_topic != NULL && abatch_is_topic(ss->batch_topic)
	        ? ss->batch_topic
	        : "");
	c->direction = ss->direction;
	c->provider = ss->provider;
	c->resume = ss->resume;
	c->resume_from_seq = ss->resume_from_seq;
	c->holder = ss->holder;
	c->audio_acks = ss->audio_acks;
	c->started_at_ms
	    = ss->started_at_ms != 0 ? ss->started_at_ms : in->sent_at_ms;
	if ((ab = param(ss, "answered_by", "AnsweredBy")) != NULL)
		c->answered_by = xstrdup(ab);
	if (c->resume)
		carry_turns(c, ss);
	return (c);
}

static void
reply_started(struct reply *r)
{
	bus__session_started__init(&r->u.session_started);
	r->u.session_started.ai_pub_url = (char *)edge_advertise_url();
	r->u.session_started.instance = (char *)svc_instance();
	r->u.session_started.batch_topic = (char *)edge_batch_topic();
	reply_body(
	    r, BUS__ENVELOPE__BODY_SESSION_STARTED, &r->u.session_started);
}

static int
session_start_req(struct svc *s, const Bus__Envelope *in, struct reply *r)
{
	const Bus__SessionStart *ss = in->session_start;
	struct call             *c, *old;
	const char              *url = ss->edge_pub_url;
	int                      rv;
	bool                     ended;

	if (in->call_sid == NULL || in->call_sid[0] == '\0'
	    || strlen(in->call_sid) >= AI_SID_MAX || url == NULL
	    || url[0] == '\0') {
		metric_inc(st.start_failed);
		log_warnx("SessionStart without a usable call sid or "
		          "edge_pub_url; refused");
		reply_error(r, BUS__ERROR__CODE__BAD_REQUEST,
		    "SessionStart "
		    "needs a call sid (< %d chars) and edge_pub_url",
		    AI_SID_MAX);
		return (0);
	}
	/* audio travels only in batches (common/ahop.h) */
	if (ss->batch_topic == NULL || !abatch_is_topic(ss->batch_topic)) {
		metric_inc(st.start_failed);
		log_warnx("SessionStart without a batch topic; refused");
		reply_error(r, BUS__ERROR__CODE__BAD_REQUEST,
		    "SessionStart needs the media-edge's batch_topic");
		return (0);
	}
	if (atomic_load(&ai_stopping)) {
		/* the call goes to another instance */
		reply_error(r, BUS__ERROR__CODE__UNAVAILABLE,
		    "ai-session shutting down");
		return (0);
	}
	if (record_backlogged()) {
		metric_inc(st.overloaded);
		reply_error(r, BUS__ERROR__CODE__OVERLOADED,
		    "call records are waiting for persister");
		return (0);
	}
	c = call_from_request(in);
	if ((rv = calls_reserve(c, cfg.max_calls, &old)) != 0) {
		call_free(c);
		if (rv == 1)
			reply_started(r);
		else if (rv == 2)
			reply_error(r, BUS__ERROR__CODE__UNAVAILABLE,
			    "call is being set up; try again");
		else {
			metric_inc(st.overloaded);
			reply_error(r, BUS__ERROR__CODE__OVERLOADED,
			    "at capacity (%ld calls)", cfg.max_calls);
		}
		return (0);
	}
	if (edge_attach(url, cfg.dial_timeout_ms) != 0
	    || edge_subscribe(c->sid) != 0) {
		calls_remove(c);
		call_free(c);
		metric_inc(st.start_failed);
		reply_error(r, BUS__ERROR__CODE__UNAVAILABLE,
		    "cannot connect to %s", url);
		return (0);
	}
	ended = calls_set_live(c); /* from here on the lws thread owns c */
	metric_inc(st.active);
	metric_inc(st.started);
	svc_active_add(s, 1);
	log_info("call taken (%s, %s)",
	    in->session_start->direction == BUS__DIRECTION__INBOUND
	        ? "inbound"
	        : "outbound",
	    in->session_start->resume ? "resumed" : "new");
	loop_push_cmd(cmd_new(CMD_START, in->call_sid, NULL));
	if (ended) /* media-edge gave up on it while we dialled */
		loop_push_cmd(cmd_new(CMD_END, in->call_sid, "ended early"));
	reply_started(r);
	return (0);
}

static int
session_end_req(const Bus__Envelope *in, struct reply *r)
{
	const char *reason = in->session_end->reason;
	int         rv;

	if (in->call_sid == NULL
	    || (rv = calls_request_end(in->call_sid)) == -1) {
		reply_ack(r, true, false); /* gone already: a retry */
		return (0);
	}
	if (rv == -2) { /* another instance's: media-edge tries again */
		reply_error(r, BUS__ERROR__CODE__NOT_FOUND,
		    "no call %.64s here", in->call_sid);
		return (0);
	}
	if (rv == 1) { /* its SessionStart is still dialling: it ends it */
		reply_ack(r, false, false);
		return (0);
	}
	loop_push_cmd(cmd_new(CMD_END, in->call_sid,
	    reason != NULL && reason[0] != '\0' ? reason : "session end"));
	reply_ack(r, false, false);
	return (0);
}

int
dispatch(struct svc *s, const Bus__Envelope *in, struct reply *r, void *worker)
{
	(void)worker;
	switch (in->body_case) {
	case BUS__ENVELOPE__BODY_SESSION_START:
		return (session_start_req(s, in, r));
	case BUS__ENVELOPE__BODY_SESSION_END:
		return (session_end_req(in, r));
	default:
		log_warnx("request socket: %s is not for ai-session",
		    wire_type_name(in->body_case));
		reply_error(r, BUS__ERROR__CODE__UNSUPPORTED,
		    "ai-session does not handle %s",
		    wire_type_name(in->body_case));
		return (0);
	}
}
