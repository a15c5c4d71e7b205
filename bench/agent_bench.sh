#!/usr/bin/env bash
# Agent daemon benchmark (not a timed test): what `ferry-agent run` costs a customer
# server, and what a fleet of agents costs ferryd, each against a baseline measured in
# the same run. Everything on loopback; one ferryd (`ferryd serve`, cleartext).
#
#  1. Download. A SIZE_MB (256) MiB package (random bytes, so nothing compresses) is
#     uploaded with `ferry package upload` and released to node DL (no agent runs for
#     it); `AgentService.GetDownload` (curl + JSON, the node's token) gives the signed
#     blob URL the agent would use. Over HTTP/1.1 on that URL, RUNS (5) rounds after one
#     warm-up round, each round every case once (the order rotates from round to round),
#     the file deleted and `sync` run before each (not timed):
#       agent              bench/agent_dl_bench: agentd_download() with that one source,
#                          i.e. the agent's transfer client writing OUT.part, SHA-256 while
#                          the bytes arrive, size + digest check, fdatasync, rename,
#                          fsync of the directory
#       curl+sha256sum     `curl -s -o F URL && sha256sum F`: download + verify, THE
#                          BASELINE (target: agent >= 0.9x its MB/s)
#       curl+sha256sum+fdatasync   the same + `sync -d F` (durable, as the agent is)
#       curl+openssl       `curl -s -o F URL && openssl dgst -sha256 F` (the SHA-256 code
#                          the agent uses, libcrypto)
#       curl               `curl -s -o F URL`: the transfer alone, for reference
#     Figures: median wall time of the whole command (process start to exit) -> MB/s
#     (MB = 10^6 bytes), median CPU (user+sys, children included, /usr/bin/time), and the
#     ratio agent MB/s / baseline MB/s. Every digest is checked.
#  2. Idle daemon. Node IDLE is bound (`ferry-agent bind`) and `ferry-agent run` started
#     (node-config with a marker-file service, SQLite backup); once `ferry-agent status`
#     says the link is streaming and SETTLE (5) s have passed, the agent is sampled once a
#     second for IDLE_SECS (60) s without being talked to (one heartbeat falls in a 60 s
#     window at the default poll interval): VmRSS and VmHWM (/proc/PID/status), and from
#     /proc/PID/smaps_rollup Rss, Pss and Rss split in two:
#       own   = Private_Dirty + Shared_Dirty: pages the agent wrote, i.e. anonymous
#               memory (heap, malloc arenas, thread stacks) + the binary's and the
#               libraries' written data (relocations, .data, .bss): the agent's own
#               footprint, what another process cannot share and the kernel cannot drop
#       clean = Private_Clean + Shared_Clean: code and read-only data of the binary and
#               its ~40 libraries (libcrypto, libc, libsqlite3, libcurl and its
#               dependencies) as paged in (fault-around maps 64 KB around each touched
#               page); shared with every process that maps the same files, droppable.
#               Which of it smaps calls "shared" only says which other processes run now.
#     threads, and CPU = utime + stime over the window (ns from
#     /proc/PID/task/*/schedstat; the 10 ms ticks of /proc/PID/stat beside it), as ms per
#     minute and % of one core, plus context switches (wakeups) per minute. Target: RSS
#     <= 8 MB (8192 KB), judged on VmRSS; "own" printed beside it. Then, to see where it
#     goes: the largest mappings (/proc/PID/smaps, by Rss) and each thread's CPU, wakeups
#     and wait channel in the window (/proc/PID/task/*/). No baseline process: an idle
#     `sleep` says nothing.
#     AGENT_ENV="MALLOC_ARENA_MAX=1" (for example) runs the agent with that environment.
#  3. AGENTS (1,000) simulated agents against a second, fresh ferryd (--threads THREADS,
#     --poll-interval POLL): AGENTS nodes with tokens seeded straight into SQLite
#     (bench/hub_seed.py); bench/loadgen/ferry_loadgen (h2c, as hub_bench.sh) does one
#     first-contact CheckIn per node (not counted), then holds AGENTS WatchAssignments
#     streams (one connection and node token each, an AgentInfo in the request) for the
#     rest of the section, while:
#       streams idle       nothing else for STREAM_SECS (30) s: ferryd's CPU for the
#                          streams' keep-alives alone, and its RSS with them open
#       @ poll rate        for LOAD_SECS (60) s each: GET /healthz (h2o_send_inline: the
#                          inline-reply baseline) then CheckIn (a CheckInRequest as the
#                          agent fills it: versions, free disk, host), paced at
#                          AGENTS / POLL req/s (16.7/s: every agent's 60 s heartbeat),
#                          every CheckIn with the next node token (each token comes back
#                          every POLL s, so the server's 5 s token cache always misses)
#       @ FAST_RATE        the same at FAST_RATE (200) req/s for FAST_SECS (20) s (every
#                          agent every AGENTS/FAST_RATE = 5 s; each token then comes
#                          back as the 5 s cache expires): calls share more of the
#                          event loop's wakeups, the per-call cost of a busier server
#     Figures: ferryd's CPU per call (ferryd's CPU time around the load / calls answered: "gross", the streams' keep-alive CPU included; "net", with
#     the streams-idle rate subtracted), the ratio CheckIn / inline, latency, and ferryd's
#     share of one core serving AGENTS agents at the poll rate (streams + heartbeats).
#     CPU is read from /proc/PID/task/*/schedstat (ns; /proc/PID/stat's 10 ms ticks
#     would be too coarse at the poll rate). Not included: TLS (real agents use https,
#     h2) and connection setup per heartbeat (60 s after its last call an agent's
#     keep-alive connection is normally gone; here one connection carries every CheckIn).
# A summary table closes the output. About 6 minutes on 2 cores with the defaults.
#
# Usage: bench/agent_bench.sh [BUILD_DIR]   (default: build; needs server/ferryd,
#        cli/ferry, agent/ferry-agent, bench/agent_dl_bench and bench/ferry_loadgen,
#        which is built when libnghttp2-dev is installed: scripts/install-deps.sh)
# Env:   SIZE_MB=256 RUNS=5 IDLE_SECS=60 SETTLE=5 AGENT_ENV= AGENTS=1000 POLL=60
#        FAST_RATE=200 STREAM_SECS=30 LOAD_SECS=60 FAST_SECS=20 THREADS=2
#        BENCH_DIR=/tmp (where the package, the downloads and the data dirs go)
#        KEEP=1 keeps the work dir.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
FERRYD=$BUILD/server/ferryd
FERRY=$BUILD/cli/ferry
AGENT=$BUILD/agent/ferry-agent
DLB=$BUILD/bench/agent_dl_bench
LOADGEN=$BUILD/bench/ferry_loadgen
SIZE_MB=${SIZE_MB:-256}
RUNS=${RUNS:-5}
IDLE_SECS=${IDLE_SECS:-60}
SETTLE=${SETTLE:-5}
AGENT_ENV=${AGENT_ENV:-}
AGENTS=${AGENTS:-1000}
POLL=${POLL:-60}
FAST_RATE=${FAST_RATE:-200}
STREAM_SECS=${STREAM_SECS:-30}
LOAD_SECS=${LOAD_SECS:-60}
FAST_SECS=${FAST_SECS:-20}
THREADS=${THREADS:-2}
for bin in "$FERRYD" "$FERRY" "$AGENT" "$DLB"; do
    [ -x "$bin" ] || { echo "$bin not built (cmake --build $BUILD)"; exit 1; }
done
[ -x "$LOADGEN" ] || {
    echo "$LOADGEN not built: install libnghttp2-dev (scripts/install-deps.sh), re-run cmake, then"
    echo "cmake --build $BUILD --target ferry_loadgen"
    exit 1
}
for t in curl sha256sum openssl python3 zip /usr/bin/time; do
    command -v $t >/dev/null || { echo "missing $t (scripts/install-deps.sh)"; exit 1; }
done
need_fds=$((AGENTS + 1024))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need_fds" ]; then
    ulimit -n "$need_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need_fds" ]; then
    echo "note: ulimit -n is $(ulimit -n); $AGENTS agents need $need_fds: lowering AGENTS"
    AGENTS=$(($(ulimit -n) - 1024))
fi
HZ=$(getconf CLK_TCK)

T=$(mktemp -d "${BENCH_DIR:-/tmp}/agent-bench-XXXXXX")
SPID= # ferryd
APID= # the idle agent
HPID= # the stream-holding loadgen
stop_pid() { # stop_pid PID [signal]
    [ -n "$1" ] || return 0
    kill -"${2:-TERM}" "$1" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    set +e
    stop_pid "$HPID"
    stop_pid "$APID"
    stop_pid "$SPID"
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }
# cpu_ticks PID_OR_PID/task/TID: utime + stime (fields 14, 15; after "comm) ": 12, 13).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# sched_ns PID: CPU time of PID's live threads in ns (/proc/PID/task/*/schedstat, field 1):
# exact, where /proc/PID/stat counts 10 ms ticks.
sched_ns() { awk '{s += $1} END {printf "%.0f", s}' /proc/"$1"/task/*/schedstat 2>/dev/null; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
rollup_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/smaps_rollup"; }
ms() { awk -v t="$1" -v hz="$HZ" 'BEGIN{printf "%.0f", t * 1000 / hz}'; }
mb() { awk -v k="$1" 'BEGIN{printf "%.1f", k / 1024}'; }
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2];
    else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# serve DATA_DIR [flags...]: ferryd serve on a fresh port, SPID and U set.
serve() {
    local d=$1 port
    shift
    port=$(free_port)
    "$FERRYD" serve --data-dir "$d" --listen "127.0.0.1:$port" --threads "$THREADS" --poll-interval "$POLL" \
        "$@" >>"$T/ferryd.log" 2>&1 &
    SPID=$!
    U=http://127.0.0.1:$port
    for _ in $(seq 200); do curl -sf -o /dev/null "$U/healthz" && break; sleep 0.05; done
    curl -sf -o /dev/null "$U/healthz" || { echo "ferryd did not start:"; tail "$T/ferryd.log"; exit 1; }
}

echo "agent_bench: $(nproc) CPUs, ferryd --threads $THREADS --poll-interval $POLL, work dir $T"

# ---- setup: ferryd, tree, nodes, the package ----------------------------------------------
ADMIN=$("$FERRYD" init --data-dir "$T/d1" --json | json 'd["adminToken"]')
serve "$T/d1"
export FERRY_SERVER=$U FERRY_TOKEN=$ADMIN FERRY_CACHE_DIR=$T/cli-cache
"$FERRY" customer create --code ACME --name ACME >/dev/null
"$FERRY" store create --customer ACME --code S1 --name S1 >/dev/null
for n in DL IDLE; do
    "$FERRY" node create --store S1 --code "$n" --env PROD --name "$n" --json | json 'd["token"]' >"$T/$n.token"
done
V='1.0.0.1(1)'
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
u0=$(date +%s.%N)
"$FERRY" package upload "$T/pkg.zip" --version "$V" --type full >/dev/null
u1=$(date +%s.%N)
SIZE=$(stat -c %s "$T/pkg.zip")
SHA=$(sha256sum "$T/pkg.zip" | cut -d' ' -f1)
rm -f "$T/pkg.zip"
REL=$("$FERRY" release create --version "$V" --env PROD --customer ACME --node DL --policy forced --json |
    json 'd["id"]')
TASK=$("$FERRY" task list --release "$REL" --json | json 'd["tasks"][0]["id"]')
GD=$(curl -sS -H 'content-type: application/json' -H "authorization: Bearer $(cat "$T/DL.token")" \
    -d "{\"taskId\":\"$TASK\"}" "$U/ferry.v1.AgentService/GetDownload")
URL=$(json 'd["sources"][0]["url"]' <<<"$GD")
[ "$(json 'd["sha256"]' <<<"$GD")" = "$SHA" ] && [ "$(json 'd["size"]' <<<"$GD")" = "$SIZE" ] ||
    { echo "GetDownload does not describe the uploaded package: $GD"; exit 1; }

# ---- 1. download -------------------------------------------------------------------------
echo
echo "1. download: $SIZE bytes ($(awk -v s="$SIZE" 'BEGIN{printf "%.1f", s / 1048576}') MiB, uploaded in" \
    "$(awk -v a="$u0" -v b="$u1" 'BEGIN{printf "%.1f", b - a}') s), signed URL ${URL%%\?*}?..., HTTP/1.1," \
    "$RUNS runs + 1 warm-up, median"
CASES=(agent curl+sha256sum curl+sha256sum+fdatasync curl+openssl curl)
F=$T/dl/pkg.zip
mkdir -p "$T/dl"
# run_case NAME: one timed run; appends "wall_s cpu_s" to $T/dl.NAME
run_case() {
    local name=$1 t0 t1 out=$T/dl/out
    rm -f "$F" "$F.part"
    sync
    t0=$(date +%s%N)
    case $name in
    agent) /usr/bin/time -f '%U %S' -o "$T/dl/cpu" "$DLB" "$URL" "$SIZE" "$SHA" "$F" >"$out" || true ;;
    curl+sha256sum) /usr/bin/time -f '%U %S' -o "$T/dl/cpu" sh -c \
        'curl -sf -o "$1" "$2" && sha256sum "$1"' sh "$F" "$URL" >"$out" || true ;;
    curl+sha256sum+fdatasync) /usr/bin/time -f '%U %S' -o "$T/dl/cpu" sh -c \
        'curl -sf -o "$1" "$2" && sha256sum "$1" && sync -d "$1"' sh "$F" "$URL" >"$out" || true ;;
    curl+openssl) /usr/bin/time -f '%U %S' -o "$T/dl/cpu" sh -c \
        'curl -sf -o "$1" "$2" && openssl dgst -sha256 -r "$1"' sh "$F" "$URL" >"$out" || true ;;
    curl) /usr/bin/time -f '%U %S' -o "$T/dl/cpu" curl -sf -o "$F" "$URL" >"$out" || true ;;
    esac
    t1=$(date +%s%N)
    case $name in
    agent) grep -q "bytes=$SIZE " "$out" || { echo "$name: $(cat "$out")"; exit 1; } ;;
    curl) [ "$(stat -c %s "$F")" = "$SIZE" ] || { echo "$name: short file"; exit 1; } ;;
    *) [ "$(cut -d' ' -f1 "$out")" = "$SHA" ] || { echo "$name: wrong digest: $(cat "$out")"; exit 1; } ;;
    esac
    echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f", (b - a) / 1e9}') $(awk '{print $1 + $2}' "$T/dl/cpu")" \
        >>"$T/dl.$name"
}
for r in $(seq 0 "$RUNS"); do
    for k in $(seq 0 $((${#CASES[@]} - 1))); do
        name=${CASES[$(((k + r) % ${#CASES[@]}))]}
        run_case "$name"
        if [ "$r" = 0 ]; then sed -i '$d' "$T/dl.$name"; fi # the warm-up round is not counted
    done
done
rm -rf "$T/dl"
declare -A DL_S DL_MBS DL_CPU
printf '   %-26s %9s %9s %11s %9s %s\n' case "median_s" "MB/s" "min..max" "cpu_s" "vs curl+sha256sum"
for name in "${CASES[@]}"; do
    DL_S[$name]=$(cut -d' ' -f1 "$T/dl.$name" | median)
    DL_CPU[$name]=$(cut -d' ' -f2 "$T/dl.$name" | median)
    DL_MBS[$name]=$(awk -v s="$SIZE" -v t="${DL_S[$name]}" 'BEGIN{printf "%.0f", s / t / 1e6}')
done
for name in "${CASES[@]}"; do
    range=$(cut -d' ' -f1 "$T/dl.$name" | sort -g | awk -v s="$SIZE" 'NR == 1 {lo = $1} {hi = $1}
        END {printf "%.0f..%.0f", s / hi / 1e6, s / lo / 1e6}')
    printf '   %-26s %9.3f %9s %11s %9.2f %sx\n' "$name" "${DL_S[$name]}" "${DL_MBS[$name]}" "$range" \
        "${DL_CPU[$name]}" "$(awk -v a="${DL_MBS[$name]}" -v b="${DL_MBS[curl+sha256sum]}" 'BEGIN{printf "%.2f", a / b}')"
done
DL_RATIO=$(awk -v a="${DL_MBS[agent]}" -v b="${DL_MBS[curl+sha256sum]}" 'BEGIN{printf "%.2f", a / b}')
DL_VERDICT=$(awk -v r="$DL_RATIO" 'BEGIN{if (r >= 0.9) print "MET"; else printf "MISSED by %.0f %%", (0.9 - r) / 0.9 * 100}')
echo "   target: agent >= 0.9x curl+sha256sum: ${DL_RATIO}x -> $DL_VERDICT"

# ---- 2. idle daemon ----------------------------------------------------------------------
S=$T/site
mkdir -p "$S"/{server,client,backup,tmp,state,engine,run,db}
touch "$S/run/up"
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("CREATE TABLE t(x)"); c.commit()' \
    "$S/db/main.db"
cat >"$S/node-config.json" <<EOF
{
  "configVersion": 1,
  "service": {"name": "bench-idle", "stopTimeoutSeconds": 20, "startTimeoutSeconds": 20, "control": "command",
    "startCommand": "touch $S/run/up", "stopCommand": "rm -f $S/run/up", "statusCommand": "test -f $S/run/up",
    "healthCheck": {"kind": "none"}},
  "paths": {"serverDir": "$S/server", "clientDir": "$S/client", "backupRoot": "$S/backup", "tempDir": "$S/tmp"},
  "backup": {"retentionN": 2, "db": {"engine": "sqlite", "databases": ["$S/db/main.db"]}},
  "stateDir": "$S/engine"
}
EOF
"$AGENT" bind --server "$U" --node IDLE --env PROD --token-file - --state-dir "$S/state" <"$T/IDLE.token" >/dev/null
# shellcheck disable=SC2086 # AGENT_ENV is a list of NAME=VALUE words
env $AGENT_ENV "$AGENT" run --state-dir "$S/state" --config "$S/node-config.json" >"$T/agent.log" 2>&1 &
APID=$!
streaming=0
for _ in $(seq 200); do
    if "$AGENT" status --state-dir "$S/state" --json 2>/dev/null | grep -q STREAMING; then
        streaming=1
        break
    fi
    sleep 0.1
done
[ "$streaming" = 1 ] || { echo "the agent's link is not streaming:"; tail "$T/agent.log"; exit 1; }
sleep "$SETTLE"
echo
echo "2. idle agent: pid $APID${AGENT_ENV:+ ($AGENT_ENV)}, link streaming, sampled every second for ${IDLE_SECS} s"
declare -A TT0 TC0
thread_ctx() { awk '/^(non)?voluntary_ctxt_switches:/ {s += $2} END {print s + 0}' "/proc/$APID/task/$1/status"; }
for d in /proc/"$APID"/task/*; do
    tid=${d##*/}
    TT0[$tid]=$(awk '{print $1}' "/proc/$APID/task/$tid/schedstat")
    TC0[$tid]=$(thread_ctx "$tid")
done
c0=$(cpu_ticks "$APID")
n0=$(sched_ns "$APID")
tids0=$(ls /proc/"$APID"/task | sort | tr '\n' ' ')
i0=$(date +%s%N)
: >"$T/idle.samples"
for _ in $(seq "$IDLE_SECS"); do
    sleep 1
    echo "$(status_kb "$APID" VmRSS) $(rollup_kb "$APID" Pss) $(status_kb "$APID" Threads)" >>"$T/idle.samples"
done
c1=$(cpu_ticks "$APID")
n1=$(sched_ns "$APID")
i1=$(date +%s%N)
tids1=$(ls /proc/"$APID"/task | sort | tr '\n' ' ')
kill -0 "$APID" 2>/dev/null || { echo "the agent exited:"; tail "$T/agent.log"; exit 1; }
secs=$(awk -v a="$i0" -v b="$i1" 'BEGIN{printf "%.1f", (b - a) / 1e9}')
RSS_MIN=$(cut -d' ' -f1 "$T/idle.samples" | sort -g | head -1)
RSS_MAX=$(cut -d' ' -f1 "$T/idle.samples" | sort -g | tail -1)
RSS_END=$(status_kb "$APID" VmRSS)
HWM=$(status_kb "$APID" VmHWM)
R_RSS=$(rollup_kb "$APID" Rss)
R_PSS=$(rollup_kb "$APID" Pss)
R_ANON=$(rollup_kb "$APID" Anonymous)
R_OWN=$(($(rollup_kb "$APID" Private_Dirty) + $(rollup_kb "$APID" Shared_Dirty)))
R_CLEAN=$(($(rollup_kb "$APID" Private_Clean) + $(rollup_kb "$APID" Shared_Clean)))
R_SCLEAN=$(rollup_kb "$APID" Shared_Clean)
NTHREADS=$(status_kb "$APID" Threads)
IDLE_CPU_MS=$(awk -v a="$n0" -v b="$n1" 'BEGIN{printf "%.1f", (b - a) / 1e6}')
IDLE_CPU_PER_MIN=$(awk -v m="$IDLE_CPU_MS" -v s="$secs" 'BEGIN{printf "%.0f", m * 60 / s}')
ctx_total=0
awk '/^[0-9a-f]+-[0-9a-f]+ / {n = ($6 == "" ? "[anon]" : $6)}
     $1 == "Rss:" {r[n] += $2} $1 ~ /^(Private|Shared)_Dirty:$/ {p[n] += $2} $1 ~ /^(Private|Shared)_Clean:$/ {s[n] += $2}
     END {for (n in r) if (r[n] > 0) printf "%d %d %d %s\n", r[n], p[n], s[n], n}' "/proc/$APID/smaps" |
    sort -rn >"$T/maps"
R_OWN_ANON=$(awk '$4 ~ /^\[(heap|anon|stack)\]$/ {s += $2} END {print s + 0}' "$T/maps")
printf '   VmRSS %s..%s KB over the window (%s..%s MB), %s KB at the end; VmHWM %s KB (%s MB, the start included)\n' \
    "$RSS_MIN" "$RSS_MAX" "$(mb "$RSS_MIN")" "$(mb "$RSS_MAX")" "$RSS_END" "$HWM" "$(mb "$HWM")"
printf '   smaps_rollup: Rss %s KB, Pss %s KB; Rss = own (dirty) %s KB = %s MB [heap, malloc arenas, stacks %s KB;' \
    "$R_RSS" "$R_PSS" "$R_OWN" "$(mb "$R_OWN")" "$R_OWN_ANON"
printf ' written data of the binary and libraries %s KB; Anonymous %s KB]\n' "$((R_OWN - R_OWN_ANON))" "$R_ANON"
printf '                 + clean code/read-only pages of the binary and libraries %s KB = %s MB (%s KB now mapped by another process too)\n' \
    "$R_CLEAN" "$(mb "$R_CLEAN")" "$R_SCLEAN"
RSS_VERDICT=$(awk -v k="$RSS_MAX" 'BEGIN{if (k <= 8192) print "MET"; else printf "MISSED by %.1f MB (%.1fx)", (k - 8192) / 1024, k / 8192}')
PRIV_VERDICT=$(awk -v k="$R_OWN" 'BEGIN{if (k <= 8192) print "within 8 MB"; else printf "over 8 MB by %.1f MB", (k - 8192) / 1024}')
echo "   threads: $NTHREADS"
echo "   CPU: $IDLE_CPU_MS ms in $secs s -> $IDLE_CPU_PER_MIN ms per minute" \
    "($(awk -v m="$IDLE_CPU_PER_MIN" 'BEGIN{printf "%.3f", m / 600}') % of one core; /proc/PID/stat in 10 ms ticks:" \
    "$(ms $((c1 - c0))) ms)"
[ "$tids0" = "$tids1" ] || echo "   note: threads started or ended in the window (their CPU is only in the /proc/PID/stat figure):" \
    "before: $tids0; after: $tids1"
echo "   target RSS <= 8 MB: VmRSS max $(mb "$RSS_MAX") MB -> $RSS_VERDICT; the agent's own memory $(mb "$R_OWN") MB: $PRIV_VERDICT"
echo "   largest mappings at the end (KB; [anon] = malloc arenas, thread stacks, other anonymous maps):"
printf '     %7s %7s %7s  %s\n' rss own clean mapping
head -12 "$T/maps" | while read -r r p s n; do printf '     %7d %7d %7d  %s\n' "$r" "$p" "$s" "$n"; done
awk '{r += $1; p += $2; s += $3} END {printf "     %7d %7d %7d  (all %d mappings; %d libraries)\n", r, p, s, NR, lib}
     $4 ~ /\.so/ {lib++}' "$T/maps"
echo "   threads in the window (CPU ms, context switches = wakeups, what each waits in now):"
printf '     %8s %7s %7s  %s\n' tid cpu_ms wakeups wchan
for d in /proc/"$APID"/task/*; do
    tid=${d##*/}
    t1=$(awk '{print $1}' "$d/schedstat")
    x1=$(thread_ctx "$tid")
    dt=$((t1 - ${TT0[$tid]:-0}))
    dx=$((x1 - ${TC0[$tid]:-0}))
    ctx_total=$((ctx_total + dx))
    printf '     %8s %7s %7s  %s%s\n' "$tid" "$(awk -v n="$dt" 'BEGIN{printf "%.2f", n / 1e6}')" "$dx" "$(cat "$d/wchan" 2>/dev/null || echo '?')" \
        "$([ "$tid" = "$APID" ] && echo ' (main)')"
done
IDLE_WAKE_PER_MIN=$(awk -v x="$ctx_total" -v s="$secs" 'BEGIN{printf "%.0f", x * 60 / s}')
echo "   wakeups: $ctx_total in $secs s -> $IDLE_WAKE_PER_MIN per minute"
stop_pid "$APID"
APID=
stop_pid "$SPID"
SPID=

# ---- 3. AGENTS simulated agents ---------------------------------------------------------
"$FERRYD" init --data-dir "$T/d2" >/dev/null
python3 "$ROOT/bench/hub_seed.py" "$T/d2/ferry.db" "$T/nodes" "$AGENTS"
cut -d' ' -f2 "$T/nodes" >"$T/tokens"
serve "$T/d2"
# CheckInRequest / WatchAssignmentsRequest as the agent fills them (AgentInfo: versions,
# free disk, host, node-config version); the stream's in one Connect envelope.
python3 - "$T" <<'EOF'
import struct, sys
def varint(v):
    out = b""
    while True:
        b = v & 0x7f
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
def s(field, v):
    v = v.encode() if isinstance(v, str) else v
    return varint(field << 3 | 2) + varint(len(v)) + v
def u(field, v):
    return varint(field << 3) + varint(v)
host = s(1, "store-0042-srv") + s(2, "Linux 6.1.0-18-amd64") + s(3, "x86_64")
info = s(1, "0.4.0") + s(2, "1.25.12.13(12521)") + u(3, 123456789012) + s(4, host) + u(5, 3)
open(sys.argv[1] + "/checkin.bin", "wb").write(s(1, info))
watch = s(1, info)
open(sys.argv[1] + "/watch.env", "wb").write(b"\0" + struct.pack(">I", len(watch)) + watch)
EOF
POLL_RATE=$(awk -v a="$AGENTS" -v p="$POLL" 'BEGIN{printf "%.3f", a / p}')
echo
echo "3. $AGENTS simulated agents (ferry_loadgen, h2c) against a fresh ferryd (pid $SPID): streams + CheckIn at" \
    "$POLL_RATE req/s (every agent every $POLL s) and at $FAST_RATE req/s"
: >"$T/results"
# load NAME ARGS...: one paced loadgen run against ferryd; prints a row; the bench fails on any non-2xx
load() {
    local name=$1 out n0 n1 cpu
    shift
    n0=$(sched_ns "$SPID")
    if ! out=$("$LOADGEN" -c "$LC" -m 16 --cpu-pid "$SPID" "$@"); then
        echo "$name: FAILED: $out"
        exit 1
    fi
    n1=$(sched_ns "$SPID")
    cpu=$(awk -v a="$n0" -v b="$n1" 'BEGIN{printf "%.4f", (b - a) / 1e9}')
    printf '   %-26s %8s %8s %8s %8s %8s %9s %10s\n' "$name" "$(kv "$out" requests)" "$(kv "$out" rps)" \
        "$(kv "$out" p50_ms)" "$(kv "$out" p99_ms)" "$(kv "$out" max_ms)" "$cpu" \
        "$(awk -v c="$cpu" -v n="$(kv "$out" requests)" 'BEGIN{printf "%.1f", (n > 0 ? c * 1e6 / n : 0)}')"
    echo "case=$name $out sched_cpu_s=$cpu" >>"$T/results"
}
checkin() {
    local name=$1
    shift
    load "$name" "$@" -d "$T/checkin.bin" -T application/proto -k "$T/tokens" "$U/ferry.v1.AgentService/CheckIn"
}
healthz() {
    local name=$1
    shift
    load "$name" "$@" "$U/healthz"
}
streams_open() { curl -sf "$U/metrics" | awk '$1 == "ferry_streams_open" {print $2}'; }
printf '   %-26s %8s %8s %8s %8s %8s %9s %10s\n' case calls req/s p50_ms p99_ms max_ms cpu_s "cpu_us/call"
LC=4 # closed loop: 4 connections, as hub_bench.sh
checkin "CheckIn first contact" -n "$AGENTS"
LC=1 # paced: one connection (a paced load leaves extra connections idle, and ferryd closes idle ones)
rss0=$(status_kb "$SPID" VmRSS)
"$LOADGEN" -c "$AGENTS" -m 1 --hold 3600 -d "$T/watch.env" -T application/connect+proto \
    -H 'connect-protocol-version: 1' -k "$T/tokens" "$U/ferry.v1.AgentService/WatchAssignments" \
    >"$T/hold.out" 2>"$T/hold.err" &
HPID=$!
for _ in $(seq 600); do grep -q '^ready\|^mode=hold' "$T/hold.out" && break; sleep 0.1; done
open=0
for _ in $(seq 300); do
    open=$(streams_open || echo 0)
    [ "${open:-0}" -ge "$AGENTS" ] && break
    sleep 0.1
done
[ "${open:-0}" -ge "$AGENTS" ] || { echo "only ${open:-0} of $AGENTS streams open"; cat "$T/hold.err"; exit 1; }
sleep 2
c0=$(sched_ns "$SPID")
w0=$(date +%s%N)
sleep "$STREAM_SECS"
c1=$(sched_ns "$SPID")
w1=$(date +%s%N)
rss1=$(status_kb "$SPID" VmRSS)
# ferryd CPU per second with only the streams open (their keep-alives), in seconds
STREAM_CPU_RATE=$(awk -v t=$((c1 - c0)) -v a="$w0" -v b="$w1" 'BEGIN{printf "%.6f", t / 1e9 / ((b - a) / 1e9)}')
STREAM_CPU_PER_MIN=$(awk -v r="$STREAM_CPU_RATE" 'BEGIN{printf "%.0f", r * 60000}')
printf '   %-26s %8s %8s %8s %8s %8s %9s %10s\n' "streams idle (${STREAM_SECS} s)" "-" "-" "-" "-" "-" \
    "$(awk -v t=$((c1 - c0)) 'BEGIN{printf "%.4f", t / 1e9}')" "-"
healthz "inline /healthz @poll" -D "$LOAD_SECS" -r "$POLL_RATE"
checkin "CheckIn @poll" -D "$LOAD_SECS" -r "$POLL_RATE"
healthz "inline /healthz @$FAST_RATE/s" -D "$FAST_SECS" -r "$FAST_RATE"
checkin "CheckIn @$FAST_RATE/s" -D "$FAST_SECS" -r "$FAST_RATE"
still=$(streams_open || echo 0)
kill -INT "$HPID"
wait "$HPID" || true
HPID=
held=$(sed -n 's/^mode=hold.* open_at_end=\([0-9]*\).*/\1/p' "$T/hold.out")
echo "   streams: $open opened, ${still:-0} still open on ferryd before closing, ${held:-0} open at the client's end;" \
    "ferryd VmRSS $(mb "$rss0") MB before them, $(mb "$rss1") MB with them" \
    "($(awk -v a="$rss0" -v b="$rss1" -v n="$AGENTS" 'BEGIN{printf "%.1f", (b - a) / n}') KB per stream)"
[ "${held:-0}" -ge "$AGENTS" ] || { echo "streams: FAILED (not all held)"; cat "$T/hold.err"; exit 1; }
# per_call CASE -> "gross_us net_us seconds cpu_s" (net "noise": the streams' idle rate
# accounts for all of the window's CPU)
per_call() {
    grep "^case=$1 " "$T/results" | awk -v r="$STREAM_CPU_RATE" '{
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        n = v["requests"]; c = v["sched_cpu_s"]; net = c - r * v["seconds"]
        printf "%.1f %s %.3f %.4f\n", (n > 0 ? c * 1e6 / n : 0),
            (n > 0 && net > 0 ? sprintf("%.1f", net * 1e6 / n) : "noise"), v["seconds"], c }'
}
read -r HZ_POLL_G HZ_POLL_N _ _ <<<"$(per_call "inline /healthz @poll")"
read -r CI_POLL_G CI_POLL_N CI_POLL_SECS CI_POLL_CPU <<<"$(per_call "CheckIn @poll")"
read -r HZ_FAST_G HZ_FAST_N _ _ <<<"$(per_call "inline /healthz @$FAST_RATE/s")"
read -r CI_FAST_G CI_FAST_N _ _ <<<"$(per_call "CheckIn @$FAST_RATE/s")"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (a + 0 > 0 && b + 0 > 0) printf "%.1fx", a / b; else print "n/a"}'; }
FLEET_CORE=$(awk -v c="$CI_POLL_CPU" -v s="$CI_POLL_SECS" 'BEGIN{printf "%.2f", (s > 0 ? c / s * 100 : 0)}')
echo "   ferryd CPU per call (gross = all of ferryd's CPU in the window / calls; net = minus the streams' idle rate):"
printf '     %-16s inline %7s us gross %7s us net, CheckIn %7s us gross %7s us net -> ratio %s gross, %s net\n' \
    "@poll ($POLL_RATE/s)" "$HZ_POLL_G" "$HZ_POLL_N" "$CI_POLL_G" "$CI_POLL_N" "$(ratio "$CI_POLL_G" "$HZ_POLL_G")" \
    "$(ratio "$CI_POLL_N" "$HZ_POLL_N")"
printf '     %-16s inline %7s us gross %7s us net, CheckIn %7s us gross %7s us net -> ratio %s gross, %s net\n' \
    "@$FAST_RATE/s" "$HZ_FAST_G" "$HZ_FAST_N" "$CI_FAST_G" "$CI_FAST_N" "$(ratio "$CI_FAST_G" "$HZ_FAST_G")" \
    "$(ratio "$CI_FAST_N" "$HZ_FAST_N")"
echo "   ferryd serving $AGENTS agents (streams + a heartbeat each per $POLL s): $FLEET_CORE % of one core;" \
    "the streams alone $STREAM_CPU_PER_MIN ms CPU per minute"

# ---- summary ----------------------------------------------------------------------------
echo
echo "summary"
printf '  %-46s %-22s %-24s %-8s %s\n' figure measured baseline ratio "target / verdict"
printf '  %-46s %-22s %-24s %-8s %s\n' "download, agentd_download (hash+fdatasync)" "${DL_MBS[agent]} MB/s" \
    "curl+sha256sum ${DL_MBS[curl+sha256sum]} MB/s" "${DL_RATIO}x" ">= 0.9x: $DL_VERDICT"
for name in curl+sha256sum+fdatasync curl+openssl curl; do
    printf '  %-46s %-22s %-24s %-8s %s\n' "  reference: $name" "${DL_MBS[$name]} MB/s" "" \
        "$(awk -v a="${DL_MBS[agent]}" -v b="${DL_MBS[$name]}" 'BEGIN{printf "%.2fx", a / b}')" "(agent / it)"
done
printf '  %-46s %-22s %-24s %-8s %s\n' "idle agent VmRSS (max over ${IDLE_SECS} s)" "$(mb "$RSS_MAX") MB" "" "" \
    "<= 8 MB: $RSS_VERDICT"
printf '  %-46s %-22s %-24s %-8s %s\n' "  of it own (dirty: anon + written data)" "$(mb "$R_OWN") MB" \
    "clean code $(mb "$R_CLEAN") MB" "" "$PRIV_VERDICT"
printf '  %-46s %-22s %-24s %-8s %s\n' "  Pss / VmHWM / threads" "$(mb "$R_PSS") / $(mb "$HWM") MB" "$NTHREADS threads" "" ""
printf '  %-46s %-22s %-24s %-8s %s\n' "idle agent CPU" "$IDLE_CPU_PER_MIN ms/min" \
    "$IDLE_WAKE_PER_MIN wakeups/min" "" "$(awk -v m="$IDLE_CPU_PER_MIN" 'BEGIN{printf "%.3f", m / 600}') % of a core"
printf '  %-46s %-22s %-24s %-8s %s\n' "ferryd CPU/heartbeat @$POLL_RATE/s, $AGENTS streams" "$CI_POLL_G us" \
    "inline $HZ_POLL_G us" "$(ratio "$CI_POLL_G" "$HZ_POLL_G")" "net $CI_POLL_N vs $HZ_POLL_N us"
printf '  %-46s %-22s %-24s %-8s %s\n' "ferryd CPU/heartbeat @$FAST_RATE/s, $AGENTS streams" "$CI_FAST_G us" \
    "inline $HZ_FAST_G us" "$(ratio "$CI_FAST_G" "$HZ_FAST_G")" "net $CI_FAST_N vs $HZ_FAST_N us"
printf '  %-46s %-22s %-24s %-8s %s\n' "ferryd for $AGENTS agents @ ${POLL} s poll" "$FLEET_CORE % of a core" \
    "streams idle $STREAM_CPU_PER_MIN ms/min" "" \
    "RSS +$(awk -v a="$rss0" -v b="$rss1" -v n="$AGENTS" 'BEGIN{printf "%.1f", (b - a) / n}') KB/stream"
