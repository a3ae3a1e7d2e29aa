/*
 * evloop.c - the libev loop under a libwebsockets context (see
 * evloop.h): libev is dlopen()ed, an epoll loop is created and handed to
 * lws as its foreign loop, and each service turn runs it once.
 *
 * lws 4.1's libev plugin re-arms its one ev timer only when that timer
 * fires (or after I/O): an lws_sul scheduled earlier than the armed
 * deadline, with no I/O meanwhile, would run late, up to that deadline.
 * A tick sul, rescheduled every EVLOOP_TICK_MS, keeps the armed deadline
 * that close, so no timer runs more than a tick late (poll has no such
 * problem: lws_service() computes its wait from the earliest sul).
 *
 * Only the three libev entry points used are resolved, with the values
 * of EVBACKEND_EPOLL and EVRUN_ONCE from ev.h (stable since libev 4.0),
 * so libev's headers are not needed either.
 */
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"

#define EV_BACKEND_EPOLL 0x4u
#define EV_RUN_NOWAIT 1
#define EV_RUN_ONCE 2
#define EVLOOP_TICK_MS 100

static struct {
	void *lib;
	void *loop;
	void *(*loop_new)(unsigned);
	int (*run)(void *, int);
	void (*destroy)(void *);
	struct lws_context    *ctx; /* the tick's; service thread */
	lws_sorted_usec_list_t tick;
	struct timespec        next; /* paced: earliest next turn */
} ev;

static void
tick_cb(lws_sorted_usec_list_t *sul)
{
	lws_sul_schedule(
	    ev.ctx, 0, sul, tick_cb, EVLOOP_TICK_MS * LWS_US_PER_MS);
}

static bool
ev_load(void)
{
	if (ev.lib == NULL
	    && (ev.lib = dlopen("libev.so.4", RTLD_NOW | RTLD_GLOBAL)) == NULL)
		return (false);
	ev.loop_new = (void *(*)(unsigned))dlsym(ev.lib, "ev_loop_new");
	ev.run = (int (*)(void *, int))dlsym(ev.lib, "ev_run");
	ev.destroy = (void (*)(void *))dlsym(ev.lib, "ev_loop_destroy");
	if (ev.loop_new == NULL || ev.run == NULL || ev.destroy == NULL
	    || (ev.loop = ev.loop_new(EV_BACKEND_EPOLL)) == NULL) {
		dlclose(ev.lib);
		memset(&ev, 0, sizeof(ev));
		return (false);
	}
	return (true);
}

bool
evloop_open(const char *mode)
{
	if (ev.loop == NULL && mode != NULL && strcmp(mode, "libev") == 0
	    && !ev_load())
		log_warnx("event loop: libev unavailable (%s); using poll",
		    "libev.so.4 or its epoll backend");
	if (ev.loop != NULL)
		log_info("event loop: epoll (libev)");
	else
		log_info("event loop: poll");
	return (ev.loop != NULL);
}

bool
evloop_active(void)
{
	return (ev.loop != NULL);
}

void
evloop_lws_info(struct lws_context_creation_info *info)
{
	if (ev.loop == NULL)
		return;
	info->options |= LWS_SERVER_OPTION_LIBEV;
	info->foreign_loops = &ev.loop;
}

int
evloop_service(struct lws_context *ctx)
{
	if (ev.loop != NULL) {
		if (ev.ctx != ctx) {
			/* first turn: before any I/O arms lws's ev timer */
			ev.ctx = ctx;
			memset(&ev.tick, 0, sizeof(ev.tick));
			tick_cb(&ev.tick);
		}
		(void)ev.run(ev.loop, EV_RUN_ONCE);
		return (0);
	}
	return (lws_service(ctx, 0) < 0 ? -1 : 0);
}

int
evloop_service_paced(struct lws_context *ctx, long tick_ms)
{
	int rv;

	if (tick_ms <= 0)
		return (evloop_service(ctx));
	if (ev.next.tv_sec != 0)
		while (clock_nanosleep(
		           CLOCK_MONOTONIC, TIMER_ABSTIME, &ev.next, NULL)
		    == EINTR)
			;
	rv = evloop_service(ctx);
	/* a second pass without waiting: the writes the first one asked for
	 * (lws_callback_on_writable) go out in this turn, not a tick later */
	if (rv == 0 && ev.loop != NULL)
		(void)ev.run(ev.loop, EV_RUN_NOWAIT);
	else if (rv == 0 && lws_service(ctx, -1) < 0)
		rv = -1;
	clock_gettime(CLOCK_MONOTONIC, &ev.next);
	ev.next.tv_nsec += (tick_ms % 1000) * 1000000L;
	ev.next.tv_sec += tick_ms / 1000 + ev.next.tv_nsec / 1000000000L;
	ev.next.tv_nsec %= 1000000000L;
	return (rv);
}

void
evloop_detach(void)
{
	if (ev.ctx == NULL)
		return;
	lws_sul_cancel(&ev.tick);
	ev.ctx = NULL;
}

void
evloop_close(void)
{
	if (ev.loop == NULL)
		return;
	ev.destroy(ev.loop);
	ev.loop = NULL;
}

int
evloop_adopt_fd(
    struct lws_context *ctx, int fd, const char *protocol, const char *what)
{
	lws_sock_file_fd_type dfd;
	struct lws_vhost     *vh;

	if ((dfd.filefd = dup(fd)) == -1) {
		log_warn("%s: dup", what);
		return (-1);
	}
	if ((vh = lws_get_vhost_by_name(ctx, "default")) == NULL
	    || lws_adopt_descriptor_vhost(
	           vh, LWS_ADOPT_RAW_FILE_DESC, dfd, protocol, NULL)
	        == NULL) {
		log_warnx("%s: cannot poll it from the lws thread", what);
		close(dfd.filefd);
		return (-1);
	}
	return (0);
}

int
evloop_fd_callback(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len)
{
	const struct evloop_fd *f = lws_get_protocol(wsi)->user;

	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		f->readable(wsi);
		return (0);
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		return (0);
	default:
		break;
	}
	return (lws_callback_http_dummy(wsi, reason, user, in, len));
}
