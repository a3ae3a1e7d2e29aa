/*
 * log - JSON-lines logging; see log.h for the format and the rules.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 4096

int                                        log_level = LOG_LVL_INFO;
static const char                         *log_svc = "-";
static _Thread_local const struct log_ctx *log_tctx;

static const char *const level_names[]
    = { "debug", "info", "warn", "error", "fatal" };

void
log_init(const char *svc)
{
	log_svc = svc;
}

int
log_set_level(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			log_level = (int)i;
			return (0);
		}
	}
	return (-1);
}

void
log_ctx_set(const struct log_ctx *ctx)
{
	log_tctx = ctx;
}

size_t
log_json_escape(char *buf, size_t len, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t            o = 0;
	unsigned char     c;

	if (len == 0)
		return (0);
	for (; s != NULL && (c = (unsigned char)*s) != '\0'; s++) {
		char   esc[7];
		size_t n = 0;

		if (c == '"' || c == '\\') {
			esc[n++] = '\\';
			esc[n++] = (char)c;
		} else if (c == '\n') {
			esc[n++] = '\\';
			esc[n++] = 'n';
		} else if (c == '\r') {
			esc[n++] = '\\';
			esc[n++] = 'r';
		} else if (c == '\t') {
			esc[n++] = '\\';
			esc[n++] = 't';
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			n = 6;
		} else
			esc[n++] = (char)c;
		if (o + n >= len)
			break;
		memcpy(buf + o, esc, n);
		o += n;
	}
	buf[o] = '\0';
	return (o);
}

static size_t
put(char *line, size_t o, const char *s)
{
	size_t n = strlen(s);

	if (o + n >= LOG_LINE_MAX)
		n = LOG_LINE_MAX - 1 - o;
	memcpy(line + o, s, n);
	return (o + n);
}

static size_t
put_kv(char *line, size_t o, const char *key, const char *val)
{
	o = put(line, o, ",\"");
	o = put(line, o, key);
	o = put(line, o, "\":\"");
	o += log_json_escape(line + o, LOG_LINE_MAX - 2 - o, val);
	return (put(line, o, "\""));
}

void
log_vemit(int level, const struct log_ctx *ctx, int errnum, const char *fmt,
    va_list ap)
{
	char            line[LOG_LINE_MAX], msg[LOG_LINE_MAX / 2], ts[96];
	struct timespec now;
	struct tm       tm;
	size_t          o;

	if (ctx == NULL)
		ctx = log_tctx;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (long)(now.tv_nsec / 1000000) % 1000);
	vsnprintf(msg, sizeof(msg), fmt, ap);

	o = put(line, 0, "{\"ts\":\"");
	o = put(line, o, ts);
	o = put(line, o, "\"");
	o = put_kv(line, o, "level", level_names[level]);
	o = put_kv(line, o, "svc", log_svc);
	if (ctx != NULL && ctx->call_sid != NULL && ctx->call_sid[0] != '\0')
		o = put_kv(line, o, "call_sid", ctx->call_sid);
	if (ctx != NULL && ctx->trace_id != NULL && ctx->trace_id[0] != '\0')
		o = put_kv(line, o, "trace_id", ctx->trace_id);
	o = put_kv(line, o, "msg", msg);
	if (errnum != 0)
		o = put_kv(line, o, "err", strerror(errnum));
	o = put(line, o, "}\n");
	if (line[o - 1] != '\n')
		line[o - 1] = '\n'; /* truncated: keep one line a line */
	(void)write(STDERR_FILENO, line, o);
}

void
log_emit(
    int level, const struct log_ctx *ctx, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(level, ctx, errnum, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int     e = errno;

	va_start(ap, fmt);
	log_vemit(LOG_LVL_FATAL, NULL, e, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LVL_FATAL, NULL, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
