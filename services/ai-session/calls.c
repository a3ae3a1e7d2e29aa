/*
 * calls.c - the table of calls, keyed by call sid.
 *
 * The only structure the svc workers and the lws service thread share.
 * A worker creates a call (CALL_NEW), reserves its place here, dials
 * and subscribes, then marks it live and hands it to the lws thread with
 * a CMD_START.  From then on only the lws thread uses the call, and only
 * it removes and frees it.  A call that never became live is removed and
 * freed by the worker that created it; the lws thread never sees it,
 * because calls_find_live() skips it.  One mutex guards the buckets and
 * the fields marked {calls} in ai.h.
 *
 * The sids of the last ENDED_MAX calls removed are remembered, so that a
 * SessionEnd for a call that ended here is acknowledged while one for a
 * call we never held is answered NOT_FOUND: with several ai-sessions
 * behind one address, media-edge then tries again until the owner gets
 * it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ai.h"
#include "metrics.h"
#include "xmalloc.h"

#define NBUCKETS 4096 /* power of two */
#define ENDED_MAX 4096

static pthread_mutex_t calls_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct call    *buckets[NBUCKETS]; /* {calls} */
static long            ncalls; /* {calls} */
static char            ended_sids[ENDED_MAX][AI_SID_MAX]; /* {calls} ring */
static unsigned        ended_next; /* {calls} */

static unsigned
hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s != '\0')
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return (h & (NBUCKETS - 1));
}

struct call *
call_new(const char *sid, const char *trace)
{
	struct call *c = xcalloc(1, sizeof(*c));

	snprintf(c->sid, sizeof(c->sid), "%s", sid);
	snprintf(c->trace, sizeof(c->trace), "%s", trace != NULL ? trace : "");
	c->lc.call_sid = c->sid;
	c->lc.trace_id = c->trace;
	c->t_start = ai_mono_ms();
	ring_init(&c->inq, (size_t)cfg.start_buffer_ms * 8);
	barge_init(&c->barge, (unsigned)cfg.mark_min_ms);
	transcript_init(&c->tr, 1);
	metric_inc(st.in_state[CALL_NEW]); /* c->state: CALL_NEW (0) */
	return (c);
}

void
call_free(struct call *c)
{
	if (c == NULL)
		return;
	metric_dec(st.in_state[c->state]);
	ring_fini(&c->inq);
	transcript_fini(&c->tr);
	free(c->stream_sid);
	free(c->edge_ctl_url);
	free(c->edge_topic);
	free(c->answered_by);
	free(c->instructions);
	free(c->objective);
	free(c->voicemail_message);
	free(c->voice);
	free(c->language);
	free(c->hangup_reason);
	free(c->end_reason);
	free(c->outcome);
	free(c);
}

static struct call *
find_locked(const char *sid)
{
	struct call *c;

	for (c = buckets[hash(sid)]; c != NULL; c = c->hnext)
		if (strcmp(c->sid, sid) == 0)
			return (c);
	return (NULL);
}

int
calls_reserve(struct call *c, long max, struct call **existing)
{
	struct call *old;
	unsigned     h = hash(c->sid);
	int          rv = 0;

	pthread_mutex_lock(&calls_mtx);
	if ((old = find_locked(c->sid)) != NULL) {
		*existing = old;
		rv = old->live ? 1 : 2;
	} else if (ncalls >= max)
		rv = -1;
	else {
		c->hnext = buckets[h];
		buckets[h] = c;
		ncalls++;
	}
	pthread_mutex_unlock(&calls_mtx);
	return (rv);
}

void
calls_remove(struct call *c)
{
	struct call **pp;

	pthread_mutex_lock(&calls_mtx);
	for (pp = &buckets[hash(c->sid)]; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == c) {
			*pp = c->hnext;
			ncalls--;
			memcpy(ended_sids[ended_next], c->sid, AI_SID_MAX);
			ended_next = (ended_next + 1) % ENDED_MAX;
			break;
		}
	}
	pthread_mutex_unlock(&calls_mtx);
}

/* Under calls_mtx: did sid end here lately? */
static bool
ended_locked(const char *sid)
{
	unsigned i;

	for (i = 0; i < ENDED_MAX && ended_sids[i][0] != '\0'; i++)
		if (strcmp(ended_sids[i], sid) == 0)
			return (true);
	return (false);
}

struct call *
calls_find_live(const char *sid)
{
	struct call *c;

	pthread_mutex_lock(&calls_mtx);
	c = find_locked(sid);
	if (c != NULL && !c->live)
		c = NULL;
	pthread_mutex_unlock(&calls_mtx);
	return (c);
}

bool
calls_set_live(struct call *c)
{
	bool ended;

	pthread_mutex_lock(&calls_mtx);
	c->live = true;
	ended = c->end_requested;
	pthread_mutex_unlock(&calls_mtx);
	return (ended);
}

int
calls_request_end(const char *sid)
{
	struct call *c;
	int          rv = -1;

	pthread_mutex_lock(&calls_mtx);
	if ((c = find_locked(sid)) != NULL && !c->end_requested) {
		c->end_requested = true;
		rv = c->live ? 0 : 1;
	} else if (c == NULL && !ended_locked(sid))
		rv = -2;
	pthread_mutex_unlock(&calls_mtx);
	return (rv);
}

long
calls_count(void)
{
	long n;

	pthread_mutex_lock(&calls_mtx);
	n = ncalls;
	pthread_mutex_unlock(&calls_mtx);
	return (n);
}

void
calls_foreach_live(void (*fn)(struct call *, void *), void *arg)
{
	struct call *c, **tmp;
	size_t       n = 0, i;
	unsigned     b;

	/* Collect first: fn may remove calls, which takes the lock. */
	pthread_mutex_lock(&calls_mtx);
	tmp = xcalloc((size_t)ncalls + 1, sizeof(*tmp));
	for (b = 0; b < NBUCKETS; b++)
		for (c = buckets[b]; c != NULL; c = c->hnext)
			if (c->live)
				tmp[n++] = c;
	pthread_mutex_unlock(&calls_mtx);
	for (i = 0; i < n; i++)
		fn(tmp[i], arg);
	free(tmp);
}

void
calls_free_all(void)
{
	struct call *c;
	unsigned     b;

	pthread_mutex_lock(&calls_mtx);
	for (b = 0; b < NBUCKETS; b++) {
		while ((c = buckets[b]) != NULL) {
			buckets[b] = c->hnext;
			call_free(c);
		}
	}
	ncalls = 0;
	pthread_mutex_unlock(&calls_mtx);
}
