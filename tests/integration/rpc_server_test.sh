#!/usr/bin/env bash
# The RPC server runtime on loopback, driven by real clients: curl (HTTP/1.1, h2c by
# prior knowledge and by Upgrade, h2 over TLS) and python3 for byte-exact stream
# checks. Env: RPC_TEST_SERVER, FERRYD (binaries), FERRY_SOURCE_DIR.
set -uo pipefail

SRV=${RPC_TEST_SERVER:?}
FERRYD=${FERRYD:-}
SRC=${FERRY_SOURCE_DIR:?}
for tool in curl protoc python3 openssl; do
    command -v $tool >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
curl -V | grep -q HTTP2 || { echo "SKIP: curl without HTTP/2"; exit 77; }

T=$(mktemp -d)
PIDS=()
# libh2o 2.2.5 keeps per-thread recycle caches (h2o_mem_alloc_recycle: memory-pool
# chunks, socket buffers) that nothing can drain when a loop thread exits: not ours.
printf 'leak:h2o_mem_alloc_recycle\n' >"$T/lsan.supp"
export LSAN_OPTIONS="suppressions=$T/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
FAILS=0
ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; FAILS=$((FAILS + 1)); }
check() { # check "name" cond...
    local name=$1; shift
    if "$@"; then ok "$name"; else bad "$name"; fi
}
contains() { [[ "$1" == *"$2"* ]]; }

PROTO_I=(-I "$SRC/tests/proto" -I /usr/include)
enc() { protoc "${PROTO_I[@]}" --encode="ferrytest.v1.$1" ferrytest/v1/test.proto; }
dec() { protoc "${PROTO_I[@]}" --decode="ferrytest.v1.$1" ferrytest/v1/test.proto; }
frame() { # frame FLAGS < payload > envelope
    python3 -c 'import sys; d=sys.stdin.buffer.read(); sys.stdout.buffer.write(bytes([int(sys.argv[1])])+len(d).to_bytes(4,"big")+d)' "$1"
}

# start_server NAME ARGS... -> sets PORT_<NAME>, PID_<NAME>
start_server() {
    local name=$1; shift
    rm -f "$T/$name.port"
    "$SRV" --port 0 --port-file "$T/$name.port" "$@" >"$T/$name.out" 2>"$T/$name.log" &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 100); do [ -s "$T/$name.port" ] && break; sleep 0.05; done
    [ -s "$T/$name.port" ] || { echo "server $name did not start"; cat "$T/$name.log"; exit 1; }
    printf -v "PORT_$name" '%s' "$(tr -d '\n' <"$T/$name.port")"
    printf -v "PID_$name" '%s' "$pid"
}

start_server main --grace-ms 3000
U=http://127.0.0.1:$PORT_main
S=/ferrytest.v1.TestService
CJ=(-H 'content-type: application/json')

# ---- Connect unary over each transport -------------------------------------------
for mode in --http1.1 --http2 --http2-prior-knowledge; do
    out=$(curl -s -i $mode "${CJ[@]}" -d '{"payload":{"text":"hi","int64Value":"5"}}' $U$S/Echo)
    check "unary JSON $mode: 200 + body" contains "$out" '{"payload":{"text":"hi","int64Value":"5"}}'
    check "unary JSON $mode: no request id header on success" bash -c "! grep -qi '^ferry-request-id:' <<<\"\$1\"" _ "$out"
    out=$(curl -s -i $mode "${CJ[@]}" -d '{"code":"aborted","message":"x"}' $U$S/Fail)
    check "unary JSON $mode: request id header on error" bash -c "grep -Eqi '^ferry-request-id: [0-9a-f]{16}' <<<\"\$1\"" _ "$out"
done
out=$(curl -s -i --http2-prior-knowledge "${CJ[@]}" -H 'ferry-request-id: client-42.a:b_c' -d '{"code":"aborted"}' $U$S/Fail)
check "client request id adopted" bash -c "grep -Eqi '^ferry-request-id: client-42.a:b_c' <<<\"\$1\"" _ "$out"
out=$(curl -s -i --http2-prior-knowledge "${CJ[@]}" -H 'ferry-request-id: bad id;' -d '{"code":"aborted"}' $U$S/Fail)
check "invalid client request id replaced" bash -c "grep -Eqi '^ferry-request-id: [0-9a-f]{16}' <<<\"\$1\"" _ "$out"
out=$(curl -s -i --http2-prior-knowledge "${CJ[@]}" -H "ferry-request-id: $(printf 'a%.0s' $(seq 65))" -d '{"code":"aborted"}' $U$S/Fail)
check "over-long client request id replaced" bash -c "grep -Eqi '^ferry-request-id: [0-9a-f]{16}' <<<\"\$1\"" _ "$out"
out=$(curl -s --http2-prior-knowledge "${CJ[@]}" -d '{"text":"p","seq":"7"}' $U$S/Ping)
check "Ping returns text and seq" [ "$out" = '{"text":"p","seq":"7"}' ]
out=$(curl -s -i --http2-prior-knowledge "${CJ[@]}" -d '{}' $U$S/Echo)
check "h2c prior knowledge answers over HTTP/2" contains "$out" "HTTP/2 200"
check "handler-set response header" contains "$out" "x-echo: 1"

out=$(curl -s --http2-prior-knowledge "${CJ[@]}" -H 'authorization: Bearer abc' \
    -d '{"echoHeaders":["authorization","x-missing"]}' $U$S/Echo)
check "handler sees request metadata" contains "$out" '"headers":{"authorization":"Bearer abc"}'

# json_name = "customNAME": the server registered the generated side tables itself.
out=$(curl -s --http2-prior-knowledge "${CJ[@]}" -d '{"payload":{"customNAME":"c"}}' $U$S/Echo)
check "custom json_name: accepted and written" contains "$out" '{"payload":{"customNAME":"c"}}'
out=$(curl -s --http2-prior-knowledge "${CJ[@]}" -d '{"payload":{"custom_named":"p"}}' $U$S/Echo)
check "custom json_name: proto name accepted" contains "$out" '{"payload":{"customNAME":"p"}}'
out=$(curl -s -w ' %{http_code}' --http2-prior-knowledge "${CJ[@]}" -d '{"payload":{"customNamed":"d"}}' $U$S/Echo)
check "custom json_name: the derived name is unknown" contains "$out" '"code":"invalid_argument"'

# Binary strings holding U+0000 (protobuf-c would truncate them) or invalid UTF-8 are refused.
printf '\x0a\x05\x0a\x03a\x00b' >"$T/nul.bin"
out=$(curl -s -w ' %{http_code}' --http2-prior-knowledge -H 'content-type: application/proto' \
    --data-binary @"$T/nul.bin" $U$S/Echo)
check "binary string with U+0000 -> invalid_argument" contains "$out" '"code":"invalid_argument"'
check "binary string with U+0000 -> names the field" contains "$out" "field 'payload.text'"
printf '\x0a\x04\x0a\x02\xc0\x80' >"$T/utf8.bin"
out=$(curl -s -w ' %{http_code}' --http2-prior-knowledge -H 'content-type: application/proto' \
    --data-binary @"$T/utf8.bin" $U$S/Echo)
check "binary string with invalid UTF-8 -> 400" contains "$out" 'not valid UTF-8"} 400'

echo 'payload { text: "bin" tags: "a" tags: "b" }' | enc EchoRequest >"$T/echo.bin"
curl -s --http2-prior-knowledge -H 'content-type: application/proto' --data-binary @"$T/echo.bin" \
    -o "$T/echo.out" -D "$T/echo.hdr" $U$S/Echo
check "unary proto: content-type echoed" grep -qi '^content-type: application/proto' "$T/echo.hdr"
check "unary proto: decodes" grep -q 'text: "bin"' <(dec EchoResponse <"$T/echo.out")

# ---- status codes and the HTTP mapping ------------------------------------------------
declare -A HTTP=([canceled]=499 [unknown]=500 [invalid_argument]=400 [deadline_exceeded]=504 [not_found]=404
    [already_exists]=409 [permission_denied]=403 [resource_exhausted]=429 [failed_precondition]=400 [aborted]=409
    [out_of_range]=400 [unimplemented]=501 [internal]=500 [unavailable]=503 [data_loss]=500 [unauthenticated]=401)
for code in "${!HTTP[@]}"; do
    st=$(curl -s -o "$T/err.json" -w '%{http_code}' --http2-prior-knowledge "${CJ[@]}" \
        -d "{\"code\":\"$code\",\"message\":\"m \\\"q\\\"\"}" $U$S/Fail)
    check "Fail $code -> HTTP ${HTTP[$code]}" [ "$st" = "${HTTP[$code]}" ]
    check "Fail $code -> error JSON" grep -q "{\"code\":\"$code\",\"message\":\"m \\\\\"q\\\\\"\"}" "$T/err.json"
done
out=$(curl -s -i --http2-prior-knowledge "${CJ[@]}" \
    -d '{"code":"already_exists","message":"dup","appCode":"E_VERSION_DUPLICATE"}' $U$S/Fail)
check "app code header" contains "$out" "ferry-error-code: E_VERSION_DUPLICATE"
# ErrorInfo{reason="E_VERSION_DUPLICATE", domain="ferry"}, base64 unpadded
want=$(printf '\x0a\x13E_VERSION_DUPLICATE\x12\x05ferry' | base64 -w0 | tr -d '=')
check "app code ErrorInfo detail" contains "$out" "{\"type\":\"google.rpc.ErrorInfo\",\"value\":\"$want\"}"

# ---- routing and protocol errors ---------------------------------------------------
out=$(curl -s -w ' %{http_code}' "${CJ[@]}" -d '{}' $U/ferrytest.v1.TestService/Nope)
check "unknown method -> 404 unimplemented" contains "$out" '"code":"unimplemented"'
check "unknown method -> 404" contains "$out" ' 404'
st=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "${CJ[@]}" -d '{}' $U$S/Echo)
check "PUT -> 405" [ "$st" = 405 ]
st=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE $U$S/Echo)
check "DELETE -> 405" [ "$st" = 405 ]
st=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/foo' -d '{}' $U$S/Echo)
check "application/foo -> 415" [ "$st" = 415 ]
st=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/grpc-web-text' -d 'AAAA' $U$S/Echo)
check "grpc-web-text -> 415" [ "$st" = 415 ]
st=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' -d '{}' $U$S/Count)
check "unary content-type on a streaming method -> 415" [ "$st" = 415 ]
out=$(curl -s -w ' %{http_code}' "${CJ[@]}" -d '{"payload": [' $U$S/Echo)
check "malformed JSON -> 400 invalid_argument" contains "$out" '"code":"invalid_argument"'
out=$(printf '\xff\xff\xff' | curl -s -w ' %{http_code}' -H 'content-type: application/proto' --data-binary @- $U$S/Echo)
check "malformed protobuf -> 400 invalid_argument" contains "$out" '"code":"invalid_argument"'
out=$(curl -s "${CJ[@]}" -d '{"bogusField":1}' $U$S/Echo)
check "unknown JSON field -> invalid_argument" contains "$out" '"code":"invalid_argument"'
out=$(curl -s -i --http2-prior-knowledge -H 'content-type: application/grpc' -H 'te: trailers' \
    --data-binary @<(frame 0 <"$T/echo.bin") $U$S/Echo)
check "native gRPC refused: grpc-status 12 in headers" contains "$out" "grpc-status: 12"
check "native gRPC refused: explains why" contains "$out" "native gRPC is not supported"

# ---- timeouts (real per-call timers) -----------------------------------------------
before=$(curl -s $U/test/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["canceled"])')
t0=$(date +%s%N)
out=$(curl -s -w ' %{http_code}' "${CJ[@]}" -H 'connect-timeout-ms: 300' -d '{"delayMs":3000}' $U$S/Slow)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "connect-timeout-ms -> 504 deadline_exceeded" contains "$out" '"code":"deadline_exceeded"'
check "deadline fires on time (${ms} ms)" [ "$ms" -ge 280 -a "$ms" -lt 1500 ]
sleep 0.1
after=$(curl -s $U/test/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["canceled"])')
check "deadline ran the handler's cancel callback" [ "$after" -gt "$before" ]
out=$(curl -s "${CJ[@]}" -H 'connect-timeout-ms: 2000' -d '{"delayMs":100}' $U$S/Slow)
check "call within its deadline succeeds" contains "$out" '"sleptMs"'
for bad_to in abc -5 12345678901 "1 0" ""; do
    out=$(curl -s "${CJ[@]}" -H "connect-timeout-ms: $bad_to" -d '{}' $U$S/Echo)
    [ -z "$bad_to" ] && continue
    check "connect-timeout-ms '$bad_to' -> invalid_argument" contains "$out" '"code":"invalid_argument"'
done
echo 'delay_ms: 3000' | enc SlowRequest | frame 0 >"$T/slow.gw"
out=$(curl -s -i --http2-prior-knowledge -H 'content-type: application/grpc-web+proto' -H 'grpc-timeout: 200m' \
    --data-binary @"$T/slow.gw" $U$S/Slow)
check "grpc-timeout -> grpc-status 4 (trailers-only)" contains "$out" "grpc-status: 4"
out=$(curl -s -i -H 'content-type: application/grpc-web+proto' -H 'grpc-timeout: 123456789S' \
    --data-binary @"$T/slow.gw" $U$S/Slow)
check "grpc-timeout with 9 digits -> grpc-status 3" contains "$out" "grpc-status: 3"

# ---- size limits -----------------------------------------------------------------------
start_server small --max-message-bytes 1024 --max-request-bytes 65536
US=http://127.0.0.1:$PORT_small
big=$(head -c 3000 /dev/zero | tr '\0' 'a')
out=$(curl -s -w ' %{http_code}' "${CJ[@]}" -d "{\"payload\":{\"text\":\"$big\"}}" $US$S/Echo)
check "message over the limit -> 429 resource_exhausted" contains "$out" '"code":"resource_exhausted"'
printf '\x00\xff\xff\xff\xff' >"$T/liar.bin"
out=$(curl -s --http2-prior-knowledge -H 'content-type: application/connect+proto' --data-binary @"$T/liar.bin" \
    $US$S/Count | tail -c +6)
check "lying envelope prefix -> resource_exhausted end-stream" contains "$out" '"code":"resource_exhausted"'
printf '\x00\x00\x00\x03\xe8\x08\x01' >"$T/trunc.bin"
out=$(curl -s --http2-prior-knowledge -H 'content-type: application/connect+proto' --data-binary @"$T/trunc.bin" \
    $U$S/Count | tail -c +6)
check "truncated envelope -> invalid_argument end-stream" contains "$out" '"code":"invalid_argument"'
head -c 100000 /dev/zero >"$T/huge.bin"
st=$(curl -s -o /dev/null -w '%{http_code}' --http1.1 -H 'content-type: application/proto' --data-binary @"$T/huge.bin" \
    $US$S/Echo)
check "body over max_request_bytes -> 413 (HTTP/1.1)" [ "$st" = 413 ]
head -c 600000 /dev/zero | tr '\0' 'b' >"$T/bighdr"
st=$(curl -s -o /dev/null -w '%{http_code}' -H @<(printf 'x-big: '; cat "$T/bighdr"; echo) "${CJ[@]}" -d '{}' $U$S/Echo)
check "600 KB header refused over HTTP/1.1 (HTTP $st)" [ "$st" -ge 400 -a "$st" -lt 500 ]
curl -s -o /dev/null --http2-prior-knowledge -H @<(printf 'x-big: '; head -c 70000 "$T/bighdr"; echo) "${CJ[@]}" \
    -d '{}' $U$S/Echo
st=$(curl -s -o /dev/null -w '%{http_code}' -H @<(printf 'x-big: '; head -c 40000 "$T/bighdr"; echo) "${CJ[@]}" \
    -d '{}' $U$S/Echo)
check "40 KB header over the per-call header cap still served (HTTP $st)" [ "$st" = 200 ]
check "server alive after huge headers" bash -c "curl -s $U/healthz | grep -q ok"

# ---- compression ------------------------------------------------------------------------
text=$(head -c 4000 /dev/zero | tr '\0' 'z')
printf '{"payload":{"text":"%s"}}' "$text" >"$T/big.json"
gzip -c "$T/big.json" >"$T/big.json.gz"
out=$(curl -s -D "$T/gz.hdr" --compressed "${CJ[@]}" -H 'content-encoding: gzip' --data-binary @"$T/big.json.gz" \
    $U$S/Echo)
check "gzip request body accepted" contains "$out" "$text"
check "gzip response negotiated (accept-encoding)" grep -qi '^content-encoding: gzip' "$T/gz.hdr"
curl -s -D "$T/nogz.hdr" -o /dev/null "${CJ[@]}" --data-binary @"$T/big.json" $U$S/Echo
check "no accept-encoding -> identity response" bash -c "! grep -qi '^content-encoding' $T/nogz.hdr"
out=$(curl -s -w ' %{http_code}' "${CJ[@]}" -H 'content-encoding: br' -d 'xx' $U$S/Echo)
check "unknown request encoding -> 501 unimplemented" contains "$out" '"code":"unimplemented"'
out=$(printf 'not gzip at all' | curl -s "${CJ[@]}" -H 'content-encoding: gzip' --data-binary @- $U$S/Echo)
check "corrupt gzip -> invalid_argument" contains "$out" '"code":"invalid_argument"'

# ---- Connect GET ---------------------------------------------------------------------------
out=$(curl -s -G --data-urlencode 'message={"payload":{"text":"get me"}}' -d encoding=json -d connect=v1 $U$S/Echo)
check "Connect GET (JSON, percent-encoded)" contains "$out" '"text":"get me"'
b64=$(base64 -w0 <"$T/echo.bin" | tr '+/' '-_' | tr -d '=')
curl -s -o "$T/get.out" -D "$T/get.hdr" "$U$S/Echo?encoding=proto&base64=1&message=$b64&connect=v1"
check "Connect GET (proto, base64)" grep -q 'text: "bin"' <(dec EchoResponse <"$T/get.out")
gz64=$(printf '{"payload":{"text":"zipped"}}' | gzip -c | base64 -w0 | tr '+/' '-_' | tr -d '=')
out=$(curl -s "$U$S/Echo?encoding=json&base64=1&compression=gzip&message=$gz64")
check "Connect GET (gzip + base64)" contains "$out" '"text":"zipped"'
st=$(curl -s -o /dev/null -w '%{http_code}' "$U$S/Fail?encoding=json&message=%7B%7D")
check "GET on a method with side effects -> 405" [ "$st" = 405 ]
st=$(curl -s -o /dev/null -w '%{http_code}' -X GET -d 'body' "$U$S/Echo?encoding=json&message=%7B%7D")
check "GET with a body -> 415" [ "$st" = 415 ]
out=$(curl -s "$U$S/Echo?message=%7B%7D")
check "GET without encoding -> invalid_argument" contains "$out" '"code":"invalid_argument"'

# ---- streaming ---------------------------------------------------------------------------
# Reads an enveloped response from stdin and prints one line per frame:
# "<ms since first byte> <flags> <payload as text>".
cat >"$T/frames.py" <<'EOF'
import sys, time
f = sys.stdin.buffer
t0 = None
while True:
    h = f.read(5)
    if len(h) < 5:
        break
    now = time.monotonic()
    t0 = t0 or now
    n = int.from_bytes(h[1:5], "big")
    d = f.read(n)
    print("%d %d %s" % ((now - t0) * 1000, h[0], d.decode("utf-8", "replace").replace("\r\n", "|")), flush=True)
EOF
echo '{"n":3,"intervalMs":300}' | frame 0 >"$T/count.env"
curl -s -N --http2-prior-knowledge -H 'content-type: application/connect+json' --data-binary @"$T/count.env" \
    $U$S/Count | python3 "$T/frames.py" >"$T/count.out"
check "stream: 3 messages + end-stream" [ "$(wc -l <"$T/count.out")" = 4 ]
check "stream: end-stream is {}" grep -q '^[0-9]* 2 {}$' "$T/count.out"
# Arrival spacing, measured by clients that do not buffer (curl's CLI may): nghttp's
# frame log over h2c, a raw socket over HTTP/1.1.
if command -v nghttp >/dev/null; then
    nghttp -v -d "$T/count.env" -H 'content-type: application/connect+json' $U$S/Count |
        grep -a -o '\[ *[0-9.]*\] recv DATA' | grep -o '[0-9.]*' >"$T/h2times"
    t_first=$(sed -n 1p "$T/h2times"); t_third=$(sed -n 3p "$T/h2times")
    check "stream over h2: messages arrive spaced ($t_first s, $t_third s)" \
        python3 -c "import sys; sys.exit(0 if float('$t_third') - float('$t_first') >= 0.5 else 1)"
else
    echo "skip - nghttp not installed: h2 arrival spacing not measured"
fi
python3 - "$PORT_main" "$T/count.env" >"$T/h1times" <<'EOF'
import socket, sys, time
body = open(sys.argv[2], "rb").read()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /ferrytest.v1.TestService/Count HTTP/1.1\r\nHost: x\r\ncontent-type: application/connect+json\r\n"
          b"content-length: %d\r\n\r\n" % len(body) + body)
t0 = time.monotonic()
buf = b""
while not buf.endswith(b"0\r\n\r\n"):
    d = s.recv(65536)
    if not d:
        break
    buf += d
    print(int((time.monotonic() - t0) * 1000), buf.count(b'"sentAt"'))
EOF
t3=$(awk '$2 == 3 {print $1; exit}' "$T/h1times")
check "stream over HTTP/1.1: 3rd message at ${t3:-?} ms, not batched" [ "${t3:-0}" -ge 500 ]
echo '{"n":5,"fail":true,"failAfter":1,"failCode":"data_loss","failMessage":"bad 100% \n ü"}' | frame 0 \
    >"$T/countfail.env"
curl -s --http2-prior-knowledge -H 'content-type: application/connect+json' --data-binary @"$T/countfail.env" \
    $U$S/Count | python3 "$T/frames.py" >"$T/countfail.out"
check "stream error in end-stream JSON" grep -q '2 {"error":{"code":"data_loss","message":"bad 100% \\n ü"}}' \
    "$T/countfail.out"
curl -s --http1.1 -H 'content-type: application/connect+json' --data-binary @"$T/count.env" $U$S/Count |
    python3 "$T/frames.py" >"$T/count11.out"
check "stream over HTTP/1.1 (chunked)" [ "$(wc -l <"$T/count11.out")" = 4 ]
printf '{"value":"2"}' | frame 0 >"$T/sum.env"
printf '{"value":40}' | frame 0 >>"$T/sum.env"
curl -s --http2-prior-knowledge -H 'content-type: application/connect+json' --data-binary @"$T/sum.env" \
    $U$S/Sum | python3 "$T/frames.py" >"$T/sum.out"
check "client streaming (collect-then-reply)" grep -q '0 {"total":"42","count":2}' "$T/sum.out"
printf '\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' >"$T/two.env"
out=$(curl -s --http2-prior-knowledge -H 'content-type: application/connect+proto' --data-binary @"$T/two.env" \
    $U$S/Count | tail -c +6)
check "server stream with two request messages -> unimplemented" contains "$out" '"code":"unimplemented"'
printf '\x02\x00\x00\x00\x00' >"$T/endflag.env"
out=$(curl -s -H 'content-type: application/connect+proto' --data-binary @"$T/endflag.env" $U$S/Count | tail -c +6)
check "end-stream flag in a request -> invalid_argument" contains "$out" '"code":"invalid_argument"'

# gzip per message on streams
echo '{"n":2}' | gzip -c | frame 1 >"$T/countgz.env"
curl -s -H 'content-type: application/connect+json' -H 'connect-content-encoding: gzip' \
    --data-binary @"$T/countgz.env" $U$S/Count | python3 "$T/frames.py" >"$T/countgz.out"
check "stream request compressed per message" [ "$(wc -l <"$T/countgz.out")" = 3 ]
printf '{"n":1}' | frame 1 >"$T/countbadflag.env"
out=$(curl -s -H 'content-type: application/connect+json' --data-binary @"$T/countbadflag.env" $U$S/Count)
check "compressed flag without encoding -> error" contains "$out" '"code":"internal"'

# ---- gRPC-Web ----------------------------------------------------------------------------
frame 0 <"$T/echo.bin" >"$T/echo.gw"
curl -s --http2-prior-knowledge -H 'content-type: application/grpc-web+proto' --data-binary @"$T/echo.gw" \
    -D "$T/gw.hdr" -o "$T/gw.out" $U$S/Echo
python3 - "$T/gw.out" >"$T/gw.frames" <<'EOF'
import sys
d = open(sys.argv[1], "rb").read()
i = 0
while i + 5 <= len(d):
    n = int.from_bytes(d[i+1:i+5], "big")
    print(d[i], repr(d[i+5:i+5+n]))
    i += 5 + n
print("rest", len(d) - i)
EOF
check "gRPC-Web: message frame then trailer frame" grep -q "^128 b'grpc-status: 0\\\\r\\\\ngrpc-message: \\\\r\\\\n'" \
    "$T/gw.frames"
check "gRPC-Web: nothing after the trailer" grep -q '^rest 0' "$T/gw.frames"
check "gRPC-Web: content-type" grep -qi '^content-type: application/grpc-web+proto' "$T/gw.hdr"
for k in 2 3; do
    for _ in $(seq $k); do cat "$T/echo.gw"; done >"$T/echo$k.gw"
    curl -s --http2-prior-knowledge -H 'content-type: application/grpc-web+proto' --data-binary @"$T/echo$k.gw" \
        -D "$T/gw$k.hdr" -o /dev/null $U$S/Echo
    check "gRPC-Web: $k messages to a unary method -> invalid_argument" grep -qi '^grpc-status: 3' "$T/gw$k.hdr"
    check "gRPC-Web: $k messages: the message says so" grep -qi '^grpc-message: .*exactly one request message' "$T/gw$k.hdr"
done
echo 'n: 3 fail: true fail_after: 1 fail_code: "aborted" fail_message: "50% done\nü"' | enc CountRequest | frame 0 \
    >"$T/countfail.gw"
curl -s --http2-prior-knowledge -H 'content-type: application/grpc-web' --data-binary @"$T/countfail.gw" \
    -o "$T/gwf.out" $U$S/Count
python3 - "$T/gwf.out" >"$T/gwf.frames" <<'EOF'
import sys
d = open(sys.argv[1], "rb").read()
i = 0
while i + 5 <= len(d):
    n = int.from_bytes(d[i+1:i+5], "big")
    print(d[i], d[i+5:i+5+n].decode("utf-8", "replace"))
    i += 5 + n
EOF
check "gRPC-Web stream error: percent-encoded grpc-message" \
    grep -q "grpc-status: 10..grpc-message: 50%25 done%0A%C3%BC" <(tr '\r\n' '..' <"$T/gwf.frames")
out=$(printf '{"code":"permission_denied","message":"no","appCode":"E_AUTH_INVALID"}' | frame 0 |
    curl -s -i -H 'content-type: application/grpc-web+json' --data-binary @- $U$S/Fail)
check "gRPC-Web error is trailers-only" contains "$out" "grpc-status: 7"
check "gRPC-Web error carries the app code" contains "$out" "ferry-error-code: E_AUTH_INVALID"
check "gRPC-Web error carries grpc-status-details-bin" contains "$out" "grpc-status-details-bin: "

# ---- health --------------------------------------------------------------------------------
out=$(curl -s "${CJ[@]}" -d '{}' $U/grpc.health.v1.Health/Check)
check "Health.Check" contains "$out" '"status":"SERVING"'
out=$(curl -s -w ' %{http_code}' "${CJ[@]}" -d '{"service":"nope"}' $U/grpc.health.v1.Health/Check)
check "Health.Check unknown service -> not_found" contains "$out" '"code":"not_found"'
echo '{"service":"ferrytest.v1.TestService"}' | frame 0 >"$T/watch.env"
curl -s -N --max-time 1 --http2-prior-knowledge -H 'content-type: application/connect+json' \
    --data-binary @"$T/watch.env" $U/grpc.health.v1.Health/Watch | python3 "$T/frames.py" >"$T/watch.out"
check "Health.Watch streams the current status" grep -q '0 {"status":"SERVING"}' "$T/watch.out"

# ---- cancellation by the peer ------------------------------------------------------------
before=$(curl -s $U/test/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["count_canceled"])')
echo '{"n":100,"intervalMs":100}' | frame 0 >"$T/long.env"
curl -s -N --max-time 0.5 --http2-prior-knowledge -H 'content-type: application/connect+json' \
    --data-binary @"$T/long.env" $U$S/Count >/dev/null
sleep 0.3
after=$(curl -s $U/test/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["count_canceled"])')
check "peer going away cancels the stream handler" [ "$after" -gt "$before" ]

# ---- TLS (h2 via ALPN, HTTP/1.1) ---------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1
start_server tls --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
out=$(curl -s -i --cacert "$T/cert.pem" "${CJ[@]}" -d '{"payload":{"text":"tls"}}' \
    https://127.0.0.1:$PORT_tls$S/Echo)
check "TLS: h2 via ALPN" contains "$out" "HTTP/2 200"
check "TLS: body" contains "$out" '"text":"tls"'
out=$(curl -s -i --http1.1 --cacert "$T/cert.pem" "${CJ[@]}" -d '{}' https://127.0.0.1:$PORT_tls$S/Echo)
check "TLS: HTTP/1.1" contains "$out" "HTTP/1.1 200"

# ---- graceful shutdown ------------------------------------------------------------------
curl -s -N --http2-prior-knowledge -H 'content-type: application/connect+json' --data-binary @"$T/long.env" \
    $U$S/Count | python3 "$T/frames.py" >"$T/shut_stream.out" &
sp=$!
curl -s -w ' %{http_code}' "${CJ[@]}" -d '{"delayMs":1200}' $U$S/Slow >"$T/shut_unary.out" &
up=$!
sleep 0.4
kill -TERM "$PID_main"
wait $sp
wait $up
check "shutdown: the stream ends with unavailable" grep -q ' 2 {"error":{"code":"unavailable"' "$T/shut_stream.out"
check "shutdown: the in-flight unary call completes" grep -q '"sleptMs":1[2-9][0-9][0-9]} 200' "$T/shut_unary.out"
for _ in $(seq 100); do kill -0 "$PID_main" 2>/dev/null || break; sleep 0.05; done
wait "$PID_main"
check "shutdown: the server exits 0" [ $? = 0 ]
kill -TERM "$PID_small" "$PID_tls"
wait "$PID_small"
check "idle server exits 0 on SIGTERM" [ $? = 0 ]

# ---- ferryd ---------------------------------------------------------------------------------
if [ -n "$FERRYD" ] && [ -x "$FERRYD" ]; then
    check "ferryd --version" bash -c "$FERRYD --version | grep -Eq '^ferryd [0-9]+\\.[0-9]+\\.[0-9]+'"
    check "ferryd --help" bash -c "$FERRYD --help | grep -q -- '--data-dir'"
    # `serve` needs a data dir made by `ferryd init` (when this ferryd has that command).
    if "$FERRYD" --help 2>&1 | grep -q 'ferryd init'; then
        "$FERRYD" init --data-dir "$T/data" >"$T/ferryd-init.log" 2>&1
        "$FERRYD" init --data-dir "$T/data2" >"$T/ferryd-init2.log" 2>&1
    fi
    "$FERRYD" serve --data-dir "$T/data" --listen 127.0.0.1:0 2>"$T/ferryd.log" &
    fp=$!
    PIDS+=("$fp")
    for _ in $(seq 100); do grep -q 'serving on' "$T/ferryd.log" && break; sleep 0.05; done
    fport=$(sed -n 's/.*serving on 127.0.0.1:\([0-9]*\).*/\1/p' "$T/ferryd.log")
    check "ferryd: /healthz" bash -c "curl -s http://127.0.0.1:$fport/healthz | grep -q ok"
    out=$(curl -s --http2 "${CJ[@]}" -d '{}' http://127.0.0.1:$fport/grpc.health.v1.Health/Check)
    check "ferryd: Health.Check" contains "$out" '"status":"SERVING"'
    check "ferryd: data dir created" [ -d "$T/data" ]
    kill -TERM $fp
    wait $fp
    check "ferryd: SIGTERM exits 0" [ $? = 0 ]
    "$FERRYD" serve --data-dir "$T/data2" --listen 0.0.0.0:0 2>"$T/ferryd2.log" &
    fp=$!
    PIDS+=("$fp")
    for _ in $(seq 100); do grep -q 'serving on' "$T/ferryd2.log" && break; sleep 0.05; done
    kill -TERM $fp
    wait $fp
    check "ferryd: cleartext on a non-loopback address warns" grep -q 'WARN.*cleartext' "$T/ferryd2.log"
fi

if [ "$FAILS" -gt 0 ]; then
    echo "$FAILS check(s) failed"
    for f in "$T"/*.log; do echo "== $f"; tail -20 "$f"; done
    exit 1
fi
echo "all checks passed"
