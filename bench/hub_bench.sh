#!/usr/bin/env bash
# Hub benchmark (issue 4; not a timed test). One ferryd, loopback, h2c:
#  1. `ferryd init` a data dir and bulk-insert NODES (100,000) nodes with node tokens
#     straight into SQLite (bench/hub_seed.py), then `ferryd serve`.
#  2. CheckIn (Connect+proto, empty CheckInRequest) driven by bench/loadgen/ferry_loadgen:
#     C connections x M streams, every request with the NEXT node token of the seeded
#     list (round robin over all NODES tokens, so the server's 5 s token cache does not
#     hit 100%). First one "first contact" pass over every node (each node's first
#     check-in since ferryd started asks the database for open tasks), then ROUNDS
#     rounds of: GET /healthz (h2o_send_inline: the inline-reply baseline) and CheckIn,
#     N requests each as fast as they go (closed loop), then CheckIn paced at RATE
#     (20,000) req/s for N requests: at that rate a node's token comes back every
#     NODES/RATE = 5 s, the auth cache's lifetime, so nearly every call verifies its
#     token in SQLite again, as with a real fleet's poll interval; its latency counts
#     from when each request was due. Prints req/s, p50/p90/p99/max latency, server
#     CPU per call (utime+stime of ferryd from /proc/PID/stat around the load) and
#     the CPU ratio CheckIn / inline.
#  3. STREAMS (10,000) WatchAssignments streams (Connect server streaming, one
#     connection and one node token each) held HOLD seconds; ferryd's VmRSS/VmHWM
#     (/proc/PID/status) with them open, and per stream. With PUSH=1 (default) a
#     configuration push during the hold (issue 12): `ferry config template put` and
#     `ferry config assign` to the customer of every node; the loadgen marks the moment
#     (SIGUSR1) and times each stream's first pushed message from it: how long until all
#     STREAMS watching nodes received their rendered configuration.
# Targets: >= 20,000 CheckIn/s with p99 < 10 ms on 2 cores; 10k streams in < 300 MB RSS.
#
# Usage: bench/hub_bench.sh [BUILD_DIR]   (default: build; needs server/ferryd and
#        bench/ferry_loadgen, which is built when libnghttp2-dev is installed)
# Env:   NODES=100000 N=200000 C=4 M=16 ROUNDS=2 RATE=20000 STREAMS=10000 HOLD=30 THREADS=2
#        TASKS=1: seed one release with a Pending task per node (hub_seed.py --tasks);
#        WINDOW=HH:MM-HH:MM: give that release a maintenance window (issue 13; a window
#        closed at the nodes' time holds every task: CheckIn must go back to memory).
#        PERF=1: also `perf record -g` ferryd during the last CheckIn round (report in
#        $PERF_OUT, default /tmp/hub_bench.perf.data).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
FERRYD=$BUILD/server/ferryd
FERRY=$BUILD/cli/ferry
LOADGEN=$BUILD/bench/ferry_loadgen
NODES=${NODES:-100000}
N=${N:-200000}
C=${C:-4}
M=${M:-16}
ROUNDS=${ROUNDS:-2}
RATE=${RATE:-20000}
STREAMS=${STREAMS:-10000}
HOLD=${HOLD:-30}
THREADS=${THREADS:-2}
PERF=${PERF:-0}
PUSH=${PUSH:-1}
TASKS=${TASKS:-}
WINDOW=${WINDOW:-}
PERF_OUT=${PERF_OUT:-/tmp/hub_bench.perf.data}
[ -x "$FERRYD" ] || { echo "$FERRYD not built (cmake --build $BUILD --target ferryd)"; exit 1; }
[ -x "$LOADGEN" ] || {
    echo "$LOADGEN not built: install libnghttp2-dev (scripts/install-deps.sh), re-run cmake, then"
    echo "cmake --build $BUILD --target ferry_loadgen"
    exit 1
}
# 10,000 streams = 10,000 connections on each side, plus slack.
need_fds=$((STREAMS + 1024))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need_fds" ]; then
    ulimit -n "$need_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need_fds" ]; then
    echo "note: ulimit -n is $(ulimit -n) (hard limit $(ulimit -Hn)); $STREAMS streams need $need_fds:" \
        "lowering STREAMS"
    STREAMS=$(($(ulimit -n) - 1024))
fi

T=$(mktemp -d)
PID=
cleanup() {
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$T"
}
trap cleanup EXIT

"$FERRYD" init --data-dir "$T/d" --json >"$T/init.json" 2>&1 || { echo "'ferryd init' failed"; exit 1; }
ADMIN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["adminToken"])' "$T/init.json")
s0=$(date +%s.%N)
python3 "$ROOT/bench/hub_seed.py" "$T/d/ferry.db" "$T/nodes" "$NODES" ${TASKS:+--tasks}
if [ -n "$WINDOW" ]; then # the seeded release gets a maintenance window (minutes after midnight)
    python3 - "$T/d/ferry.db" "$WINDOW" <<'PY'
import sqlite3, sys
a, b = sys.argv[2].split("-")
m = lambda t: int(t[:2]) * 60 + int(t[3:])
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE release SET window_start = ?, window_end = ?", (m(a), m(b)))
db.commit()
PY
fi
s1=$(date +%s.%N)
cut -d' ' -f2 "$T/nodes" >"$T/tokens" # lines are "node_code token task_id"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$FERRYD" serve --data-dir "$T/d" --listen "127.0.0.1:$PORT" --threads "$THREADS" >"$T/log" 2>&1 &
PID=$!
U=http://127.0.0.1:$PORT
for _ in $(seq 200); do curl -sf -o /dev/null "$U/healthz" && break; sleep 0.05; done
curl -sf -o /dev/null "$U/healthz" || { echo "ferryd did not start:"; cat "$T/log"; exit 1; }
: >"$T/empty" # CheckInRequest{} (Connect unary: the bare message)
printf '\0\0\0\0\0' >"$T/envelope" # WatchAssignmentsRequest{} in one Connect envelope

echo "hub_bench: $NODES nodes (seeded in $(awk -v a="$s0" -v b="$s1" 'BEGIN{printf "%.1f", b - a}') s)," \
    "ferryd --threads $THREADS, loadgen c=$C m=$M n=$N, h2c loopback, $(nproc) CPUs"

kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }

# load NAME ARGS... -> runs the loadgen, prints one row, fails the bench on any non-2xx
load() {
    local name=$1 out
    shift
    if ! out=$("$LOADGEN" -c "$C" -m "$M" --cpu-pid "$PID" "$@"); then
        echo "$name: FAILED: $out"
        exit 1
    fi
    printf '%-24s %9s %8s %8s %8s %8s %10s\n' "$name" "$(kv "$out" rps)" "$(kv "$out" p50_ms)" \
        "$(kv "$out" p90_ms)" "$(kv "$out" p99_ms)" "$(kv "$out" max_ms)" "$(kv "$out" server_cpu_us_per_req)"
    echo "$out" >>"$T/results"
}
checkin() {
    local name=$1 n=$2
    shift 2
    load "$name" -n "$n" "$@" -d "$T/empty" -T application/proto -k "$T/tokens" "$U/ferry.v1.AgentService/CheckIn"
}
healthz() {
    local name=$1 n=$2
    shift 2
    load "$name" -n "$n" "$@" "$U/healthz"
}

printf '%-24s %9s %8s %8s %8s %8s %10s\n' case req/s p50_ms p90_ms p99_ms max_ms "cpu_us/req"
healthz "warm-up /healthz" 20000 >/dev/null
checkin "CheckIn first contact" "$NODES"
: >"$T/results"
for r in $(seq "$ROUNDS"); do
    healthz "inline /healthz #$r" "$N"
    if [ "$PERF" = 1 ] && [ "$r" = "$ROUNDS" ]; then
        perf record -g -o "$PERF_OUT" -p "$PID" >/dev/null 2>&1 &
        PERFPID=$!
        checkin "CheckIn #$r" "$N"
        kill -INT "$PERFPID"
        wait "$PERFPID" || true
        echo "perf profile of ferryd during CheckIn #$r: perf report -i $PERF_OUT"
    else
        checkin "CheckIn #$r" "$N"
    fi
    healthz "inline @${RATE}/s #$r" "$N" -r "$RATE"
    checkin "CheckIn @${RATE}/s #$r" "$N" -r "$RATE"
done

# CPU per call: the best round of each case (the machine is shared: noise only adds).
best_us() { # PACED_RPS TOKENS
    grep " paced_rps=$1 tokens=$2\$" "$T/results" | sed -n 's/.* server_cpu_us_per_req=\([^ ]*\).*/\1/p' |
        sort -g | head -1
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", (b > 0 ? a / b : 0)}'; }
inline_us=$(best_us 0 0)
ci_us=$(best_us 0 "$NODES")
inline_paced_us=$(best_us "$RATE" 0)
ci_paced_us=$(best_us "$RATE" "$NODES")
echo
echo "server CPU per call, best round (CPU per call grows at a fixed rate: fewer calls share each wakeup):"
printf '  %-20s inline %7s us, CheckIn %7s us -> ratio %sx\n' "as fast as it goes:" "$inline_us" "$ci_us" \
    "$(ratio "$ci_us" "$inline_us")"
printf '  %-20s inline %7s us, CheckIn %7s us -> ratio %sx\n' "at $RATE req/s:" "$inline_paced_us" \
    "$ci_paced_us" "$(ratio "$ci_paced_us" "$inline_paced_us")"
grep " tokens=$NODES\$" "$T/results" | awk -v rounds="$ROUNDS" '{
    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    met += (v["rps"] >= 20000 * 0.98 && v["p99_ms"] < 10) }
    END { printf "CheckIn target >= 20000 req/s with p99 < 10 ms: met in %d of %d runs -> %s\n",
          met, 2 * rounds, (met == 2 * rounds ? "MET" : "MISSED") }'

# ---- streams ---------------------------------------------------------------------------
status() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$PID/status"; }
streams_open() { curl -sf "$U/metrics" | awk '$1 == "ferry_streams_open" {print $2}'; }
rss0=$(status VmRSS)
echo
echo "streams: opening $STREAMS WatchAssignments streams (one connection and node token each), holding ${HOLD}s"
"$LOADGEN" -c "$STREAMS" -m 1 --hold "$HOLD" -d "$T/envelope" -T application/connect+proto \
    -H 'connect-protocol-version: 1' -k "$T/tokens" "$U/ferry.v1.AgentService/WatchAssignments" \
    >"$T/hold.out" 2>"$T/hold.err" &
HP=$!
for _ in $(seq 600); do grep -q '^ready\|^mode=hold' "$T/hold.out" && break; sleep 0.1; done
open=0
for _ in $(seq 300); do
    open=$(streams_open || echo 0)
    [ "${open:-0}" -ge "$STREAMS" ] && break
    sleep 0.1
done
sleep 1
rss=$(status VmRSS)
hwm=$(status VmHWM)
threads=$(status Threads)
if [ "$PUSH" = 1 ] && [ -x "$FERRY" ]; then
    printf '{"app": {"node": "${node.code}", "store": "${store.code}"}}' >"$T/tpl.json"
    FERRY_SERVER=$U FERRY_TOKEN=$ADMIN "$FERRY" config template put --name bench --type SERVER \
        --target config/bench.json --file "$T/tpl.json" >/dev/null
    kill -USR1 "$HP" # the mark: pushed messages are timed from here
    a0=$(date +%s.%N)
    FERRY_SERVER=$U FERRY_TOKEN=$ADMIN "$FERRY" config assign --template bench --customer BENCH --json \
        >"$T/assign.json"
    a1=$(date +%s.%N)
fi
hold_rc=0
wait "$HP" || hold_rc=$?
cat "$T/hold.err" >&2
sed -n 's/^/  loadgen: /p' "$T/hold.out"
if [ "$PUSH" = 1 ] && [ -n "${a1:-}" ]; then
    mk=$(grep '^mark ' "$T/hold.out" || true)
    awk -v a="$a0" -v b="$a1" -v n="$STREAMS" -v got="$(kv "$mk" streams_with_message)" \
        -v p50="$(kv "$mk" p50_ms)" -v p99="$(kv "$mk" p99_ms)" -v last="$(kv "$mk" last_ms)" 'BEGIN{
        printf "config push: AssignConfig to %d nodes took %.2f s; streams that received it: %d of %d;", n, b - a, got, n
        printf " from the mark p50 %.0f ms, p99 %.0f ms, all %.0f ms -> %s\n", p50, p99, last,
            (got + 0 >= n + 0 ? "all received" : "NOT all received within the hold")}'
fi
echo "  server streams open (ferry_streams_open): $open of $STREAMS"
awk -v a="$rss0" -v b="$rss" -v h="$hwm" -v n="$STREAMS" -v th="$threads" 'BEGIN{
    printf "  ferryd VmRSS before %.1f MB, with streams %.1f MB (VmHWM %.1f MB, %d threads); %.2f KB per stream\n",
        a / 1024, b / 1024, h / 1024, th, (n > 0 ? (b - a) / n : 0)
    printf "  streams target: %d held in < 300 MB RSS -> %s\n", n, ((b / 1024 < 300) ? "MET" : "MISSED")}'
[ "$hold_rc" = 0 ] && [ "${open:-0}" -ge "$STREAMS" ] || { echo "streams: FAILED (not all held)"; exit 1; }
