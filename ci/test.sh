#!/usr/bin/env bash
# Every test: the Linux build, then the Windows .exe under wine (ci/windows.sh installs what
# that needs: Debian's rustc-web, mingw-w64, wine).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --locked
ci/windows.sh test
