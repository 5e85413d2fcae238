#!/usr/bin/env bash
# Builds callhook.exe for Windows (x86_64-pc-windows-gnu) on Debian 12 and runs the test suite
# against it under wine. Installs what it needs (as root): Debian's rustc-web/cargo-web 1.96 with
# their std sources (std is built for Windows with -Zbuild-std), mingw-w64 and wine.
# Usage: ci/windows.sh [test|build]      (default: test, which also builds)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-test}
T=x86_64-pc-windows-gnu
t0=$(date +%s)
step() { echo "### [$(( $(date +%s) - t0 ))s] $*"; }

packages=(rustc-web cargo-web rust-web-src rust-web-clippy gcc-mingw-w64-x86-64-win32 wine wine64)
if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
  step "apt-get install ${packages[*]}"
  sudo=(); [[ $EUID -ne 0 ]] && sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

# rustup's proxies come first in PATH: Debian's cargo and rustc are called by absolute path.
# RUSTC_BOOTSTRAP allows -Z on this stable toolchain. A separate target directory keeps the
# two toolchains from invalidating each other's build scripts.
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc CARGO=/usr/bin/cargo RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=$PWD/target/windows
cargo=(/usr/bin/cargo)
zflags=(-Zbuild-std=std,panic_abort --target "$T" --release)

# A wine prefix of the project's own, headless.
export WINEPREFIX=${WINEPREFIX:-$HOME/.wine-callhook} WINEDEBUG=-all
unset DISPLAY
if [[ ! -f $WINEPREFIX/system.reg ]]; then
  step "wine prefix $WINEPREFIX"
  wineboot --init >/dev/null 2>&1 || true
  wineserver -w
fi
# Without a display wine refuses every window but message-only ones; its null graphics driver
# makes windows that are never shown. The stand-in MicroSIP of tests/cli/control.rs needs one:
# MicroSIP's window is a top-level one, which FindWindowW finds (a message-only one it does not).
if ! grep -q '"Graphics"="null"' "$WINEPREFIX/user.reg"; then
  step "wine: null graphics driver"
  wine reg add 'HKCU\Software\Wine\Drivers' /v Graphics /d null /f >/dev/null 2>&1
  # The desktop takes its driver when it starts: with the next wineserver.
  wineserver -w
fi
# Wine 8.0 lacks bcryptprimitives.dll!ProcessPrng, which Rust's std (>= 1.78) imports: a
# test-only stand-in forwards to RtlGenRandom (Windows 10 and later have the real DLL).
stub=$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll
if [[ ! -f $stub ]]; then
  x86_64-w64-mingw32-gcc -O2 -shared -o "$stub" ci/windows/bcryptprimitives.c -ladvapi32
fi

if [[ $mode == build ]]; then
  step "cargo build (windows, release)"
  "${cargo[@]}" build "${zflags[@]}" --locked --bins --examples
  ls -l "$CARGO_TARGET_DIR/$T/release/"*.exe
  exit 0
fi

step "clippy (windows code)"
/usr/bin/cargo-clippy clippy "${zflags[@]}" --all-targets --locked -- -D warnings

# Team mode: the Windows desk (tests/cli/central.rs) delivers to a central on Linux, with its
# own throw-away PostgreSQL cluster, started here with the Linux build (ci/test.sh made it).
step "central on Linux, for the Windows desk"
central_dir=$(mktemp -d)
mkfifo "$central_dir/stdin"
(unset RUSTC RUSTDOC CARGO RUSTC_BOOTSTRAP CARGO_TARGET_DIR
 cargo build --release --locked --bin callhook --example central >/dev/null)
target/release/examples/central target/release/callhook "$central_dir/central" wine-desk \
  <"$central_dir/stdin" >"$central_dir/central.json" &
central_pid=$!
exec 9>"$central_dir/stdin"
trap 'exec 9>&-; wait $central_pid 2>/dev/null; rm -rf "$central_dir"' EXIT
for _ in $(seq 600); do [[ -s $central_dir/central.json ]] && break; sleep 0.1; done
CALLHOOK_TEST_CENTRAL=$(cat "$central_dir/central.json")
export CALLHOOK_TEST_CENTRAL

step "cargo test under wine"
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine
# One wineserver for the whole run: by default it exits 3 s after its last client, and a test
# binary starting at that moment fails with "recvmsg: Connection reset by peer".
# Wine's server and the services the first test starts stay after the tests: without central's
# stdin (fd 9), which would keep central running, and this script waiting, until they exit.
wineserver -p300 9>&-
# Fewer tests at once than cores would allow: wine's process creation fails ("internal error")
# when many tests start dozens of processes each at the same moment.
# (This builds callhook.exe, callhookw.exe and the examples too: a separate `cargo build`
# would build every dependency once more, std included.)
"${cargo[@]}" test "${zflags[@]}" --locked -- --test-threads=3 9>&-
ls -l "$CARGO_TARGET_DIR/$T/release/"*.exe
step "done"
