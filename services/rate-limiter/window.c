/*
 * window - rolling-window arithmetic, shared by the database path and
 * the in-memory window that answers while the database is down.
 *
 * A key keeps only its `max` newest hits, newest first: that is all a
 * rolling window needs to say whether one more call fits (fewer than max
 * hits inside it) and when it will (the max-th newest hit leaves the
 * window).  Keys live in a chained hash table of fixed size under one
 * mutex; at max_keys a new key evicts an old one, so memory stays bounded
 * even under a flood of distinct numbers.
 *
 * Threads: window_* take w->lock; rl_eval and rl_decide are pure.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rate-limiter.h"
#include "xmalloc.h"

#define WINDOW_BUCKETS 4096

struct entry {
	struct entry *next;
	char          scope; /* 'p' or 'i' */
	char          hash[RL_HASH_HEX];
	int           n, cap;
	int64_t      *hits; /* newest first, n of them */
};

struct window {
	pthread_mutex_t lock;
	struct entry   *buckets[WINDOW_BUCKETS]; /* {lock} */
	long            nkeys, max_keys; /* {lock} */
	unsigned        evict_cursor; /* {lock} */
};

void
rl_eval(struct rl_key *k, const int64_t *hits, int n, int64_t now)
{
	int i;

	for (i = 0; i < n && hits[i] > now - k->rule.window_ms; i++)
		;
	k->count = i;
	k->retry_ms = 0;
	if (k->rule.max > 0 && i >= k->rule.max)
		k->retry_ms = hits[k->rule.max - 1] + k->rule.window_ms - now;
}

void
rl_decide(
    const struct rl_key *keys, int nkeys, bool counted, struct rl_verdict *v)
{
	int64_t     retry = 0;
	long        left, rem = -1;
	const char *reason = "ok";
	int         i;

	for (i = 0; i < nkeys; i++) {
		const struct rl_key *k = &keys[i];

		if (k->rule.max <= 0)
			continue;
		left = k->rule.max - k->count;
		if (left <= 0) {
			if (strcmp(reason, "ok") == 0)
				reason = strcmp(k->scope, "ip") == 0
				    ? "ip_limit"
				    : "phone_limit";
			if (k->retry_ms > retry)
				retry = k->retry_ms;
			left = 0;
		} else if (counted)
			left--;
		if (rem < 0 || left < rem)
			rem = left;
	}
	v->allowed = strcmp(reason, "ok") == 0;
	v->reason = reason;
	v->remaining = rem < 0 ? 0 : (unsigned)rem;
	/* round up: a client that waits retry_after_s must get in */
	v->retry_after_s = v->allowed ? 0 : (unsigned)((retry + 999) / 1000);
	if (!v->allowed && v->retry_after_s == 0)
		v->retry_after_s = 1;
}

struct window *
window_new(long max_keys)
{
	struct window *w = xcalloc(1, sizeof(*w));

	pthread_mutex_init(&w->lock, NULL);
	w->max_keys = max_keys > 0 ? max_keys : 1;
	return (w);
}

static void
entry_free(struct entry *e)
{
	free(e->hits);
	free(e);
}

void
window_free(struct window *w)
{
	struct entry *e, *next;
	int           i;

	if (w == NULL)
		return;
	for (i = 0; i < WINDOW_BUCKETS; i++) {
		for (e = w->buckets[i]; e != NULL; e = next) {
			next = e->next;
			entry_free(e);
		}
	}
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static unsigned
bucket_of(const struct rl_key *k)
{
	unsigned    h = 2166136261u; /* FNV-1a of an HMAC: uniform */
	const char *p;

	for (p = k->hash; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return ((h ^ (unsigned char)k->scope[0]) % WINDOW_BUCKETS);
}

/* Unlink and free one entry, scanning from a rotating cursor. {lock} */
static void
evict_one(struct window *w)
{
	struct entry *e;
	int           i;

	for (i = 0; i < WINDOW_BUCKETS; i++) {
		w->evict_cursor = (w->evict_cursor + 1) % WINDOW_BUCKETS;
		if ((e = w->buckets[w->evict_cursor]) != NULL) {
			w->buckets[w->evict_cursor] = e->next;
			entry_free(e);
			w->nkeys--;
			return;
		}
	}
}

/* The entry for k, created when create is set. {lock} */
static struct entry *
lookup(struct window *w, const struct rl_key *k, bool create)
{
	struct entry *e;
	unsigned      b = bucket_of(k);

	for (e = w->buckets[b]; e != NULL; e = e->next) {
		if (e->scope == k->scope[0] && strcmp(e->hash, k->hash) == 0)
			return (e);
	}
	if (!create || k->rule.max <= 0)
		return (NULL);
	if (w->nkeys >= w->max_keys)
		evict_one(w);
	e = xcalloc(1, sizeof(*e));
	e->scope = k->scope[0];
	memcpy(e->hash, k->hash, sizeof(e->hash));
	e->cap = k->rule.max < RL_MAX_HITS ? k->rule.max : RL_MAX_HITS;
	e->hits = xcalloc((size_t)e->cap, sizeof(*e->hits));
	e->next = w->buckets[b];
	w->buckets[b] = e;
	w->nkeys++;
	return (e);
}

/* Put now in front; the oldest falls off once cap hits are kept. */
static void
entry_add(struct entry *e, int64_t now)
{
	int keep = e->n < e->cap ? e->n : e->cap - 1;

	memmove(e->hits + 1, e->hits, (size_t)keep * sizeof(*e->hits));
	e->hits[0] = now;
	e->n = keep + 1;
}

void
window_take(struct window *w, struct rl_key *keys, int nkeys, int64_t now,
    bool peek, struct rl_verdict *v)
{
	struct entry *e;
	bool          fits = true;
	int           i;

	pthread_mutex_lock(&w->lock);
	for (i = 0; i < nkeys; i++) {
		e = lookup(w, &keys[i], false);
		rl_eval(&keys[i], e != NULL ? e->hits : NULL,
		    e != NULL ? e->n : 0, now);
		if (keys[i].rule.max > 0 && keys[i].count >= keys[i].rule.max)
			fits = false;
	}
	for (i = 0; fits && !peek && i < nkeys; i++) {
		if ((e = lookup(w, &keys[i], true)) != NULL)
			entry_add(e, now);
	}
	pthread_mutex_unlock(&w->lock);
	rl_decide(keys, nkeys, fits && !peek, v);
}

void
window_record(
    struct window *w, const struct rl_key *keys, int nkeys, int64_t now)
{
	struct entry *e;
	int           i;

	pthread_mutex_lock(&w->lock);
	for (i = 0; i < nkeys; i++) {
		if ((e = lookup(w, &keys[i], true)) != NULL)
			entry_add(e, now);
	}
	pthread_mutex_unlock(&w->lock);
}

void
window_prune(struct window *w, int64_t now, int64_t max_window_ms)
{
	struct entry **ep, *e;
	int            i, j;

	pthread_mutex_lock(&w->lock);
	for (i = 0; i < WINDOW_BUCKETS; i++) {
		for (ep = &w->buckets[i]; (e = *ep) != NULL;) {
			for (j = 0;
			     j < e->n && e->hits[j] > now - max_window_ms; j++)
				;
			e->n = j;
			if (e->n == 0) {
				*ep = e->next;
				entry_free(e);
				w->nkeys--;
			} else
				ep = &e->next;
		}
	}
	pthread_mutex_unlock(&w->lock);
}

long
window_keys(struct window *w)
{
	long n;

	pthread_mutex_lock(&w->lock);
	n = w->nkeys;
	pthread_mutex_unlock(&w->lock);
	return (n);
}
