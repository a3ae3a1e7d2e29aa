/*
 * ctl.c - media-edge's own request socket (EDGE_LISTEN_URL), served by
 * common/svc: Ping there, HangUp and Summary here.  A HangUp is handed to the
 * lws thread, which closes that call's stream with a normal close (and
 * SessionEnd follows as for any closed stream); the reply does not wait
 * for it.
 *
 * svc worker threads: never touch a call, only the event queue.
 */
#include <stdlib.h>
#include <string.h>

#include "edge.h"
#include "log.h"
#include "svc.h"
#include "xmalloc.h"

int
ctl_handle(
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
