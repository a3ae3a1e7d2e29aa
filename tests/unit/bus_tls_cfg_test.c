/*
 * bus_tls_cfg_test - the bus TLS settings in a cfg table: required only
 * once a URL uses tls+tcp (also in a comma-separated list), every missing
 * one named with the URL setting that needs it, the certificate and CA
 * readable from NAME_FILE without being redacted, the key redacted, and
 * the PEM shown on one line by --check-config; bus_tls_init() refuses a
 * partial set, and with TLS off a tls+tcp:// listener or dialer is
 * refused while plain URLs are untouched.  (Real certificates, handshakes
 * and the PEM checks: tests/integration/bus_tls_test.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "bus.h"
#include "cfg.h"

struct tcfg {
	char          *listen_url;
	char          *peers; /* comma-separated, as media-edge's */
	char          *secret;
	struct bus_tls bus_tls;
};

#define O(f) CFG_OFF(struct tcfg, f)

static const struct cfg_opt topts[] = {
	{ "T_LISTEN_URL", CFG_STR, O(listen_url), "tcp://127.0.0.1:1", "" },
	{ "T_PEERS", CFG_STR, O(peers), "", "" },
	/* a secret that happens to look like a tls URL must not count */
	{ "T_SECRET", CFG_STR | CFG_SECRET, O(secret), "", "" },
	BUS_TLS_CFG_OPTS(struct tcfg, bus_tls),
	{ NULL },
};

static const char *names[] = { "T_LISTEN_URL", "T_PEERS", "T_SECRET",
	"T_SECRET_FILE", "BUS_TLS_CERT", "BUS_TLS_CERT_FILE", "BUS_TLS_KEY",
	"BUS_TLS_KEY_FILE", "BUS_TLS_CA", "BUS_TLS_CA_FILE", NULL };

static int
reset(void **state)
{
	int i;

	(void)state;
	for (i = 0; names[i] != NULL; i++)
		unsetenv(names[i]);
	return (0);
}

static void
test_plain_needs_nothing(void **state)
{
	struct tcfg c = { 0 };

	(void)state;
	setenv("T_SECRET", "tls+tcp://not-a-url", 1);
	assert_int_equal(cfg_load(topts, &c), 0);
	assert_string_equal(c.bus_tls.cert, "");
	cfg_free(topts, &c);
}

static void
test_tls_url_requires_files(void **state)
{
	struct tcfg c = { 0 };

	(void)state;
	setenv("T_LISTEN_URL", "tls+tcp://0.0.0.0:7001", 1);
	assert_int_equal(cfg_load(topts, &c), -1);
	cfg_free(topts, &c);
	/* a tls URL second in a list counts too; tls+tcp6 is TLS */
	reset(NULL);
	setenv("T_PEERS", "tcp://a:1, tls+tcp6://b:2", 1);
	setenv("BUS_TLS_CERT", "x", 1);
	assert_int_equal(cfg_load(topts, &c), -1); /* key and CA missing */
	cfg_free(topts, &c);
	setenv("BUS_TLS_KEY", "k", 1);
	setenv("BUS_TLS_CA", "c", 1);
	assert_int_equal(cfg_load(topts, &c), 0);
	cfg_free(topts, &c);
	/* an empty value is as good as none */
	setenv("BUS_TLS_CA", "", 1);
	assert_int_equal(cfg_load(topts, &c), -1);
	cfg_free(topts, &c);
}

static void
test_files_and_dump(void **state)
{
	struct tcfg c = { 0 };
	char   crt[] = "/tmp/bustlscfgXXXXXX", key[] = "/tmp/bustlskXXXXXX";
	char  *out = NULL;
	size_t len = 0;
	FILE  *f;
	int    fd;

	(void)state;
	assert_true((fd = mkstemp(crt)) >= 0);
	assert_int_equal(
	    write(fd, "-----BEGIN CERTIFICATE-----\nAAAA\n", 33), 33);
	close(fd);
	assert_true((fd = mkstemp(key)) >= 0);
	assert_int_equal(
	    write(fd, "-----BEGIN PRIVATE KEY-----\nBBBB\n", 33), 33);
	close(fd);
	setenv("T_LISTEN_URL", "tls+tcp://0.0.0.0:7001", 1);
	setenv("BUS_TLS_CERT_FILE", crt, 1);
	setenv("BUS_TLS_CA_FILE", crt, 1);
	setenv("BUS_TLS_KEY_FILE", key, 1);
	assert_int_equal(cfg_load(topts, &c), 0);
	assert_string_equal(
	    c.bus_tls.cert, "-----BEGIN CERTIFICATE-----\nAAAA");
	assert_non_null(f = open_memstream(&out, &len));
	cfg_dump(topts, &c, f);
	fclose(f);
	assert_non_null(strstr(
	    out, "BUS_TLS_CERT=-----BEGIN CERTIFICATE-----... (32 bytes)\n"));
	assert_non_null(strstr(out, "BUS_TLS_KEY=***\n"));
	assert_null(strstr(out, "BBBB"));
	assert_null(strstr(out, "AAAA")); /* one line, not the whole PEM */
	free(out);
	cfg_free(topts, &c);
	/* the certificate both ways at once is an error, as for secrets */
	setenv("BUS_TLS_CERT", "inline", 1);
	assert_int_equal(cfg_load(topts, &c), -1);
	cfg_free(topts, &c);
	unlink(crt);
	unlink(key);
}

static void
test_help_names_file_variants(void **state)
{
	char  *out = NULL;
	size_t len = 0;
	FILE  *f;

	(void)state;
	assert_non_null(f = open_memstream(&out, &len));
	cfg_help("t", "about", topts, f);
	fclose(f);
	assert_non_null(strstr(out,
	    "file: or read it from the file named by "
	    "BUS_TLS_CERT_FILE"));
	assert_non_null(strstr(out,
	    "secret: or read it from the file named "
	    "by BUS_TLS_KEY_FILE"));
	free(out);
}

static void
test_init_partial_and_off(void **state)
{
	struct bus_tls none = { "", "", "" }, partial = { "x", "", "y" };
	nng_socket     s;
	nng_listener   l;
	nng_dialer     d;

	(void)state;
	assert_int_equal(bus_tls_init(&partial), -1);
	assert_int_equal(bus_tls_init(&none), 0); /* TLS off */
	assert_true(bus_is_tls_url("tls+tcp://a:1"));
	assert_true(bus_is_tls_url("tls+tcp4://a:1"));
	assert_false(bus_is_tls_url("tcp://a:1"));
	assert_false(bus_is_tls_url(NULL));
	assert_int_equal(nng_rep0_open(&s), 0);
	assert_int_equal(
	    nng_listener_create(&l, s, "tls+tcp://127.0.0.1:0"), 0);
	assert_int_equal(
	    bus_tls_listener(l, "tls+tcp://127.0.0.1:0"), NNG_EINVAL);
	assert_int_equal(nng_dialer_create(&d, s, "tls+tcp://127.0.0.1:1"), 0);
	assert_int_equal(
	    bus_tls_dialer(d, "tls+tcp://127.0.0.1:1"), NNG_EINVAL);
	/* plain URLs: nothing to do */
	assert_int_equal(bus_tls_dialer(d, "tcp://127.0.0.1:1"), 0);
	assert_int_equal(
	    bus_dial(s, "tls+tcp://127.0.0.1:1", NULL), NNG_EINVAL);
	assert_int_equal(
	    bus_rep_listen(&s, "t", "tls+tcp://127.0.0.1:0"), NNG_EINVAL);
	nng_close(s);
	bus_tls_fini();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_plain_needs_nothing, reset),
		cmocka_unit_test_setup(test_tls_url_requires_files, reset),
		cmocka_unit_test_setup(test_files_and_dump, reset),
		cmocka_unit_test_setup(test_help_names_file_variants, reset),
		cmocka_unit_test_setup(test_init_partial_and_off, reset),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
