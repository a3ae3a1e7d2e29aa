/*
 * stats.c - the reasoner's series in /metrics.
 *
 *	reasoner_requests_total{kind,result}	answered requests
 *	reasoner_upstream_requests_total{kind,status}	HTTP attempts
 *	reasoner_retries_total{status}		retries, by what caused them
 *	reasoner_upstream_latency_seconds{kind}	one HTTP attempt
 *	reasoner_inflight			requests past the cap check
 *	reasoner_circuit_open			1 while open or half-open
 *	reasoner_circuit_transitions_total{to}
 *	reasoner_tokens_total{kind,direction}	the model's usage (input,
 *						output) of accepted answers
 *
 * Label values come from short fixed sets (kinds, results, HTTP statuses
 * as text), so no series can run away.  stats_init() from main before
 * the workers start; the rest from any thread.
 */
#include "metrics.h"
#include "reasoner.h"

static struct metric_family *fam_requests, *fam_upstream, *fam_retries;
static struct metric_family *fam_latency, *fam_transitions, *fam_config;
static struct metric_family *fam_tokens;
static struct metric        *m_inflight, *m_circuit;

void
stats_init(void)
{
	static const double bounds[]
	    = { 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60 };
	static const char *const kinds[] = { "decision", "summary" };
	size_t                   i;

	fam_requests = metrics_counter("reasoner_requests_total",
	    "Requests answered, by kind and result", "kind,result");
	fam_upstream = metrics_counter("reasoner_upstream_requests_total",
	    "HTTP attempts to the Messages API, by kind and status",
	    "kind,status");
	fam_retries = metrics_counter("reasoner_retries_total",
	    "Attempts retried, by the status that caused the retry", "status");
	fam_latency = metrics_histogram("reasoner_upstream_latency_seconds",
	    "Duration of one HTTP attempt to the Messages API", "kind", bounds,
	    sizeof(bounds) / sizeof(bounds[0]));
	fam_transitions = metrics_counter("reasoner_circuit_transitions_total",
	    "Circuit breaker state changes, by new state", "to");
	fam_config = metrics_counter("reasoner_config_errors_total",
	    "Requests Anthropic refused because of a setting (unknown or "
	    "retired model, refused field, bad key), by setting",
	    "setting");
	fam_tokens = metrics_counter("reasoner_tokens_total",
	    "Tokens of the answers used, by kind and direction (input, "
	    "output)",
	    "kind,direction");
	m_inflight = metrics_gauge1("reasoner_inflight",
	    "Requests in progress past the concurrency cap check");
	m_circuit = metrics_gauge1("reasoner_circuit_open",
	    "1 while the Anthropic circuit breaker is open or half-open");
	for (i = 0; i < 2; i++) {
		/* show the common series at 0 before the first request */
		(void)metric_get(fam_requests, kinds[i], "ok");
		(void)metric_get(fam_latency, kinds[i]);
	}
	(void)metric_get(fam_transitions, "open");
	(void)metric_get(fam_config, "ANTHROPIC_MODEL");
	metric_set(m_circuit, 0);
}

void
stats_request(const char *kind, const char *result)
{
	metric_inc(metric_get(fam_requests, kind, result));
}

void
stats_retry(const char *status)
{
	metric_inc(metric_get(fam_retries, status));
}

void
stats_config_error(const char *setting)
{
	metric_inc(metric_get(fam_config, setting));
}

void
stats_upstream(const char *kind, const char *status, double secs)
{
	metric_inc(metric_get(fam_upstream, kind, status));
	metric_observe(metric_get(fam_latency, kind), secs);
}

void
stats_inflight(long delta)
{
	metric_add(m_inflight, (double)delta);
}

/* circuit on_change: called with the circuit lock held; never blocks. */
void
stats_circuit(enum circuit_state s, void *arg)
{
	(void)arg;
	metric_set(m_circuit, s == CIRCUIT_CLOSED ? 0 : 1);
	metric_inc(metric_get(fam_transitions, circuit_name(s)));
}

void
stats_tokens(const char *kind, uint32_t input, uint32_t output)
{
	metric_add(metric_get(fam_tokens, kind, "input"), input);
	metric_add(metric_get(fam_tokens, kind, "output"), output);
}
