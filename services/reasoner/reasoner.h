/*
 * reasoner - every call to the Anthropic Messages API.
 *
 * Requests arrive on REASONER_LISTEN_URL (req/rep) and are answered by
 * the svc worker pool: REASONER_WORKERS threads, each owning one nng_ctx,
 * one libcurl easy handle and one single-handle curl multi (so that
 * shutdown can wake a transfer at once).  At most REASONER_MAX_INFLIGHT
 * requests talk to Anthropic at a time; the rest of the workers answer
 * Error{OVERLOADED} and Ping without waiting.
 *
 *	ReasonRequest    -> decision.c -> exchange.c -> ReasonDecision
 *	SummarizeRequest -> summary.c  -> exchange.c -> Summary
 *
 * exchange.c runs one logical request: attempts through upstream.c,
 * retry policy from retry.c (protocols.md 7.4), the shared circuit
 * breaker in circuit.c and the request deadline.  Nothing is kept
 * between requests but the circuit and the metrics.
 *
 * Threads: main (start/stop), svc workers (everything else), the svc
 * HTTP thread (metrics rendering only).
 */
#ifndef REASONER_H
#define REASONER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "bus.h"
#include "bus.pb-c.h"
#include "cfg.h"
#include "http.h"
#include "svc.h"

#define REASONER_NAME "reasoner"
/* Longest answer we hand to the voice model, in bytes. */
#define DECISION_ANSWER_MAX 480
/* Retry waits shorter than this are not worth an attempt: give up. */
#define EXCH_MIN_ATTEMPT_MS 50

struct reasoner_cfg {
	char *listen_url;
	char *http_addr;
	long  http_port;
	long  workers;
	long  max_inflight;
	long  decision_timeout_ms;
	long  summary_timeout_ms;
	long  connect_timeout_ms;
	long  max_retries;
	long  circuit_failures;
	long  circuit_open_ms;
	long  decision_max_tokens;
	long  summary_max_tokens;
	long  max_input_bytes;
	char *base_url;
	char *api_key;
	char *model;
	char *decision_effort;
	char *api_version;
	char *log_level;
	long  shutdown_timeout_ms;

	struct bus_tls bus_tls; /* BUS_TLS_* */
};

/* circuit.c: a breaker shared by all workers; times are passed in. */
enum circuit_state { CIRCUIT_CLOSED = 0, CIRCUIT_OPEN, CIRCUIT_HALF_OPEN };

enum circuit_result {
	CIRCUIT_OK, /* upstream answered */
	CIRCUIT_FAIL, /* upstream down, overloaded or unreachable */
	CIRCUIT_NEUTRAL /* says nothing about upstream health */
};

struct circuit {
	pthread_mutex_t    lock;
	enum circuit_state state; /* {lock} */
	int                failures; /* {lock} consecutive */
	int64_t            opened_ms; /* {lock} */
	bool               probing; /* {lock} a half-open probe is out */
	int64_t            probe_ms; /* {lock} when it went out */
	int                threshold; /* set once */
	int64_t            open_ms; /* set once */
	/* Called with the lock held on every state change; must not block. */
	void (*on_change)(enum circuit_state, void *);
	void *arg;
};

struct worker;

struct reasoner {
	struct reasoner_cfg cfg;
	struct svc         *svc;
	struct circuit      circuit;
	atomic_long         inflight; /* requests past the cap check */
	atomic_int          stopping;
	atomic_long         busy; /* requests not yet answered */
	pthread_mutex_t     lock;
	pthread_cond_t      wake; /* {lock} broadcast on stop */
	struct worker      *workers; /* {lock} list, for wake-ups */
};

/* Per worker thread; created by worker_init on that thread. */
struct worker {
	struct reasoner   *r;
	struct worker     *next; /* {r->lock} */
	struct http_client http;
	char              *url;
	const char        *hdr[5]; /* request headers, NULL-terminated */
	char              *version_hdr, *key_hdr; /* in hdr; key zeroed */
	size_t             len; /* of the last response body */
	unsigned int       seed; /* jitter, rand_r */
};

/* What one HTTP attempt produced (upstream.c). */
struct attempt {
	long     status; /* HTTP status; 0 on transport error */
	CURLcode cc; /* CURLE_OK unless transport error */
	bool     cancelled; /* shutdown interrupted it */
	char     request_id[80];
	char     retry_after[64];
	char     retry_after_ms[32];
	char     should_retry[16];
	json_t  *msg; /* 2xx: the parsed body, or NULL */
	double   elapsed_s;
};

/*
 * exchange.c checks a 2xx message with one of these: 0 if it is usable
 * (out filled), -1 if the model's output is invalid or truncated (why
 * filled), which is retried like an upstream failure.
 */
typedef int (*exch_check_fn)(json_t *msg, void *out, char *why, size_t whylen);

/* A decision as taken from the model's text; strings malloc'd. */
struct decision {
	char    *answer;
	char    *model;
	uint32_t input_tokens, output_tokens; /* the message's usage */
};

/* The summary as validated from the tool input; strings malloc'd. */
struct summary {
	char    *outcome;
	char    *interest_level;
	char    *next_action;
	char    *appointment; /* compact JSON object, or "" */
	char    *quote; /* compact JSON object, or "" */
	char    *summary;
	char    *json; /* the whole validated object */
	char    *model;
	uint32_t input_tokens, output_tokens; /* the message's usage */
};

/* config.c */
extern const struct cfg_opt reasoner_cfg_opts[];
/* Cross-field checks cfg_load cannot do; -1 with each problem logged. */
int config_check(const struct reasoner_cfg *);

/* reasoner.c (start/stop, worker lifecycle, wake-ups) */
int reasoner_start(struct reasoner *);
/* Wake every worker (transfers and waits end with "shutting down"),
 * then stop svc.  Blocks until the workers have exited.  Main only. */
void reasoner_stop(struct reasoner *);
/* Sleep up to ms unless shutdown starts; returns -1 if it did. */
int     reasoner_sleep(struct reasoner *, long ms);
int64_t reasoner_now_ms(void);

/* dispatch.c: svc's handle callback.  Worker threads. */
int dispatch(
    struct svc *, const Bus__Envelope *, struct reply *, void *worker);

/*
 * decision.c (worker threads).  decision_handle() answers one request:
 * rep gets a ReasonDecision or an Error (BAD_REQUEST, or whatever
 * exch_run decided); returns 0.  Blocks up to the request's deadline.
 */
int decision_handle(
    struct worker *, const Bus__ReasonRequest *, struct reply *);
/* Request body for a decision; NULL with why if the input is unusable. */
char *decision_body(const struct reasoner_cfg *, const Bus__ReasonRequest *,
    char *why, size_t whylen);
/* exch_check_fn for decisions: out is struct decision *. */
int  decision_check(json_t *msg, void *out, char *why, size_t whylen);
void decision_free(struct decision *);
/* Make text speakable in place: no markdown, one line, bounded length.
 * Returns the new length. */
size_t decision_clean(char *text, size_t max);

/* summary.c (worker threads; summary_validate is pure).  summary_handle()
 * is decision_handle() for summaries. */
int summary_handle(
    struct worker *, const Bus__SummarizeRequest *, struct reply *);
char *summary_body(const struct reasoner_cfg *, const Bus__SummarizeRequest *,
    char *why, size_t whylen);
/* exch_check_fn for summaries: out is struct summary *. */
int summary_check(json_t *msg, void *out, char *why, size_t whylen);
/* Validate the answer object strictly and fill s (written only on
 * success; free with summary_free); -1 with why. */
int summary_validate(
    json_t *input, struct summary *s, char *why, size_t whylen);
void summary_free(struct summary *);
/* The JSON schema of the answer (output_config.format); new reference. */
json_t *summary_schema(void);

/* prompt.c: pieces shared by the two kinds of request (pure) */
/* "AI: ...\nUser: ..." lines, malloc'd; NULL with why on a bad turn. */
char *prompt_transcript(Bus__Turn **turns, size_t n, char *why, size_t whylen);
/*
 * The request body {"model","max_tokens","system","messages":[one user
 * message with text]} plus extra's members (output_config; extra
 * may be NULL and is not stolen), serialised.  NULL with why if text is
 * not valid UTF-8 or the body is over max_input_bytes.
 */
char *prompt_body(const struct reasoner_cfg *, long max_tokens,
    const char *system, const char *text, json_t *extra, char *why,
    size_t whylen);
/* The text of every text block of a message, joined by spaces,
 * malloc'd ("" if none). */
char *prompt_text_of(json_t *msg);
/* The message's stop_reason and model, or "" if absent. */
const char *prompt_stop_reason(json_t *msg);
const char *prompt_model(json_t *msg);
/* The message's usage: input (cache reads and writes included) and
 * output tokens, 0 if absent. */
void prompt_usage(json_t *msg, uint32_t *input, uint32_t *output);

/*
 * exchange.c: one logical request with retries.  Worker threads; blocks
 * until deadline_ms (monotonic, reasoner_now_ms) at the latest, less on
 * shutdown.  Returns 0 with out filled by check, or -1 with the Error
 * already in rep.
 */
int exch_run(struct worker *, const char *kind, const char *body,
    int64_t deadline_ms, exch_check_fn check, void *out, struct reply *rep);

/* upstream.c: libcurl, one handle per worker */
int  upstream_init(struct worker *, const struct reasoner_cfg *);
void upstream_fini(struct worker *);
/* One POST /v1/messages; blocks at most timeout_ms.  Always fills *a
 * (free with attempt_fini).  Worker thread. */
void upstream_post(
    struct worker *, const char *body, long timeout_ms, struct attempt *a);
/* Any thread: make a transfer in progress return now. */
void upstream_wake(struct worker *);
void attempt_fini(struct attempt *);

/* retry.c: protocols.md 7.4, pure */
/* Should a non-2xx status be retried?  x-should-retry (may be NULL)
 * overrides the status rules. */
bool retry_status(long status, const char *should_retry);
/* The wait before retry number attempt+1, in milliseconds: the server's
 * wish (http_retry_after), else min(0.5 * 2^attempt, 8) s times jitter
 * 1 - 0.25 * u, u in [0, 1) (http_backoff). */
long retry_wait_ms(int attempt, const char *after_ms, const char *after,
    time_t now, double u);

/* circuit.c; now is a monotonic clock in ms */
void circuit_init(struct circuit *, int threshold, int64_t open_ms);
void circuit_fini(struct circuit *);
/* May an attempt go upstream now?  *probe: it is the half-open probe,
 * whose outcome decides the state; report it with circuit_report. */
bool circuit_allow(struct circuit *, int64_t now, bool *probe);
void circuit_report(
    struct circuit *, int64_t now, bool probe, enum circuit_result);
enum circuit_state circuit_get(struct circuit *, int64_t now);
const char        *circuit_name(enum circuit_state);

/* stats.c: Prometheus series; register once from main, any thread */
void stats_init(void);
void stats_request(const char *kind, const char *result);
void stats_retry(const char *status);
void stats_tokens(const char *kind, uint32_t input, uint32_t output);
/* A 400/401/403/404 that names a setting to change (exchange.c). */
void stats_config_error(const char *setting);
void stats_upstream(const char *kind, const char *status, double secs);
void stats_inflight(long delta);
void stats_circuit(enum circuit_state, void *);

#endif
