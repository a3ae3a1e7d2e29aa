#!/bin/bash
# demo.sh - one simulated outbound call through the whole call bridge
# (`make demo`; make builds, this script only runs what is in $BUILD/bin).
#
# SIMULATION: no real phone call is made and no real AI service is used.
# A throwaway PostgreSQL (tests/pg.sh in build/demo-pg), the five daemons
# and three simulators run on 127.0.0.1 with secrets generated for this
# run only: sim-twilio plays the telephone provider (REST calls API,
# signed webhooks, the media stream, a callee who speaks a clip made by
# tests/sim/scripts/voice.h), sim-openai the realtime voice model
# (tests/sim/scripts/outbound.json), sim-anthropic the reasoning model.
#
# The script seeds one business and one lead, asks media-edge for the call
# with POST /calls, prints the transcript live as ai-session publishes it
# (callctl tap), then the call row persister stored.  It ends by itself
# (about 30 s), stops everything it started, and exits non-zero with the
# reason when the call did not complete.  DEMO_KEEP=1 keeps the scratch
# directory (logs) even on success; DEMO_PG_DIR moves the throwaway
# cluster (tests/integration/e2e_demo_test runs this script that way).
#
# DEMO_AI=real talks to the real OpenAI Realtime and Anthropic APIs
# instead of sim-openai and sim-anthropic: set OPENAI_API_KEY and
# ANTHROPIC_API_KEY (and any of OPENAI_REALTIME_URL, ANTHROPIC_MODEL, ...
# to override the daemons' defaults).  The telephone stays simulated; a
# real call is README.md's "Going live".  SIM_CAPTURE_DIR, when set, is
# passed to the simulators (tests/conformance).
set -u

BUILD=${BUILD:-build/debug}
BIN=$BUILD/bin
PGDIR=${DEMO_PG_DIR:-build/demo-pg}
LEAD_PHONE=+14155550123 # a fictional 555-01xx number
CALL_TIMEOUT_S=45

if [ -t 1 ]; then
	B=$'\e[1m' D=$'\e[2m' G=$'\e[32m' R=$'\e[31m' N=$'\e[0m'
else
	B='' D='' G='' R='' N=''
fi
say() { printf '%s\n' "$*"; }
step() { printf '%s==>%s %s\n' "$B" "$N" "$*"; }
die() {
	printf '%sdemo: %s%s\n' "$R" "$*" "$N" >&2
	exit 1
}

for b in persister rate-limiter reasoner ai-session media-edge callctl \
    sim-twilio sim-openai sim-anthropic; do
	[ -x "$BIN/$b" ] || die "$BIN/$b is missing: run it through 'make demo'"
done
command -v psql >/dev/null 2>&1 ||
	die "psql is missing (apt-get install postgresql)"
command -v cc >/dev/null 2>&1 || die "cc is missing (apt-get install gcc)"

work=$(mktemp -d /tmp/callbridge-demo.XXXXXX) || die "mktemp failed"
logs=$work/logs
mkdir -p "$logs"
pids=()
names=()
tap_pid=""
pg_started=""
ok=""

# ---- cleanup: everything this script started, in reverse order ----

stop_pid() { # pid name: SIGTERM, at most 15 s, then SIGKILL
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 150; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "demo: $2 did not stop in 15 s; killing it" >&2
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
}

cleanup() {
	local i
	trap '' INT TERM
	[ -n "$tap_pid" ] && stop_pid "$tap_pid" callctl
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		stop_pid "${pids[i]}" "${names[i]}"
	done
	if [ -n "$pg_started" ]; then
		tests/pg.sh stop "$PGDIR" >/dev/null 2>&1
		rm -rf "$PGDIR"
	fi
	if [ -n "$ok" ] && [ "${DEMO_KEEP:-0}" != 1 ]; then
		rm -rf "$work"
	else
		say "demo: logs kept in $logs" >&2
	fi
}
trap cleanup EXIT
trap 'say "demo: interrupted" >&2; exit 130' INT TERM

# ---- helpers ----

rand_hex() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }

# A loopback port nobody answers on, from $1 upwards (not one in $used).
used=" "
free_port() {
	local p
	for ((p = $1; p < $1 + 500; p++)); do
		case $used in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			used="$used$p "
			echo "$p"
			return 0
		fi
	done
	return 1
}

# Starts a program in its own session, waits for its "ready" line.
start() { # name args...
	local name=$1 log=$logs/$1.log t
	shift
	: >"$log"
	setsid "$BIN/$name" "$@" >"$log" 2>&1 &
	pids+=($!)
	names+=("$name")
	for ((t = 0; t < 200; t++)); do
		grep -q '"msg":"ready"' "$log" && return 0
		if ! kill -0 "${pids[-1]}" 2>/dev/null; then
			tail -n 15 "$log" >&2
			die "$name exited during start-up (log: $log)"
		fi
		sleep 0.1
	done
	tail -n 15 "$log" >&2
	die "$name not ready after 20 s (log: $log)"
}

# The port a simulator started with --port 0 reports in its ready line.
ready_port() {
	sed -n 's/.*"msg":"ready".*"port":\([0-9]*\).*/\1/p' "$logs/$1.log" |
		head -n 1
}

sql() { psql "$DSN" -X -q -v ON_ERROR_STOP=1 "$@"; }

# POST a JSON body with a bearer token: curl if present, else bash's
# /dev/tcp (Debian's postgresql and libcurl do not pull in curl).
post_json() { # url token body -> prints "STATUS BODY"
	local url=$1 token=$2 body=$3 hostport path host port resp
	if command -v curl >/dev/null 2>&1; then
		curl -sS -m 15 -o "$work/resp" -w '%{http_code}' \
		    -H "Authorization: Bearer $token" \
		    -H 'Content-Type: application/json' -d "$body" "$url" \
		    >"$work/code" || return 1
		printf '%s %s\n' "$(cat "$work/code")" "$(cat "$work/resp")"
		return 0
	fi
	hostport=${url#http://}
	path=/${hostport#*/}
	hostport=${hostport%%/*}
	host=${hostport%:*}
	port=${hostport##*:}
	exec 3<>"/dev/tcp/$host/$port" || return 1
	printf 'POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
	    "$path" "$hostport" "$token" "${#body}" "$body" >&3
	resp=$(timeout 15 cat <&3)
	exec 3<&-
	printf '%s %s\n' "$(printf '%s' "$resp" | head -n 1 | cut -d' ' -f2)" \
	    "${resp##*$'\r\n\r\n'}"
}

# ---- start ----

cat <<EOF
${B}============================================================
  SIMULATION: no real phone call is made.
  Twilio, OpenAI and Anthropic are played by local simulators;
  the five daemons and PostgreSQL are the real ones.
============================================================${N}
EOF

step "PostgreSQL (throwaway, $PGDIR)"
if [ -d "$PGDIR" ]; then # left over from an interrupted run
	tests/pg.sh stop "$PGDIR" >/dev/null 2>&1
	rm -rf "$PGDIR"
fi
pg_started=1 # from here on, cleanup stops it and removes its directory
if ! DSN=$(tests/pg.sh start "$PGDIR" 2>"$logs/pg.log"); then
	# As root, the server runs as user postgres, which cannot reach a
	# work tree under a private directory such as /root: use /tmp.
	grep -q 'not reachable' "$logs/pg.log" ||
		{ cat "$logs/pg.log" >&2; die "cannot start PostgreSQL in $PGDIR"; }
	rm -rf "$PGDIR"
	PGDIR=$(mktemp -d /tmp/callbridge-demo-pg.XXXXXX) || die "mktemp failed"
	say "  ($PGDIR instead: user postgres cannot reach $PWD)"
	DSN=$(tests/pg.sh start "$PGDIR" 2>"$logs/pg.log") ||
		{ cat "$logs/pg.log" >&2; die "cannot start PostgreSQL in $PGDIR"; }
fi

step "simulators and the five daemons (logs: $logs)"
cc -O2 -o "$work/gen-voice" tests/sim/scripts/gen-voice.c -lm ||
	die "cannot build tests/sim/scripts/gen-voice.c"
"$work/gen-voice" "$work/callee.wav" 950 || die "cannot make the callee's voice"

ACCOUNT=AC$(rand_hex | cut -c1-32)
TWILIO_TOKEN=$(rand_hex | cut -c1-32)
API_TOKEN=$(rand_hex)
OPENAI_KEY=sk-demo-$(rand_hex | cut -c1-16)
ANTHROPIC_KEY=sk-ant-demo-$(rand_hex | cut -c1-16)

case ${DEMO_AI:-sim} in
sim)
	start sim-anthropic --port 0 --api-key "$ANTHROPIC_KEY" \
	    --record "$logs/anthropic.jsonl"
	start sim-openai --port 0 --api-key "$OPENAI_KEY" \
	    --mode conversation --script tests/sim/scripts/outbound.json \
	    --record "$logs/openai.jsonl"
	;;
real)
	[ -n "${OPENAI_API_KEY:-}" ] && [ -n "${ANTHROPIC_API_KEY:-}" ] ||
		die "DEMO_AI=real needs OPENAI_API_KEY and ANTHROPIC_API_KEY"
	;;
*) die "DEMO_AI must be sim or real" ;;
esac
start sim-twilio --port 0 --account-sid "$ACCOUNT" \
    --auth-token "$TWILIO_TOKEN" --record "$logs/twilio.jsonl" \
    --ring-ms 300 --call-duration-ms 40000 \
    --caller-audio "$work/callee.wav" \
    --caller-speak-at-ms 400,5000,9200,13800
TW_PORT=$(ready_port sim-twilio)
used=" $TW_PORT "
if [ "${DEMO_AI:-sim}" = sim ]; then
	ANT_PORT=$(ready_port sim-anthropic)
	OAI_PORT=$(ready_port sim-openai)
	used="$used$ANT_PORT $OAI_PORT "
	# The Realtime model is ai-session's default (one place: its
	# config table); only the endpoint is the simulator's.
	OAI_MODEL=$("$BIN/ai-session" --help 2>&1 |
		sed -n 's/.*default: wss:.*[?&]model=\([^& ]*\).*/\1/p' | head -n 1)
	[ -n "$OAI_MODEL" ] || die "cannot read ai-session's default model"
fi

EDGE_PORT=$(free_port 18080) || die "no free port"
export LOG_LEVEL=info
export EDGE_LISTEN_URL=ipc://$work/edge.ipc EDGE_PUB_URL=ipc://$work/edge-pub.ipc
export AI_LISTEN_URL=ipc://$work/ai.ipc AI_PUB_URL=ipc://$work/ai-pub.ipc
export REASONER_LISTEN_URL=ipc://$work/reasoner.ipc
export RATE_LIMITER_LISTEN_URL=ipc://$work/rate-limiter.ipc
export PERSISTER_LISTEN_URL=ipc://$work/persister.ipc
export EDGE_URL=$EDGE_LISTEN_URL AI_SESSION_URL=$AI_LISTEN_URL
export REASONER_URL=$REASONER_LISTEN_URL
export RATE_LIMITER_URL=$RATE_LIMITER_LISTEN_URL
export PERSISTER_URL=$PERSISTER_LISTEN_URL
export EDGE_HTTP_ADDR=127.0.0.1 AI_HTTP_ADDR=127.0.0.1 \
    REASONER_HTTP_ADDR=127.0.0.1 RATE_LIMITER_HTTP_ADDR=127.0.0.1 \
    PERSISTER_HTTP_ADDR=127.0.0.1
export EDGE_HTTP_PORT=$EDGE_PORT
AI_HTTP_PORT=$(free_port 19101) || die "no free port"
REASONER_HTTP_PORT=$(free_port 19102) || die "no free port"
RATE_LIMITER_HTTP_PORT=$(free_port 19103) || die "no free port"
PERSISTER_HTTP_PORT=$(free_port 19104) || die "no free port"
export AI_HTTP_PORT REASONER_HTTP_PORT RATE_LIMITER_HTTP_PORT \
    PERSISTER_HTTP_PORT
export EDGE_HTTP_URL=http://127.0.0.1:$EDGE_PORT \
    AI_HTTP_URL=http://127.0.0.1:$AI_HTTP_PORT \
    REASONER_HTTP_URL=http://127.0.0.1:$REASONER_HTTP_PORT \
    RATE_LIMITER_HTTP_URL=http://127.0.0.1:$RATE_LIMITER_HTTP_PORT \
    PERSISTER_HTTP_URL=http://127.0.0.1:$PERSISTER_HTTP_PORT
export DATABASE_URL=$DSN
PHONE_ENCRYPTION_KEY=$(rand_hex)
RATE_LIMIT_HMAC_KEY=$(rand_hex)
EDGE_STREAM_TOKEN_SECRET=$(rand_hex)
export PHONE_ENCRYPTION_KEY RATE_LIMIT_HMAC_KEY EDGE_STREAM_TOKEN_SECRET
export EDGE_API_TOKEN=$API_TOKEN
export PERSISTER_SPOOL_DIR=$work/spool
if [ "${DEMO_AI:-sim}" = sim ]; then
	export ANTHROPIC_BASE_URL=http://127.0.0.1:$ANT_PORT
	export ANTHROPIC_API_KEY=$ANTHROPIC_KEY
	export OPENAI_REALTIME_URL="ws://127.0.0.1:$OAI_PORT/v1/realtime?model=$OAI_MODEL"
	export OPENAI_API_KEY=$OPENAI_KEY
fi
export EDGE_PUBLIC_URL=http://127.0.0.1:$EDGE_PORT EDGE_PROVIDER=twilio
export TWILIO_API_BASE_URL=http://127.0.0.1:$TW_PORT/2010-04-01
export TWILIO_ACCOUNT_SID=$ACCOUNT TWILIO_AUTH_TOKEN=$TWILIO_TOKEN
export TWILIO_FROM_NUMBER=+15005550006
export AI_SUMMARY_RETRY_MS=1000 EDGE_DRAIN_TIMEOUT_MS=3000
unset EDGE_TWILIO_AUTH_TOKEN NOTIFY_WEBHOOK_URL

start persister # applies the schema migrations
start rate-limiter
start reasoner
start ai-session
start media-edge
say "  media-edge on $EDGE_PUBLIC_URL, sim-twilio on :$TW_PORT," \
    "sim-openai on :$OAI_PORT, sim-anthropic on :$ANT_PORT"

step "seed: business Acme Plumbing, lead Dana (status new)"
sql -c "INSERT INTO businesses (id, name, description, voicemail_message)
	VALUES ('biz-demo', 'Acme Plumbing',
	    'Boiler servicing and heating repairs',
	    'Hi, this is Sam from Acme Plumbing about your yearly boiler service. Please call us back.');
	INSERT INTO leads (id, business_id, name)
	VALUES ('lead-demo', 'biz-demo', 'Dana');" ||
	die "cannot seed the database"

# The live transcript: ai-session publishes each finished turn.
# (callctl's own pid in tap_pid: the process substitution is not waited on)
"$BIN/callctl" tap ai-session --type transcript_turn --text --seconds 60 \
    2>"$logs/callctl.log" > >(sed -u "s/^/    ${D}|${N} /") &
tap_pid=$!
sleep 0.5

step "POST /calls: call Dana ($LEAD_PHONE) to book her boiler service"
body='{"to":"'$LEAD_PHONE'","lead_id":"lead-demo","objective":"Book Dana'"'"'s yearly boiler service; Thursday mornings suit the technician.","context":{"boiler":"Vaillant ecoTEC","last_service":"2025-11-02"}}'
resp=$(post_json "$EDGE_PUBLIC_URL/calls" "$API_TOKEN" "$body") ||
	die "POST /calls: media-edge did not answer"
code=${resp%% *}
say "  HTTP $code ${resp#* }"
case $code in
2??) ;;
*) die "POST /calls was refused (HTTP $code)" ;;
esac
sid=$(printf '%s' "$resp" | sed -n 's/.*"call_sid":"\([^"]*\)".*/\1/p')
[ -n "$sid" ] || die "POST /calls gave no call_sid"

step "the call (live transcript from ai-session):"
t0=$(date +%s)
hung_up="" # when sim-twilio said the call was over
done_sql="SELECT count(*) FROM calls WHERE call_sid = '$sid' AND ended_at IS NOT NULL AND NOT summary_pending AND summary IS NOT NULL"
while :; do
	n=$(sql -tA -c "$done_sql" 2>/dev/null)
	[ "$n" = 1 ] && break
	now=$(date +%s)
	if [ -z "$hung_up" ] &&
	    grep -q "call $sid: .* after" "$logs/sim-twilio.log"; then
		hung_up=$now
	fi
	if ((now - t0 > CALL_TIMEOUT_S)) ||
	    { [ -n "$hung_up" ] && ((now - hung_up > 15)); }; then
		say "" >&2
		say "${R}demo: the call did not complete: no finished call record" \
		    "$((now - t0)) s after POST /calls.${N}" >&2
		say "What the simulated provider says about the call:" >&2
		grep -h "$sid" "$logs/sim-twilio.log" | tail -n 6 | sed 's/^/  /' >&2
		say "Warnings and errors from the daemons:" >&2
		grep -h '"level":"\(warn\|error\)"' "$logs"/*.log | tail -n 12 |
			sed 's/^/  /' >&2
		say "The call row, if any:" >&2
		sql -x -c "SELECT call_sid, status, outcome, summary_pending, ended_at FROM calls WHERE call_sid = '$sid'" >&2
		die "FAILED: the simulated call did not complete end to end"
	fi
	sleep 0.5
done
sleep 0.3
stop_pid "$tap_pid" callctl
tap_pid=""

step "stored call record (persister -> PostgreSQL), $(($(date +%s) - t0)) s after POST /calls:"
sql -x -c "SELECT c.call_sid, c.direction, c.status, c.outcome,
	c.interest_level, c.next_action, c.appointment, c.duration_s AS
	duration_seconds, c.answered_by, c.end_reason,
	l.name AS lead, l.status AS lead_status,
	(SELECT count(*) FROM transcript_turns t WHERE t.call_sid = c.call_sid)
	    AS turns_stored,
	(SELECT count(*) FROM call_events e WHERE e.call_sid = c.call_sid)
	    AS provider_events,
	c.to_phone_enc IS NOT NULL AS phone_encrypted
	FROM calls c LEFT JOIN leads l ON l.id = c.lead_id
	WHERE c.call_sid = '$sid'"
say "summary:"
sql -tA -c "SELECT jsonb_pretty(summary) FROM calls WHERE call_sid = '$sid'" |
	sed 's/^/  /'
say "transcript:"
sql -tA -c "SELECT transcript FROM calls WHERE call_sid = '$sid'" |
	sed 's/^/  /'
lead=$(sql -tA -c "SELECT status FROM leads WHERE id = 'lead-demo'")
[ "$lead" != new ] || die "FAILED: the lead's status did not change"
ok=1
say "${G}demo: the simulated call completed; lead Dana is now '$lead'.${N}"
say "SIMULATION: no real phone call was made. Stopping everything."
