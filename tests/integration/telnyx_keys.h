/*
 * telnyx_keys.h - a fresh Ed25519 key pair per test run, as Telnyx's
 * webhook signing uses (docs/providers.md): the private seed goes to
 * sim-twilio --telnyx-key, the public key to media-edge's
 * TELNYX_PUBLIC_KEY, and edsig_sign() (tests/sim/lib/edsig.h) makes
 * signatures for the bad-case tests.  Header-only, main thread only.
 */
#ifndef TELNYX_KEYS_H
#define TELNYX_KEYS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "../sim/lib/edsig.h"

struct tx_keys {
	EVP_PKEY *key;
	char      seed_b64[48]; /* base64 of the 32-byte private seed */
	char      pub_b64[48]; /* base64 of the 32-byte public key */
};

static __attribute__((unused)) int
tx_keys_new(struct tx_keys *k)
{
	unsigned char raw[32];
	size_t        n = sizeof(raw);

	memset(k, 0, sizeof(*k));
	if ((k->key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL
	    || EVP_PKEY_get_raw_private_key(k->key, raw, &n) != 1 || n != 32)
		return (-1);
	EVP_EncodeBlock((unsigned char *)k->seed_b64, raw, 32);
	n = sizeof(raw);
	if (EVP_PKEY_get_raw_public_key(k->key, raw, &n) != 1 || n != 32)
		return (-1);
	EVP_EncodeBlock((unsigned char *)k->pub_b64, raw, 32);
	return (0);
}

static __attribute__((unused)) void
tx_keys_free(struct tx_keys *k)
{
	EVP_PKEY_free(k->key);
	k->key = NULL;
}

#endif
