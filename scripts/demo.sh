#!/usr/bin/env bash
# The main job, end to end on the embedded defaults (SQLite, local blob store):
#
#   1. build; `ferryd init` + `ferryd serve` on loopback
#   2. the implementer's side through the `ferry` CLI: customer -> store -> two nodes
#      (tokens shown once), upload real update packages (chunked, signed manifest)
#   3. two customer sites of one store, each with a real service process (ferry-testd),
#      a SQLite database, server and client folders, and a real `ferry-agent run`
#      daemon bound to its node (`ferry-agent bind`, token on stdin)
#   4. a FORCED release: pushed to both daemons over WatchAssignments; each downloads
#      through a signed URL, verifies the Ed25519-signed manifest and the SHA-256, and
#      applies it (stop, back up the trio, install, SQL, start, health check), reporting
#      every step; `ferry release watch` shows it live until both are 100
#   5. an OPTIONAL release: both wait in 40 WaitingUser; site 1 defers through the
#      agent's local API (what the tray does), site 2 accepts and updates
#
# Nobody touches the nodes: the daemons do it all.
#
# Usage: scripts/demo.sh [--keep]   (--keep leaves demo-run/, ferryd and the agents running)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1

./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target ferryd ferry ferry-agent ferry-testd ferry_console >/dev/null

B=$ROOT/build
FERRYD=$B/server/ferryd
FERRY=$B/cli/ferry
AGENT=$B/agent/ferry-agent
TESTD=$(find "$B" -name ferry-testd -type f -perm -u+x | head -n1)
R=$ROOT/demo-run
VERSION='1.25.12.13(12521)'
VERSION2='1.25.12.14(12522)'

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d, "json": json}))' "$1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

SERVER_PID=""
AGENT_PIDS=()
cleanup() {
  if [ "$KEEP" = 0 ]; then
    for p in "${AGENT_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${AGENT_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    for n in 1 2; do
      [ -f "$R/site$n/run/app.pid" ] && "$TESTD" --stop --pidfile "$R/site$n/run/app.pid" >/dev/null 2>&1
    done
  fi
  return 0
}
trap cleanup EXIT

rm -rf "$R"
mkdir -p "$R"

say "ferryd init + serve"
ADMIN_TOKEN=$("$FERRYD" init --data-dir "$R/data" --json | json 'd["adminToken"]')
PORT=$(free_port)
"$FERRYD" serve --data-dir "$R/data" --listen "127.0.0.1:$PORT" --poll-interval 60 >"$R/ferryd.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$R/ferryd.log"; exit 1; }
echo "ferryd listening on 127.0.0.1:$PORT (log: $R/ferryd.log)"
if curl -fs -o /dev/null "http://127.0.0.1:$PORT/console/"; then
  echo "web console: http://127.0.0.1:$PORT/console/ (sign in with the admin token; KEEP=1 keeps the demo running to look)"
fi
export FERRY_SERVER="http://127.0.0.1:$PORT" FERRY_TOKEN="$ADMIN_TOKEN"
"$FERRY" whoami

say "the tree: customer -> store -> two nodes"
"$FERRY" customer create --code ACME --name "Acme Foods"
"$FERRY" store create --customer ACME --code ACME-SH01 --name "Shanghai 01"
declare -A NODE_TOKEN
for n in 1 2; do
  NODE_TOKEN[$n]=$("$FERRY" node create --store ACME-SH01 --code "SH01-SRV$n" --env PROD --name "SH01 server $n" \
    --json | json 'd["token"]')
done
echo "nodes SH01-SRV1 and SH01-SRV2 created; each token was shown once and handed to its site"

say "two customer sites: service process, SQLite database, server and client folders"
declare -A APP_PORT
for n in 1 2; do
  SITE=$R/site$n
  mkdir -p "$SITE"/{server/bin,server/config,server/logs,client,backup,tmp,state,agent,db,run}
  printf 'app 1.0\n' >"$SITE/server/bin/app.txt"
  printf 'stale file from an old release\n' >"$SITE/server/bin/stale.txt"
  printf '{"conn":"site-specific"}\n' >"$SITE/server/config/app.json"
  printf 'keep me\n' >"$SITE/server/logs/app.log"
  printf 'client 1.0\n' >"$SITE/client/setup.txt"
  sqlite3 "$SITE/db/main.db" "CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT); INSERT INTO orders(item) VALUES ('tea');"
  APP_PORT[$n]=$(free_port)
  cat >"$SITE/node-config.json" <<CFG
{
  "configVersion": 1,
  "service": {
    "name": "rca7-demo-$n",
    "stopTimeoutSeconds": 20,
    "startTimeoutSeconds": 20,
    "control": "command",
    "startCommand": "$TESTD --daemon --pidfile $SITE/run/app.pid --port ${APP_PORT[$n]}",
    "stopCommand": "$TESTD --stop --pidfile $SITE/run/app.pid",
    "statusCommand": "$TESTD --status --pidfile $SITE/run/app.pid",
    "healthCheck": {"kind": "http", "target": "http://127.0.0.1:${APP_PORT[$n]}/health"}
  },
  "paths": {
    "serverDir": "$SITE/server",
    "clientDir": "$SITE/client",
    "backupRoot": "$SITE/backup",
    "tempDir": "$SITE/tmp",
    "protectPaths": ["$SITE/server/config", "$SITE/server/logs"]
  },
  "backup": {
    "retentionN": 5,
    "db": {"engine": "sqlite", "databases": ["$SITE/db/main.db"], "backupFileName": "data.bak"},
    "clientBackupFileName": "client.zip"
  },
  "deploy": {"deleteOldFiles": true, "clientDeleteOldFiles": true},
  "stateDir": "$SITE/state"
}
CFG
  "$TESTD" --daemon --pidfile "$SITE/run/app.pid" --port "${APP_PORT[$n]}"
  echo "site $n: service running (pid $(cat "$SITE/run/app.pid")), health on :${APP_PORT[$n]}"
done

say "the update packages"
P=$R/pkg
mkdir -p "$P/server/bin" "$P/client"
printf 'app 1.25\n' >"$P/server/bin/app.txt"
printf 'new module\n' >"$P/server/bin/module.txt"
printf 'client 1.25\n' >"$P/client/setup.txt"
(cd "$P/server" && zip -qr "$P/server.zip" .)
(cd "$P/client" && zip -qr "$P/client.zip" .)
printf 'CREATE TABLE invoices(id INTEGER PRIMARY KEY, amount INTEGER);\nGO\n' >"$P/结构.sql"
printf "INSERT INTO invoices(amount) VALUES (42);\nINSERT INTO orders(item) VALUES ('coffee');\nGO\n" >"$P/data.sql"
PKG="$R/$VERSION.zip"
(cd "$P" && zip -q "$PKG" server.zip client.zip 结构.sql data.sql)
# The optional update of the second release: a new app version and one more row.
printf 'app 1.25.14\n' >"$P/server/bin/app.txt"
rm -f "$P/server.zip" && (cd "$P/server" && zip -qr "$P/server.zip" .)
printf 'CREATE TABLE refunds(id INTEGER PRIMARY KEY);\nGO\n' >"$P/结构.sql"
printf "INSERT INTO orders(item) VALUES ('cake');\nGO\n" >"$P/data.sql"
PKG2="$R/$VERSION2.zip"
(cd "$P" && zip -q "$PKG2" server.zip client.zip 结构.sql data.sql)
ls -l "$PKG" "$PKG2"
"$FERRY" package upload "$PKG" --version "$VERSION" --description "demo update" --type full
"$FERRY" package upload "$PKG2" --version "$VERSION2" --description "optional demo update" --type full

say "the nodes: ferry-agent bind + ferry-agent run on each site"
for n in 1 2; do
  S=$R/site$n
  printf %s "${NODE_TOKEN[$n]}" | "$AGENT" bind --server "$FERRY_SERVER" --node "SH01-SRV$n" --env PROD \
    --token-file - --state-dir "$S/agent"
  "$AGENT" run --state-dir "$S/agent" --config "$S/node-config.json" >"$S/agent.log" 2>&1 &
  AGENT_PIDS+=($!)
done
for n in 1 2; do
  for _ in $(seq 100); do
    "$AGENT" status --state-dir "$R/site$n/agent" --json 2>/dev/null | grep -q STREAMING && break
    sleep 0.1
  done
done
"$AGENT" status --state-dir "$R/site1/agent"

say "a FORCED release, watched live"
RELEASE=$("$FERRY" release create --version "$VERSION" --env PROD --customer ACME --policy forced --json |
  json 'd["id"]')
echo "release $RELEASE published; the agents get it pushed"
"$FERRY" release watch "$RELEASE"
"$FERRY" task list --release "$RELEASE"
"$FERRY" release summary "$RELEASE"

say "an OPTIONAL release: site 1 defers, site 2 accepts (through the agent's local API, as the tray does)"
REL2=$("$FERRY" release create --version "$VERSION2" --env PROD --customer ACME --policy optional --json |
  json 'd["id"]')
states2() { "$FERRY" task list --release "$REL2" --json | json 'sorted(t["state"] for t in d["tasks"])'; }
for _ in $(seq 200); do [ "$(states2)" = "[40, 40]" ] && break; sleep 0.2; done
"$FERRY" task list --release "$REL2"
local_call() { # local_call SITE METHOD JSON
  curl -fsS -H 'content-type: application/json' -H "authorization: Bearer $(cat "$R/site$1/agent/local.secret")" \
    -d "$3" "$(json 'd["url"]' <"$R/site$1/agent/local.json")/ferry.v1.LocalService/$2"
}
task_of() { "$FERRY" task list --release "$REL2" --json | json "[t['id'] for t in d['tasks'] if t['nodeCode'] == '$1'][0]"; }
local_call 1 RespondToPrompt "{\"taskId\":\"$(task_of SH01-SRV1)\",\"choice\":\"PROMPT_CHOICE_DEFER\",\"deferFor\":\"3600s\"}" |
  json '"site 1: " + d["update"]["prompt"] + " until " + d["update"].get("deferredUntil", "?")'
local_call 2 RespondToPrompt "{\"taskId\":\"$(task_of SH01-SRV2)\",\"choice\":\"PROMPT_CHOICE_NOW\"}" |
  json '"site 2: " + d["update"]["prompt"]'
for _ in $(seq 300); do [ "$(states2)" = "[40, 100]" ] && break; sleep 0.2; done
"$FERRY" task list --release "$REL2"

say "what the server sees"
"$FERRY" audit list | head -n 12

say "what the sites look like now"
for n in 1 2; do
  SITE=$R/site$n
  echo "site $n server dir:"; (cd "$SITE/server" && find . -type f | sort | sed 's/^/  /')
  echo "site $n backups:"; (cd "$SITE/backup" && find . -maxdepth 2 | sort | sed 's/^/  /')
  sqlite3 "$SITE/db/main.db" "SELECT 'site $n orders: ' || group_concat(item, ', ') FROM orders;"
  curl -fsS "http://127.0.0.1:${APP_PORT[$n]}/health" >/dev/null && echo "site $n: service healthy"
  "$AGENT" status --state-dir "$SITE/agent" | sed 's/^/  /'
done

S1=$("$FERRY" task list --release "$RELEASE" --json | json 'sorted(t["state"] for t in d["tasks"])')
S2=$(states2)
if [ "$S1" != "[100, 100]" ] || [ "$S2" != "[40, 100]" ]; then
  echo "demo FAILED: forced release $S1 (want [100, 100]), optional release $S2 (want [40, 100])" >&2
  for n in 1 2; do tail -n 20 "$R/site$n/agent.log" >&2; done
  exit 1
fi
say "demo complete: forced release 100 on both nodes; optional release deferred on site 1, 100 on site 2"
[ "$KEEP" = 1 ] && echo "ferryd (pid $SERVER_PID) and agents (${AGENT_PIDS[*]}) still running; FERRY_SERVER/FERRY_TOKEN as above"
exit 0
