#!/usr/bin/env bash
# deploy/ checks: the Grafana dashboard is JSON, the Prometheus files are YAML with the
# expected alerts, every ferry_* series they use is one a real hub serves on /metrics,
# the agent unit in deploy/ is the one agent/ ships, the systemd units parse.
# Needs FERRY_CLI_TEST_SERVER (a real hub), python3 with yaml, curl.
set -u
SERVER_BIN=${FERRY_CLI_TEST_SERVER:-}
SRC=${FERRY_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
[ -n "$SERVER_BIN" ] && [ -x "$SERVER_BIN" ] || { echo "SKIP: cli_test_server not built" >&2; exit 77; }
command -v curl >/dev/null && python3 -c 'import yaml' 2>/dev/null || { echo "SKIP: curl or python3-yaml missing" >&2; exit 77; }
TMP=$(mktemp -d /tmp/ferry-deploy-test.XXXXXX)
SRV_PID=
cleanup() {
    [ -n "$SRV_PID" ] && { kill -TERM "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null; }
    rm -rf "$TMP"
}
trap cleanup EXIT
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
D=$SRC/deploy

python3 - "$D" <<'PY' && pass "dashboard JSON, prometheus and alert YAML parse; the seven alerts are there" || fail "deploy files"
import json, sys, yaml
d = sys.argv[1]
json.load(open(d + "/monitoring/grafana-dashboard.json"))
yaml.safe_load(open(d + "/monitoring/prometheus.yml"))
rules = yaml.safe_load(open(d + "/monitoring/alerts.yml"))
names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
want = {"FerrydDown", "FerrydHighErrorRate", "FerrydSlowRequests", "FerryNodesOffline", "FerryNodesExpired",
        "FerryFailedTasks", "FerryLicencesExpiring"}
assert want <= names, want - names
PY

"$SERVER_BIN" "$TMP/info" >"$TMP/server.log" 2>&1 &
SRV_PID=$!
for _ in $(seq 1 300); do [ -s "$TMP/info" ] && break; sleep 0.1; done
read -r BASE TOKEN <"$TMP/info"
# one RPC first: the per-method series appear once a method was called
curl -sf -X POST -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' --data '{}' \
    "$BASE/ferry.v1.AdminService/WhoAmI" >/dev/null || fail "WhoAmI"
curl -sf "$BASE/metrics" >"$TMP/metrics" || fail "GET /metrics"
grep -o '^[a-z_]*' "$TMP/metrics" | sed -E 's/_(bucket|sum|count)$//' | sort -u >"$TMP/served"
grep -ho 'ferry_[a-z_]*' "$D/monitoring/alerts.yml" "$D/monitoring/grafana-dashboard.json" |
    sed -E 's/_(bucket|sum|count)$//' | sort -u >"$TMP/used"
missing=$(comm -23 "$TMP/used" "$TMP/served")
[ -z "$missing" ] && pass "every series the alerts and the dashboard use is served: $(tr '\n' ' ' <"$TMP/used")" ||
    fail "series used but not served: $missing"

cmp -s "$SRC/agent/ferry-agent.service" "$D/systemd/ferry-agent.service" && pass "deploy's agent unit is agent/'s" ||
    fail "deploy/systemd/ferry-agent.service differs from agent/ferry-agent.service"
if command -v systemd-analyze >/dev/null && systemd-analyze --version >/dev/null 2>&1; then
    for u in ferryd.service ferryd-backup.service ferryd-backup.timer; do
        out=$(systemd-analyze verify --man=no "$D/systemd/$u" 2>&1 | grep -v -E 'not executable|No such file|Failed to|ferry-agent|Unit .* not found|Command .* is not' )
        [ -z "$out" ] && pass "$u parses" || fail "$u: $out"
    done
else
    echo "note: systemd-analyze unavailable; units not parsed"
fi
echo "fleet deploy: $FAILS failure(s)"
[ "$FAILS" -eq 0 ]
