#!/usr/bin/env bash
# Benchmark of the pre_check phase (seed 002 前置业务检查: "≤ 2 min for a million rows"):
# 10 check hooks over a 1,000,000-row SQLite table through `ferry-agent apply`, against the
# same 10 queries through one `sqlite3` shell, in the same run, on the same database file,
# page cache warm for both (each side runs once before it is timed). The last check fails
# on purpose (E_PRECHECK_FAILED), so the apply stops right after the phase: nothing is
# stopped, backed up or installed, and the engine's time is the phase (taken from the
# upgrade report: first check start to last check end) plus its fixed cost (config,
# journal, package open; reported separately as the whole apply's wall time).
# Prints the median and the best of RUNS runs of each (the machine may be shared: the best
# run is the least disturbed) and the ratios (target <= 1.1). Not a test.
#
# Usage: bench/hooks_bench.sh [BUILD_DIR]   (default build/; BENCH_DIR=/path, RUNS=5, ROWS=1000000)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
AGENT=$BUILD/agent/ferry-agent
PY=$(command -v /usr/bin/python3 || command -v python3)
B=${BENCH_DIR:-/tmp/ferry-hooks-bench}
RUNS=${RUNS:-5}
ROWS=${ROWS:-1000000}
V='1.25.12.13(12521)'
command -v sqlite3 >/dev/null || { echo "missing sqlite3 (scripts/install-deps.sh)"; exit 1; }
[ -x "$AGENT" ] || { echo "build ferry-agent first ($AGENT)"; exit 1; }

rm -rf "$B"
N=$B/node
mkdir -p "$N/server" "$N/client" "$N/backup" "$N/tmp" "$N/state"
echo "== generating $ROWS orders in $N/main.db"
sqlite3 "$N/main.db" >/dev/null <<EOF
PRAGMA journal_mode=WAL;
CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER, amount INTEGER, status TEXT, note TEXT,
                    created_at INTEGER, currency TEXT);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $ROWS)
INSERT INTO orders(user_id, amount, status, note, created_at, currency)
SELECT CASE WHEN i % 100000 = 7 THEN NULL ELSE i % 5000 END,
       CASE WHEN i % 250000 = 3 THEN -i ELSE (i * 7919) % 100000 END,
       CASE i % 4 WHEN 0 THEN 'NEW' WHEN 1 THEN 'PAID' WHEN 2 THEN 'SHIPPED' ELSE 'DONE' END,
       printf('order %d note %s', i, hex(randomblob(8))),
       1700000000 + i * 13,
       CASE WHEN i % 3 = 0 THEN 'EUR' ELSE 'CNY' END
FROM c;
EOF

# The 10 queries: full scans with different predicates, one aggregate, one subquery.
Q=(
    "SELECT COUNT(*) FROM orders WHERE amount < 0"
    "SELECT COUNT(*) FROM orders WHERE status NOT IN ('NEW','PAID','SHIPPED','DONE')"
    "SELECT COUNT(*) FROM orders WHERE note IS NULL OR length(note) > 200"
    "SELECT COUNT(*) FROM orders WHERE created_at < 1600000000 OR created_at > 2000000000"
    "SELECT COUNT(*) FROM orders WHERE currency NOT IN ('CNY','EUR','USD')"
    "SELECT COUNT(*) FROM orders WHERE amount > 99999"
    "SELECT COUNT(*) FROM orders WHERE note NOT LIKE 'order %'"
    "SELECT COUNT(*) FROM (SELECT user_id FROM orders WHERE user_id IS NOT NULL GROUP BY user_id HAVING COUNT(*) > 100000)"
    "SELECT COUNT(*) FROM orders WHERE status = 'DONE' AND amount = 0 AND currency = 'USD'"
    "SELECT COUNT(*) FROM orders WHERE user_id IS NULL"
)
"$PY" - "$B/hooks.json" "${Q[@]}" <<'PYEOF'
import json, sys
out, qs = sys.argv[1], sys.argv[2:]
checks = [{"id": "c%02d" % i, "name": "check %d" % i, "kind": "check", "sql": q, "threshold": 0,
           "severity": "warn" if i < len(qs) else "fail"} for i, q in enumerate(qs, 1)]
json.dump({"description": "pre_check benchmark", "pre_check": checks}, open(out, "w"), indent=1)
PYEOF
printf 'SELECT 1;\n' >"$B/data.sql"
(cd "$B" && rm -f pkg.zip && "$PY" -c '
import zipfile
with zipfile.ZipFile("pkg.zip", "w", zipfile.ZIP_DEFLATED) as z:
    z.write("hooks.json"); z.write("data.sql")')
for q in "${Q[@]}"; do printf '%s;\n' "$q"; done >"$B/queries.sql"

cat >"$B/node-config.json" <<EOF
{
  "service": {"name": "bench", "stopTimeoutSeconds": 30, "startTimeoutSeconds": 30, "control": "command",
              "stopCommand": "rm -f $N/running", "startCommand": "touch $N/running",
              "statusCommand": "test -f $N/running"},
  "paths": {"serverDir": "$N/server", "clientDir": "$N/client", "backupRoot": "$N/backup",
            "tempDir": "$N/tmp"},
  "backup": {"retentionN": 5, "db": {"engine": "sqlite", "databases": ["$N/main.db"]}},
  "stateDir": "$N/state"
}
EOF
touch "$N/running"

engine_once() { # prints "phase_seconds wall_seconds"
    local t0 t1 out report
    t0=$(date +%s.%N)
    set +e
    out=$("$AGENT" apply "$B/pkg.zip" --config "$B/node-config.json" --version "$V" --json -q 2>/dev/null)
    set -e
    t1=$(date +%s.%N)
    report=$("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["errorCode"] == "E_PRECHECK_FAILED", d; print(d["upgradeReport"])' "$out")
    "$PY" - "$report" "$t0" "$t1" <<'PYEOF'
import datetime, json, sys
r = json.load(open(sys.argv[1]))
hooks = [h for p in r["phases"] if p["phase"] == "pre_check" for h in p["hooks"]]
assert len(hooks) == 10 and all(h["outcome"] in ("PASS", "WARN", "FAIL") for h in hooks), hooks
ts = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
start = min(ts(h["startedAt"]) for h in hooks)
end = max(ts(h["startedAt"]) + h["durationMs"] / 1000.0 for h in hooks)
print("%.3f %.3f" % (end - start, float(sys.argv[3]) - float(sys.argv[2])))
PYEOF
}
shell_once() {
    local t0 t1
    t0=$(date +%s.%N)
    sqlite3 "$N/main.db" <"$B/queries.sql" >"$B/shell.out"
    t1=$(date +%s.%N)
    "$PY" -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$t0" "$t1"
}

echo "== warm-up (page cache)"
shell_once >/dev/null
engine_once >/dev/null
[ "$(wc -l <"$B/shell.out")" = 10 ] || { echo "sqlite3 printed $(cat "$B/shell.out")"; exit 1; }

ENG=() WALL=() SH=()
for i in $(seq "$RUNS"); do
    read -r p w < <(engine_once)
    s=$(shell_once)
    ENG+=("$p") WALL+=("$w") SH+=("$s")
    echo "run $i: engine pre_check ${p}s (whole apply ${w}s), sqlite3 shell ${s}s"
done
"$PY" - "${ENG[*]}" "${WALL[*]}" "${SH[*]}" "$ROWS" <<'PYEOF'
import statistics, sys
e, w, s = ([float(x) for x in a.split()] for a in sys.argv[1:4])
for what, f in (("median", statistics.median), ("best", min)):
    me, mw, ms = f(e), f(w), f(s)
    print("== %s rows, 10 checks, %s of %d runs" % (sys.argv[4], what, len(e)))
    print("engine pre_check phase: %.3f s   (whole ferry-agent apply: %.3f s)" % (me, mw))
    print("sqlite3 shell, same 10 queries: %.3f s" % ms)
    print("ratio phase/shell: %.3f   ratio whole apply/shell: %.3f   (target <= 1.1; seed 002: <= 120 s)" %
          (me / ms, mw / ms))
PYEOF
