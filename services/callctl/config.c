/*
 * callctl config - the daemons' addresses from the environment.
 */
#include <stdio.h>
#include <string.h>

#include "callctl.h"
#include "bus.h"
#include "cfg.h"

struct callctl_cfg ctl_cfg;

#define O(f) CFG_OFF(struct callctl_cfg, f)
static const struct cfg_opt callctl_opts[] = {
	{ "EDGE_URL", CFG_STR, O(edge_url), "tcp://127.0.0.1:7001",
	    "media-edge request socket" },
	{ "AI_SESSION_URL", CFG_STR, O(ai_url), "tcp://127.0.0.1:7011",
	    "ai-session request socket" },
	{ "REASONER_URL", CFG_STR, O(reasoner_url), "tcp://127.0.0.1:7021",
	    "reasoner request socket" },
	{ "RATE_LIMITER_URL", CFG_STR, O(ratelimiter_url),
	    "tcp://127.0.0.1:7031", "rate-limiter request socket" },
	{ "PERSISTER_URL", CFG_STR, O(persister_url), "tcp://127.0.0.1:7041",
	    "persister request socket" },
	{ "EDGE_PUB_URL", CFG_STR, O(edge_pub_url), "tcp://127.0.0.1:7002",
	    "media-edge pub socket (caller audio, marks, dtmf)" },
	{ "AI_PUB_URL", CFG_STR, O(ai_pub_url), "tcp://127.0.0.1:7012",
	    "ai-session pub socket (model audio, marks, clears, turns)" },
	{ "EDGE_HTTP_URL", CFG_STR, O(edge_http), "http://127.0.0.1:8080",
	    "media-edge HTTP base URL" },
	{ "AI_HTTP_URL", CFG_STR, O(ai_http), "http://127.0.0.1:9101",
	    "ai-session HTTP base URL" },
	{ "REASONER_HTTP_URL", CFG_STR, O(reasoner_http),
	    "http://127.0.0.1:9102", "reasoner HTTP base URL" },
	{ "RATE_LIMITER_HTTP_URL", CFG_STR, O(ratelimiter_http),
	    "http://127.0.0.1:9103", "rate-limiter HTTP base URL" },
	{ "PERSISTER_HTTP_URL", CFG_STR, O(persister_http),
	    "http://127.0.0.1:9104", "persister HTTP base URL" },
	BUS_TLS_CFG_OPTS(struct callctl_cfg, bus_tls),
	{ "CALLCTL_TIMEOUT_MS", CFG_INT, O(timeout_ms), "2000",
	    "how long to wait for one reply" },
	{ "DOCTOR_TIMEOUT_MS", CFG_INT, O(doctor_timeout_ms), "8000",
	    "doctor: limit of one provider request or the Realtime probe" },
	{ "DOCTOR_CA_FILE", CFG_STR, O(doctor_ca_file), "",
	    "doctor: PEM trust store for PUBLIC_URL (empty: the system's)" },
	{ NULL }
};

static struct service_addr services[5];

int
config_load(void)
{
	if (cfg_load(callctl_opts, &ctl_cfg) == -1)
		return (-1);
	services[0] = (struct service_addr) { "media-edge", ctl_cfg.edge_url,
		ctl_cfg.edge_pub_url, ctl_cfg.edge_http };
	services[1] = (struct service_addr) { "ai-session", ctl_cfg.ai_url,
		ctl_cfg.ai_pub_url, ctl_cfg.ai_http };
	services[2] = (struct service_addr) { "reasoner", ctl_cfg.reasoner_url,
		NULL, ctl_cfg.reasoner_http };
	services[3] = (struct service_addr) { "rate-limiter",
		ctl_cfg.ratelimiter_url, NULL, ctl_cfg.ratelimiter_http };
	services[4] = (struct service_addr) { "persister",
		ctl_cfg.persister_url, NULL, ctl_cfg.persister_http };
	return (0);
}

void
config_help(FILE *fp)
{
	const struct cfg_opt *o;

	fprintf(fp, "\nEnvironment:\n");
	for (o = callctl_opts; o->name != NULL; o++)
		fprintf(
		    fp, "  %-22s %s (default %s)\n", o->name, o->help, o->def);
}

const struct service_addr *
config_services(int *n)
{
	*n = 5;
	return (services);
}

static const struct service_addr *
find(const char *name)
{
	size_t i;

	for (i = 0; i < 5; i++)
		if (strcmp(services[i].name, name) == 0
		    || (strcmp(name, "edge") == 0 && i == 0)
		    || (strcmp(name, "ai") == 0 && i == 1))
			return (&services[i]);
	return (NULL);
}

const char *
config_req_url(const char *s)
{
	const struct service_addr *a = find(s);

	if (a != NULL)
		return (a->req_url);
	return (strstr(s, "://") != NULL ? s : NULL);
}

const char *
config_pub_url(const char *s)
{
	const struct service_addr *a = find(s);

	if (a != NULL)
		return (a->pub_url);
	return (strstr(s, "://") != NULL ? s : NULL);
}
