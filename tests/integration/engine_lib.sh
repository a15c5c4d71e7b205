# Shared helpers of the engine's integration tests (sourced, not run).
# Each test gets a fresh node under $W: server and client trees, a real SQLite database,
# a node-config.json using the `command` service control kind over a real daemon
# (ferry-testd when built, else a sleep process managed by engine_svc.sh).
set -euo pipefail

: "${FERRY_BUILD_DIR:?FERRY_BUILD_DIR must be set (ctest sets it)}"
: "${FERRY_SOURCE_DIR:?FERRY_SOURCE_DIR must be set (ctest sets it)}"
AGENT=$FERRY_BUILD_DIR/agent/ferry-agent
PKGPY=$FERRY_SOURCE_DIR/tests/integration/engine_pkg.py
SVC=$FERRY_SOURCE_DIR/tests/integration/engine_svc.sh
# The real test daemon (engine-ops) when built; engine_svc.sh falls back to `sleep`.
TESTD=${FERRY_TESTD:-$(find "$FERRY_BUILD_DIR/tests" -maxdepth 2 -name ferry-testd -type f -perm -u+x 2>/dev/null | head -1)}
V='1.25.12.13(12521)'
V2='1.25.12.14(12522)'

# The system interpreter: a version-manager shim can cost a second per start.
PY=$(command -v /usr/bin/python3 || command -v python3 || true)
[ -n "$PY" ] || { echo "SKIP: python3 not installed"; exit 77; }
for tool in sqlite3 unzip; do
    command -v $tool >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
[ -x "$AGENT" ] || { echo "SKIP: $AGENT not built"; exit 77; }

W=$(mktemp -d /tmp/ferry-engine-XXXXXX)
cleanup() {
    svc_kill || true
    if [ "${KEEP_W:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# node_setup: the "old version" installation.
node_setup() {
    N=$W/node
    mkdir -p $N/server/bin $N/server/config $N/server/logs $N/server/sub/deep $N/server/empty \
        $N/client/res $N/backup $N/tmp $N/state $N/run $N/db
    printf 'old app\n' >$N/server/bin/app.dll
    printf '#!/bin/sh\necho old\n' >$N/server/bin/run.sh
    chmod 0750 $N/server/bin/run.sh
    printf '{"db":"old"}\n' >$N/server/config/app.json
    printf 'old log line\n' >$N/server/logs/app.log
    printf 'stale\n' >$N/server/stale.txt
    "$PY" -c 'import sys; sys.stdout.write("blob data 0123456789\n" * 3500)' >$N/server/sub/deep/blob.bin
    ln -s bin/app.dll $N/server/current
    # Fixed mtimes: snapshots of different nodes must compare equal.
    find $N/server $N/client -exec touch -h -d '2020-01-02 03:04:05' {} +
    printf 'old client\n' >$N/client/setup.exe
    printf 'r1 old\n' >$N/client/res/r1.txt
    printf 'stale client\n' >$N/client/stale-client.txt
    sqlite3 $N/db/main.db "CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT);
        INSERT INTO item(name) VALUES ('a'),('b');
        CREATE TABLE log(seq INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT);"
    STOP_TIMEOUT=${STOP_TIMEOUT:-5}
    START_TIMEOUT=${START_TIMEOUT:-5}
    write_config
    svc_start_initial
}

write_config() {
    local svc="'$SVC'"
    cat >$N/node-config.json <<EOF
{
  "configVersion": 1,
  "service": {
    "name": "rca7-test",
    "stopTimeoutSeconds": $STOP_TIMEOUT,
    "startTimeoutSeconds": $START_TIMEOUT,
    "control": "command",
    "stopCommand": "$SVC stop $N/run $N/server $TESTD",
    "startCommand": "$SVC start $N/run $N/server $TESTD",
    "statusCommand": "$SVC status $N/run $N/server $TESTD",
    "healthCheck": {"kind": "none"}
  },
  "paths": {
    "serverDir": "$N/server",
    "clientDir": "$N/client",
    "backupRoot": "$N/backup",
    "tempDir": "$N/tmp",
    "protectPaths": ["$N/server/config", "$N/server/logs"]
  },
  "backup": {
    "retentionN": ${RETENTION:-5},
    "db": {"engine": "sqlite", "databases": ["$N/db/main.db"], "backupFileName": "data.bak"},
    "clientBackupFileName": "client.zip"
  },
  "deploy": {"deleteOldFiles": true, "clientDeleteOldFiles": true},
  "stateDir": "$N/state"
}
EOF
    CFG=$N/node-config.json
}

svc_start_initial() {
    [ "${REFUSE_STOP:-0}" = 1 ] && touch $N/run/REFUSE_STOP
    "$SVC" start $N/run $N/server $TESTD
}
svc_running() { "$SVC" status $N/run $N/server $TESTD; }
svc_kill() { [ -n "${N:-}" ] && [ -f $N/run/svc.pid ] && kill -9 "$(cat $N/run/svc.pid)" 2>/dev/null; return 0; }

# new_version_trees: the "new version" content in $W/new/{server,client}.
new_version_trees() {
    NEW=$W/new
    mkdir -p $NEW/server/bin $NEW/server/config $NEW/server/newdir $NEW/client/res
    printf 'new app\n' >$NEW/server/bin/app.dll
    printf '#!/bin/sh\necho new\n' >$NEW/server/bin/run.sh
    chmod 0755 $NEW/server/bin/run.sh
    printf 'added\n' >$NEW/server/newdir/added.txt
    printf '{"db":"new"}\n' >$NEW/server/config/app.json
    printf 'new client\n' >$NEW/client/setup.exe
    printf 'r1 new\n' >$NEW/client/res/r1.txt
    printf 'r2 new\n' >$NEW/client/res/r2.txt
    cat >$W/schema.sql <<'EOF'
CREATE TABLE added(id INTEGER PRIMARY KEY, note TEXT);
GO
INSERT INTO log(what) VALUES ('schema');
GO
EOF
    cat >$W/data.sql <<'EOF'
INSERT INTO added(note) VALUES ('from data; GO is not a separator here');
INSERT INTO log(what) VALUES ('data');
GO
EOF
}

# mkpkg OUT [engine_pkg.py args...]
mkpkg() { "$PY" "$PKGPY" "$@"; }

# tree_fp DIR [mtime]: one line per entry: type, path, mode, (mtime s), content digest.
tree_fp() {
    "$PY" - "$@" <<'PYEOF'
import hashlib, os, stat, sys
root, with_mtime = sys.argv[1], len(sys.argv) > 2
out = []
for d, dirs, files in os.walk(root):
    for name in dirs + files:
        p = os.path.join(d, name)
        rel = os.path.relpath(p, root)
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            out.append("L %s -> %s" % (rel, os.readlink(p)))
        elif stat.S_ISDIR(st.st_mode):
            out.append("D %s %o" % (rel, stat.S_IMODE(st.st_mode)))
        else:
            h = hashlib.sha256(open(p, "rb").read()).hexdigest()[:16]
            mt = " %d" % int(st.st_mtime) if with_mtime else ""
            out.append("F %s %o%s %s" % (rel, stat.S_IMODE(st.st_mode), mt, h))
print("\n".join(sorted(out)))
PYEOF
}
# snap NAME: fingerprints server tree (with mtimes), client tree and database (.dump).
snap() {
    tree_fp $N/server mtime >$W/snap.$1.server
    tree_fp $N/client >$W/snap.$1.client
    sqlite3 $N/db/main.db .dump >$W/snap.$1.db
}
same_snap() {
    for part in server client db; do
        diff -u $W/snap.$1.$part $W/snap.$2.$part >&2 || fail "$part differs between snapshots $1 and $2"
    done
}

# agent ARGS...: runs ferry-agent, output in $W/out, exit code in $RC.
agent() {
    set +e
    "$AGENT" "$@" >$W/out 2>$W/err
    RC=$?
    set -e
}
json_field() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' $W/out "$1"; }
expect_state() {
    local st
    st=$(json_field state)
    [ "$st" = "$1" ] || { cat $W/out $W/err >&2; fail "expected state $1, got $st"; }
    if [ -n "${2:-}" ]; then
        local ec
        ec=$(json_field errorCode)
        [ "$ec" = "$2" ] || { cat $W/out $W/err >&2; fail "expected error $2, got $ec"; }
    fi
}
