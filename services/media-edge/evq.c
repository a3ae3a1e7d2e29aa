/*
 * evq.c - the hand-off from nng and worker threads to the lws service
 * thread: a bounded ring of bus messages plus a list of control events,
 * under one mutex.
 *
 * Pushers (nng callbacks, request workers, svc workers) never block on
 * anything but the mutex, and wake the loop with lws_cancel_service()
 * only when the queue was idle, so a burst of audio costs one wake-up,
 * not one per message.  The lws thread takes everything at once on
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED.  A full ring drops the new message
 * (late audio is worse than lost audio) and counts it.
 */
#include <stdlib.h>

#include "edge.h"
#include "xmalloc.h"

void
evq_init(struct evq *q, size_t cap)
{
	pthread_mutex_init(&q->lock, NULL);
	q->ring = xcalloc(cap, sizeof(*q->ring));
	q->cap = cap;
}

void
evq_fini(struct evq *q)
{
	struct ev *ev;

	while (q->count > 0) {
		nng_msg_free(q->ring[q->head]);
		q->head = (q->head + 1) % q->cap;
		q->count--;
	}
	while ((ev = q->first) != NULL) {
		q->first = ev->next;
		free(ev);
	}
	free(q->ring);
	q->ring = NULL;
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

/* Any thread; never blocks beyond the mutex. */
void
evq_push_msg(struct evq *q, nng_msg *msg)
{
	pthread_mutex_lock(&q->lock);
	if (q->count == q->cap) {
		q->dropped++;
		pthread_mutex_unlock(&q->lock);
		nng_msg_free(msg);
		return;
	}
	q->ring[(q->head + q->count) % q->cap] = msg;
	q->count++;
	wake(q);
	pthread_mutex_unlock(&q->lock);
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

/*
 * lws service thread.  Returns how many messages were moved into out;
 * *evs gets the whole event list (the caller frees each).  If messages
 * are left over (max reached) the loop is woken again.
 */
size_t
evq_take(struct evq *q, nng_msg **out, size_t max, struct ev **evs)
{
	size_t n = 0;

	pthread_mutex_lock(&q->lock);
	while (n < max && q->count > 0) {
		out[n++] = q->ring[q->head];
		q->head = (q->head + 1) % q->cap;
		q->count--;
	}
	*evs = q->first;
	q->first = q->last = NULL;
	q->woken = false;
	if (q->count > 0)
		wake(q);
	pthread_mutex_unlock(&q->lock);
	return (n);
}
