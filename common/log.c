/*
 * log - JSON-lines logging; see log.h for the format and the rules.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

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

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes at s
 * are not one (stray continuation byte, overlong form, surrogate, past
 * U+10FFFF, or cut short).  Only called for s[0] >= 0x80. */
static size_t
utf8_len(const unsigned char *s)
{
	size_t n, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return (0);
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return (0); /* also stops at the NUL */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0)
	    || (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return (0);
	return (n);
}

/*
 * The escaping itself.  Writes whole escapes or whole UTF-8 sequences
 * only, so a cut never leaves half of one; bytes that are not UTF-8
 * become U+FFFD, so the output is always valid JSON string content.
 * *cut is set when s did not fit.
 */
static size_t
escape(char *buf, size_t len, const char *s, bool *cut)
{
	static const char    hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t               o = 0;

	*cut = false;
	if (len == 0) {
		*cut = s != NULL && s[0] != '\0';
		return (0);
	}
	while (p != NULL && *p != '\0') {
		char        esc[7];
		const void *src = esc;
		size_t      n = 0, adv = 1;

		if (*p == '"' || *p == '\\') {
			esc[n++] = '\\';
			esc[n++] = (char)*p;
		} else if (*p == '\n' || *p == '\r' || *p == '\t') {
			esc[n++] = '\\';
			esc[n++] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
		} else if (*p < 0x20 || *p == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 0xf];
			n = 6;
		} else if (*p < 0x80)
			esc[n++] = (char)*p;
		else if ((adv = utf8_len(p)) > 0) {
			src = p;
			n = adv;
		} else {
			memcpy(esc, "\\ufffd", 6); /* not UTF-8 */
			n = 6;
			adv = 1;
		}
		if (n >= len - o) {
			*cut = true;
			break;
		}
		memcpy(buf + o, src, n);
		o += n;
		p += adv;
	}
	buf[o] = '\0';
	return (o);
}

size_t
log_json_escape(char *buf, size_t len, const char *s)
{
	bool cut;

	return (escape(buf, len, s, &cut));
}

/*
 * One line under construction.  `room` is what the fields may use: the
 * buffer less what closing the line needs in the worst case (the
 * truncation mark, "}\n" and a NUL), so no field can take the end away.
 */
struct line {
	char   buf[LOG_LINE_MAX];
	size_t o;
	size_t end; /* fields stop here: LINE_ROOM, less what is kept back */
	bool   cut;
};

#define LINE_TAIL "}\n"
#define LINE_MARK ",\"truncated\":true"
#define LINE_ROOM (LOG_LINE_MAX - sizeof(LINE_MARK LINE_TAIL))

/* Append s verbatim if it fits whole; our own fixed text only. */
static bool
put(struct line *l, const char *s)
{
	size_t n = strlen(s);

	if (l->o > l->end || n > l->end - l->o)
		return (false);
	memcpy(l->buf + l->o, s, n);
	l->o += n;
	return (true);
}

/* Append ,"key":"val" with val escaped, cut to at most cap bytes of
 * escaped text (0: no cap but the line's).  A field that does not fit at
 * all is left out; either way the line is marked truncated. */
static void
put_kv(struct line *l, const char *key, const char *val, size_t cap)
{
	size_t start = l->o, room;
	bool   cut;

	if (!put(l, ",\"") || !put(l, key) || !put(l, "\":\"")
	    || l->end - l->o < 2) {
		l->o = start;
		l->cut = true;
		return;
	}
	room = l->end - l->o; /* >= 2: the closing quote and the NUL */
	if (cap > 0 && cap + 2 < room)
		room = cap + 2;
	l->o += escape(l->buf + l->o, room - 1, val, &cut);
	if (cut)
		l->cut = true;
	(void)put(l, "\""); /* room - 1 kept a byte for it */
}

void
log_vemit(int level, const struct log_ctx *ctx, int errnum, const char *fmt,
    va_list ap)
{
	struct line     l;
	char            msg[LOG_LINE_MAX / 2], ts[96];
	struct timespec now;
	struct tm       tm;
	int             n;

	if (ctx == NULL)
		ctx = log_tctx;
	if (level < LOG_LVL_DEBUG || level > LOG_LVL_FATAL)
		level = LOG_LVL_ERROR;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (long)(now.tv_nsec / 1000000) % 1000);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);

	l.o = 0;
	l.end = LINE_ROOM;
	l.cut = n < 0 || (size_t)n >= sizeof(msg);
	(void)put(&l, "{\"ts\":\"");
	(void)put(&l, ts);
	(void)put(&l, "\"");
	put_kv(&l, "level", level_names[level], 0);
	put_kv(&l, "svc", log_svc, LOG_FIELD_MAX);
	if (ctx != NULL && ctx->call_sid != NULL && ctx->call_sid[0] != '\0')
		put_kv(&l, "call_sid", ctx->call_sid, LOG_FIELD_MAX);
	if (ctx != NULL && ctx->trace_id != NULL && ctx->trace_id[0] != '\0')
		put_kv(&l, "trace_id", ctx->trace_id, LOG_FIELD_MAX);
	if (errnum != 0) /* keep room for the error after a long msg */
		l.end = LINE_ROOM - (sizeof(",\"err\":\"\"") + LOG_FIELD_MAX);
	put_kv(&l, "msg", msg, 0);
	l.end = LINE_ROOM;
	if (errnum != 0)
		put_kv(&l, "err", strerror(errnum), LOG_FIELD_MAX);
	if (l.cut) {
		memcpy(l.buf + l.o, LINE_MARK, sizeof(LINE_MARK) - 1);
		l.o += sizeof(LINE_MARK) - 1;
	}
	memcpy(l.buf + l.o, LINE_TAIL, sizeof(LINE_TAIL) - 1);
	l.o += sizeof(LINE_TAIL) - 1;
	(void)write(STDERR_FILENO, l.buf, l.o);
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
