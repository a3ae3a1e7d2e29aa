/*
 * config - the persister's environment table.
 */
#include "bus.h"
#include "cfg.h"
#include "persister.h"

#define O(f) CFG_OFF(struct ps_cfg, f)

const struct cfg_opt ps_cfg_opts[] = {
	{ "PERSISTER_LISTEN_URL", CFG_STR, O(listen_url),
	    "tcp://127.0.0.1:7041", "request socket to listen on" },
	{ "PERSISTER_HTTP_ADDR", CFG_STR, O(http_addr), "0.0.0.0",
	    "address for /health, /ready and /metrics" },
	{ "PERSISTER_HTTP_PORT", CFG_INT, O(http_port), "9104",
	    "port for /health, /ready and /metrics" },
	{ "PERSISTER_WORKERS", CFG_INT, O(workers), "4",
	    "worker threads, each with its own database connection" },
	{ "DATABASE_URL", CFG_STR | CFG_SECRET, O(database_url), NULL,
	    "PostgreSQL URL or key=value DSN (sslmode honoured)" },
	{ "PHONE_ENCRYPTION_KEY", CFG_STR | CFG_SECRET, O(phone_key), NULL,
	    "AES-256-GCM key for phone numbers: 64 hex digits or base64" },
	{ "PERSISTER_SPOOL_DIR", CFG_STR, O(spool_dir), "/var/lib/persister",
	    "directory of the local journal (one per persister process)" },
	{ "PERSISTER_SPOOL_MAX_BYTES", CFG_INT, O(spool_max_bytes),
	    "268435456", "journal size at which writes are refused" },
	{ "PERSISTER_IDEMPOTENCY_TTL_MS", CFG_INT, O(idempotency_ttl_ms),
	    "604800000", "how long idempotency keys are kept" },
	{ "LOG_LEVEL", CFG_STR, O(log_level), "info",
	    "debug, info, warn or error" },
	BUS_TLS_CFG_OPTS(struct ps_cfg, bus_tls),
	{ "SHUTDOWN_TIMEOUT_MS", CFG_INT, O(shutdown_timeout_ms), "10000",
	    "exit after this long even if shutdown is stuck" },
	{ NULL }
};
