#!/usr/bin/env bash
# The main job, end to end on the embedded defaults (SQLite, local blob store):
#
#   1. build; `ferryd init` + `ferryd serve` on loopback
#   2. the implementer's side through the `ferry` CLI: customer -> store -> node (token
#      shown once), upload a real update package, publish a FORCED release
#   3. the node's side: a customer site with a real service process (ferry-testd), a
#      SQLite database, server and client folders; the agent binds, checks in, gets a
#      signed download URL, downloads and verifies the package, applies it with
#      `ferry-agent` (stop, back up the trio, install, SQL, start, health check) and
#      reports every state to ferryd
#   4. the result: task state 100 on the server, the backup trio and the new version
#      on the site
#
# The long-running agent daemon (watch/poll, download, report) is a later issue; until
# it lands, step 3's network calls are made here with curl against the agent's
# published RPCs (Connect + JSON), exactly the calls the daemon will make.
#
# Usage: scripts/demo.sh [--keep]     (--keep leaves demo-run/ and the server running)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1

./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target ferryd ferry ferry-agent ferry-testd >/dev/null

B=$ROOT/build
FERRYD=$B/server/ferryd
FERRY=$B/cli/ferry
AGENT=$B/agent/ferry-agent
TESTD=$(find "$B" -name ferry-testd -type f -perm -u+x | head -n1)
R=$ROOT/demo-run
SITE=$R/site
VERSION='1.25.12.13(12521)'

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d, "json": json}))' "$1"; }

SERVER_PID=""
cleanup() {
  if [ "$KEEP" = 0 ]; then
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    [ -f "$SITE/run/app.pid" ] && "$TESTD" --stop --pidfile "$SITE/run/app.pid" >/dev/null 2>&1
  fi
  return 0
}
trap cleanup EXIT

rm -rf "$R"
mkdir -p "$R"

say "ferryd init + serve"
ADMIN_TOKEN=$("$FERRYD" init --data-dir "$R/data" --json | json 'd["adminToken"]')
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$FERRYD" serve --data-dir "$R/data" --listen "127.0.0.1:$PORT" --poll-interval 5 >"$R/ferryd.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$R/ferryd.log"; exit 1; }
echo "ferryd listening on 127.0.0.1:$PORT (log: $R/ferryd.log)"
export FERRY_SERVER="http://127.0.0.1:$PORT" FERRY_TOKEN="$ADMIN_TOKEN"
"$FERRY" whoami

say "the tree: customer -> store -> node"
"$FERRY" customer create --code ACME --name "Acme Foods"
"$FERRY" store create --customer ACME --code ACME-SH01 --name "Shanghai 01"
NODE_TOKEN=$("$FERRY" node create --store ACME-SH01 --code SH01-SRV --env PROD --name "SH01 server" --json |
  json 'd["token"]')
echo "node SH01-SRV created; its token was shown once and handed to the site"

say "a customer site: service process, SQLite database, server and client folders"
mkdir -p "$SITE"/{server/bin,server/config,server/logs,client,backup,tmp,state,db,run}
printf 'app 1.0\n' >"$SITE/server/bin/app.txt"
printf 'stale file from an old release\n' >"$SITE/server/bin/stale.txt"
printf '{"conn":"site-specific"}\n' >"$SITE/server/config/app.json"
printf 'keep me\n' >"$SITE/server/logs/app.log"
printf 'client 1.0\n' >"$SITE/client/setup.txt"
sqlite3 "$SITE/db/main.db" "CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT); INSERT INTO orders(item) VALUES ('tea');"
APP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$SITE/node-config.json" <<EOF
{
  "configVersion": 1,
  "service": {
    "name": "rca7-demo",
    "stopTimeoutSeconds": 20,
    "startTimeoutSeconds": 20,
    "control": "command",
    "startCommand": "$TESTD --daemon --pidfile $SITE/run/app.pid --port $APP_PORT",
    "stopCommand": "$TESTD --stop --pidfile $SITE/run/app.pid",
    "statusCommand": "$TESTD --status --pidfile $SITE/run/app.pid",
    "healthCheck": {"kind": "http", "target": "http://127.0.0.1:$APP_PORT/health"}
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
EOF
"$TESTD" --daemon --pidfile "$SITE/run/app.pid" --port "$APP_PORT"
echo "service running (pid $(cat "$SITE/run/app.pid")), health on :$APP_PORT"

say "the update package $VERSION.zip"
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
ls -l "$PKG"

say "upload (chunked, resumable) and publish a FORCED release"
"$FERRY" package upload "$PKG" --version "$VERSION" --description "demo update" --type full
RELEASE=$("$FERRY" release create --version "$VERSION" --env PROD --customer ACME --policy forced --json |
  json 'd["id"]')
echo "release $RELEASE published"
"$FERRY" task list --release "$RELEASE"

say "the node: bind, check in, download, verify"
rpc() { # rpc METHOD JSON [token]
  curl -fsS -H 'content-type: application/json' ${3:+-H "authorization: Bearer $3"} \
    -d "$2" "http://127.0.0.1:$PORT/$1"
}
rpc ferry.v1.AgentService/Bind "{\"nodeCode\":\"SH01-SRV\",\"environment\":\"ENVIRONMENT_PROD\",\"token\":\"$NODE_TOKEN\"}" |
  json '"bound as " + d["node"]["code"] + "; server signing keys: " + str(len(d.get("signingKeys", [])))'
TASK=$(rpc ferry.v1.AgentService/CheckIn '{"agent":{"agentVersion":"demo"}}' "$NODE_TOKEN" |
  json 'd["assignments"][0]["task"]["id"]')
echo "assigned task $TASK"
DL=$(rpc ferry.v1.AgentService/GetDownload "{\"taskId\":\"$TASK\"}" "$NODE_TOKEN")
URL=$(echo "$DL" | json 'sorted(d["sources"], key=lambda s: s.get("priority", 0))[0]["url"]')
SHA=$(echo "$DL" | json 'd["sha256"]')
SEQ=0
report() { # report STATE [extra json]
  SEQ=$((SEQ + 1))
  rpc ferry.v1.ReportService/ReportProgress \
    "{\"report\":{\"taskId\":\"$TASK\",\"sequence\":\"$SEQ\",\"state\":\"$1\"${2:+,$2}}}" "$NODE_TOKEN" >/dev/null
  echo "reported $1"
}
report TASK_STATE_DOWNLOADING
curl -fsS -o "$SITE/tmp/package.zip" "$URL"
report TASK_STATE_VERIFYING
echo "$SHA  $SITE/tmp/package.zip" | sha256sum -c -

say "ferry-agent apply: stop -> backup trio -> install -> SQL -> start -> health"
set +e
"$AGENT" apply "$SITE/tmp/package.zip" --config "$SITE/node-config.json" --version "$VERSION" --sha256 "$SHA"
APPLY_RC=$?
set -e
STATUS=$("$AGENT" status --config "$SITE/node-config.json" --json)
# Report the states the engine went through (from its journal), in order; the final
# report carries the error code and the real backup path (BackupLocalPath).
echo "$STATUS" | python3 -c '
import json, sys
names = {40: "WAITING_USER", 50: "STOPPING_SERVICE", 60: "BACKING_UP", 70: "INSTALLING_SERVER",
         75: "INSTALLING_CLIENT", 80: "RUNNING_SQL", 90: "STARTING_SERVICE", 100: "SUCCEEDED",
         110: "FAILED", 120: "ROLLBACKING", 130: "ROLLBACKED"}
d = json.load(sys.stdin)
seen = []
for e in d["events"]:
    if e["to"] > 30 and e["to"] not in seen:
        seen.append(e["to"])
for st in seen:
    extra = ""
    if st >= 100:
        code = "" if d.get("errorCode") in (None, "OK") else d["errorCode"]
        extra = "\"errorCode\":%s,\"backupLocalPath\":%s" % (json.dumps(code), json.dumps(d.get("backupPath") or "")) + ",\"percent\":100"
    print("TASK_STATE_%s\t%s" % (names[st], extra))
' >"$R/states.tsv"
while IFS=$'\t' read -r st extra; do report "$st" "$extra"; done <"$R/states.tsv"

say "what the server sees"
"$FERRY" task list --release "$RELEASE"
"$FERRY" release summary "$RELEASE"
"$FERRY" audit list | head -n 12

say "what the site looks like now"
echo "server dir:"; (cd "$SITE/server" && find . -type f | sort | sed 's/^/  /')
echo "client dir:"; (cd "$SITE/client" && find . -type f | sort | sed 's/^/  /')
echo "backup trio:"; (cd "$SITE/backup" && find . -maxdepth 2 | sort | sed 's/^/  /')
echo "database:"; sqlite3 "$SITE/db/main.db" "SELECT 'orders: ' || group_concat(item, ', ') FROM orders; SELECT 'invoices: ' || count(*) FROM invoices;"
curl -fsS "http://127.0.0.1:$APP_PORT/health" >/dev/null && echo "service healthy after the update"

STATE=$("$FERRY" task list --release "$RELEASE" --json | json 'd["tasks"][0]["state"]')
if [ "$APPLY_RC" -ne 0 ] || [ "$STATE" != 100 ]; then
  echo "demo FAILED: ferry-agent exit $APPLY_RC, server task state $STATE" >&2
  exit 1
fi
say "demo complete: task $TASK is 100 Succeeded on the server"
[ "$KEEP" = 1 ] && echo "ferryd still running on :$PORT (pid $SERVER_PID); FERRY_SERVER/FERRY_TOKEN as above"
exit 0
