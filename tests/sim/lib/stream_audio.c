/*
 * stream_audio - the caller's audio timeline.  See stream_audio.h.
 *
 * Byte b of the call's audio (b = 8 * ms) is, in order of precedence: a
 * tone byte if a tone span covers it, a clip byte if a speak span covers
 * it, else 0xFF.  With a clip and no --speak-at-ms the clip plays once
 * from the start.  No resampling: the clip must already be 8 kHz mono.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "stream_audio.h"
#include "stream_util.h"

#define MAX_CLIP_BYTES (64L * 1024 * 1024)
#define WAV_PCM 1
#define WAV_MULAW 7
#define WAV_EXTENSIBLE 0xFFFE

/* G.711 mu-law as in the Sun reference code (what Python's audioop does). */
unsigned char
stream_audio_ulaw(int16_t pcm)
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

void
stream_audio_init(struct stream_audio *a)
{
	size_t i;

	memset(a, 0, sizeof(*a));
	/* 440 Hz at 8 kHz repeats exactly every second, about -12 dBFS. */
	for (i = 0; i < sizeof(a->tone); i++)
		a->tone[i] = stream_audio_ulaw((int16_t)lrint(
		    8000.0 * sin(2.0 * M_PI * 440.0 * i / 8000.0)));
}

static uint32_t
le32(const unsigned char *p)
{
	return ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16
	    | (uint32_t)p[3] << 24);
}

static unsigned
le16(const unsigned char *p)
{
	return ((unsigned)p[0] | (unsigned)p[1] << 8);
}

/* Turns the WAV file in buf into mu-law in a->clip. */
static int
wav_decode(struct stream_audio *a, const char *path, const unsigned char *buf,
    size_t len)
{
	const unsigned char *fmt = NULL, *data = NULL;
	size_t               off = 12, csize, datalen = 0, i;
	unsigned             format, channels, bits;
	uint32_t             rate;

	if (len < 12 || memcmp(buf, "RIFF", 4) || memcmp(buf + 8, "WAVE", 4)) {
		stream_log("error", "%s: not a RIFF/WAVE file", path);
		return (-1);
	}
	while (off + 8 <= len) {
		csize = le32(buf + off + 4);
		if (csize > len - off - 8)
			csize
			    = len - off - 8; /* tolerate a short last chunk */
		if (memcmp(buf + off, "fmt ", 4) == 0 && csize >= 16)
			fmt = buf + off + 8;
		else if (memcmp(buf + off, "data", 4) == 0) {
			data = buf + off + 8;
			datalen = csize;
		}
		off += 8 + csize + (csize & 1);
	}
	if (fmt == NULL || data == NULL) {
		stream_log("error", "%s: no fmt or data chunk", path);
		return (-1);
	}
	format = le16(fmt);
	channels = le16(fmt + 2);
	rate = le32(fmt + 4);
	bits = le16(fmt + 14);
	if (format == WAV_EXTENSIBLE && le16(fmt + 16) >= 22)
		format = le16(fmt + 24); /* first bytes of SubFormat */
	if (channels != 1 || rate != 8000) {
		stream_log("error", "%s: need 8000 Hz mono, got %u Hz x %u",
		    path, rate, channels);
		return (-1);
	}
	if (format == WAV_MULAW && bits == 8) {
		a->clip = stream_xcalloc(datalen, 1);
		memcpy(a->clip, data, datalen);
		a->clip_len = datalen;
	} else if (format == WAV_PCM && bits == 16) {
		a->clip_len = datalen / 2;
		a->clip = stream_xcalloc(a->clip_len, 1);
		for (i = 0; i < a->clip_len; i++)
			a->clip[i]
			    = stream_audio_ulaw((int16_t)le16(data + 2 * i));
	} else {
		stream_log("error", "%s: WAV format %u/%u bits not supported",
		    path, format, bits);
		return (-1);
	}
	return (0);
}

static unsigned char *
read_file(const char *path, size_t *lenp)
{
	FILE          *f;
	unsigned char *buf = NULL;
	long           len;

	if ((f = fopen(path, "rb")) == NULL) {
		stream_log("error", "%s: cannot open", path);
		return (NULL);
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0
	    || len > MAX_CLIP_BYTES || fseek(f, 0, SEEK_SET) != 0) {
		stream_log("error", "%s: cannot size, or too large", path);
		goto out;
	}
	buf = stream_xcalloc((size_t)len + 1, 1);
	if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
		stream_log("error", "%s: short read", path);
		free(buf);
		buf = NULL;
		goto out;
	}
	*lenp = (size_t)len;
out:
	fclose(f);
	return (buf);
}

int
stream_audio_load(struct stream_audio *a, const char *path)
{
	unsigned char *buf;
	size_t         len = 0, n = strlen(path);
	int            rv = 0;

	if ((buf = read_file(path, &len)) == NULL)
		return (-1);
	free(a->clip);
	a->clip = NULL;
	if (n >= 4 && strcasecmp(path + n - 4, ".wav") == 0)
		rv = wav_decode(a, path, buf, len);
	else {
		a->clip = buf; /* raw mu-law as is */
		a->clip_len = len;
		buf = NULL;
	}
	free(buf);
	if (rv == 0 && a->clip_len == 0) {
		stream_log("error", "%s: no audio", path);
		rv = -1;
	}
	return (rv);
}

/* Parses "A[:B],..." into spans; B required iff need_dur. */
static int
parse_spans(
    const char *list, bool need_dur, struct stream_span **vp, size_t *np)
{
	char     *copy, *tok, *save = NULL, *colon;
	long long at, dur = 0;
	int       rv = 0;

	copy = stream_xstrdup(list);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		colon = strchr(tok, ':');
		if (colon != NULL)
			*colon++ = '\0';
		if ((colon != NULL) != need_dur
		    || stream_parse_int(tok, 0, 86400000, &at) == -1
		    || (need_dur
		        && stream_parse_int(colon, 1, 86400000, &dur) == -1)) {
			stream_log("error", "bad time list \"%s\"", list);
			rv = -1;
			break;
		}
		*vp = stream_xrealloc(*vp, *np + 1, sizeof(**vp));
		(*vp)[*np].at_ms = at;
		(*vp)[*np].dur_ms = dur;
		(*np)++;
	}
	free(copy);
	return (rv);
}

int
stream_audio_speak_at(struct stream_audio *a, const char *list)
{
	return (parse_spans(list, false, &a->speak, &a->nspeak));
}

int
stream_audio_tone_at(struct stream_audio *a, const char *list)
{
	return (parse_spans(list, true, &a->tones, &a->ntones));
}

bool
stream_audio_frame(
    const struct stream_audio *a, uint64_t k, unsigned char *out)
{
	static const struct stream_span once = { 0, 0 };
	const struct stream_span       *speak = a->speak;
	int64_t                         b0, s, e, b;
	size_t                          i, nspeak = a->nspeak;
	bool                            sound = false;

	b0 = (int64_t)k * STREAM_FRAME_BYTES;
	memset(out, STREAM_SILENCE, STREAM_FRAME_BYTES);
	if (a->clip != NULL && nspeak == 0) {
		speak = &once; /* default: the clip once, from 0 */
		nspeak = 1;
	}
	for (i = 0; a->clip != NULL && i < nspeak; i++) {
		s = speak[i].at_ms * 8;
		e = s + (int64_t)a->clip_len;
		for (b = b0 > s ? b0 : s; b < e && b < b0 + STREAM_FRAME_BYTES;
		     b++) {
			out[b - b0] = a->clip[b - s];
			sound = true;
		}
	}
	for (i = 0; i < a->ntones; i++) {
		s = a->tones[i].at_ms * 8;
		e = s + a->tones[i].dur_ms * 8;
		for (b = b0 > s ? b0 : s; b < e && b < b0 + STREAM_FRAME_BYTES;
		     b++) {
			out[b - b0]
			    = a->tone[(b - s) % (int64_t)sizeof(a->tone)];
			sound = true;
		}
	}
	return (sound);
}

void
stream_audio_fini(struct stream_audio *a)
{
	free(a->clip);
	free(a->speak);
	free(a->tones);
	memset(a, 0, sizeof(*a));
}
