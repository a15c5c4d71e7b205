#!/usr/bin/env bash
# The `ferry` CLI end to end: the real binary against a real hub (cli_test_server).
# Needs FERRY_CLI and FERRY_CLI_TEST_SERVER (set by tests/integration/cli.cmake), jq and zip.
set -u
FERRY=${FERRY_CLI:-}
SERVER_BIN=${FERRY_CLI_TEST_SERVER:-}
if [ -z "$FERRY" ] || [ ! -x "$FERRY" ] || [ -z "$SERVER_BIN" ] || [ ! -x "$SERVER_BIN" ]; then
    echo "SKIP: ferry or cli_test_server not built" >&2
    exit 77
fi
for t in jq zip sha256sum timeout; do
    command -v "$t" >/dev/null || { echo "SKIP: $t not installed" >&2; exit 77; }
done

TMP=$(mktemp -d /tmp/ferry-cli-test.XXXXXX)
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
# run EXPECTED_RC NAME CMD...: runs, keeps stdout in $OUT, checks the exit code.
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
# jcheck NAME FILTER: jq -e FILTER on $OUT.
jcheck() {
    if printf '%s' "$OUT" | jq -e "$2" >/dev/null 2>&1; then
        pass "$1"
    else
        fail "$1: '$2' not true of: $OUT"
    fi
}
# one_json NAME: $OUT must be exactly one JSON object.
one_json() {
    if [ "$(printf '%s' "$OUT" | jq -s 'length' 2>/dev/null)" = "1" ] && printf '%s' "$OUT" | jq -e 'type == "object"' >/dev/null 2>&1; then
        return 0
    fi
    fail "$1: not exactly one JSON object: $OUT"
}

# ---- a real hub on loopback ------------------------------------------------------------
"$SERVER_BIN" "$TMP/info" >"$TMP/server.log" 2>&1 &
SRV_PID=$!
for _ in $(seq 1 300); do
    [ -s "$TMP/info" ] && break
    kill -0 "$SRV_PID" 2>/dev/null || break
    sleep 0.1
done
if [ ! -s "$TMP/info" ]; then
    echo "FAIL: the test hub did not start:" >&2
    cat "$TMP/server.log" >&2
    exit 1
fi
read -r BASE ADMIN_TOKEN <"$TMP/info"
export HOME="$TMP/home" XDG_CONFIG_HOME= XDG_CACHE_HOME=
mkdir -p "$HOME"
export FERRY_CACHE_DIR="$TMP/cache"
export FERRY_SERVER="$BASE" FERRY_TOKEN="$ADMIN_TOKEN"
unset FERRY_CONFIG FERRY_CA_FILE FERRY_PIN_SHA256 FERRY_TIMEOUT FERRY_CLI_UPLOAD_STOP_AFTER_CHUNKS
echo "hub at $BASE"

# ---- usage and help --------------------------------------------------------------------
run 0 "help" "$FERRY" help && grep -q "release" <<<"$OUT" && pass "ferry help"
run 0 "release --help" "$FERRY" release --help && grep -q "watch" <<<"$OUT" && pass "ferry release --help"
run 0 "release create --help" "$FERRY" release create --help && grep -q -- "--deadline" <<<"$OUT" && pass "ferry release create --help"
run 2 "missing flag" "$FERRY" customer create --code X --json && one_json "usage error" && jcheck "usage error is JSON" '.error.code == "usage"'
run 2 "unknown command" "$FERRY" frobnicate
run 2 "bad env" "$FERRY" node create --store S --code N --env MARS

# ---- tree ------------------------------------------------------------------------------
run 0 "whoami" "$FERRY" whoami --json && jcheck "whoami is sysadmin" '.role == "ROLE_SYSADMIN"'
run 0 "customer create" "$FERRY" customer create --code ACME --name "Acme Retail" --json &&
    one_json "customer create" && jcheck "customer create" '.customer.code == "ACME" and .customer.name == "Acme Retail"'
run 3 "customer duplicate" "$FERRY" customer create --code ACME --name again --json &&
    jcheck "duplicate customer -> already_exists" '.error.code == "already_exists"'
run 0 "store create" "$FERRY" store create --customer ACME --code S1 --name "Store 1" --json &&
    jcheck "store create" '.store.code == "S1" and .store.customerCode == "ACME"'
run 0 "node create" "$FERRY" node create --store S1 --code N1 --env PROD --name "Till 1" --json &&
    jcheck "node create prints a token once" '(.token | length) >= 16 and .node.code == "N1" and .node.environment == "ENVIRONMENT_PROD"'
NODE_TOKEN=$(printf '%s' "$OUT" | jq -r .token)
run 0 "node create (human)" "$FERRY" node create --store S1 --code N2 --env TEST
grep -q "shown only once" <<<"$OUT" && pass "human node create shows the token notice" || fail "no token notice: $OUT"
run 0 "node get" "$FERRY" node get N1 --json
grep -qF "$NODE_TOKEN" <<<"$OUT" && fail "node get printed the node token" || pass "node token not shown again"
run 0 "node list" "$FERRY" node list --customer ACME
grep -q "N1" <<<"$OUT" && grep -q "PROD" <<<"$OUT" && pass "node list table" || fail "node list: $OUT"
run 0 "customer list json" "$FERRY" customer list --json && jcheck "customer list" '.customers | map(.code) | index("ACME") != null'

# ---- package upload: several chunks, interrupted, resumed ------------------------------
VERSION='1.25.12.13(12521)'
PKG="$TMP/pkg"
mkdir -p "$PKG/server/bin" "$PKG/client"
head -c 300000 /dev/urandom >"$PKG/server/bin/app.bin"
echo "config=1" >"$PKG/server/app.conf"
echo "client" >"$PKG/client/index.html"
(cd "$PKG/server" && zip -qr "$PKG/server.zip" .) && (cd "$PKG/client" && zip -qr "$PKG/client.zip" .)
printf 'CREATE TABLE t(id INT);\nGO\n' >"$PKG/结构.sql"
printf 'INSERT INTO t VALUES(1);\nGO\n' >"$PKG/data.sql"
ZIP="$TMP/$VERSION.zip"
(cd "$PKG" && zip -q0 "$ZIP" server.zip client.zip 结构.sql data.sql)
SHA=$(sha256sum "$ZIP" | cut -d' ' -f1)
SIZE=$(stat -c %s "$ZIP")
CHUNK=65536
echo "package $ZIP: $SIZE bytes, sha256 $SHA"

FERRY_CLI_UPLOAD_STOP_AFTER_CHUNKS=2 run 1 "upload interrupted" \
    "$FERRY" package upload "$ZIP" --version "$VERSION" --description "first" --chunk-size 64K --json &&
    one_json "interrupted upload" && jcheck "interrupted upload says how to resume" '.error.errorCode == "E_CANCELED"'
[ -f "$FERRY_CACHE_DIR/uploads/$SHA.json" ] && pass "upload state remembered" || fail "no upload state file"
[ "$(stat -c %a "$FERRY_CACHE_DIR/uploads/$SHA.json" 2>/dev/null)" = "600" ] && pass "upload state is 0600" || fail "upload state mode"
run 0 "upload resumed" "$FERRY" package upload "$ZIP" --version "$VERSION" --description "first" --chunk-size 64K --json &&
    one_json "upload" &&
    jcheck "upload resumed at the server's offset" ".resumedFrom == $((2 * CHUNK)) and .bytesSent == $((SIZE - 2 * CHUNK))" &&
    jcheck "package committed" ".package.version == \"$VERSION\" and .package.sha256 == \"$SHA\" and (.package.size|tonumber) == $SIZE"
[ ! -f "$FERRY_CACHE_DIR/uploads/$SHA.json" ] && pass "upload state removed after commit" || fail "upload state left behind"
run 0 "package list" "$FERRY" package list --json && jcheck "package listed" ".packages | map(.version) | index(\"$VERSION\") != null"
run 0 "package get" "$FERRY" package get "$VERSION" --json && jcheck "package get" ".package.sha256 == \"$SHA\""

# ---- package export: zip + signed offline manifest for an air-gapped site ---------------
EXP="$TMP/export"
run 0 "package export --help" "$FERRY" package export --help &&
    grep -q -- "--valid-days" <<<"$OUT" && grep -q -- "--customer" <<<"$OUT" && pass "package export --help"
run 2 "export without --out" "$FERRY" package export "$VERSION" --json && jcheck "export without --out: usage" '.error.code == "usage"'
run 2 "export --valid-days 0" "$FERRY" package export "$VERSION" --out "$EXP" --valid-days 0 --json &&
    jcheck "--valid-days 0 refused, named" '.error.code == "usage" and (.error.message | contains("--valid-days"))'
run 2 "export --valid-days 367" "$FERRY" package export "$VERSION" --out "$EXP" --valid-days 367
run 2 "export of an unsafe name" "$FERRY" package export ../x --out "$EXP" --json &&
    jcheck "a version that cannot name a file is refused" '.error.code == "usage" and (.error.message | contains("VERSION"))'
: >"$TMP/a-file"
run 1 "export into a file" "$FERRY" package export "$VERSION" --out "$TMP/a-file" --json &&
    jcheck "--out naming a file is refused" '.error.message | contains("not a directory")'
run 3 "export of an unknown version" "$FERRY" package export '9.9.9.9(9)' --out "$EXP" --json &&
    jcheck "unknown version -> not_found, E_NOT_FOUND" '.error.code == "not_found" and .error.errorCode == "E_NOT_FOUND"'
run 3 "export for an unknown customer" "$FERRY" package export "$VERSION" --out "$EXP" --customer NOPE --json &&
    jcheck "unknown customer -> E_NOT_FOUND naming customer_code" '.error.errorCode == "E_NOT_FOUND" and (.error.message | contains("customer_code"))'
run 3 "export for an unknown customer (human)" "$FERRY" package export "$VERSION" --out "$EXP" --customer NOPE
grep -q "E_NOT_FOUND.*customer_code" "$TMP/stderr" && pass "human error names the customer" || fail "stderr: $(cat "$TMP/stderr")"
[ ! -e "$EXP" ] && pass "refused exports write nothing" || fail "refused export wrote: $(ls -la "$EXP")"
run 0 "audit of refused exports" "$FERRY" audit list --method ExportPackage --outcome failure --json &&
    jcheck "refused exports audited as failures with their target" \
        "(.entries | length) == 3 and (.entries | map(.errorCode) | unique) == [\"E_NOT_FOUND\"] and ([.entries[].targets[]? | select(.kind == \"package\") | .id] | index(\"$VERSION\") != null)"

run 0 "export" "$FERRY" package export "$VERSION" --out "$EXP" --customer ACME --valid-days 10 --json && one_json "export" &&
    jcheck "export answer: package, paths, customer" \
        ".package.version == \"$VERSION\" and .package.sha256 == \"$SHA\" and .zipPath == \"$EXP/$VERSION.zip\" and .manifestPath == \"$EXP/$VERSION.manifest.json\" and .manifest.customerCode == \"ACME\" and (.manifest.taskId // \"\") == \"\" and (.manifest.nodeCode // \"\") == \"\""
[ "$(sha256sum "$EXP/$VERSION.zip" | cut -d' ' -f1)" = "$SHA" ] && pass "exported zip has the package's SHA-256" || fail "exported zip"
[ -z "$(find "$EXP" -name '*.part')" ] && pass "no partial file left" || fail "partial file left: $(ls -la "$EXP")"
MAN="$EXP/$VERSION.manifest.json"
jq -e '(.manifest | length) > 0 and (.signature | length) > 0 and (.keyId | length) == 16' "$MAN" >/dev/null &&
    pass "manifest file is a SignedManifest in proto3 JSON" || fail "manifest file: $(cat "$MAN")"
[ "$(jq -r .manifest "$MAN")" = "$(printf '%s' "$OUT" | jq -r .signedManifest.manifest)" ] &&
    pass "manifest file holds the signed bytes the server returned" || fail "manifest file differs from the answer"
# Verified the way the agent does: with the key Bind hands the node (Ed25519, raw key in an SPKI).
BIND=$(curl -sS -H 'content-type: application/json' \
    -d "{\"nodeCode\":\"N1\",\"environment\":\"ENVIRONMENT_PROD\",\"token\":\"$NODE_TOKEN\"}" "$BASE/ferry.v1.AgentService/Bind")
[ "$(jq -r .keyId "$MAN")" = "$(printf '%s' "$BIND" | jq -r '.signingKeys[0].keyId')" ] &&
    pass "manifest key id is the one Bind hands out" || fail "key id: $BIND"
{ printf '\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00'; printf '%s' "$BIND" | jq -r '.signingKeys[0].publicKey' | base64 -d; } >"$TMP/bind-key.der"
jq -r .manifest "$MAN" | base64 -d >"$TMP/manifest.bin"
jq -r .signature "$MAN" | base64 -d >"$TMP/manifest.sig"
verify() { openssl pkeyutl -verify -pubin -keyform DER -inkey "$TMP/bind-key.der" -rawin -in "$1" -sigfile "$TMP/manifest.sig" >/dev/null 2>&1; }
verify "$TMP/manifest.bin" && pass "exported manifest verifies with Bind's key" || fail "exported manifest does not verify"
{ cat "$TMP/manifest.bin"; printf x; } >"$TMP/manifest.bad"
verify "$TMP/manifest.bad" && fail "a changed manifest verifies" || pass "a changed manifest does not verify"
if command -v protoc >/dev/null && [ -n "${FERRY_SOURCE_DIR:-}" ]; then
    # The signed bytes themselves: no task, no node, UPDATE, the customer, 10 days.
    protoc --decode=ferry.v1.PackageManifest -I "$FERRY_SOURCE_DIR/idl" -I /usr/include ferry/v1/common.proto \
        <"$TMP/manifest.bin" >"$TMP/manifest.txt" 2>"$TMP/stderr"
    secs() { awk -v f="$1" '$1 == f && $2 == "{" { on = 1 } on && $1 == "seconds:" { print $2; exit }' "$TMP/manifest.txt"; }
    grep -q '^customer_code: "ACME"$' "$TMP/manifest.txt" && grep -q '^task_kind: TASK_KIND_UPDATE$' "$TMP/manifest.txt" &&
        ! grep -q '^task_id:\|^node_code:' "$TMP/manifest.txt" && grep -q "^version: \"$VERSION\"$" "$TMP/manifest.txt" &&
        grep -q "^sha256: \"$SHA\"$" "$TMP/manifest.txt" &&
        pass "signed manifest: no task, no node, UPDATE, customer ACME" || fail "manifest: $(cat "$TMP/manifest.txt" "$TMP/stderr")"
    [ "$(( $(secs expires_at) - $(secs signed_at) ))" = "$((10 * 86400))" ] && pass "signed manifest expires 10 days after signing" ||
        fail "expiry: $(cat "$TMP/manifest.txt")"
fi
run 0 "export (human, default validity, any customer)" "$FERRY" package export "$VERSION" --out "$EXP/any/"
grep -q "^Exported package $VERSION" <<<"$OUT" && grep -q "for any customer, valid until " <<<"$OUT" &&
    grep -qF "  $EXP/any/$VERSION.zip" <<<"$OUT" && grep -qF "  $EXP/any/$VERSION.manifest.json" <<<"$OUT" &&
    pass "human export names both files" || fail "human export: $OUT"
[ "$(sha256sum "$EXP/any/$VERSION.zip" | cut -d' ' -f1)" = "$SHA" ] && pass "second export's zip" || fail "second export's zip"
run 0 "export again over the same files" "$FERRY" package export "$VERSION" --out "$EXP" --json &&
    jcheck "re-export: any customer, 30 days by default" \
        '(.manifest.customerCode // "") == "" and (((.manifest.expiresAt | sub("\\.[0-9]+Z$"; "Z") | fromdate) - (.manifest.signedAt | sub("\\.[0-9]+Z$"; "Z") | fromdate)) == 2592000)'
run 0 "audit of exports" "$FERRY" audit list --method ExportPackage --outcome success --json &&
    jcheck "exports audited with their target" \
        "(.entries | length) == 3 and (.entries | all(.targets[0].kind == \"package\" and .targets[0].id == \"$VERSION\"))"
# The customer's own storage serves a customer's export: here a dead one, so the download
# fails (after its retries) and nothing is left behind.
run 0 "ACME storage on a dead host" "$FERRY" storage set --customer ACME --kind local --public-base-url http://127.0.0.1:9 --json
run 3 "export through a dead link" "$FERRY" package export "$VERSION" --out "$TMP/export-dead/x" --customer ACME --json &&
    jcheck "dead link -> E_UNAVAILABLE" '.error.errorCode == "E_UNAVAILABLE" and (.error.message | contains("127.0.0.1:9"))'
[ ! -e "$TMP/export-dead/x" ] && [ -z "$(ls -A "$TMP/export-dead" 2>/dev/null)" ] && pass "failed download leaves no file" ||
    fail "failed download left: $(ls -laR "$TMP/export-dead")"
run 0 "ACME storage removed" "$FERRY" storage delete --customer ACME

# ---- storage mirrors (seed 003) ----------------------------------------------------------
run 0 "storage set with mirrors" "$FERRY" storage set --kind local --mirror m1=http://mirror.example:8080/ferry/ \
    --mirror m-2=https://m2.example/base --json &&
    jcheck "mirrors stored in order, trailing / trimmed" \
        '.config.mirrors == [{"name":"m1","baseUrl":"http://mirror.example:8080/ferry"},{"name":"m-2","baseUrl":"https://m2.example/base"}]'
run 0 "storage get json" "$FERRY" storage get --json && jcheck "storage get shows mirrors" '(.config.mirrors | map(.name)) == ["m1","m-2"]'
STORAGE_BEFORE=$OUT
run 0 "storage get human" "$FERRY" storage get
grep -q "mirrors\[0\].name: m1" <<<"$OUT" && grep -q "mirrors\[1\].baseUrl: https://m2.example/base" <<<"$OUT" &&
    pass "storage get lists the mirrors" || fail "storage get: $OUT"
run 0 "storage list human" "$FERRY" storage list
grep -q "MIRRORS" <<<"$OUT" && grep -qF "m1=http://mirror.example:8080/ferry, m-2=https://m2.example/base" <<<"$OUT" &&
    pass "storage list has a MIRRORS column" || fail "storage list: $OUT"
run 0 "storage list json" "$FERRY" storage list --json && jcheck "storage list json mirrors" '.configs[0].mirrors | length == 2'
run 2 "mirror without =" "$FERRY" storage set --kind local --mirror m1 --json && jcheck "usage" '.error.code == "usage"'
run 3 "mirror bad name" "$FERRY" storage set --kind local --mirror 'bad name=http://x' --json &&
    jcheck "bad mirror name -> E_INVALID_ARG naming the field" '.error.errorCode == "E_INVALID_ARG" and (.error.message | contains("mirrors[0].name"))'
run 3 "mirror bad url" "$FERRY" storage set --kind local --mirror m1=http://ok.example --mirror m2=ftp://x --json &&
    jcheck "bad mirror URL -> E_INVALID_ARG naming the field" '.error.errorCode == "E_INVALID_ARG" and (.error.message | contains("mirrors[1].base_url"))'
run 0 "storage unchanged" "$FERRY" storage get --json
[ "$OUT" = "$STORAGE_BEFORE" ] && pass "refused mirror changes nothing" || fail "storage changed: $OUT"

# ---- release, tasks --------------------------------------------------------------------
run 0 "release create" "$FERRY" release create --version "$VERSION" --env PROD --customer ACME --store S1 --policy forced --json &&
    one_json "release create" && jcheck "release create returns id" '(.id | length) > 0 and (.tasks | length) == 1'
REL=$(printf '%s' "$OUT" | jq -r .id)
run 0 "task list" "$FERRY" task list --release "$REL" --json &&
    jcheck "task list shows node N1 in state 10" '.tasks | length == 1 and .[0].node == "N1" and .[0].state == 10 and .[0].errorCode == ""'
run 0 "task list by state" "$FERRY" task list --node N1 --state 10 --json && jcheck "task list --state 10" '(.tasks | length) >= 1'
run 0 "task list human" "$FERRY" task list --release "$REL"
grep -q "N1" <<<"$OUT" && grep -q "10 PENDING" <<<"$OUT" && pass "task table" || fail "task table: $OUT"
run 0 "release summary" "$FERRY" release summary "$REL" --json && jcheck "summary" '(.total|tonumber) == 1'
run 0 "release get" "$FERRY" release get "$REL" --json && jcheck "release get" ".release.id == \"$REL\""
run 3 "release create twice" "$FERRY" release create --version "$VERSION" --env PROD --customer ACME --policy forced --json &&
    jcheck "overlapping release refused" '.error.code != ""'
run 2 "bad deadline" "$FERRY" release create --version "$VERSION" --env PROD --customer ACME --policy optional --deadline tomorrow

# release watch: nothing moves without an agent, so Ctrl-C ends it.
OUT=$(timeout --preserve-status -s INT 3 "$FERRY" release watch "$REL" --json 2>"$TMP/stderr")
RC=$?
[ "$RC" = 0 ] && pass "watch ends on Ctrl-C" || fail "watch exit $RC: $(cat "$TMP/stderr")"
jcheck "watch JSON after Ctrl-C" '.interrupted == true and (.tasks | length) == 1 and .tasks[0].state == 10'
OUT=$(timeout --preserve-status -s INT 3 "$FERRY" release watch "$REL" 2>"$TMP/stderr")
grep -q "node N1 .* state 10 PENDING" <<<"$OUT" && pass "plain watch lines" || fail "watch lines: $OUT"
# ---- what the node sends back: download telemetry, files; `task get` shows both ----------
TASK=$(printf '%s' "$("$FERRY" task list --release "$REL" --json)" | jq -r '.tasks[0].id')
# node RPC METHOD JSON: Connect unary JSON call with the node token; body in $OUT.
node() {
    OUT=$(curl -sS -H 'content-type: application/json' -H "authorization: Bearer $NODE_TOKEN" -d "$2" "$BASE/$1")
}
node ferry.v1.AgentService/GetDownload "{\"taskId\":\"$TASK\"}"
jcheck "GetDownload: primary then the mirrors" '(.sources | map(.name)) == ["primary","m1","m-2"] and (.sources | map(.priority // 0)) == [0,10,20]'
jcheck "GetDownload: mirror URL = base + path + signed query" \
    '(.sources[0].url | sub("^https?://[^/]+"; "")) as $p | .sources[1].url == "http://mirror.example:8080/ferry" + $p'
jcheck "GetDownload: signed manifest" '(.signedManifest.manifest | length) > 0 and (.signedManifest.signature | length) > 0'
node ferry.v1.ReportService/ReportProgress "{\"report\":{\"taskId\":\"$TASK\",\"sequence\":\"1\",\"state\":\"TASK_STATE_DOWNLOADING\"}}"
jcheck "report 20" '.state == "TASK_STATE_DOWNLOADING"'
node ferry.v1.ReportService/ReportProgress "{\"report\":{\"taskId\":\"$TASK\",\"sequence\":\"2\",\"state\":\"TASK_STATE_VERIFYING\",\"download\":{\"sourceName\":\"m1\",\"bytes\":\"$SIZE\",\"duration\":\"2.500s\",\"attempts\":2,\"fallbacks\":[\"primary: connection refused\"],\"resumedBytes\":\"4096\"}}}"
jcheck "report 30 with download stats" '.state == "TASK_STATE_VERIFYING"'
DIAG="$TMP/diag.zip"
head -c 5000 /dev/urandom >"$DIAG"
DIAG_SHA=$(sha256sum "$DIAG" | cut -d' ' -f1)
node ferry.v1.ReportService/CreateFileUpload "{\"kind\":\"FILE_KIND_DIAGNOSTIC\",\"taskId\":\"$TASK\",\"fileName\":\"diag.zip\",\"size\":\"5000\",\"sha256\":\"$DIAG_SHA\",\"contentType\":\"application/zip\"}"
UP_ID=$(printf '%s' "$OUT" | jq -r .uploadId)
UP_URL=$(printf '%s' "$OUT" | jq -r .target.url)
curl -sS -o /dev/null -X PUT --data-binary @"$DIAG" "$UP_URL"
node ferry.v1.ReportService/CommitFileUpload "{\"uploadId\":\"$UP_ID\",\"summary\":\"service did not stop within 120 s\"}"
jcheck "diagnostic committed" ".file.sha256 == \"$DIAG_SHA\""
run 0 "task get json" "$FERRY" task get "$TASK" --json && one_json "task get" &&
    jcheck "task get: the task and its file with a download link" \
        ".task.id == \"$TASK\" and (.files | length) == 1 and .files[0].fileName == \"diag.zip\" and .files[0].summary == \"service did not stop within 120 s\" and (.files[0].download.url | startswith(\"http\"))"
LINK=$(printf '%s' "$OUT" | jq -r '.files[0].download.url')
[ "$(curl -sS "$LINK" | sha256sum | cut -d' ' -f1)" = "$DIAG_SHA" ] && pass "task get link downloads the file" || fail "link $LINK"
jcheck "task get: download telemetry" \
    '.task.download.sourceName == "m1" and .task.download.attempts == 2 and .task.download.fallbacks == ["primary: connection refused"] and .task.download.resumedBytes == "4096"'
run 0 "task list json (telemetry)" "$FERRY" task list --release "$REL" --json &&
    jcheck "task list: download telemetry" '.tasks[0].download.sourceName == "m1"'
run 0 "task get human (telemetry)" "$FERRY" task get "$TASK"
grep -q "^download: .* from m1 in 2.500s, 2 attempts, 4.0 KiB resumed" <<<"$OUT" &&
    grep -q "^download fallback 1: primary: connection refused" <<<"$OUT" &&
    ! grep -q "^download.sourceName" <<<"$OUT" && pass "human telemetry" || fail "telemetry: $OUT"
run 0 "task get human" "$FERRY" task get "$TASK"
grep -q "^files: 1" <<<"$OUT" && grep -q "file .*: diagnostic diag.zip (4.9 KiB" <<<"$OUT" &&
    grep -q "summary: service did not stop within 120 s" <<<"$OUT" && grep -q "download: http.*(expires " <<<"$OUT" &&
    pass "human task get lists files with links" || fail "task get: $OUT"

run 0 "release cancel" "$FERRY" release cancel "$REL" --reason test --json && jcheck "release canceled" '.release.state == "RELEASE_STATE_CANCELED"'

# ---- audit -----------------------------------------------------------------------------
run 0 "audit list" "$FERRY" audit list --json &&
    jcheck "audit has the actions" '[.entries[].method] as $m | ["CreateCustomer","CreateStore","CreateNode","CommitPackage","CreateRelease"] | all(. as $x | $m | map(endswith($x)) | any)'
run 0 "audit list human" "$FERRY" audit list --method CreateRelease
grep -q "CreateRelease" <<<"$OUT" && pass "audit table" || fail "audit table: $OUT"

# ---- auth ------------------------------------------------------------------------------
run 4 "bad token" env FERRY_TOKEN=not-a-token "$FERRY" whoami --json &&
    jcheck "bad token -> unauthenticated, E_AUTH_INVALID" '.error.code == "unauthenticated" and .error.errorCode == "E_AUTH_INVALID"'
run 4 "node token on admin RPC" "$FERRY" --token "$NODE_TOKEN" customer list --json
run 0 "token create" "$FERRY" token create --name impl --role implementer --json && jcheck "token create" '(.token|length) > 16'
IMPL=$(printf '%s' "$OUT" | jq -r .token)
run 4 "implementer cannot create customers" "$FERRY" --token "$IMPL" customer create --code X --name X --json &&
    jcheck "permission_denied" '.error.code == "permission_denied"'
run 0 "implementer can list tasks" "$FERRY" --token "$IMPL" task list --json
run 0 "implementer can export a package" "$FERRY" --token "$IMPL" package export "$VERSION" --out "$TMP/export-impl" --valid-days 1 --json &&
    jcheck "implementer export" '.manifest.version != null'
run 4 "node token cannot export" "$FERRY" --token "$NODE_TOKEN" package export "$VERSION" --out "$TMP/export-node" --json
[ ! -e "$TMP/export-node" ] && pass "denied export writes nothing" || fail "denied export wrote files"
for f in "$TMP/stderr"; do grep -qF "$ADMIN_TOKEN" "$f" && fail "admin token printed"; done

# ---- configuration precedence ----------------------------------------------------------
CFG="$TMP/config.json"
printf '{"server": "%s", "token": "%s"}\n' "$BASE" "$ADMIN_TOKEN" >"$CFG"
chmod 644 "$CFG"
run 1 "world-readable config with token refused" env -u FERRY_SERVER -u FERRY_TOKEN "$FERRY" --config "$CFG" whoami --json &&
    jcheck "refusal names chmod" '.error.message | contains("chmod 600")'
chmod 600 "$CFG"
run 0 "config file" env -u FERRY_SERVER -u FERRY_TOKEN "$FERRY" --config "$CFG" whoami --json
run 0 "config show" env -u FERRY_TOKEN FERRY_SERVER=http://127.0.0.1:9 "$FERRY" --config "$CFG" config show --json &&
    jcheck "env beats file, file gives token" '.serverSource == "environment" and .tokenSource == "config file" and .tokenSet == true'
grep -qF "$ADMIN_TOKEN" <<<"$OUT" && fail "config show printed the token" || pass "config show hides the token"
run 0 "flag beats env" env FERRY_SERVER=http://127.0.0.1:9 "$FERRY" --server "$BASE" whoami --json
run 3 "unreachable server" "$FERRY" --server http://127.0.0.1:9 --timeout 3s customer list --json &&
    jcheck "unavailable" '.error.code == "unavailable"'

# ---- duplicate version (last: it exercises the commit failure path) -------------------
run 3 "duplicate version" "$FERRY" package upload "$ZIP" --version "$VERSION" --chunk-size 64K --json &&
    one_json "duplicate" && jcheck "duplicate version -> E_VERSION_DUPLICATE" '.error.errorCode == "E_VERSION_DUPLICATE" and (.error.message | contains("E_VERSION_DUPLICATE"))'
run 3 "duplicate version (human)" "$FERRY" package upload "$ZIP" --version "$VERSION" --chunk-size 64K
grep -q "E_VERSION_DUPLICATE" "$TMP/stderr" && pass "human error names E_VERSION_DUPLICATE" || fail "stderr: $(cat "$TMP/stderr")"

if [ "$FAILS" -ne 0 ]; then
    echo "$FAILS check(s) failed" >&2
    exit 1
fi
echo "all CLI integration checks passed"
