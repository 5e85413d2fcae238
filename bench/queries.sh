#!/usr/bin/env bash
# The admin queries at scale: a call log of $CALLS realistic calls (default 1,000,000, over two
# years) is generated, then each query is timed with hyperfine.
# Usage: bench/queries.sh        (CALLS=10000000 for the large run; RUNS=… to change the count)
# Needs hyperfine and python3 (Debian: apt-get install hyperfine).
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${CALLS:-1000000}
RUNS=${RUNS:-20}
for tool in hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "bench/queries.sh needs $tool" >&2; exit 1; }
done
cargo build --release --quiet --bin callhook --example generate
bin=$PWD/target/release/callhook
work=${WORK:-$(mktemp -d)}
[[ -n ${WORK:-} ]] || trap 'rm -rf "$work"' EXIT
export CALLHOOK_DB=$work/calls.db CALLHOOK_CONFIG=$work/config.toml
# The generator's numbers are German: national numbers typed in a query become +49….
printf '[numbers]\ncountry_code = "49"\n' > "$CALLHOOK_CONFIG"
if [[ ! -f $CALLHOOK_DB ]]; then
  echo "generating $CALLS calls…" >&2
  target/release/examples/generate --db "$CALLHOOK_DB" --calls "$CALLS" --days 730 >&2
fi
# A caller who calls now and then: one of the generator's middling numbers.
number=$(sqlite3 "$CALLHOOK_DB" "SELECT number FROM calls WHERE number LIKE '+49300%' \
  GROUP BY number HAVING count(*) BETWEEN 5 AND 50 LIMIT 1" 2>/dev/null || echo +49300001234)
partial=${number: -6}
# The start of the number written nationally (0 for +49), as people type it: 030 0001…
national="0${number:3:2} ${number:5:4}"
hyperfine -N --warmup 3 --runs "$RUNS" --style basic --export-json "$work/queries.json" \
  -n "calls --number $number" "$bin calls --number $number" \
  -n "calls --number $partial (digits anywhere)" "$bin calls --number $partial" \
  -n "calls --number '$national' (national, partial)" "$bin calls --number '$national'" \
  -n "calls --since today" "$bin calls --since today" \
  -n "missed --unreturned --since 30d" "$bin missed --unreturned --since 30d" \
  -n "stats --since 30d --by day" "$bin stats --since 30d --by day" \
  -n "calls --all --format csv (export)" "$bin calls --all --format csv" >&2

python3 - "$work/queries.json" "$CALLS" "$(du -b "$CALLHOOK_DB" | cut -f1)" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
calls, size = int(sys.argv[2]), int(sys.argv[3])
print(f"| query, {calls:,} calls | median | max |")
print("|---|---|---|")
for r in results:
    print(f"| `{r['command']}` | {r['median'] * 1000:.1f} ms | {max(r['times']) * 1000:.1f} ms |")
print(f"\nDatabase: {size / 1e6:,.0f} MB, {size / calls:.0f} bytes per call.")
PY
