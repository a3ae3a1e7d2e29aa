/*
 * callctl ping, health and req: request/reply against the daemons'
 * request sockets, and their HTTP /health.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <nng/nng.h>

#include "bus.h"
#include "codec.h"
#include "callctl.h"
#include "http.h"
#include "pbjson.h"
#include "wire.h"
#include "xmalloc.h"

/* A /health answer is a few hundred bytes. */
#define HEALTH_MAX_BODY (64 * 1024)

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6);
}

/* One request on a fresh socket; *rttp in ms.  Returns 0 or nng error. */
static int
request(const char *url, const Bus__Envelope *req, Bus__Envelope **repp,
    double *rttp)
{
	nng_socket s;
	double     t0;
	int        rv;

	if ((rv = bus_req_dial(&s, "callctl", url)) != 0)
		return (rv);
	t0 = now_ms();
	rv = bus_request(s, req, repp, (int)ctl_cfg.timeout_ms, 1);
	if (rttp != NULL)
		*rttp = now_ms() - t0;
	(void)bus_close(s, "callctl", BUS_CLOSE_MS); /* bounded: bus.h */
	return (rv);
}

int
ping_once(const char *url, Bus__Envelope **repp, double *rttp)
{
	Bus__Envelope   env = BUS__ENVELOPE__INIT;
	Bus__Ping       ping = BUS__PING__INIT;
	struct wire_ids ids;

	wire_env_init(&env, &ids, "", NULL);
	env.body_case = BUS__ENVELOPE__BODY_PING;
	env.ping = &ping;
	return (request(url, &env, repp, rttp));
}

int
cmd_ping(int argc, char *argv[])
{
	const char    *url;
	Bus__Envelope *rep;
	double         rtt, min = 1e9, max = 0, sum = 0;
	int            count = 3, i, ok = 0, c, rv;

	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c != 'n' || (count = (int)strtol(optarg, NULL, 10)) < 1)
			return (EX_USAGE);
	}
	if (optind != argc - 1
	    || (url = config_req_url(argv[optind])) == NULL) {
		fprintf(
		    stderr, "usage: callctl ping SERVICE|URL [-n COUNT]\n");
		return (EX_USAGE);
	}
	for (i = 0; i < count; i++) {
		if ((rv = ping_once(url, &rep, &rtt)) != 0) {
			printf("%s: no answer: %s\n", url, nng_strerror(rv));
			continue;
		}
		if (rep->body_case == BUS__ENVELOPE__BODY_PONG) {
			printf(
			    "pong from %s %s (%s): uptime %.1f s, active %ld,"
			    " time %.3f ms\n",
			    rep->pong->service, rep->pong->version,
			    rep->pong->instance, rep->pong->uptime_s,
			    (long)rep->pong->active, rtt);
			ok++;
			sum += rtt;
			min = rtt < min ? rtt : min;
			max = rtt > max ? rtt : max;
		} else
			printf("%s: answered %s, not pong\n", url,
			    wire_type_name(rep->body_case));
		wire_free(rep);
	}
	if (ok > 0)
		printf("%d/%d answered; rtt min/avg/max = %.3f/%.3f/%.3f ms\n",
		    ok, count, min, sum / ok, max);
	return (ok == count ? 0 : 1);
}

/* GET base/health: the HTTP status (0: no answer) and the JSON body. */
static long
http_health(const char *base, json_t **bodyp)
{
	struct http_client hc;
	struct http_opts   o = { 0 };
	struct http_req    q = { 0 };
	struct http_resp   r;
	char              *url = xasprintf("%s/health", base);
	long               status = 0;

	*bodyp = NULL;
	o.connect_timeout_ms = ctl_cfg.timeout_ms;
	o.timeout_ms = ctl_cfg.timeout_ms;
	o.max_body = HEALTH_MAX_BODY;
	q.url = url;
	if (http_client_init(&hc, &o) == 0 && http_perform(&hc, &q, &r) == 0) {
		status = r.status;
		*bodyp = json_loadb(r.body, r.len, 0, NULL);
	}
	http_client_fini(&hc);
	free(url);
	return (status);
}

static json_t *
health_one(const struct service_addr *a, int *healthy)
{
	json_t        *row = json_object(), *body;
	Bus__Envelope *rep = NULL;
	double         rtt = 0;
	long           status;
	int            rv;

	json_object_set_new(row, "service", json_string(a->name));
	status = http_health(a->http_url, &body);
	json_object_set_new(row, "http_status", json_integer(status));
	json_object_set_new(row, "health", body != NULL ? body : json_null());
	rv = ping_once(a->req_url, &rep, &rtt);
	if (rv == 0 && rep->body_case == BUS__ENVELOPE__BODY_PONG) {
		json_object_set_new(row, "ping_ms", json_real(rtt));
		json_object_set_new(
		    row, "version", json_string(rep->pong->version));
		json_object_set_new(
		    row, "active", json_integer(rep->pong->active));
	} else {
		json_object_set_new(row, "ping_error",
		    json_string(rv != 0 ? nng_strerror(rv) : "not a pong"));
		*healthy = 0;
	}
	if (status != 200)
		*healthy = 0;
	wire_free(rep);
	return (row);
}

int
cmd_health(int argc, char *argv[])
{
	const struct service_addr *svcs;
	json_t                    *all = json_array(), *row, *st;
	int                        n, i, healthy = 1, as_json;

	as_json = argc == 2 && strcmp(argv[1], "--json") == 0;
	svcs = config_services(&n);
	if (!as_json)
		printf("%-13s %-6s %-10s %-8s %-9s %s\n", "SERVICE", "HTTP",
		    "STATUS", "ACTIVE", "PING", "UPTIME");
	for (i = 0; i < n; i++) {
		int ok = 1;

		row = health_one(&svcs[i], &ok);
		healthy &= ok;
		json_object_set_new(row, "healthy", json_boolean(ok));
		json_array_append_new(all, row);
		if (as_json)
			continue;
		st = json_object_get(row, "health");
		printf("%-13s %-6lld %-10s %-8lld ", svcs[i].name,
		    json_integer_value(json_object_get(row, "http_status")),
		    json_string_value(json_object_get(st, "status"))
		        ? json_string_value(json_object_get(st, "status"))
		        : "down",
		    json_integer_value(json_object_get(st, "activeCalls")));
		if (json_object_get(row, "ping_ms") != NULL)
			printf("%-9s ", "ok");
		else
			printf("%-9s ", "no-answer");
		printf("%.0f s\n",
		    json_number_value(json_object_get(st, "uptime")));
	}
	if (as_json)
		print_json(all);
	else
		json_decref(all);
	return (healthy ? 0 : 1);
}

/* Build the request envelope from TYPE and a body, or a whole envelope. */
static int
build_request(const char *type, const char *body, const char *envjson,
    const char *call, const char *key, Bus__Envelope **envp)
{
	json_t      *env, *jbody;
	json_error_t jerr;
	char         err[256], ids[33];
	int          rv;

	if (envjson != NULL) {
		if ((env = json_loads(envjson, 0, &jerr)) == NULL)
			goto badjson;
	} else {
		if (wire_type_from_name(type) < 0) {
			fprintf(stderr,
			    "callctl: unknown message type \"%s\"\n", type);
			return (-1);
		}
		jbody = json_loads(body != NULL ? body : "{}", 0, &jerr);
		if (jbody == NULL)
			goto badjson;
		env = json_object();
		json_object_set_new(env, type, jbody);
	}
	if (call != NULL)
		json_object_set_new(env, "call_sid", json_string(call));
	if (key != NULL)
		json_object_set_new(env, "idempotency_key", json_string(key));
	if (json_object_get(env, "msg_id") == NULL
	    && codec_rand_hex(ids, 16) == 0)
		json_object_set_new(env, "msg_id", json_string(ids));
	if (json_object_get(env, "trace_id") == NULL
	    && codec_rand_hex(ids, 16) == 0)
		json_object_set_new(env, "trace_id", json_string(ids));
	json_object_set_new(env, "sent_at_ms", json_integer(wire_now_ms()));
	json_object_set_new(env, "sender", json_string("callctl"));
	rv = pbjson_to_pb(&bus__envelope__descriptor, env,
	    (ProtobufCMessage **)envp, err, sizeof(err));
	json_decref(env);
	if (rv == -1)
		fprintf(stderr, "callctl: %s\n", err);
	return (rv);
badjson:
	fprintf(stderr, "callctl: bad JSON at column %d: %s\n", jerr.column,
	    jerr.text);
	return (-1);
}

int
cmd_req(int argc, char *argv[])
{
	static const struct option longopts[]
	    = { { "call", required_argument, NULL, 'c' },
		      { "key", required_argument, NULL, 'k' },
		      { "envelope", required_argument, NULL, 'e' },
		      { NULL, 0, NULL, 0 } };
	const char    *url, *call = NULL, *key = NULL, *envjson = NULL;
	Bus__Envelope *req, *rep;
	double         rtt;
	int            c, rv, npos;

	/* Options may come before or after the positional words. */
	while ((c = getopt_long(argc, argv, "c:k:e:", longopts, NULL)) != -1) {
		if (c == 'c')
			call = optarg;
		else if (c == 'k')
			key = optarg;
		else if (c == 'e')
			envjson = optarg;
		else
			return (EX_USAGE);
	}
	npos = argc - optind;
	if (npos < 1 || npos > 3 || (envjson != NULL && npos != 1)
	    || (envjson == NULL && npos < 2)
	    || (url = config_req_url(argv[optind])) == NULL) {
		fprintf(stderr,
		    "usage: callctl req SERVICE|URL TYPE [JSON] "
		    "[--call SID] [--key KEY]\n"
		    "       callctl req SERVICE|URL --envelope JSON\n");
		return (EX_USAGE);
	}
	if (build_request(npos >= 2 ? argv[optind + 1] : NULL,
	        npos == 3 ? argv[optind + 2] : NULL, envjson, call, key, &req)
	    == -1)
		return (EX_DATAERR);
	rv = request(url, req, &rep, &rtt);
	protobuf_c_message_free_unpacked(&req->base, NULL);
	if (rv != 0) {
		fprintf(stderr, "callctl: %s: %s\n", url, nng_strerror(rv));
		return (1);
	}
	print_json(envelope_json(rep, 1));
	fprintf(stderr, "reply %s in %.3f ms\n",
	    wire_type_name(rep->body_case), rtt);
	rv = rep->body_case == BUS__ENVELOPE__BODY_ERROR ? 1 : 0;
	wire_free(rep);
	return (rv);
}
