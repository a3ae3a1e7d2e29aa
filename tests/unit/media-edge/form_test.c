/*
 * form_test - urlencoded parsing and the webhook signature against the
 * vectors of protocols.md 3.5 (Twilio) and scheme B of 4.2 (SignalWire:
 * stable sort by name, duplicates kept), with the port variants.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../../services/media-edge/edge.h"

#define URL "https://mycompany.com/myapp.php?foo=1&bar=2"
#define SHARED                                                                \
	"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234"         \
	"&From=%2B14158675309&To=%2B18005551212"

static void
test_parse(void **state)
{
	struct form f;

	(void)state;
	assert_int_equal(form_parse(&f, "a=1&b=x+y%21&&c=&d", 18), 0);
	assert_int_equal(f.n, 4);
	assert_string_equal(form_get(&f, "b"), "x y!");
	assert_string_equal(form_get(&f, "c"), "");
	assert_string_equal(form_get(&f, "d"), "");
	assert_null(form_get(&f, "e"));
	form_free(&f);
	assert_int_equal(form_parse(&f, "a=%zz", 5), -1);
	assert_int_equal(form_parse(&f, "a=%2", 4), -1);
	assert_int_equal(form_parse(&f, "a=%00", 5), -1);
	assert_int_equal(form_parse(&f, "", 0), 0);
	assert_int_equal(f.n, 0);
	form_free(&f);
}

static void
test_twilio_vectors(void **state)
{
	struct form f;
	char        sig[29];

	(void)state;
	assert_int_equal(form_parse(&f, SHARED, strlen(SHARED)), 0);
	assert_int_equal(form_sign("12345", URL, &f, false, sig), 0);
	assert_string_equal(sig, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
	assert_int_equal(form_sign("12345",
	                     "https://mycompany.com:443/myapp.php?foo=1&bar=2",
	                     &f, false, sig),
	    0);
	assert_string_equal(sig, "kvajT1Ptam85bY51eRf/AJRuM3w=");
	/* both port forms are accepted for either configuration */
	assert_true(form_sig_ok(
	    "12345", URL, &f, false, "kvajT1Ptam85bY51eRf/AJRuM3w="));
	assert_true(form_sig_ok("12345",
	    "https://mycompany.com:443/myapp.php?foo=1&bar=2", &f, false,
	    "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
	assert_true(form_sig_ok("12345",
	    "http://mycompany.com:1234/myapp.php?foo=1&bar=2", &f, false,
	    "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="));
	assert_false(form_sig_ok(
	    "12345", URL, &f, false, "RSOYDt4T1cUTdK1PDd93/VVr8B9="));
	assert_false(form_sig_ok(
	    "12346", URL, &f, false, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
	assert_false(form_sig_ok("12345", URL, &f, false, ""));
	assert_false(
	    form_sig_ok("", URL, &f, false, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
	form_free(&f);
}

/* Repeated keys: Twilio sorts values and drops duplicates (vector 5). */
static void
test_repeated(void **state)
{
	const char *body = "Sid=CA123&SidAccount=AC123&Digits=5678"
	                   "&Digits=1234&Digits=1234";
	struct form f;
	char        tw[29], sw[29];

	(void)state;
	assert_int_equal(form_parse(&f, body, strlen(body)), 0);
	assert_int_equal(form_sign("12345", URL, &f, false, tw), 0);
	assert_string_equal(tw, "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
	/* SignalWire keeps order and duplicates: another string */
	assert_int_equal(form_sign("12345", URL, &f, true, sw), 0);
	assert_string_not_equal(sw, tw);
	assert_true(form_sig_ok("12345", URL, &f, true, sw));
	assert_false(form_sig_ok("12345", URL, &f, true, tw));
	form_free(&f);
}

/*
 * A repeated key that we read: reordering keeps a valid Twilio
 * signature (values are sorted) while form_get() takes the first, so
 * the signature does not fix the value.  form_dup() finds it.
 */
static void
test_dup_keys(void **state)
{
	static const char *const keys[] = { "CallSid", "To", NULL };
	const char *a = "CallSid=CAaaa&CallSid=CAbbb&Digits=1&Digits=2",
	           *b = "CallSid=CAbbb&CallSid=CAaaa&Digits=1&Digits=2";
	struct form fa, fb;
	char        sa[29], sb[29];

	(void)state;
	assert_int_equal(form_parse(&fa, a, strlen(a)), 0);
	assert_int_equal(form_parse(&fb, b, strlen(b)), 0);
	assert_int_equal(form_sign("12345", URL, &fa, false, sa), 0);
	assert_int_equal(form_sign("12345", URL, &fb, false, sb), 0);
	assert_string_equal(sa, sb);
	assert_string_not_equal(
	    form_get(&fa, "CallSid"), form_get(&fb, "CallSid"));
	assert_string_equal(form_dup(&fa, keys), "CallSid");
	assert_string_equal(form_dup(&fb, keys), "CallSid");
	form_free(&fa);
	form_free(&fb);
	/* Digits may repeat (Twilio's own vector); only listed keys count */
	a = "CallSid=CAaaa&To=%2B15550001&Digits=1&Digits=2";
	assert_int_equal(form_parse(&fa, a, strlen(a)), 0);
	assert_null(form_dup(&fa, keys));
	form_free(&fa);
	assert_int_equal(form_parse(&fa, "To=1&CallSid=C&To=2", 19), 0);
	assert_string_equal(form_dup(&fa, keys), "To");
	form_free(&fa);
}

/* Without repeated keys both schemes sign the same string. */
static void
test_signalwire_plain(void **state)
{
	struct form f;
	char        sw[29];

	(void)state;
	assert_int_equal(form_parse(&f, SHARED, strlen(SHARED)), 0);
	assert_int_equal(form_sign("12345", URL, &f, true, sw), 0);
	assert_string_equal(sw, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
	form_free(&f);
}

/* A URL past 512 bytes is signed whole: it used to be cut at 511 bytes
 * for the check, so its own signature was refused and one made for the
 * first 511 bytes accepted (found by tests/fuzz/form_fuzz). */
static void
test_long_url(void **state)
{
	struct form f;
	char        url[700], cut[512], sig[29], sig_cut[29];

	(void)state;
	snprintf(url, sizeof(url), "https://edge.example.com/%0600d", 7);
	memcpy(cut, url, sizeof(cut) - 1); /* the first 511 bytes */
	cut[sizeof(cut) - 1] = '\0';
	assert_int_equal(form_parse(&f, SHARED, strlen(SHARED)), 0);
	assert_int_equal(form_sign("12345", url, &f, false, sig), 0);
	assert_int_equal(form_sign("12345", cut, &f, false, sig_cut), 0);
	assert_true(form_sig_ok("12345", url, &f, false, sig));
	assert_false(form_sig_ok("12345", url, &f, false, sig_cut));
	form_free(&f);
}

/*
 * GET webhooks: the signature over the URL with its query, no params.
 * The signatures were computed apart from this code:
 *	printf '%s' "$URL" | openssl dgst -sha1 -hmac 12345 -binary | base64
 * with a space sent as %20, as "+", and with the default port added.
 */
#define GQ_PFX "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&FromCity=SAN"
#define GQ_SFX "FRANCISCO&Note=a%26b%3Dc~x"

static void
test_get_vectors(void **state)
{
	/* the pairs as lws hands them over: decoded, in order */
	static const char *const pairs[][2]
	    = { { "CallSid", "CA1234567890ABCDE" },
		      { "Caller", "+14158675309" },
		      { "FromCity", "SAN FRANCISCO" }, { "Note", "a&b=c~x" } };
	char   q[256], *p = q;
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		if (i > 0)
			*p++ = '&';
		p += form_escape(pairs[i][0], strlen(pairs[i][0]), p);
		*p++ = '=';
		p += form_escape(pairs[i][1], strlen(pairs[i][1]), p);
	}
	assert_string_equal(q, GQ_PFX "%20" GQ_SFX);
	/* %20 for a space */
	assert_true(form_query_sig_ok("12345", "https://mycompany.com/twiml",
	    q, "Yhvidxc/qEJS8ZKTE2yXmkp+2c8="));
	/* "+" for a space */
	assert_true(form_query_sig_ok("12345", "https://mycompany.com/twiml",
	    q, "1bsQrEjJQmnI257Y7ERGPuQTXIA="));
	/* Twilio's side added the default port */
	assert_true(form_query_sig_ok("12345", "https://mycompany.com/twiml",
	    q, "ZSI+LbhC1UtFu6QVuSQtiKTB5bM="));
	/* wrong key, other query, other path, nothing */
	assert_false(form_query_sig_ok("54321", "https://mycompany.com/twiml",
	    q, "Yhvidxc/qEJS8ZKTE2yXmkp+2c8="));
	assert_false(form_query_sig_ok("12345", "https://mycompany.com/twiml",
	    "CallSid=CA1234567890ABCDE", "Yhvidxc/qEJS8ZKTE2yXmkp+2c8="));
	assert_false(form_query_sig_ok("12345", "https://mycompany.com/status",
	    q, "Yhvidxc/qEJS8ZKTE2yXmkp+2c8="));
	assert_false(
	    form_query_sig_ok("12345", "https://mycompany.com/twiml", q, ""));
	/* every byte but the unreserved ones is escaped */
	assert_int_equal(form_escape("a b+/\xff", 6, q), 14);
	assert_string_equal(q, "a%20b%2B%2F%FF");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_twilio_vectors),
		cmocka_unit_test(test_repeated),
		cmocka_unit_test(test_dup_keys),
		cmocka_unit_test(test_signalwire_plain),
		cmocka_unit_test(test_long_url),
		cmocka_unit_test(test_get_vectors),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
