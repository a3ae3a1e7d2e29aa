/*
 * twiml - reads the TwiML subset the bridge serves (protocols.md 2.2-2.3)
 * into a list of actions: <Say> text, <Pause length>, <Hangup/>,
 * <Connect><Stream url authBearerToken><Parameter name value/>.  Any other
 * verb becomes TWIML_UNSUPPORTED so the call view shows it.
 *
 * A small scanner, not a general XML parser: elements, attributes in
 * single or double quotes, the five named entities and numeric character
 * references, comments, CDATA and the XML declaration.  Enough for what a
 * TwiML library writes; anything malformed is an error, as on Twilio
 * (which then says "an application error has occurred").
 */
#include <stdlib.h>
#include <string.h>

#include "twilio.h"

#define DEPTH_MAX 16

struct scan {
	const char   *p, *end;
	struct twiml *doc;
	char          stack[DEPTH_MAX][32];
	int           depth;
	char         *text; /* <Say> text being collected */
	size_t        textlen;
	char         *err;
	size_t        errlen;
};

static int
fail(struct scan *s, const char *what)
{
	snprintf(s->err, s->errlen, "twiml: %s", what);
	return (-1);
}

static struct twiml_action *
action_new(struct twiml *doc, enum twiml_verb verb)
{
	struct twiml_action *a;

	doc->v = stream_xrealloc(doc->v, doc->n + 1, sizeof(*doc->v));
	a = &doc->v[doc->n++];
	memset(a, 0, sizeof(*a));
	a->verb = verb;
	return (a);
}

static void
utf8(char **out, unsigned long cp)
{
	char *o = *out;

	if (cp < 0x80)
		*o++ = (char)cp;
	else if (cp < 0x800) {
		*o++ = (char)(0xC0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xE0 | cp >> 12);
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*o++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*o++ = (char)(0xF0 | cp >> 18);
		*o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*o++ = (char)(0x80 | (cp & 0x3F));
	}
	*out = o;
}

/* Decodes entities of in[0..len) into a new string; NULL if malformed. */
static char *
unescape(const char *in, size_t len)
{
	static const char *const names[]
	    = { "amp;&", "lt;<", "gt;>", "quot;\"", "apos;'" };
	char         *out = stream_xcalloc(len + 1, 1), *o = out, *e;
	const char   *p = in, *end = in + len;
	unsigned long cp;
	size_t        i, n;

	while (p < end) {
		if (*p != '&') {
			*o++ = *p++;
			continue;
		}
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			n = strlen(names[i]) - 1;
			if ((size_t)(end - p - 1) >= n
			    && memcmp(p + 1, names[i], n) == 0)
				break;
		}
		if (i < sizeof(names) / sizeof(names[0])) {
			*o++ = names[i][strlen(names[i]) - 1];
			p += 1 + strlen(names[i]) - 1;
			continue;
		}
		if (end - p < 4 || p[1] != '#')
			goto bad;
		cp = p[2] == 'x' ? strtoul(p + 3, &e, 16)
		                 : strtoul(p + 2, &e, 10);
		if (e >= end || *e != ';' || cp == 0 || cp > 0x10FFFF
		    || e - p > 10)
			goto bad;
		utf8(&o, cp); /* never longer than the reference */
		p = e + 1;
	}
	*o = '\0';
	return (out);
bad:
	free(out);
	return (NULL);
}

/* Finds attribute name in the tag body [p, end); new string or NULL. */
static char *
attr(const char *p, const char *end, const char *name)
{
	size_t      n = strlen(name);
	const char *v, *q;
	char        quote;

	for (; p < end; p++) {
		if ((p[-1] != ' ' && p[-1] != '\t' && p[-1] != '\n'
		        && p[-1] != '\r')
		    || (size_t)(end - p) <= n + 2 || memcmp(p, name, n) != 0)
			continue;
		for (v = p + n; v < end && (*v == ' ' || *v == '\t'); v++)
			;
		if (v >= end || *v != '=')
			continue;
		for (v++; v < end && (*v == ' ' || *v == '\t'); v++)
			;
		if (v >= end || (*v != '"' && *v != '\''))
			return (NULL);
		quote = *v++;
		if ((q = memchr(v, quote, (size_t)(end - v))) == NULL)
			return (NULL);
		return (unescape(v, (size_t)(q - v)));
	}
	return (NULL);
}

static const char *
parent(const struct scan *s)
{
	return (s->depth > 0 ? s->stack[s->depth - 1] : "");
}

/* A start tag named name with attributes in [a, aend). */
static int
open_tag(struct scan *s, const char *name, const char *a, const char *aend)
{
	struct twiml_action *act;
	char                *v, *n;
	long long            len;

	if (s->depth == 0 && strcmp(name, "Response") != 0)
		return (fail(s, "root is not <Response>"));
	if (strcmp(parent(s), "Response") == 0) {
		if (strcmp(name, "Say") == 0) {
			s->text = stream_xcalloc(1, 1);
			s->textlen = 0;
		} else if (strcmp(name, "Pause") == 0) {
			act = action_new(s->doc, TWIML_PAUSE);
			v = attr(a, aend, "length");
			act->length = 1;
			if (v != NULL
			    && stream_parse_int(v, 0, 3600, &len) == 0)
				act->length = (int)len;
			free(v);
		} else if (strcmp(name, "Hangup") == 0)
			action_new(s->doc, TWIML_HANGUP);
		else if (strcmp(name, "Connect") != 0) {
			act = action_new(s->doc, TWIML_UNSUPPORTED);
			act->text = stream_xstrdup(name);
		}
	} else if (strcmp(parent(s), "Connect") == 0) {
		act = action_new(s->doc,
		    strcmp(name, "Stream") == 0 ? TWIML_STREAM
		                                : TWIML_UNSUPPORTED);
		act->text = act->verb == TWIML_STREAM ? attr(a, aend, "url")
		                                      : stream_xstrdup(name);
		act->bearer = attr(a, aend, "authBearerToken");
		act->params = json_object();
		if (act->text == NULL)
			return (fail(s, "<Stream> without url"));
	} else if (strcmp(parent(s), "Stream") == 0
	    && strcmp(name, "Parameter") == 0 && s->doc->n > 0) {
		act = &s->doc->v[s->doc->n - 1];
		n = attr(a, aend, "name");
		v = attr(a, aend, "value");
		if (n != NULL && v != NULL && act->params != NULL)
			json_object_set_new(act->params, n, json_string(v));
		free(n);
		free(v);
	}
	return (0);
}

static void
close_tag(struct scan *s, const char *name)
{
	struct twiml_action *act;

	char *t, *e;

	if (strcmp(name, "Say") == 0 && s->text != NULL) {
		for (t = s->text;
		     *t == ' ' || *t == '\n' || *t == '\t' || *t == '\r'; t++)
			;
		for (e = t + strlen(t); e > t
		     && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t'
		         || e[-1] == '\r');
		     e--)
			;
		act = action_new(s->doc, TWIML_SAY);
		act->text = stream_xcalloc((size_t)(e - t) + 1, 1);
		memcpy(act->text, t, (size_t)(e - t));
		free(s->text);
		s->text = NULL;
	}
}

static int
text(struct scan *s, const char *p, size_t len, bool raw)
{
	char       *t = NULL;
	const char *src = p;
	size_t      n = len;

	if (s->text == NULL)
		return (0); /* text outside <Say> is ignored */
	if (!raw) {
		if ((t = unescape(p, len)) == NULL)
			return (fail(s, "bad entity"));
		src = t;
		n = strlen(t);
	}
	s->text = stream_xrealloc(s->text, s->textlen + n + 1, 1);
	memcpy(s->text + s->textlen, src, n);
	s->textlen += n;
	s->text[s->textlen] = '\0';
	free(t);
	return (0);
}

/* One markup construct starting at s->p == '<'. */
static int
markup(struct scan *s)
{
	const char *p = s->p, *gt, *name, *nend;
	char        nm[32];
	bool        closing, empty;

	if (s->end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
		if ((gt = memmem(p, (size_t)(s->end - p), "-->", 3)) == NULL)
			return (fail(s, "unterminated comment"));
		s->p = gt + 3;
		return (0);
	}
	if (s->end - p >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
		if ((gt = memmem(p, (size_t)(s->end - p), "]]>", 3)) == NULL)
			return (fail(s, "unterminated CDATA"));
		s->p = gt + 3;
		return (text(s, p + 9, (size_t)(gt - p - 9), true));
	}
	if ((gt = memchr(p, '>', (size_t)(s->end - p))) == NULL)
		return (fail(s, "unterminated tag"));
	s->p = gt + 1;
	if (p[1] == '?' || p[1] == '!')
		return (0); /* declaration or doctype */
	closing = p[1] == '/';
	name = p + (closing ? 2 : 1);
	for (nend = name; nend < gt && *nend != ' ' && *nend != '/'
	     && *nend != '\t' && *nend != '\n' && *nend != '\r';
	     nend++)
		;
	if (nend == name || nend - name >= (long)sizeof(nm))
		return (fail(s, "bad tag name"));
	snprintf(nm, sizeof(nm), "%.*s", (int)(nend - name), name);
	empty = gt[-1] == '/';
	if (closing) {
		if (s->depth == 0 || strcmp(s->stack[s->depth - 1], nm) != 0)
			return (fail(s, "mismatched closing tag"));
		s->depth--;
		close_tag(s, nm);
		return (0);
	}
	if (open_tag(s, nm, nend, empty ? gt - 1 : gt) == -1)
		return (-1);
	if (empty) {
		close_tag(s, nm);
		return (0);
	}
	if (s->depth == DEPTH_MAX)
		return (fail(s, "nested too deep"));
	snprintf(s->stack[s->depth++], sizeof(s->stack[0]), "%s", nm);
	return (0);
}

int
twiml_parse(
    const char *xml, size_t len, struct twiml **docp, char *err, size_t errlen)
{
	struct scan s;
	const char *lt;
	bool        seen = false;

	memset(&s, 0, sizeof(s));
	s.p = xml;
	s.end = xml + len;
	s.err = err;
	s.errlen = errlen;
	s.doc = stream_xcalloc(1, sizeof(*s.doc));
	while (s.p < s.end) {
		if ((lt = memchr(s.p, '<', (size_t)(s.end - s.p))) == NULL)
			lt = s.end;
		if (text(&s, s.p, (size_t)(lt - s.p), false) == -1)
			goto bad;
		s.p = lt;
		if (s.p < s.end) {
			seen = true;
			if (markup(&s) == -1)
				goto bad;
		}
	}
	if (!seen || s.depth != 0) {
		fail(&s, seen ? "unclosed element" : "empty document");
		goto bad;
	}
	*docp = s.doc;
	return (0);
bad:
	free(s.text);
	twiml_free(s.doc);
	return (-1);
}

void
twiml_free(struct twiml *doc)
{
	size_t i;

	if (doc == NULL)
		return;
	for (i = 0; i < doc->n; i++) {
		free(doc->v[i].text);
		free(doc->v[i].bearer);
		json_decref(doc->v[i].params);
	}
	free(doc->v);
	free(doc);
}
