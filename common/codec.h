/*
 * codec - base64 and hex on OpenSSL, and random ids.
 *
 * Pure functions on caller buffers; any thread may call them.
 */
#ifndef CODEC_H
#define CODEC_H

#include <stddef.h>

/* Bytes needed to base64-encode n bytes, NUL included. */
#define CODEC_B64_LEN(n) ((((n) + 2) / 3) * 4 + 1)
/* Upper bound of the bytes a base64 text of n characters decodes to. */
#define CODEC_B64_DEC_MAX(n) (((n) + 3) / 4 * 3)

/* Standard base64 with padding into out (NUL-terminated); returns the
 * length, or -1 if outlen is too small. */
int codec_b64_encode(const void *in, size_t n, char *out, size_t outlen);
/* Decodes standard base64 (padding required, no whitespace); returns the
 * number of bytes written, or -1 on bad input or a short buffer. */
int codec_b64_decode(const char *in, size_t n, void *out, size_t outlen);
/* Lower-case hex of n bytes into out, which holds 2n+1. */
void codec_hex(const void *in, size_t n, char *out);
/* n random bytes from the OpenSSL CSPRNG as 2n hex digits + NUL. */
int codec_rand_hex(char *out, size_t n);

#endif
