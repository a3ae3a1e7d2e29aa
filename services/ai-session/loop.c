/*
 * loop.c - the lws service thread that owns every call and every model
 * socket, its command inbox, and the receiving side of the sub socket.
 *
 * Published messages from media-edge (caller frames, mark echoes, call
 * events) are taken by this thread itself: the sub socket's pollable
 * descriptor is adopted into lws, and each turn receives what is queued
 * without blocking (edge.c, common/ahop.c), so a frame is not handed
 * between threads.
 *
 * Other threads never touch a call: they queue a command (start, end,
 * results of blocking work) and wake the thread with lws_cancel_service()
 * (the only lws call allowed off the service thread); a producer wakes it
 * only when the inbox was empty.  A call is live (calls.c) before its
 * CMD_START is queued, so frames that arrive first are queued for it.
 *
 * Per-call timers are lws sorted-usec-list entries on this thread.
 *
 * With AI_EVENT_LOOP=libev the context runs on epoll through lws's libev
 * plugin (common/evloop.c; poll if libev is missing); by default lws's
 * own poll loop, which scans every model socket at each wake-up but
 * measured better at saturation (docs/performance.md).  Either
 * way one turn services what is ready, and the batches it produced are
 * flushed after it; while busy, at most one turn per AI_BATCH_FLUSH_MS
 * (evloop_service_paced), so the thread wakes a bounded number of times
 * a second whatever the number of calls.  At shutdown the context is destroyed
 * on this thread, and the ev loop after it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "ai.h"
#include "evloop.h"
#include "httpd.h"
#include "metrics.h"
#include "wire.h"
#include "xmalloc.h"

#define SUB_BATCH 512 /* caller frames taken per poll wakeup */
#define STOP_GRACE_MS 1000 /* close frames at shutdown */

struct timer {
	lws_sorted_usec_list_t sul; /* first: cast from the callback */
	void (*fn)(struct call *);
	struct call *call;
	void       **slot;
};

static struct {
	struct lws_context *ctx;
	pthread_t           thread;
	bool                started;
	pthread_mutex_t     mtx;
	struct cmd         *cmds; /* {mtx} */
	struct cmd        **cmds_tail; /* {mtx} */
	atomic_bool         stop;
} lp = { .mtx = PTHREAD_MUTEX_INITIALIZER };

struct lws_context *
loop_context(void)
{
	return (lp.ctx);
}

bool
loop_is_lws_thread(void)
{
	return (lp.started && pthread_equal(pthread_self(), lp.thread));
}

struct cmd *
cmd_new(enum cmd_kind kind, const char *sid, const char *text)
{
	struct cmd *c = xcalloc(1, sizeof(*c));

	c->kind = kind;
	snprintf(c->sid, sizeof(c->sid), "%s", sid != NULL ? sid : "");
	c->text = text != NULL ? xstrdup(text) : NULL;
	return (c);
}

void
cmd_free(struct cmd *c)
{
	if (c == NULL)
		return;
	free(c->text);
	free(c->text2);
	if (c->ptr != NULL && c->ptr_free != NULL)
		c->ptr_free(c->ptr);
	free(c);
}

void
loop_push_cmd(struct cmd *c)
{
	bool wake;

	c->next = NULL;
	pthread_mutex_lock(&lp.mtx);
	wake = lp.cmds == NULL;
	*lp.cmds_tail = c;
	lp.cmds_tail = &c->next;
	pthread_mutex_unlock(&lp.mtx);
	if (wake && lp.ctx != NULL)
		lws_cancel_service(lp.ctx);
}

/* lws thread: called on EVENT_WAIT_CANCELLED. */
static void
drain(void)
{
	struct cmd *cmds, *c, *next;

	pthread_mutex_lock(&lp.mtx);
	cmds = lp.cmds;
	lp.cmds = NULL;
	lp.cmds_tail = &lp.cmds;
	pthread_mutex_unlock(&lp.mtx);
	for (c = cmds; c != NULL; c = next) {
		next = c->next;
		session_command(c);
		cmd_free(c);
	}
}

/* lws service thread: the sub socket has messages (or nng closed it):
 * a bounded number, so model sockets get their turn. */
static void
sub_readable(struct lws *wsi)
{
	(void)edge_recv(SUB_BATCH);
}

static const struct evloop_fd sub_fd = { sub_readable };

/* Poll a duplicate of nng's descriptor: lws closes what it adopted. */
static int
adopt_sub(void)
{
	return (evloop_adopt_fd(
	    lp.ctx, edge_recv_fd(), "ai-edge-sub", "edge sub"));
}

static void
timer_cb(lws_sorted_usec_list_t *sul)
{
	struct timer *t = (struct timer *)sul;
	struct call  *c = t->call;
	void (*fn)(struct call *) = t->fn;

	*t->slot = NULL;
	free(t);
	fn(c);
}

void
loop_timer(void **slot, long ms, void (*fn)(struct call *), struct call *c)
{
	struct timer *t = *slot;

	if (t == NULL) {
		t = xcalloc(1, sizeof(*t));
		*slot = t;
	}
	t->fn = fn;
	t->call = c;
	t->slot = slot;
	lws_sul_schedule(
	    lp.ctx, 0, &t->sul, timer_cb, (lws_usec_t)ms * LWS_US_PER_MS);
}

void
loop_timer_cancel(void **slot)
{
	struct timer *t = *slot;

	if (t == NULL)
		return;
	lws_sul_cancel(&t->sul);
	free(t);
	*slot = NULL;
}

static void *
loop_main(void *arg)
{
	int64_t deadline;

	(void)arg;
	/* after each turn, what it published goes out in one message per
	 * media-edge (edge_flush) */
	while (!atomic_load(&lp.stop)) {
		if (evloop_service_paced(lp.ctx, cfg.batch_flush_ms) == -1)
			break;
		edge_flush();
	}
	edge_flush();
	/* calls are ended; let the close frames go out */
	deadline = ai_mono_ms() + STOP_GRACE_MS;
	while (ws_count() > 0 && ai_mono_ms() < deadline)
		if (evloop_service(lp.ctx) == -1)
			break;
	evloop_detach();
	lws_context_destroy(lp.ctx);
	lp.ctx = NULL;
	evloop_close(); /* after the context that used it */
	return (NULL);
}

int
loop_start(void)
{
	static struct lws_protocols      protos[3];
	struct lws_context_creation_info info;

	lp.cmds_tail = &lp.cmds;
	protos[0] = ws_protocol;
	memset(&protos[1], 0, 2 * sizeof(protos[1]));
	protos[1].name = "ai-edge-sub";
	protos[1].callback = evloop_fd_callback;
	protos[1].user = (void *)&sub_fd;
	ws_set_wakeup(drain);
	httpd_log_init();
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protos;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.count_threads = 1;
	if (cfg.openai_ca_file != NULL && cfg.openai_ca_file[0] != '\0')
		info.client_ssl_ca_filepath = cfg.openai_ca_file;
	(void)evloop_open(cfg.event_loop);
	evloop_lws_info(&info);
	if ((lp.ctx = lws_create_context(&info)) == NULL) {
		log_warnx("cannot create the lws context");
		goto fail;
	}
	if (adopt_sub() == -1)
		goto fail;
	if (pthread_create(&lp.thread, NULL, loop_main, NULL) != 0) {
		log_warnx("cannot start the lws service thread");
		goto fail;
	}
	lp.started = true;
	return (0);
fail:
	if (lp.ctx != NULL)
		lws_context_destroy(lp.ctx);
	lp.ctx = NULL;
	evloop_close();
	return (-1);
}

void
loop_stop(void)
{
	if (!lp.started)
		return;
	loop_push_cmd(cmd_new(CMD_SHUTDOWN, NULL, NULL));
	pthread_join(lp.thread, NULL);
	lp.started = false;
	while (lp.cmds != NULL) {
		struct cmd *c = lp.cmds;

		lp.cmds = c->next;
		cmd_free(c);
	}
}

/* lws thread: CMD_SHUTDOWN ends the loop after the calls. */
void
loop_request_stop(void)
{
	atomic_store(&lp.stop, true);
}
