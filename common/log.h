/*
 * log - JSON-lines logging to stderr.
 *
 * One object per line with fixed keys:
 *   {"ts":"2026-11-21T10:00:00.123Z","level":"warn","svc":"persister",
 *    "call_sid":"CA..","trace_id":"ab12..","msg":"insert failed","err":".."}
 * call_sid and trace_id appear when the line concerns a call: pass a
 * struct log_ctx to the logc_* forms, or set a thread-local context with
 * log_ctx_set() around work done for one call.  Never pass secrets, auth
 * headers, audio, prompts or phone numbers; log sizes or hashes instead.
 *
 * A line never exceeds LOG_LINE_MAX bytes and is always one valid JSON
 * object, whatever it is given: control characters are escaped, bytes
 * that are not UTF-8 become U+FFFD, svc, call_sid, trace_id and err are
 * cut to LOG_FIELD_MAX bytes of escaped text and msg to what is left.  A
 * line that lost anything ends with "truncated":true.
 *
 * The level test is in the macro, before arguments are evaluated, so a
 * disabled debug line costs one comparison.  Any thread may log; each
 * line is written with one write(2).
 */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>
#include <stddef.h>

#define LOG_LINE_MAX 4096 /* bytes in one line, newline included */
#define LOG_FIELD_MAX 256 /* escaped bytes of svc, call_sid, trace_id, err */

enum log_level {
	LOG_LVL_DEBUG = 0,
	LOG_LVL_INFO,
	LOG_LVL_WARN,
	LOG_LVL_ERROR,
	LOG_LVL_FATAL
};

struct log_ctx {
	const char *call_sid;
	const char *trace_id;
};

extern int log_level;

/* Name the service on every line.  Call once, first thing in main. */
void log_init(const char *svc);
/* "debug", "info", "warn", "error"; returns -1 for an unknown name. */
int log_set_level(const char *name);
/* Thread-local call context used by the plain log_* forms; NULL clears. */
void log_ctx_set(const struct log_ctx *);

void log_emit(int level, const struct log_ctx *, int errnum, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));
void log_vemit(int level, const struct log_ctx *, int errnum, const char *fmt,
    va_list ap);
/* Write a line at level fatal and exit(1); fatal() appends strerror. */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Escape s as the inside of a JSON string into buf (control characters
 * as \uXXXX, bytes that are not UTF-8 as \ufffd); returns the length
 * written.  Writes at most len bytes, the NUL included (nothing when len
 * is 0), and cuts only between whole escapes and UTF-8 sequences, so the
 * result is valid JSON string content even when s did not fit. */
size_t log_json_escape(char *buf, size_t len, const char *s);

#define LOG_(lvl, ctx, e, ...)                                                \
	do {                                                                  \
		if ((lvl) >= log_level)                                       \
			log_emit((lvl), (ctx), (e), __VA_ARGS__);             \
	} while (0)

#define log_debug(...) LOG_(LOG_LVL_DEBUG, NULL, 0, __VA_ARGS__)
#define log_info(...) LOG_(LOG_LVL_INFO, NULL, 0, __VA_ARGS__)
#define log_warnx(...) LOG_(LOG_LVL_WARN, NULL, 0, __VA_ARGS__)
#define log_warn(...) LOG_(LOG_LVL_WARN, NULL, errno, __VA_ARGS__)
#define log_errorx(...) LOG_(LOG_LVL_ERROR, NULL, 0, __VA_ARGS__)

#define logc_debug(c, ...) LOG_(LOG_LVL_DEBUG, (c), 0, __VA_ARGS__)
#define logc_info(c, ...) LOG_(LOG_LVL_INFO, (c), 0, __VA_ARGS__)
#define logc_warnx(c, ...) LOG_(LOG_LVL_WARN, (c), 0, __VA_ARGS__)
#define logc_errorx(c, ...) LOG_(LOG_LVL_ERROR, (c), 0, __VA_ARGS__)

#endif
