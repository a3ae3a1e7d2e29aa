/*
 * dispatch.c - every bus message that comes to media-edge, by body:
 *
 *   on our request socket (EDGE_LISTEN_URL, served by common/svc, which
 *   answers Ping), dispatch_request():
 *	HangUp		-> EV_HANGUP: the lws thread closes the call's stream
 *			   with a normal close (SessionEnd follows as for any
 *			   closed stream) and hangs up through the provider;
 *			   the reply does not wait for it
 *	Summary		-> EV_SUMMARY: notification and /events push
 *   on the sub socket of the audio hop (hop.c), per call:
 *	AudioBatch items Audio, Mark, Clear -> dispatch_item(): the call's
 *			   outgoing queue (calls.c); SendDigits -> keys.c;
 *			   AudioAck: the caller frames kept for a move
 *			   (calls.c, replay.c)
 *	TranscriptTurn	-> dispatch_message(): /events (events.c)
 *   anything else is answered UNSUPPORTED or counted as bus_unexpected.
 *
 * Threads: dispatch_request() on svc worker threads (never touches a
 * call, only the event queue); dispatch_item() and dispatch_message() on
 * the lws service thread.
 */
#include <stdlib.h>
#include <string.h>

#include "edge.h"
#include "log.h"
#include "metrics.h"
#include "svc.h"
#include "wire.h"
#include "xmalloc.h"

int
dispatch_request(
    struct svc *svc, const Bus__Envelope *in, struct reply *r, void *worker)
{
	struct edge *e = svc_arg(svc);
	struct ev   *ev;

	(void)worker;
	switch (in->body_case) {
	case BUS__ENVELOPE__BODY_HANG_UP:
		if (in->call_sid[0] == '\0'
		    || strlen(in->call_sid) >= EDGE_SID_MAX) {
			reply_error(r, BUS__ERROR__CODE__BAD_REQUEST,
			    "HangUp needs a call sid");
			return (0);
		}
		ev = xcalloc(1, sizeof(*ev));
		ev->kind = EV_HANGUP;
		snprintf(
		    ev->call_sid, sizeof(ev->call_sid), "%s", in->call_sid);
		snprintf(
		    ev->text, sizeof(ev->text), "%s", in->hang_up->reason);
		ev->failed = in->hang_up->failed;
		evq_push(&e->evq, ev);
		reply_ack(r, false, false);
		return (0);
	case BUS__ENVELOPE__BODY_SUMMARY:
		/* ai-session's summary: the notification and the /events
		 * push happen on the lws thread, which owns both. */
		if (in->call_sid[0] == '\0'
		    || strlen(in->call_sid) >= EDGE_SID_MAX) {
			reply_error(r, BUS__ERROR__CODE__BAD_REQUEST,
			    "Summary needs a call sid");
			return (0);
		}
		ev = xcalloc(1, sizeof(*ev));
		ev->kind = EV_SUMMARY;
		snprintf(
		    ev->call_sid, sizeof(ev->call_sid), "%s", in->call_sid);
		ev->body = events_summary_text(in->call_sid, in->summary);
		evq_push(&e->evq, ev);
		reply_ack(r, false, false);
		return (0);
	default:
		reply_error(r, BUS__ERROR__CODE__UNSUPPORTED,
		    "media-edge does not take %s", "this request");
		return (0);
	}
}

/* lws thread: one model item for its call. */
void
dispatch_item(void *arg, const Bus__BatchItem *it, const char *what)
{
	struct edge *e = arg;
	struct call *c;

	if ((c = call_find(e, it->call_sid)) == NULL || c->closing) {
		/* a late ack of a call that is gone drops no audio */
		if (it->item_case != BUS__BATCH_ITEM__ITEM_AUDIO_ACK)
			edge_dropped(e, "unrouted", 1);
		if (it->item_case == BUS__BATCH_ITEM__ITEM_SEND_DIGITS)
			keys_dropped(e); /* the call ended first */
		return;
	}
	switch (it->item_case) {
	case BUS__BATCH_ITEM__ITEM_AUDIO:
		if (it->audio->payload.len > 0)
			call_send_media(c, it->audio->payload.data,
			    it->audio->payload.len);
		break;
	case BUS__BATCH_ITEM__ITEM_MARK:
		call_send_mark(c, it->mark->name);
		break;
	case BUS__BATCH_ITEM__ITEM_CLEAR:
		call_send_clear(c);
		break;
	case BUS__BATCH_ITEM__ITEM_SEND_DIGITS:
		keys_send(c, it->send_digits);
		break;
	case BUS__BATCH_ITEM__ITEM_AUDIO_ACK:
		call_audio_ack(c, it->audio_ack);
		break;
	default:
		log_warnx(
		    "bad input on the sub socket (bus_unexpected): %s", what);
		edge_bad_input(e, "bus_unexpected");
		break;
	}
}

/* lws thread: a per-call message that is not audio. */
void
dispatch_message(void *arg, const char *sid, const Bus__Envelope *env)
{
	struct edge *e = arg;
	struct call *c;

	if (env->body_case == BUS__ENVELOPE__BODY_TRANSCRIPT_TURN) {
		if ((c = call_find(e, sid)) != NULL)
			call_keep_turn(c, env->transcript_turn->turn);
		events_turn(e, sid, env->transcript_turn);
		return;
	}
	if ((c = call_find(e, sid)) == NULL || c->closing) {
		edge_dropped(e, "unrouted", 1);
		return;
	}
	log_warnx("bad input on the sub socket (bus_unexpected): %s",
	    wire_type_name(env->body_case));
	edge_bad_input(e, "bus_unexpected");
}
