/*
 * twsig - the provider's request signature, computed the way Twilio does
 * (protocols.md section 3.1) and the way SignalWire's compatibility API
 * does (section 4.2, scheme B):
 *
 *	base64(HMAC-SHA1(key, url + concat(sorted name + value)))
 *
 * Pure functions; safe from any thread.
 */
#ifndef TWSIG_H
#define TWSIG_H

#include <stddef.h>

/* Length of the base64 of a 20-byte SHA-1 MAC, without the NUL. */
#define TWSIG_LEN 28

struct twsig_pair {
	const char *name;
	const char *value;
};

enum twsig_mode {
	/* Sort pairs by name, then value; drop exact duplicates. */
	TWSIG_TWILIO,
	/* Stable sort by name only; repeated values keep their order. */
	TWSIG_SIGNALWIRE
};

/*
 * Signs url plus the decoded form pairs (n may be 0, as for the media
 * WebSocket upgrade of section 1.6).  Writes TWSIG_LEN + 1 bytes to out.
 * Returns 0, or -1 with the reason logged.
 */
int twsig_compute(const char *key, const char *url,
    const struct twsig_pair *pairs, size_t n, enum twsig_mode mode, char *out);

/*
 * Checks twsig_compute against protocols.md 3.5 vectors 1 and 5 and the
 * derived wss:// value of 1.6.  Returns 0 when all match, else -1 (each
 * mismatch logged).
 */
int twsig_self_test(void);

#endif /* TWSIG_H */
