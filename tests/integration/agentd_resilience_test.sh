#!/usr/bin/env bash
# Agent daemon against trouble: ferryd restarted while agents watch (they reconnect by
# themselves and the next release reaches them), a tampered package (E_HASH_MISMATCH,
# nothing installed), a pinned key that does not match the server's
# (E_SIGNATURE_INVALID), an older version (E_DOWNGRADE_REFUSED), a failing stop (the
# diagnostic file is on the server, linked from the task). Every refusal is reported
# with its code and leaves the site as it was.
source "$(dirname "$0")/agentd_lib.sh"

POLL=60 server_start
tree ACME ACME-SH01
site N1 ACME-SH01
site N2 ACME-SH01
bind N1
bind N2
agent_start N1
agent_start N2

snapshot() { # snapshot NODE: what an update would change
    (cd "$W/$1" && find server client -type f | sort | xargs sha256sum; sqlite3 db/main.db .dump) | sha256sum
}

pkg '1.25.12.13(12521)'
R1=$(release '1.25.12.13(12521)' forced)
wait_states "$R1" "N1=100 N2=100" 60

log "ferryd restarted while the agents watch: they reconnect and get the next release"
server_stop
sleep 2
"$AGENT" status --state-dir "$W/N1/state" | grep -q "link:       \(offline\|polling\)" ||
    fail "N1 does not notice the server is gone: $("$AGENT" status --state-dir "$W/N1/state")"
POLL=60 server_start
for _ in $(seq 150); do
    "$AGENT" status --state-dir "$W/N1/state" --json | grep -q STREAMING &&
        "$AGENT" status --state-dir "$W/N2/state" --json | grep -q STREAMING && break
    sleep 0.2
done
"$AGENT" status --state-dir "$W/N1/state" --json | grep -q STREAMING || fail "N1 did not reconnect"
pkg '1.25.12.14(12522)'
t0=$SECONDS
R2=$(release '1.25.12.14(12522)' forced)
wait_states "$R2" "N1=100 N2=100" 40
log "after the restart the release arrived in $((SECONDS - t0))s"

log "tampered package: E_HASH_MISMATCH, nothing installed"
pkg '1.25.12.15(12523)'
SHA=$(sha256sum "$W/pkg-1.25.12.15(12523).zip" | cut -d' ' -f1)
BLOB=$(find "$W/data" -type f -name "*$SHA*" | head -1)
[ -n "$BLOB" ] || BLOB=$(grep -rl --include='*' -F "" "$W/data/blobs" 2>/dev/null | xargs -r sha256sum | grep "$SHA" | cut -d' ' -f3 | head -1)
[ -n "$BLOB" ] || fail "cannot find the stored blob of $SHA under $W/data"
before1=$(snapshot N1)
printf 'X' | dd of="$BLOB" bs=1 seek=100 conv=notrunc status=none
R3=$(release '1.25.12.15(12523)' forced --node N1)
wait_states "$R3" "N1=110" 60
"$FERRY" task list --release "$R3" --json | json '[t["errorCode"] for t in d["tasks"]]' | grep -q E_HASH_MISMATCH ||
    fail "tampered: $("$FERRY" task list --release "$R3" --json)"
[ "$(snapshot N1)" = "$before1" ] || fail "tampered package changed N1"
ls "$W/N1/tmp" | grep -q ferry-dl && fail "the tampered download was kept in tmp"

log "a pinned key that is not the server's: E_SIGNATURE_INVALID"
agent_stop N2
"$PY" - "$W/N2/state/binding.json" <<'EOF'
import json, sys
p = sys.argv[1]
b = json.load(open(p))
for k in b["signingKeys"]:
    k["publicKey"] = "11" * 32
json.dump(b, open(p, "w"))
EOF
agent_start N2
pkg '1.25.12.16(12524)'
before2=$(snapshot N2)
R4=$(release '1.25.12.16(12524)' forced --node N2)
wait_states "$R4" "N2=110" 60
"$FERRY" task get "$(task_of "$R4" N2)" | grep -q E_SIGNATURE_INVALID || fail "no E_SIGNATURE_INVALID for N2"
[ "$(snapshot N2)" = "$before2" ] || fail "a package with an unverifiable manifest changed N2"

log "an older version than the installed one: E_DOWNGRADE_REFUSED"
pkg '1.25.12.10(12500)'
before1=$(snapshot N1)
R5=$(release '1.25.12.10(12500)' forced --node N1)
wait_states "$R5" "N1=110" 60
"$FERRY" task get "$(task_of "$R5" N1)" | grep -q E_DOWNGRADE_REFUSED || fail "no E_DOWNGRADE_REFUSED"
[ "$(snapshot N1)" = "$before1" ] || fail "a downgrade changed N1"

log "a failing stop: task fails, the diagnostic file is on the server and linked from the task"
agent_stop N1
"$PY" - "$W/N1/node-config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["service"]["stopCommand"] = "sh -c 'echo cannot stop >&2; exit 3'"
c["configVersion"] = 2
json.dump(c, open(p, "w"), indent=2)
EOF
agent_start N1
pkg '1.25.12.17(12525)'
R6=$(release '1.25.12.17(12525)' forced --node N1)
wait_states "$R6" "N1=110" 60
T6=$(task_of "$R6" N1)
for _ in $(seq 100); do
    "$FERRY" task get "$T6" --json | grep -q DIAGNOSTIC && break
    sleep 0.2
done
"$FERRY" task get "$T6" | tee "$W/t6.txt"
"$FERRY" task get "$T6" --json | grep -q DIAGNOSTIC || fail "no diagnostic file linked from task $T6"
grep -q E_SERVICE_STOP_FAILED "$W/t6.txt" || fail "stop failure code missing"
log "PASS"
