#!/usr/bin/env bash
# Fleet management through the real `ferry` binary against a real hub (cli_test_server):
# licences (create with the issue's flags, list --expiring-within, renew, suspend,
# revoke, audited), node status (list --status, maintenance, history), configuration
# templates (put/list/show/history), assignment with placeholders rendered per node, the
# agents' results (ReportConfigResult with a node token, through curl's Connect JSON),
# status and diff. Needs FERRY_CLI and FERRY_CLI_TEST_SERVER (tests/integration/fleet.cmake), jq, curl.
set -u
FERRY=${FERRY_CLI:-}
SERVER_BIN=${FERRY_CLI_TEST_SERVER:-}
if [ -z "$FERRY" ] || [ ! -x "$FERRY" ] || [ -z "$SERVER_BIN" ] || [ ! -x "$SERVER_BIN" ]; then
    echo "SKIP: ferry or cli_test_server not built" >&2
    exit 77
fi
for t in jq curl; do
    command -v "$t" >/dev/null || { echo "SKIP: $t not installed" >&2; exit 77; }
done

TMP=$(mktemp -d /tmp/ferry-fleet-cli.XXXXXX)
SRV_PID=
cleanup() {
    if [ -n "$SRV_PID" ]; then
        kill -TERM "$SRV_PID" 2>/dev/null
        wait "$SRV_PID" 2>/dev/null
    fi
    [ -n "${FERRY_KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
run() {
    local want=$1 name=$2
    shift 2
    OUT=$("$@" 2>"$TMP/stderr")
    RC=$?
    if [ "$RC" != "$want" ]; then
        fail "$name: exit $RC, want $want; stdout: $OUT; stderr: $(cat "$TMP/stderr")"
        return 1
    fi
    return 0
}
jcheck() {
    if printf '%s' "$OUT" | jq -e "$2" >/dev/null 2>&1; then pass "$1"; else fail "$1: '$2' not true of: $OUT"; fi
}

"$SERVER_BIN" "$TMP/info" >"$TMP/server.log" 2>&1 &
SRV_PID=$!
for _ in $(seq 1 300); do
    [ -s "$TMP/info" ] && break
    kill -0 "$SRV_PID" 2>/dev/null || break
    sleep 0.1
done
[ -s "$TMP/info" ] || { echo "FAIL: the test hub did not start" >&2; cat "$TMP/server.log" >&2; exit 1; }
read -r BASE ADMIN_TOKEN <"$TMP/info"
export HOME="$TMP/home" XDG_CONFIG_HOME=
mkdir -p "$HOME"
export FERRY_SERVER="$BASE" FERRY_TOKEN="$ADMIN_TOKEN"
unset FERRY_CONFIG FERRY_CA_FILE FERRY_PIN_SHA256 FERRY_TIMEOUT

run 0 "customer" "$FERRY" customer create --code ACME --name Acme --json
run 0 "store S1" "$FERRY" store create --customer ACME --code S1 --name "Store 1" --json
run 0 "store S2" "$FERRY" store create --customer ACME --code S2 --name "Store 2" --json
run 0 "node N1" "$FERRY" node create --store S1 --code N1 --env PROD --name "Front" --json && T1=$(jq -r .token <<<"$OUT")
run 0 "node N2" "$FERRY" node create --store S1 --code N2 --env PROD --name "Back" --json && T2=$(jq -r .token <<<"$OUT")
run 0 "node N3" "$FERRY" node create --store S2 --code N3 --env PROD --name "Other" --json

# ---- licences ------------------------------------------------------------------------------
END_SOON=$(date -u -d '+20 days' +%F)
END_LATE=$(date -u -d '+200 days' +%F)
run 0 "license create" "$FERRY" license create --node N1 --type OFFICIAL --start 2026-01-01 --end "$END_SOON" \
    --max-users 50 --max-companies 3 --feature crm --feature wms --json &&
    jcheck "create: id, licenseKey, limits, features" '(.id|length>0) and (.licenseKey|test("^FL-[0-9A-Z]{5}(-[0-9A-Z]{5}){3}$")) and .maxUsers==50 and .maxCompanies==3 and .features==["crm","wms"] and .nodeCode=="N1" and .expiring==true'
LID=$(jq -r .id <<<"$OUT")
run 0 "license create N2" "$FERRY" license create --node N2 --type TRIAL --end "$END_LATE" --json
LID2=$(jq -r .id <<<"$OUT")
run 0 "list --expiring-within 30" "$FERRY" license list --expiring-within 30 --json &&
    jcheck "only the licence ending in 20 days is expiring within 30" '[.licenses[].id] == ["'"$LID"'"]'
run 0 "list --expiring-within 300" "$FERRY" license list --expiring-within 300 --json &&
    jcheck "both within 300 days" '(.licenses|length) == 2'
run 0 "list (table)" "$FERRY" license list && grep -q "(expiring)" <<<"$OUT" && pass "table marks expiring"
BEFORE=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/healthz")
run 2 "bad type" "$FERRY" license create --node N1 --type GOLD --end "$END_LATE"
run 2 "bad date" "$FERRY" license create --node N1 --type TRIAL --end 2026-02-30
grep -q -- "--end '2026-02-30'" "$TMP/stderr" && pass "bad date named"
run 3 "unknown node" "$FERRY" license create --node NOPE --type TRIAL --end "$END_LATE" --json &&
    jcheck "E_NOT_FOUND naming NOPE" '.error.errorCode == "E_NOT_FOUND" and (.error.message|test("NOPE"))'
run 0 "count unchanged" "$FERRY" license list --json && jcheck "still two licences" '(.licenses|length) == 2'
run 0 "renew" "$FERRY" license renew "$LID" --end "$END_LATE" --json &&
    jcheck "renewed: new end, revision 2, no longer expiring" '(.endsAt|startswith("'"$END_LATE"'")) and .revision=="2" and .expiring==false'
run 0 "suspend" "$FERRY" license suspend "$LID2" --json && jcheck "suspended" '.status == "LICENSE_STATUS_SUSPENDED"'
run 0 "revoke" "$FERRY" license revoke "$LID2" --reason "contract ended" --json && jcheck "revoked" '.status == "LICENSE_STATUS_REVOKED"'
run 3 "renew revoked" "$FERRY" license renew "$LID2" --end "$END_LATE" --json &&
    jcheck "E_PRECONDITION" '.error.errorCode == "E_PRECONDITION"'
run 0 "audit" "$FERRY" audit list --target-kind license --json &&
    jcheck "every licence change audited (2 creates, renew, suspend, revoke, refused renew)" '(.entries // .logs // .auditLogs | length) >= 6'

# ---- the agent side: CheckIn (Connect JSON with a node token) -------------------------------
checkin() { curl -s -X POST -H "authorization: Bearer $1" -H 'content-type: application/json' \
    --data "{\"licenseSha256\":\"$2\"}" "$BASE/ferry.v1.AgentService/CheckIn"; }
OUT=$(checkin "$T1" "")
jcheck "N1's check-in carries the signed licence" '(.signedLicense.document|length>0) and (.signedLicense.signature|length>0) and .license.licenseKey != null'
SHA=$(jq -r .signedLicense.document <<<"$OUT" | base64 -d | sha256sum | cut -d' ' -f1)
OUT=$(checkin "$T1" "$SHA")
jcheck "not sent again once held" '.signedLicense == null'

# ---- node status -------------------------------------------------------------------------
run 0 "maintenance on" "$FERRY" node maintenance N3 on --reason "disk swap"
grep -q MAINTENANCE <<<"$OUT" && pass "maintenance shown"
M=$(curl -s "$BASE/metrics")
grep -qx 'ferry_nodes_by_status{status="MAINTENANCE"} 1' <<<"$M" && grep -qx 'ferry_licenses_expiring 0' <<<"$M" &&
    grep -q '^ferry_node_heartbeat_age_seconds_count 1$' <<<"$M" && grep -qx 'ferry_licenses{status="REVOKED"} 1' <<<"$M" &&
    pass "metrics: nodes by status, heartbeat ages, licences" || fail "metrics: $(grep -E '^ferry_(nodes|licen|node_heart)' <<<"$M")"
run 0 "list --status MAINTENANCE" "$FERRY" node list --status MAINTENANCE --json &&
    jcheck "only N3 in maintenance" '[.nodes[].nodeCode] == ["N3"]'
run 0 "list --status ONLINE" "$FERRY" node list --status ONLINE --json &&
    jcheck "N1 online after its check-in" '[.nodes[].nodeCode] | index("N1") != null'
run 0 "maintenance off" "$FERRY" node maintenance N3 off
run 0 "history" "$FERRY" node history N3 --json &&
    jcheck "on then off, newest first, with the reason" '.events[0].fromStatus == "NODE_STATUS_MAINTENANCE" and .events[1].toStatus == "NODE_STATUS_MAINTENANCE" and .events[1].reason == "disk swap"'
run 2 "maintenance maybe" "$FERRY" node maintenance N3 maybe
run 2 "bad status" "$FERRY" node list --status SLEEPING

# ---- configuration distribution ------------------------------------------------------------
cat >"$TMP/app.json" <<'EOF'
{"server": {"name": "${node.code}", "store": "${store.code}", "customer": "${customer.code}", "env": "${env}"},
 "cache": {"size": "${var.cache}"}, "port": 8080}
EOF
run 0 "template put" "$FERRY" config template put --name app --type SERVER --target config/app.json --file "$TMP/app.json" --restart --json &&
    jcheck "version 1" '.template.version == "1" and .template.restartService == true'
sed 's/8080/9090/' "$TMP/app.json" >"$TMP/app2.json"
run 0 "template put v2" "$FERRY" config template put --name app --type SERVER --target config/app.json --file "$TMP/app2.json" --restart --json &&
    jcheck "version 2" '.template.version == "2"'
printf '{"db": {"host": "db-${store.code}", "name": "${node.code}"}, "timeout": 30}' >"$TMP/db.json"
run 0 "ini template" "$FERRY" config template put --name db --type DATABASE --target config/db.ini --format ini --file "$TMP/db.json"
printf '{"x": "${nope}"}' >"$TMP/bad.json"
run 3 "unknown placeholder refused" "$FERRY" config template put --name bad --type SERVER --target x.json --file "$TMP/bad.json" --json &&
    jcheck "names the placeholder" '.error.errorCode == "E_INVALID_ARG" and (.error.message|test("nope"))'
run 3 "path escape refused" "$FERRY" config template put --name bad --type SERVER --target ../etc/passwd --file "$TMP/app.json" --json &&
    jcheck "names target_path" '(.error.message|test("target_path"))'
run 0 "template list" "$FERRY" config template list --json && jcheck "two templates, latest versions" '[.templates[]|.name+"@"+.version] == ["app@2","db@1"]'
run 0 "template history" "$FERRY" config template history app --json && jcheck "v2 then v1" '[.templates[].version] == ["2","1"]'
run 0 "template show @1" "$FERRY" config template show app@1 --json && jcheck "v1 has 8080" '(.template.dataJson|test("8080"))'
run 0 "config (connection settings)" "$FERRY" config --json && jcheck "ferry config alone: the settings" '.server == "'"$BASE"'"'
run 0 "config show" "$FERRY" config show --json && jcheck "ferry config show: the settings" '.tokenSet == true'

run 0 "assign v1 to store S1" "$FERRY" config assign --template app@1 --customer ACME --store S1 --set cache=64MB --json &&
    jcheck "two nodes, PENDING" '[.assignments[].nodeCode] == ["N1","N2"] and ([.assignments[].state]|unique) == ["CONFIG_ASSIGNMENT_STATE_PENDING"]'
run 3 "assign without a value for var.cache" "$FERRY" config assign --template app --customer ACME --node N3 --json &&
    jcheck "names var.cache" '(.error.message|test("var.cache"))'
run 3 "assign to a foreign store" "$FERRY" config assign --template app --customer ACME --store NOPE --json &&
    jcheck "E_NOT_FOUND" '.error.errorCode == "E_NOT_FOUND"'
run 0 "status" "$FERRY" config status --json && jcheck "exactly the two assignments" '(.assignments|length) == 2'

# The agents: N1 applies, N2's restart fails health -> ROLLED_BACK.
OUT=$(checkin "$T1" "$SHA")
jcheck "N1 receives its rendered file" '(.configAssignments|length)==1 and (.configAssignments[0].rendered|fromjson|.server.name=="N1" and .server.store=="S1" and .server.customer=="ACME" and .server.env=="PROD" and .cache.size=="64MB") and .configAssignments[0].template.targetPath=="config/app.json"'
A1=$(jq -r '.configAssignments[0].id' <<<"$OUT")
OUT=$(checkin "$T2" "")
A2=$(jq -r '.configAssignments[0].id' <<<"$OUT")
jcheck "N2 gets its own rendering" '(.configAssignments[0].rendered|fromjson|.server.name) == "N2"'
report() { curl -s -X POST -H "authorization: Bearer $1" -H 'content-type: application/json' \
    --data "$2" "$BASE/ferry.v1.ReportService/ReportConfigResult"; }
OUT=$(report "$T1" "{\"assignmentId\":\"$A1\",\"state\":\"CONFIG_ASSIGNMENT_STATE_APPLIED\"}")
jcheck "N1 APPLIED" '.assignment.state == "CONFIG_ASSIGNMENT_STATE_APPLIED"'
OUT=$(report "$T1" "{\"assignmentId\":\"$A2\",\"state\":\"CONFIG_ASSIGNMENT_STATE_APPLIED\"}")
jcheck "N1 cannot report N2's assignment" '.code == "permission_denied"'
OUT=$(report "$T2" "{\"assignmentId\":\"$A2\",\"state\":\"CONFIG_ASSIGNMENT_STATE_ROLLED_BACK\",\"errorMessage\":\"health check failed after restart: http 503; previous file restored\"}")
jcheck "N2 ROLLED_BACK with the reason" '.assignment.state == "CONFIG_ASSIGNMENT_STATE_ROLLED_BACK"'
OUT=$(checkin "$T1" "$SHA")
jcheck "nothing left for N1" '.configAssignments == null'
run 0 "status --node N2" "$FERRY" config status --node N2 --json &&
    jcheck "ROLLED_BACK + reason" '.assignments[0].state == "CONFIG_ASSIGNMENT_STATE_ROLLED_BACK" and (.assignments[0].errorMessage|test("503"))'
run 0 "status table" "$FERRY" config status && grep -q ROLLED_BACK <<<"$OUT" && grep -q APPLIED <<<"$OUT" && pass "status table"

run 0 "assign v2 to N1" "$FERRY" config assign --template app --customer ACME --node N1 --set cache=128MB
run 0 "diff N1" "$FERRY" config diff --node N1
grep -q '^-  "port": 8080' <<<"$OUT" && grep -q '^+  "port": 9090' <<<"$OUT" && grep -q '^+    "size": "128MB"' <<<"$OUT" &&
    pass "diff: applied v1 vs latest v2 line by line" || fail "diff output: $OUT"
run 0 "status --node N1 (current only)" "$FERRY" config status --node N1 --json &&
    jcheck "only v2, PENDING; the replaced v1 is not listed" '[.assignments[]|.templateVersion+":"+.state] == ["2:CONFIG_ASSIGNMENT_STATE_PENDING"]'
run 0 "status --node N1 --history" "$FERRY" config status --node N1 --history --json &&
    jcheck "v2 current, v1 marked superseded" '[.assignments[]|.templateVersion+":"+((.superseded // false)|tostring)] == ["2:false","1:true"]'
run 0 "status --history table" "$FERRY" config status --node N1 --history && grep -q SUPERSEDED <<<"$OUT" && pass "SUPERSEDED shown"
run 0 "diff --json" "$FERRY" config diff --node N1 --json &&
    jcheck "differs, latest v2 pending, applied v1" '.diffs[0].differs == true and .diffs[0].latest.templateVersion == "2" and .diffs[0].applied.templateVersion == "1"'

# ---- server health and backups through the API ---------------------------------------------
run 0 "server health" "$FERRY" server health --json &&
    jcheck "six checks; database, disk and key ok; N3 offline named" '([.checks[].name] == ["database","disk","signing_key","licenses","nodes","backups"]) and ([.checks[]|select(.name=="database" or .name=="signing_key")|.ok]|all) and (.nodesOffline|tonumber) >= 1 and (([.checks[]|select(.name=="nodes")][0].ok // false) == false) and ((.ok // false) == false)'
run 0 "server backup" "$FERRY" server backup --json && jcheck "backup written" '(.backup.sha256|length) == 64 and .backup.includesBlobs == true'
BID=$(jq -r .backup.id <<<"$OUT")
run 0 "server backups" "$FERRY" server backups --json && jcheck "listed" '.backups[0].id == "'"$BID"'"'
run 0 "server health after backup" "$FERRY" server health --json && jcheck "last backup known" '.lastBackupAt != null'

echo "fleet cli: $FAILS failure(s)"
[ "$FAILS" -eq 0 ]
