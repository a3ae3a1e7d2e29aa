/*
 * codec - base64, hex and random ids; see codec.h.
 *
 * OpenSSL's EVP_DecodeBlock counts padding as data and accepts some
 * malformed input, so decoding checks the shape first and subtracts the
 * pad bytes.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "codec.h"

int
codec_b64_encode(const void *in, size_t n, char *out, size_t outlen)
{
	if (outlen < CODEC_B64_LEN(n) || n > (size_t)0x3fffffff)
		return (-1);
	return (EVP_EncodeBlock((unsigned char *)out, in, (int)n));
}

static int
is_b64(unsigned char c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
	    || (c >= '0' && c <= '9') || c == '+' || c == '/');
}

int
codec_b64_decode(const char *in, size_t n, void *out, size_t outlen)
{
	size_t i, pad = 0;
	int    len;

	if (n % 4 != 0 || n > (size_t)0x3fffffff)
		return (-1);
	if (n == 0)
		return (0);
	if (in[n - 1] == '=')
		pad = in[n - 2] == '=' ? 2 : 1;
	for (i = 0; i < n - pad; i++)
		if (!is_b64((unsigned char)in[i]))
			return (-1);
	if (outlen < n / 4 * 3)
		return (-1);
	len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (len < 0)
		return (-1);
	return (len - (int)pad);
}

void
codec_hex(const void *in, size_t n, char *out)
{
	static const char    hex[] = "0123456789abcdef";
	const unsigned char *p = in;
	size_t               i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

int
codec_rand_hex(char *out, size_t n)
{
	unsigned char buf[64];

	if (n > sizeof(buf) || RAND_bytes(buf, (int)n) != 1)
		return (-1);
	codec_hex(buf, n, out);
	return (0);
}
