#!/usr/bin/env bash
# Every test: the Linux build, then the Windows .exe under wine (ci/windows.sh installs what
# that needs: Debian's rustc-web, mingw-w64, wine). The Linux tests need libfaketime (a clock
# step as Windows time sync makes one), chattr (a directory read-only even for root), and
# Chromium with chromedriver (the dashboard's test drives a real browser), and PostgreSQL's
# server programs (team mode's tests start private clusters of their own with initdb and pg_ctl;
# the packaged cluster is not used).
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(faketime e2fsprogs chromium chromium-driver openssl postgresql)
if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
  sudo=(); [[ $EUID -ne 0 ]] && sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
cargo test --release --locked
ci/windows.sh test
