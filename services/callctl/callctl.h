/*
 * callctl - the operators' tool for the traffic between the daemons.
 *
 *	callctl ping SERVICE|URL	time Ping round trips
 *	callctl health			/health and Ping of every daemon
 *	callctl decode [FILE]		a captured message -> JSON
 *	callctl tap SERVICE|URL		print a pub socket's traffic as JSON
 *	callctl req SERVICE|URL ...	send any request, print the reply
 *
 * Addresses come from the same environment variables the daemons use
 * (PERSISTER_URL, EDGE_PUB_URL, ...), so on a daemon's host or pod the
 * defaults are right.  Single-threaded apart from nng's own threads.
 */
#ifndef CALLCTL_H
#define CALLCTL_H

#include <stdio.h>

#include <jansson.h>

#include "bus.h"
#include "bus.pb-c.h"

struct callctl_cfg {
	char *edge_url, *ai_url, *reasoner_url, *ratelimiter_url;
	char *persister_url;
	char *edge_pub_url, *ai_pub_url;
	char *edge_http, *ai_http, *reasoner_http, *ratelimiter_http;
	char *persister_http;
	long  timeout_ms;

	struct bus_tls bus_tls; /* BUS_TLS_* */
};

struct service_addr {
	const char *name;
	const char *req_url;
	const char *pub_url; /* NULL: no pub socket */
	const char *http_url;
};

extern struct callctl_cfg ctl_cfg;

/* config.c */
int  config_load(void);
void config_help(FILE *);
/* The five daemons in a fixed order; n is set to the count. */
const struct service_addr *config_services(int *n);
/* A service name, or a URL used as it is. */
const char *config_req_url(const char *name_or_url);
const char *config_pub_url(const char *name_or_url);

/* One command each; argv[0] is the command name.  Exit status. */
int cmd_ping(int argc, char *argv[]);
int cmd_health(int argc, char *argv[]);
int cmd_decode(int argc, char *argv[]);
int cmd_tap(int argc, char *argv[]);
int cmd_req(int argc, char *argv[]);

/* decode.c: one envelope as a JSON object, audio payloads summarised
 * unless with_payload. The caller owns the reference. */
json_t *envelope_json(const Bus__Envelope *, int with_payload);
/* One item of an AudioBatch, with "type" like an envelope's. */
json_t     *batch_item_json(const Bus__BatchItem *, int with_payload);
const char *batch_item_type(const Bus__BatchItem *);
void        print_json(json_t *);

#endif
