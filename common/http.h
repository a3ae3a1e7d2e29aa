/*
 * http - the one libcurl client of every daemon and of callctl.
 *
 * A struct http_client is one easy handle inside a one-handle multi,
 * owned by one thread (libcurl forbids sharing a handle); keeping it
 * keeps connections alive between requests.  The multi is there so that
 * shutdown can interrupt a transfer or a wait between attempts: set the
 * client's stop flag, then http_client_wake().
 *
 *	http_client_init(&hc, &opts);
 *	struct http_req r = { .url = u, .body = json, .headers = hdrs };
 *	if (http_request(&hc, &r, &retry, &resp) == 0 && resp.status == 200)
 *		use(resp.body, resp.len);	(valid until the next request)
 *	http_client_fini(&hc);
 *
 * Every attempt has a connect timeout and a total timeout; a response
 * body larger than max_body fails the attempt (resp.too_large).
 * http_request() retries a bounded number of times, waiting what the
 * server asked for in Retry-After (or retry-after-ms) when that lies in
 * (0, 60] s, else an exponential backoff with jitter.  Only http and
 * https URLs are followed; redirects are not.
 *
 * Secrets: request headers, credentials and bodies are never logged and
 * CURLOPT_VERBOSE is never set; a URL is logged without its query
 * string or user info.  curl_global_init() runs once in main before any
 * thread.
 *
 * Threads: everything on the client's owning thread, except
 * http_client_wake() (any thread).  The retry helpers are pure.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <curl/curl.h>

/* Defaults for zero fields of struct http_opts. */
#define HTTP_CONNECT_TIMEOUT_MS 3000
#define HTTP_TIMEOUT_MS 10000
#define HTTP_MAX_BODY (1024 * 1024)
/* A server's Retry-After beyond this is ignored (backoff instead). */
#define HTTP_RETRY_AFTER_MAX_S 60.0

struct http_opts {
	long        connect_timeout_ms; /* TCP + TLS connect */
	long        timeout_ms; /* one attempt, start to end */
	size_t      max_body; /* response bytes; more fails the attempt */
	const char *ca_file; /* NULL or "": the system's CA store */
	const char *user_agent; /* NULL: none */
	/* Non-NULL: transfers and waits give up once it is non-zero. */
	const atomic_int *stop;
};

struct http_client {
	CURL            *easy;
	CURLM           *multi;
	struct http_opts o;
	char            *ca_file; /* our copy of o.ca_file */
	char            *user_agent; /* our copy of o.user_agent */
	char            *buf; /* the last response body */
	size_t           len, cap;
	bool             too_large;
	unsigned int     seed; /* jitter, rand_r */
};

struct http_req {
	const char        *method; /* NULL: POST with a body, else GET */
	const char        *url;
	const char *const *headers; /* NULL-terminated "Name: value" lines */
	const char        *body; /* NULL: none */
	size_t             body_len; /* 0: strlen(body) */
	const char        *user, *pass; /* HTTP basic auth, or NULL */
	long               timeout_ms; /* 0: the client's */
};

struct http_resp {
	long        status; /* 0: no answer (transport error) */
	CURLcode    cc; /* CURLE_OK unless transport error */
	bool        cancelled; /* the stop flag interrupted it */
	bool        too_large; /* body over max_body */
	char        err[CURL_ERROR_SIZE]; /* why, when cc != CURLE_OK */
	const char *body; /* NUL-terminated; in the client's buffer */
	size_t      len;
	double      elapsed_s; /* the last attempt */
	int         attempts; /* how many were made */
};

/* Which answers http_request() tries again. */
struct http_retry {
	int  attempts; /* in all, >= 1 */
	long backoff_ms; /* first wait, doubled each time */
	long backoff_max_ms; /* cap on one wait */
	/* NULL: http_retryable(). */
	bool (*retryable)(const struct http_resp *);
	/* Non-NULL: no further attempt once it is non-zero (a transfer
	 * under way still runs to its end, unlike http_opts.stop). */
	const atomic_int *stop;
};

/* 0, or -1 (logged) when libcurl cannot start.  o is copied. */
int http_client_init(struct http_client *, const struct http_opts *o);
/* Releases everything; a zeroed or failed client is fine. */
void http_client_fini(struct http_client *);
/* Interrupts a transfer or wait of the client's thread.  Any thread. */
void http_client_wake(struct http_client *);

/*
 * One attempt.  0 when an answer came (any status), -1 on a transport
 * error, a timeout, an oversized body or cancellation (resp says which;
 * logged).  resp->body stays valid until the next request on c.
 * Blocks for up to the timeout.
 */
int http_perform(
    struct http_client *c, const struct http_req *r, struct http_resp *resp);

/*
 * http_perform() up to rt->attempts times while rt->retryable says so,
 * waiting between attempts as described at the top (interrupted by the
 * stop flag).  The result is the last attempt's.  Blocks.
 */
int http_request(struct http_client *c, const struct http_req *r,
    const struct http_retry *rt, struct http_resp *resp);

/* Transport errors (not cancellation or size) and 408, 429, >= 500. */
bool http_retryable(const struct http_resp *);

/* The value of a header of the last response on c, or "" in out. */
void http_header(
    struct http_client *c, const char *name, char *out, size_t len);

/*
 * The wait a server asked for, in seconds: retry-after-ms when it
 * parses, else Retry-After as seconds (fractions allowed) or an HTTP
 * date; -1 when absent, unparseable or outside (0, 60] s.  Pure.
 */
double http_retry_after(const char *after_ms, const char *after, time_t now);
/*
 * min(base * 2^attempt, cap) times the jitter factor 1 - u / 4, so in
 * (0.75, 1] of the bound; u in [0, 1) (else no jitter).  Pure.
 */
double http_backoff(int attempt, double base, double cap, double u);

#endif
