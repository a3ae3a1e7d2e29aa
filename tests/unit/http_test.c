/*
 * http_test - common/http against a scripted HTTP/1.1 server on a
 * loopback port in this process: retries of 503 until 200, Retry-After
 * and retry-after-ms honoured, 400 not retried, a body over the limit,
 * a server slower than the timeout, the stop flag cutting a wait short,
 * and what the server receives (method, headers, body, basic auth).
 * The retry-after parsing and the backoff bounds are tested as pure
 * functions.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "http.h"
#include "log.h"

/* Sun, 06 Nov 1994 08:49:37 GMT, the RFC 9110 example date. */
#define T0 ((time_t)784111777)
#define MAX_STEPS 8

/* One scripted answer. */
struct step {
	int         status;
	const char *headers; /* extra header lines, each ending \r\n */
	size_t      body_len; /* of 'x's */
	int         delay_ms; /* before answering */
};

struct server {
	int             fd, port;
	pthread_t       thr;
	pthread_mutex_t lock;
	struct step     steps[MAX_STEPS]; /* {lock} the last one repeats */
	int             nsteps;
	atomic_int      requests;
	char            last[4096]; /* the last request, head and body */
};

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return ((double)t.tv_sec + (double)t.tv_nsec / 1e9);
}

/* Read a request: the head, then Content-Length bytes of body. */
static void
read_request(int fd, char *buf, size_t cap)
{
	size_t      len = 0, want = 0;
	const char *end, *cl;
	ssize_t     n;

	buf[0] = '\0';
	while (len + 1 < cap) {
		if ((n = read(fd, buf + len, cap - 1 - len)) <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) == NULL)
			continue;
		if (want == 0) {
			cl = strcasestr(buf, "content-length:");
			want = (size_t)(end + 4 - buf)
			    + (cl != NULL ? strtoul(cl + 15, NULL, 10) : 0);
		}
		if (len >= want)
			break;
	}
}

static void
answer(int fd, const struct step *s)
{
	char   head[512];
	char  *body = malloc(s->body_len + 1);
	size_t off = 0;
	int    n;

	memset(body, 'x', s->body_len);
	n = snprintf(head, sizeof(head),
	    "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%sConnection: "
	    "close\r\n\r\n",
	    s->status, s->body_len, s->headers != NULL ? s->headers : "");
	if (write(fd, head, (size_t)n) != n)
		goto out;
	while (off < s->body_len) {
		ssize_t w = write(fd, body + off, s->body_len - off);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
out:
	free(body);
}

static void *
server_main(void *arg)
{
	struct server *sv = arg;
	struct step    st;
	int            c, i;

	while ((c = accept(sv->fd, NULL, NULL)) >= 0) {
		read_request(c, sv->last, sizeof(sv->last));
		i = atomic_fetch_add(&sv->requests, 1);
		if (i >= sv->nsteps)
			i = sv->nsteps - 1;
		pthread_mutex_lock(&sv->lock);
		st = sv->steps[i];
		pthread_mutex_unlock(&sv->lock);
		if (st.delay_ms > 0)
			usleep((useconds_t)st.delay_ms * 1000);
		answer(c, &st);
		close(c);
	}
	return (NULL);
}

static struct server *
server_start(const struct step *steps, int n)
{
	struct server     *sv = calloc(1, sizeof(*sv));
	struct sockaddr_in a = { 0 };
	socklen_t          alen = sizeof(a);

	pthread_mutex_init(&sv->lock, NULL);
	memcpy(sv->steps, steps, sizeof(*steps) * (size_t)n);
	sv->nsteps = n;
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sv->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(sv->fd >= 0);
	assert_int_equal(bind(sv->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(sv->fd, 16), 0);
	getsockname(sv->fd, (struct sockaddr *)&a, &alen);
	sv->port = ntohs(a.sin_port);
	pthread_create(&sv->thr, NULL, server_main, sv);
	return (sv);
}

static void
server_stop(struct server *sv)
{
	shutdown(sv->fd, SHUT_RDWR); /* accept() returns -1 */
	pthread_join(sv->thr, NULL);
	close(sv->fd);
	free(sv);
}

static void
url_of(const struct server *sv, char *out, size_t len)
{
	snprintf(out, len, "http://127.0.0.1:%d/x?token=secret", sv->port);
}

/* The scripted server and a client with opts o; url is the server's. */
static struct server *
client_start(const struct step *s, int n, const struct http_opts *o,
    struct http_client *c, char *url, size_t len)
{
	struct server *sv = server_start(s, n);

	url_of(sv, url, len);
	assert_int_equal(http_client_init(c, o), 0);
	return (sv);
}

static void
client_stop(struct server *sv, struct http_client *c)
{
	http_client_fini(c);
	server_stop(sv);
}

static const struct http_retry three = { 3, 10, 50, NULL, NULL };

static void
test_retry_until_ok(void **state)
{
	static const struct step s[] = { { 503, NULL, 0, 0 },
		{ 502, NULL, 0, 0 }, { 200, NULL, 5, 0 } };
	struct server           *sv;
	struct http_opts         o = { 0 };
	struct http_client       c;
	struct http_resp         r;
	char                     url[128];
	struct http_req          q = { .url = url };

	(void)state;
	sv = client_start(s, 3, &o, &c, url, sizeof(url));
	assert_int_equal(http_request(&c, &q, &three, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.attempts, 3);
	assert_int_equal(r.len, 5);
	assert_string_equal(r.body, "xxxxx");
	assert_int_equal(atomic_load(&sv->requests), 3);
	/* the attempts are bounded: 503 for ever ends after three */
	pthread_mutex_lock(&sv->lock);
	sv->steps[2].status = 503;
	pthread_mutex_unlock(&sv->lock);
	atomic_store(&sv->requests, 0);
	assert_int_equal(http_request(&c, &q, &three, &r), 0);
	assert_int_equal(r.status, 503);
	assert_int_equal(r.attempts, 3);
	assert_int_equal(atomic_load(&sv->requests), 3);
	client_stop(sv, &c);
}

static void
test_no_retry_on_400(void **state)
{
	static const struct step s[] = { { 400, NULL, 0, 0 } };
	struct server           *sv;
	struct http_opts         o = { 0 };
	struct http_client       c;
	struct http_resp         r;
	char                     url[128];
	struct http_req          q = { .url = url };

	(void)state;
	sv = client_start(s, 1, &o, &c, url, sizeof(url));
	assert_int_equal(http_request(&c, &q, &three, &r), 0);
	assert_int_equal(r.status, 400);
	assert_int_equal(r.attempts, 1);
	assert_int_equal(atomic_load(&sv->requests), 1);
	client_stop(sv, &c);
}

static void
test_retry_after(void **state)
{
	static const struct step s[] = { { 429, "Retry-After: 1\r\n", 0, 0 },
		{ 503, "retry-after-ms: 300\r\n", 0, 0 },
		{ 200, NULL, 0, 0 } };
	struct server           *sv;
	struct http_opts         o = { 0 };
	struct http_client       c;
	struct http_resp         r;
	char                     url[128];
	struct http_req          q = { .url = url };
	double                   t0, dt;

	(void)state;
	sv = client_start(s, 3, &o, &c, url, sizeof(url));
	t0 = now_s();
	assert_int_equal(http_request(&c, &q, &three, &r), 0);
	dt = now_s() - t0;
	assert_int_equal(r.status, 200);
	assert_int_equal(r.attempts, 3);
	/* 1 s, then 0.3 s, where the backoff alone would wait < 0.1 s */
	assert_true(dt >= 1.29);
	assert_true(dt < 3.0);
	client_stop(sv, &c);
}

static void
test_size_limit(void **state)
{
	static const struct step s[] = { { 200, NULL, 200000, 0 } };
	struct server           *sv;
	struct http_opts         o = { .max_body = 1000 };
	struct http_client       c;
	struct http_resp         r;
	char                     url[128];
	struct http_req          q = { .url = url };

	(void)state;
	sv = client_start(s, 1, &o, &c, url, sizeof(url));
	assert_int_equal(http_request(&c, &q, &three, &r), -1);
	assert_true(r.too_large);
	assert_int_equal(r.cc, CURLE_WRITE_ERROR);
	assert_true(r.len <= 1000);
	assert_int_equal(r.attempts, 1); /* a too-large answer is final */
	assert_non_null(strstr(r.err, "1000 bytes"));
	/* under the limit it passes */
	pthread_mutex_lock(&sv->lock);
	sv->steps[0].body_len = 1000;
	pthread_mutex_unlock(&sv->lock);
	assert_int_equal(http_request(&c, &q, &three, &r), 0);
	assert_int_equal(r.len, 1000);
	client_stop(sv, &c);
}

static void
test_timeout(void **state)
{
	/* one server thread: the second request waits out the first */
	static const struct step s[]
	    = { { 200, NULL, 0, 1500 }, { 200, NULL, 0, 0 } };
	struct server     *sv;
	struct http_opts   o = { .timeout_ms = 5000 };
	struct http_client c;
	struct http_resp   r;
	char               url[128];
	struct http_req    q = { .url = url, .timeout_ms = 200 };
	double             t0, dt;

	(void)state;
	sv = client_start(s, 2, &o, &c, url, sizeof(url));
	t0 = now_s();
	assert_int_equal(http_perform(&c, &q, &r), -1);
	dt = now_s() - t0;
	assert_int_equal(r.cc, CURLE_OPERATION_TIMEDOUT);
	assert_int_equal(r.status, 0);
	assert_true(dt >= 0.15 && dt < 1.0);
	assert_true(http_retryable(&r));
	/* the client's own timeout applies when the request has none */
	q.timeout_ms = 0;
	assert_int_equal(http_perform(&c, &q, &r), 0);
	assert_int_equal(r.status, 200);
	/* a refused connection is a transport error too */
	snprintf(url, sizeof(url), "http://127.0.0.1:1/");
	assert_int_equal(http_perform(&c, &q, &r), -1);
	assert_int_equal(r.cc, CURLE_COULDNT_CONNECT);
	client_stop(sv, &c);
}

struct stopper {
	atomic_int         *flag;
	struct http_client *c;
};

static void *
stop_later(void *arg)
{
	struct stopper *s = arg;

	usleep(300 * 1000);
	atomic_store(s->flag, 1);
	http_client_wake(s->c);
	return (NULL);
}

static void
test_stop_cuts_wait(void **state)
{
	static const struct step s[]
	    = { { 503, "Retry-After: 30\r\n", 0, 0 } };
	struct server     *sv;
	atomic_int         stop = 0;
	struct http_opts   o = { .stop = &stop };
	struct http_client c;
	struct http_resp   r;
	char               url[128];
	struct http_req    q = { .url = url };
	struct stopper     st = { &stop, &c };
	pthread_t          t;
	double             t0, dt;

	(void)state;
	sv = client_start(s, 1, &o, &c, url, sizeof(url));
	pthread_create(&t, NULL, stop_later, &st);
	t0 = now_s();
	assert_int_equal(http_request(&c, &q, &three, &r), 0);
	dt = now_s() - t0;
	pthread_join(t, NULL);
	assert_int_equal(r.status, 503);
	assert_true(r.cancelled);
	assert_int_equal(r.attempts, 1);
	assert_true(dt < 2.0); /* not the 30 s asked for */
	/* the retry policy's own flag: the attempt runs, no further one */
	{
		atomic_int         halt = 1;
		struct http_retry  rs = { 3, 10, 50, NULL, &halt };
		struct http_client c2;
		struct http_opts   o2 = { 0 };

		atomic_store(&sv->requests, 0);
		assert_int_equal(http_client_init(&c2, &o2), 0);
		assert_int_equal(http_request(&c2, &q, &rs, &r), 0);
		assert_int_equal(r.status, 503);
		assert_int_equal(r.attempts, 1);
		assert_true(r.cancelled);
		assert_int_equal(atomic_load(&sv->requests), 1);
		http_client_fini(&c2);
	}
	/* once stopped, a transfer gives up at once */
	assert_int_equal(http_perform(&c, &q, &r), -1);
	assert_true(r.cancelled);
	assert_false(http_retryable(&r));
	client_stop(sv, &c);
}

static void
test_request_sent(void **state)
{
	static const struct step s[] = { { 201, NULL, 0, 0 } };
	static const char *const hdrs[]
	    = { "X-Signature: abc", "Content-Type: application/json", NULL };
	struct server     *sv;
	struct http_opts   o = { .user_agent = "test/1" };
	struct http_client c;
	struct http_resp   r;
	char               url[128];
	struct http_req    q = { .url = url,
		   .headers = hdrs,
		   .body = "{\"a\":1}",
		   .user = "AC1",
		   .pass = "pw" };

	(void)state;
	sv = client_start(s, 1, &o, &c, url, sizeof(url));
	assert_int_equal(http_perform(&c, &q, &r), 0);
	assert_int_equal(r.status, 201);
	assert_non_null(strstr(sv->last, "POST /x?token=secret HTTP/1.1"));
	assert_non_null(strstr(sv->last, "X-Signature: abc\r\n"));
	assert_non_null(strstr(sv->last, "User-Agent: test/1\r\n"));
	/* base64("AC1:pw") */
	assert_non_null(strstr(sv->last, "Authorization: Basic QUMxOnB3"));
	assert_null(strstr(sv->last, "Expect:"));
	assert_non_null(strstr(sv->last, "\r\n\r\n{\"a\":1}"));
	/* an explicit method, no body */
	q.method = "DELETE";
	q.body = NULL;
	q.user = NULL;
	assert_int_equal(http_perform(&c, &q, &r), 0);
	assert_non_null(strstr(sv->last, "DELETE /x"));
	assert_null(strstr(sv->last, "Authorization"));
	client_stop(sv, &c);
}

static void
test_after_ms(void **state)
{
	(void)state;
	assert_true(fabs(http_retry_after("1500", NULL, T0) - 1.5) < 1e-9);
	assert_true(fabs(http_retry_after("250.5", "9", T0) - 0.2505) < 1e-9);
	/* retry-after-ms wins over retry-after when it parses */
	assert_true(fabs(http_retry_after("2000", "30", T0) - 2.0) < 1e-9);
	/* out of range: the SDK then falls back to backoff, not to
	 * retry-after */
	assert_true(http_retry_after("61000", "5", T0) < 0);
	assert_true(http_retry_after("0", "5", T0) < 0);
	assert_true(http_retry_after("-5", NULL, T0) < 0);
	/* unparseable ms: retry-after is used */
	assert_true(fabs(http_retry_after("soon", "3", T0) - 3.0) < 1e-9);
}

static void
test_after_seconds(void **state)
{
	(void)state;
	assert_true(fabs(http_retry_after(NULL, "1", T0) - 1.0) < 1e-9);
	assert_true(fabs(http_retry_after(NULL, " 2 ", T0) - 2.0) < 1e-9);
	assert_true(fabs(http_retry_after(NULL, "0.25", T0) - 0.25) < 1e-9);
	assert_true(fabs(http_retry_after("", "60", T0) - 60.0) < 1e-9);
	assert_true(http_retry_after(NULL, "60.001", T0) < 0);
	assert_true(http_retry_after(NULL, "3600", T0) < 0);
	assert_true(http_retry_after(NULL, "0", T0) < 0);
	assert_true(http_retry_after(NULL, "-1", T0) < 0);
	assert_true(http_retry_after(NULL, "nan", T0) < 0);
	assert_true(http_retry_after(NULL, "inf", T0) < 0);
	assert_true(http_retry_after(NULL, "3s", T0) < 0);
	assert_true(http_retry_after(NULL, "", T0) < 0);
	assert_true(http_retry_after(NULL, NULL, T0) < 0);
}

static void
test_after_date(void **state)
{
	(void)state;
	/* 10 s after T0 */
	assert_true(
	    fabs(http_retry_after(NULL, "Sun, 06 Nov 1994 08:49:47 GMT", T0)
	        - 10.0)
	    < 1e-9);
	/* RFC 850 and asctime forms are HTTP dates too */
	assert_true(
	    fabs(http_retry_after(NULL, "Sunday, 06-Nov-94 08:49:57 GMT", T0)
	        - 20.0)
	    < 1e-9);
	assert_true(
	    fabs(http_retry_after(NULL, "Sun Nov  6 08:50:07 1994", T0) - 30.0)
	    < 1e-9);
	/* in the past, or more than 60 s ahead: ignored */
	assert_true(
	    http_retry_after(NULL, "Sun, 06 Nov 1994 08:49:00 GMT", T0) < 0);
	assert_true(
	    http_retry_after(NULL, "Sun, 06 Nov 1994 08:51:00 GMT", T0) < 0);
	assert_true(
	    http_retry_after(NULL, "Sun, 06 Nov 1994 08:49:37 GMT", T0) < 0);
	assert_true(http_retry_after(NULL, "tomorrow", T0) < 0);
	assert_true(http_retry_after(NULL, "Sun, 99 Foo 1994 xx GMT", T0) < 0);
}

static void
test_backoff(void **state)
{
	double u;
	int    a;

	(void)state;
	/* no jitter (u = 0): exactly 0.5, 1, 2, 4, 8, 8, ... */
	assert_true(fabs(http_backoff(0, 0.5, 8.0, 0.0) - 0.5) < 1e-9);
	assert_true(fabs(http_backoff(1, 0.5, 8.0, 0.0) - 1.0) < 1e-9);
	assert_true(fabs(http_backoff(2, 0.5, 8.0, 0.0) - 2.0) < 1e-9);
	assert_true(fabs(http_backoff(3, 0.5, 8.0, 0.0) - 4.0) < 1e-9);
	assert_true(fabs(http_backoff(4, 0.5, 8.0, 0.0) - 8.0) < 1e-9);
	assert_true(fabs(http_backoff(5, 0.5, 8.0, 0.0) - 8.0) < 1e-9);
	assert_true(fabs(http_backoff(1000, 0.5, 8.0, 0.0) - 8.0) < 1e-9);
	assert_true(fabs(http_backoff(-3, 0.5, 8.0, 0.0) - 0.5) < 1e-9);
	/* jitter factor is in (0.75, 1]: never below 3/4 of the base */
	for (a = 0; a < 8; a++)
		for (u = 0.0; u < 1.0; u += 0.01) {
			double base = fmin(0.5 * pow(2, a), 8.0);
			double s = http_backoff(a, 0.5, 8.0, u);

			assert_true(s <= base + 1e-12);
			assert_true(s > base * 0.75);
		}
	/* a bad draw is treated as no jitter rather than trusted */
	assert_true(fabs(http_backoff(0, 0.5, 8.0, 1.5) - 0.5) < 1e-9);
	assert_true(fabs(http_backoff(0, 0.5, 8.0, -1) - 0.5) < 1e-9);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_until_ok),
		cmocka_unit_test(test_no_retry_on_400),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_stop_cuts_wait),
		cmocka_unit_test(test_request_sent),
		cmocka_unit_test(test_after_ms),
		cmocka_unit_test(test_after_seconds),
		cmocka_unit_test(test_after_date),
		cmocka_unit_test(test_backoff),
	};

	log_init("http_test");
	log_set_level("error");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
