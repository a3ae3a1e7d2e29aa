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
 *	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
 *		httpd_body_done(wsi, &pss->hs);	(then answer, now or later)
 *	case LWS_CALLBACK_HTTP_WRITEABLE:
 *		return (httpd_writeable(wsi, &pss->hs));
 *	case LWS_CALLBACK_RAW_ADOPT, _RAW_RX, _RAW_WRITEABLE:
 *		return (httpd_raw(wsi, reason));	(CONNECT)
 *	case LWS_CALLBACK_CLOSED_HTTP:
 *	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
 *		httpd_sess_fini(&pss->hs);
 *		break;
 *
 * httpd_writeable() writes the headers, then the body in chunks, one
 * lws_write() per WRITEABLE, and closes the connection: every answer
 * says "connection: close" (see Pipelining).  HEAD is answered with the
 * headers only.  An answer queued before the request's body has been
 * read (the 405s here) is written once LWS_CALLBACK_HTTP_BODY_COMPLETION
 * has called httpd_body_done(), so the connection is never closed on
 * unread bytes (that would reset it under the answer).  A request whose
 * body has no Content-Length (chunked, or a POST without one) gets 411:
 * lws 4.1 cannot read such a body.  A handler that answers later must
 * know the wsi is still open (forget it in LWS_CALLBACK_CLOSED_HTTP),
 * should answer within lws's HTTP timeout, and should httpd_hold() the
 * connection meanwhile.
 *
 * Pipelining: lws 4.1 keeps the bytes that follow a request in a
 * per-connection buffer and parses them on later turns of its loop.
 * Before the transaction is completed that hands the finished request
 * to the callback again (LWS_CALLBACK_HTTP again, or for a request with
 * a body LWS_CALLBACK_HTTP_BODY_COMPLETION on every turn); after it, a
 * pipelined request with a body is read wrongly: its "body" is taken
 * from the start of its own request line, and then lws loops on
 * LWS_CALLBACK_HTTP_BODY_COMPLETION for ever inside one call (or, when
 * the body is longer than what is buffered, reads freed memory).  We
 * cannot see or drain that buffer, so there is no keep-alive: each
 * connection serves one request and is closed after its answer, and a
 * second hand-over of the same request is ignored (httpd_reply()
 * returns -1 and queues nothing; httpd_builtin() returns 1).  HTTP/1.1
 * lets a server close after any answer; clients open a new connection.
 * While an answer is computed elsewhere, httpd_hold() stops lws from
 * reading (and so from spinning on buffered bytes); httpd_release()
 * before asking for WRITEABLE, which lws does not serve to a held
 * connection.
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
	int         body_done; /* the request's body has been read */
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
 * the connection (after every answer: see Pipelining).  Service thread.
 */
int httpd_writeable(struct lws *wsi, struct httpd_sess *s);

/*
 * Stop reading the connection while its answer is computed elsewhere
 * (a worker thread); httpd_release() before lws_callback_on_writable()
 * or httpd_reply(), since lws serves no WRITEABLE to a held connection.
 * Service thread.
 */
void httpd_hold(struct lws *wsi);
void httpd_release(struct lws *wsi);

/* 1 if an answer is queued on s (lws may hand the request over again:
 * see Pipelining), else 0.  Service thread. */
int httpd_answering(const struct httpd_sess *s);

/*
 * For LWS_CALLBACK_HTTP_BODY_COMPLETION: the body is in; an answer
 * queued earlier is written now.  Service thread.
 */
void httpd_body_done(struct lws *wsi, struct httpd_sess *s);

/*
 * For LWS_CALLBACK_HTTP: a request whose body has no Content-Length
 * (chunked, or POST without one) is answered 411, one whose
 * Content-Length is not a plain number 400; returns 1 then, else 0.
 * Service thread.
 */
int httpd_refuse_unbounded(struct lws *wsi, struct httpd_sess *s);

/*
 * Write a complete JSON answer (status, body of at most 256 bytes,
 * "connection: close") at once, from a callback that is about to
 * refuse the connection (LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION
 * returning -1): lws sends what it holds before it closes.  0, or -1 if
 * it could not be written.  Service thread.
 */
int httpd_answer_now(struct lws *wsi, int status, const char *body);

/* A CONNECT that lws turned into a raw socket is given this long. */
#define HTTPD_RAW_TIMEOUT_S 5

/*
 * For LWS_CALLBACK_RAW_ADOPT, LWS_CALLBACK_RAW_RX and
 * LWS_CALLBACK_RAW_WRITEABLE on the HTTP protocol: lws 4.1 makes a
 * CONNECT request a raw socket; answer 405 and close it.  Returns what
 * the callback returns.  Service thread.
 */
int httpd_raw(struct lws *wsi, int reason);

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
