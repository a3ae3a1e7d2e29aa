/*
 * httpd - GET /health, /ready and /metrics over libwebsockets 4.1.
 *
 * Standalone (nng-only daemons): httpd_start() creates its own lws
 * context and one service thread; httpd_stop() stops and joins it.
 *
 * Embedded (media-edge, which owns its lws context and HTTP callback):
 * put a struct httpd_sess in the per-session struct of the HTTP protocol
 * (lws zeroes it) and call the helpers from that protocol's callback:
 *
 *	case LWS_CALLBACK_HTTP:
 *		if (httpd_builtin(wsi, &pss->hs, in, &edge->health))
 *			return (0);		(a reply is queued)
 *		... route the request; when the answer is known, even
 *		... later from LWS_CALLBACK_HTTP_BODY_COMPLETION or
 *		... EVENT_WAIT_CANCELLED, on the service thread:
 *		return (httpd_reply(wsi, &pss->hs, 200, "application/json",
 *		    body, len));
 *	case LWS_CALLBACK_HTTP_WRITEABLE:
 *		return (httpd_writeable(wsi, &pss->hs));
 *	case LWS_CALLBACK_CLOSED_HTTP:
 *	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
 *		httpd_sess_fini(&pss->hs);
 *		break;
 *
 * httpd_writeable() writes the headers, then the body in chunks, one
 * lws_write() per WRITEABLE, then completes the transaction so that
 * keep-alive connections serve the next request.  HEAD is answered
 * with the headers only.  A request with a body is answered once
 * LWS_CALLBACK_HTTP_BODY_COMPLETION has run, or earlier, as the 405s
 * here are: lws 4.1 then reads and drops the rest of the body and keeps
 * the connection.  A POST, PUT or PATCH without Content-Length (chunked,
 * or no body) is answered with "connection: close" and closed, because
 * lws 4.1 would take the next request on it for body.  A handler that
 * answers later must know the wsi is still open (forget it in
 * LWS_CALLBACK_CLOSED_HTTP) and should answer within lws's HTTP timeout.
 *
 * Threads: everything but httpd_start(), httpd_stop() and
 * httpd_health_json() runs on the lws service thread only.  The health
 * callback and metrics_render() run there too, so they must not block.
 */
#ifndef HTTPD_H
#define HTTPD_H

#include <stddef.h>

struct lws;
struct lws_context;

#define HTTPD_CT_JSON "application/json"
#define HTTPD_CT_METRICS "text/plain; version=0.0.4; charset=utf-8"
/* Longest body a health callback may write, NUL included. */
#define HTTPD_HEALTH_MAX 1024
/* httpd_stop() gives up on the service thread after this long. */
#define HTTPD_STOP_TIMEOUT_MS 3000

struct httpd_conf {
	const char *addr; /* an IP literal; NULL: all */
	int         port;
	/*
	 * Write a NUL-terminated JSON body into buf (len bytes) and return
	 * the HTTP status, 200 or 503.  ready is 1 for GET /ready, 0 for
	 * GET /health.  lws service thread; must not block.  NULL answers
	 * 200 {"status":"healthy","activeCalls":0,"uptime":S}.
	 */
	int (*health)(void *arg, int ready, char *buf, size_t len);
	void *arg;
};

/* Per-request reply state; zeroed by lws, owned by the service thread. */
struct httpd_sess {
	char       *body; /* copy of the reply body */
	size_t      len;
	size_t      off; /* bytes of body written */
	const char *ctype; /* static string */
	int         status;
	int         head; /* HEAD request: headers only */
	int         close; /* close after this reply */
	int         state; /* enum in httpd.c */
};

struct httpd;

/*
 * Listen on conf->addr:conf->port and serve /health, /ready and
 * /metrics from a new service thread.  conf is copied.  Returns NULL,
 * logged, if the address is bad or the port is taken.  Call from main
 * with SIGINT/SIGTERM blocked, so the new thread inherits the mask.
 */
struct httpd *httpd_start(const struct httpd_conf *conf);

/*
 * Stop the service thread, join it within HTTPD_STOP_TIMEOUT_MS, close
 * the listener and free h.  NULL is a no-op.  Blocks; call from main at
 * shutdown.
 */
void httpd_stop(struct httpd *h);

/*
 * Route libwebsockets' errors and warnings through log.c as JSON lines
 * and drop its notices.  httpd_start() calls it; an embedding daemon
 * calls it once before lws_create_context().  Process-wide.
 */
void httpd_log_init(void);

/*
 * For LWS_CALLBACK_HTTP: if path is /health, /ready or /metrics, queue
 * the answer (405 for a method other than GET or HEAD) and return 1; else
 * return 0 and leave the request to the caller.  conf supplies the
 * health callback (conf NULL: the default body, with the uptime counted
 * from httpd_log_init()); its addr and port are not used.  Service
 * thread.
 */
int httpd_builtin(struct lws *wsi, struct httpd_sess *s, const char *path,
    const struct httpd_conf *conf);

/*
 * Queue a complete response: status, Content-Type ctype (a string that
 * outlives the request), Content-Length len and a copy of body.  Asks
 * for WRITEABLE; httpd_writeable() does the writing.  Returns 0, or -1
 * (logged) if a reply is already queued on this request.  Service
 * thread, from any callback of this wsi's protocol.
 */
int httpd_reply(struct lws *wsi, struct httpd_sess *s, int status,
    const char *ctype, const char *body, size_t len);

/*
 * For LWS_CALLBACK_HTTP_WRITEABLE: write the next part of the queued
 * reply.  Returns what the callback should return: 0, or -1 to close
 * the connection (write failed, or no keep-alive).  Service thread.
 */
int httpd_writeable(struct lws *wsi, struct httpd_sess *s);

/* For LWS_CALLBACK_CLOSED_HTTP: free the queued body.  Service thread. */
void httpd_sess_fini(struct httpd_sess *s);

/*
 * Write {"status":"<status>","activeCalls":N,"uptime":S} into buf.
 * Returns the length (without the NUL), or -1 (logged) if len is too
 * small.  Any thread.
 */
int httpd_health_json(
    char *buf, size_t len, const char *status, long active, double uptime_s);

#endif
