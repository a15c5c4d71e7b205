#!/usr/bin/env bash
# RPC runtime benchmark (not a timed test): h2load on loopback (h2c) against one
# rpc_test_server, comparing unary RPCs (Connect+proto, Connect+JSON, gRPC-Web) with
# a plain inline reply (GET /inline, h2o_send_inline) in the same run. For each it
# prints req/s and the server's CPU microseconds per request, measured from
# /proc/PID/task/*/schedstat around the load, and the ratio to the inline GET reply.
# Targets (issue 2 §9), on Ping: Connect+proto <= 1.5x inline, Connect+JSON <= 2x.
# Also shown: the inline reply to the same POST (what h2o itself spends on a request
# body) and Echo, whose 13-field message shows what protobuf-c costs on larger types.
#
# Usage: bench/rpc_bench.sh [BUILD_DIR]   (default: build)
# Env:   N=200000 requests per case, C=8 connections, M=16 streams per connection,
#        THREADS=1 server loop threads, ROUNDS=3 (the best round of each case is kept).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
SRV=$BUILD/tests/rpc_test_server
N=${N:-200000}
C=${C:-8}
M=${M:-16}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-3}
command -v h2load >/dev/null || { echo "h2load not found (apt-get install nghttp2-client)"; exit 1; }
[ -x "$SRV" ] || { echo "$SRV not built (cmake --build $BUILD --target rpc_test_server)"; exit 1; }

T=$(mktemp -d)
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$T"' EXIT
"$SRV" --port 0 --port-file "$T/port" --threads "$THREADS" >"$T/out" 2>"$T/log" &
PID=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
PORT=$(cat "$T/port")
U=http://127.0.0.1:$PORT

# Request bodies. Ping{text:"hello bench", seq:42}: the small message of a typical
# agent call (the target cases). Echo{payload{text:"hello bench"}}: a message type
# with 13 fields, maps and oneofs, where protobuf-c's per-field walk dominates.
printf '\x0a\x0bhello bench\x10\x2a' >"$T/ping.pb"
printf '{"text":"hello bench","seq":"42"}' >"$T/ping.json"
printf '\x0a\x0d\x0a\x0bhello bench' >"$T/echo.pb"
printf '{"payload":{"text":"hello bench"}}' >"$T/echo.json"
python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); open(sys.argv[2],"wb").write(b"\0"+len(d).to_bytes(4,"big")+d)' \
    "$T/ping.pb" "$T/ping.gw"

cpu_ns() { cat /proc/"$PID"/task/*/schedstat | awk '{s += $1} END {printf "%.0f", s}'; }

# run NAME h2load-args... -> prints "reqs/s us/req" of the best round
run() {
    local name=$1; shift
    local best_us="" best_rps=""
    h2load -n 2000 -c "$C" -m "$M" -t 1 "$@" >/dev/null # warm-up
    for _ in $(seq "$ROUNDS"); do
        local t0 t1 out rps ok us
        t0=$(cpu_ns)
        out=$(h2load -n "$N" -c "$C" -m "$M" -t 1 "$@")
        t1=$(cpu_ns)
        ok=$(sed -n 's/.*status codes: \([0-9]*\) 2xx.*/\1/p' <<<"$out")
        [ "$ok" = "$N" ] || { echo "$name: only $ok of $N requests got 2xx"; echo "$out" | tail -5; exit 1; }
        rps=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
        us=$(awk -v d=$((t1 - t0)) -v n="$N" 'BEGIN{printf "%.3f", d / 1e3 / n}')
        if [ -z "$best_us" ] || awk -v a="$us" -v b="$best_us" 'BEGIN{exit !(a < b)}'; then
            best_us=$us
            best_rps=$rps
        fi
    done
    echo "$best_rps $best_us"
}

echo "rpc_bench: n=$N c=$C m=$M server threads=$THREADS rounds=$ROUNDS (best round kept), h2c loopback"
S=$U/ferrytest.v1.TestService
read -r inline_rps inline_us < <(run inline "$U/inline")
read -r ipost_rps ipost_us < <(run inline-post -d "$T/ping.pb" -H 'content-type: application/proto' "$U/inline")
read -r proto_rps proto_us < <(run proto -d "$T/ping.pb" -H 'content-type: application/proto' "$S/Ping")
read -r json_rps json_us < <(run json -d "$T/ping.json" -H 'content-type: application/json' "$S/Ping")
read -r gw_rps gw_us < <(run grpcweb -d "$T/ping.gw" -H 'content-type: application/grpc-web+proto' "$S/Ping")
read -r eproto_rps eproto_us < <(run echo-proto -d "$T/echo.pb" -H 'content-type: application/proto' "$S/Echo")
read -r ejson_rps ejson_us < <(run echo-json -d "$T/echo.json" -H 'content-type: application/json' "$S/Echo")

ratio() { awk -v a="$1" -v b="$inline_us" 'BEGIN{printf "%.2f", a / b}'; }
row() { printf '%-26s %12s %14s %8s %8s\n' "$1" "$2" "$3" "$(ratio "$3")" "$4"; }
printf '%-26s %12s %14s %8s %8s\n' case req/s "cpu us/req" ratio target
row "inline reply (GET)" "$inline_rps" "$inline_us" -
row "inline reply (POST body)" "$ipost_rps" "$ipost_us" -
row "Connect+proto Ping" "$proto_rps" "$proto_us" "<=1.5"
row "Connect+JSON Ping" "$json_rps" "$json_us" "<=2.0"
row "gRPC-Web+proto Ping" "$gw_rps" "$gw_us" -
row "Connect+proto Echo" "$eproto_rps" "$eproto_us" -
row "Connect+JSON Echo" "$ejson_rps" "$ejson_us" -

# The same cases at a fixed request rate (bench/loadgen/ferry_loadgen -r): h2load runs
# flat out, where many requests share each wakeup and syscall; at a paced rate each
# request pays the loop's fixed costs, which is what a server sees below saturation.
LG=$BUILD/bench/ferry_loadgen
RATE=${RATE:-100000}
if [ -x "$LG" ]; then
    paced() { # paced NAME loadgen-args... -> "name cpu_us_per_req p99_ms"
        local name=$1; shift
        local out
        out=$("$LG" -c "$C" -m "$M" -r "$RATE" -D 3 --cpu-pid "$PID" "$@")
        grep -q ' non2xx=0 errors=0 ' <<<"$out" || { echo "$name: failed: $out"; exit 1; }
        awk -v n="$name" '{for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]}}
            END {printf "%s %s %s %s\n", n, v["server_cpu_us_per_req"], v["p99_ms"], v["rps"]}' <<<"$out"
    }
    echo
    echo "paced at $RATE req/s for 3 s each (ferry_loadgen; server CPU from utime+stime):"
    read -r _ p_inline p_inline99 p_inline_rps < <(paced inline "$U/inline")
    read -r _ p_proto p_proto99 p_proto_rps < <(paced proto -d "$T/ping.pb" -T application/proto "$S/Ping")
    read -r _ p_json p_json99 p_json_rps < <(paced json -d "$T/ping.json" -T application/json "$S/Ping")
    pratio() { awk -v a="$1" -v b="$p_inline" 'BEGIN{printf "%.2f", a / b}'; }
    printf '  %-24s %10s %14s %8s %8s\n' case req/s "cpu us/req" ratio p99_ms
    printf '  %-24s %10s %14s %8s %8s\n' "inline reply (GET)" "$p_inline_rps" "$p_inline" 1.00 "$p_inline99"
    printf '  %-24s %10s %14s %8s %8s\n' "Connect+proto Ping" "$p_proto_rps" "$p_proto" "$(pratio "$p_proto")" "$p_proto99"
    printf '  %-24s %10s %14s %8s %8s\n' "Connect+JSON Ping" "$p_json_rps" "$p_json" "$(pratio "$p_json")" "$p_json99"
fi

# What the codecs alone cost per message (one thread, no I/O): jansson's parse and
# write are the floor of any JSON path built on it (issue 2 requires the JSON library
# for tokenizing and writing).
if [ -x "$BUILD/bench/codec_cost" ]; then
    echo
    echo "codec cost per Ping message (ns/op, bench/codec_cost):"
    "$BUILD/bench/codec_cost" 200000 | sed 's/^/  /'
fi
