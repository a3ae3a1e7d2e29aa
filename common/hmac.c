/*
 * hmac - HMAC and constant-time comparison; see hmac.h.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "codec.h"
#include "hmac.h"

static int
hmac_any(const EVP_MD *md, const void *key, size_t klen, const void *msg,
    size_t mlen, unsigned char *out, unsigned int want)
{
	unsigned int len = 0;

	if (klen > 0x7fffffff)
		return (-1);
	if (HMAC(md, key, (int)klen, msg, mlen, out, &len) == NULL
	    || len != want)
		return (-1);
	return (0);
}

int
hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
    unsigned char out[HMAC_SHA256_LEN])
{
	return (hmac_any(
	    EVP_sha256(), key, klen, msg, mlen, out, HMAC_SHA256_LEN));
}

int
hmac_sha1(const void *key, size_t klen, const void *msg, size_t mlen,
    unsigned char out[HMAC_SHA1_LEN])
{
	return (
	    hmac_any(EVP_sha1(), key, klen, msg, mlen, out, HMAC_SHA1_LEN));
}

int
hmac_sha256_hex(const char *key, const void *msg, size_t mlen,
    char out[2 * HMAC_SHA256_LEN + 1])
{
	unsigned char mac[HMAC_SHA256_LEN];

	if (hmac_sha256(key, strlen(key), msg, mlen, mac) == -1)
		return (-1);
	codec_hex(mac, sizeof(mac), out);
	OPENSSL_cleanse(mac, sizeof(mac));
	return (0);
}

int
hmac_sha256_digest_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	if (SHA256(data, len, md) == NULL)
		return (-1);
	codec_hex(md, sizeof(md), out);
	return (0);
}

bool
hmac_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	/* Compare b against itself on a length mismatch so the time spent
	 * does not depend on where a and b differ. */
	if (alen != blen) {
		(void)CRYPTO_memcmp(b, b, blen);
		return (false);
	}
	return (CRYPTO_memcmp(a, b, alen) == 0);
}

bool
hmac_streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (false);
	return (hmac_equal(a, strlen(a), b, strlen(b)));
}
