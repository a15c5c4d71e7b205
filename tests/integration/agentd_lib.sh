# Shared helpers of the agent daemon's end-to-end tests (sourced, not run): a real
# ferryd on loopback, real `ferry-agent run` daemons, real customer sites (a ferry-testd
# service process, a SQLite database, server and client folders), packages built with
# zip and published with the `ferry` CLI. Everything started here is stopped by the
# EXIT trap, also when a test fails half-way or kill -9'd an agent.
set -euo pipefail

: "${FERRY_BUILD_DIR:?FERRY_BUILD_DIR must be set (ctest sets it)}"
: "${FERRY_SOURCE_DIR:?FERRY_SOURCE_DIR must be set (ctest sets it)}"
B=$FERRY_BUILD_DIR
FERRYD=$B/server/ferryd
FERRY=$B/cli/ferry
AGENT=$B/agent/ferry-agent
TESTD=${FERRY_TESTD:-$(find "$B/tests" -maxdepth 2 -name ferry-testd -type f -perm -u+x 2>/dev/null | head -1)}
PY=$(command -v /usr/bin/python3 || command -v python3 || true)
[ -n "$PY" ] || { echo "SKIP: python3 not installed"; exit 77; }
for tool in sqlite3 zip curl; do
    command -v $tool >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
for bin in "$FERRYD" "$FERRY" "$AGENT" "$TESTD"; do
    [ -x "$bin" ] || { echo "SKIP: $bin not built"; exit 77; }
done

W=$(mktemp -d /tmp/ferry-agentd-XXXXXX)
SERVER_PID=""
declare -A AGENT_PID=()
PORT=""

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
fail() {
    echo "FAIL: $*" >&2
    for n in "${!AGENT_PID[@]}"; do
        echo "---- agent $n log (tail)" >&2
        tail -n 40 "$W/$n/agent.log" >&2 2>/dev/null || true
    done
    echo "---- ferryd log (tail)" >&2
    tail -n 20 "$W/ferryd.log" >&2 2>/dev/null || true
    exit 1
}

cleanup() {
    set +e
    for n in "${!AGENT_PID[@]}"; do
        kill -TERM "${AGENT_PID[$n]}" 2>/dev/null
    done
    for n in "${!AGENT_PID[@]}"; do
        for _ in $(seq 50); do kill -0 "${AGENT_PID[$n]}" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "${AGENT_PID[$n]}" 2>/dev/null
        wait "${AGENT_PID[$n]}" 2>/dev/null
    done
    [ -n "$SERVER_PID" ] && { kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; }
    for pf in "$W"/*/run/app.pid; do
        [ -f "$pf" ] && "$TESTD" --stop --pidfile "$pf" >/dev/null 2>&1
    done
    if [ "${KEEP_W:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d, "json": json}))' "$1"; }

# server_start [extra serve flags]: ferryd init (first time) + serve on $PORT.
server_start() {
    if [ ! -d "$W/data" ]; then
        ADMIN_TOKEN=$("$FERRYD" init --data-dir "$W/data" --json | json 'd["adminToken"]')
        PORT=$(free_port)
    fi
    "$FERRYD" serve --data-dir "$W/data" --listen "127.0.0.1:$PORT" --poll-interval "${POLL:-60}" "$@" \
        >>"$W/ferryd.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null || fail "ferryd did not start"
    export FERRY_SERVER="http://127.0.0.1:$PORT" FERRY_TOKEN="$ADMIN_TOKEN"
}

server_stop() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# tree CUSTOMER STORE: customer + store.
tree() {
    "$FERRY" customer create --code "$1" --name "$1" >/dev/null
    "$FERRY" store create --customer "$1" --code "$2" --name "$2" >/dev/null
}

# site NODE STORE [service=testd|none]: creates the node on the server, its site on disk
# with node-config.json, and writes the node token to $W/NODE/token.in.
site() {
    local n=$1 store=$2 svc=${3:-testd}
    local S=$W/$n
    "$FERRY" node create --store "$store" --code "$n" --env PROD --name "$n" --json | json 'd["token"]' >"$W/$n.token"
    mkdir -p "$S"/{server/bin,server/config,server/logs,client,backup,tmp,state,engine,db,run}
    printf 'app 1.0\n' >"$S/server/bin/app.txt"
    printf 'stale\n' >"$S/server/bin/stale.txt"
    printf '{"conn":"site"}\n' >"$S/server/config/app.json"
    printf 'client 1.0\n' >"$S/client/setup.txt"
    sqlite3 "$S/db/main.db" "CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT); INSERT INTO orders(item) VALUES ('tea');"
    local app_port health control
    app_port=$(free_port)
    if [ "$svc" = testd ]; then
        control="\"control\": \"command\",
    \"startCommand\": \"$TESTD --daemon --pidfile $S/run/app.pid --port $app_port\",
    \"stopCommand\": \"${STOP_CMD:-$TESTD --stop --pidfile $S/run/app.pid}\",
    \"statusCommand\": \"$TESTD --status --pidfile $S/run/app.pid\""
        health="\"healthCheck\": {\"kind\": \"http\", \"target\": \"http://127.0.0.1:$app_port/health\"}"
        "$TESTD" --daemon --pidfile "$S/run/app.pid" --port "$app_port"
    else
        # A "service" that is a marker file: cheap enough for 50 sites on 2 cores.
        control="\"control\": \"command\", \"startCommand\": \"touch $S/run/up\",
    \"stopCommand\": \"rm -f $S/run/up\", \"statusCommand\": \"test -f $S/run/up\""
        touch "$S/run/up"
        health="\"healthCheck\": {\"kind\": \"none\"}"
    fi
    cat >"$S/node-config.json" <<EOF
{
  "configVersion": 1,
  "service": {
    "name": "app-$n", "stopTimeoutSeconds": ${STOP_TIMEOUT:-20}, "startTimeoutSeconds": 20,
    $control,
    $health
  },
  "paths": {
    "serverDir": "$S/server", "clientDir": "$S/client", "backupRoot": "$S/backup", "tempDir": "$S/tmp",
    "protectPaths": ["$S/server/config", "$S/server/logs"]
  },
  "backup": {
    "retentionN": 5,
    "db": {"engine": "sqlite", "databases": ["$S/db/main.db"], "backupFileName": "data.bak"},
    "clientBackupFileName": "client.zip"
  },
  "deploy": {"deleteOldFiles": true, "clientDeleteOldFiles": true},
  "stateDir": "$S/engine"
}
EOF
}

# bind NODE: ferry-agent bind with the token on stdin.
bind() {
    "$AGENT" bind --server "$FERRY_SERVER" --node "$1" --env PROD --token-file - --state-dir "$W/$1/state" \
        <"$W/$1.token" >/dev/null || fail "bind $1"
}

# agent_start NODE [env...]: ferry-agent run in the background, log in $W/NODE/agent.log.
agent_start() {
    local n=$1
    shift
    env "$@" "$AGENT" run --state-dir "$W/$n/state" --config "$W/$n/node-config.json" >>"$W/$n/agent.log" 2>&1 &
    AGENT_PID[$n]=$!
    for _ in $(seq 100); do [ -f "$W/$n/state/local.json" ] && break; sleep 0.05; done
}

agent_stop() { # agent_stop NODE [signal]
    local pid=${AGENT_PID[$1]}
    kill -"${2:-TERM}" "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "AGENT_PID[$1]"
    rm -f "$W/$1/state/local.json"
}

# pkg VERSION [variant]: builds $W/pkg-VERSION.zip (server.zip, client.zip, SQL) and uploads it.
pkg() {
    local v=$1 variant=${2:-ok}
    local P=$W/pkgsrc-$v
    rm -rf "$P"
    mkdir -p "$P/server/bin" "$P/client"
    printf 'app %s\n' "$v" >"$P/server/bin/app.txt"
    printf 'client %s\n' "$v" >"$P/client/setup.txt"
    (cd "$P/server" && zip -qr "$P/server.zip" .)
    (cd "$P/client" && zip -qr "$P/client.zip" .)
    local tbl
    tbl=t_$(printf '%s' "$v" | tr -c 'a-zA-Z0-9' '_')
    if [ "$variant" = badsql ]; then
        printf 'CREATE TABLE %s(id INTEGER);\nGO\n' "$tbl" >"$P/结构.sql"
        printf 'INSERT INTO no_such_table VALUES (1);\nGO\n' >"$P/data.sql"
    else
        printf 'CREATE TABLE %s(id INTEGER);\nGO\n' "$tbl" >"$P/结构.sql"
        printf "INSERT INTO orders(item) VALUES ('%s');\nGO\n" "$v" >"$P/data.sql"
    fi
    (cd "$P" && zip -q "$W/pkg-$v.zip" server.zip client.zip 结构.sql data.sql)
    "$FERRY" package upload "$W/pkg-$v.zip" --version "$v" --description "test $v" --type full >/dev/null ||
        fail "upload $v"
}

# release VERSION POLICY [flags...]: prints the release id.
release() {
    local v=$1 pol=$2
    shift 2
    "$FERRY" release create --version "$v" --env PROD --customer "${CUSTOMER:-ACME}" --policy "$pol" "$@" --json |
        json 'd["id"]'
}

# states RELEASE: "NODE=STATE ..." sorted.
states() {
    "$FERRY" task list --release "$1" --json |
        json '" ".join(sorted("%s=%s" % (t["nodeCode"], t["state"]) for t in d.get("tasks", [])))'
}

# wait_states RELEASE WANT SECONDS: waits until states RELEASE == WANT.
wait_states() {
    local r=$1 want=$2 secs=$3 got=""
    local end=$((SECONDS + secs))
    while [ $SECONDS -lt $end ]; do
        got=$(states "$r")
        [ "$got" = "$want" ] && return 0
        sleep 0.3
    done
    fail "release $r: want '$want' within ${secs}s, got '$got'"
}

# local_call NODE METHOD JSON: LocalService over Connect+JSON with the local secret.
local_call() {
    local url secret
    url=$(json 'd["url"]' <"$W/$1/state/local.json")
    secret=$(cat "$W/$1/state/local.secret")
    curl -sS -H 'content-type: application/json' -H "authorization: Bearer $secret" -d "$3" \
        "$url/ferry.v1.LocalService/$2"
}

# task_of RELEASE NODE: the task id.
task_of() {
    "$FERRY" task list --release "$1" --json |
        json "[t['id'] for t in d['tasks'] if t['nodeCode'] == '$2'][0]"
}
