/*
 * harness_http.c - the test's HTTP client, polling and free ports.
 *
 * harness_http() is one blocking libcurl easy request per call, so a test
 * reads top to bottom.  "Expect:" is always cleared: a test measuring
 * latency must not see curl's one-second 100-continue wait.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "harness.h"
#include "xmalloc.h"

#define HTTP_TIMEOUT_MS 30000

struct buf {
	char  *data;
	size_t len;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t
buf_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t      n = size * nmemb;

	b->data = xrealloc(b->data, b->len + n + 1);
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return (n);
}

static struct curl_slist *
header_list(const char *const headers[])
{
	struct curl_slist *list = NULL, *tmp;
	size_t             i;

	for (i = 0; headers != NULL && headers[i] != NULL; i++) {
		if ((tmp = curl_slist_append(list, headers[i])) == NULL)
			abort();
		list = tmp;
	}
	if ((tmp = curl_slist_append(list, "Expect:")) == NULL)
		abort();
	return (tmp);
}

int
harness_http_full(const char *method, const char *url,
    const char *const headers[], const char *body, int timeout_ms,
    long *status, char **resp_body, char **resp_headers)
{
	struct buf         rb = { NULL, 0 }, rh = { NULL, 0 };
	struct curl_slist *hl;
	CURL              *c;
	CURLcode           rc;
	long               code = 0;

	pthread_once(&curl_once, curl_init_once);
	if ((c = curl_easy_init()) == NULL) {
		fprintf(stderr, "harness: curl_easy_init failed\n");
		return (-1);
	}
	hl = header_list(headers);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
	    (long)(timeout_ms > 0 ? timeout_ms : HTTP_TIMEOUT_MS));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &rb);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, buf_write_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &rh);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	else
		fprintf(stderr, "harness: %s %s: %s\n", method, url,
		    curl_easy_strerror(rc));
	curl_easy_cleanup(c);
	curl_slist_free_all(hl);
	if (rc != CURLE_OK) {
		free(rb.data);
		free(rh.data);
		return (-1);
	}
	if (status != NULL)
		*status = code;
	if (resp_body != NULL)
		*resp_body = rb.data != NULL ? rb.data : xstrdup("");
	else
		free(rb.data);
	if (resp_headers != NULL)
		*resp_headers = rh.data != NULL ? rh.data : xstrdup("");
	else
		free(rh.data);
	return (0);
}

int
harness_http(const char *method, const char *url, const char *const headers[],
    const char *body, long *status, char **resp_body)
{
	return (harness_http_full(
	    method, url, headers, body, 0, status, resp_body, NULL));
}

int
harness_wait_for(int (*pred)(void *), void *arg, int timeout_ms)
{
	long long       deadline = harness_now_ms() + timeout_ms;
	struct timespec ts = { 0, 10 * 1000000L };

	for (;;) {
		if (pred(arg))
			return (0);
		if (harness_now_ms() >= deadline)
			return (-1);
		nanosleep(&ts, NULL);
	}
}

int
harness_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t          len = sizeof(sin);
	int                fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "harness: socket: %s\n", strerror(errno));
		return (-1);
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1
	    || getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		fprintf(stderr, "harness: bind 127.0.0.1:0: %s\n",
		    strerror(errno));
	else
		port = ntohs(sin.sin_port);
	close(fd);
	return (port);
}
