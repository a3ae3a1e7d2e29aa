/*
 * stream_util - helpers shared by the telephone-side simulators (sim-caller,
 * sim-twilio): JSON log lines on stderr, allocation that aborts on OOM, a
 * monotonic clock, random provider ids, the v1 stream token, URL splitting
 * and the signal thread.  Everything here is safe to call from any thread.
 *
 * The simulators do not link against common/ on purpose (it is written in
 * parallel), so these few helpers live here with the stream_ prefix.
 */
#ifndef STREAM_UTIL_H
#define STREAM_UTIL_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct lws_context;

/* Longest id we make or accept: "CA" + 32 hex, or a 36-char UUID. */
#define STREAM_SID_LEN 40

/* "v1." + 20 digits + "." + 64 hex. */
#define STREAM_TOKEN_LEN 96

struct stream_url {
	char buf[512];
	bool tls; /* wss:// or https:// */
	char host[256];
	int  port;
	char path[512]; /* always starts with '/' */
};

/* Names the service in every log line; call once from main. */
void stream_log_init(const char *svc);

/* One JSON object per line on stderr: ts, level, svc, msg. */
void stream_log(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Same, with the members of extra added to the line; extra is consumed. */
void stream_log_obj(const char *level, const char *msg, json_t *extra);

/* Routes libwebsockets' own log lines through stream_log (warn and up). */
void stream_log_lws(int level, const char *line);

/* Allocation wrappers: log and abort() on OOM, so callers skip checks. */
void *stream_xcalloc(size_t n, size_t size);
void *stream_xrealloc(void *p, size_t n, size_t size);
char *stream_xstrdup(const char *s);

/* Microseconds on CLOCK_MONOTONIC. */
int64_t stream_now_us(void);

/* Milliseconds since the first call in this process (for records). */
int64_t stream_elapsed_ms(void);

/*
 * Writes a random id into buf (STREAM_SID_LEN + 1 bytes): prefix + 32
 * lowercase hex digits (Twilio "CA...", "MZ...", "AC..."), or a version-4
 * UUID when prefix is NULL (SignalWire).
 */
void stream_sid_make(char *buf, const char *prefix);

/*
 * Writes "v1.<expiry>.<hex HMAC-SHA256(secret, "<call_sid>.<expiry>")>"
 * into buf (STREAM_TOKEN_LEN + 1 bytes).  Returns 0, or -1 (logged).
 */
int stream_token_make(
    const char *secret, const char *call_sid, long long expiry, char *buf);

/* Splits ws://, wss://, http:// or https:// URLs.  Returns 0 or -1 (logged).
 */
int stream_url_split(const char *url, struct stream_url *u);

/* Parses a decimal int in [min, max]; returns 0 or -1 (not logged). */
int stream_parse_int(
    const char *s, long long min, long long max, long long *outp);

/*
 * Blocks SIGINT and SIGTERM (and ignores SIGPIPE) in the calling thread;
 * call before any thread exists so every thread inherits the mask.
 */
void stream_sig_block(sigset_t *set);

/*
 * Starts a detached thread that waits for the blocked signals, then sets
 * *stop and wakes the lws service loop with lws_cancel_service().
 */
int stream_sig_start(
    const sigset_t *set, struct lws_context *ctx, atomic_int *stop);

#endif /* STREAM_UTIL_H */
