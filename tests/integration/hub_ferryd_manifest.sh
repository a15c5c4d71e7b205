#!/usr/bin/env bash
# The real ferryd binary: `serve --manifest-ttl SECONDS` sets the lifetime of the manifest
# GetDownload signs for a task (expires_at - signed_at), the manifest is bound to the
# calling node's task, and out-of-range values are refused (exit 2) before anything starts.
set -uo pipefail
BUILD=${FERRY_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
SRC=${FERRY_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
FERRYD=$BUILD/server/ferryd
[ -x "$FERRYD" ] || { echo "skip: $FERRYD not built"; exit 77; }
for t in curl python3 jq; do command -v $t >/dev/null || { echo "skip: $t missing"; exit 77; }; done
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }

"$FERRYD" init --data-dir "$T/d" >"$T/init.out" 2>&1 || { echo "ferryd init failed"; cat "$T/init.out"; exit 1; }
python3 "$SRC/bench/hub_seed.py" "$T/d/ferry.db" "$T/nodes" 1 --tasks || exit 1
read -r CODE TOKEN TASK <"$T/nodes"

for bad in 0 -5 abc 2592001 12x; do
    "$FERRYD" serve --data-dir "$T/d" --listen 127.0.0.1:0 --manifest-ttl "$bad" >"$T/bad.out" 2>&1
    rc=$?
    [ "$rc" = 2 ] && grep -q -- "--manifest-ttl" "$T/bad.out" && pass "--manifest-ttl $bad refused" ||
        fail "--manifest-ttl $bad: exit $rc: $(cat "$T/bad.out")"
done
"$FERRYD" serve --help | grep -q -- "--manifest-ttl S" && pass "help names --manifest-ttl" || fail "help"

# manifest FIELD...: decodes the base64 PackageManifest in $1 and prints the asked fields.
manifest() {
    python3 - "$@" <<'PY'
import base64, sys
b = base64.b64decode(sys.argv[1])
def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1; v |= (c & 0x7f) << s; s += 7
        if c < 0x80: return v, i
def fields(b):
    i, out = 0, {}
    while i < len(b):
        tag, i = varint(b, i)
        f, w = tag >> 3, tag & 7
        if w == 0: v, i = varint(b, i)
        elif w == 2:
            n, i = varint(b, i); v = b[i:i + n]; i += n
        elif w == 1: v = b[i:i + 8]; i += 8
        elif w == 5: v = b[i:i + 4]; i += 4
        out[f] = v
    return out
m = fields(b)
secs = lambda f: fields(m[f]).get(1, 0) if f in m else 0
print("signed=%d expires=%d task=%s node=%s kind=%d customer=%s" % (secs(6), secs(8), m.get(9, b"").decode(),
      m.get(10, b"").decode(), m.get(11, 0), m.get(12, b"").decode()))
PY
}

for ttl in 120 default; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    args=()
    [ "$ttl" != default ] && args=(--manifest-ttl "$ttl")
    "$FERRYD" serve --data-dir "$T/d" --listen "127.0.0.1:$port" "${args[@]}" >>"$T/log" 2>&1 &
    PID=$!
    URL=http://127.0.0.1:$port
    for _ in $(seq 200); do curl -sf -o /dev/null "$URL/healthz" && break; sleep 0.05; done
    OUT=$(curl -sS -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" \
        -d "{\"taskId\":\"$TASK\"}" "$URL/ferry.v1.AgentService/GetDownload")
    M=$(printf '%s' "$OUT" | jq -r '.signedManifest.manifest // empty')
    if [ -z "$M" ]; then
        fail "GetDownload ($ttl): $OUT"
    else
        read -r signed expires task node kind customer <<<"$(manifest "$M" | tr '=' ' ' | awk '{print $2, $4, $6, $8, $10, $12}')"
        want=$([ "$ttl" = default ] && echo 86400 || echo "$ttl")
        [ $((expires - signed)) = "$want" ] && pass "ttl $ttl: expires_at = signed_at + $want s" ||
            fail "ttl $ttl: signed $signed expires $expires"
        [ "$task" = "$TASK" ] && [ "$node" = "$CODE" ] && [ "$kind" = 1 ] && [ "$customer" = BENCH ] &&
            pass "ttl $ttl: bound to task $TASK, node $CODE, UPDATE, customer BENCH" ||
            fail "binding: task=$task node=$node kind=$kind customer=$customer"
    fi
    kill "$PID"
    wait "$PID" 2>/dev/null
    PID=
done

[ "$FAILS" = 0 ] || { echo "$FAILS check(s) failed"; tail -20 "$T/log"; exit 1; }
echo "all ferryd manifest checks passed"
