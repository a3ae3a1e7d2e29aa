/*
 * hmac_test - HMAC-SHA256 against RFC 4231, HMAC-SHA1 against a Twilio
 * signature vector (protocols.md 3.5 #1), and the constant-time compares.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "hmac.h"

static void
check256(const void *key, size_t klen, const void *msg, size_t mlen,
    const char *want)
{
	unsigned char mac[HMAC_SHA256_LEN];
	char          hex[2 * HMAC_SHA256_LEN + 1];

	assert_int_equal(hmac_sha256(key, klen, msg, mlen, mac), 0);
	codec_hex(mac, sizeof(mac), hex);
	assert_string_equal(hex, want);
}

static void
test_rfc4231(void **state)
{
	unsigned char k[131], d[50];
	size_t        i;
	const char   *t6 = "Test Using Larger Than Block-Size Key - Hash "
	                   "Key First";
	const char   *t7 = "This is a test using a larger than block-size "
	                   "key and a larger than block-size data. The key "
	                   "needs to be hashed before being used by the "
	                   "HMAC algorithm.";

	(void)state;
	memset(k, 0x0b, 20); /* test case 1 */
	check256(k, 20, "Hi There", 8,
	    "b0344c61d8db38535ca8afceaf0bf12b"
	    "881dc200c9833da726e9376c2e32cff7");
	check256("Jefe", 4, "what do ya want for nothing?", 28, /* 2 */
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec384"
	    "3");
	memset(k, 0xaa, 20); /* test case 3 */
	memset(d, 0xdd, 50);
	check256(k, 20, d, 50,
	    "773ea91e36800e46854db8ebd09181a7"
	    "2959098b3ef8c122d9635514ced565fe");
	for (i = 0; i < 25; i++) /* test case 4 */
		k[i] = (unsigned char)(i + 1);
	memset(d, 0xcd, 50);
	check256(k, 25, d, 50,
	    "82558a389a443c0ea4cc819899f2083a"
	    "85f0faa3e578f8077a2e3ff46729665b");
	memset(k, 0xaa, 131); /* test cases 6 and 7 */
	check256(k, 131, t6, strlen(t6),
	    "60e431591ee0b67f0d8a26aacbf5b77f"
	    "8e0bc6213728c5140546040f0ee37f54");
	check256(k, 131, t7, strlen(t7),
	    "9b09ffa71b942fcb27635fbcd5b0e944"
	    "bfdc63644f0713938a7f51535c3a35e2");
}

static void
test_hex_helper(void **state)
{
	char hex[65];

	(void)state;
	assert_int_equal(
	    hmac_sha256_hex("Jefe", "what do ya want for nothing?", 28, hex),
	    0);
	assert_string_equal(hex,
	    "5bdcc146bf60754e6a042426089575c7"
	    "5a003f089d2739839dec58b964ec3843");
	/* SHA-256 of {} as in protocols.md 3.5 vector 9. */
	assert_int_equal(hmac_sha256_digest_hex("{}", 2, hex), 0);
	assert_string_equal(hex,
	    "44136fa355b3678a1146ad16f7e8649e"
	    "94fb4fc21fe77e8310c060f61caaff8a");
}

static void
test_sha1_twilio_vector(void **state)
{
	const char   *data = "https://mycompany.com/myapp.php?foo=1&bar=2"
	                     "CallSidCA1234567890ABCDECaller+14158675309"
	                     "Digits1234From+14158675309To+18005551212";
	unsigned char mac[HMAC_SHA1_LEN];
	char          b64[CODEC_B64_LEN(HMAC_SHA1_LEN)];

	(void)state;
	assert_int_equal(hmac_sha1("12345", 5, data, strlen(data), mac), 0);
	assert_int_equal(
	    codec_b64_encode(mac, sizeof(mac), b64, sizeof(b64)), 28);
	assert_string_equal(b64, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
}

static void
test_equal(void **state)
{
	(void)state;
	assert_true(hmac_equal("abc", 3, "abc", 3));
	assert_false(hmac_equal("abc", 3, "abd", 3));
	assert_false(hmac_equal("abc", 3, "abcd", 4));
	assert_false(hmac_equal("", 0, "a", 1));
	assert_true(hmac_streq("token", "token"));
	assert_false(hmac_streq("token", "Token"));
	assert_false(hmac_streq(NULL, "x"));
	assert_false(hmac_streq("x", NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4231),
		cmocka_unit_test(test_hex_helper),
		cmocka_unit_test(test_sha1_twilio_vector),
		cmocka_unit_test(test_equal),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
