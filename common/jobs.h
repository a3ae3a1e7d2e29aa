/*
 * jobs - a bounded queue served by a fixed set of threads, for blocking
 * work (a request to another daemon, HTTP, SQL) that must not run on an
 * lws or nng callback thread; in the spirit of Redis's bio.c.
 *
 *	q = jobs_new(&(struct jobs_conf){ .name = "web", .threads = 4,
 *	    .max_queued = 1024, .thread_init = open_curl, ... });
 *	if (jobs_submit(q, run_create, j) == -1)
 *		answer 503 and free j;		(full or stopping)
 *	...
 *	jobs_free(q, JOBS_DRAIN);		(runs what is queued, joins)
 *
 * A job is a function and its argument: fn(arg, tstate) runs on one of
 * the threads, where tstate is what conf.thread_init returned on that
 * thread (a CURL handle, a PGconn), and fn owns arg from then on.  A
 * submit beyond max_queued waiting jobs, or after stopping started, is
 * refused: it returns -1, the caller keeps arg, and it is counted in
 * jobs_rejected_total{queue}.  jobs_free() with JOBS_DRAIN lets the
 * threads run everything queued; with JOBS_CANCEL the queued jobs are
 * handed to conf.cancel (which frees arg) instead, and only those under
 * way finish.  Either way it joins the threads and frees the queue.
 *
 * Threads: jobs_submit(), jobs_queued() and jobs_is_stopping() from any
 * thread; jobs_new() and jobs_free() from one thread (main), never from
 * a job.
 */
#ifndef JOBS_H
#define JOBS_H

#include <pthread.h>
#include <stdbool.h>

struct jobs;

typedef void (*jobs_fn)(void *arg, void *tstate);

struct jobs_conf {
	const char *name; /* the queue's label in logs and metrics */
	int         threads; /* >= 1 */
	int         max_queued; /* waiting jobs, >= 1 */
	/* On each new thread; its result is that thread's tstate.  NULL:
	 * tstate is NULL. */
	void *(*thread_init)(void *arg, int n);
	/* On each thread as it ends, with its tstate.  May be NULL. */
	void (*thread_fini)(void *arg, void *tstate);
	/* A job never run (JOBS_CANCEL): frees it.  NULL: free(arg). */
	void (*cancel)(jobs_fn fn, void *arg);
	void *arg; /* given to thread_init and thread_fini */
};

enum jobs_stop {
	JOBS_DRAIN, /* run every queued job, then end */
	JOBS_CANCEL, /* cancel queued jobs; let running ones finish */
};

/* Starts conf->threads threads; NULL (logged) if one cannot start.
 * conf is copied (name included). */
struct jobs *jobs_new(const struct jobs_conf *conf);
/* Queue fn(arg); 0, or -1 when full or stopping (counted; arg stays
 * the caller's).  Never blocks but on the queue's mutex. */
int jobs_submit(struct jobs *, jobs_fn fn, void *arg);
/* A jobs_submit() now would be taken (it may not be by the time it
 * comes): for retrying without being counted refused each time. */
bool jobs_has_room(struct jobs *);
/* Jobs queued or running. */
long jobs_queued(struct jobs *);
/* True once jobs_free() has begun: long jobs may give up early. */
bool jobs_is_stopping(struct jobs *);
/* Stop as how says, join the threads, free q.  NULL is a no-op.
 * Blocks until the running jobs return. */
void jobs_free(struct jobs *q, enum jobs_stop how);

/*
 * One background thread that works in rounds (a maintenance loop):
 *
 *	static void
 *	maint_main(struct jobs_bg *bg, void *arg)
 *	{
 *		while (!jobs_bg_nap(bg, 1000))
 *			one_round(arg);
 *	}
 *	jobs_bg_start(&p->maint, "maintenance", maint_main, p);
 *	...
 *	jobs_bg_stop(&p->maint);	(wakes the nap, joins)
 *
 * jobs_bg_nap() sleeps up to ms, ended early by jobs_bg_kick() (from
 * any thread; a kick while the thread works ends its next nap at once)
 * or by jobs_bg_stop(); it returns true once stopping.  The struct is
 * the caller's; zeroed, jobs_bg_stop() on it is a no-op.
 */
struct jobs_bg {
	pthread_t       thread;
	pthread_mutex_t lock;
	pthread_cond_t  cond;
	bool            started;
	bool            stopping, kicked; /* {lock} */
	void (*fn)(struct jobs_bg *, void *);
	void *arg;
};

/* 0, or -1 (logged under name) when the thread cannot start. */
int  jobs_bg_start(struct jobs_bg *, const char *name,
     void (*fn)(struct jobs_bg *, void *), void *arg);
bool jobs_bg_nap(struct jobs_bg *, long ms); /* the thread only */
bool jobs_bg_is_stopping(struct jobs_bg *); /* any thread */
void jobs_bg_kick(struct jobs_bg *); /* any thread */
void jobs_bg_stop(struct jobs_bg *); /* the starting thread */

#endif
