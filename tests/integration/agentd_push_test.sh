#!/usr/bin/env bash
# Agent daemon end to end: two real `ferry-agent run` daemons of one store against a
# real ferryd. A forced release is PUSHED (reaches 100 well before the 60 s poll
# interval); an optional one waits in 40 WaitingUser, one node defers through the
# local API and stays there, the other accepts and updates; an optional release whose
# deadline passes runs as forced. `ferry-agent status` and the local API's secret
# check are exercised on the way.
source "$(dirname "$0")/agentd_lib.sh"

POLL=60 server_start
tree ACME ACME-SH01
site N1 ACME-SH01
site N2 ACME-SH01

log "bind: a wrong token is refused and stores nothing"
echo "wrong-token" | "$AGENT" bind --server "$FERRY_SERVER" --node N1 --env PROD --token-file - \
    --state-dir "$W/N1/state" >"$W/bind.out" 2>&1 && fail "bind with a wrong token succeeded"
grep -q E_AUTH_INVALID "$W/bind.out" || fail "wrong token: no E_AUTH_INVALID in: $(cat "$W/bind.out")"
[ ! -e "$W/N1/state/token" ] && [ ! -e "$W/N1/state/binding.json" ] || fail "wrong token stored something"
bind N1
bind N2
[ "$(stat -c %a "$W/N1/state/token")" = 600 ] || fail "token file is not 0600"
grep -q "$(cat "$W/N1.token")" "$W/N1/state/binding.json" && fail "token leaked into binding.json"

agent_start N1
agent_start N2
for _ in $(seq 100); do
    "$AGENT" status --state-dir "$W/N1/state" --json 2>/dev/null | grep -q STREAMING && break
    sleep 0.1
done
"$AGENT" status --state-dir "$W/N1/state" | tee "$W/status.txt"
grep -q "link:       streaming" "$W/status.txt" || fail "N1 is not streaming"

log "local API: refused without the secret or with a wrong one"
URL=$(json 'd["url"]' <"$W/N1/state/local.json")
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' -d '{}' \
    "$URL/ferry.v1.LocalService/GetStatus")
[ "$code" = 401 ] || fail "GetStatus without secret: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' -H 'authorization: Bearer 00' \
    -d '{}' "$URL/ferry.v1.LocalService/GetStatus")
[ "$code" = 401 ] || fail "GetStatus with a wrong secret: HTTP $code"
[ "$(stat -c %a "$W/N1/state/local.secret")" = 600 ] || fail "local.secret is not 0600"

log "forced release: pushed, both nodes at 100 long before the 60 s poll"
pkg '1.25.12.13(12521)'
t0=$SECONDS
R1=$(release '1.25.12.13(12521)' forced)
wait_states "$R1" "N1=100 N2=100" 30
took=$((SECONDS - t0))
log "forced release done in ${took}s"
[ $took -lt 30 ] || fail "forced release took ${took}s: not pushed"
grep -q "app 1.25.12.13(12521)" "$W/N1/server/bin/app.txt" || fail "N1 server dir not updated"
[ ! -e "$W/N1/server/bin/stale.txt" ] || fail "stale file not deleted on N1"
[ "$(sqlite3 "$W/N2/db/main.db" "SELECT count(*) FROM orders WHERE item='1.25.12.13(12521)'")" = 1 ] ||
    fail "N2 data.sql not run"
"$FERRY" release summary "$R1" | grep -q "2 node(s) online" ||
    fail "streaming nodes not counted online: $("$FERRY" release summary "$R1")"
"$FERRY" task get "$(task_of "$R1" N1)" >"$W/task.txt"
grep -qi "primary" "$W/task.txt" || log "note: task get shows no download source yet"
"$AGENT" status --state-dir "$W/N1/state" --json | json 'd["installedVersion"]' | grep -q '1.25.12.13(12521)' ||
    fail "N1 status does not show the installed version"
grep -q "$(cat "$W/N1.token")" "$W/N1/agent.log" && fail "token appears in the agent log"

log "optional release: 40 WaitingUser on both; N1 defers, N2 accepts"
pkg '1.25.12.14(12522)'
R2=$(release '1.25.12.14(12522)' optional)
wait_states "$R2" "N1=40 N2=40" 30
T1=$(task_of "$R2" N1)
T2=$(task_of "$R2" N2)
"$AGENT" status --state-dir "$W/N1/state" --json | json 'd["promptWaiting"]' | grep -q True ||
    fail "N1 status: no prompt waiting"
local_call N1 RespondToPrompt "{\"taskId\":\"$T1\",\"choice\":\"PROMPT_CHOICE_DEFER\",\"deferFor\":\"3600s\"}" \
    >"$W/defer.json"
json 'd["update"]["prompt"]' <"$W/defer.json" | grep -q DEFERRED || fail "defer: $(cat "$W/defer.json")"
local_call N2 RespondToPrompt "{\"taskId\":\"$T2\",\"choice\":\"PROMPT_CHOICE_NOW\"}" >"$W/now.json"
wait_states "$R2" "N1=40 N2=100" 30
sleep 2
[ "$(states "$R2")" = "N1=40 N2=100" ] || fail "deferred N1 moved: $(states "$R2")"
"$FERRY" task get "$T1" | grep -qi "deferred" || fail "the server does not show N1's deferral"
grep -q "app 1.25.12.13(12521)" "$W/N1/server/bin/app.txt" || fail "N1 changed although deferred"

log "a bad prompt answer is refused and changes nothing"
out=$(local_call N1 RespondToPrompt "{\"taskId\":\"no-such-task\",\"choice\":\"PROMPT_CHOICE_NOW\"}")
echo "$out" | grep -q not_found || fail "unknown task answer: $out"

log "optional release with a deadline: runs as forced once it passes"
pkg '1.25.12.15(12523)'
DEADLINE=$(date -u -d '+8 seconds' +%Y-%m-%dT%H:%M:%SZ)
R3=$(release '1.25.12.15(12523)' optional --deadline "$DEADLINE")
# N1 still holds the deferred 12522 task: both optional tasks are pending there.
wait_states "$R3" "N1=100 N2=100" 60
log "deadline passed: both nodes updated without an answer"

log "rollback issued by the server: N2 restores the backup taken before 12523"
"$FERRY" release rollback "$R3" --node N2 --reason "test" >/dev/null
for _ in $(seq 300); do
    "$FERRY" task list --node N2 --kind rollback --json | json '[t["state"] for t in d.get("tasks", [])]' |
        grep -q 130 && break
    sleep 0.2
done
"$FERRY" task list --node N2 --kind rollback --json | json '[t["state"] for t in d.get("tasks", [])]' | grep -q 130 ||
    fail "rollback task of N2: $("$FERRY" task list --node N2 --kind rollback --json)"
grep -q "app 1.25.12.14(12522)" "$W/N2/server/bin/app.txt" || fail "N2 not restored: $(cat "$W/N2/server/bin/app.txt")"
"$AGENT" status --state-dir "$W/N2/state" --json | json 'd["installedVersion"]' | grep -q '1.25.12.14(12522)' ||
    fail "N2's installed version did not go back to 12522"

log "air-gapped: ferry package export, then LocalService.ApplyOfflinePackage on N2"
pkg '1.25.12.16(12524)'
"$FERRY" package export '1.25.12.16(12524)' --out "$W/export" --customer ACME --valid-days 7 >/dev/null ||
    fail "package export"
out=$(local_call N2 ApplyOfflinePackage "{\"packagePath\":\"$W/export/1.25.12.16(12524).zip\",\"manifestPath\":\"$W/export/1.25.12.16(12524).manifest.json\"}")
echo "$out" | grep -q '"id":"local-' || fail "ApplyOfflinePackage: $out"
for _ in $(seq 200); do
    grep -q "app 1.25.12.16(12524)" "$W/N2/server/bin/app.txt" && break
    sleep 0.1
done
grep -q "app 1.25.12.16(12524)" "$W/N2/server/bin/app.txt" || fail "offline package not applied on N2"
log "a tampered offline package is refused before anything happens"
cp "$W/export/1.25.12.16(12524).zip" "$W/tampered.zip"
printf 'X' | dd of="$W/tampered.zip" bs=1 seek=200 conv=notrunc status=none
out=$(local_call N2 ApplyOfflinePackage "{\"packagePath\":\"$W/tampered.zip\",\"manifestPath\":\"$W/export/1.25.12.16(12524).manifest.json\"}")
# The seed's code travels in the google.rpc.ErrorInfo detail (and the ferry-error-code header).
echo "$out" | json 'd["code"] + " " + __import__("base64").b64decode(d["details"][0]["value"])[2:17].decode()' |
    grep -qx "invalid_argument E_HASH_MISMATCH" || fail "tampered offline package: $out"

log "node configuration through the local API (the tray's settings page) and by hand"
local_call N1 GetNodeConfig '{}' >"$W/cfg.json"
json 'd["config"]["service"]["stopCommand"]' <"$W/cfg.json" | grep -q -- "--stop" || fail "GetNodeConfig: $(cat "$W/cfg.json")"
"$PY" - "$W/cfg.json" >"$W/save.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))["config"]
c["backup"]["retentionN"] = 3
c["configVersion"] = "0"
print(json.dumps({"config": c}))
EOF
local_call N1 SaveNodeConfig "$(cat "$W/save.json")" >"$W/saved.json"
json 'd["saved"]' <"$W/saved.json" | grep -q True || fail "SaveNodeConfig: $(cat "$W/saved.json")"
grep -q '"retentionN": 3' "$W/N1/node-config.json" || fail "node-config.json not rewritten"
bad=$(local_call N1 SaveNodeConfig '{"config":{"paths":{"serverDir":"relative/dir"}}}')
echo "$bad" | grep -q '"saved":true' && fail "an invalid configuration was saved: $bad"
grep -q '"retentionN": 3' "$W/N1/node-config.json" || fail "a refused save changed node-config.json"
for _ in $(seq 100); do
    "$AGENT" status --state-dir "$W/N1/state" --json | json 'd.get("nodeConfigVersion")' | grep -qx 2 && break
    sleep 0.1
done
"$AGENT" status --state-dir "$W/N1/state" --json | json 'd.get("nodeConfigVersion")' | grep -qx 2 ||
    fail "saved configuration not in effect"
"$PY" - "$W/N1/node-config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["configVersion"] = 7
json.dump(c, open(p, "w"), indent=2)
EOF
for _ in $(seq 100); do
    "$AGENT" status --state-dir "$W/N1/state" --json | json 'd.get("nodeConfigVersion")' | grep -qx 7 && break
    sleep 0.1
done
"$AGENT" status --state-dir "$W/N1/state" --json | json 'd.get("nodeConfigVersion")' | grep -qx 7 ||
    fail "a hand edit of node-config.json was not picked up"
# Every change goes up (NODE_CONFIG, password masked) and the server indexes it.
for _ in $(seq 100); do
    "$FERRY" node-config get N1 --json | json 'd.get("configVersion", d.get("summary", {}).get("configVersion"))' |
        grep -qx 7 && break
    sleep 0.1
done
"$FERRY" node-config get N1 --json | json 'd.get("configVersion", d.get("summary", {}).get("configVersion"))' |
    grep -qx 7 || fail "the server's node-config preview: $("$FERRY" node-config get N1 --json)"

log "status and pending updates through the local API"
local_call N1 ListPendingUpdates '{}' >"$W/pending.json"
json 'len(d.get("updates", []))' <"$W/pending.json" | grep -q 1 || fail "N1 pending: $(cat "$W/pending.json")"
log "PASS"
