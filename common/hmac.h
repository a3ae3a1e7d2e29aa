/*
 * hmac - HMAC-SHA256 / HMAC-SHA1 on OpenSSL and constant-time compares.
 *
 * Every comparison of a secret, signature or token goes through
 * hmac_equal() (CRYPTO_memcmp), never memcmp or strcmp.  Any thread.
 */
#ifndef HMAC_H
#define HMAC_H

#include <stdbool.h>
#include <stddef.h>

#define HMAC_SHA256_LEN 32
#define HMAC_SHA1_LEN 20

int hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
    unsigned char out[HMAC_SHA256_LEN]);
int hmac_sha1(const void *key, size_t klen, const void *msg, size_t mlen,
    unsigned char out[HMAC_SHA1_LEN]);
/* Lower-case hex of HMAC-SHA256 into out[65]. */
int hmac_sha256_hex(const char *key, const void *msg, size_t mlen,
    char out[2 * HMAC_SHA256_LEN + 1]);
/* SHA-256 of data as lower-case hex into out[65]. */
int hmac_sha256_digest_hex(const void *data, size_t len, char out[65]);
/* Constant time in the length of b: false when the lengths differ. */
bool hmac_equal(const void *a, size_t alen, const void *b, size_t blen);
bool hmac_streq(const char *a, const char *b);

#endif
