/*
 * sim-anthropic: a local stand-in for the Anthropic Messages API.
 *
 * One libwebsockets service thread does everything: it parses requests,
 * builds replies, counts them and appends to the record file, so no state
 * here needs a lock.  The only other thread is the signal thread in main.c,
 * which sets sim.stop and calls lws_cancel_service().
 *
 * Files: main.c (flags, context, loop), http.c (the lws callback, per
 * request state, delayed answers), reply.c (request checks and the
 * message a model would have answered), tool.c (tool input built from a
 * JSON schema and from the transcript), catalog.c (models served and
 * the fields each refuses), mode.c (injected faults, runtime
 * mode, statistics, record file).
 */
#ifndef SIM_ANTHROPIC_H
#define SIM_ANTHROPIC_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#define SIM_SVC "sim-anthropic"
#define SIM_MAX_BODY (8 * 1024 * 1024)
#define SIM_MAX_FAILS 64
#define SIM_MAX_STATUSES 16

/* Kinds of answer, counted in /sim/stats "by_kind". */
enum sim_kind {
	KIND_TOOL, /* tool_use reply */
	KIND_TEXT, /* text reply */
	KIND_BAD, /* deliberately broken tool reply (--bad-output) */
	KIND_INJECTED, /* fault from --fail or --down */
	KIND_REJECTED, /* 400/401/404/413: the request was wrong */
	KIND_CONTROL, /* /sim/mode and /sim/stats */
	KIND_COUNT
};

/* Behaviour that tests may change at run time through POST /sim/mode. */
struct sim_mode {
	int down; /* every request is answered 529 */
	int fails[SIM_MAX_FAILS]; /* statuses still to inject, in order */
	int nfails;
	int fail_next; /* index of the next one to inject */
	int latency_ms;
	int bad_output; /* broken tool replies still to give */
	int bad_given; /* broken tool replies given so far */
};

struct sim_stats {
	long requests;
	int  status[SIM_MAX_STATUSES];
	long status_count[SIM_MAX_STATUSES];
	int  nstatus;
	long kind[KIND_COUNT];
};

struct sim {
	int             port;
	const char     *api_key; /* NULL: any key is accepted */
	const char     *answer; /* --answer: fixed text for decisions */
	const char     *models; /* --models: comma-separated; NULL: built in */
	int             retry_after; /* seconds, on injected 429s */
	FILE           *record; /* NULL unless --record */
	struct sim_mode mode;
	struct sim_stats stats;
	unsigned long    seq; /* for message and request ids */
};

/* A finished answer, ready to be written by http.c. */
struct sim_reply {
	int           status;
	enum sim_kind kind;
	char         *body; /* JSON text, malloc'd */
	int           retry_after; /* > 0: send a retry-after header */
	char          request_id[40];
};

/* What the record file and the statistics learn about a request. */
struct sim_req_info {
	const char *path;
	const char *model; /* NULL when absent */
	json_t     *tools; /* borrowed; NULL when absent */
	size_t      nmessages;
	const char *last_user; /* borrowed; NULL when absent */
};

extern struct sim sim;

/* main.c */
void sim_log(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* http.c: the lws protocol table for the vhost. */
struct lws_protocols;
const struct lws_protocols *http_protocols(void);

/*
 * reply.c (lws service thread only).  sim_messages() answers
 * POST /v1/messages; key and version are the header values or NULL.  It
 * fills every field of *r and always succeeds.
 */
void sim_messages(const char *key, const char *version, const char *body,
    size_t len, struct sim_reply *r);
void sim_reply_error(
    struct sim_reply *r, int status, const char *type, const char *message);
void sim_reply_json(
    struct sim_reply *r, int status, enum sim_kind kind, json_t *obj);
void sim_reply_id(struct sim_reply *r);

/*
 * tool.c: the input object of a tool_use block.  transcript is every text
 * of the request's messages.  Returns a new reference.
 */
json_t *tool_input_new(json_t *schema, const char *transcript);
/* The text answer to a decision request, malloc'd. */
char *tool_text_answer(const char *last_user);
/* Drop the first required property (--bad-output), in place. */
void tool_input_break(json_t *input, json_t *schema);

/*
 * catalog.c: the models served and what each refuses.  catalog_check()
 * returns 0 when root (a validated request naming model) is acceptable,
 * else -1 with *status (404 unknown or retired model, 400 a refused
 * field) and the error message.  Pure.
 */
#define CAT_RETIRED 0x01
#define CAT_DEPRECATED 0x02 /* still served; retirement announced */
#define CAT_NO_SAMPLING 0x04 /* temperature/top_p/top_k: 400 */
#define CAT_NO_FORCED_TOOL 0x08 /* tool_choice tool/any: 400 */
#define CAT_NO_THINKING_OFF 0x10 /* thinking.type disabled: 400 */
#define CAT_NO_EFFORT 0x20 /* output_config.effort: 400 */
struct cat_model {
	const char *name;
	int         flags;
};
const struct cat_model *catalog_all(void); /* ends with a NULL name */
const struct cat_model *catalog_find(const char *name);
int                     catalog_check(
                        json_t *root, const char *model, int *status, char *err, size_t errlen);

/* models.c: GET /v1/models[/{id}] (lws service thread only). */
void sim_models(const char *key, const char *version, const char *path,
    struct sim_reply *r);

/* mode.c (lws service thread only). */
int     mode_parse_fails(struct sim_mode *m, const char *list);
int     mode_update(const char *body, size_t len, char *err, size_t errlen);
int     mode_take_fault(void);
int     mode_take_bad_output(void);
void    mode_count(int status, enum sim_kind kind);
json_t *mode_stats_json(void);
void    mode_record(
       const struct sim_req_info *info, int status, enum sim_kind kind);

#endif /* SIM_ANTHROPIC_H */
