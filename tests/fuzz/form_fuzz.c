/*
 * form_fuzz - webhook bodies and their signatures: media-edge's form.c
 * (application/x-www-form-urlencoded, the Twilio and SignalWire
 * signature schemes) and common/hmac.c's comparisons.
 *
 * Input: "<url>\n<x-twilio-signature header>\n<body>" (missing parts are
 * empty).  Checks: a parsed form has at most 256 pairs of NUL-free
 * strings and form_get finds each name; the signature form_sign() makes
 * is accepted by form_sig_ok() and refused under another key, in both
 * dialects; the header from outside never crashes the check; and
 * hmac_equal / hmac_streq agree with memcmp / strcmp.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/media-edge/edge.h"
#include "hmac.h"

#define KEY "fuzz-webhook-auth-token"
#define OTHER_KEY "fuzz-webhook-auth-tokeN"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
broken(const char *what)
{
	fprintf(stderr, "fuzz: form: %s\n", what);
	abort();
}

/* The next '\n'-terminated part of [*pp, end) as a C string (malloc'd). */
static char *
part(const uint8_t **pp, const uint8_t *end)
{
	const uint8_t *p = *pp, *nl;
	char          *s;

	if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
		nl = end;
	s = strndup((const char *)p, (size_t)(nl - p));
	*pp = nl < end ? nl + 1 : end;
	return (s);
}

static void
check_hmac(const char *a, const char *b)
{
	size_t al = strlen(a), bl = strlen(b);
	bool   same = al == bl && memcmp(a, b, al) == 0;

	if (hmac_equal(a, al, b, bl) != same)
		broken("hmac_equal differs from memcmp");
	if (hmac_streq(a, b) != (strcmp(a, b) == 0))
		broken("hmac_streq differs from strcmp");
}

static void
check_signatures(const char *url, const struct form *f, const char *hdr)
{
	char sig[29];
	int  sw;

	for (sw = 0; sw < 2; sw++) {
		if (form_sign(KEY, url, f, sw, sig) == -1)
			broken("form_sign failed");
		if (strlen(sig) != 28)
			broken("a signature that is not 28 characters");
		if (!form_sig_ok(KEY, url, f, sw, sig))
			broken("its own signature refused");
		if (form_sig_ok(OTHER_KEY, url, f, sw, sig))
			broken("a signature accepted under another key");
		(void)form_sig_ok(KEY, url, f, sw, hdr);
		check_hmac(sig, hdr);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct form    f;
	char          *url, *hdr, *body;
	size_t         i, blen;

	url = part(&p, end);
	hdr = part(&p, end);
	blen = (size_t)(end - p);
	body = malloc(blen == 0 ? 1 : blen); /* not NUL-terminated */
	memcpy(body, p, blen);
	if (form_parse(&f, body, blen) == 0) {
		if (f.n > 256)
			broken("more than 256 pairs");
		for (i = 0; i < f.n; i++)
			if (form_get(&f, f.v[i].name) == NULL)
				broken("a parsed name form_get cannot find");
		check_signatures(url, &f, hdr);
		form_free(&f);
	} else if (f.n != 0 || f.v != NULL)
		broken("a refused body left pairs behind");
	free(body);
	free(hdr);
	free(url);
	return (0);
}
