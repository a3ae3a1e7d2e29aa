/*
 * bus - NNG socket setup, pipe counters and the request helper; see
 * bus.h.  Pipe notifications run on nng's threads and only touch
 * metrics.
 */
#include <stdbool.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "bus.h"
#include "log.h"
#include "metrics.h"
#include "wire.h"

#define BUS_RECONN_MIN_MS 100
#define BUS_RECONN_MAX_MS 2000

static struct metric_family *fam_peers, *fam_events;

/* nng callback: must not block. */
static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	const char *name = arg;

	if (ev == NNG_PIPE_EV_ADD_POST) {
		metric_add(metric_get(fam_peers, name), 1);
		metric_inc(metric_get(fam_events, name, "add"));
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		metric_add(metric_get(fam_peers, name), -1);
		metric_inc(metric_get(fam_events, name, "remove"));
	}
}

static int
setup(nng_socket s, const char *name)
{
	int rv;

	if (fam_peers == NULL) {
		fam_peers = metrics_gauge("bus_peers_connected",
		    "NNG pipes (peer connections) open on a socket", "socket");
		fam_events = metrics_counter("bus_pipe_events_total",
		    "NNG pipes added and removed", "socket,event");
	}
	(void)metric_get(fam_peers, name); /* show 0 before any peer */
	if ((rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, BUS_MAX_MSG_BYTES))
	        != 0
	    || (rv = nng_socket_set_ms(
	            s, NNG_OPT_RECONNMINT, BUS_RECONN_MIN_MS))
	        != 0
	    || (rv = nng_socket_set_ms(
	            s, NNG_OPT_RECONNMAXT, BUS_RECONN_MAX_MS))
	        != 0
	    || (rv = nng_pipe_notify(
	            s, NNG_PIPE_EV_ADD_POST, pipe_cb, (void *)name))
	        != 0
	    || (rv = nng_pipe_notify(
	            s, NNG_PIPE_EV_REM_POST, pipe_cb, (void *)name))
	        != 0)
		log_warnx(
		    "bus %s: socket options: %s", name, nng_strerror(rv));
	return (rv);
}

static int
open_listen(nng_socket *sp, const char *name, const char *url,
    int (*opener)(nng_socket *))
{
	nng_socket s;
	int        rv;

	if ((rv = opener(&s)) != 0) {
		log_warnx("bus %s: open: %s", name, nng_strerror(rv));
		return (rv);
	}
	if ((rv = setup(s, name)) != 0
	    || (rv = nng_listen(s, url, NULL, 0)) != 0) {
		log_warnx(
		    "bus %s: listen %s: %s", name, url, nng_strerror(rv));
		nng_close(s);
		return (rv);
	}
	*sp = s;
	return (0);
}

int
bus_rep_listen(nng_socket *sp, const char *name, const char *url)
{
	return (open_listen(sp, name, url, nng_rep0_open));
}

int
bus_pub_listen(nng_socket *sp, const char *name, const char *url)
{
	return (open_listen(sp, name, url, nng_pub0_open));
}

int
bus_dial(nng_socket s, const char *url, nng_dialer *dp)
{
	int rv;

	/* NONBLOCK: a peer that is not up yet is retried in the background
	 * with the socket's reconnect backoff. */
	if ((rv = nng_dial(s, url, dp, NNG_FLAG_NONBLOCK)) != 0)
		log_warnx("bus: dial %s: %s", url, nng_strerror(rv));
	return (rv);
}

int
bus_req_dial(nng_socket *sp, const char *name, const char *url)
{
	nng_socket s;
	int        rv;

	if ((rv = nng_req0_open(&s)) != 0) {
		log_warnx("bus %s: open: %s", name, nng_strerror(rv));
		return (rv);
	}
	/* Our own retry loop resends with a fresh timeout; nng's resend
	 * timer would add a second, unbounded one. */
	if ((rv = setup(s, name)) != 0
	    || (rv = nng_socket_set_ms(
	            s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE))
	        != 0
	    || (rv = bus_dial(s, url, NULL)) != 0) {
		nng_close(s);
		return (rv);
	}
	*sp = s;
	return (0);
}

int
bus_sub_open(nng_socket *sp, const char *name)
{
	nng_socket s;
	int        rv;

	if ((rv = nng_sub0_open(&s)) != 0) {
		log_warnx("bus %s: open: %s", name, nng_strerror(rv));
		return (rv);
	}
	if ((rv = setup(s, name)) != 0) {
		nng_close(s);
		return (rv);
	}
	*sp = s;
	return (0);
}

static int
sub_opt(nng_socket s, const char *opt, const char *topic)
{
	char   buf[256];
	size_t len = strlen(topic) + 1; /* the NUL is part of it */

	if (len > sizeof(buf))
		return (NNG_EINVAL);
	memcpy(buf, topic, len);
	return (nng_socket_set(s, opt, buf, len));
}

int
bus_subscribe(nng_socket s, const char *topic)
{
	return (sub_opt(s, NNG_OPT_SUB_SUBSCRIBE, topic));
}

int
bus_unsubscribe(nng_socket s, const char *topic)
{
	return (sub_opt(s, NNG_OPT_SUB_UNSUBSCRIBE, topic));
}

int
bus_subscribe_all(nng_socket s)
{
	return (nng_socket_set(s, NNG_OPT_SUB_SUBSCRIBE, "", 0));
}

int
bus_set_buffers(nng_socket s, int recv, int send)
{
	int rv = 0;

	if (recv > 0)
		rv = nng_socket_set_int(s, NNG_OPT_RECVBUF, recv);
	if (rv == 0 && send > 0)
		rv = nng_socket_set_int(s, NNG_OPT_SENDBUF, send);
	return (rv);
}

static int
request_once(
    nng_socket sock, nng_msg *msg, Bus__Envelope **repp, int timeout_ms)
{
	nng_ctx  ctx;
	nng_aio *aio = NULL;
	nng_msg *rep;
	int      rv;

	if ((rv = nng_ctx_open(&ctx, sock)) != 0)
		return (rv);
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0)
		goto out;
	nng_aio_set_timeout(aio, timeout_ms);
	nng_aio_set_msg(aio, msg);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(aio)); /* unsent: ours */
		goto out;
	}
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0)
		goto out;
	rep = nng_aio_get_msg(aio);
	rv = wire_unpack(rep, repp);
	nng_msg_free(rep);
out:
	if (aio != NULL) {
		nng_aio_stop(aio);
		nng_aio_free(aio);
	}
	nng_ctx_close(ctx);
	return (rv);
}

int
bus_request(nng_socket sock, const Bus__Envelope *req, Bus__Envelope **repp,
    int timeout_ms, int attempts)
{
	nng_msg *msg, *copy;
	int      rv, i;

	if ((rv = wire_pack(req, &msg)) != 0)
		return (rv);
	for (i = 0, rv = NNG_ETIMEDOUT; i < attempts; i++) {
		if (i > 0)
			nng_msleep(50 << (i < 5 ? i : 5)); /* backoff */
		if ((rv = nng_msg_dup(&copy, msg)) != 0)
			break;
		rv = request_once(sock, copy, repp, timeout_ms);
		if (rv == 0 || rv == NNG_ECLOSED)
			break;
		log_debug("request %s attempt %d: %s",
		    wire_type_name(req->body_case), i + 1, nng_strerror(rv));
	}
	nng_msg_free(msg);
	return (rv);
}
