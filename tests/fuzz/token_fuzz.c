/*
 * token_fuzz - stream tokens (media-edge token.c) as they arrive in a
 * start message's customParameters.token.
 *
 * Input: byte 0 picks the mode, then "<call sid>\n<token or expiry>".
 *   mode even: the token is taken as sent.  token_check() may accept it
 *     only if it is exactly token_make() of the secret, that sid and the
 *     expiry it names, unexpired and not too long-lived.
 *   mode odd: the rest is an expiry in decimal; a genuine token is made
 *     for it, and token_check() must accept it exactly when the expiry
 *     lies in [now, now + ttl].
 * Any accepted token must be refused as "reused" the second time.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/media-edge/edge.h"
#include "log.h"

#define SECRET "fuzz-stream-token-secret"
#define NOW ((int64_t)1800000000)
#define TTL 3600

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct edge e;

static void
broken(const char *what, const char *tok)
{
	fprintf(stderr, "fuzz: token: %s: \"%s\"\n", what, tok);
	abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_level = LOG_LVL_FATAL;
	e.cfg.stream_token_secret = SECRET;
	e.cfg.token_max_ttl_s = TTL;
	return (0);
}

/* Would a correct checker accept tok for sid? */
static bool
genuine(const char *sid, const char *tok)
{
	char        want[160];
	const char *dot;
	char       *end;
	int64_t     exp;

	if (strncmp(tok, "v1.", 3) != 0 || (dot = strchr(tok + 3, '.')) == NULL
	    || dot == tok + 3 || dot - tok - 3 > 12
	    || strspn(tok + 3, "0123456789") != (size_t)(dot - tok - 3))
		return (false);
	exp = strtoll(tok + 3, &end, 10);
	if (token_make(SECRET, sid, exp, want, sizeof(want)) == -1
	    || strcmp(want, tok) != 0)
		return (false);
	return (exp >= NOW && exp <= NOW + TTL);
}

static void
check(const char *sid, const char *tok, bool expect)
{
	const char *why = NULL;
	int         rv;

	rv = token_check(&e, sid, tok, NOW, &why);
	if (rv == 0 && !expect)
		broken("accepted", tok);
	if (rv == -1 && expect)
		broken(why, tok);
	if (rv == -1 && (why == NULL || why[0] == '\0'))
		broken("refused without a reason", tok);
	if (rv == 0
	    && (token_check(&e, sid, tok, NOW, &why) != -1
	        || strcmp(why, "reused") != 0))
		broken("accepted twice", tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char          *sid, *rest, *nl, tok[160];
	int64_t        exp = 0;
	size_t         i;
	const uint8_t *p;

	if (size < 1)
		return (0);
	p = data + 1;
	sid = strndup((const char *)p, size - 1);
	if ((nl = strchr(sid, '\n')) != NULL) {
		*nl = '\0';
		rest = nl + 1;
	} else
		rest = sid + strlen(sid);
	tokens_init(&e.tokens, 16);
	if ((data[0] & 1) == 0)
		check(sid, rest, genuine(sid, rest));
	else {
		for (i = 0; rest[i] >= '0' && rest[i] <= '9' && i < 12; i++)
			exp = exp * 10 + (rest[i] - '0');
		if (token_make(SECRET, sid, exp, tok, sizeof(tok)) == 0)
			check(sid, tok, exp >= NOW && exp <= NOW + TTL);
	}
	tokens_fini(&e.tokens);
	free(sid);
	return (0);
}
