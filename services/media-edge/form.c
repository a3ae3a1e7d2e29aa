/*
 * form.c - application/x-www-form-urlencoded bodies and the provider's
 * webhook signature (protocols.md 3 and 4.2):
 *
 *	base64(HMAC-SHA1(key, url + concat(sorted name + value)))
 *
 * Twilio sorts by name then value and drops exact duplicates; SignalWire
 * (scheme B) sorts by name only, stably, and keeps duplicates.  The URL is
 * tried as configured, with the default port added and with the port
 * removed, as the official SDKs do.  Comparison is constant time.
 *
 * A webhook fetched by GET is signed over the URL with its query string
 * and nothing else.  libwebsockets 4.1 decodes the query before we see it
 * (%XX and "+", split at "&" and ";"; no raw copy is kept), so web.c
 * re-encodes the decoded pairs in order (form_escape) and the signature
 * is checked over that, with a space as "%20" and as "+": the two
 * encodings providers use (docs/protocols-twiml-get.md).
 *
 * Pure functions; any thread.
 */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "edge.h"
#include "hmac.h"
#include "util.h"
#include "xmalloc.h"

/* Decode one component; -1 on a bad %XX. */
static int
decode(const char *s, size_t n, char **outp)
{
	char  *out = xmalloc(n + 1);
	size_t i, o = 0;
	int    h, l;

	for (i = 0; i < n; i++) {
		if (s[i] == '+')
			out[o++] = ' ';
		else if (s[i] == '%') {
			if (i + 2 >= n || (h = util_hexval(s[i + 1])) < 0
			    || (l = util_hexval(s[i + 2])) < 0) {
				free(out);
				return (-1);
			}
			out[o++] = (char)(h << 4 | l);
			i += 2;
		} else
			out[o++] = s[i];
	}
	out[o] = '\0';
	if (strlen(out) != o) { /* %00 */
		free(out);
		return (-1);
	}
	*outp = out;
	return (0);
}

void
form_free(struct form *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		free(f->v[i].name);
		free(f->v[i].value);
	}
	free(f->v);
	memset(f, 0, sizeof(*f));
}

int
form_parse(struct form *f, const char *body, size_t len)
{
	const char *p = body, *end = body + len, *amp, *eq;
	char       *name, *value;

	memset(f, 0, sizeof(*f));
	while (p < end) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if (amp > p) {
			if ((eq = memchr(p, '=', (size_t)(amp - p))) == NULL)
				eq = amp;
			if (decode(p, (size_t)(eq - p), &name) == -1)
				goto bad;
			if (decode(eq < amp ? eq + 1 : amp,
			        eq < amp ? (size_t)(amp - eq - 1) : 0, &value)
			    == -1) {
				free(name);
				goto bad;
			}
			if (f->n == f->cap) {
				f->cap = f->cap == 0 ? 16 : f->cap * 2;
				f->v = xrealloc(f->v, f->cap * sizeof(*f->v));
			}
			f->v[f->n].name = name;
			f->v[f->n].value = value;
			f->n++;
			if (f->n > 256)
				goto bad;
		}
		p = amp + 1;
	}
	return (0);
bad:
	form_free(f);
	return (-1);
}

const char *
form_dup(const struct form *f, const char *const *names)
{
	size_t i, k, seen;

	for (k = 0; names[k] != NULL; k++) {
		for (seen = 0, i = 0; i < f->n; i++)
			if (strcmp(f->v[i].name, names[k]) == 0)
				seen++;
		if (seen > 1)
			return (names[k]);
	}
	return (NULL);
}

const char *
form_get(const struct form *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->v[i].name, name) == 0)
			return (f->v[i].value);
	return (NULL);
}

static int
cmp_name_value(const void *a, const void *b)
{
	const struct form_pair *x = a, *y = b;
	int                     c;

	if ((c = strcmp(x->name, y->name)) != 0)
		return (c);
	return (strcmp(x->value, y->value));
}

/* The signed string for one URL. */
static char *
signed_data(const char *url, const struct form *f, bool signalwire)
{
	struct form_pair *v = NULL;
	size_t            i, j, len = strlen(url) + 1;
	char             *buf, *p;

	if (f->n > 0) {
		v = xcalloc(f->n, sizeof(*v));
		memcpy(v, f->v, f->n * sizeof(*v));
	}
	if (signalwire) {
		/* stable insertion sort by name only */
		for (i = 1; i < f->n; i++) {
			struct form_pair t = v[i];

			for (j = i; j > 0 && strcmp(v[j - 1].name, t.name) > 0;
			     j--)
				v[j] = v[j - 1];
			v[j] = t;
		}
	} else if (f->n > 1)
		qsort(v, f->n, sizeof(*v), cmp_name_value);
	for (i = 0; i < f->n; i++)
		len += strlen(v[i].name) + strlen(v[i].value);
	buf = p = xmalloc(len);
	p = stpcpy(p, url);
	for (i = 0; i < f->n; i++) {
		if (!signalwire && i > 0
		    && cmp_name_value(&v[i - 1], &v[i]) == 0)
			continue;
		p = stpcpy(p, v[i].name);
		p = stpcpy(p, v[i].value);
	}
	free(v);
	return (buf);
}

int
form_sign(const char *key, const char *url, const struct form *f,
    bool signalwire, char out[29])
{
	unsigned char mac[HMAC_SHA1_LEN];
	char         *data = signed_data(url, f, signalwire);
	int           rv = 0;

	if (hmac_sha1(key, strlen(key), data, strlen(data), mac) != 0
	    || codec_b64_encode(mac, sizeof(mac), out, 29) != 28)
		rv = -1;
	free(data);
	return (rv);
}

/*
 * The URL as configured, with the default port added, and without any
 * port.  Puts up to 2 variants (malloc'd, any length: a truncated URL
 * would sign something else) into v; returns how many.
 */
static int
variants(const char *url, char *v[2])
{
	const char *hs, *he, *colon, *path;
	bool        https;
	int         n = 0;

	v[n++] = xstrdup(url);
	if ((hs = strstr(url, "://")) == NULL)
		return (n);
	https = strncmp(url, "https", 5) == 0;
	hs += 3;
	path = strchr(hs, '/');
	he = path != NULL ? path : hs + strlen(hs);
	colon = memchr(hs, ':', (size_t)(he - hs));
	if (colon == NULL)
		v[n++] = xasprintf("%.*s:%s%s", (int)(he - url), url,
		    https ? "443" : "80", path != NULL ? path : "");
	else
		v[n++] = xasprintf("%.*s%s", (int)(colon - url), url,
		    path != NULL ? path : "");
	return (n);
}

bool
form_sig_ok(const char *key, const char *url, const struct form *f,
    bool signalwire, const char *header)
{
	char *v[2], sig[29];
	int   i, n;
	bool  ok = false;

	if (key == NULL || key[0] == '\0' || header == NULL
	    || header[0] == '\0')
		return (false);
	n = variants(url, v);
	for (i = 0; i < n; i++) {
		if (form_sign(key, v[i], f, signalwire, sig) == 0
		    && hmac_equal(sig, 28, header, strlen(header)))
			ok = true; /* no early exit: same work each time */
		free(v[i]);
	}
	return (ok);
}

size_t
form_escape(const char *s, size_t n, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t            i, o = 0;
	unsigned char     c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
		    || (c >= '0' && c <= '9') || c == '-' || c == '.'
		    || c == '_' || c == '~')
			out[o++] = (char)c;
		else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return (o);
}

/* url?query with each "%20" of query as "+" when plus. */
static char *
query_url(const char *url, const char *query, bool plus)
{
	char *s = xasprintf("%s%s%s", url, query[0] != '\0' ? "?" : "", query);
	char *q = s + strlen(url), *o = q;

	if (!plus)
		return (s);
	while (*q != '\0') {
		if (strncmp(q, "%20", 3) == 0) {
			*o++ = '+';
			q += 3;
		} else
			*o++ = *q++;
	}
	*o = '\0';
	return (s);
}

bool
form_query_sig_ok(
    const char *key, const char *url, const char *query, const char *header)
{
	struct form none = { 0 };
	char       *u;
	int         plus;
	bool        ok = false;

	for (plus = 0; plus < 2; plus++) {
		u = query_url(url, query, plus == 1);
		if (form_sig_ok(key, u, &none, false, header))
			ok = true; /* no early exit: same work each time */
		free(u);
	}
	return (ok);
}
