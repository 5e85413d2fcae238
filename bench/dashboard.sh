#!/usr/bin/env bash
# The dashboard's first load in headless Chromium: bytes transferred (Performance API: the
# navigation and every resource), DOM interactive, the load event's end, and the time until
# the Missed list is rendered; median of $RUNS cold runs (a new browser each) against
# `callhook serve` with a generated log of $CALLS calls.
# Usage: bench/dashboard.sh      (CALLS=1000000 RUNS=9 bench/dashboard.sh)
# Needs chromium and chromium-driver (Debian), as ci/test.sh installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
export CALLS=${CALLS:-100000} RUNS=${RUNS:-5}
cargo test --release --quiet --test cli dashboard_first_load -- --ignored --nocapture 2>&1 |
  grep -v '^$\|^running\|^test \|^test result'
