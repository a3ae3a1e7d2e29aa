/*
 * phone - E.164 validation and the country allow-list.
 *
 * A number is '+', then 8 to 15 digits, the first not 0 (ITU-T E.164).
 * Country calling codes are prefix-free, so the allowed code that is a
 * prefix of the digits is the number's country.  For the codes in the
 * table below we also know the national number's length and check it;
 * other codes only get the generic E.164 test.  ISO codes that share a
 * calling code (US and CA, both +1 in the NANP) cannot be told apart
 * without area-code tables: allowing either allows all of +1.
 *
 * Pure functions; any thread.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"
#include "log.h"
#include "rate-limiter.h"

struct country {
	const char *iso;
	const char *code;
	int         nmin, nmax; /* national significant number */
};

static const struct country countries[] = { { "US", "1", 10, 10 },
	{ "CA", "1", 10, 10 }, { "GB", "44", 9, 10 }, { "AU", "61", 9, 9 },
	{ "IN", "91", 10, 10 }, { "NZ", "64", 8, 10 }, { "IE", "353", 7, 9 },
	{ "DE", "49", 6, 13 }, { "FR", "33", 9, 9 }, { "ES", "34", 9, 9 },
	{ "IT", "39", 6, 11 }, { "NL", "31", 9, 9 }, { "BE", "32", 8, 9 },
	{ "SE", "46", 7, 9 }, { "NO", "47", 8, 8 }, { "DK", "45", 8, 8 },
	{ "MX", "52", 10, 10 }, { "BR", "55", 10, 11 }, { "ZA", "27", 9, 9 },
	{ "SG", "65", 8, 8 }, { "JP", "81", 9, 10 }, { "PH", "63", 10, 10 },
	{ "AE", "971", 8, 9 }, { "IL", "972", 8, 9 }, { NULL, NULL, 0, 0 } };

static const struct country *
by_iso(const char *iso)
{
	const struct country *c;

	for (c = countries; c->iso != NULL; c++) {
		if (strcasecmp(c->iso, iso) == 0)
			return (c);
	}
	return (NULL);
}

static const struct country *
by_code(const char *code)
{
	const struct country *c;

	for (c = countries; c->iso != NULL; c++) {
		if (strcmp(c->code, code) == 0)
			return (c);
	}
	return (NULL);
}

static int
add_code(struct rl_countries *c, const char *code)
{
	int i;

	for (i = 0; i < c->n; i++) {
		if (strcmp(c->codes[i], code) == 0)
			return (0);
	}
	if (c->n == RL_MAX_COUNTRIES)
		return (-1);
	snprintf(c->codes[c->n++], sizeof(c->codes[0]), "%s", code);
	return (0);
}

/* One entry of the list: "GB" or "+44" (or "44"). */
static int
parse_one(const char *tok, struct rl_countries *c)
{
	const struct country *k;
	const char           *d = tok[0] == '+' ? tok + 1 : tok;
	size_t                i, n = strlen(d);

	if (n >= 1 && n <= 3 && d[0] != '0') {
		for (i = 0; i < n && isdigit((unsigned char)d[i]); i++)
			;
		if (i == n)
			return (add_code(c, d));
	}
	if (tok[0] != '+' && (k = by_iso(tok)) != NULL)
		return (add_code(c, k->code));
	log_warnx("RATE_LIMIT_COUNTRIES: unknown country \"%.16s\" (use an "
	          "ISO alpha-2 code we know or +<calling code>)",
	    tok);
	return (-1);
}

int
phone_countries_parse(const char *list, struct rl_countries *c)
{
	char   tok[16];
	size_t n;
	int    rv = 0;

	memset(c, 0, sizeof(*c));
	while (*list != '\0') {
		n = strcspn(list, ", ");
		if (n > 0 && n < sizeof(tok)) {
			memcpy(tok, list, n);
			tok[n] = '\0';
			if (parse_one(tok, c) == -1)
				rv = -1;
		} else if (n > 0) {
			log_warnx("RATE_LIMIT_COUNTRIES: entry too long");
			rv = -1;
		}
		list += n;
		list += strspn(list, ", ");
	}
	if (rv == 0 && c->n == 0) {
		log_warnx("RATE_LIMIT_COUNTRIES: no country allowed");
		rv = -1;
	}
	return (rv);
}

enum rl_phone_verdict
phone_check(const char *s, const struct rl_countries *c)
{
	const struct country *k;
	const char           *d;
	size_t                n, cl, i;

	if (s == NULL || s[0] != '+')
		return (RL_PHONE_INVALID);
	d = s + 1;
	n = strlen(d);
	if (n < 8 || n > 15 || d[0] == '0')
		return (RL_PHONE_INVALID);
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)d[i]))
			return (RL_PHONE_INVALID);
	}
	for (i = 0; i < (size_t)c->n; i++) {
		cl = strlen(c->codes[i]);
		if (strncmp(d, c->codes[i], cl) != 0)
			continue;
		k = by_code(c->codes[i]);
		if (k != NULL
		    && (n - cl < (size_t)k->nmin || n - cl > (size_t)k->nmax))
			return (RL_PHONE_INVALID);
		return (RL_PHONE_OK);
	}
	return (RL_PHONE_COUNTRY);
}
