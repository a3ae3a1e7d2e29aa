/*
 * config - the rate-limiter's environment table.
 */
#include "bus.h"
#include "cfg.h"
#include "rate-limiter.h"

#define O(f) CFG_OFF(struct rl_cfg, f)

const struct cfg_opt rl_cfg_opts[] = {
	{ "RATE_LIMITER_LISTEN_URL", CFG_STR, O(listen_url),
	    "tcp://127.0.0.1:7031",
	    "request socket (RateCheck) to listen on" },
	{ "RATE_LIMITER_HTTP_ADDR", CFG_STR, O(http_addr), "0.0.0.0",
	    "address for /health, /ready and /metrics" },
	{ "RATE_LIMITER_HTTP_PORT", CFG_INT, O(http_port), "9103",
	    "port for /health, /ready and /metrics" },
	{ "RATE_LIMITER_WORKERS", CFG_INT, O(workers), "4",
	    "worker threads, each with its own database connection" },
	{ "DATABASE_URL", CFG_STR | CFG_SECRET, O(database_url), NULL,
	    "PostgreSQL URL or key=value DSN (sslmode honoured)" },
	{ "RATE_LIMIT_HMAC_KEY", CFG_STR | CFG_SECRET, O(hmac_key), NULL,
	    "key for HMAC-SHA256 of phone numbers and IPs (32+ bytes)" },
	{ "RATE_LIMIT_COUNTRIES", CFG_STR, O(countries), "US,CA,GB,AU,IN",
	    "allowed countries: ISO alpha-2 codes or +calling codes" },
	{ "RATE_LIMIT_PHONE_MAX", CFG_INT, O(phone_max), "2",
	    "calls per phone number per window (0: no limit)" },
	{ "RATE_LIMIT_PHONE_WINDOW_MS", CFG_INT, O(phone_window_ms), "3600000",
	    "rolling window of the phone limit" },
	{ "RATE_LIMIT_IP_MAX", CFG_INT, O(ip_max), "10",
	    "calls per client IP per window (0: no limit)" },
	{ "RATE_LIMIT_IP_WINDOW_MS", CFG_INT, O(ip_window_ms), "900000",
	    "rolling window of the IP limit" },
	{ "RATE_LIMIT_CLEANUP_MS", CFG_INT, O(cleanup_ms), "60000",
	    "how often old hits are deleted" },
	{ "RATE_LIMIT_MEMORY_MAX_KEYS", CFG_INT, O(memory_max_keys), "100000",
	    "keys the in-memory (degraded) window may hold" },
	{ "RATE_LIMIT_DNC_WHEN_DOWN", CFG_STR, O(dnc_when_down), "refuse",
	    "outbound calls while the do-not-call list cannot be read "
	    "(database down): refuse or allow" },
	{ "RATE_LIMIT_CALLING_HOURS", CFG_STR, O(calling_hours), "",
	    "HH:MM-HH:MM of the callee's local day in which outbound calls "
	    "may be placed (empty: any time)" },
	{ "LOG_LEVEL", CFG_STR, O(log_level), "info",
	    "debug, info, warn or error" },
	BUS_TLS_CFG_OPTS(struct rl_cfg, bus_tls),
	{ "SHUTDOWN_TIMEOUT_MS", CFG_INT, O(shutdown_timeout_ms), "10000",
	    "exit after this long even if shutdown is stuck" },
	{ NULL }
};
