#!/usr/bin/env bash
# Multi-source downloads (seed 003) through the real agent daemon:
#  1. the primary storage is down -> the mirror serves the package; the task's
#     telemetry on the server names the mirror and the primary's failure;
#  2. the network is cut mid-download (a proxy drops the connection after 1 MiB) ->
#     the agent continues from that offset on the next source (the mirror sees a
#     Range request starting exactly there) and the final SHA-256 matches.
source "$(dirname "$0")/agentd_lib.sh"

POLL=60 server_start
tree ACME ACME-SH01
site N1 ACME-SH01
bind N1
agent_start N1

# big_pkg VERSION: a package of ~6 MiB of incompressible data (so a cut lands mid-body).
big_pkg() {
    local v=$1 P=$W/big-$1
    mkdir -p "$P/server/bin" "$P/client"
    head -c $((6 << 20)) /dev/urandom >"$P/server/bin/blob.bin"
    printf 'client %s\n' "$v" >"$P/client/setup.txt"
    (cd "$P/server" && zip -q0r "$P/server.zip" .)
    (cd "$P/client" && zip -qr "$P/client.zip" .)
    printf "INSERT INTO orders(item) VALUES ('%s');\nGO\n" "$v" >"$P/data.sql"
    (cd "$P" && zip -q0 "$W/pkg-$v.zip" server.zip client.zip data.sql)
    "$FERRY" package upload "$W/pkg-$v.zip" --version "$v" --type full >/dev/null || fail "upload $v"
}

log "primary down: the mirror serves it"
big_pkg '1.25.12.13(12521)'
"$FERRY" storage set --kind local --public-base-url "http://127.0.0.1:1" \
    --mirror "m1=http://127.0.0.1:$PORT" >/dev/null
R1=$(release '1.25.12.13(12521)' forced)
wait_states "$R1" "N1=100" 60
T1=$(task_of "$R1" N1)
"$FERRY" task get "$T1" --json >"$W/t1.json"
src=$(json 'd["task"]["download"]["sourceName"]' <"$W/t1.json")
[ "$src" = m1 ] || fail "served by '$src', want m1: $(cat "$W/t1.json")"
json 'd["task"]["download"]["fallbacks"][0]' <"$W/t1.json" | grep -q '^primary' ||
    fail "the primary's failure is not in the telemetry: $(cat "$W/t1.json")"
"$FERRY" task get "$T1" | grep -i download

log "network cut after 1 MiB on the primary: resumed from that offset on the mirror"
PX1=$(free_port)
PX2=$(free_port)
"$PY" "$FERRY_SOURCE_DIR/tests/support/cutproxy.py" --listen "$PX1" --target "127.0.0.1:$PORT" \
    --cut-after $((1 << 20)) --log "$W/px1.log" &
PROXY1=$!
"$PY" "$FERRY_SOURCE_DIR/tests/support/cutproxy.py" --listen "$PX2" --target "127.0.0.1:$PORT" --log "$W/px2.log" &
PROXY2=$!
trap 'kill $PROXY1 $PROXY2 2>/dev/null; cleanup' EXIT
for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/$PX1) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/$PX2) 2>/dev/null && break
    sleep 0.1
done
: >"$W/px1.log"
: >"$W/px2.log"
"$FERRY" storage set --kind local --public-base-url "http://127.0.0.1:$PX1" \
    --mirror "m2=http://127.0.0.1:$PX2" >/dev/null
big_pkg '1.25.12.14(12522)'
R2=$(release '1.25.12.14(12522)' forced)
wait_states "$R2" "N1=100" 60
grep -q "CUT after" "$W/px1.log" || fail "the proxy never cut: $(cat "$W/px1.log")"
cat "$W/px2.log"
# The headers reach the mirror in the same segment as the request line; the response
# the proxy cut was at most 1 MiB including the HTTP header, so the mirror's range
# starts a little below 1 MiB and certainly above 0.
start=$(grep -i '^range: bytes=' "$W/px2.log" | head -1 | sed 's/.*bytes=\([0-9]*\)-.*/\1/')
[ -n "$start" ] || fail "the mirror saw no Range request: $(cat "$W/px2.log")"
[ "$start" -gt $((900 << 10)) ] && [ "$start" -le $((1 << 20)) ] ||
    fail "resumed at $start, want just under 1 MiB"
log "mirror resumed at byte $start"
T2=$(task_of "$R2" N1)
"$FERRY" task get "$T2" --json >"$W/t2.json"
[ "$(json 'd["task"]["download"]["sourceName"]' <"$W/t2.json")" = m2 ] || fail "not served by m2: $(cat "$W/t2.json")"
cmp "$W/big-1.25.12.14(12522)/server/bin/blob.bin" "$W/N1/server/bin/blob.bin" ||
    fail "installed file differs from the package's"
log "bandwidth limit from node-config (download.maxKiBPerSecond = 2048): 6 MiB take about 3 s"
agent_stop N1
"$PY" - "$W/N1/node-config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["download"] = {"maxKiBPerSecond": 2048}
c["configVersion"] = 2
json.dump(c, open(p, "w"), indent=2)
EOF
agent_start N1
"$FERRY" storage set --kind local >/dev/null
big_pkg '1.25.12.15(12523)'
R3=$(release '1.25.12.15(12523)' forced)
wait_states "$R3" "N1=100" 60
secs=$("$FERRY" task get "$(task_of "$R3" N1)" --json | json 'float(d["task"]["download"]["duration"].rstrip("s"))')
log "limited download took ${secs}s"
"$PY" -c "import sys; sys.exit(0 if 1.8 <= $secs <= 15 else 1)" || fail "6 MiB at 2 MiB/s took ${secs}s"
log "PASS"
