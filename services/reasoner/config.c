/*
 * config.c - the reasoner's environment.  Every variable is listed in
 * README.md with the same default; --help prints this table.
 */
#include <string.h>

#include "log.h"
#include "reasoner.h"

#define O(f) CFG_OFF(struct reasoner_cfg, f)

const struct cfg_opt reasoner_cfg_opts[] = {
	{ "REASONER_LISTEN_URL", CFG_STR, O(listen_url),
	    "tcp://127.0.0.1:7021", "request socket (rep) to listen on" },
	{ "REASONER_HTTP_ADDR", CFG_STR, O(http_addr), "0.0.0.0",
	    "address for /health, /ready and /metrics" },
	{ "REASONER_HTTP_PORT", CFG_INT, O(http_port), "9102",
	    "port for /health, /ready and /metrics" },
	{ "REASONER_WORKERS", CFG_INT, O(workers), "80",
	    "worker threads; must exceed REASONER_MAX_INFLIGHT" },
	{ "REASONER_MAX_INFLIGHT", CFG_INT, O(max_inflight), "64",
	    "requests at Anthropic at once; more get Error{OVERLOADED}" },
	{ "REASONER_DECISION_TIMEOUT_MS", CFG_INT, O(decision_timeout_ms),
	    "8000", "longest a decision may take, retries included" },
	{ "REASONER_SUMMARY_TIMEOUT_MS", CFG_INT, O(summary_timeout_ms),
	    "60000", "longest a summary may take, retries included" },
	{ "REASONER_CONNECT_TIMEOUT_MS", CFG_INT, O(connect_timeout_ms),
	    "3000", "TCP + TLS connect timeout of one attempt" },
	{ "REASONER_MAX_RETRIES", CFG_INT, O(max_retries), "2",
	    "retries after the first attempt (bounded by the deadline)" },
	{ "REASONER_CIRCUIT_FAILURES", CFG_INT, O(circuit_failures), "5",
	    "consecutive failed attempts that open the circuit" },
	{ "REASONER_CIRCUIT_OPEN_MS", CFG_INT, O(circuit_open_ms), "30000",
	    "how long the circuit stays open before one probe" },
	{ "REASONER_DECISION_MAX_TOKENS", CFG_INT, O(decision_max_tokens),
	    "300", "max_tokens of a decision request" },
	{ "REASONER_SUMMARY_MAX_TOKENS", CFG_INT, O(summary_max_tokens),
	    "1500", "max_tokens of a summary request" },
	{ "REASONER_MAX_INPUT_BYTES", CFG_INT, O(max_input_bytes), "400000",
	    "largest request body sent upstream; more is refused" },
	{ "ANTHROPIC_BASE_URL", CFG_STR, O(base_url),
	    "https://api.anthropic.com", "Messages API base URL" },
	{ "ANTHROPIC_API_KEY", CFG_STR | CFG_SECRET, O(api_key), NULL,
	    "API key (x-api-key); or ANTHROPIC_API_KEY_FILE" },
	{ "ANTHROPIC_MODEL", CFG_STR, O(model), "claude-sonnet-5-5",
	    "model id (current models: docs/providers.md)" },
	{ "REASONER_DECISION_EFFORT", CFG_STR, O(decision_effort), "low",
	    "output_config.effort of a decision: low, medium, high "
	    "(empty: not sent)" },
	{ "ANTHROPIC_VERSION", CFG_STR, O(api_version), "2023-06-01",
	    "anthropic-version header" },
	{ "LOG_LEVEL", CFG_STR, O(log_level), "info",
	    "debug, info, warn or error" },
	BUS_TLS_CFG_OPTS(struct reasoner_cfg, bus_tls),
	{ "SHUTDOWN_TIMEOUT_MS", CFG_INT, O(shutdown_timeout_ms), "10000",
	    "exit (status 1) if shutdown takes longer" },
	{ NULL, 0, 0, NULL, NULL }
};

static int
range(const char *name, long v, long min, long max)
{
	if (v >= min && v <= max)
		return (0);
	log_warnx("%s=%ld: must be between %ld and %ld", name, v, min, max);
	return (-1);
}

int
config_check(const struct reasoner_cfg *c)
{
	int rv = 0;

	rv |= range("REASONER_HTTP_PORT", c->http_port, 0, 65535);
	rv |= range("REASONER_WORKERS", c->workers, 2, 1024);
	rv |= range("REASONER_MAX_INFLIGHT", c->max_inflight, 1, 1023);
	rv |= range("REASONER_DECISION_TIMEOUT_MS", c->decision_timeout_ms,
	    100, 600000);
	rv |= range(
	    "REASONER_SUMMARY_TIMEOUT_MS", c->summary_timeout_ms, 100, 600000);
	rv |= range(
	    "REASONER_CONNECT_TIMEOUT_MS", c->connect_timeout_ms, 10, 60000);
	rv |= range("REASONER_MAX_RETRIES", c->max_retries, 0, 10);
	rv |= range("REASONER_CIRCUIT_FAILURES", c->circuit_failures, 1, 1000);
	rv |= range(
	    "REASONER_CIRCUIT_OPEN_MS", c->circuit_open_ms, 10, 3600000);
	rv |= range(
	    "REASONER_DECISION_MAX_TOKENS", c->decision_max_tokens, 16, 8192);
	rv |= range(
	    "REASONER_SUMMARY_MAX_TOKENS", c->summary_max_tokens, 256, 32768);
	rv |= range("REASONER_MAX_INPUT_BYTES", c->max_input_bytes, 1024,
	    32 * 1024 * 1024);
	rv |= range(
	    "SHUTDOWN_TIMEOUT_MS", c->shutdown_timeout_ms, 100, 600000);
	if (c->workers <= c->max_inflight) {
		log_warnx(
		    "REASONER_WORKERS (%ld) must exceed "
		    "REASONER_MAX_INFLIGHT (%ld): spare workers answer "
		    "Ping and OVERLOADED while the others wait on Anthropic",
		    c->workers, c->max_inflight);
		rv = -1;
	}
	if (strncmp(c->base_url, "http://", 7) != 0
	    && strncmp(c->base_url, "https://", 8) != 0) {
		log_warnx("ANTHROPIC_BASE_URL must start with http:// or "
		          "https://");
		rv = -1;
	}
	if (*c->api_key == '\0') {
		log_warnx("ANTHROPIC_API_KEY is empty");
		rv = -1;
	}
	if (*c->decision_effort != '\0'
	    && strcmp(c->decision_effort, "low") != 0
	    && strcmp(c->decision_effort, "medium") != 0
	    && strcmp(c->decision_effort, "high") != 0) {
		log_warnx("REASONER_DECISION_EFFORT must be low, medium, high "
		          "or empty");
		rv = -1;
	}
	if (*c->model == '\0') {
		log_warnx("ANTHROPIC_MODEL is empty");
		rv = -1;
	}
	return (rv != 0 ? -1 : 0);
}
