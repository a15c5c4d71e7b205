#!/usr/bin/env bash
# Benchmark of the update engine's full apply (backup trio + install + SQL) against the
# same work done by hand with standard tools, in the same run, on the same data:
#   server dir: 5,000 files / 300 MB, client dir: 1,000 files / 100 MB, SQLite db: 200 MB.
# Baseline: cp -a (server mirror), zip -r (client.zip), sqlite3 .backup (data.bak),
# unzip -o (package and inner zips), rsync -a --delete (server with config/ logs/
# excluded, client), sqlite3 < script (both scripts), then sync (the engine's writes are
# durable when it returns; the baseline's only after a sync).
# Prints both wall times, the ratio (target <= 1.2) and the engine's peak RSS (target
# <= 32 MB). Not part of the test suite.
#
# Usage: bench/engine_bench.sh [BUILD_DIR]   (default build/; BENCH_DIR=/path for the data)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
AGENT=$BUILD/agent/ferry-agent
PY=$(command -v /usr/bin/python3 || command -v python3)
B=${BENCH_DIR:-/tmp/ferry-bench}
V='1.25.12.13(12521)'
for t in zip unzip rsync sqlite3 /usr/bin/time; do
    command -v $t >/dev/null || { echo "missing $t (scripts/install-deps.sh)"; exit 1; }
done
[ -x "$AGENT" ] || { echo "build ferry-agent first ($AGENT)"; exit 1; }

rm -rf "$B"
mkdir -p "$B"
echo "== generating data in $B"
"$PY" - "$B" <<'EOF'
import os, random, sys
b = sys.argv[1]
rnd = random.Random(42)

def tree(root, n, total, text_share, seed_tag):
    avg = total // n
    for i in range(n):
        d = os.path.join(root, "d%02d" % (i % 50), "s%d" % (i % 7))
        os.makedirs(d, exist_ok=True)
        size = max(1, int(avg * rnd.uniform(0.2, 1.8)))
        p = os.path.join(d, "f%05d.%s" % (i, "txt" if i % 100 < text_share else "bin"))
        with open(p, "wb") as f:
            if i % 100 < text_share:
                line = ("%s line %d of file %d, some text to compress\n" % (seed_tag, 0, i)).encode()
                f.write((line * (size // len(line) + 1))[:size])
            else:
                f.write(os.urandom(size))

# old installation: 5,000 files / 300 MB server, 1,000 files / 100 MB client
tree(os.path.join(b, "orig/server"), 5000, 300 << 20, 30, "old")
os.makedirs(os.path.join(b, "orig/server/config"), exist_ok=True)
os.makedirs(os.path.join(b, "orig/server/logs"), exist_ok=True)
open(os.path.join(b, "orig/server/config/app.json"), "w").write('{"v":"old"}\n')
open(os.path.join(b, "orig/server/logs/app.log"), "w").write("log\n")
tree(os.path.join(b, "orig/client"), 1000, 100 << 20, 30, "old")
# new version: same shape, a third of the files changed, some removed, some added
import shutil
for part in ("server", "client"):
    src, dst = os.path.join(b, "orig", part), os.path.join(b, "new", part)
    shutil.copytree(src, dst, symlinks=True)
    files = sorted(os.path.join(r, f) for r, _, fs in os.walk(dst) for f in fs)
    for k, p in enumerate(files):
        if "/logs/" in p:
            os.remove(p)
        elif k % 3 == 0:
            with open(p, "r+b") as f:
                f.write(os.urandom(64))
        elif k % 50 == 1:
            os.remove(p)
    for k in range(len(files) // 50):
        with open(os.path.join(dst, "added%04d.bin" % k), "wb") as f:
            f.write(os.urandom(30000))
EOF
echo "   200 MB database"
sqlite3 "$B/orig.db" "PRAGMA page_size=4096; CREATE TABLE item(id INTEGER PRIMARY KEY, grp INTEGER, payload BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 20000)
INSERT INTO item SELECT x, x % 100, randomblob(10000) FROM c;"
cat >"$B/schema.sql" <<'EOF'
CREATE TABLE audit(id INTEGER PRIMARY KEY, item INTEGER, note TEXT);
CREATE INDEX item_grp ON item(grp);
EOF
cat >"$B/data.sql" <<'EOF'
UPDATE item SET grp = grp + 1000 WHERE id % 10 = 0;
INSERT INTO audit(item, note) SELECT id, 'migrated' FROM item WHERE id % 10 = 0;
EOF
"$PY" "$ROOT/tests/integration/engine_pkg.py" "$B/pkg.zip" --server "$B/new/server" --client "$B/new/client" \
    --schema "$B/schema.sql" --data "$B/data.sql"
ls -l "$B/pkg.zip" | awk '{printf "   package %.0f MB\n", $5 / 1048576}'

# A fresh node for each side (not timed).
fresh_node() {
    rm -rf "$B/node"
    mkdir -p "$B/node/backup" "$B/node/tmp" "$B/node/state"
    cp -a "$B/orig/server" "$B/node/server"
    mkdir -p "$B/node/files/package"
    cp -a "$B/orig/client" "$B/node/files/package/client"
    cp "$B/orig.db" "$B/node/main.db"
    touch "$B/node/running"
    sync
    sync -f "$B" 2>/dev/null || true
}

N=$B/node
cat >"$B/node-config.json" <<EOF
{
  "service": {"name": "bench", "stopTimeoutSeconds": 30, "startTimeoutSeconds": 30, "control": "command",
              "stopCommand": "rm -f $N/running", "startCommand": "touch $N/running",
              "statusCommand": "test -f $N/running"},
  "paths": {"serverDir": "$N/server", "clientDir": "$N/files/package/client", "backupRoot": "$N/backup",
            "tempDir": "$N/tmp", "protectPaths": ["$N/server/config", "$N/server/logs"]},
  "backup": {"retentionN": 5, "db": {"engine": "sqlite", "databases": ["$N/main.db"]}},
  "stateDir": "$N/state"
}
EOF

echo "== engine: ferry-agent apply"
fresh_node
t0=$(date +%s.%N)
/usr/bin/time -v -o "$B/time.txt" "$AGENT" apply "$B/pkg.zip" --config "$B/node-config.json" --version "$V" -q \
    --json >"$B/engine.json"
t1=$(date +%s.%N)
grep -q '"state":100' "$B/engine.json" || { cat "$B/engine.json"; echo "engine apply did not succeed"; exit 1; }
engine=$(echo "$t1 - $t0" | bc)
rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$B/time.txt")

echo "== baseline: standard tools"
fresh_node
t0=$(date +%s.%N)
(
    set -e
    BK=$N/backup/$V
    mkdir -p "$BK"
    rm -f "$N/running"
    cp -a "$N/server" "$BK/server"
    (cd "$N/files/package/client" && zip -qr "$BK/client.zip" .)
    sqlite3 "$N/main.db" ".backup '$BK/data.bak'"
    unzip -q -o "$B/pkg.zip" -d "$N/tmp/pkg"
    unzip -q -o "$N/tmp/pkg/server.zip" -d "$N/tmp/server"
    rsync -a --delete --exclude /config --exclude /logs "$N/tmp/server/" "$N/server/"
    unzip -q -o "$N/tmp/pkg/client.zip" -d "$N/tmp/client"
    rsync -a --delete "$N/tmp/client/" "$N/files/package/client/"
    sqlite3 "$N/main.db" <"$N/tmp/pkg/结构.sql"
    sqlite3 "$N/main.db" <"$N/tmp/pkg/data.sql"
    rm -rf "$N/tmp/pkg" "$N/tmp/server" "$N/tmp/client"
    touch "$N/running"
    sync
)
t1=$(date +%s.%N)
baseline=$(echo "$t1 - $t0" | bc)

ratio=$(echo "scale=2; $engine / $baseline" | bc)
printf '\nengine apply:   %6.2f s (peak RSS %d KB = %.1f MB)\n' "$engine" "$rss_kb" "$(echo "$rss_kb / 1024" | bc -l)"
printf 'manual baseline:%6.2f s\n' "$baseline"
printf 'ratio:          %6s  (target <= 1.2; peak RSS target <= 32 MB)\n' "$ratio"
[ "${KEEP_BENCH:-0}" = 1 ] || rm -rf "$B"
