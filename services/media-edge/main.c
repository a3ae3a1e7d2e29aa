/*
 * media-edge - the public face of the call bridge.
 *
 * HTTP on EDGE_HTTP_ADDR:EDGE_HTTP_PORT (libwebsockets, one service
 * thread): the provider's media WebSocket at /media, /health, /ready,
 * /metrics.  PUB EDGE_PUB_URL: caller audio, mark echoes and dtmf, in
 * one AudioBatch per ai-session.  SUB to each ai-session's pub socket:
 * model audio, marks, clears (hop.c, common/ahop.c).  REQ AI_SESSION_URL:
 * SessionStart / SessionEnd from a pool of request threads.  REP
 * EDGE_LISTEN_URL (common/svc): Ping and HangUp.
 *
 * SIGTERM drains: /ready turns 503, new streams are refused, calls in
 * progress get EDGE_DRAIN_TIMEOUT_MS, then the rest are closed with 1001
 * and the process exits 0 within SHUTDOWN_TIMEOUT_MS.
 */
#include <sysexits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "bus.h"
#include "cfg.h"
#include "edge.h"
#include "log.h"
#include "metrics.h"
#include "sig.h"
#include "svc.h"

#define ABOUT "media-edge: provider media streams <-> ai-session"

static struct edge edge;

static int
edge_start(struct edge *e)
{
	struct svc_conf sc = { 0 };

	e->pub_adv = e->cfg.pub_advertise_url[0] != '\0'
	    ? e->cfg.pub_advertise_url
	    : e->cfg.pub_url;
	e->ctl_adv = e->cfg.ctl_advertise_url[0] != '\0'
	    ? e->cfg.ctl_advertise_url
	    : e->cfg.listen_url;
	e->tel = tel_find(e->cfg.provider); /* edge_config_check()ed */
	e->twilio_key = e->cfg.edge_twilio_auth_token[0] != '\0'
	    ? e->cfg.edge_twilio_auth_token
	    : e->cfg.twilio_auth_token[0] != '\0' ? e->cfg.twilio_auth_token
	                                          : NULL;
	evq_init(&e->evq);
	tokens_init(&e->tokens, (size_t)e->cfg.token_cache);
	calls_init(e);
	sc.name = "media-edge";
	sc.about = ABOUT;
	sc.rep_url = e->cfg.listen_url;
	sc.workers = 2;
	sc.handle = dispatch_request;
	sc.arg = e;
	if (svc_start(&e->svc, &sc) != 0)
		return (-1);
	edge_metrics_init(&e->m);
	if (hop_start(e) == -1 || bridge_start(e) == -1
	    || webjobs_start(e) == -1 || loop_start(e) == -1)
		return (-1);
	if (e->twilio_key == NULL)
		log_info("no Twilio auth token: x-twilio-signature on /media "
		         "is not checked (stream tokens still are)");
	atomic_store(&e->ready, true);
	return (0);
}

static void
edge_stop(struct edge *e)
{
	loop_drain(e); /* calls finish or are closed */
	loop_stop(e); /* closes what is left: SessionEnds queued */
	bridge_stop(&e->bridge); /* sends them */
	webjobs_stop(&e->wj);
	hop_stop(e);
	svc_stop(e->svc);
	evq_fini(&e->evq);
	tokens_fini(&e->tokens);
	calls_fini(e);
}

int
main(int argc, char *argv[])
{
	sigset_t sigs;
	int      rv;

	log_init("media-edge");
	if ((rv = cfg_main(
	         argc, argv, "media-edge", ABOUT, edge_cfg_opts, &edge.cfg))
	    != -1)
		return (rv);
	if (edge_config_check(&edge.cfg) == -1
	    || bus_tls_init(&edge.cfg.bus_tls) == -1)
		return (EX_CONFIG);
	curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread */
	sig_block(&sigs);
	if (edge_start(&edge) == -1)
		fatalx("startup failed");
	log_info("ready");
	(void)sig_wait(&sigs);
	sig_watchdog(edge.cfg.shutdown_timeout_ms);
	log_info("shutting down");
	edge_stop(&edge);
	cfg_free(edge_cfg_opts, &edge.cfg);
	log_info("stopped");
	sig_exit(0); /* no exit handlers under threads left behind: sig.h */
}
