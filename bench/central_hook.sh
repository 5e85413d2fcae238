#!/usr/bin/env bash
# What team mode costs the hook (`callhookw event incoming`, a new caller each run, on a log of
# one call), in the ways of bench/hook.sh (hyperfine, $ROUNDS rounds of $RUNS runs, the median
# of the rounds' medians) and bench/serve.sh (callgrind's instruction count, strace's system
# calls, when installed):
#   - "no central": no config; the triggers of migration 0009 find no link and queue nothing;
#   - "central": `[central] url` and `key` set and the desk linked, the central lane held by a
#     worker (a burst's steady state): the triggers queue the event's changes, the hook reads
#     the link once and marks the lane wanted. Starting a worker, when the lane is free, costs
#     what it costs for a webhook (bench/effects.sh);
#   - with BASE=COMMIT (the version before the central lane): that version, no config.
# Usage: bench/central_hook.sh        (BASE=5fa6b50 bench/central_hook.sh; RUNS=… ROUNDS=…)
# Needs hyperfine, sqlite3 and python3; valgrind and strace optional. BASE is built in a
# worktree ($BASE_TREE, default a temp dir) with a target dir of its own ($BASE_TARGET).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-300}
ROUNDS=${ROUNDS:-3}
BASE=${BASE:-}
for tool in hyperfine sqlite3 python3; do
  command -v "$tool" >/dev/null || { echo "bench/central_hook.sh needs $tool" >&2; exit 1; }
done
target=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --quiet --bins
hookw=$target/release/callhookw
tmp=$(mktemp -d)
cleanup() {
  rm -rf "$tmp"
  git worktree prune 2>/dev/null || true
}
trap cleanup EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }

# The configs: none, and a desk of central's at an address never reached (the lane is held).
: >"$tmp/none.toml"
key=whsk_$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
printf '[central]\nurl = "http://127.0.0.1:9/"\nkey = "%s"\ndesk = "bench"\n' "$key" \
  >"$tmp/central.toml"
# A log of one call at $1, made by $2; linked, its central lane held, when $3 is "central".
make_log() {
  CALLHOOK_CONFIG=$tmp/none.toml CALLHOOK_DB=$1 "$2" event incoming -- +15550000000
  if [[ $3 == central ]]; then
    sqlite3 "$1" "INSERT INTO central_link (id, url, desk, linked_at, next_at, backfill_done)
      VALUES (1, 'http://127.0.0.1:9/', 'bench', 0, 0, 1);
      INSERT INTO worker_leases (lane, holder, expires_at) VALUES ('central', 'bench', 9e12);"
  fi
}
make_log "$tmp/none.db" "$hookw" none
make_log "$tmp/central.db" "$hookw" central
runs=(-n "no central" "CALLHOOK_CONFIG=$tmp/none.toml CALLHOOK_DB=$tmp/none.db $hookw event incoming -- +1555\$RANDOM\$RANDOM"
      -n "central" "CALLHOOK_CONFIG=$tmp/central.toml CALLHOOK_DB=$tmp/central.db $hookw event incoming -- +1555\$RANDOM\$RANDOM")
if [[ -n $BASE ]]; then
  base_tree=${BASE_TREE:-$tmp/base-tree}
  base_target=${BASE_TARGET:-$target-base}
  [[ -d $base_tree ]] || git worktree add --detach "$base_tree" "$BASE" >&2
  echo "building $BASE in $base_tree…" >&2
  (cd "$base_tree" && CARGO_TARGET_DIR=$base_target cargo build --release --quiet --bins)
  base_hookw=$base_target/release/callhookw
  make_log "$tmp/base.db" "$base_hookw" none
  runs+=(-n "$BASE" "CALLHOOK_CONFIG=$tmp/none.toml CALLHOOK_DB=$tmp/base.db $base_hookw event incoming -- +1555\$RANDOM\$RANDOM")
fi
hook_load=$(load)
for round in $(seq "$ROUNDS"); do
  # -i: on a busy machine a hook can reach its watchdog (950 ms); see bench/serve.sh.
  hyperfine -i --shell=bash --warmup 20 --runs "$RUNS" --style basic \
    --export-json "$tmp/hook-$round.json" "${runs[@]}" >&2
done
hook_load="$hook_load / $(load)"
queued=$(sqlite3 "$tmp/central.db" "SELECT count(*) FROM central_changes")

# One `event incoming` (a new caller) on a new log of one call, under $3… (valgrind or strace),
# SIGALRM blocked as in bench/serve.sh; run again should it not end cleanly.
unalarmed() {
  python3 -c 'import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
os.execvp(sys.argv[1], sys.argv[1:])' "$@"
}
count_once() {
  local hook=$1 setup=$2 out rc dir
  shift 2
  for _ in $(seq 10); do
    dir=$(mktemp -d "$tmp/count.XXXX")
    make_log "$dir/c.db" "$hook" "$setup"
    rc=0
    out=$(CALLHOOK_CONFIG=$tmp/$setup.toml CALLHOOK_DB=$dir/c.db unalarmed "$@" "$hook" event incoming \
      -- +15551110001 2>&1) || rc=$?
    if [[ $rc == 0 && $out != *"gave up"* ]] && ! ls "$dir" | grep -q fallback; then
      cat "$dir"/strace.out 2>/dev/null || echo "$out"
      rm -rf "$dir"
      return
    fi
    rm -rf "$dir"
  done
  echo "the hook did not finish cleanly under $1" >&2
  exit 1
}
: >"$tmp/counts"
whos=("none:$hookw:none" "central:$hookw:central")
[[ -n $BASE ]] && whos+=("base:$base_hookw:none")
for who in "${whos[@]}"; do
  IFS=: read -r name hook setup <<<"$who"
  for _ in 1 2 3; do
    if command -v valgrind >/dev/null; then
      count_once "$hook" "$setup" valgrind --tool=callgrind --callgrind-out-file=/dev/null |
        sed -n "s/.*Collected : \([0-9]*\).*/$name instructions \1/p" >>"$tmp/counts"
    fi
    if command -v strace >/dev/null; then
      count_once "$hook" "$setup" sh -c 'exec strace -f -c -o "${CALLHOOK_DB%/*}/strace.out" "$@"' strace |
        awk -v w="$name" '/total$/ {print w, "syscalls", $4}' >>"$tmp/counts"
    fi
  done
done

python3 - "$tmp" "$ROUNDS" "$BASE" "$hook_load" "$queued" <<'PY'
import json, statistics, sys
tmp, rounds, base, load, queued = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
results = [json.load(open(f"{tmp}/hook-{k}.json"))["results"] for k in range(1, rounds + 1)]
def med(name):
    return statistics.median(next(r for r in rs if r["command"] == name)["median"] * 1000 for rs in results)
counts = {}
for line in open(f"{tmp}/counts"):
    who, what, n = line.split()
    counts.setdefault((who, what), []).append(int(n))
def count(who, what):
    c = counts.get((who, what))
    return statistics.median(c) if c else None
names = [("none", "no central"), ("central", "central")] + ([("base", base)] if base else [])
print(f"`callhookw event incoming` (median of {rounds} rounds' medians; load {load}; "
      f"{queued} changes queued on the central desk at the end):\n")
print("| | wall time | instructions (callgrind) | system calls (strace) |")
print("|---|---|---|---|")
ref_t, ref_i, ref_s = med("no central"), count("none", "instructions"), count("none", "syscalls")
for who, name in names:
    t, i, s = med(name), count(who, "instructions"), count(who, "syscalls")
    dt = "" if who == "none" else f" ({t / ref_t:.2f}x)"
    di = "" if who == "none" or not (i and ref_i) else f" ({(i - ref_i) / ref_i * 100:+.1f} %)"
    ds = "" if who == "none" or not (s and ref_s) else f" ({s - ref_s:+.0f})"
    label = {"none": "no `[central]`", "central": "`[central]`, linked, lane held",
             "base": f"{base} (before the lane), no config"}[who]
    print(f"| {label} | {t:.2f} ms{dt} | {f'{i:,.0f}' if i else '–'}{di} | {f'{s:.0f}' if s else '–'}{ds} |")
PY
