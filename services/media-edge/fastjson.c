/*
 * fastjson.c - the hot path: read a `media` message without building a
 * JSON tree.
 *
 * A strict, allocation-free scanner walks the whole message (any field
 * order, any extra fields, nested values skipped, duplicate keys resolved
 * to the last one as jansson does) and picks out `event`,
 * `media.payload` and `media.timestamp`.  Anything outside the plain
 * subset it handles (non-ASCII bytes, \u escapes in the fields it reads,
 * an event other than "media", a message that is not valid JSON) makes it
 * return -1, and the caller parses the message with jansson instead, so
 * the result never differs from the general path; it is only faster.
 *
 * lws service thread only (uses the edge's scratch buffers).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "edge.h"

#define FJ_MAX_DEPTH 16

struct fj {
	const char *p;
	const char *end;
};

struct fj_str {
	const char *s; /* raw, between the quotes */
	size_t      len;
	bool        escaped;
	bool        set;
};

static void
ws(struct fj *f)
{
	while (f->p < f->end
	    && (*f->p == ' ' || *f->p == '\t' || *f->p == '\n'
	        || *f->p == '\r'))
		f->p++;
}

static int
str(struct fj *f, struct fj_str *out)
{
	const char   *s;
	bool          esc = false;
	unsigned char ch;

	if (f->p >= f->end || *f->p != '"')
		return (-1);
	s = ++f->p;
	while (f->p < f->end && *f->p != '"') {
		ch = (unsigned char)*f->p;
		if (ch < 0x20 || ch >= 0x80)
			return (-1); /* let jansson judge UTF-8 */
		if (ch == '\\') {
			if (f->p + 1 >= f->end || f->p[1] == '\0'
			    || strchr("\"\\/bfnrt", f->p[1]) == NULL)
				return (-1); /* \u: jansson checks it */
			esc = true;
			f->p++;
		}
		f->p++;
	}
	if (f->p >= f->end)
		return (-1);
	if (out != NULL) {
		out->s = s;
		out->len = (size_t)(f->p - s);
		out->escaped = esc;
		out->set = true;
	}
	f->p++;
	return (0);
}

static bool
digit(const struct fj *f)
{
	return (f->p < f->end && *f->p >= '0' && *f->p <= '9');
}

/*
 * Would jansson take the number token s[0..len)?  It refuses an integer
 * outside long long ("too big integer") and a real that overflows a
 * double ("real number overflow"; underflow to 0 is fine), so the same
 * conversions decide here.  A token too long to copy is left to jansson.
 */
static bool
number_fits(const char *s, size_t len, bool real)
{
	char   buf[64], *end;
	double d;

	if (len >= sizeof(buf))
		return (false); /* the caller falls back to jansson */
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	if (!real) {
		(void)strtoll(buf, &end, 10);
		return (errno != ERANGE);
	}
	d = strtod(buf, &end);
	return (!((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE));
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? exactly, as JSON says,
 * and within what jansson converts */
static int
number(struct fj *f, struct fj_str *out)
{
	const char *s = f->p;
	bool        real = false;

	if (f->p < f->end && *f->p == '-')
		f->p++;
	if (!digit(f))
		return (-1);
	if (*f->p++ != '0')
		while (digit(f))
			f->p++;
	if (f->p < f->end && *f->p == '.') {
		real = true;
		f->p++;
		if (!digit(f))
			return (-1);
		while (digit(f))
			f->p++;
	}
	if (f->p < f->end && (*f->p == 'e' || *f->p == 'E')) {
		real = true;
		f->p++;
		if (f->p < f->end && (*f->p == '+' || *f->p == '-'))
			f->p++;
		if (!digit(f))
			return (-1);
		while (digit(f))
			f->p++;
	}
	if (!number_fits(s, (size_t)(f->p - s), real))
		return (-1);
	if (out != NULL) {
		out->s = s;
		out->len = (size_t)(f->p - s);
		out->escaped = false;
		out->set = true;
	}
	return (0);
}

static int value(struct fj *, int depth);

static int
literal(struct fj *f, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(f->end - f->p) < n || memcmp(f->p, lit, n) != 0)
		return (-1);
	f->p += n;
	return (0);
}

/* Members of an object; the callback sees each key and may take the
 * value, else the value is skipped. */
typedef int (*member_fn)(
    struct fj *, const struct fj_str *key, void *arg, int depth);

static int
object(struct fj *f, int depth, member_fn fn, void *arg)
{
	struct fj_str key;
	int           rv;

	if (depth > FJ_MAX_DEPTH || f->p >= f->end || *f->p != '{')
		return (-1);
	f->p++;
	ws(f);
	if (f->p < f->end && *f->p == '}') {
		f->p++;
		return (0);
	}
	for (;;) {
		ws(f);
		if (str(f, &key) == -1)
			return (-1);
		ws(f);
		if (f->p >= f->end || *f->p++ != ':')
			return (-1);
		ws(f);
		rv = fn != NULL ? fn(f, &key, arg, depth) : 1;
		if (rv == -1 || (rv == 1 && value(f, depth + 1) == -1))
			return (-1);
		ws(f);
		if (f->p >= f->end)
			return (-1);
		if (*f->p == '}') {
			f->p++;
			return (0);
		}
		if (*f->p++ != ',')
			return (-1);
	}
}

static int
array(struct fj *f, int depth)
{
	if (depth > FJ_MAX_DEPTH)
		return (-1);
	f->p++;
	ws(f);
	if (f->p < f->end && *f->p == ']') {
		f->p++;
		return (0);
	}
	for (;;) {
		ws(f);
		if (value(f, depth + 1) == -1)
			return (-1);
		ws(f);
		if (f->p >= f->end)
			return (-1);
		if (*f->p == ']') {
			f->p++;
			return (0);
		}
		if (*f->p++ != ',')
			return (-1);
	}
}

static int
value(struct fj *f, int depth)
{
	if (f->p >= f->end)
		return (-1);
	switch (*f->p) {
	case '"':
		return (str(f, NULL));
	case '{':
		return (object(f, depth, NULL, NULL));
	case '[':
		return (array(f, depth));
	case 't':
		return (literal(f, "true"));
	case 'f':
		return (literal(f, "false"));
	case 'n':
		return (literal(f, "null"));
	default:
		return (number(f, NULL));
	}
}

struct fields {
	struct fj_str event;
	struct fj_str payload;
	struct fj_str ts;
	bool          ts_is_num;
	bool          media_seen;
	bool          other; /* a field we cannot take fast */
};

static bool
key_is(const struct fj_str *k, const char *s)
{
	return (!k->escaped && k->len == strlen(s)
	    && memcmp(k->s, s, k->len) == 0);
}

static int
media_member(struct fj *f, const struct fj_str *k, void *arg, int depth)
{
	struct fields *fl = arg;

	if (key_is(k, "payload")) {
		if (f->p < f->end && *f->p == '"')
			return (str(f, &fl->payload));
		fl->payload.set = false;
		fl->other = true;
		return (1);
	}
	if (key_is(k, "timestamp")) {
		fl->ts.set = false;
		if (f->p < f->end && *f->p == '"') {
			fl->ts_is_num = false;
			return (str(f, &fl->ts));
		}
		if (f->p < f->end
		    && (*f->p == '-' || (*f->p >= '0' && *f->p <= '9'))) {
			fl->ts_is_num = true;
			return (number(f, &fl->ts));
		}
		fl->other = true;
		return (1);
	}
	if (k->escaped)
		fl->other = true;
	return (1);
}

static int
top_member(struct fj *f, const struct fj_str *k, void *arg, int depth)
{
	struct fields *fl = arg;

	if (k->escaped) {
		fl->other = true;
		return (1);
	}
	if (key_is(k, "event")) {
		if (f->p < f->end && *f->p == '"')
			return (str(f, &fl->event));
		fl->event.set = false;
		return (1);
	}
	if (key_is(k, "media")) {
		/* a repeated key replaces the earlier value */
		memset(&fl->payload, 0, sizeof(fl->payload));
		memset(&fl->ts, 0, sizeof(fl->ts));
		if (f->p < f->end && *f->p == '{') {
			fl->media_seen = true;
			return (object(f, depth + 1, media_member, fl));
		}
		fl->media_seen = false;
		return (1);
	}
	return (1);
}

static bool
ts_value(const struct fj_str *t, bool is_num, uint32_t *outp)
{
	uint64_t v = 0;
	size_t   i;

	if (!t->set || t->escaped || t->len == 0 || t->len > 10)
		return (false);
	for (i = 0; i < t->len; i++) {
		if (t->s[i] < '0' || t->s[i] > '9')
			return (false);
		v = v * 10 + (uint64_t)(t->s[i] - '0');
	}
	(void)is_num;
	if (v > UINT32_MAX)
		return (false);
	*outp = (uint32_t)v;
	return (true);
}

/* Payload with \/ (and friends) unescaped into buf; false for \u. */
static bool
unescape(const struct fj_str *s, char *buf, size_t cap, size_t *lenp)
{
	size_t i, n = 0;

	for (i = 0; i < s->len && n < cap; i++) {
		if (s->s[i] != '\\') {
			buf[n++] = s->s[i];
			continue;
		}
		switch (s->s[++i]) {
		case '/':
		case '\\':
		case '"':
			buf[n++] = s->s[i];
			break;
		default:
			return (false); /* not base64 anyway: slow path */
		}
	}
	*lenp = n;
	return (i == s->len);
}

int
fj_media(const char *buf, size_t len, char *scratch, size_t cap,
    struct fj_media *out)
{
	struct fj     f = { buf, buf + len };
	struct fields fl;

	memset(&fl, 0, sizeof(fl));
	ws(&f);
	if (object(&f, 0, top_member, &fl) == -1)
		return (-1);
	ws(&f);
	if (f.p != f.end || fl.other || !fl.event.set || fl.event.escaped
	    || fl.event.len != 5 || memcmp(fl.event.s, "media", 5) != 0
	    || !fl.media_seen || !fl.payload.set)
		return (-1);
	out->ts = 0;
	out->have_ts = false;
	if (fl.ts.set) {
		if (!ts_value(&fl.ts, fl.ts_is_num, &out->ts))
			return (-1);
		out->have_ts = true;
	}
	out->payload = fl.payload.s;
	out->len = fl.payload.len;
	if (fl.payload.escaped) {
		if (!unescape(&fl.payload, scratch, cap, &out->len))
			return (-1);
		out->payload = scratch;
	}
	return (0);
}

int
stream_media_fast(struct call *c, const char *buf, size_t len)
{
	struct fj_media m;

	if (fj_media(buf, len, (char *)c->edge->scratch2, EDGE_MAX_MSG, &m)
	    == -1)
		return (-1);
	stream_media(c, m.payload, m.len, m.ts, m.have_ts);
	return (0);
}
