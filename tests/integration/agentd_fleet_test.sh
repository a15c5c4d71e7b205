#!/usr/bin/env bash
# 50 real agent daemons against one ferryd (bounded time): a forced release reaches
# every node and all of them report 100. Sites use a marker-file "service" so 50 of
# them fit on a 2-core machine; the update itself is the full pipeline (backup trio,
# install, SQL, start).
source "$(dirname "$0")/agentd_lib.sh"

N=${AGENTD_FLEET:-50}
POLL=60 server_start
tree ACME ACME-SH01
want=""
for i in $(seq -w 1 "$N"); do
    site "F$i" ACME-SH01 none
    bind "F$i"
    want="$want F$i=100"
done
want=${want# }
want=$(tr ' ' '\n' <<<"$want" | sort | tr '\n' ' ')
want=${want% }
for i in $(seq -w 1 "$N"); do agent_start "F$i"; done
log "$N agents running"
pkg '1.25.12.13(12521)'
t0=$SECONDS
R=$(release '1.25.12.13(12521)' forced)
wait_states "$R" "$want" 240
log "$N nodes at 100 in $((SECONDS - t0))s"
log "PASS"
