/*
 * seal - AES-256-GCM for values at rest (phone numbers), on OpenSSL EVP.
 *
 * A sealed value is SEAL_VERSION (one byte, 0x01), a random 96-bit nonce,
 * the ciphertext (as long as the plaintext) and the 128-bit tag:
 *
 *	v1 || nonce[12] || ciphertext[n] || tag[16]	(n + SEAL_OVERHEAD)
 *
 * It is stored as bytea.  A fresh nonce per value means the same number
 * seals differently every time (look numbers up by their HMAC, never by
 * the sealed bytes).  The optional aad (for instance the column name)
 * binds a value to where it is stored: unsealing with another aad fails.
 *
 * The key is 32 bytes, given as 64 hex digits or as base64 of 32 bytes
 * (PHONE_ENCRYPTION_KEY).  Pure functions on caller buffers; any thread.
 */
#ifndef SEAL_H
#define SEAL_H

#include <stddef.h>

#define SEAL_KEY_LEN 32
#define SEAL_NONCE_LEN 12
#define SEAL_TAG_LEN 16
#define SEAL_VERSION 0x01
#define SEAL_OVERHEAD (1 + SEAL_NONCE_LEN + SEAL_TAG_LEN)

/* Parse 64 hex digits or base64 of exactly 32 bytes into key.  Returns 0,
 * or -1 (logged without the text) if it is neither. */
int seal_key_parse(const char *text, unsigned char key[SEAL_KEY_LEN]);

/*
 * Seal n bytes of pt into out (outlen >= n + SEAL_OVERHEAD).  aad may be
 * NULL.  Returns the sealed length, or -1 (logged) on a short buffer or
 * an OpenSSL failure.
 */
int seal_encrypt(const unsigned char key[SEAL_KEY_LEN], const void *pt,
    size_t n, const char *aad, unsigned char *out, size_t outlen);

/*
 * Open a sealed value into out (outlen >= n - SEAL_OVERHEAD; one more
 * byte if the caller wants to NUL-terminate).  Returns the plaintext
 * length, or -1 if the value is malformed, of another version, or was
 * altered (tag mismatch): the failure is logged without any content.
 */
int seal_decrypt(const unsigned char key[SEAL_KEY_LEN], const void *in,
    size_t n, const char *aad, unsigned char *out, size_t outlen);

#endif
