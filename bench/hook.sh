#!/usr/bin/env bash
# How long MicroSIP waits for `callhook event`, measured with hyperfine:
#   - against the sqlite3 CLI inserting one row into a WAL database, in the same run;
#   - on a nearly empty call log and on one holding $CALLS calls (default 1,000,000);
#   - with `[database] synchronous = "full"` (every event flushed to the disk);
#   - the peak memory of one hook process.
# Usage: bench/hook.sh            (CALLS=… RUNS=… ROUNDS=… to change the sizes)
# Needs hyperfine, sqlite3 and GNU time (Debian: apt-get install hyperfine sqlite3 time).
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${CALLS:-1000000}
RUNS=${RUNS:-300}
ROUNDS=${ROUNDS:-3}

for tool in hyperfine sqlite3 /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "bench/hook.sh needs $tool" >&2; exit 1; }
done

cargo build --release --quiet --bins --example generate
# The hook program MicroSIP runs (callhookw; on Linux the same code as `callhook event`, without
# the admin commands' HTTP and TLS code to map in).
bin=$PWD/target/release/callhookw
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CALLHOOK_CONFIG=$work/no-config.toml
printf '[database]\nsynchronous = "full"\n' > "$work/full-sync.toml"

sqlite3 "$work/baseline.db" "PRAGMA journal_mode=WAL;
  CREATE TABLE events (id INTEGER PRIMARY KEY, at INTEGER, event TEXT, caller TEXT);" >/dev/null
CALLHOOK_DB=$work/empty.db "$bin" event incoming -- +15550000000
echo "generating $CALLS calls…" >&2
target/release/examples/generate --db "$work/full.db" --calls "$CALLS" 2>/dev/null

# Every run is a new caller ($RANDOM, through bash; hyperfine subtracts the shell's own time),
# so that each `incoming` opens a fresh call and each `end` closes one left open for it.
new_caller='n=+1555$RANDOM$RANDOM; echo $n >'"$work/caller"
incoming() { echo "CALLHOOK_DB=$work/$1.db $bin event incoming -- +1555\$RANDOM\$RANDOM"; }
end() { echo "CALLHOOK_DB=$work/$1.db $bin event end -- \$(<$work/caller)"; }
# Several rounds, each measuring everything once: a VM's speed drifts by more than the
# differences measured, and the median of the rounds' medians evens that out.
for round in $(seq "$ROUNDS"); do
  hyperfine --shell=bash --warmup 20 --runs "$RUNS" --style basic \
    --export-json "$work/incoming-$round.json" \
    -n "sqlite3 insert" "sqlite3 $work/baseline.db \"INSERT INTO events (at, event, caller) VALUES (1, 'incoming', '+1555\$RANDOM')\"" \
    -n "incoming, empty log" "$(incoming empty)" \
    -n "incoming, $CALLS calls" "$(incoming full)" \
    -n "callhook (admin program) incoming, empty log" "$(incoming empty | sed 's/callhookw /callhook /')" \
    -n "incoming, empty log, synchronous=full" "CALLHOOK_CONFIG=$work/full-sync.toml $(incoming empty)" >&2
  for db in empty full; do
    hyperfine --shell=bash --warmup 20 --runs "$RUNS" --style basic \
      --export-json "$work/end-$db-$round.json" \
      --prepare "$new_caller; CALLHOOK_DB=$work/$db.db $bin event incoming -- \$n" \
      -n "end, $db" "$(end "$db")" >&2
  done
done

peak=0
for _ in $(seq 20); do
  kb=$( { CALLHOOK_DB=$work/full.db /usr/bin/time -f %M "$bin" event incoming -- +1555999$RANDOM; } 2>&1 )
  (( kb > peak )) && peak=$kb
done

python3 - "$work" "$peak" "$CALLS" "$(du -b "$work/full.db" | cut -f1)" "$ROUNDS" <<'PY'
import json, statistics, sys
work, peak, calls, size, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def medians(name, index):
    """The median over the rounds of each round's median, in ms."""
    return statistics.median(json.load(open(f"{work}/{name}-{r}.json"))["results"][index]["median"] * 1000
                             for r in range(1, rounds + 1))
base, in_empty, in_full, in_admin, in_sync = (medians("incoming", i) for i in range(5))
end_empty, end_full = (medians(f"end-{db}", 0) for db in ("empty", "full"))
print("| what (median wall time) | empty log | " + f"{calls:,} calls | ratio |")
print("|---|---|---|---|")
print(f"| sqlite3 CLI inserting one row into a WAL database | {base:.2f} ms | | |")
print(f"| hook `event incoming` (opens a call) | {in_empty:.2f} ms ({in_empty / base:.2f}x sqlite3) "
      f"| {in_full:.2f} ms | {in_full / in_empty:.2f}x |")
print(f"| hook `event end` (closes an open call) | {end_empty:.2f} ms ({end_empty / base:.2f}x sqlite3) "
      f"| {end_full:.2f} ms | {end_full / end_empty:.2f}x |")
print(f"| `event incoming` through `callhook`, the admin program | {in_admin:.2f} ms "
      f"({in_admin / base:.2f}x sqlite3) | | |")
print(f"| `event incoming` with `[database] synchronous = \"full\"` | {in_sync:.2f} ms "
      f"(+{in_sync - in_empty:.2f} ms) | | |")
print(f"\nPeak memory of one hook process: {peak / 1024:.1f} MiB. "
      f"Database with {calls:,} calls: {size / 1e6:.0f} MB, {size / calls:.0f} bytes per call.")
PY
