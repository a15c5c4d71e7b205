#!/usr/bin/env bash
# The agent side of licences (docs/fleet.md, agent contract) with a real ferryd, real
# `ferry-agent run` daemons and the real `ferry` CLI: the signed licence reaches the node,
# is verified against the pinned key, cached in the state dir and written to
# node-config `license.file` (the signature checked here with openssl against the key
# the file names); a renewal arrives on the stream; a suspension shows at once; a
# tampered cache and a licence issued for another node are refused (logged, nothing
# written); the offline rule gives GRACE past the end.
source "$(dirname "$0")/agentd_lib.sh"
command -v openssl >/dev/null || { echo "SKIP: openssl not installed"; exit 77; }

# with_license NODE: adds license.file to the node's node-config.json.
with_license() {
    "$PY" - "$W/$1/node-config.json" "$W/$1/app/license.json" <<'PYEOF'
import json, sys
p, f = sys.argv[1], sys.argv[2]
c = json.load(open(p))
c["license"] = {"file": f}
json.dump(c, open(p, "w"), indent=2)
PYEOF
    mkdir -p "$W/$1/app"
}

# lic_status NODE: the agent's licence status in LocalService GetStatus ("" = none).
lic_status() {
    local_call "$1" GetStatus '{}' |
        json 'str(d["status"].get("license", {}).get("status", "")).replace("LICENSE_STATUS_", "")'
}

# wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds.
wait_for() {
    local secs=$1 what=$2
    shift 2
    local end=$((SECONDS + secs))
    while [ $SECONDS -lt $end ]; do
        "$@" && return 0
        sleep 0.2
    done
    fail "$what: not within ${secs}s"
}

# sig_ok FILE: the licence file's signature verifies over its document with its key.
sig_ok() {
    local f=$1 d=$W/sigchk
    mkdir -p "$d"
    json 'd["document"]' <"$f" | base64 -d >"$d/doc"
    json 'd["signature"]' <"$f" | base64 -d >"$d/sig"
    # Ed25519 SubjectPublicKeyInfo: a fixed 12-byte DER prefix, then the raw 32-byte key.
    { printf '\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00'; json 'd["publicKey"]' <"$f" | base64 -d; } >"$d/pub.der"
    openssl pkey -pubin -inform DER -in "$d/pub.der" -out "$d/pub.pem" 2>/dev/null &&
        openssl pkeyutl -verify -pubin -inkey "$d/pub.pem" -rawin -in "$d/doc" -sigfile "$d/sig" >/dev/null 2>&1
}

file_field() { [ -f "$W/$1/app/license.json" ] && json "$2" <"$W/$1/app/license.json"; }
has_end() { [ "$(file_field "$1" 'd["license"]["endsAt"][:10]')" = "$2" ]; }
status_is() { [ "$(lic_status "$1")" = "$2" ]; }

server_start
tree ACME ACME-SH01
for n in L1 L2 L3; do
    site "$n" ACME-SH01 none
    with_license "$n"
    bind "$n"
done
today=$(date -u +%Y-%m-%d)
end1=$(date -u -d '+90 days' +%Y-%m-%d)
end2=$(date -u -d '+400 days' +%Y-%m-%d)
past=$(date -u -d '-2 days' +%Y-%m-%d)
LIC=$("$FERRY" license create --node L1 --type OFFICIAL --start "$today" --end "$end1" --max-users 25 \
    --feature reports --feature pos --json)
LID=$(json 'd["id"]' <<<"$LIC")
LKEY=$(json 'd["licenseKey"]' <<<"$LIC")

# 1. Delivered on the stream/check-in, verified, cached, written for the application.
agent_start L1
wait_for 30 "L1 licence file" test -f "$W/L1/app/license.json"
F=$W/L1/app/license.json
[ "$(json 'd["license"]["nodeCode"]' <"$F")" = L1 ] || fail "licence file names another node: $(cat "$F")"
[ "$(json 'd["license"]["licenseKey"]' <"$F")" = "$LKEY" ] || fail "licence key differs"
[ "$(json 'd["license"]["maxUsers"]' <"$F")" = 25 ] || fail "maxUsers missing"
[ "$(json '",".join(d["license"]["features"])' <"$F")" = "reports,pos" ] || fail "features differ"
[ -n "$(json 'd["keyId"]' <"$F")" ] || fail "keyId missing"
sig_ok "$F" || fail "the licence file's signature does not verify with its public key"
[ -f "$W/L1/state/license.pb" ] || fail "no licence cache in the state dir"
[ "$(stat -c %a "$W/L1/state/license.pb")" = 600 ] || fail "licence cache not 0600"
wait_for 10 "L1 status ACTIVE" status_is L1 ACTIVE
log "licence delivered, verified, cached and written"

# 2. A renewal reaches the running agent (stream event or next check-in).
"$FERRY" license renew "$LID" --end "$end2" >/dev/null
wait_for 40 "renewed end date in the licence file" has_end L1 "$end2"
sig_ok "$F" || fail "renewed licence file does not verify"
log "renewal received"

# 3. Suspension: invalid at once.
"$FERRY" license suspend "$LID" >/dev/null
wait_for 40 "L1 status SUSPENDED" status_is L1 SUSPENDED
"$FERRY" license resume "$LID" >/dev/null
wait_for 40 "L1 status ACTIVE again" status_is L1 ACTIVE

# 4. A tampered cache is refused at start (signature before decoding), nothing of it is
# written, and the server's genuine document replaces it.
agent_stop L1
good=$(sha256sum "$F" | cut -d' ' -f1)
rm -f "$F"
"$PY" - "$W/L1/state/license.pb" <<'PYEOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
i = b.find(b"reports")  # a licensed feature: inside the signed document
assert i > 0, "feature not found in the cache"
b[i:i + 7] = b"REPORTS"
open(p, "wb").write(bytes(b))
PYEOF
agent_start L1
wait_for 30 "tampered cache refused" grep -q "licence cache .* refused (licence signature" "$W/L1/agent.log"
wait_for 30 "genuine licence rewritten" test -f "$F"
grep -q '"REPORTS"' "$F" && fail "the tampered feature reached the licence file"
sig_ok "$F" || fail "licence file after re-delivery does not verify"
[ "$(sha256sum "$F" | cut -d' ' -f1)" = "$good" ] || fail "re-delivered licence file differs from the genuine one"
log "tampered cache refused, genuine licence re-delivered"

# 5. A genuine document issued for another node: L2 (no licence of its own) refuses L1's.
cp "$W/L1/state/license.pb" "$W/L2/state/license.pb"
agent_start L2
wait_for 30 "L2 refuses L1's licence" grep -q "issued for node 'L1', not 'L2'" "$W/L2/agent.log"
sleep 1
[ -f "$W/L2/app/license.json" ] && fail "L2 wrote a licence issued for L1"
[ "$(lic_status L2)" = "" ] || fail "L2 shows a licence: $(lic_status L2)"
log "another node's licence refused"

# 6. Offline rule: an end date past but within the grace period is GRACE (valid).
LID3=$("$FERRY" license create --node L3 --type TRIAL --start "$(date -u -d '-30 days' +%Y-%m-%d)" --end "$past" \
    --grace-days 7 --json | json 'd["id"]')
agent_start L3
wait_for 30 "L3 licence file" test -f "$W/L3/app/license.json"
wait_for 10 "L3 status GRACE" status_is L3 GRACE
server_stop
agent_stop L3
agent_start L3 # offline: from the cache alone
wait_for 10 "L3 GRACE from the cache while the server is down" status_is L3 GRACE
TRAY=$B/tray/ferry-tray
if [ -x "$TRAY" ]; then
    TZ=UTC "$TRAY" status --state-dir "$W/L3/state" | grep -q "^licence: *GRACE until $past" ||
        fail "ferry-tray status shows no GRACE licence line: $("$TRAY" status --state-dir "$W/L3/state")"
fi
log "offline: GRACE from the cached licence ($LID3)"
log "PASS"
