#!/usr/bin/env bash
# Hooks while retention runs: on a call log of $CALLS calls (default 1,000,000), `redact` and
# then `prune` of every call, while a hook is run every $GAP_MS ms (default 20) for a new
# caller, as MicroSIP would during a busy hour. Reports, for each command, how long it ran,
# how many hooks ran meanwhile, how many stored their event (the rest went to the fallback
# log), and the hooks' wall times.
# Usage: bench/retention.sh     (CALLS=… GAP_MS=… to change the sizes; WORK=DIR keeps the files)
# Needs python3.
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${CALLS:-1000000}
GAP_MS=${GAP_MS:-20}
cargo build --release --quiet --bins --example generate
work=${WORK:-$(mktemp -d)}
[[ -n ${WORK:-} ]] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work"
cat > "$work/config.toml" <<TOML
[privacy]
redact_key = "a benchmark key of sixteen+"
TOML
if [[ ! -f $work/generated.db ]]; then
  echo "generating $CALLS calls…" >&2
  target/release/examples/generate --db "$work/generated.db" --calls "$CALLS" 2>/dev/null
fi
rm -f "$work/calls.db"* "$work/callhook-fallback.log"*
cp "$work/generated.db" "$work/calls.db"

python3 - "$work" "$PWD/target/release" "$GAP_MS" "$CALLS" <<'PY'
import os, statistics, subprocess, sys, time
work, release, gap, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]) / 1000, int(sys.argv[4])
env = dict(os.environ, CALLHOOK_DB=f"{work}/calls.db", CALLHOOK_CONFIG=f"{work}/config.toml")
print(f"| while … of {calls:,} calls | ran | hooks | stored | to the fallback log "
      "| hook median | p99 | max |")
print("|---|---|---|---|---|---|---|---|")
n = 0
for command in (["redact", "--before", "now"], ["prune", "--before", "now"]):
    started = time.monotonic()
    job = subprocess.Popen([f"{release}/callhook", *command], env=env, stdout=subprocess.DEVNULL)
    times, failed = [], 0
    while job.poll() is None:
        n += 1
        t = time.monotonic()
        hook = subprocess.run([f"{release}/callhookw", "event", "incoming", "--", f"+1999{n:07}"],
                              env=env, capture_output=True)
        times.append((time.monotonic() - t) * 1000)
        failed += hook.returncode != 0
        time.sleep(gap)
    ran = time.monotonic() - started
    assert job.returncode == 0, command
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"| `{' '.join(command)}` | {ran:.0f} s | {len(times)} | {len(times) - failed} | {failed} "
          f"| {statistics.median(times):.1f} ms | {p99:.1f} ms | {times[-1]:.1f} ms |")
PY
