/*
 * evloop.h - epoll for a libwebsockets context through lws's libev plugin,
 * with lws's own poll loop as the fallback.
 *
 * Debian's libwebsockets 4.1 polls every socket with poll(2) unless an
 * event library plugin drives it; with a thousand sockets each wake-up
 * scans them all.  libev is loaded at run time with dlopen() (the lws
 * plugin needs it anyway), so nothing is linked for it.
 *
 * One loop per process: the state is process-wide.  Use:
 *
 *	evloop_open(mode);		main, before the context
 *	evloop_lws_info(&info);		main, then lws_create_context()
 *	while (!stop) {			the lws service thread
 *		if (evloop_service(ctx) == -1)
 *			break;
 *		... work after each turn (flush batches) ...
 *	}
 *	evloop_detach();		the service thread, or after it
 *	lws_context_destroy(ctx);	the context first,
 *	evloop_close();			then the ev loop
 *
 * Wake-ups with lws_cancel_service() and lws_sul timers work in both
 * modes (the plugin watches lws's wake pipe and runs its timers; with
 * libev a timer may run up to 100 ms late, see evloop.c).
 */
#ifndef EVLOOP_H
#define EVLOOP_H

#include <stdbool.h>

#include <libwebsockets.h>

/*
 * Choose the loop.  mode "libev" loads libev and creates an epoll ev
 * loop, owned by this module until evloop_close(); any other mode, or
 * libev missing, means lws's poll loop.  Logs which one runs.  Returns
 * true when the libev loop is ready.  Not thread-safe: call once, before
 * the service thread starts.
 */
bool evloop_open(const char *mode);

/* True between a successful evloop_open("libev") and evloop_close(). */
bool evloop_active(void);

/*
 * Add LWS_SERVER_OPTION_LIBEV and the foreign loop to info when the libev
 * loop is ready; leave info alone otherwise.  info->foreign_loops points
 * into this module and stays valid until evloop_close().
 */
void evloop_lws_info(struct lws_context_creation_info *info);

/*
 * One turn of the service thread: ev_run(EV_RUN_ONCE) with libev (lws
 * services what is ready, runs its ripe timers and wake-ups), else
 * lws_service(ctx, 0).  Blocks until something happens:
 * lws_cancel_service() from another thread ends the wait.  Returns 0, or
 * -1 when lws_service() failed (the loop should end).  With libev, the
 * first call schedules a 100 ms lws_sul tick in ctx (see evloop.c).  Service
 * thread only; never use lws_service() directly on a libev context (it would
 * run the ev loop until no watcher is left).
 */
int evloop_service(struct lws_context *ctx);

/*
 * evloop_service() paced for the audio path: while the loop is busy it
 * takes at most one turn every tick_ms.  After a turn it sleeps until
 * tick_ms have passed since the previous turn ended, then services at
 * once everything that became ready meanwhile (no wait: the descriptors
 * are ready), so under load the thread wakes about 1000 / tick_ms times
 * a second whatever the number of calls, instead of once per frame, and
 * the work done after each turn (publishing the audio batches) happens at
 * most that often.  When nothing is ready the turn blocks as
 * evloop_service() does, so an idle daemon costs nothing, and a lone
 * event is serviced as soon as it comes.  Each turn is followed by a pass
 * that does not wait, so the writes a turn asks for (WRITEABLE) go out in
 * the same turn rather than a tick later.  What arrives during the sleep
 * waits at most tick_ms (timers and lws_cancel_service() wake-ups too).
 * tick_ms <= 0: exactly evloop_service().  Service thread only.
 */
int evloop_service_paced(struct lws_context *ctx, long tick_ms);

/*
 * Have the context's "default" vhost poll a duplicate of fd (an nng
 * socket's NNG_OPT_RECVFD, say) as a raw file under protocol: lws closes
 * what it adopted, the caller keeps fd.  what names it in the log lines.
 * 0, or -1 logged.
 */
int evloop_adopt_fd(
    struct lws_context *ctx, int fd, const char *protocol, const char *what);

/*
 * The protocol callback of such a descriptor: on each readable turn it
 * calls the function a struct evloop_fd in the protocol's user pointer
 * names (which takes a bounded number of messages, so the other sockets
 * get their turn; the descriptor stays readable while more wait).
 */
struct evloop_fd {
	void (*readable)(struct lws *wsi);
};
int evloop_fd_callback(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len);

/*
 * Cancel the timer evloop_service() keeps in the context (libev only).
 * Call before lws_context_destroy(), on the service thread or once it has
 * ended.  Safe when nothing is attached.
 */
void evloop_detach(void);

/*
 * Destroy the ev loop, after lws_context_destroy() of the context using
 * it.  libev stays loaded (the lws plugin may still reference it).  Safe
 * to call when no loop is open, and more than once.
 */
void evloop_close(void);

#endif /* EVLOOP_H */
