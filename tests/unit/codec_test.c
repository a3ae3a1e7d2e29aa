/*
 * codec_test - base64 round trips and rejection of malformed input, hex,
 * random ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"

static void
test_b64_round_trip(void **state)
{
	unsigned char in[256], out[256];
	char          enc[CODEC_B64_LEN(256)];
	size_t        n;
	int           len;

	(void)state;
	for (n = 0; n < sizeof(in); n++)
		in[n] = (unsigned char)(n * 7 + 3);
	for (n = 0; n <= 10; n++) { /* every padding case */
		len = codec_b64_encode(in, n, enc, sizeof(enc));
		assert_int_equal(len, (int)(((n + 2) / 3) * 4));
		assert_int_equal(
		    codec_b64_decode(enc, (size_t)len, out, sizeof(out)),
		    (int)n);
		assert_memory_equal(in, out, n);
	}
	len = codec_b64_encode(in, 160, enc, sizeof(enc)); /* a frame */
	assert_int_equal(len, 216);
	assert_int_equal(codec_b64_decode(enc, 216, out, sizeof(out)), 160);
	assert_memory_equal(in, out, 160);
}

static void
test_b64_known(void **state)
{
	unsigned char out[16];

	(void)state;
	assert_int_equal(codec_b64_decode("Zm9vYmFy", 8, out, sizeof(out)), 6);
	assert_memory_equal(out, "foobar", 6);
	assert_int_equal(codec_b64_decode("Zm9vYg==", 8, out, sizeof(out)), 4);
	assert_int_equal(codec_b64_decode("/w==", 4, out, sizeof(out)), 1);
	assert_int_equal(out[0], 0xff);
}

static void
test_b64_rejects(void **state)
{
	unsigned char out[64];
	char          small[4];

	(void)state;
	assert_int_equal(codec_b64_decode("Zm9", 3, out, sizeof(out)), -1);
	assert_int_equal(
	    codec_b64_decode("Zm9v!mFy", 8, out, sizeof(out)), -1);
	assert_int_equal(codec_b64_decode("Zm=v", 4, out, sizeof(out)), -1);
	assert_int_equal(
	    codec_b64_decode("Zm9v YmF", 8, out, sizeof(out)), -1);
	assert_int_equal(codec_b64_decode("Zm9vYmFy", 8, out, 3), -1);
	assert_int_equal(
	    codec_b64_encode("abcd", 4, small, sizeof(small)), -1);
}

static void
test_hex_and_rand(void **state)
{
	char hex[33], other[33];

	(void)state;
	codec_hex("\x00\x7f\xff", 3, hex);
	assert_string_equal(hex, "007fff");
	assert_int_equal(codec_rand_hex(hex, 16), 0);
	assert_int_equal(codec_rand_hex(other, 16), 0);
	assert_int_equal(strlen(hex), 32);
	assert_string_not_equal(hex, other);
	assert_int_equal(strspn(hex, "0123456789abcdef"), 32);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_round_trip),
		cmocka_unit_test(test_b64_known),
		cmocka_unit_test(test_b64_rejects),
		cmocka_unit_test(test_hex_and_rand),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
