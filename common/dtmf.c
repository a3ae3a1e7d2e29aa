/*
 * dtmf - DTMF tones and their detection; see dtmf.h.
 *
 * The level: each of the two tones peaks at DTMF_AMP of 32767 (about
 * -9 dBm0 each), as telephone keypads send.  The detector runs the
 * Goertzel recurrence for the eight frequencies over each block and
 * accepts a key when the strongest row and column stand well above the
 * others in their group (6 dB), hold most of the block's energy (so
 * speech and noise, which spread it, do not pass), are within 8 dB of
 * each other (twist) and are loud enough.
 */
#include <math.h>
#include <string.h>

#include "dtmf.h"

#define DTMF_AMP 7000.0 /* peak of each tone, 16-bit */
#define MIN_POWER 40000.0 /* mean square of a key block: ~-40 dBm0 */
#define MIN_SHARE 0.7 /* of the block's energy in the two tones */
#define MIN_PEAK 4.0 /* over the next in its group: 6 dB */
#define MAX_TWIST 6.3 /* 8 dB */
#define MIN_RUN 2 /* blocks a key must last */

static const double rows[4] = { 697, 770, 852, 941 };
static const double cols[4] = { 1209, 1336, 1477, 1633 };
static const char   keypad[4][5] = { "123A", "456B", "789C", "*0#D" };

static bool
key_pos(char k, int *r, int *c)
{
	int i, j;

	for (i = 0; i < 4; i++)
		for (j = 0; j < 4; j++)
			if (keypad[i][j] == k) {
				*r = i;
				*c = j;
				return (true);
			}
	return (false);
}

bool
dtmf_digits_ok(const char *digits)
{
	size_t n;
	int    r, c;

	if (digits == NULL || (n = strlen(digits)) == 0 || n > DTMF_KEYS_MAX)
		return (false);
	for (; *digits != '\0'; digits++)
		if (*digits != 'w' && !key_pos(*digits, &r, &c))
			return (false);
	return (true);
}

size_t
dtmf_tones_len(const char *digits)
{
	size_t n = 0;

	if (!dtmf_digits_ok(digits))
		return (0);
	for (; *digits != '\0'; digits++)
		n += *digits == 'w'
		    ? DTMF_PAUSE_MS * (DTMF_RATE / 1000)
		    : (DTMF_TONE_MS + DTMF_GAP_MS) * (DTMF_RATE / 1000);
	return (n);
}

unsigned char
dtmf_ulaw(int pcm)
{
	int v, mask, seg;

	/* 14-bit magnitude: floor(pcm / 4) without shifting a negative. */
	v = pcm >= 0 ? pcm / 4 : -((-pcm + 3) / 4);
	if (v < 0) {
		v = -v;
		mask = 0x7F;
	} else
		mask = 0xFF;
	if (v > 8159)
		v = 8159;
	v += 0x21; /* bias */
	for (seg = 0; seg < 8 && v > (0x40 << seg) - 1; seg++)
		;
	if (seg == 8)
		return ((unsigned char)(0x7F ^ mask));
	return (
	    (unsigned char)(((seg << 4) | ((v >> (seg + 1)) & 0xF)) ^ mask));
}

int
dtmf_linear(unsigned char ulaw)
{
	int u = ~ulaw & 0xFF, t;

	t = ((u & 0x0F) << 3) + 0x84;
	t <<= (u & 0x70) >> 4;
	return ((u & 0x80) ? 0x84 - t : t - 0x84);
}

size_t
dtmf_tones(const char *digits, unsigned char *out, size_t cap)
{
	const size_t tone = DTMF_TONE_MS * (DTMF_RATE / 1000);
	const size_t gap = DTMF_GAP_MS * (DTMF_RATE / 1000);
	size_t       len = dtmf_tones_len(digits), o = 0, i;
	double       wr, wc;
	int          r = 0, c = 0;

	if (len == 0 || len > cap)
		return (0);
	for (; *digits != '\0'; digits++) {
		if (*digits == 'w') {
			memset(out + o, DTMF_SILENCE,
			    DTMF_PAUSE_MS * (DTMF_RATE / 1000));
			o += DTMF_PAUSE_MS * (DTMF_RATE / 1000);
			continue;
		}
		(void)key_pos(*digits, &r, &c);
		wr = 2.0 * M_PI * rows[r] / DTMF_RATE;
		wc = 2.0 * M_PI * cols[c] / DTMF_RATE;
		for (i = 0; i < tone; i++)
			out[o++] = dtmf_ulaw((int)lrint(DTMF_AMP
			    * (sin(wr * (double)i) + sin(wc * (double)i))));
		memset(out + o, DTMF_SILENCE, gap);
		o += gap;
	}
	return (o);
}

void
dtmf_det_init(struct dtmf_det *d)
{
	memset(d, 0, sizeof(*d));
}

/* Normalised power of frequency f in x (a sine of amplitude A: A^2/2). */
static double
goertzel(const double *x, size_t n, double f)
{
	double k = 2.0 * cos(2.0 * M_PI * f / DTMF_RATE), s0, s1 = 0, s2 = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		s0 = x[i] + k * s1 - s2;
		s2 = s1;
		s1 = s0;
	}
	return ((s1 * s1 + s2 * s2 - k * s1 * s2) * 2.0 / ((double)n * n));
}

/* The strongest of four powers when it stands out; -1 otherwise. */
static int
peak(const double *p)
{
	int i, best = 0;

	for (i = 1; i < 4; i++)
		if (p[i] > p[best])
			best = i;
	for (i = 0; i < 4; i++)
		if (i != best && p[i] * MIN_PEAK > p[best])
			return (-1);
	return (best);
}

/* The key in the block x, or 0. */
static char
block_key(const double *x)
{
	double pr[4], pc[4], energy = 0;
	int    i, r, c;

	for (i = 0; i < DTMF_BLOCK; i++)
		energy += x[i] * x[i];
	energy /= DTMF_BLOCK; /* mean square */
	if (energy < MIN_POWER)
		return (0);
	for (i = 0; i < 4; i++) {
		pr[i] = goertzel(x, DTMF_BLOCK, rows[i]);
		pc[i] = goertzel(x, DTMF_BLOCK, cols[i]);
	}
	if ((r = peak(pr)) < 0 || (c = peak(pc)) < 0)
		return (0);
	if (pr[r] + pc[c] < MIN_SHARE * energy || pr[r] > MAX_TWIST * pc[c]
	    || pc[c] > MAX_TWIST * pr[r])
		return (0);
	return (keypad[r][c]);
}

static unsigned
block_done(struct dtmf_det *d)
{
	char k = block_key(d->x);

	d->n = 0;
	if (k == 0 || k != d->cand) {
		d->cand = k;
		d->run = k != 0 ? 1 : 0;
		d->reported = false;
	} else
		d->run++;
	if (d->cand == 0 || d->reported || d->run < MIN_RUN)
		return (0);
	d->reported = true;
	if (d->nkeys + 1 < sizeof(d->keys)) {
		d->keys[d->nkeys++] = d->cand;
		d->keys[d->nkeys] = '\0';
	}
	return (1);
}

unsigned
dtmf_det_feed(struct dtmf_det *d, const unsigned char *ulaw, size_t n)
{
	unsigned found = 0;
	size_t   i;

	for (i = 0; i < n; i++) {
		d->x[d->n++] = (double)dtmf_linear(ulaw[i]);
		if (d->n == DTMF_BLOCK)
			found += block_done(d);
	}
	return (found);
}
