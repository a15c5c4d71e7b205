#!/usr/bin/env bash
# Crash test (issue 4): kill -9 ferryd while reports are being written; after a
# restart every ACKNOWLEDGED report is in the history and PRAGMA integrity_check is ok.
#
# W writers (one node + task each) send ReportProgress (Connect JSON over curl) with
# increasing sequences and log "task seq" only after a 200 answer (= acknowledged,
# which the hub gives only after its synchronous=FULL commit). ferryd is killed -9 in
# the middle, restarted on the same data dir, and every logged pair must be a
# task_event row. Skips (77) when this ferryd cannot run the hub yet.
set -uo pipefail
BUILD=${FERRY_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
SRC=${FERRY_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
FERRYD=$BUILD/server/ferryd
W=${W:-4}
[ -x "$FERRYD" ] || { echo "skip: $FERRYD not built"; exit 77; }
command -v sqlite3 >/dev/null || { echo "skip: sqlite3 CLI missing"; exit 77; }
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; jobs -p | xargs -r kill 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
if ! "$FERRYD" init --data-dir "$T/d" >"$T/init.out" 2>&1; then
    echo "skip: ferryd does not support 'init' yet: $(head -c 200 "$T/init.out")"
    exit 77
fi
python3 "$SRC/bench/hub_seed.py" "$T/d/ferry.db" "$T/nodes" "$W" --tasks || exit 1

start() { # on a free port; ready when /healthz answers
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$FERRYD" serve --data-dir "$T/d" --listen "127.0.0.1:$port" >>"$T/log" 2>&1 &
    PID=$!
    URL=http://127.0.0.1:$port
    for _ in $(seq 200); do curl -sf -o /dev/null "$URL/healthz" && return 0; sleep 0.05; done
    echo "ferryd did not start"; tail "$T/log"; exit 1
}
start

writer() { # token task -> appends acknowledged "task seq" to $T/ack.<task>
    local tok=$1 task=$2 seq=0
    while :; do
        seq=$((seq + 1))
        body="{\"report\":{\"taskId\":\"$task\",\"sequence\":\"$seq\",\"state\":20,\"percent\":$((seq % 100))}}"
        code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 -H "authorization: Bearer $tok" \
            -H 'content-type: application/json' --data "$body" "$URL/ferry.v1.ReportService/ReportProgress")
        [ "$code" = 200 ] && echo "$task $seq" >>"$T/ack.$task" || return 0
    done
}
while read -r code tok task; do writer "$tok" "$task" & done <"$T/nodes"
sleep 3
kill -9 "$PID"; PID=
wait 2>/dev/null
cat "$T"/ack.* >"$T/acked"
n=$(wc -l <"$T/acked")
[ "$n" -gt 0 ] || { echo "no report was acknowledged before the kill"; cat "$T/log" | tail; exit 1; }
start
miss=0
while read -r task seq; do
    c=$(sqlite3 "$T/d/ferry.db" "SELECT count(*) FROM task_event WHERE task_id=$task AND seq=$seq")
    [ "$c" = 1 ] || { echo "acknowledged report task $task seq $seq is missing"; miss=$((miss + 1)); }
done <"$T/acked"
ic=$(sqlite3 "$T/d/ferry.db" "PRAGMA integrity_check")
echo "acknowledged: $n, missing: $miss, integrity_check: $ic"
[ "$miss" = 0 ] && [ "$ic" = ok ]
