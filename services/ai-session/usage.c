/*
 * usage.c - what a call cost in tokens.
 *
 * The Realtime model reports `usage` in each response.done (rt_openai.c
 * hands it over as struct rt_usage); the reasoner reports its Messages
 * API usage in ReasonDecision and Summary.  Per call they are summed in
 * struct call_usage and sent with the CallRecord (record.c), which
 * persister stores on the calls row; across calls they are counted in
 *
 *	ai_model_tokens_total{kind}	input, output, input_audio,
 *					output_audio, cached
 *	ai_reasoner_tokens_total{direction}	input, output (as seen here)
 *
 * Threads: usage_model / usage_reasoner on the lws thread (they change a
 * call), usage_fill anywhere on a copy.
 */
#include "ai.h"
#include "bus.h"
#include "metrics.h"

static struct metric *m_in, *m_out, *m_in_audio, *m_out_audio, *m_cached;
static struct metric *m_rsn_in, *m_rsn_out;

void
usage_stats_init(void)
{
	struct metric_family *f;

	f = metrics_counter("ai_model_tokens_total",
	    "Realtime model tokens (response.done usage), by kind", "kind");
	m_in = metric_get(f, "input");
	m_out = metric_get(f, "output");
	m_in_audio = metric_get(f, "input_audio");
	m_out_audio = metric_get(f, "output_audio");
	m_cached = metric_get(f, "cached");
	f = metrics_counter("ai_reasoner_tokens_total",
	    "Reasoner tokens of the calls' consultations and summaries, by "
	    "direction",
	    "direction");
	m_rsn_in = metric_get(f, "input");
	m_rsn_out = metric_get(f, "output");
}

void
usage_model(void *arg, const struct rt_usage *ru)
{
	struct call_usage *u = &((struct call *)arg)->usage;

	u->in += ru->input;
	u->out += ru->output;
	u->in_audio += ru->input_audio;
	u->out_audio += ru->output_audio;
	u->cached += ru->cached;
	u->responses++;
	metric_add(m_in, (double)ru->input);
	metric_add(m_out, (double)ru->output);
	metric_add(m_in_audio, (double)ru->input_audio);
	metric_add(m_out_audio, (double)ru->output_audio);
	metric_add(m_cached, (double)ru->cached);
}

void
usage_reasoner(struct call_usage *u, uint32_t in, uint32_t out)
{
	u->rsn_in += in;
	u->rsn_out += out;
	metric_add(m_rsn_in, in);
	metric_add(m_rsn_out, out);
}

void
usage_fill(Bus__Usage *u, const struct call_usage *cu)
{
	bus__usage__init(u);
	u->model_input_tokens = cu->in;
	u->model_output_tokens = cu->out;
	u->model_input_audio_tokens = cu->in_audio;
	u->model_output_audio_tokens = cu->out_audio;
	u->model_cached_tokens = cu->cached;
	u->reasoner_input_tokens = cu->rsn_in;
	u->reasoner_output_tokens = cu->rsn_out;
	u->model_responses = cu->responses;
}
