/*
 * jobs.c - the bounded worker queue of jobs.h: a singly linked FIFO
 * under one mutex and one condition variable the threads wait on; then
 * the background thread (jobs_bg_*), a mutex, a condition variable on
 * the monotonic clock and two flags.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "util.h"
#include "xmalloc.h"

struct job {
	struct job *next;
	jobs_fn     fn;
	void       *arg;
};

struct jobs {
	struct jobs_conf conf;
	char            *name;
	pthread_mutex_t  lock;
	pthread_cond_t   cond;
	struct job      *head, **tail; /* {lock} */
	int              waiting; /* {lock} queued, not yet taken */
	int              running; /* {lock} */
	bool             stop; /* {lock} */
	atomic_bool      stopping; /* mirror of stop, read without lock */
	pthread_t       *threads;
	int              nthreads, next_n; /* next_n: {lock} */
	struct metric   *rejected;
};

static void *
job_main(void *p)
{
	struct jobs *q = p;
	struct job  *j;
	void        *ts = NULL;
	int          n;

	pthread_mutex_lock(&q->lock);
	n = q->next_n++;
	pthread_mutex_unlock(&q->lock);
	if (q->conf.thread_init != NULL)
		ts = q->conf.thread_init(q->conf.arg, n);
	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (q->head == NULL && !q->stop)
			pthread_cond_wait(&q->cond, &q->lock);
		if ((j = q->head) == NULL)
			break; /* stopping and drained */
		if ((q->head = j->next) == NULL)
			q->tail = &q->head;
		q->waiting--;
		q->running++;
		pthread_mutex_unlock(&q->lock);
		j->fn(j->arg, ts);
		free(j);
		pthread_mutex_lock(&q->lock);
		q->running--;
	}
	pthread_mutex_unlock(&q->lock);
	if (q->conf.thread_fini != NULL)
		q->conf.thread_fini(q->conf.arg, ts);
	return (NULL);
}

struct jobs *
jobs_new(const struct jobs_conf *conf)
{
	struct jobs *q = xcalloc(1, sizeof(*q));
	int          i;

	q->conf = *conf;
	q->name = xstrdup(conf->name != NULL ? conf->name : "jobs");
	q->conf.name = q->name;
	if (q->conf.threads < 1)
		q->conf.threads = 1;
	if (q->conf.max_queued < 1)
		q->conf.max_queued = 1;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	q->tail = &q->head;
	atomic_init(&q->stopping, false);
	q->rejected = metric_get(metrics_counter("jobs_rejected_total",
	                             "Jobs refused because their queue was "
	                             "full or stopping, by queue",
	                             "queue"),
	    q->name);
	q->threads = xcalloc((size_t)q->conf.threads, sizeof(pthread_t));
	for (i = 0; i < q->conf.threads; i++) {
		if (pthread_create(&q->threads[i], NULL, job_main, q) != 0) {
			log_warnx("%s: cannot start thread %d", q->name, i);
			jobs_free(q, JOBS_CANCEL);
			return (NULL);
		}
		q->nthreads++;
	}
	return (q);
}

bool
jobs_has_room(struct jobs *q)
{
	bool room;

	pthread_mutex_lock(&q->lock);
	room = !q->stop && q->waiting < q->conf.max_queued;
	pthread_mutex_unlock(&q->lock);
	return (room);
}

int
jobs_submit(struct jobs *q, jobs_fn fn, void *arg)
{
	struct job *j;

	pthread_mutex_lock(&q->lock);
	if (q->stop || q->waiting >= q->conf.max_queued) {
		bool stop = q->stop;

		pthread_mutex_unlock(&q->lock);
		metric_inc(q->rejected);
		log_warnx("%s: job refused, %s", q->name,
		    stop ? "stopping" : "queue full");
		return (-1);
	}
	j = xcalloc(1, sizeof(*j));
	j->fn = fn;
	j->arg = arg;
	*q->tail = j;
	q->tail = &j->next;
	q->waiting++;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return (0);
}

long
jobs_queued(struct jobs *q)
{
	long n;

	pthread_mutex_lock(&q->lock);
	n = q->waiting + q->running;
	pthread_mutex_unlock(&q->lock);
	return (n);
}

bool
jobs_is_stopping(struct jobs *q)
{
	return (atomic_load(&q->stopping));
}

void
jobs_free(struct jobs *q, enum jobs_stop how)
{
	struct job *j, *cancelled = NULL;
	int         i;

	if (q == NULL)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	atomic_store(&q->stopping, true);
	if (how == JOBS_CANCEL) {
		cancelled = q->head;
		q->head = NULL;
		q->tail = &q->head;
		q->waiting = 0;
	}
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	while ((j = cancelled) != NULL) {
		cancelled = j->next;
		if (q->conf.cancel != NULL)
			q->conf.cancel(j->fn, j->arg);
		else
			free(j->arg);
		free(j);
	}
	for (i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	free(q->threads);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q->name);
	free(q);
}

static void *
bg_main(void *p)
{
	struct jobs_bg *bg = p;

	bg->fn(bg, bg->arg);
	return (NULL);
}

int
jobs_bg_start(struct jobs_bg *bg, const char   *name,
    void (*fn)(struct jobs_bg *, void *), void *arg)
{
	pthread_condattr_t ca;

	memset(bg, 0, sizeof(*bg));
	bg->fn = fn;
	bg->arg = arg;
	pthread_mutex_init(&bg->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* no clock jumps */
	pthread_cond_init(&bg->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&bg->thread, NULL, bg_main, bg) != 0) {
		log_warnx("cannot start the %s thread", name);
		pthread_cond_destroy(&bg->cond);
		pthread_mutex_destroy(&bg->lock);
		return (-1);
	}
	bg->started = true;
	return (0);
}

bool
jobs_bg_nap(struct jobs_bg *bg, long ms)
{
	struct timespec ts;
	bool            stop;

	util_deadline(&ts, CLOCK_MONOTONIC, ms);
	pthread_mutex_lock(&bg->lock);
	while (!bg->stopping && !bg->kicked)
		if (pthread_cond_timedwait(&bg->cond, &bg->lock, &ts)
		    == ETIMEDOUT)
			break;
	bg->kicked = false;
	stop = bg->stopping;
	pthread_mutex_unlock(&bg->lock);
	return (stop);
}

bool
jobs_bg_is_stopping(struct jobs_bg *bg)
{
	bool stop;

	pthread_mutex_lock(&bg->lock);
	stop = bg->stopping;
	pthread_mutex_unlock(&bg->lock);
	return (stop);
}

void
jobs_bg_kick(struct jobs_bg *bg)
{
	if (!bg->started)
		return;
	pthread_mutex_lock(&bg->lock);
	bg->kicked = true;
	pthread_cond_signal(&bg->cond);
	pthread_mutex_unlock(&bg->lock);
}

void
jobs_bg_stop(struct jobs_bg *bg)
{
	if (!bg->started)
		return;
	pthread_mutex_lock(&bg->lock);
	bg->stopping = true;
	pthread_cond_broadcast(&bg->cond);
	pthread_mutex_unlock(&bg->lock);
	pthread_join(bg->thread, NULL);
	pthread_cond_destroy(&bg->cond);
	pthread_mutex_destroy(&bg->lock);
	bg->started = false;
}
