#!/usr/bin/env bash
# Regression: loop-thread sockets made on the main thread. libh2o keeps the socket
# input-buffer recycle list in a __thread variable and a socket uses the list of the
# thread that created it; when start() built every loop's queue, timer and shutdown
# sockets on the main thread, all loop threads shared one unlocked list and ferryd
# crashed (heap-use-after-free under ASan) once many offloaded calls completed at once.
# Drives that exact load: two loop threads, thousands of Slow calls finished on worker
# threads (each completion wakes its loop through the multithread queue), then a clean
# SIGTERM. Before the fix this failed about one run in two under ASan (heap-use-after-free
# in read() on a loop thread). Env: RPC_TEST_SERVER, N (calls per round).
set -uo pipefail
SRV=${RPC_TEST_SERVER:?}
command -v h2load >/dev/null || { echo "SKIP: h2load not installed (nghttp2-client)"; exit 77; }
T=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
printf 'leak:h2o_mem_alloc_recycle\n' >"$T/lsan.supp"
export LSAN_OPTIONS="suppressions=$T/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
FAILS=0
check() {
    local name=$1; shift
    if "$@"; then echo "ok   - $name"; else echo "FAIL - $name"; FAILS=$((FAILS + 1)); fi
}

"$SRV" --port 0 --port-file "$T/port" --threads 2 --workers 4 >"$T/out" 2>"$T/log" &
PID=$!
for _ in $(seq 200); do [ -s "$T/port" ] && break; sleep 0.05; done
[ -s "$T/port" ] || { echo "server did not start"; cat "$T/log"; exit 1; }
U=http://127.0.0.1:$(cat "$T/port")
printf '{"delayMs":0}' >"$T/slow.json"

N=${N:-300000}
for round in 1 2; do
    out=$(h2load -n "$N" -c 16 -m 16 -t 2 -d "$T/slow.json" -H 'content-type: application/json' \
        "$U/ferrytest.v1.TestService/Slow" 2>&1)
    ok=$(sed -n 's/.*status codes: \([0-9]*\) 2xx.*/\1/p' <<<"$out")
    check "round $round: $N offloaded calls on 2 loops all answered 2xx (got ${ok:-0})" [ "${ok:-0}" = "$N" ]
    check "round $round: server still running" kill -0 "$PID"
done
kill -TERM "$PID"
rc=0
for _ in $(seq 200); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$PID" 2>/dev/null; then
    rc=timeout
else
    wait "$PID"
    rc=$?
fi
PID=
check "SIGTERM: clean exit 0 (got $rc)" [ "$rc" = 0 ]
if [ "$FAILS" -ne 0 ]; then
    echo "--- server log (tail)"
    tail -40 "$T/log"
    exit 1
fi
