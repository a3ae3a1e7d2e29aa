/*
 * server.c - the lws side: the upgrade checks (path /v1/realtime, Bearer
 * key), reassembly of fragmented messages, the bounded outgoing queue
 * written one frame per WRITEABLE, and teardown of a connection.
 *
 * Every message handed on is one complete text message.  Outgoing events
 * go through server_send() (JSON) or server_reserve()/server_commit()
 * (prebuilt text, echo mode); both only queue and ask for WRITEABLE.
 *
 * lws service thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/crypto.h>

#include "oai.h"

#define REALTIME_PATH "/v1/realtime"
#define SLOT_MIN 512 /* first size of a queue slot buffer */

static struct sim *
sim_of(struct lws *wsi)
{
	return (lws_context_user(lws_get_context(wsi)));
}

void
server_event_id(struct sess *s, char *buf, size_t len)
{
	snprintf(buf, len, "event_%u_%llu", s->conn,
	    (unsigned long long)++s->nevent);
}

unsigned char *
server_reserve(struct sess *s, size_t len)
{
	struct frame *f;
	size_t        cap;

	if (s->closing || s->q.slots == NULL)
		return (NULL);
	if (s->q.count == s->q.cap) {
		if (s->q.drops++ == 0)
			oai_log("warn", "conn %u: send queue full, dropping",
			    s->conn);
		return (NULL);
	}
	f = &s->q.slots[(s->q.head + s->q.count) % s->q.cap];
	if (f->cap < len) {
		cap = len < SLOT_MIN ? SLOT_MIN : len;
		f->buf = oai_realloc(f->buf, LWS_PRE + cap);
		f->cap = cap;
	}
	return (f->buf + LWS_PRE);
}

void
server_commit(struct sess *s, size_t len)
{
	struct frame *f;

	f = &s->q.slots[(s->q.head + s->q.count) % s->q.cap];
	f->len = len;
	s->q.count++;
	lws_callback_on_writable(s->wsi);
}

void
server_send(struct sess *s, json_t *ev)
{
	char           id[OAI_ID_LEN];
	json_t        *out;
	unsigned char *p;
	size_t         n;

	if (s->closing) {
		json_decref(ev);
		return;
	}
	/* "type" then "event_id" first: the order people read logs in. */
	server_event_id(s, id, sizeof(id));
	out = json_pack(
	    "{s:O, s:s}", "type", json_object_get(ev, "type"), "event_id", id);
	if (out == NULL) {
		oai_log("error", "conn %u: event without a type", s->conn);
		json_decref(ev);
		return;
	}
	json_object_update_missing(out, ev);
	json_decref(ev);
	n = json_dumpb(out, NULL, 0, JSON_COMPACT);
	if (n > 0 && (p = server_reserve(s, n)) != NULL) {
		json_dumpb(out, (char *)p, n, JSON_COMPACT);
		server_commit(s, n);
	}
	json_decref(out);
}

void
server_close(struct sess *s, int code)
{
	if (s->closing)
		return;
	s->closing = true;
	s->close_code = code;
	lws_callback_on_writable(s->wsi);
}

/* No close frame: the peer sees the TCP connection reset. */
void
server_drop(struct sess *s)
{
	struct linger lg = { 1, 0 };
	int           fd;

	record_fact(s, "connection_dropped", "{s:I}", "after_ms",
	    (json_int_t)s->sim->opt.drop_after_ms);
	s->closing = true;
	s->close_code = 0;
	if ((fd = lws_get_socket_fd(s->wsi)) >= 0) {
		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		(void)shutdown(fd, SHUT_RDWR);
	}
	lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static int
shutdown_one(struct lws_dll2 *d, void *arg)
{
	struct sess *s = lws_container_of(d, struct sess, list);

	server_close(s, LWS_CLOSE_STATUS_GOINGAWAY);
	return (0);
}

void
server_shutdown(struct sim *sim)
{
	lws_dll2_foreach_safe(&sim->sessions, NULL, shutdown_one);
}

static void
drop_cb(lws_sorted_usec_list_t *sul)
{
	struct sess *s = lws_container_of(sul, struct sess, drop_sul);

	server_drop(s);
}

/* Answers a refused upgrade with an HTTP status; 1 tells lws we did. */
static int
refuse(struct lws *wsi, unsigned int status, const char *why)
{
	oai_log("info", "upgrade refused: %u %s", status, why);
	record_fact(NULL, "upgrade_refused", "{s:i, s:s}", "status",
	    (int)status, "reason", why);
	if (lws_return_http_status(wsi, status, why) != 0)
		return (-1);
	return (1);
}

/* HTTP_CONFIRM_UPGRADE: the request headers are still readable here. */
static int
confirm_upgrade(struct lws *wsi, struct sim *sim)
{
	char   uri[256], auth[1024];
	size_t klen;
	int    n;

	n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
	if (n <= 0 || strcmp(uri, REALTIME_PATH) != 0)
		return (refuse(wsi, HTTP_STATUS_NOT_FOUND, "unknown path"));
	if (sim->opt.api_key == NULL)
		return (0);
	n = lws_hdr_copy(
	    wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION);
	klen = strlen(sim->opt.api_key);
	if (n < 7 || strncmp(auth, "Bearer ", 7) != 0 || (size_t)n - 7 != klen
	    || CRYPTO_memcmp(auth + 7, sim->opt.api_key, klen) != 0)
		return (refuse(wsi, HTTP_STATUS_UNAUTHORIZED,
		    "missing or wrong API key"));
	return (0);
}

/* FILTER_PROTOCOL_CONNECTION: keep what ESTABLISHED needs from headers. */
static void
filter_connection(struct lws *wsi, struct sess *s)
{
	char        buf[128];
	const char *model;

	model = lws_get_urlarg_by_name(wsi, "model=", buf, sizeof(buf));
	if (model != NULL)
		snprintf(s->model, sizeof(s->model), "%s", model);
	if (lws_hdr_custom_length(wsi, "openai-beta:", 12) >= 0)
		s->beta_header = true;
}

static void
established(struct lws *wsi, struct sess *s)
{
	struct sim *sim = sim_of(wsi);

	s->sim = sim;
	s->wsi = wsi;
	s->conn = ++sim->nconn;
	s->established = true;
	s->q.cap = sim->opt.mode == OAI_ECHO ? OAI_QUEUE_ECHO : OAI_QUEUE_CONV;
	s->q.slots = oai_calloc(s->q.cap, sizeof(*s->q.slots));
	lws_dll2_add_tail(&s->list, &sim->sessions);
	record_fact(s, "connection_opened", "{s:s, s:b, s:s}", "model",
	    s->model, "beta_header", s->beta_header, "mode",
	    sim->opt.mode == OAI_ECHO ? "echo" : "conversation");
	if (sim->opt.drop_after_ms > 0
	    && (sim->opt.drop_count == 0
	        || s->conn <= (unsigned)sim->opt.drop_count))
		lws_sul_schedule(sim->ctx, 0, &s->drop_sul, drop_cb,
		    (lws_usec_t)sim->opt.drop_after_ms * LWS_US_PER_MS);
	if (s->beta_header)
		session_beta_reject(s, NULL);
	else if (s->model[0] != '\0' && !models_realtime_known(s->model))
		session_model_reject(s);
	else
		session_open(s);
}

static void
closed(struct sess *s)
{
	unsigned i;

	if (!s->established)
		return;
	lws_sul_cancel(&s->drop_sul);
	response_stop(s);
	session_close(s);
	for (i = 0; i < s->q.cap; i++)
		free(s->q.slots[i].buf);
	free(s->q.slots);
	free(s->rx);
	lws_dll2_remove(&s->list);
	s->established = false;
}

static void
dispatch(struct sess *s, const char *buf, size_t len)
{
	if (s->sim->opt.mode == OAI_ECHO && echo_message(s, buf, len) == 0)
		return;
	session_message(s, buf, len);
}

/*
 * lws may hand a message over in pieces (TCP reads, frames bigger than
 * the rx buffer, continuation frames).  A message that arrives whole is
 * dispatched in place; pieces are collected in s->rx.
 */
static void
receive(struct sess *s, const char *in, size_t len)
{
	bool final = lws_is_final_fragment(s->wsi);

	if (s->closing)
		return;
	if (final && s->rx_len == 0 && !s->rx_oversize) {
		if (lws_frame_is_binary(s->wsi))
			session_error(s, "invalid_value", NULL, NULL,
			    "Binary frames are not supported.");
		else
			dispatch(s, in, len);
		return;
	}
	if (s->rx_len + len > OAI_MAX_MESSAGE)
		s->rx_oversize = true;
	if (!s->rx_oversize) {
		if (s->rx_len + len > s->rx_cap) {
			s->rx_cap = (s->rx_len + len) * 2;
			s->rx = oai_realloc(s->rx, s->rx_cap);
		}
		memcpy(s->rx + s->rx_len, in, len);
		s->rx_len += len;
	}
	if (!final)
		return;
	if (s->rx_oversize) {
		session_error(s, "message_too_large", NULL, NULL,
		    "Messages are limited to %d bytes.", OAI_MAX_MESSAGE);
		server_close(s, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE);
	} else
		dispatch(s, (const char *)s->rx, s->rx_len);
	s->rx_len = 0;
	s->rx_oversize = false;
}

static int
writeable(struct sess *s)
{
	struct frame *f;
	int           n;

	if (s->q.count == 0) {
		if (!s->closing || s->close_code == 0)
			return (0);
		lws_close_reason(
		    s->wsi, (enum lws_close_status)s->close_code, NULL, 0);
		return (-1);
	}
	f = &s->q.slots[s->q.head];
	n = lws_write(s->wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
	if (n < (int)f->len) {
		oai_log("warn", "conn %u: write failed", s->conn);
		return (-1);
	}
	s->q.head = (s->q.head + 1) % s->q.cap;
	s->q.count--;
	if (s->q.count > 0 || s->closing)
		lws_callback_on_writable(s->wsi);
	return (0);
}

/* lws service thread only: the callback of our single protocol. */
int
server_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct sess *s = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return (confirm_upgrade(wsi, sim_of(wsi)));
	case LWS_CALLBACK_HTTP: {
		int rv = models_http(wsi, sim_of(wsi), in);

		if (rv != 1)
			return (rv);
		(void)lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
		return (-1);
	}
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		filter_connection(wsi, s);
		return (0);
	case LWS_CALLBACK_ESTABLISHED:
		established(wsi, s);
		return (0);
	case LWS_CALLBACK_RECEIVE:
		receive(s, in, len);
		return (0);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return (writeable(s));
	case LWS_CALLBACK_CLOSED:
		closed(s);
		return (0);
	default:
		break;
	}
	return (lws_callback_http_dummy(wsi, reason, user, in, len));
}
