#!/usr/bin/env bash
# Builds callhook and installs it for the current user on Linux (development, or a MicroSIP
# running under wine): the programs to ~/.local/bin, a starter config when there is none.
# Usage: install/install.sh [--uninstall]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN_DIR:-$HOME/.local/bin}
config=${XDG_CONFIG_HOME:-$HOME/.config}/callhook/config.toml

if [[ ${1:-} == --uninstall ]]; then
  rm -f "$bin/callhook" "$bin/callhookw"
  echo "Removed callhook from $bin. Kept $(dirname "$config") and the call log."
  exit 0
fi

cargo build --release --locked --bins
mkdir -p "$bin"
install -m 755 target/release/callhook target/release/callhookw "$bin/"
echo "Installed callhook and callhookw to $bin."
if [[ ! -f $config ]]; then
  mkdir -p "$(dirname "$config")"
  sed -n '1,/^\[numbers\]/p' config.example.toml > "$config"
  echo "Wrote a starter config: $config (config.example.toml documents every key)."
fi
case ":$PATH:" in
  *":$bin:"*) ;;
  *) echo "Add $bin to your PATH to run callhook by name." ;;
esac
"$bin/callhook" --version
