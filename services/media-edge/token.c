/*
 * token.c - stream authentication.
 *
 * The stream token arrives as start.customParameters.token:
 *
 *	v1.<expiry unix seconds>.<hex HMAC-SHA256(secret,
 *"<callSid>.<expiry>")>
 *
 * It is checked in constant time, must not have expired, and is single
 * use: the first 16 bytes of every accepted MAC are remembered until the
 * token expires in a fixed open-addressing table (EDGE_TOKEN_CACHE slots).
 * Only MACs that verified are stored, so an attacker cannot fill the
 * table without the secret; a full table refuses new streams rather than
 * forgetting, which would reopen replays.
 *
 * The upgrade itself may carry x-twilio-signature (protocols.md 1.6):
 * base64(HMAC-SHA1(auth token, "wss://<public host>/media")), with the
 * https:// form tried second.  When present it must verify.
 *
 * lws service thread only (token_make and token_upgrade_sig: any).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "edge.h"
#include "hmac.h"
#include "log.h"
#include "xmalloc.h"

#define TOKEN_MAC_HEX 64

int
tokens_init(struct tokens *t, size_t want)
{
	size_t cap = 16;

	while (cap < want)
		cap *= 2;
	t->slots = xcalloc(cap, sizeof(*t->slots));
	t->cap = cap;
	t->used = 0;
	return (0);
}

void
tokens_fini(struct tokens *t)
{
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static size_t
slot_of(const struct tokens *t, const unsigned char mac[16])
{
	uint64_t h;

	memcpy(&h, mac, sizeof(h)); /* a MAC is already uniform */
	return ((size_t)h & (t->cap - 1));
}

/* Rebuild without the expired entries (linear probing has no deletes). */
static void
sweep(struct tokens *t, int64_t now)
{
	struct token_slot *old = t->slots;
	size_t             i, j, cap = t->cap;

	t->slots = xcalloc(cap, sizeof(*t->slots));
	t->used = 0;
	for (i = 0; i < cap; i++) {
		if (old[i].expiry == 0 || old[i].expiry < now)
			continue;
		for (j = slot_of(t, old[i].mac); t->slots[j].expiry != 0;
		     j = (j + 1) & (cap - 1))
			;
		t->slots[j] = old[i];
		t->used++;
	}
	free(old);
}

/* 0 inserted, 1 already there (replay), -1 table full. */
static int
remember(
    struct tokens *t, const unsigned char mac[16], int64_t expiry, int64_t now)
{
	size_t j;

	if (t->used * 2 >= t->cap)
		sweep(t, now);
	for (j = slot_of(t, mac); t->slots[j].expiry != 0;
	     j = (j + 1) & (t->cap - 1))
		if (memcmp(t->slots[j].mac, mac, 16) == 0
		    && t->slots[j].expiry >= now)
			return (1);
	if (t->used * 4 >= t->cap * 3)
		return (-1);
	memcpy(t->slots[j].mac, mac, 16);
	t->slots[j].expiry = expiry;
	t->used++;
	return (0);
}

int
token_make(const char *secret, const char *call_sid, int64_t expiry, char *buf,
    size_t len)
{
	char msg[EDGE_SID_MAX + 32], hex[2 * HMAC_SHA256_LEN + 1];
	int  n;

	n = snprintf(msg, sizeof(msg), "%s.%" PRId64, call_sid, expiry);
	if (n < 0 || (size_t)n >= sizeof(msg)
	    || hmac_sha256_hex(secret, msg, (size_t)n, hex) != 0)
		return (-1);
	n = snprintf(buf, len, "v1.%" PRId64 ".%s", expiry, hex);
	return (n < 0 || (size_t)n >= len ? -1 : 0);
}

static int
parse_expiry(const char *s, size_t n, int64_t *outp)
{
	int64_t v = 0;
	size_t  i;

	if (n == 0 || n > 12)
		return (-1);
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (s[i] - '0');
	}
	*outp = v;
	return (0);
}

int
token_check(struct edge *e, const char *call_sid, const char *tok, int64_t now,
    const char **why)
{
	const char   *dot;
	char          want[160];
	unsigned char mac[32];
	int64_t       expiry;
	size_t        i;
	int           rv;

	if (tok == NULL || tok[0] == '\0') {
		*why = "missing";
		return (-1);
	}
	if (strncmp(tok, "v1.", 3) != 0 || (dot = strchr(tok + 3, '.')) == NULL
	    || parse_expiry(tok + 3, (size_t)(dot - tok - 3), &expiry) == -1
	    || strlen(dot + 1) != TOKEN_MAC_HEX) {
		*why = "malformed";
		return (-1);
	}
	if (token_make(e->cfg.stream_token_secret, call_sid, expiry, want,
	        sizeof(want))
	    == -1) {
		*why = "malformed";
		return (-1);
	}
	/* Compare the whole token: prefix and expiry are public, the MAC
	 * is not, and hmac_streq is constant time in the length. */
	if (!hmac_streq(tok, want)) {
		*why = "bad_signature";
		return (-1);
	}
	if (expiry < now) {
		*why = "expired";
		return (-1);
	}
	if (expiry > now + e->cfg.token_max_ttl_s) {
		*why = "too_long_lived";
		return (-1);
	}
	for (i = 0; i < 16; i++) {
		unsigned hi, lo;
		char     c1 = dot[1 + 2 * i], c2 = dot[2 + 2 * i];

		hi = (unsigned)(c1 <= '9' ? c1 - '0' : c1 - 'a' + 10);
		lo = (unsigned)(c2 <= '9' ? c2 - '0' : c2 - 'a' + 10);
		mac[i] = (unsigned char)(hi << 4 | lo);
	}
	rv = remember(&e->tokens, mac, expiry, now);
	if (rv == 1) {
		*why = "reused";
		return (-1);
	}
	if (rv == -1) {
		*why = "replay_table_full";
		return (-1);
	}
	return (0);
}

int
token_upgrade_sig(const char *key, const char *url, char out[29])
{
	unsigned char mac[HMAC_SHA1_LEN];

	if (hmac_sha1(key, strlen(key), url, strlen(url), mac) != 0
	    || codec_b64_encode(mac, sizeof(mac), out, 29) != 28)
		return (-1);
	return (0);
}

/* "https://host[:port][/prefix]" -> "<scheme>://host[:port][/prefix]<path>" */
static int
public_url(const char *base, const char *scheme, const char *path, char *buf,
    size_t len)
{
	const char *rest;
	size_t      blen;
	int         n;

	if ((rest = strstr(base, "://")) == NULL)
		return (-1);
	rest += 3;
	blen = strlen(rest);
	while (blen > 0 && rest[blen - 1] == '/')
		blen--;
	n = snprintf(buf, len, "%s://%.*s%s", scheme, (int)blen, rest, path);
	return (n < 0 || (size_t)n >= len ? -1 : 0);
}

int
token_check_upgrade(struct edge *e, struct lws *wsi, const char *path)
{
	static const char *tls[] = { "wss", "https" },
	                  *plain[] = { "ws", "http" };
	const char **schemes;
	char         hdr[128], url[512], sig[29];
	int          n;
	size_t       i;

	n = lws_hdr_custom_copy(wsi, hdr, sizeof(hdr),
	    "x-twilio-signature:", (int)strlen("x-twilio-signature:"));
	if (n <= 0)
		return (0); /* absent: the stream token decides */
	if (e->twilio_key == NULL) {
		log_debug("x-twilio-signature present, no auth token set");
		return (0);
	}
	/* the URL written in our TwiML, then its https:// form */
	schemes = strncmp(e->cfg.public_url, "https:", 6) == 0 ? tls : plain;
	for (i = 0; i < 2; i++) {
		if (public_url(
		        e->cfg.public_url, schemes[i], path, url, sizeof(url))
		        == -1
		    || token_upgrade_sig(e->twilio_key, url, sig) == -1)
			continue;
		if (hmac_equal(sig, 28, hdr, (size_t)n))
			return (0);
	}
	return (-1);
}
