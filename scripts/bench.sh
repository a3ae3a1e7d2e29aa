#!/bin/sh
# bench.sh - the audio-path load test behind `make bench`.
#
# Starts sim-openai (--mode echo --tags), ai-session and media-edge from
# $BUILD/bin on loopback, drives BENCH_CALLS concurrent sim-caller calls
# (--tags) for BENCH_SECONDS, and prints: calls, frames sent / received /
# lost (start, middle, end), round trip p50 / p99 / max, CPU milliseconds
# per call-second of each process over the steady window (from
# /proc/<pid>/stat utime+stime), and resident KiB per call (VmRSS over the
# idle baseline, divided by the calls).
#
#   BUILD=build/release scripts/bench.sh
#   BENCH_CALLS=200 BENCH_SECONDS=20 BUILD=build/release scripts/bench.sh
#
# Bounded: at most 2000 calls and 300 s; everything started is stopped on
# exit.  BENCH_RAMP_MS (default: 5 ms per call) spreads the call starts.
set -u

BUILD=${BUILD:-build/release}
CALLS=${BENCH_CALLS:-1000}
SECS=${BENCH_SECONDS:-30}
RAMP_MS=${BENCH_RAMP_MS:-$((CALLS * 5))}
BIN=$(pwd)/$BUILD/bin
SECRET=bench-stream-secret-0123456789

[ "$CALLS" -ge 1 ] && [ "$CALLS" -le 2000 ] || {
	echo "bench: BENCH_CALLS must be 1..2000" >&2; exit 2; }
[ "$SECS" -ge 5 ] && [ "$SECS" -le 300 ] || {
	echo "bench: BENCH_SECONDS must be 5..300" >&2; exit 2; }
for b in media-edge ai-session sim-openai sim-caller; do
	[ -x "$BIN/$b" ] || { echo "bench: $BIN/$b not built" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/bench.XXXXXX)
PIDS=""
cleanup() {
	for p in $PIDS; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $PIDS; do
		wait "$p" 2>/dev/null
	done
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_ready() {	# log name
	i=0
	while ! grep -q '"msg":"ready"' "$1" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "bench: $2 not ready; log:" >&2
			tail -5 "$1" >&2
			exit 1
		fi
		sleep 0.1
	done
}

cpu_ticks() {	# utime + stime of a pid
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

rss_kib() {
	awk '/^VmRSS/ { print $2 }' "/proc/$1/status"
}

"$BIN/sim-openai" --port 0 --mode echo --tags 2>"$TMP/sim-openai.log" &
OAI=$!
PIDS="$PIDS $OAI"
wait_ready "$TMP/sim-openai.log" sim-openai
OAI_PORT=$(sed -n 's/.*"msg":"ready".*"port":\([0-9]*\).*/\1/p' \
    "$TMP/sim-openai.log" | head -1)
[ -n "$OAI_PORT" ] || OAI_PORT=$(sed -n \
    's/.*"port":\([0-9]*\).*"msg":"ready".*/\1/p' "$TMP/sim-openai.log" |
    head -1)

AI_URL=ipc://$TMP/ai.ipc
AI_PORT=$(free_port)
OPENAI_API_KEY=sk-bench \
OPENAI_REALTIME_URL="ws://127.0.0.1:$OAI_PORT/v1/realtime?model=gpt-realtime-2" \
AI_LISTEN_URL=$AI_URL AI_PUB_URL=ipc://$TMP/aipub.ipc \
AI_HTTP_ADDR=127.0.0.1 AI_HTTP_PORT=$AI_PORT \
AI_MAX_CALLS=$((CALLS + 100)) PERSISTER_URL= REASONER_URL= \
LOG_LEVEL=info "$BIN/ai-session" 2>"$TMP/ai-session.log" &
AI=$!
PIDS="$PIDS $AI"

EDGE_PORT=$(free_port)
AI_SESSION_URL=$AI_URL EDGE_LISTEN_URL=ipc://$TMP/edge.ipc \
EDGE_PUB_URL=ipc://$TMP/edgepub.ipc EDGE_HTTP_ADDR=127.0.0.1 \
EDGE_HTTP_PORT=$EDGE_PORT EDGE_STREAM_TOKEN_SECRET=$SECRET \
EDGE_MAX_CALLS=$((CALLS + 100)) LOG_LEVEL=info \
"$BIN/media-edge" 2>"$TMP/media-edge.log" &
EDGE=$!
PIDS="$PIDS $EDGE"
wait_ready "$TMP/ai-session.log" ai-session
wait_ready "$TMP/media-edge.log" media-edge

sleep 1
EDGE_RSS0=$(rss_kib $EDGE)
AI_RSS0=$(rss_kib $AI)

"$BIN/sim-caller" --url "ws://127.0.0.1:$EDGE_PORT/media" --calls "$CALLS" \
    --duration-ms $((SECS * 1000)) --ramp-ms "$RAMP_MS" --drain-ms 1000 \
    --tags --token-secret "$SECRET" --report "$TMP/report.json" \
    >/dev/null 2>"$TMP/sim-caller.log" &
CALLER=$!
PIDS="$PIDS $CALLER"

# Steady window: every call is up (ramp + 2 s) until 2 s before the
# first calls end.
START_S=$(( (RAMP_MS + 999) / 1000 + 2 ))
END_S=$(( SECS - 2 ))
if [ $END_S -le $START_S ]; then
	echo "bench: BENCH_SECONDS too short for the ramp" >&2
	exit 2
fi
WIN_S=$((END_S - START_S))
sleep "$START_S"
T_EDGE0=$(cpu_ticks $EDGE); T_AI0=$(cpu_ticks $AI)
T_OAI0=$(cpu_ticks $OAI); T_CALLER0=$(cpu_ticks $CALLER)
sleep $((WIN_S / 2))
EDGE_RSS=$(rss_kib $EDGE)
AI_RSS=$(rss_kib $AI)
sleep $((WIN_S - WIN_S / 2))
T_EDGE1=$(cpu_ticks $EDGE); T_AI1=$(cpu_ticks $AI)
T_OAI1=$(cpu_ticks $OAI); T_CALLER1=$(cpu_ticks $CALLER)
ACTIVE=$(curl -s "http://127.0.0.1:$EDGE_PORT/metrics" |
    awk '$1 == "edge_active_calls" { print $2 }')

wait $CALLER
PIDS=$(echo "$PIDS" | sed "s/ $CALLER//")
curl -s "http://127.0.0.1:$EDGE_PORT/metrics" >"$TMP/edge-metrics.txt"
curl -s "http://127.0.0.1:$AI_PORT/metrics" >"$TMP/ai-metrics.txt"

HZ=$(getconf CLK_TCK)
python3 - "$TMP/report.json" "$CALLS" "$WIN_S" "$HZ" \
    "$T_EDGE0" "$T_EDGE1" "$T_AI0" "$T_AI1" "$T_OAI0" "$T_OAI1" \
    "$T_CALLER0" "$T_CALLER1" "$EDGE_RSS0" "$EDGE_RSS" "$AI_RSS0" \
    "$AI_RSS" "$ACTIVE" "$TMP/edge-metrics.txt" "$TMP/ai-metrics.txt" <<'EOF'
import json, sys
a = sys.argv
rep = json.load(open(a[1]))
calls, win, hz = int(a[2]), int(a[3]), int(a[4])
t = [int(x) for x in a[5:13]]
rss = [int(x) for x in a[13:17]]
active = a[17]
callsec = calls * win
def cpu(i):
    return (t[i + 1] - t[i]) * 1000.0 / hz / callsec
lost = rep.get("lost") or {}
rtt = rep.get("rtt_ms") or {}
print("calls            %d (connected %d, completed %d, active in window %s)"
      % (calls, rep["connected"], rep["completed"], active))
print("frames           sent %d, received %d, lost %d (start %d, middle %d, end %d)"
      % (rep["frames_sent"], rep["frames_received"], lost.get("total", -1),
         lost.get("start", -1), lost.get("middle", -1), lost.get("end", -1)))
print("round trip ms    p50 %s, p99 %s, max %s (%s samples)"
      % (rtt.get("p50"), rtt.get("p99"), rtt.get("max"), rtt.get("samples")))
print("CPU ms/call-s    media-edge %.3f, ai-session %.3f, together %.3f"
      % (cpu(0), cpu(2), cpu(0) + cpu(2)))
print("                 (sim-openai %.3f, sim-caller %.3f; window %d s)"
      % (cpu(4), cpu(6), win))
e = (rss[1] - rss[0]) / calls
i = (rss[3] - rss[2]) / calls
print("RSS KiB/call     media-edge %.1f, ai-session %.1f, together %.1f"
      % (e, i, e + i))
print("close codes      %s" % json.dumps(rep.get("close_codes")))
drops = [l.strip() for l in open(a[18])
         if l.startswith("edge_audio_frames_dropped_total") and not l.rstrip().endswith(" 0")]
if drops:
    print("edge drops       " + "; ".join(drops))
def metric(path, name):
    for l in open(path):
        if l.startswith(name + " "):
            return float(l.split()[-1])
    return 0.0
eb = metric(a[18], 'edge_bus_batches_total{result="sent"}')
ei = metric(a[18], "edge_bus_batch_items_sent_total")
ab = metric(a[19], 'ai_bus_batches_total{direction="out"}')
ai = metric(a[19], "ai_bus_batch_items_sent_total")
print("bus batches      media-edge %d (%.1f items each), ai-session %d "
      "(%.1f items each); whole run"
      % (eb, ei / eb if eb else 0, ab, ai / ab if ab else 0))
EOF
