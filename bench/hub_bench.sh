#!/usr/bin/env bash
# Hub benchmark (issue 4; not a timed test). Steps:
#  1. `ferryd init` a data dir and bulk-insert NODES (100,000) nodes with node tokens
#     straight into SQLite (bench/hub_seed.py), then `ferryd serve`.
#  2. CheckIn load with h2load on loopback (h2c): Connect+proto, empty CheckInRequest.
#     h2load sends the same headers on every request, so each h2load run uses ONE
#     node token; we run P h2load processes in parallel with distinct nodes (the
#     auth cache makes the per-token cost after the first lookup identical, and the
#     per-node presence update is per request either way). Prints req/s, p50/p99
#     latency (h2load's request-time distribution) and server CPU per call from
#     /proc/PID/stat, beside GET /healthz (inline reply) in the same run.
#  3. STREAMS (10,000) concurrent WatchAssignments streams held open (one connection
#     and one node token each, bench/hub_streams.py) and the server's RSS.
# Targets: >= 20,000 CheckIn/s, p99 < 10 ms, 10k streams < 300 MB RSS.
# Usage: bench/hub_bench.sh [BUILD_DIR]. Env: NODES, N (requests per run), C, M, P, STREAMS.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
FERRYD=$BUILD/server/ferryd
NODES=${NODES:-100000}
N=${N:-200000}
C=${C:-4}
M=${M:-16}
P=${P:-2}
STREAMS=${STREAMS:-10000}
command -v h2load >/dev/null || { echo "h2load not found (apt-get install nghttp2-client)"; exit 1; }
[ -x "$FERRYD" ] || { echo "$FERRYD not built"; exit 1; }
T=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$T"' EXIT
"$FERRYD" init --data-dir "$T/d" >/dev/null 2>&1 || { echo "this ferryd cannot run the hub yet ('ferryd init' failed)"; exit 1; }
echo "seeding $NODES nodes..."
python3 "$ROOT/bench/hub_seed.py" "$T/d/ferry.db" "$T/nodes" "$NODES"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ulimit -n 65536 2>/dev/null || true
"$FERRYD" serve --data-dir "$T/d" --listen "127.0.0.1:$PORT" >"$T/log" 2>&1 &
PID=$!
U=http://127.0.0.1:$PORT
for _ in $(seq 200); do curl -sf -o /dev/null "$U/healthz" && break; sleep 0.05; done
TCK=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
: >"$T/empty"

# run NAME PROCS -- h2load args (a %TOKEN% in the args becomes a distinct node token per process)
run() {
    local name=$1 procs=$2; shift 3
    local t0 t1 start end i
    t0=$(cpu); start=$(date +%s.%N)
    for i in $(seq "$procs"); do
        tok=$(sed -n "$((i * 7 + 1))p" "$T/nodes" | cut -d' ' -f2)
        h2load -n $((N / procs)) -c "$C" -m "$M" -t 1 "${@//%TOKEN%/$tok}" >"$T/h2.$i" 2>&1 &
    done
    wait $(jobs -p | grep -v "^$PID$") 2>/dev/null || true
    end=$(date +%s.%N); t1=$(cpu)
    local ok rps p50 p99 us
    ok=$(cat "$T"/h2.* | sed -n 's/.*status codes: \([0-9]*\) 2xx.*/\1/p' | awk '{s+=$1} END{print s}')
    rps=$(awk -v n="$ok" -v a="$start" -v b="$end" 'BEGIN{printf "%.0f", n / (b - a)}')
    # h2load "time for request: min max mean sd" -> mean; p50/p99 from per-process summaries
    p50=$(cat "$T"/h2.* | awk '/time for request:/{print $6}' | head -1)
    p99=$(cat "$T"/h2.* | awk '/time for request:/{print $5}' | sort -h | tail -1)
    us=$(awk -v d=$((t1 - t0)) -v tck="$TCK" -v n="$ok" 'BEGIN{printf "%.2f", d / tck * 1e6 / n}')
    printf '%-10s %8s req/s  mean %-8s max %-8s server CPU %s us/call  (%s of %s 2xx)\n' \
        "$name" "$rps" "$p50" "$p99" "$us" "$ok" "$N"
    rm -f "$T"/h2.*
}
# Warm-up (caches, page cache), then the inline baseline and CheckIn in the same run.
h2load -n 2000 -c 2 -m 8 -t 1 "$U/healthz" >/dev/null
run healthz "$P" -- "$U/healthz"
run CheckIn "$P" -- -H "authorization: Bearer %TOKEN%" -H 'content-type: application/proto' -d "$T/empty" \
    "$U/ferry.v1.AgentService/CheckIn"
echo "note: h2load prints mean/max, not percentiles; p99 < max"

rss0=$(awk '/VmRSS/{print $2}' "/proc/$PID/status")
python3 "$ROOT/bench/hub_streams.py" "$U" "$T/nodes" "$STREAMS" 20 &
SP=$!
sleep 15
rss=$(awk '/VmRSS/{print $2}' "/proc/$PID/status")
echo "streams: $STREAMS requested; server RSS before $((rss0 / 1024)) MB, with streams $((rss / 1024)) MB"
wait $SP
