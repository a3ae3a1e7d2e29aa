/*
 * voice.h - a spoken-sounding test clip made by code: a voiced source
 * (a gliding fundamental near 130 Hz and its harmonics, shaped by two
 * vowel formants) cut into syllables by a smooth envelope, as 8 kHz
 * 16-bit mono PCM in a WAV file.  The simulated phone (sim-twilio
 * --caller-audio, sim-caller --audio) converts it to mu-law and plays it
 * at each --caller-speak-at-ms offset; sim-openai's energy VAD hears each
 * play as one caller turn (the syllable dips stay well above its
 * threshold and far shorter than its 500 ms of silence).
 *
 * Header-only so that the end-to-end tests (tests/integration/e2e_*) and
 * the demo's generator (gen-voice.c) share it.  Any thread.
 */
#ifndef VOICE_H
#define VOICE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define VOICE_RATE 8000
#define VOICE_SYLLABLE_MS 190
#define VOICE_PEAK 9000.0

/* Gain of a resonance at f (Hz) with centre fc and bandwidth bw. */
static double
voice_formant(double f, double fc, double bw)
{
	double d = (f - fc) / (bw / 2);

	return (1.0 / (1.0 + d * d));
}

static void
voice_le32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

/*
 * Fills pcm[0..n) with syllables of the clip (n = samples; any length).
 * Formants alternate between /a/ and /e/ from syllable to syllable.
 */
static void
voice_synth(int16_t *pcm, size_t n)
{
	static const double f1[] = { 730, 530 }, f2[] = { 1090, 1840 };
	size_t              syl = VOICE_RATE * VOICE_SYLLABLE_MS / 1000, i;
	double              phase = 0, t, f0, x, env, pos, g, peak = 0;
	int                 k, v;

	for (i = 0; i < n; i++) {
		t = (double)i / VOICE_RATE;
		f0 = 130.0 + 25.0 * sin(2 * M_PI * 1.3 * t); /* intonation */
		phase += 2 * M_PI * f0 / VOICE_RATE;
		v = (int)(i / syl) % 2;
		x = 0;
		for (k = 1; k * f0 < 3400; k++) {
			g = voice_formant(k * f0, f1[v], 120)
			    + 0.6 * voice_formant(k * f0, f2[v], 160) + 0.02;
			x += g / k * sin(k * phase);
		}
		pos = (double)(i % syl) / syl; /* 0..1 inside the syllable */
		env = 0.35 + 0.65 * sin(M_PI * pos); /* dips, never silent */
		if (i < VOICE_RATE / 50) /* 20 ms fade in */
			env *= (double)i / (VOICE_RATE / 50);
		if (n - i < VOICE_RATE / 50)
			env *= (double)(n - i) / (VOICE_RATE / 50);
		x *= env;
		pcm[i] = (int16_t)lrint(x * 1000); /* scaled below */
		if (fabs(x) > peak)
			peak = fabs(x);
	}
	for (i = 0; peak > 0 && i < n; i++)
		pcm[i] = (int16_t)lrint(pcm[i] / 1000.0 / peak * VOICE_PEAK);
}

/*
 * Writes a clip of ms milliseconds to path as a WAV file.  Returns 0, or
 * -1 with errno set (nothing printed).
 */
static int
voice_write_wav(const char *path, int ms)
{
	size_t        n = (size_t)VOICE_RATE * (size_t)ms / 1000, i;
	int16_t       pcm[VOICE_RATE * 10];
	unsigned char h[44], s[2];
	FILE         *f;
	int           rv = 0;

	if (ms <= 0 || n > sizeof(pcm) / sizeof(pcm[0]))
		return (-1);
	voice_synth(pcm, n);
	memcpy(h, "RIFF", 4);
	voice_le32(h + 4, (uint32_t)(36 + n * 2));
	memcpy(h + 8, "WAVEfmt ", 8);
	voice_le32(h + 16, 16);
	h[20] = 1; /* PCM */
	h[21] = 0;
	h[22] = 1; /* mono */
	h[23] = 0;
	voice_le32(h + 24, VOICE_RATE);
	voice_le32(h + 28, VOICE_RATE * 2);
	h[32] = 2;
	h[33] = 0;
	h[34] = 16;
	h[35] = 0;
	memcpy(h + 36, "data", 4);
	voice_le32(h + 40, (uint32_t)(n * 2));
	if ((f = fopen(path, "wb")) == NULL)
		return (-1);
	if (fwrite(h, 1, sizeof(h), f) != sizeof(h))
		rv = -1;
	for (i = 0; rv == 0 && i < n; i++) {
		s[0] = (unsigned char)((uint16_t)pcm[i] & 0xff);
		s[1] = (unsigned char)((uint16_t)pcm[i] >> 8);
		if (fwrite(s, 1, 2, f) != 2)
			rv = -1;
	}
	if (fclose(f) != 0)
		rv = -1;
	return (rv);
}

#endif /* VOICE_H */
