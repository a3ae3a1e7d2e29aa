/*
 * proxy_test - TRUSTED_PROXIES and X-Forwarded-For: CIDR parsing (IPv4,
 * IPv6, mapped), the rightmost untrusted address, spoofed entries on
 * the left, an untrusted peer's header ignored, malformed headers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "log.h"
#include "../../../services/media-edge/edge.h"

static void
test_parse(void **state)
{
	struct proxies p;

	(void)state;
	assert_int_equal(proxy_parse("", &p), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(
	    proxy_parse("10.0.0.0/8, 192.168.1.7,fd00::/8", &p), 0);
	assert_int_equal(p.n, 3);
	assert_true(proxy_trusted(&p, "10.200.3.4"));
	assert_true(proxy_trusted(&p, "::ffff:10.1.2.3"));
	assert_true(proxy_trusted(&p, "192.168.1.7"));
	assert_false(proxy_trusted(&p, "192.168.1.8"));
	assert_true(proxy_trusted(&p, "fd12::1"));
	assert_false(proxy_trusted(&p, "fe80::1"));
	assert_false(proxy_trusted(&p, "11.0.0.1"));
	assert_false(proxy_trusted(&p, "nonsense"));
	assert_int_equal(proxy_parse("10.0.0.0/33", &p), -1);
	assert_int_equal(proxy_parse("10.0.0.0/x", &p), -1);
	assert_int_equal(proxy_parse("example.com", &p), -1);
	assert_int_equal(proxy_parse("::/129", &p), -1);
}

static void
test_client(void **state)
{
	struct proxies p;
	char           ip[64];

	(void)state;
	assert_int_equal(proxy_parse("127.0.0.0/8,10.0.0.0/8", &p), 0);
	/* an untrusted peer: its own address, whatever it claims */
	assert_int_equal(
	    proxy_client(&p, "203.0.113.5", "198.51.100.1", ip, sizeof(ip)),
	    0);
	assert_string_equal(ip, "203.0.113.5");
	/* trusted peer, no header: the peer */
	assert_int_equal(
	    proxy_client(&p, "127.0.0.1", NULL, ip, sizeof(ip)), 0);
	assert_string_equal(ip, "127.0.0.1");
	/* the rightmost untrusted entry; a spoofed one on its left ignored */
	assert_int_equal(
	    proxy_client(&p, "127.0.0.1", "1.2.3.4, 198.51.100.7, 10.0.0.3",
	        ip, sizeof(ip)),
	    0);
	assert_string_equal(ip, "198.51.100.7");
	assert_int_equal(
	    proxy_client(&p, "127.0.0.1", "2001:db8::9", ip, sizeof(ip)), 0);
	assert_string_equal(ip, "2001:db8::9");
	/* every entry trusted: the leftmost */
	assert_int_equal(
	    proxy_client(&p, "127.0.0.1", "10.0.0.9,10.0.0.3", ip, sizeof(ip)),
	    0);
	assert_string_equal(ip, "10.0.0.9");
	/* garbage where the client should be */
	assert_int_equal(
	    proxy_client(&p, "127.0.0.1", "unknown, 10.0.0.3", ip, sizeof(ip)),
	    -1);
	/* garbage left of the client is never read */
	assert_int_equal(proxy_client(&p, "127.0.0.1", "junk, 198.51.100.7",
	                     ip, sizeof(ip)),
	    0);
	assert_string_equal(ip, "198.51.100.7");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_client),
	};

	log_init("proxy_test");
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
