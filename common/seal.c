/*
 * seal - AES-256-GCM sealing of values at rest; see seal.h.
 *
 * One EVP_CIPHER_CTX per call: contexts are cheap next to a database
 * round trip, and per-call contexts need no locking between threads.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "codec.h"
#include "log.h"
#include "seal.h"
#include "util.h"

int
seal_key_parse(const char *text, unsigned char key[SEAL_KEY_LEN])
{
	unsigned char buf[CODEC_B64_DEC_MAX(64)];
	size_t        len = strlen(text);
	int           i, hi, lo, n;

	if (len == 2 * SEAL_KEY_LEN) {
		for (i = 0; i < SEAL_KEY_LEN; i++) {
			hi = util_hexval((unsigned char)text[2 * i]);
			lo = util_hexval((unsigned char)text[2 * i + 1]);
			if (hi < 0 || lo < 0)
				break;
			buf[i] = (unsigned char)(hi << 4 | lo);
		}
		if (i == SEAL_KEY_LEN) {
			memcpy(key, buf, SEAL_KEY_LEN);
			OPENSSL_cleanse(buf, sizeof(buf));
			return (0);
		}
	}
	if (len <= 64
	    && (n = codec_b64_decode(text, len, buf, sizeof(buf)))
	        == SEAL_KEY_LEN) {
		memcpy(key, buf, SEAL_KEY_LEN);
		OPENSSL_cleanse(buf, sizeof(buf));
		return (0);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	log_warnx("encryption key must be 64 hex digits or base64 of 32 "
	          "bytes (got %zu characters)",
	    len);
	return (-1);
}

int
seal_encrypt(const unsigned char key[SEAL_KEY_LEN], const void *pt, size_t n,
    const char *aad, unsigned char *out, size_t outlen)
{
	EVP_CIPHER_CTX *ctx;
	unsigned char  *nonce = out + 1, *ct = out + 1 + SEAL_NONCE_LEN;
	int             len, rv = -1;

	if (n > (size_t)0x7fffffff - SEAL_OVERHEAD
	    || outlen < n + SEAL_OVERHEAD) {
		log_warnx("seal: output buffer too small");
		return (-1);
	}
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	out[0] = SEAL_VERSION;
	if (RAND_bytes(nonce, SEAL_NONCE_LEN) != 1
	    || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL)
	        != 1
	    || EVP_CIPHER_CTX_ctrl(
	           ctx, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE_LEN, NULL)
	        != 1
	    || EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1)
		goto out;
	if (aad != NULL
	    && EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)aad,
	           (int)strlen(aad))
	        != 1)
		goto out;
	if (EVP_EncryptUpdate(ctx, ct, &len, pt, (int)n) != 1
	    || EVP_EncryptFinal_ex(ctx, ct + len, &len) != 1
	    || EVP_CIPHER_CTX_ctrl(
	           ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN, ct + n)
	        != 1)
		goto out;
	rv = (int)(n + SEAL_OVERHEAD);
out:
	if (rv == -1)
		log_warnx("seal: AES-256-GCM encryption failed");
	EVP_CIPHER_CTX_free(ctx);
	return (rv);
}

int
seal_decrypt(const unsigned char key[SEAL_KEY_LEN], const void *in, size_t n,
    const char *aad, unsigned char *out, size_t outlen)
{
	EVP_CIPHER_CTX      *ctx = NULL;
	const unsigned char *p = in, *nonce = p + 1;
	const unsigned char *ct = p + 1 + SEAL_NONCE_LEN;
	unsigned char        tag[SEAL_TAG_LEN];
	size_t               ctlen;
	int                  len, rv = -1;

	if (n < SEAL_OVERHEAD || p[0] != SEAL_VERSION
	    || n - SEAL_OVERHEAD > outlen || n > 0x7fffffff) {
		log_warnx("seal: not a sealed value (%zu bytes)", n);
		return (-1);
	}
	ctlen = n - SEAL_OVERHEAD;
	memcpy(tag, ct + ctlen, SEAL_TAG_LEN);
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL
	    || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL)
	        != 1
	    || EVP_CIPHER_CTX_ctrl(
	           ctx, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE_LEN, NULL)
	        != 1
	    || EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1)
		goto out;
	if (aad != NULL
	    && EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)aad,
	           (int)strlen(aad))
	        != 1)
		goto out;
	if (EVP_DecryptUpdate(ctx, out, &len, ct, (int)ctlen) != 1
	    || EVP_CIPHER_CTX_ctrl(
	           ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN, tag)
	        != 1)
		goto out;
	/* Final checks the tag: the only verdict on authenticity. */
	if (EVP_DecryptFinal_ex(ctx, out + len, &len) != 1)
		goto out;
	rv = (int)ctlen;
out:
	if (rv == -1) {
		OPENSSL_cleanse(out, ctlen < outlen ? ctlen : outlen);
		log_warnx("seal: value failed authentication (%zu bytes)", n);
	}
	EVP_CIPHER_CTX_free(ctx);
	return (rv);
}
