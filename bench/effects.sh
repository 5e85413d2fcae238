#!/usr/bin/env bash
# What side effects cost the hook, and how fast a popup opens:
#   - `callhook event` without side effects, against the same with a popup configured, which
#     makes every hook queue it and start the detached worker (hyperfine, same run);
#   - the time from the start of `callhook event` to the start of the popup's opener (the
#     recorder example standing in for the browser), over $POPUPS calls.
# Usage: bench/effects.sh        (RUNS=… POPUPS=… to change the counts)
# Needs hyperfine and python3 (Debian: apt-get install hyperfine).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-300}
POPUPS=${POPUPS:-200}
for tool in hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "bench/effects.sh needs $tool" >&2; exit 1; }
done
cargo build --release --quiet --bin callhook --example recorder
bin=$PWD/target/release/callhook
recorder=$PWD/target/release/examples/recorder
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

touch "$work/plain.toml"
cat > "$work/popup.toml" <<TOML
[popup]
url = "https://crm.example.com/search?phone={number}"
opener = ["$recorder", "$work/popups.jsonl"]
TOML
hook() { echo "CALLHOOK_DB=$work/$1.db CALLHOOK_CONFIG=$work/$1.toml $bin event incoming -- +1555\$RANDOM\$RANDOM"; }
# The pause before each run lets the previous run's worker finish, so that every measured hook
# starts one.
hyperfine --shell=bash --warmup 10 --runs "$RUNS" --prepare "sleep 0.03" --style basic \
  --export-json "$work/hook.json" \
  -n "event, no side effects" "$(hook plain)" \
  -n "event, queues a popup and starts the worker" "$(hook popup)" >&2

rm -f "$work/popups.jsonl" "$work/latency.db"*
for i in $(seq "$POPUPS"); do
  CALLHOOK_DB=$work/latency.db CALLHOOK_CONFIG=$work/popup.toml "$bin" event incoming -- "+1999$i"
  sleep 0.05
done
sleep 1

python3 - "$work" <<'PY'
import json, sqlite3, statistics, sys
work = sys.argv[1]
plain, popup = (r["median"] * 1000 for r in json.load(open(f"{work}/hook.json"))["results"])
opened = {}
for line in open(f"{work}/popups.jsonl"):
    record = json.loads(line)
    opened[record["args"][0].rsplit("=", 1)[1].replace("%2B", "+")] = record["at"]
db = sqlite3.connect(f"{work}/latency.db")
latency = sorted(opened[number] - at for number, at in db.execute("SELECT number, at FROM events")
                 if number in opened)
print("| what | median |")
print("|---|---|")
print(f"| `callhook event`, no side effects | {plain:.2f} ms |")
print(f"| `callhook event` queueing a popup and starting the worker | {popup:.2f} ms "
      f"(+{popup - plain:.2f} ms) |")
print(f"| start of `callhook event` to start of the popup opener ({len(latency)} calls) | "
      f"{statistics.median(latency):.0f} ms (p90 {latency[int(len(latency) * 0.9)]} ms) |")
PY
