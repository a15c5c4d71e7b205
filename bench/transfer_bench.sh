#!/usr/bin/env bash
# Transfer benchmark (not a timed test): what ferryd's signed-URL transfer routes cost
# against baselines measured in the same run, same file, everything on loopback.
#
#  1. Upload. A SIZE_MB (256) MiB package (random bytes: nothing compresses) is uploaded
#     RUNS (5) times after one warm-up, each time as a new version, with
#     `ferry package upload` (cleartext, HTTP/1.1 chunk PUTs, then CommitPackage: the
#     server checks size + SHA-256 and the package format), alternating with the
#     baseline `sha256sum F && cp F DST && sync` (read + hash, write, durable). `sync`
#     runs before every run (not timed). Figures: median wall time of each, the ratio
#     upload / baseline (target <= 1.3), and ferryd's memory: VmRSS before the upload,
#     the peak during it (VmHWM, reset before each upload through /proc/PID/clear_refs)
#     and VmRSS 1 s after it; growth = peak - before (target <= 8 MB), kept = after -
#     before (target ~0: returned).
#  2. Download. The stored blob of that package is served by ferryd (its signed URL, from
#     AgentService.GetDownload) and by nginx (Debian's nginx-light, started by this script
#     on loopback: one worker, sendfile on, the same file hard-linked into its root).
#     `curl -s -o /dev/null` fetches it over HTTP/1.1 and over h2c (prior knowledge), DL_RUNS
#     times after one warm-up, servers alternating (a download costs a few ms of CPU on a
#     2-CPU VM where one run in ten is 3x slower for either server: medians need many runs). Figures: the server's CPU time per
#     download (ns from /proc/PID/task/*/schedstat, every nginx process included),
#     per MB, the ratio ferryd / nginx per protocol (target <= 1.2 on HTTP/1.1), and
#     curl's throughput.
#
# Usage: bench/transfer_bench.sh [BUILD_DIR]   (default: build; needs server/ferryd and
#        cli/ferry; nginx from scripts/install-deps.sh)
# Env:   SIZE_MB=256 RUNS=5 DL_RUNS=15 THREADS=2 BENCH_DIR=/tmp (work dir: package, data dirs)
#        KEEP=1 keeps the work dir.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
FERRYD=$BUILD/server/ferryd
FERRY=$BUILD/cli/ferry
SIZE_MB=${SIZE_MB:-256}
RUNS=${RUNS:-5}
DL_RUNS=${DL_RUNS:-15}
THREADS=${THREADS:-2}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for bin in "$FERRYD" "$FERRY"; do
    [ -x "$bin" ] || { echo "$bin not built (cmake --build $BUILD)"; exit 1; }
done
[ -x "$NGINX" ] || { echo "nginx not installed (scripts/install-deps.sh: nginx-light)"; exit 1; }
for t in curl sha256sum python3 zip awk; do
    command -v $t >/dev/null || { echo "missing $t (scripts/install-deps.sh)"; exit 1; }
done

T=$(mktemp -d "${BENCH_DIR:-/tmp}/transfer-bench-XXXXXX")
SPID= # ferryd
NPID= # nginx master
stop_pid() { # stop_pid PID
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    set +e
    stop_pid "$NPID"
    stop_pid "$SPID"
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
mb() { awk -v k="$1" 'BEGIN{printf "%.1f", k / 1024}'; }
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2];
    else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# cpu_ns PID...: CPU time of the processes' live threads in ns (schedstat field 1).
cpu_ns() {
    local p s=0
    for p in "$@"; do
        s=$((s + $(awk '{s += $1} END {printf "%.0f", s}' /proc/"$p"/task/*/schedstat 2>/dev/null)))
    done
    echo "$s"
}
now_s() { date +%s.%N; }

# ---- setup: ferryd, a node, the package --------------------------------------------------
ADMIN=$("$FERRYD" init --data-dir "$T/d" --json | json 'd["adminToken"]')
PORT=$(free_port)
"$FERRYD" serve --data-dir "$T/d" --listen "127.0.0.1:$PORT" --threads "$THREADS" >>"$T/ferryd.log" 2>&1 &
SPID=$!
U=http://127.0.0.1:$PORT
for _ in $(seq 200); do curl -sf -o /dev/null "$U/healthz" && break; sleep 0.05; done
curl -sf -o /dev/null "$U/healthz" || { echo "ferryd did not start:"; tail "$T/ferryd.log"; exit 1; }
export FERRY_SERVER=$U FERRY_TOKEN=$ADMIN FERRY_CACHE_DIR=$T/cli-cache
"$FERRY" customer create --code ACME --name ACME >/dev/null
"$FERRY" store create --customer ACME --code S1 --name S1 >/dev/null
"$FERRY" node create --store S1 --code DL --env PROD --name DL --json | json 'd["token"]' >"$T/DL.token"
mkdir -p "$T/pkg"
(
    cd "$T/pkg"
    head -c $((SIZE_MB * 1048576 - 4096)) /dev/urandom >payload.bin
    zip -q0 server.zip payload.bin && rm payload.bin
    printf 'client\n' >setup.txt && zip -q client.zip setup.txt
    printf 'SELECT 1;\nGO\n' >结构.sql
    printf 'SELECT 1;\nGO\n' >data.sql
    zip -q0 ../pkg.zip server.zip client.zip 结构.sql data.sql
)
rm -rf "$T/pkg"
PKG=$T/pkg.zip
SIZE=$(stat -c %s "$PKG")
SHA=$(sha256sum "$PKG" | cut -d' ' -f1)
echo "transfer_bench: $(nproc) CPUs, ferryd --threads $THREADS, $SIZE bytes ($SIZE_MB MiB), $RUNS runs + 1 warm-up, work dir $T"

# ---- 1. upload ----------------------------------------------------------------------------
echo
echo "1. upload: ferry package upload (HTTP/1.1 chunks + commit) vs sha256sum + cp + sync"
n=0
for i in $(seq 0 "$RUNS"); do
    # ferry package upload, as version 1.0.0.i
    sync
    before=$(status_kb "$SPID" VmRSS)
    echo 5 >"/proc/$SPID/clear_refs" # VmHWM := VmRSS
    t0=$(now_s)
    "$FERRY" package upload "$PKG" --version "1.0.0.$i(1)" --type full >"$T/up.out" 2>&1 ||
        { echo "upload failed: $(cat "$T/up.out")"; exit 1; }
    t1=$(now_s)
    peak=$(status_kb "$SPID" VmHWM)
    sleep 1
    after=$(status_kb "$SPID" VmRSS)
    # the baseline
    rm -f "$T/copy"
    sync
    b0=$(now_s)
    sha256sum "$PKG" >"$T/sum.out" && cp "$PKG" "$T/copy" && sync
    b1=$(now_s)
    [ "$(cut -d' ' -f1 "$T/sum.out")" = "$SHA" ] || { echo "baseline: wrong digest"; exit 1; }
    rm -f "$T/copy"
    if [ "$i" -eq 0 ]; then # warm-up: the first upload this ferryd sees
        FIRST_BEFORE=$before
        printf '   warm-up: upload %.2f s, baseline %.2f s; ferryd VmRSS %s KB before, peak %s KB, %s KB after\n' \
            "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')" "$(awk -v a="$b0" -v b="$b1" 'BEGIN{print b - a}')" \
            "$before" "$peak" "$after"
        echo "$before $peak $after" >"$T/up.warm"
        continue
    fi
    n=$((n + 1))
    echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}') $(awk -v a="$b0" -v b="$b1" 'BEGIN{print b - a}')" \
        "$before $peak $after" >>"$T/up.samples"
    printf '   run %d: upload %.2f s, baseline %.2f s; ferryd VmRSS %s KB before, peak %s KB, %s KB after\n' "$n" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')" "$(awk -v a="$b0" -v b="$b1" 'BEGIN{print b - a}')" \
        "$before" "$peak" "$after"
done
# The blob the downloads below serve: the package as stored (every version is the same bytes).
V="1.0.0.1(1)"
UP_MED=$(cut -d' ' -f1 "$T/up.samples" | median)
BASE_MED=$(cut -d' ' -f2 "$T/up.samples" | median)
# Growth: the largest peak over the RSS just before that upload, the warm-up included.
GROW_MAX=$( (awk '{print $2 - $1}' "$T/up.warm"; awk '{print $4 - $3}' "$T/up.samples") | sort -g | tail -1)
# Kept: what ferryd holds after all the uploads over what it held before the first.
KEPT=$(($(tail -1 "$T/up.samples" | cut -d' ' -f5) - FIRST_BEFORE))
UP_RATIO=$(awk -v a="$UP_MED" -v b="$BASE_MED" 'BEGIN{printf "%.2f", a / b}')
echo "   median: upload $(printf %.2f "$UP_MED") s ($(awk -v s="$SIZE" -v t="$UP_MED" 'BEGIN{printf "%.0f", s / t / 1e6}') MB/s)," \
    "baseline $(printf %.2f "$BASE_MED") s -> ratio ${UP_RATIO}x (target <= 1.3)"
echo "   ferryd RSS growth during an upload: max $(mb "$GROW_MAX") MB (target <= 8 MB);" \
    "kept after $((RUNS + 1)) uploads: $(mb "$KEPT") MB (target: returned)"

# ---- 2. download --------------------------------------------------------------------------
REL=$("$FERRY" release create --version "$V" --env PROD --customer ACME --node DL --policy forced --json |
    json 'd["id"]')
TASK=$("$FERRY" task list --release "$REL" --json | json 'd["tasks"][0]["id"]')
GD=$(curl -sS -H 'content-type: application/json' -H "authorization: Bearer $(cat "$T/DL.token")" \
    -d "{\"taskId\":\"$TASK\"}" "$U/ferry.v1.AgentService/GetDownload")
URL=$(json 'd["sources"][0]["url"]' <<<"$GD")
[ "$(json 'd["sha256"]' <<<"$GD")" = "$SHA" ] || { echo "GetDownload does not describe the package: $GD"; exit 1; }
mkdir -p "$T/www" "$T/nginx"
ln "$T/d/blobs/sha256/${SHA:0:2}/$SHA" "$T/www/blob"
NPORT=$(free_port)
NPORT2=$(free_port)
# As root, nginx's worker would run as www-data, which cannot read ferryd's owner-only
# data dir: keep it as the invoking user (root here), the same file through a hard link.
NUSER=
[ "$(id -u)" = 0 ] && NUSER="user root;"
cat >"$T/nginx/nginx.conf" <<EOF
$NUSER
worker_processes 1;
daemon off;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 64; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path $T/nginx/body;
    proxy_temp_path $T/nginx/proxy;
    fastcgi_temp_path $T/nginx/fastcgi;
    uwsgi_temp_path $T/nginx/uwsgi;
    scgi_temp_path $T/nginx/scgi;
    default_type application/octet-stream;
    server { listen 127.0.0.1:$NPORT; root $T/www; }
    server { listen 127.0.0.1:$NPORT2 http2; root $T/www; }
}
EOF
"$NGINX" -c "$T/nginx/nginx.conf" -p "$T/nginx" >"$T/nginx/out.log" 2>&1 &
NPID=$!
for _ in $(seq 100); do curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$NPORT/blob" && break; sleep 0.05; done
curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$NPORT/blob" ||
    { echo "nginx did not start:"; cat "$T/nginx/error.log" "$T/nginx/out.log"; exit 1; }
NPIDS=$(pgrep -P "$NPID" | tr '\n' ' ')
echo
echo "2. download of the stored blob, curl -o /dev/null, server CPU per download (every thread / process)"
# dl SERVER PROTO: one download; appends "cpu_ns wall_s" to $T/dl.SERVER.PROTO
dl() {
    local srv=$1 proto=$2 url pids c0 c1 t0 t1 got opt
    if [ "$srv" = ferryd ]; then url=$URL; pids=$SPID; else pids="$NPID $NPIDS"; fi
    if [ "$srv" = nginx ] && [ "$proto" = h1 ]; then url=http://127.0.0.1:$NPORT/blob; fi
    if [ "$srv" = nginx ] && [ "$proto" = h2c ]; then url=http://127.0.0.1:$NPORT2/blob; fi
    opt=--http1.1
    [ "$proto" = h2c ] && opt=--http2-prior-knowledge
    # shellcheck disable=SC2086
    c0=$(cpu_ns $pids)
    t0=$(now_s)
    got=$(curl -sS $opt -o /dev/null -w '%{size_download} %{http_version}' "$url")
    t1=$(now_s)
    # shellcheck disable=SC2086
    c1=$(cpu_ns $pids)
    [ "${got%% *}" = "$SIZE" ] || { echo "$srv $proto: got $got bytes, want $SIZE"; exit 1; }
    [ "$i" -eq 0 ] && return 0
    echo "$((c1 - c0)) $(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')" >>"$T/dl.$srv.$proto"
}
for i in $(seq 0 "$DL_RUNS"); do
    for proto in h1 h2c; do
        dl ferryd $proto
        dl nginx $proto
    done
done
for proto in h1 h2c; do
    name=HTTP/1.1
    [ $proto = h2c ] && name="h2c     "
    f=$(cut -d' ' -f1 "$T/dl.ferryd.$proto" | median)
    g=$(cut -d' ' -f1 "$T/dl.nginx.$proto" | median)
    fw=$(cut -d' ' -f2 "$T/dl.ferryd.$proto" | median)
    gw=$(cut -d' ' -f2 "$T/dl.nginx.$proto" | median)
    r=$(awk -v a="$f" -v b="$g" 'BEGIN{printf "%.2f", a / b}')
    eval "DL_RATIO_$proto=$r"
    printf '   %s ferryd %4.0f ms CPU (%5.2f ms/MB, %4.0f MB/s)  nginx %4.0f ms CPU (%5.2f ms/MB, %4.0f MB/s)  -> ferryd/nginx CPU %sx\n' \
        "$name" "$(awk -v a="$f" 'BEGIN{print a / 1e6}')" "$(awk -v a="$f" -v s="$SIZE" 'BEGIN{print a / 1e6 / (s / 1e6)}')" \
        "$(awk -v s="$SIZE" -v t="$fw" 'BEGIN{print s / t / 1e6}')" \
        "$(awk -v a="$g" 'BEGIN{print a / 1e6}')" "$(awk -v a="$g" -v s="$SIZE" 'BEGIN{print a / 1e6 / (s / 1e6)}')" \
        "$(awk -v s="$SIZE" -v t="$gw" 'BEGIN{print s / t / 1e6}')" "$r"
done

echo
echo "summary (medians of $RUNS uploads and $DL_RUNS downloads each, same file, same run):"
echo "   download HTTP/1.1 server CPU per byte ferryd/nginx: ${DL_RATIO_h1}x (target <= 1.2)"
echo "   download h2c      server CPU per byte ferryd/nginx: ${DL_RATIO_h2c}x (keep h2 ahead: < 1)"
echo "   upload wall time / (sha256sum + cp + sync):        ${UP_RATIO}x (target <= 1.3)"
echo "   ferryd RSS during an upload: +$(mb "$GROW_MAX") MB peak (target <= 8 MB), +$(mb "$KEPT") MB kept after all"
