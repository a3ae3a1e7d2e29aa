/*
 * dtmf_test - the tone generator and the Goertzel detector: every key
 * generated is heard, in order and only once; pauses are silence; noise,
 * single tones and a voiced, speech-like sound are no key; bad digits
 * are refused.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dtmf.h"

#define SAMPLES_PER_MS (DTMF_RATE / 1000)

static char *
heard(const unsigned char *p, size_t n, size_t chunk)
{
	static struct dtmf_det d;
	size_t                 i, m;

	dtmf_det_init(&d);
	for (i = 0; i < n; i += m) {
		m = n - i < chunk ? n - i : chunk;
		(void)dtmf_det_feed(&d, p + i, m);
	}
	return (d.keys);
}

static void
test_all_keys(void **state)
{
	const char    *all = "0123456789*#ABCD";
	unsigned char *buf;
	size_t         n, len;

	(void)state;
	len = dtmf_tones_len(all);
	assert_int_equal(
	    len, 16 * (DTMF_TONE_MS + DTMF_GAP_MS) * SAMPLES_PER_MS);
	buf = malloc(len);
	assert_non_null(buf);
	n = dtmf_tones(all, buf, len);
	assert_int_equal(n, len);
	assert_string_equal(heard(buf, n, 160), all); /* 20 ms frames */
	assert_string_equal(heard(buf, n, 1), all);
	assert_string_equal(heard(buf, n, 4096), all);
	/* too small a buffer: nothing written */
	assert_int_equal(dtmf_tones(all, buf, len - 1), 0);
	free(buf);
}

static void
test_repeats_and_pauses(void **state)
{
	unsigned char buf[16000];
	size_t        n, i, start;

	(void)state;
	n = dtmf_tones("11w#", buf, sizeof(buf));
	assert_int_equal(n,
	    (3 * (DTMF_TONE_MS + DTMF_GAP_MS) + DTMF_PAUSE_MS)
	        * SAMPLES_PER_MS);
	assert_string_equal(heard(buf, n, 160), "11#");
	/* the pause: 500 ms of silence after the second key's gap */
	start = 2 * (DTMF_TONE_MS + DTMF_GAP_MS) * SAMPLES_PER_MS;
	for (i = start; i < start + DTMF_PAUSE_MS * SAMPLES_PER_MS; i++)
		assert_int_equal(buf[i], DTMF_SILENCE);
	assert_int_not_equal(buf[i + 1], DTMF_SILENCE); /* then the # */
	n = dtmf_tones("w", buf, sizeof(buf));
	assert_int_equal(n, DTMF_PAUSE_MS * SAMPLES_PER_MS);
	assert_string_equal(heard(buf, n, 160), "");
}

static void
test_bad_digits(void **state)
{
	unsigned char buf[64];
	char          long_keys[DTMF_KEYS_MAX + 2];

	(void)state;
	assert_true(dtmf_digits_ok("0123456789*#ABCDw"));
	assert_false(dtmf_digits_ok(NULL));
	assert_false(dtmf_digits_ok(""));
	assert_false(dtmf_digits_ok("12a")); /* lower case a */
	assert_false(dtmf_digits_ok("1 2"));
	assert_false(dtmf_digits_ok("E"));
	assert_false(dtmf_digits_ok("W"));
	assert_false(dtmf_digits_ok("1,2"));
	memset(long_keys, '1', DTMF_KEYS_MAX);
	long_keys[DTMF_KEYS_MAX] = '\0';
	assert_true(dtmf_digits_ok(long_keys));
	long_keys[DTMF_KEYS_MAX] = '1';
	long_keys[DTMF_KEYS_MAX + 1] = '\0';
	assert_false(dtmf_digits_ok(long_keys));
	assert_int_equal(dtmf_tones_len("12x"), 0);
	assert_int_equal(dtmf_tones("12x", buf, sizeof(buf)), 0);
}

/* A uniform random number in [-1, 1) from a fixed sequence. */
static double
noise(uint32_t *seed)
{
	*seed = *seed * 1664525u + 1013904223u;
	return ((double)(*seed >> 8) / (double)(1u << 23) - 1.0);
}

static void
test_not_keys(void **state)
{
	static unsigned char buf[5 * DTMF_RATE];
	size_t               n = sizeof(buf);
	uint32_t             seed = 7;
	double               f0, ph = 0, v;
	size_t               i;
	int                  h;

	(void)state;
	/* white noise, loud */
	for (i = 0; i < n; i++)
		buf[i] = dtmf_ulaw((int)(8000.0 * noise(&seed)));
	assert_string_equal(heard(buf, n, 160), "");
	/* one row tone alone, and one column tone alone */
	for (i = 0; i < n; i++)
		buf[i] = dtmf_ulaw((int)lrint(
		    9000.0 * sin(2.0 * M_PI * 697.0 * (double)i / DTMF_RATE)));
	assert_string_equal(heard(buf, n, 160), "");
	for (i = 0; i < n; i++)
		buf[i] = dtmf_ulaw((int)lrint(9000.0
		    * sin(2.0 * M_PI * 1336.0 * (double)i / DTMF_RATE)));
	assert_string_equal(heard(buf, n, 160), "");
	/* a voiced sound gliding from 110 to 170 Hz, its harmonics shaped
	 * by two formants near 700 and 1200 Hz (a vowel) */
	for (i = 0; i < n; i++) {
		f0 = 110.0 + 60.0 * (double)i / (double)n;
		ph += 2.0 * M_PI * f0 / DTMF_RATE;
		v = 0;
		for (h = 1; h * f0 < 3400.0; h++) {
			double f = h * f0;
			double g = 1.0 / (1.0 + pow((f - 700.0) / 150.0, 2))
			    + 0.7 / (1.0 + pow((f - 1200.0) / 200.0, 2));

			v += g * sin(ph * h);
		}
		buf[i] = dtmf_ulaw((int)lrint(3000.0 * v));
	}
	assert_string_equal(heard(buf, n, 160), "");
	/* silence, and keys too quiet to be keys (40 dB down) */
	memset(buf, DTMF_SILENCE, n);
	assert_string_equal(heard(buf, n, 160), "");
	n = dtmf_tones("123", buf, sizeof(buf));
	for (i = 0; i < n; i++)
		buf[i] = dtmf_ulaw(dtmf_linear(buf[i]) / 100);
	assert_string_equal(heard(buf, n, 160), "");
}

static void
test_keys_in_noise(void **state)
{
	unsigned char buf[8000];
	uint32_t      seed = 3;
	size_t        n, i;
	int           s;

	(void)state;
	n = dtmf_tones("159#", buf, sizeof(buf));
	for (i = 0; i < n; i++) { /* noise about 25 dB below the keys */
		s = dtmf_linear(buf[i]) + (int)(300.0 * noise(&seed));
		buf[i] = dtmf_ulaw(s);
	}
	assert_string_equal(heard(buf, n, 160), "159#");
}

static void
test_ulaw_round_trip(void **state)
{
	int v;

	(void)state;
	assert_int_equal(dtmf_ulaw(0), 0xFF);
	assert_int_equal(dtmf_linear(0xFF), 0);
	for (v = -32000; v <= 32000; v += 97) {
		int back = dtmf_linear(dtmf_ulaw(v));
		int err = abs(back - v);

		/* mu-law's step grows with the level: within 1/16 */
		assert_true(err <= abs(v) / 16 + 8);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_repeats_and_pauses),
		cmocka_unit_test(test_bad_digits),
		cmocka_unit_test(test_not_keys),
		cmocka_unit_test(test_keys_in_noise),
		cmocka_unit_test(test_ulaw_round_trip),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
