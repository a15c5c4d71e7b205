#!/usr/bin/env bash
# Installs every Debian 12 package Ferry needs to build, test and benchmark.
# Idempotent; safe to re-run. Requires root (or sudo).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git
  clang llvm libclang-rt-14-dev clang-format clang-tidy
  libh2o-evloop-dev libh2o-dev libuv1-dev libprotobuf-c-dev protobuf-c-compiler
  protobuf-compiler libprotoc-dev libprotobuf-dev
  libssl-dev openssl libsqlite3-dev sqlite3 libzip-dev zip unzip freetds-dev
  check libsubunit-dev libcurl4-openssl-dev curl zlib1g-dev libjansson-dev
  nghttp2-client libnghttp2-dev rsync procps iproute2 python3 nginx-light
  libgtk-3-dev libayatana-appindicator3-dev xvfb xauth dbus-x11 imagemagick fonts-dejavu-core
  chromium fonts-noto-cjk
)
# chromium: the web console's browser test (npm playwright-core drives it; no browser
# download). fonts-noto-cjk: the console's Chinese text in its screenshots.
# Node.js (>= 20) runs the third-party interop clients. The machine image may ship
# NodeSource's nodejs, which bundles npm and conflicts with Debian's npm package.
if ! command -v npm >/dev/null 2>&1; then PKGS+=(nodejs npm); fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
