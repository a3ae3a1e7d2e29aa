/*
 * callctl - the operators' tool for the traffic between the daemons.
 *
 *	callctl ping SERVICE|URL	time Ping round trips
 *	callctl health			/health and Ping of every daemon
 *	callctl decode [FILE]		a captured message -> JSON
 *	callctl tap SERVICE|URL		print a pub socket's traffic as JSON
 *	callctl req SERVICE|URL ...	send any request, print the reply
 *	callctl doctor			pre-flight of a whole deployment
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
	long  doctor_timeout_ms;
	char *doctor_ca_file;

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
int cmd_doctor(int argc, char *argv[]);

/* rpc.c: one Ping on a fresh socket; 0 or an nng error, *rttp in ms. */
int ping_once(const char *url, Bus__Envelope **repp, double *rttp);

/*
 * doctor: every check runs on its own thread and writes only its own
 * struct doc_check; cmd_doctor prints them in table order once all are
 * done.  Secrets are registered (doc_secret) before the threads start
 * and replaced by *** in every line.
 */
#define DOC_LINES 8
struct doc_line {
	int  ok;
	char what[40];
	char text[400]; /* what was found */
	char fix[400]; /* what to change; "" when ok */
};
struct doc_check {
	const char *name;
	void (*fn)(struct doc_check *);
	int             arg; /* which one, for checks run several times */
	int             nlines;
	struct doc_line lines[DOC_LINES];
};
/* An HTTP answer: status 0 and err set when none came. */
struct doc_http {
	long    status;
	int     tls_err; /* the failure was TLS (certificate, handshake) */
	char    err[256];
	json_t *body; /* NULL unless JSON */
};

void doc_secret(const char *);
void doc_ok(struct doc_check *, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void doc_fail(struct doc_check *, const char *what, const char *fix,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* GET url with extra headers (NULL-terminated) and optional Basic
 * credentials, verified against ca_file ("" or NULL: the system's).
 * Blocks up to doctor_timeout_ms.  0 when an answer came, else -1. */
int  doc_get(const char *url, const char *const *headers, const char *user,
     const char *pass, const char *ca_file, struct doc_http *);
void doc_http_free(struct doc_http *);
/* The error message of a provider's JSON error body, or "". */
const char *doc_api_message(const json_t *body);

/* doctor_*.c: each loads one daemon's settings table (main thread,
 * before any check runs) and provides the checks that need it. */
int  doctor_edge_load(void);
void doctor_public_url(struct doc_check *);
void doctor_phone(struct doc_check *);
int  doctor_ai_load(void);
void doctor_openai(struct doc_check *);
void doctor_realtime(struct doc_check *);
int  doctor_reasoner_load(void);
void doctor_anthropic(struct doc_check *);
int  doctor_ps_load(void);
int  doctor_rl_load(void);
void doctor_postgres(struct doc_check *);

/* decode.c: one envelope as a JSON object, audio payloads summarised
 * unless with_payload. The caller owns the reference. */
json_t *envelope_json(const Bus__Envelope *, int with_payload);
/* One item of an AudioBatch, with "type" like an envelope's. */
json_t     *batch_item_json(const Bus__BatchItem *, int with_payload);
const char *batch_item_type(const Bus__BatchItem *);
void        print_json(json_t *);

#endif
