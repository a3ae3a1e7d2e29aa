/*
 * seal_test - AES-256-GCM sealing of phone numbers: key parsing (hex and
 * base64), round trip, a fresh nonce per value, NIST-style known answer,
 * and tamper detection on every byte, on the aad and on the key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "seal.h"

static const char hexkey[]
    = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char b64key[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

static void
test_key_parse(void **state)
{
	unsigned char a[SEAL_KEY_LEN], b[SEAL_KEY_LEN];
	int           i;

	assert_int_equal(seal_key_parse(hexkey, a), 0);
	assert_int_equal(seal_key_parse(b64key, b), 0);
	for (i = 0; i < SEAL_KEY_LEN; i++)
		assert_int_equal(a[i], i);
	assert_memory_equal(a, b, SEAL_KEY_LEN);
	assert_int_equal(seal_key_parse("00", a), -1);
	assert_int_equal(seal_key_parse("", a), -1);
	/* 64 characters that are not hex, and base64 of 16 bytes */
	assert_int_equal(seal_key_parse("zz0102030405060708090a0b0c0d0e0f10"
	                                "1112131415161718191a1b1c1d1e1f",
	                     a),
	    -1);
	assert_int_equal(seal_key_parse("AAECAwQFBgcICQoLDA0ODw==", a), -1);
}

static void
test_round_trip(void **state)
{
	unsigned char key[SEAL_KEY_LEN], s1[64], s2[64], out[64];
	const char   *phone = "+14155550123";
	size_t        n = strlen(phone);
	int           l1, l2, l;

	assert_int_equal(seal_key_parse(hexkey, key), 0);
	l1 = seal_encrypt(key, phone, n, "calls.to_phone", s1, sizeof(s1));
	l2 = seal_encrypt(key, phone, n, "calls.to_phone", s2, sizeof(s2));
	assert_int_equal(l1, (int)(n + SEAL_OVERHEAD));
	assert_int_equal(l2, l1);
	assert_int_equal(s1[0], SEAL_VERSION);
	/* fresh nonce: the same number never seals the same twice */
	assert_memory_not_equal(s1 + 1, s2 + 1, SEAL_NONCE_LEN);
	assert_memory_not_equal(s1, s2, (size_t)l1);
	assert_null(memmem(s1, (size_t)l1, phone, n));
	assert_null(memmem(s1, (size_t)l1, phone + 1, 7));
	l = seal_decrypt(
	    key, s1, (size_t)l1, "calls.to_phone", out, sizeof(out));
	assert_int_equal(l, (int)n);
	assert_memory_equal(out, phone, n);
	l = seal_decrypt(
	    key, s2, (size_t)l2, "calls.to_phone", out, sizeof(out));
	assert_int_equal(l, (int)n);
	/* short output buffer: refused */
	assert_int_equal(seal_encrypt(key, phone, n, NULL, s1, n), -1);
	/* empty plaintext still authenticates */
	l1 = seal_encrypt(key, "", 0, NULL, s1, sizeof(s1));
	assert_int_equal(l1, SEAL_OVERHEAD);
	assert_int_equal(
	    seal_decrypt(key, s1, (size_t)l1, NULL, out, sizeof(out)), 0);
}

static void
test_tamper(void **state)
{
	unsigned char key[SEAL_KEY_LEN], key2[SEAL_KEY_LEN];
	unsigned char s[64], t[64], out[64];
	const char   *phone = "+447911123456";
	size_t        n = strlen(phone), i;
	int           l;

	assert_int_equal(seal_key_parse(hexkey, key), 0);
	l = seal_encrypt(key, phone, n, "calls.from_phone", s, sizeof(s));
	assert_true(l > 0);
	for (i = 0; i < (size_t)l; i++) {
		memcpy(t, s, (size_t)l);
		t[i] ^= 0x01;
		if (seal_decrypt(key, t, (size_t)l, "calls.from_phone", out,
		        sizeof(out))
		    != -1)
			fail_msg("byte %zu flipped and still accepted", i);
	}
	/* truncated, wrong aad, no aad, other key */
	assert_int_equal(seal_decrypt(key, s, (size_t)l - 1,
	                     "calls.from_phone", out, sizeof(out)),
	    -1);
	assert_int_equal(seal_decrypt(key, s, (size_t)l, "calls.to_phone", out,
	                     sizeof(out)),
	    -1);
	assert_int_equal(
	    seal_decrypt(key, s, (size_t)l, NULL, out, sizeof(out)), -1);
	memcpy(key2, key, sizeof(key2));
	key2[31] ^= 0x80;
	assert_int_equal(seal_decrypt(key2, s, (size_t)l, "calls.from_phone",
	                     out, sizeof(out)),
	    -1);
	assert_int_equal(seal_decrypt(key, s, 3, NULL, out, sizeof(out)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_parse),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_tamper),
	};

	log_init("seal_test");
	log_set_level("error");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
