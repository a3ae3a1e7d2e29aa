/*
 * twsig - X-Twilio-Signature / X-SignalWire-Signature (scheme B).
 *
 * The signed string is the URL followed by every pair's name and value
 * with no separators, pairs in byte-wise order (protocols.md 3.1 and 3.4).
 * We build the whole string once and use OpenSSL's one-shot HMAC().
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "stream_util.h"
#include "twsig.h"

struct sorted {
	const struct twsig_pair *p;
	size_t                   idx; /* original position: stable sort */
};

static int
cmp_twilio(const void *a, const void *b)
{
	const struct sorted *x = a, *y = b;
	int                  c;

	if ((c = strcmp(x->p->name, y->p->name)) != 0)
		return (c);
	if ((c = strcmp(x->p->value, y->p->value)) != 0)
		return (c);
	return (x->idx < y->idx ? -1 : x->idx > y->idx);
}

static int
cmp_signalwire(const void *a, const void *b)
{
	const struct sorted *x = a, *y = b;
	int                  c;

	if ((c = strcmp(x->p->name, y->p->name)) != 0)
		return (c);
	return (x->idx < y->idx ? -1 : x->idx > y->idx);
}

/* Returns the signed string (caller frees). */
static char *
signed_string(const char *url, const struct twsig_pair *pairs, size_t n,
    enum twsig_mode mode, size_t *lenp)
{
	struct sorted *s;
	size_t         i, len, off;
	char          *buf;

	s = stream_xcalloc(n, sizeof(*s));
	len = strlen(url);
	for (i = 0; i < n; i++) {
		s[i].p = &pairs[i];
		s[i].idx = i;
		len += strlen(pairs[i].name) + strlen(pairs[i].value);
	}
	qsort(s, n, sizeof(*s),
	    mode == TWSIG_TWILIO ? cmp_twilio : cmp_signalwire);
	buf = stream_xcalloc(len + 1, 1);
	off = strlen(url);
	memcpy(buf, url, off);
	for (i = 0; i < n; i++) {
		if (mode == TWSIG_TWILIO && i > 0
		    && strcmp(s[i].p->name, s[i - 1].p->name) == 0
		    && strcmp(s[i].p->value, s[i - 1].p->value) == 0)
			continue; /* Twilio de-duplicates repeated pairs */
		len = strlen(s[i].p->name);
		memcpy(buf + off, s[i].p->name, len);
		off += len;
		len = strlen(s[i].p->value);
		memcpy(buf + off, s[i].p->value, len);
		off += len;
	}
	buf[off] = '\0';
	free(s);
	*lenp = off;
	return (buf);
}

int
twsig_compute(const char *key, const char *url, const struct twsig_pair *pairs,
    size_t n, enum twsig_mode mode, char *out)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int  maclen = 0;
	size_t        len;
	char         *data;
	int           rv = -1;

	data = signed_string(url, pairs, n, mode, &len);
	if (HMAC(EVP_sha1(), key, (int)strlen(key), (unsigned char *)data, len,
	        mac, &maclen)
	        == NULL
	    || maclen != 20) {
		stream_log("error", "signature: HMAC-SHA1 failed");
		goto out;
	}
	if (EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen)
	    != TWSIG_LEN) {
		stream_log("error", "signature: base64 failed");
		goto out;
	}
	rv = 0;
out:
	free(data);
	return (rv);
}

static int
check(const char *name, const char *key, const char *url,
    const struct twsig_pair *p, size_t n, const char *want)
{
	char got[TWSIG_LEN + 1];

	if (twsig_compute(key, url, p, n, TWSIG_TWILIO, got) == -1)
		return (-1);
	if (strcmp(got, want) != 0) {
		stream_log(
		    "error", "self-test %s: got %s, want %s", name, got, want);
		return (-1);
	}
	stream_log("info", "self-test %s: ok", name);
	return (0);
}

int
twsig_self_test(void)
{
	static const struct twsig_pair shared[] = {
		{ "CallSid", "CA1234567890ABCDE" },
		{ "Caller", "+14158675309" },
		{ "Digits", "1234" },
		{ "From", "+14158675309" },
		{ "To", "+18005551212" },
	};
	static const struct twsig_pair repeated[] = {
		{ "Sid", "CA123" },
		{ "SidAccount", "AC123" },
		{ "Digits", "5678" },
		{ "Digits", "1234" },
		{ "Digits", "1234" },
	};
	const char *url = "https://mycompany.com/myapp.php?foo=1&bar=2";
	int         rv = 0;

	if (check("vector 1", "12345", url, shared, 5,
	        "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
	    == -1)
		rv = -1;
	if (check("vector 5", "12345", url, repeated, 5,
	        "IK+Dwps556ElfBT0I3Rgjkr1wJU=")
	    == -1)
		rv = -1;
	if (check("wss upgrade (1.6)", "12345",
	        "wss://example.com/media-stream", NULL, 0,
	        "XFfwGS2Ev7f9qAP9MmRoMS7C724=")
	    == -1)
		rv = -1;
	return (rv);
}
