/*
 * loop.c - the libwebsockets context and its one service thread: the
 * protocol callback (HTTP and the media WebSocket share one protocol, as
 * Twilio names no subprotocol), the hand-off from other threads, and the
 * drain on SIGTERM.
 *
 * Drain: main sets e->draining and wakes the loop.  From then on /ready
 * answers 503, upgrades and starts are refused, and calls in progress
 * may finish for EDGE_DRAIN_TIMEOUT_MS; the rest are closed with 1001.
 * The thread leaves its loop when no call is left (or two seconds after
 * the close frames went out), and main destroys the context.
 *
 * Every function here runs on the lws service thread except
 * loop_start(), loop_drain() and loop_stop() (main).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "edge.h"
#include "evloop.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "svc.h"
#include "wire.h"
#include "xmalloc.h"

#define LOOP_BATCH 4096 /* bus messages handled per turn */
#define LOOP_GRACE_US (2 * LWS_US_PER_SEC)

static const char body_404[] = "{\"error\":\"not found\"}";

static void
control_event(struct edge *e, struct ev *ev)
{
	struct call *c;
	struct job  *j;

	switch (ev->kind) {
	case EV_STARTED:
		if ((c = call_find_id(e, ev->call_id)) != NULL) {
			call_started(c, ev->url, ev->text, ev->topic);
			break;
		}
		/* the caller hung up while the session was starting */
		j = xcalloc(1, sizeof(*j));
		j->kind = JOB_END;
		memcpy(j->call_sid, ev->call_sid, sizeof(j->call_sid));
		snprintf(j->reason, sizeof(j->reason), "socket closed");
		(void)codec_rand_hex(j->key, 16);
		j->at_ms = wire_now_ms();
		bridge_submit(&e->bridge, j);
		break;
	case EV_START_FAILED:
		if ((c = call_find_id(e, ev->call_id)) != NULL)
			call_start_failed(c, ev->text);
		break;
	case EV_AI_GONE:
		/* what it sent before its pipe went (its last AudioAcks,
		 * a release) is queued: take it first, so the calls move
		 * from its final acks */
		(void)hop_recv(e, LOOP_BATCH);
		call_ai_gone(e, ev->url);
		break;
	case EV_HANGUP:
		if ((c = call_find(e, ev->call_sid)) == NULL || c->closing) {
			log_info("hang-up for a call not here");
			web_hangup(e, ev->call_sid, ev->text);
		} else if (ev->failed) {
			/* the ai-session wrote the record, with the reason */
			c->end_reason = "ai-session failed";
			web_fallback(c, "ai_session_failed", false);
		} else {
			struct log_ctx lc = { c->call_sid, c->trace_id };

			logc_info(
			    &lc, "hang-up from ai-session: %s", ev->text);
			c->end_reason = "hang-up";
			web_hangup_call(e, c, ev->text);
		}
		break;
	case EV_HANGUP_DONE:
		if ((c = call_find_id(e, ev->call_id)) != NULL && !c->closing)
			call_close(c, EDGE_CLOSE_NORMAL,
			    strcmp(ev->text, "max duration") == 0
			        ? "max_duration"
			        : "hang_up");
		break;
	case EV_KEYS_FAILED:
		keys_rest_failed_ev(e, ev);
		break;
	case EV_WEB_REPLY:
		dash_web_reply_seen(e, ev); /* before the request is gone */
		web_job_reply(e, ev);
		free(ev->body);
		break;
	case EV_EVENTS_REPLY:
		events_rate_answer(e, ev);
		free(ev->body);
		break;
	case EV_SUMMARY: {
		json_t *o
		    = ev->body != NULL ? json_loads(ev->body, 0, NULL) : NULL;

		if (o != NULL)
			events_summary_obj(e, ev->call_sid, o);
		free(ev->body);
		break;
	}
	}
}

static void
drain_deadline_cb(lws_sorted_usec_list_t *sul)
{
	struct edge *e = lws_container_of(sul, struct edge, drain_sul);
	struct call *c;

	if (e->ncalls == 0) {
		e->loop_exit = true;
		return;
	}
	if (e->drain_closing) {
		log_warnx(
		    "drain: %ld streams did not close; leaving", e->ncalls);
		e->loop_exit = true;
		lws_cancel_service(e->ctx);
		return;
	}
	log_info("drain timeout: closing %ld streams", e->ncalls);
	for (c = e->calls; c != NULL; c = c->next) {
		if (c->end_reason == NULL)
			c->end_reason = "edge shutting down";
		call_close(c, EDGE_CLOSE_AWAY, "shutdown");
	}
	e->drain_closing = true;
	lws_sul_schedule(
	    e->ctx, 0, &e->drain_sul, drain_deadline_cb, LOOP_GRACE_US);
}

static void
drain_check(struct edge *e)
{
	if (atomic_load(&e->draining) && !e->drain_started) {
		e->drain_started = true;
		log_info("draining: %ld streams in progress, %ld ms to finish",
		    e->ncalls, e->cfg.drain_timeout_ms);
		lws_sul_schedule(e->ctx, 0, &e->drain_sul, drain_deadline_cb,
		    e->cfg.drain_timeout_ms * LWS_US_PER_MS);
	}
	if (e->drain_started && e->ncalls == 0)
		e->loop_exit = true;
}

static void
events(struct edge *e)
{
	struct ev *ev, *next;

	for (ev = evq_take(&e->evq); ev != NULL; ev = next) {
		next = ev->next;
		control_event(e, ev);
		free(ev);
	}
	drain_check(e);
}

/* One request per connection: see httpd.h on lws 4.1 and pipelining. */
static int
http_request(
    struct edge *e, struct lws *wsi, struct pss *pss, const char *path)
{
	if (pss->web != NULL || pss->dash != NULL || httpd_answering(&pss->hs))
		return (0); /* lws handing this request over again */
	if (httpd_builtin(wsi, &pss->hs, path, &e->hconf)
	    || httpd_refuse_unbounded(wsi, &pss->hs))
		return (0);
	if (dash_http(e, wsi, pss, path) == 0
	    || web_http(e, wsi, pss, path) == 0)
		return (0);
	return (httpd_reply(wsi, &pss->hs, 404, HTTPD_CT_JSON, body_404,
	    sizeof(body_404) - 1));
}

static int
edge_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct edge *e = lws_context_user(lws_get_context(wsi));
	struct pss  *pss = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return (http_request(e, wsi, pss, in));
	case LWS_CALLBACK_HTTP_BODY:
		if (pss->dash != NULL)
			return (dash_body(pss, in, len));
		return (web_body(e, pss, in, len));
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		httpd_body_done(wsi, &pss->hs);
		if (pss->dash != NULL)
			return (dash_body_done(e, wsi, pss));
		return (web_body_done(e, wsi, pss));
	case LWS_CALLBACK_RAW_ADOPT:
	case LWS_CALLBACK_RAW_RX:
	case LWS_CALLBACK_RAW_WRITEABLE:
		return (httpd_raw(wsi, (int)reason)); /* CONNECT */
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (pss->dash != NULL)
			return (dash_writeable(wsi, pss));
		if (pss->web != NULL && pss->web->state != 0)
			return (web_writeable(wsi, pss));
		return (httpd_writeable(wsi, &pss->hs));
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss != NULL) {
			httpd_sess_fini(&pss->hs);
			web_closed(e, pss);
			dash_closed(pss);
		}
		break;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return (ws_filter(e, wsi));
	case LWS_CALLBACK_ESTABLISHED:
		return (ws_established(e, wsi, pss));
	case LWS_CALLBACK_RECEIVE:
		return (ws_receive(wsi, pss, in, len));
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return (ws_writeable(wsi, pss));
	case LWS_CALLBACK_CLOSED:
		ws_closed(e, pss);
		drain_check(e);
		break;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		events(e);
		break;
	default:
		break;
	}
	return (lws_callback_http_dummy(wsi, reason, user, in, len));
}

/* The sub socket has messages (or nng closed it): take them here, on
 * the service thread (hop.c). */
/* The sub socket has messages (or nng closed it): a bounded number. */
static void
hop_readable(struct lws *wsi)
{
	(void)hop_recv(lws_context_user(lws_get_context(wsi)), LOOP_BATCH);
}

static const struct evloop_fd hop_fd = { hop_readable };

/*
 * "edge": lws keeps a receive buffer of this size per connection, so it is
 * per-call memory.  A media message is about 300 bytes; a longer one (a
 * start with custom parameters) arrives in pieces that ws_receive()
 * reassembles.  Sends are not bound to it: a message up to EDGE_TX_PACKET
 * (an /events transcript, say) goes out in one send().
 */
#define EDGE_RX_CHUNK 1024
#define EDGE_TX_PACKET (64 * 1024)

static const struct lws_protocols protocols[]
    = { { "edge", edge_cb, sizeof(struct pss), EDGE_RX_CHUNK, 0, NULL,
	    EDGE_TX_PACKET },
	      { "edge-hop", evloop_fd_callback, 0, 0, 0, (void *)&hop_fd, 0 },
	      { NULL, NULL, 0, 0, 0, NULL, 0 } };

/* Poll a duplicate of nng's descriptor: lws closes what it adopted. */
static int
adopt_hop(struct edge *e)
{
	return (evloop_adopt_fd(
	    e->ctx, ahop_recv_fd(&e->hop), "edge-hop", "sub socket"));
}

static void *
loop_main(void *arg)
{
	struct edge *e = arg;

	/* after each turn, the frames it produced go out in one message
	 * per ai-session (calls_flush); while busy, one turn per
	 * EDGE_BATCH_FLUSH_MS */
	while (!e->loop_exit) {
		if (evloop_service_paced(e->ctx, e->cfg.batch_flush_ms) == -1)
			break;
		calls_flush(e);
	}
	calls_flush(e);
	return (NULL);
}

int
edge_health(void *arg, int ready, char *buf, size_t len)
{
	struct edge *e = arg;
	bool         up = atomic_load(&e->ready) && !atomic_load(&e->draining);
	double       uptime = 0;
	json_t      *o;
	size_t       n;

	if (e->svc != NULL)
		uptime = svc_uptime(e->svc);
	/* the usual three, and the sockets that hold no call slot */
	o = json_pack("{s:s,s:I,s:f,s:I,s:I}", "status",
	    ready && !up ? "draining" : "healthy", "activeCalls",
	    (json_int_t)metric_value(e->m.active_calls), "uptime", uptime,
	    "pendingStreams", (json_int_t)metric_value(e->m.pending_streams),
	    "refusedStreams", (json_int_t)atomic_load(&e->refused));
	n = o != NULL ? json_dumpb(
	        o, buf, len - 1, JSON_COMPACT | JSON_REAL_PRECISION(10))
	              : 0;
	json_decref(o);
	buf[n < len ? n : 0] = '\0';
	return (ready && !up ? 503 : 200);
}

int
loop_start(struct edge *e)
{
	struct lws_context_creation_info info;

	memset(&info, 0, sizeof(info));
	info.port = (int)e->cfg.http_port;
	info.iface = e->cfg.http_addr[0] != '\0' ? e->cfg.http_addr : NULL;
	info.protocols = protocols;
	info.user = e;
	info.count_threads = 1;
	info.timeout_secs = 10;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6
	    | LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
	e->hconf.health = edge_health;
	e->hconf.arg = e;
	e->scratch = xmalloc(EDGE_MAX_MSG);
	e->scratch2 = xmalloc(EDGE_MAX_MSG);
	httpd_log_init();
	/* epoll through libev unless EDGE_EVENT_LOOP=poll (evloop.h) */
	(void)evloop_open(e->cfg.event_loop);
	evloop_lws_info(&info);
	if ((e->ctx = lws_create_context(&info)) == NULL) {
		log_warnx("cannot listen on %s:%ld", e->cfg.http_addr,
		    e->cfg.http_port);
		return (-1);
	}
	if (adopt_hop(e) == -1)
		return (-1);
	evq_set_ctx(&e->evq, e->ctx);
	web_tick_start(e);
	if (pthread_create(&e->lws_thread, NULL, loop_main, e) != 0) {
		log_warnx("cannot start the WebSocket thread");
		return (-1);
	}
	e->lws_running = true;
	return (0);
}

void
loop_drain(struct edge *e)
{
	atomic_store(&e->draining, true);
	if (e->ctx != NULL)
		lws_cancel_service(e->ctx);
	if (e->lws_running) {
		pthread_join(e->lws_thread, NULL);
		e->lws_running = false;
	}
}

void
loop_stop(struct edge *e)
{
	if (e->ctx != NULL) {
		evq_set_ctx(&e->evq, NULL);
		evloop_detach(); /* the service thread has ended */
		lws_context_destroy(e->ctx);
		e->ctx = NULL;
	}
	evloop_close(); /* after the context that used it */
	free(e->scratch);
	free(e->scratch2);
}
