/*
 * edsig.h - Telnyx's webhook signature, made: base64(Ed25519(private key,
 * "<telnyx-timestamp>|<body>")) (docs/providers.md).  Shared by
 * sim-twilio --telnyx and the tests that forge webhooks; header-only.
 * Any thread (the key is only read).
 */
#ifndef EDSIG_H
#define EDSIG_H

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define EDSIG_B64 89 /* 64 bytes in base64, and the NUL */

/* 0 with the signature in out (EDSIG_B64 bytes or more), or -1. */
static inline int
edsig_sign(
    EVP_PKEY *key, const char *ts, const char *body, char *out, size_t len)
{
	unsigned char sig[64];
	size_t      siglen = sizeof(sig), nts = strlen(ts), nb = strlen(body);
	EVP_MD_CTX *md;
	char       *msg;
	int         rv = -1;

	if (len < EDSIG_B64 || (md = EVP_MD_CTX_new()) == NULL)
		return (-1);
	if ((msg = malloc(nts + nb + 2)) == NULL) {
		EVP_MD_CTX_free(md);
		return (-1);
	}
	memcpy(msg, ts, nts);
	msg[nts] = '|';
	memcpy(msg + nts + 1, body, nb + 1);
	if (EVP_DigestSignInit(md, NULL, NULL, NULL, key) == 1
	    && EVP_DigestSign(
	           md, sig, &siglen, (const unsigned char *)msg, nts + 1 + nb)
	        == 1) {
		EVP_EncodeBlock((unsigned char *)out, sig, (int)siglen);
		rv = 0;
	}
	EVP_MD_CTX_free(md);
	free(msg);
	return (rv);
}

#endif
