#!/bin/bash
# run.sh - the five daemons and a local PostgreSQL in the foreground
# (`make run`).  make builds; this script only runs what is in $BUILD/bin.
#
#	make run                        everything on 127.0.0.1, Ctrl-C stops
#	scripts/run.sh --init-secrets DIR
#	                                random internal secrets as files in DIR
#	                                (compose.yaml's ./secrets) and the bus
#	                                certificates in DIR/bus, then exit
#
# Configuration: the environment, then .env in the current directory for
# whatever the environment does not set (see .env.example).  Real calls
# need the provider's auth token, the OpenAI and Anthropic keys and a
# public https URL (PUBLIC_URL) that reaches port 8080.  Internal secrets
# (stream token secret, rate-limit HMAC key, phone encryption key) that
# are not set are generated once into $BUILD/run-secrets/ and reused.
# DATABASE_URL set: that database; otherwise a private cluster in
# $BUILD/run-pg (tests/pg.sh; data kept between runs).
#
# Logs (JSON lines) go to $BUILD/run-logs/<daemon>.log and, unless
# RUN_QUIET=1, to the terminal.  SIGINT/SIGTERM: media-edge first (it
# drains its calls), then the others, each waited for; then PostgreSQL.
# The daemons run in their own sessions so that only this script sees a
# terminal's Ctrl-C and the order holds.
set -u

BUILD=${BUILD:-build/debug}
# RUN_BIN: the programs; RUN_DIR: secrets, logs, journal, PostgreSQL;
# RUN_ENV_FILE: the settings file.  Tests point them elsewhere.
BIN=${RUN_BIN:-$BUILD/bin}
STATE=${RUN_DIR:-$BUILD}
ENV_FILE=${RUN_ENV_FILE:-.env}
case $STATE in
/*) ;;
*) STATE=$PWD/$STATE ;;
esac
DAEMONS="persister rate-limiter reasoner ai-session media-edge"
READY_TIMEOUT_S=${RUN_READY_TIMEOUT_S:-20}

say() { printf 'run: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# 64 hex digits from the kernel's generator.
rand_hex() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }

# Writes $2 into file $1 (mode 0600) unless it exists.
put_secret() {
	[ -s "$1" ] && return 0
	(umask 077 && printf '%s' "$2" >"$1")
}

init_secrets() {
	dir=$1
	{ mkdir -p "$dir" && chmod 700 "$dir"; } || die "cannot create $dir"
	pw=$(rand_hex)
	put_secret "$dir/postgres_password" "$pw"
	pw=$(cat "$dir/postgres_password")
	put_secret "$dir/database_url" \
	    "postgresql://callbridge:$pw@postgres:5432/callbridge?sslmode=disable"
	put_secret "$dir/phone_encryption_key" "$(rand_hex)"
	put_secret "$dir/rate_limit_hmac_key" "$(rand_hex)"
	put_secret "$dir/stream_token_secret" "$(rand_hex)"
	put_secret "$dir/edge_api_token" "$(rand_hex)"
	put_secret "$dir/dashboard_secret" "$(rand_hex)"
	for k in twilio_auth_token openai_api_key anthropic_api_key; do
		if [ ! -s "$dir/$k" ]; then
			: >"$dir/$k"
			chmod 600 "$dir/$k"
			say "$dir/$k is empty: put the real key in it"
		fi
	done
	# the bus certificates (compose.yaml: tls+tcp:// between services);
	# made once, kept on later runs
	"$(dirname "$0")/bus-certs.sh" "$dir/bus" || die "bus certificates"
	say "secrets in $dir (internal ones generated; keep them: the phone" \
	    "encryption key decrypts stored numbers)"
}

if [ "${1:-}" = --init-secrets ]; then
	[ $# -eq 2 ] || die "usage: scripts/run.sh --init-secrets DIR"
	init_secrets "$2"
	exit 0
fi
[ $# -eq 0 ] || die "usage: scripts/run.sh [--init-secrets DIR]"

for d in $DAEMONS callctl; do
	[ -x "$BIN/$d" ] || die "$BIN/$d is missing: run it through make run"
done

# .env: NAME=value lines; the environment wins.
if [ -f "$ENV_FILE" ]; then
	while IFS= read -r line || [ -n "$line" ]; do
		case $line in
		'' | '#'*) continue ;;
		'export '*) line=${line#export } ;;
		esac
		name=${line%%=*}
		case $name in
		*[!A-Za-z0-9_]* | [0-9]*) say "$ENV_FILE: ignoring: $name"; continue ;;
		esac
		[ -n "${!name+x}" ] && continue
		val=${line#*=}
		# Strip one level of matching quotes.
		case $val in
		\"*\") val=${val#\"}; val=${val%\"} ;;
		\'*\') val=${val#\'}; val=${val%\'} ;;
		esac
		export "$name=$val"
	done <"$ENV_FILE"
	say "loaded $ENV_FILE"
fi

# Internal secrets: generated once, kept in $BUILD/run-secrets.
secrets=$STATE/run-secrets
mkdir -p "$secrets" && chmod 700 "$secrets"
local_secret() {	# VAR file
	if [ -z "${!1:-}" ] && [ -z "$(eval echo "\${$1_FILE:-}")" ]; then
		put_secret "$secrets/$2" "$(rand_hex)"
		export "$1_FILE=$secrets/$2"
	fi
}
local_secret EDGE_STREAM_TOKEN_SECRET stream-token-secret
local_secret RATE_LIMIT_HMAC_KEY rate-limit-hmac-key
local_secret PHONE_ENCRYPTION_KEY phone-encryption-key
local_secret EDGE_API_TOKEN edge-api-token
local_secret EDGE_DASHBOARD_SECRET dashboard-secret

# Provider and model keys cannot be made up: start without them (health,
# metrics and callctl work) and say so.
missing=""
for k in OPENAI_API_KEY ANTHROPIC_API_KEY TWILIO_AUTH_TOKEN; do
	if [ -z "${!k:-}" ] && [ -z "$(eval echo "\${${k}_FILE:-}")" ]; then
		missing="$missing $k"
		case $k in
		TWILIO_AUTH_TOKEN) ;;	# optional for the daemon
		*) export "$k=missing-$k" ;;
		esac
	fi
done
[ -n "$missing" ] && say "WARNING: not set:$missing. The daemons start," \
    "but real calls will fail (put them in .env; see .env.example)."
if [ -n "${PUBLIC_URL:-}" ] && [ -z "${EDGE_PUBLIC_URL:-}" ]; then
	export EDGE_PUBLIC_URL=$PUBLIC_URL
fi
[ -z "${EDGE_PUBLIC_URL:-}" ] && say "WARNING: PUBLIC_URL not set:" \
    "providers cannot reach this machine (webhooks, media streams)."

# Local defaults a one-host run wants (the environment wins).
: "${PERSISTER_SPOOL_DIR:=$STATE/run-spool}"
: "${EDGE_DRAIN_TIMEOUT_MS:=10000}"
export PERSISTER_SPOOL_DIR EDGE_DRAIN_TIMEOUT_MS
mkdir -p "$PERSISTER_SPOOL_DIR"

pg_started=""
pids=()
names=()
tail_pid=""
logs=$STATE/run-logs
mkdir -p "$logs"

stop_all() {
	trap '' INT TERM HUP
	local i rc
	# Reverse order: media-edge drains its calls first.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -0 "${pids[i]}" 2>/dev/null || continue
		say "stopping ${names[i]} (pid ${pids[i]})"
		kill -TERM "${pids[i]}" 2>/dev/null
		wait "${pids[i]}"
		rc=$?
		[ "$rc" -eq 0 ] || say "${names[i]} exited with status $rc"
	done
	if [ -n "$tail_pid" ]; then
		kill "$tail_pid" 2>/dev/null
		wait "$tail_pid" 2>/dev/null
	fi
	if [ -n "$pg_started" ]; then
		say "stopping PostgreSQL"
		tests/pg.sh stop "$STATE/run-pg" >/dev/null 2>&1
	fi
}

on_signal() {
	say "signal: shutting down"
	stop_all
	exit 0
}
trap on_signal INT TERM HUP

if [ -z "${DATABASE_URL:-}" ] && [ -z "${DATABASE_URL_FILE:-}" ]; then
	DATABASE_URL=$(tests/pg.sh start "$STATE/run-pg") ||
		die "cannot start PostgreSQL in $STATE/run-pg"
	export DATABASE_URL
	pg_started=1
	say "PostgreSQL: $DATABASE_URL (log $STATE/run-pg/postgres.log)"
fi

# Starts one daemon, waits for its "ready" line.
start() {
	local d=$1 log=$logs/$1.log t
	: >"$log"
	# Own session: a terminal's Ctrl-C reaches this script only, which
	# then stops the daemons in order (media-edge first).
	setsid "$BIN/$d" 2>>"$log" >>"$log" &
	pids+=($!)
	names+=("$d")
	for ((t = 0; t < READY_TIMEOUT_S * 10; t++)); do
		grep -q '"msg":"ready"' "$log" && return 0
		if ! kill -0 "${pids[-1]}" 2>/dev/null; then
			say "$d exited during start-up; its log:"
			tail -n 20 "$log" >&2
			return 1
		fi
		sleep 0.1
	done
	say "$d not ready after ${READY_TIMEOUT_S}s; its log:"
	tail -n 20 "$log" >&2
	return 1
}

for d in $DAEMONS; do
	if ! start "$d"; then
		stop_all
		exit 1
	fi
done

if [ "${RUN_QUIET:-0}" != 1 ]; then
	tail -n 0 -q -F "$logs"/*.log &
	tail_pid=$!
fi

cat >&2 <<EOF

The call bridge is running (logs: $logs/):
  media-edge    public HTTP ${EDGE_HTTP_ADDR:-0.0.0.0}:${EDGE_HTTP_PORT:-8080}   (webhooks, /media, /calls, /health, /metrics)
                request ${EDGE_LISTEN_URL:-tcp://127.0.0.1:7001}   pub ${EDGE_PUB_URL:-tcp://127.0.0.1:7002}
  ai-session    request ${AI_LISTEN_URL:-tcp://127.0.0.1:7011}   pub ${AI_PUB_URL:-tcp://127.0.0.1:7012}   http :${AI_HTTP_PORT:-9101}
  reasoner      request ${REASONER_LISTEN_URL:-tcp://127.0.0.1:7021}   http :${REASONER_HTTP_PORT:-9102}
  rate-limiter  request ${RATE_LIMITER_LISTEN_URL:-tcp://127.0.0.1:7031}   http :${RATE_LIMITER_HTTP_PORT:-9103}
  persister     request ${PERSISTER_LISTEN_URL:-tcp://127.0.0.1:7041}   http :${PERSISTER_HTTP_PORT:-9104}
Public URL: ${EDGE_PUBLIC_URL:-http://127.0.0.1:8080 (not reachable by a provider)}
POST /calls bearer token: ${EDGE_API_TOKEN_FILE:-(EDGE_API_TOKEN as set)}
Dashboard: ${EDGE_PUBLIC_URL:-http://127.0.0.1:8080}/dashboard   sign-in token: EDGE_DASHBOARD_SECRET_FILE=${EDGE_DASHBOARD_SECRET_FILE:-...} scripts/dashboard-token.sh
Check them:  $BIN/callctl health      Watch a call:  $BIN/callctl tap ai-session --call CA...
Ctrl-C stops everything.

EOF
"$BIN/callctl" health >&2

# Wait until a signal, or until a daemon dies on its own.
while :; do
	wait -n "${pids[@]}"
	for ((i = 0; i < ${#pids[@]}; i++)); do
		if ! kill -0 "${pids[i]}" 2>/dev/null; then
			wait "${pids[i]}"
			say "${names[i]} exited (status $?); stopping the rest"
			stop_all
			exit 1
		fi
	done
done
