/*
 * evq.c - the hand-off of control events (session started or failed, an
 * ai-session gone, hang-ups, web and summary results) from nng and
 * worker threads to the lws service thread: a list under one mutex.
 * Audio never goes through it: the lws thread receives the sub socket
 * itself (hop.c).
 *
 * Pushers never block on anything but the mutex, and wake the loop with
 * lws_cancel_service() only when the queue was idle, so a burst costs one
 * wake-up.  The lws thread takes everything at once on
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED.  The events are one per call event
 * (at most a few per call), so the list is bounded by the calls.
 */
#include <stdlib.h>

#include "edge.h"

void
evq_init(struct evq *q)
{
	pthread_mutex_init(&q->lock, NULL);
}

void
evq_fini(struct evq *q)
{
	struct ev *ev;

	while ((ev = q->first) != NULL) {
		q->first = ev->next;
		free(ev);
	}
	pthread_mutex_destroy(&q->lock);
}

void
evq_set_ctx(struct evq *q, struct lws_context *ctx)
{
	pthread_mutex_lock(&q->lock);
	q->ctx = ctx;
	pthread_mutex_unlock(&q->lock);
}

/* Called with the lock held. */
static void
wake(struct evq *q)
{
	if (!q->woken && q->ctx != NULL) {
		q->woken = true;
		lws_cancel_service(q->ctx);
	}
}

/* Any thread. */
void
evq_push(struct evq *q, struct ev *ev)
{
	ev->next = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->last != NULL)
		q->last->next = ev;
	else
		q->first = ev;
	q->last = ev;
	wake(q);
	pthread_mutex_unlock(&q->lock);
}

/* lws service thread: the whole event list (the caller frees each). */
struct ev *
evq_take(struct evq *q)
{
	struct ev *evs;

	pthread_mutex_lock(&q->lock);
	evs = q->first;
	q->first = q->last = NULL;
	q->woken = false;
	pthread_mutex_unlock(&q->lock);
	return (evs);
}
