#!/usr/bin/env bash
# Fails when a C source or header includes what its layer must not (issue 9):
#   - lib/hub (the server's domain logic) includes an engine header (ferry/engine/...)
#     or a libcurl header (curl/...): the shared model is ferry/model/..., HTTP belongs to
#     lib/rpc;
#   - lib/hub includes sqlite3.h or ferry/store_sqlite.h, or names a sqlite3_ symbol: SQL
#     belongs to the store layer (lib/store repositories, ferry/store/<aggregate>.h);
#   - anything outside lib/rpc includes curl/curl.h (tests/ and bench/ excepted);
#   - anything outside lib/rpc includes h2o.h or h2o/... (tests/ and bench/ excepted):
#     plain HTTP routes go through ferry/rpc_route.h.
# Each violation is printed as FILE:LINE: what, and the script exits 1.
# Reads tracked files and untracked ones that .gitignore does not exclude.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.h' |
  grep -v -E '^(tests/fuzz/corpus|third_party)/' | sort -u || true)

existing=()
for f in "${files[@]}"; do
  [ -f "$f" ] && existing+=("$f") # a file deleted in the work tree is not in the index yet
done
[ "${#existing[@]}" -eq 0 ] && exit 0

fail=0
while IFS=: read -r f line text; do
  [[ $text =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*[\<\"]([^\>\"]*) ]] || continue
  hdr=${BASH_REMATCH[1]}
  case $f in
  lib/hub/*)
    case $hdr in
    ferry/engine/*)
      echo "$f:$line: includes $hdr: lib/hub must not depend on the agent's engine (use ferry/model/...)"
      fail=1
      ;;
    curl/*)
      echo "$f:$line: includes $hdr: lib/hub must not use libcurl (HTTP belongs to lib/rpc)"
      fail=1
      ;;
    sqlite3.h | ferry/store_sqlite.h)
      echo "$f:$line: includes $hdr: lib/hub must not run SQL (use a lib/store repository)"
      fail=1
      ;;
    esac
    ;;
  esac
  case $f in
  lib/rpc/* | tests/* | bench/*) ;;
  *)
    case $hdr in
    curl/curl.h)
      if [[ $f != lib/hub/* ]]; then # already reported above
        echo "$f:$line: includes $hdr: only lib/rpc may use libcurl"
        fail=1
      fi
      ;;
    h2o.h | h2o/*)
      echo "$f:$line: includes $hdr: only lib/rpc may use h2o (routes: ferry/rpc_route.h)"
      fail=1
      ;;
    esac
    ;;
  esac
done < <(grep -n -H -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]' "${existing[@]}" || true)

hub=()
for f in "${existing[@]}"; do [[ $f == lib/hub/* ]] && hub+=("$f"); done
if [ "${#hub[@]}" -gt 0 ]; then
  while IFS=: read -r f line _; do
    echo "$f:$line: names a sqlite3_ symbol: lib/hub must not run SQL (use a lib/store repository)"
    fail=1
  done < <(grep -n -H -E '\bsqlite3_[a-z_]+' "${hub[@]}" || true)
fi

if [ "$fail" -ne 0 ]; then
  echo "layering: FAILED" >&2
  exit 1
fi
echo "layering: ${#existing[@]} files ok"
