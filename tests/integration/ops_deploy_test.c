/*
 * ops_deploy_test - the deployment files agree with the daemons.
 *
 * No container engine or cluster here, so everything that can be checked
 * offline is: `docker-compose config` (Debian's docker-compose 1.29)
 * resolves compose.yaml, `kubectl kustomize` renders every overlay, and
 * ops_deploy_check.py checks the result structurally against the
 * variables the built daemons declare (scripts/gen-config-doc.sh --list):
 * required variables set, no unknown ones, secrets only as mounted files,
 * no loopback address left in a container, probes, security contexts,
 * grace periods longer than each daemon's shutdown timeout, a PDB and a
 * NetworkPolicy per workload, one image tag.  docs/configuration.md must
 * be exactly what the generator prints today.  Each checker is also fed
 * a broken input and must reject it, so none of this can pass by
 * checking nothing.
 *
 * Needs the five daemons and callctl in BIN_DIR: a daemon that is not
 * built fails the test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "ops_stack.h"

static char        top[4096];
static char        bindir[4096];
static char        vars[4096]; /* gen-config-doc.sh --list output */
static const char *python = "python3";

#define CHECKER "tests/integration/ops_deploy_check.py"

/* Asserts rc == 0, printing the command's output otherwise. */
static void
run_ok(const char *what, int rc, char *out)
{
	if (rc != 0)
		fprintf(stderr, "%s failed (rc %d):\n%s\n", what, rc, out);
	else
		printf("%s: ok\n%s", what, out);
	free(out);
	assert_int_equal(rc, 0);
}

static int
setup(void **state)
{
	const char *t = getenv("TOP_DIR"), *b = getenv("BIN_DIR");

	if (t == NULL && getcwd(top, sizeof(top)) == NULL)
		return (-1);
	if (t != NULL)
		snprintf(top, sizeof(top), "%s", t);
	if (chdir(top) != 0)
		return (-1);
	snprintf(
	    bindir, sizeof(bindir), "%s", b != NULL ? b : "build/debug/bin");
	/* Debian's python3 has python3-yaml (a docker-compose dependency). */
	if (access("/usr/bin/python3", X_OK) == 0)
		python = "/usr/bin/python3";
	snprintf(vars, sizeof(vars), "%s/vars.tsv", harness_tmpdir());
	if (ops_sh(NULL, "scripts/gen-config-doc.sh --list '%s' > '%s'",
	        bindir, vars)
	    != 0) {
		fprintf(stderr,
		    "cannot list the daemons' variables: are all "
		    "five built in %s?\n",
		    bindir);
		return (-1);
	}
	return (0);
}

static void
test_config_doc_in_sync(void **state)
{
	char *out;
	int   rc;

	rc = ops_sh(&out,
	    "scripts/gen-config-doc.sh '%s' > '%s/conf.md' && "
	    "diff -u docs/configuration.md '%s/conf.md'",
	    bindir, harness_tmpdir(), harness_tmpdir());
	if (rc != 0)
		fprintf(stderr,
		    "docs/configuration.md is stale; regenerate it "
		    "with scripts/gen-config-doc.sh:\n%s\n",
		    out);
	free(out);
	assert_int_equal(rc, 0);
}

/* docs/ipc.md's message reference is what proto/bus.proto says today. */
static void
test_ipc_doc_in_sync(void **state)
{
	char *out;
	int   rc;

	rc = ops_sh(&out,
	    "sed -n '/^<!-- BEGIN generated: scripts\\/gen-ipc-doc.sh -->$/,"
	    "/^<!-- END generated -->$/p' docs/ipc.md | sed '1d;$d' > "
	    "'%s/ipc.md' && scripts/gen-ipc-doc.sh > '%s/ipc.gen' && "
	    "test -s '%s/ipc.gen' && diff -u '%s/ipc.md' '%s/ipc.gen'",
	    harness_tmpdir(), harness_tmpdir(), harness_tmpdir(),
	    harness_tmpdir(), harness_tmpdir());
	if (rc != 0)
		fprintf(stderr,
		    "docs/ipc.md's message reference is stale; "
		    "regenerate it with scripts/gen-ipc-doc.sh:\n%s\n",
		    out);
	free(out);
	assert_int_equal(rc, 0);
	/* Every message type of the envelope is listed. */
	assert_int_equal(
	    ops_sh(NULL, "grep -q '^| `call_open` | 65 |' docs/ipc.md"), 0);
}

/* Every daemon declares variables, and the list has the shape the
 * checker expects (so a --help format change is noticed here). */
static void
test_vars_cover_every_daemon(void **state)
{
	static const char *const daemons[] = { "media-edge", "ai-session",
		"reasoner", "rate-limiter", "persister" };
	char                    *out;
	size_t                   i;
	int                      rc;

	for (i = 0; i < 5; i++) {
		rc = ops_sh(&out,
		    "grep -c '^%s\tSHUTDOWN_TIMEOUT_MS\t"
		    "optional\tplain\t[0-9]' '%s'",
		    daemons[i], vars);
		if (rc != 0)
			fprintf(stderr,
			    "%s: no SHUTDOWN_TIMEOUT_MS in the "
			    "list\n",
			    daemons[i]);
		free(out);
		assert_int_equal(rc, 0);
	}
	/* A known required secret shows up as such. */
	assert_int_equal(ops_sh(NULL,
	                     "grep -q '^persister\tDATABASE_URL\t"
	                     "required\tsecret' '%s'",
	                     vars),
	    0);
}

static void
test_dockerfile(void **state)
{
	char *out;
	int   rc;

	rc = ops_sh(&out,
	    "%s " CHECKER " dockerfile Dockerfile .dockerignore "
	    "2>&1",
	    python);
	run_ok("dockerfile", rc, out);
	/* A root USER and a wrong health port are caught. */
	rc = ops_sh(&out,
	    "sed 's/^USER 10001:10001/USER root/; "
	    "s/:9104\\/health/:9999\\/health/' Dockerfile > '%s/Dockerfile' "
	    "&& %s " CHECKER " dockerfile '%s/Dockerfile' .dockerignore 2>&1",
	    harness_tmpdir(), python, harness_tmpdir());
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, "non-root USER"));
	assert_non_null(strstr(out, "target persister: no HEALTHCHECK"));
	free(out);
}

/*
 * The Dockerfile's build stage, without docker: a context holding only
 * what the Dockerfile COPYs, then its `RUN make` line exactly.  Every
 * binary must come out and report the image's version, and every shared
 * library they need must come from a package the runtime stage installs.
 */
static void
test_dockerfile_build_stage(void **state)
{
	static const char *const bins[] = { "media-edge", "ai-session",
		"reasoner", "rate-limiter", "persister", "callctl" };
	const char              *t = harness_tmpdir();
	char                    *out, args[2048] = "";
	size_t                   i;
	int                      rc;

	rc = ops_sh(&out,
	    "mkdir -p '%s/ctx' && for f in $(awk '/^COPY [^-]/{print $2}' "
	    "Dockerfile); do cp -r \"$f\" '%s/ctx/' || exit 1; done && "
	    "rm -rf '%s/ctx/build' && cmd=$(%s " CHECKER " dockerfile-build "
	    "Dockerfile) && cd '%s/ctx' && { MAKEFLAGS=-j2 sh -c \"$cmd\" "
	    "> build.log 2>&1 || { tail -20 build.log; exit 1; }; }",
	    t, t, t, python, t);
	run_ok("docker build stage", rc, out);
	for (i = 0; i < sizeof(bins) / sizeof(bins[0]); i++) {
		rc = ops_sh(&out, "'%s/ctx/build/release/bin/%s' --version", t,
		    bins[i]);
		if (rc != 0 || strstr(out, " 0.1.0") == NULL)
			fprintf(stderr, "%s --version: rc %d: %s\n", bins[i],
			    rc, out);
		assert_int_equal(rc, 0);
		assert_non_null(strstr(out, " 0.1.0"));
		free(out);
		snprintf(args + strlen(args), sizeof(args) - strlen(args),
		    " '%s/ctx/build/release/bin/%s'", t, bins[i]);
	}
	rc = ops_sh(&out, "%s " CHECKER " runtime-libs Dockerfile %s 2>&1",
	    python, args);
	run_ok("runtime libraries", rc, out);
	/* A runtime stage without libjansson4 is caught. */
	rc = ops_sh(&out,
	    "sed 's/libjansson4 //' Dockerfile > '%s/Dockerfile.nolib' && "
	    "%s " CHECKER " runtime-libs '%s/Dockerfile.nolib' %s 2>&1",
	    t, python, t, args);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, "libjansson.so.4 comes from libjansson4"));
	free(out);
}

/* docker-compose config with an empty env file, so a local .env does not
 * change what is checked. */
static int
compose_config(char **outp, const char *env, const char *extra)
{
	return (ops_sh(outp,
	    ": > '%s/empty.env' && env %s docker-compose "
	    "--env-file '%s/empty.env' -f compose.yaml config %s 2>&1",
	    harness_tmpdir(), env, harness_tmpdir(), extra));
}

static void
test_compose(void **state)
{
	char *out, path[4200];
	int   rc;

	rc = compose_config(
	    &out, "PUBLIC_URL=https://calls.example.com", "-q");
	run_ok("docker-compose config -q", rc, out);
	/* PUBLIC_URL is mandatory: without it compose refuses. */
	rc = compose_config(&out, "-u PUBLIC_URL", "-q");
	assert_int_not_equal(rc, 0);
	assert_non_null(strstr(out, "PUBLIC_URL"));
	free(out);

	snprintf(path, sizeof(path), "%s/compose.out.yaml", harness_tmpdir());
	rc = ops_sh(&out,
	    "env PUBLIC_URL=https://calls.example.com "
	    "docker-compose --env-file '%s/empty.env' -f compose.yaml config "
	    "> '%s'",
	    harness_tmpdir(), path);
	run_ok("docker-compose config", rc, out);
	rc = ops_sh(&out, "%s " CHECKER " --vars '%s' compose '%s' 2>&1",
	    python, vars, path);
	run_ok("compose check", rc, out);

	/* The checker rejects a writable root, a misspelt variable and a
	 * loopback address. */
	rc = ops_sh(&out,
	    "sed 's/read_only: true/read_only: false/; "
	    "s/REASONER_URL: tls+tcp:\\/\\/reasoner:7021/REASONER_URL: "
	    "tcp:\\/\\/127.0.0.1:7021/; s/RATE_LIMIT_HMAC_KEY_FILE/"
	    "RATE_LIMIT_HMAC_KEY_FLIE/' '%s' > '%s.bad' && %s " CHECKER
	    " --vars '%s' compose '%s.bad' 2>&1",
	    path, path, python, vars, path);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out,
	    "persister: root filesystem not "
	    "read_only"));
	assert_non_null(strstr(out, "REASONER_URL=tcp://127.0.0.1:7021"));
	/* ... and a bus address that is not TLS */
	assert_non_null(strstr(out,
	    "REASONER_URL=tcp://127.0.0.1:7021: the bus must be "
	    "tls+tcp://"));
	assert_non_null(strstr(out,
	    "RATE_LIMIT_HMAC_KEY_FLIE: not a "
	    "variable"));
	assert_non_null(strstr(out, "required variable RATE_LIMIT_HMAC_KEY"));
	free(out);
}

static void
check_overlay(const char *dir, const char *name, const char *flags)
{
	char *out, path[4200];
	int   rc;

	snprintf(path, sizeof(path), "%s/k8s-%s.yaml", harness_tmpdir(), name);
	rc = ops_sh(&out, "kubectl kustomize %s > '%s'", dir, path);
	run_ok("kubectl kustomize", rc, out);
	rc = ops_sh(&out, "%s " CHECKER " --vars '%s' k8s %s '%s' %s 2>&1",
	    python, vars, name, path, flags);
	run_ok(dir, rc, out);
}

static void
test_k8s_base(void **state)
{
	check_overlay("k8s/base", "base", "");
}

static void
test_k8s_dev(void **state)
{
	check_overlay("k8s/overlays/dev", "dev", "");
}

static void
test_k8s_production(void **state)
{
	check_overlay("k8s/overlays/production", "production", "--pinned");
}

/* Every metric an autoscaler reads is one prometheus-adapter serves. */
static void
test_hpa_metrics_served(void **state)
{
	char *out, *line, *save = NULL, dep[64], metric[128];
	int   n = 0;

	assert_int_equal(ops_sh(&out,
	                     "kubectl kustomize k8s/base > '%s/hpa.yaml' && "
	                     "%s " CHECKER " hpa-metrics '%s/hpa.yaml'",
	                     harness_tmpdir(), python, harness_tmpdir()),
	    0);
	for (line = strtok_r(out, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		assert_int_equal(sscanf(line, "%63s %127s", dep, metric), 2);
		if (ops_sh(NULL,
		        "grep -q 'as: \"%s\"' "
		        "k8s/monitoring/prometheus-adapter-values.yaml",
		        metric)
		    != 0)
			fprintf(stderr,
			    "HPA %s: %s is not served by the "
			    "adapter rules\n",
			    dep, metric);
		assert_int_equal(ops_sh(NULL,
		                     "grep -q 'as: \"%s\"' "
		                     "k8s/monitoring/"
		                     "prometheus-adapter-values.yaml",
		                     metric),
		    0);
		n++;
	}
	free(out);
	assert_int_equal(n, 2);
}

/* The k8s checker rejects a liveness probe on /ready, a writable root,
 * a missing advertise address and an unpinned production image. */
static void
test_k8s_checker_rejects(void **state)
{
	char *out;
	int   rc;

	rc = ops_sh(&out,
	    "kubectl kustomize k8s/overlays/production | sed "
	    "'s|path: /health|path: /ready|; "
	    "s|readOnlyRootFilesystem: true|readOnlyRootFilesystem: false|; "
	    "/AI_PUB_ADVERTISE_URL/{N;d;}; "
	    "s|media-edge:0.1.0|media-edge:latest|; "
	    "s|callbridge.io/operator: .true.|callbridge.io/operator: "
	    "\"no\"|' "
	    "> '%s/bad.yaml' && "
	    "%s " CHECKER " --vars '%s' k8s production '%s/bad.yaml' "
	    "--pinned 2>&1",
	    harness_tmpdir(), python, vars, harness_tmpdir());
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out,
	    "persister container persister: "
	    "liveness/startup probe /ready"));
	assert_non_null(strstr(out, "readOnlyRootFilesystem is not true"));
	assert_non_null(strstr(out, "AI_PUB_ADVERTISE_URL is not set"));
	assert_non_null(strstr(out, "is not pinned to a version"));
	/* The doctor Job: as locked down, and admitted to the daemons. */
	assert_non_null(strstr(
	    out, "production Job/doctor: container doctor: writable root"));
	assert_non_null(strstr(
	    out, "production Job/doctor: no callbridge.io/operator label"));
	free(out);
}

/* The bus is TLS in every deployment: a plain tcp:// address, a missing
 * certificate setting, or another daemon's certificate is caught, in
 * Kubernetes and in compose. */
static void
test_bus_tls_required(void **state)
{
	char *out;
	int   rc;

	rc = ops_sh(&out,
	    "kubectl kustomize k8s/overlays/production | sed "
	    "'s|PERSISTER_URL: tls+tcp://persister:7041|PERSISTER_URL: "
	    "tcp://persister:7041|; "
	    "s|secretName: bus-tls-reasoner|secretName: bus-tls-persister|; "
	    "s|secretName: bus-tls-callctl|secretName: bus-tls-reasoner|; "
	    "/name: BUS_TLS_CA_FILE/{N;d;}' > '%s/notls.yaml' && "
	    "%s " CHECKER " --vars '%s' k8s production '%s/notls.yaml' "
	    "--pinned 2>&1",
	    harness_tmpdir(), python, vars, harness_tmpdir());
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out,
	    "PERSISTER_URL=tcp://persister:7041: the bus must be tls+tcp://"));
	assert_non_null(strstr(out,
	    "reasoner: BUS_TLS_CERT_FILE=/run/secrets/bus-tls/tls.crt: not "
	    "from this daemon's own Secret bus-tls-reasoner"));
	assert_non_null(strstr(out, "persister: BUS_TLS_CA_FILE is not set"));
	assert_non_null(strstr(out,
	    "Job/doctor: BUS_TLS_KEY_FILE=/run/secrets/bus-tls/tls.key: not "
	    "from callctl's own Secret bus-tls-callctl"));
	free(out);

	rc = ops_sh(&out,
	    "env PUBLIC_URL=https://calls.example.com docker-compose "
	    "--env-file '%s/empty.env' -f compose.yaml config | sed "
	    "'s|/run/secrets/bus_media_edge_key|/run/secrets/"
	    "bus_persister_key|;"
	    " s|AI_PUB_URL: tls+tcp://ai-session:7012|AI_PUB_URL: "
	    "tcp://ai-session:7012|' > '%s/notls.compose.yaml' && "
	    "%s " CHECKER " --vars '%s' compose '%s/notls.compose.yaml' 2>&1",
	    harness_tmpdir(), harness_tmpdir(), python, vars,
	    harness_tmpdir());
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out,
	    "compose media-edge: "
	    "BUS_TLS_KEY_FILE=/run/secrets/bus_persister_key:"
	    " want the compose secret bus_media_edge_key"));
	assert_non_null(strstr(out,
	    "compose callctl: AI_PUB_URL=tcp://ai-session:7012: the bus must "
	    "be "
	    "tls+tcp://"));
	free(out);
}

/* The NetworkPolicies open exactly the bus edges of docs/ipc.md: a policy
 * that admits the wrong daemon is caught from both sides. */
static void
test_k8s_bus_edges(void **state)
{
	char *out;
	int   rc;

	rc = ops_sh(&out,
	    "rm -rf '%s/kb' && cp -r k8s/base '%s/kb' && sed -i "
	    "'s|matchLabels: {app.kubernetes.io/name: media-edge}|"
	    "matchLabels: {app.kubernetes.io/name: reasoner}|' "
	    "'%s/kb/rate-limiter.yaml' && kubectl kustomize '%s/kb' > "
	    "'%s/kb.yaml' && %s " CHECKER " --vars '%s' k8s base '%s/kb.yaml' "
	    "2>&1",
	    harness_tmpdir(), harness_tmpdir(), harness_tmpdir(),
	    harness_tmpdir(), harness_tmpdir(), python, vars,
	    harness_tmpdir());
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out,
	    "NetworkPolicies block media-edge -> "
	    "rate-limiter:7031"));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vars_cover_every_daemon),
		cmocka_unit_test(test_config_doc_in_sync),
		cmocka_unit_test(test_ipc_doc_in_sync),
		cmocka_unit_test(test_dockerfile),
		cmocka_unit_test(test_dockerfile_build_stage),
		cmocka_unit_test(test_compose),
		cmocka_unit_test(test_k8s_base),
		cmocka_unit_test(test_k8s_dev),
		cmocka_unit_test(test_k8s_production),
		cmocka_unit_test(test_hpa_metrics_served),
		cmocka_unit_test(test_k8s_checker_rejects),
		cmocka_unit_test(test_k8s_bus_edges),
		cmocka_unit_test(test_bus_tls_required),
	};

	return (cmocka_run_group_tests(tests, setup, NULL));
}
