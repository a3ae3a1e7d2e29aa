/*
 * bus - NNG socket setup, TLS, pipe counters and the request helper; see
 * bus.h.  Pipe notifications run on nng's threads and only touch
 * metrics.
 *
 * TLS: NNG's engine (mbed TLS in Debian's libnng) does the handshakes;
 * OpenSSL is used only at start-up, to say clearly what is wrong with a
 * certificate before the first peer finds out.  One server
 * nng_tls_config serves every listener; each dialer gets its own client
 * config, since the server name to check differs per URL (a config is
 * frozen once used).  {tls_lock} guards the counters of the statistics
 * collector.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "bus.h"
#include "log.h"
#include "metrics.h"
#include "util.h"
#include "wire.h"
#include "xmalloc.h"

#define BUS_TLS_WARN_DAYS 14
#define BUS_TLS_MAX_EPS 256 /* endpoints whose auth counts we follow */

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
	/* the name labels bus_tls_auth_failures_total (NNG's statistics) */
	(void)nng_socket_set_string(s, NNG_OPT_SOCKNAME, name);
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
	nng_socket   s;
	nng_listener l;
	int          rv;

	if ((rv = opener(&s)) != 0) {
		log_warnx("bus %s: open: %s", name, nng_strerror(rv));
		return (rv);
	}
	if ((rv = setup(s, name)) != 0
	    || (rv = nng_listener_create(&l, s, url)) != 0
	    || (rv = bus_tls_listener(l, url)) != 0
	    || (rv = nng_listener_start(l, 0)) != 0) {
		log_warnx(
		    "bus %s: listen %s: %s", name, url, nng_strerror(rv));
		nng_close(s); /* closes the listener too */
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
	nng_dialer d;
	int        rv;

	if ((rv = nng_dialer_create(&d, s, url)) != 0) {
		log_warnx("bus: dial %s: %s", url, nng_strerror(rv));
		return (rv);
	}
	if ((rv = bus_tls_dialer(d, url)) != 0) {
		nng_dialer_close(d);
		return (rv);
	}
	/* NONBLOCK: a peer that is not up yet is retried in the background
	 * with the socket's reconnect backoff. */
	if ((rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0) {
		log_warnx("bus: dial %s: %s", url, nng_strerror(rv));
		nng_dialer_close(d);
		return (rv);
	}
	if (dp != NULL)
		*dp = d;
	return (0);
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

/* ------------------------------------------------------------------ TLS */

static struct {
	bool            on;
	char           *cert, *key, *ca;
	nng_tls_config *server; /* shared by every listener */
} tls;

/* One endpoint's last "auth" statistic, so the counter only grows even
 * when an endpoint goes away.  {tls_lock} */
struct tls_ep {
	bool     listener;
	uint32_t id;
	uint64_t seen;
};

static pthread_mutex_t       tls_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tls_ep         tls_eps[BUS_TLS_MAX_EPS];
static int                   tls_neps;
static struct metric_family *fam_auth;

bool
bus_is_tls_url(const char *url)
{
	return (url != NULL && strncmp(url, "tls+tcp", 7) == 0);
}

/* Log OpenSSL's error queue under what, then empty it. */
static void
ssl_warn(const char *what)
{
	unsigned long e;
	char          buf[256];

	if ((e = ERR_get_error()) == 0) {
		log_warnx("%s", what);
		return;
	}
	ERR_error_string_n(e, buf, sizeof(buf));
	log_warnx("%s (%s)", what, buf);
	ERR_clear_error();
}

/* Every certificate in a PEM text, or NULL (nothing logged). */
static STACK_OF(X509) * pem_certs(const char *pem)
{
	STACK_OF(X509) * sk;
	BIO  *bio;
	X509 *x;

	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
		return (NULL);
	sk = sk_X509_new_null();
	while (sk != NULL
	    && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		if (sk_X509_push(sk, x) == 0) {
			X509_free(x);
			break;
		}
	ERR_clear_error(); /* the end of the text reads as an error */
	BIO_free(bio);
	if (sk != NULL && sk_X509_num(sk) == 0) {
		sk_X509_free(sk);
		sk = NULL;
	}
	return (sk);
}

/* Certificate chains to the CA, key matches, dates; -1 logged. */
static int
tls_check_pem(const struct bus_tls *t)
{
	STACK_OF(X509) *cas = NULL, *chain = NULL;
	X509_STORE     *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	EVP_PKEY       *pkey = NULL;
	BIO            *bio = NULL;
	X509           *leaf;
	int             days, secs, i, rv = -1;

	if ((cas = pem_certs(t->ca)) == NULL) {
		log_warnx("config: BUS_TLS_CA holds no PEM certificate");
		goto out;
	}
	if ((chain = pem_certs(t->cert)) == NULL) {
		log_warnx("config: BUS_TLS_CERT holds no PEM certificate");
		goto out;
	}
	leaf = sk_X509_value(chain, 0);
	if ((bio = BIO_new_mem_buf(t->key, -1)) == NULL
	    || (pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL))
	        == NULL) {
		/* never log the key itself */
		ssl_warn("config: BUS_TLS_KEY is not a PEM private key "
		         "without a passphrase");
		goto out;
	}
	if (X509_check_private_key(leaf, pkey) != 1) {
		ssl_warn(
		    "config: BUS_TLS_KEY does not belong to BUS_TLS_CERT");
		goto out;
	}
	if ((store = X509_STORE_new()) == NULL
	    || (ctx = X509_STORE_CTX_new()) == NULL) {
		ssl_warn("config: bus TLS: out of memory");
		goto out;
	}
	for (i = 0; i < sk_X509_num(cas); i++)
		X509_STORE_add_cert(store, sk_X509_value(cas, i));
	if (X509_STORE_CTX_init(ctx, store, leaf, chain) != 1
	    || X509_verify_cert(ctx) != 1) {
		log_warnx("config: BUS_TLS_CERT does not verify against "
		          "BUS_TLS_CA: %s",
		    X509_verify_cert_error_string(
		        X509_STORE_CTX_get_error(ctx)));
		ERR_clear_error();
		goto out;
	}
	if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(leaf)) == 1
	    && days < BUS_TLS_WARN_DAYS)
		log_warnx("BUS_TLS_CERT expires in %d days: rotate it "
		          "(docs/security.md)",
		    days);
	rv = 0;
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(cas, X509_free);
	return (rv);
}

/* A config with our certificate, the CA and REQUIRED peer checks.
 * server_name NULL: chain only.  Returns 0 or an nng error, logged. */
static int
tls_config_new(
    nng_tls_config **cfgp, nng_tls_mode mode, const char *server_name)
{
	nng_tls_config *cfg;
	const char     *what;
	int             rv;

	if ((rv = nng_tls_config_alloc(&cfg, mode)) != 0) {
		log_warnx("bus TLS: config: %s", nng_strerror(rv));
		return (rv);
	}
	if ((rv = nng_tls_config_ca_chain(cfg, tls.ca, NULL)) != 0)
		what = "BUS_TLS_CA";
	else if ((rv = nng_tls_config_own_cert(cfg, tls.cert, tls.key, NULL))
	    != 0)
		what = "BUS_TLS_CERT and BUS_TLS_KEY";
	else if ((rv = nng_tls_config_auth_mode(
	              cfg, NNG_TLS_AUTH_MODE_REQUIRED))
	    != 0)
		what = "peer authentication";
	else if ((rv = nng_tls_config_version(cfg, NNG_TLS_1_2, NNG_TLS_1_3))
	    != 0)
		what = "TLS versions";
	else if (server_name != NULL
	    && (rv = nng_tls_config_server_name(cfg, server_name)) != 0)
		what = "server name";
	else {
		*cfgp = cfg;
		return (0);
	}
	log_warnx("bus TLS: %s: %s", what, nng_strerror(rv));
	nng_tls_config_free(cfg);
	return (rv);
}

static void tls_collect(void);

int
bus_tls_init(const struct bus_tls *t)
{
	bool cert = t->cert != NULL && t->cert[0] != '\0';
	bool key = t->key != NULL && t->key[0] != '\0';
	bool ca = t->ca != NULL && t->ca[0] != '\0';

	bus_tls_fini();
	if (!cert && !key && !ca)
		return (0);
	if (!cert || !key || !ca) {
		log_warnx("config: BUS_TLS_CERT, BUS_TLS_KEY and BUS_TLS_CA "
		          "are set together or not at all");
		return (-1);
	}
	if (tls_check_pem(t) == -1)
		return (-1);
	tls.cert = xstrdup(t->cert);
	tls.key = xstrdup(t->key);
	tls.ca = xstrdup(t->ca);
	if (tls_config_new(&tls.server, NNG_TLS_MODE_SERVER, NULL) != 0) {
		bus_tls_fini();
		return (-1);
	}
	tls.on = true;
	fam_auth = metrics_counter("bus_tls_auth_failures_total",
	    "TLS handshakes NNG failed for authentication (no or bad "
	    "certificate, unknown CA, wrong name)",
	    "socket,side");
	metrics_add_collector(tls_collect);
	log_info("bus TLS on (%s): peers need a certificate from BUS_TLS_CA",
	    nng_tls_engine_description());
	return (0);
}

void
bus_tls_fini(void)
{
	if (tls.server != NULL)
		nng_tls_config_free(tls.server);
	free(tls.cert);
	if (tls.key != NULL)
		OPENSSL_cleanse(tls.key, strlen(tls.key));
	free(tls.key);
	free(tls.ca);
	memset(&tls, 0, sizeof(tls));
}

static int
tls_refuse(const char *url)
{
	log_warnx(
	    "bus: %s needs BUS_TLS_CERT, BUS_TLS_KEY and BUS_TLS_CA", url);
	return (NNG_EINVAL);
}

int
bus_tls_listener(nng_listener l, const char *url)
{
	int rv;

	if (!bus_is_tls_url(url))
		return (0);
	if (!tls.on)
		return (tls_refuse(url));
	if ((rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, tls.server))
	    != 0)
		log_warnx("bus: listen %s: TLS: %s", url, nng_strerror(rv));
	return (rv);
}

/* An IP literal names no certificate we could be given (pod addresses
 * change), so it is checked by chain only. */
static bool
is_ip_literal(const char *host)
{
	unsigned char a[16];

	return (inet_pton(AF_INET, host, a) == 1
	    || inet_pton(AF_INET6, host, a) == 1);
}

int
bus_tls_dialer(nng_dialer d, const char *url)
{
	nng_tls_config *cfg;
	nng_url        *u;
	int             rv;

	if (!bus_is_tls_url(url))
		return (0);
	if (!tls.on)
		return (tls_refuse(url));
	if ((rv = nng_url_parse(&u, url)) != 0) {
		log_warnx("bus: dial %s: %s", url, nng_strerror(rv));
		return (rv);
	}
	rv = tls_config_new(&cfg, NNG_TLS_MODE_CLIENT,
	    is_ip_literal(u->u_hostname) ? NULL : u->u_hostname);
	nng_url_free(u);
	if (rv != 0)
		return (rv);
	/* the dialer holds its own reference */
	if ((rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg)) != 0)
		log_warnx("bus: dial %s: TLS: %s", url, nng_strerror(rv));
	nng_tls_config_free(cfg);
	return (rv);
}

/* The child statistic called name under scope, or NULL. */
static nng_stat *
stat_child(nng_stat *scope, const char *name)
{
	nng_stat *c;

	for (c = nng_stat_child(scope); c != NULL; c = nng_stat_next(c))
		if (strcmp(nng_stat_name(c), name) == 0)
			return (c);
	return (NULL);
}

/* The name of socket id (NNG_OPT_SOCKNAME, set in setup()). */
static const char *
sock_name(nng_stat *root, uint64_t id)
{
	nng_stat *c, *x;

	for (c = nng_stat_child(root); c != NULL; c = nng_stat_next(c)) {
		if (strcmp(nng_stat_name(c), "socket") != 0)
			continue;
		if ((x = stat_child(c, "id")) != NULL
		    && nng_stat_value(x) == id
		    && (x = stat_child(c, "name")) != NULL)
			return (nng_stat_string(x));
	}
	return ("?");
}

/* One listener or dialer of a TLS URL: add what its "auth" count grew
 * by since last time.  Under tls_lock. */
static void
collect_ep(nng_stat *root, nng_stat *ep, bool listener)
{
	nng_stat      *url, *id, *sock, *auth;
	struct tls_ep *e = NULL;
	uint64_t       v;
	int            i;

	if ((url = stat_child(ep, "url")) == NULL
	    || !bus_is_tls_url(nng_stat_string(url))
	    || (id = stat_child(ep, "id")) == NULL
	    || (sock = stat_child(ep, "socket")) == NULL
	    || (auth = stat_child(ep, "auth")) == NULL)
		return;
	for (i = 0; i < tls_neps; i++)
		if (tls_eps[i].listener == listener
		    && tls_eps[i].id == (uint32_t)nng_stat_value(id))
			e = &tls_eps[i];
	if (e == NULL) {
		if (tls_neps == BUS_TLS_MAX_EPS)
			return; /* more than we ever open: not counted */
		e = &tls_eps[tls_neps++];
		e->listener = listener;
		e->id = (uint32_t)nng_stat_value(id);
		e->seen = 0;
	}
	v = nng_stat_value(auth);
	if (v > e->seen) {
		metric_add(
		    metric_get(fam_auth, sock_name(root, nng_stat_value(sock)),
		        listener ? "listen" : "dial"),
		    (double)(v - e->seen));
		e->seen = v;
	}
}

/* metrics collector: any thread that renders /metrics. */
static void
tls_collect(void)
{
	nng_stat *root, *c;
	bool      l;

	if (nng_stats_get(&root) != 0)
		return; /* NNG built without statistics: nothing to count */
	pthread_mutex_lock(&tls_lock);
	for (c = nng_stat_child(root); c != NULL; c = nng_stat_next(c)) {
		l = strcmp(nng_stat_name(c), "listener") == 0;
		if (l || strcmp(nng_stat_name(c), "dialer") == 0)
			collect_ep(root, c, l);
	}
	pthread_mutex_unlock(&tls_lock);
	nng_stats_free(root);
}

/* Set once a close was left behind: NNG's reaper thread is then likely
 * stuck too (seen), so every later close would wait its whole timeout. */
static atomic_bool close_wedged;
/* What a close waits once NNG is wedged: long enough to start it (the
 * socket's pending requests are aborted before NNG waits on its pipes). */
#define CLOSE_WEDGED_MS 100

struct close_job {
	nng_socket      s;
	pthread_mutex_t mtx;
	pthread_cond_t  cv;
	bool            done;
	atomic_int      refs; /* the closer and the waiter */
};

static void
close_job_unref(struct close_job *j)
{
	if (atomic_fetch_sub(&j->refs, 1) == 1) {
		pthread_mutex_destroy(&j->mtx);
		pthread_cond_destroy(&j->cv);
		free(j);
	}
}

static void *
close_main(void *arg)
{
	struct close_job *j = arg;

	nng_close(j->s);
	pthread_mutex_lock(&j->mtx);
	j->done = true;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mtx);
	close_job_unref(j);
	return (NULL);
}

int
bus_close(nng_socket s, const char *name, int timeout_ms)
{
	struct close_job *j = xcalloc(1, sizeof(*j));
	struct timespec   until;
	pthread_t         t;
	int               rv = 0;
	bool              done;

	j->s = s;
	pthread_mutex_init(&j->mtx, NULL);
	pthread_cond_init(&j->cv, NULL);
	atomic_init(&j->refs, 2);
	if (pthread_create(&t, NULL, close_main, j) != 0) {
		nng_close(s); /* no thread: unbounded, as before */
		atomic_store(&j->refs, 1);
		close_job_unref(j);
		return (0);
	}
	pthread_detach(t);
	if (atomic_load(&close_wedged) && timeout_ms > CLOSE_WEDGED_MS)
		timeout_ms = CLOSE_WEDGED_MS;
	util_deadline(&until, CLOCK_REALTIME, (long)timeout_ms);
	pthread_mutex_lock(&j->mtx);
	while (!j->done && rv != ETIMEDOUT)
		rv = pthread_cond_timedwait(&j->cv, &j->mtx, &until);
	done = j->done;
	pthread_mutex_unlock(&j->mtx);
	close_job_unref(j);
	if (done)
		return (0);
	atomic_store(&close_wedged, true);
	log_warnx("bus: closing the %s socket did not finish in %d ms (a "
	          "known NNG 1.5 deadlock); left behind",
	    name, timeout_ms);
	return (-1);
}
