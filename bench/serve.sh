#!/usr/bin/env bash
# `callhook serve`'s figures:
#   1. live events: the delay from a hook process (`callhookw event incoming`, run $EVENTS times,
#      $GAP_MS apart, a new caller each) to an SSE client of /api/events receiving its frame;
#   2. the API (curl) against the CLI on a generated log of $CALLS calls (default 1,000,000;
#      generated as bench/queries.sh does, `WORK=DIR` keeps it for another run): hyperfine,
#      $ROUNDS rounds (default 3) of $RUNS runs (default 20);
#   3. the server's CPU time over $IDLE_S idle seconds (default 30) and its memory, with 10 and
#      with 100 SSE clients connected (and its memory after the API queries);
#   4. with BASE=COMMIT (the version before serve): the size of callhookw and the hook's time,
#      HEAD against BASE (hyperfine A/B in $ROUNDS rounds of $HOOK_RUNS runs; callgrind's
#      instruction count and strace's system calls when installed). BASE is built in a worktree
#      ($BASE_TREE, default a temp dir) with a target dir of its own ($BASE_TARGET).
# Usage: bench/serve.sh          (BASE=9cb93c9 bench/serve.sh for part 4 as well)
# Needs hyperfine, curl, sqlite3 and python3 (Debian: apt-get install hyperfine curl sqlite3);
# valgrind and strace optional.
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${CALLS:-1000000}
RUNS=${RUNS:-20}
EVENTS=${EVENTS:-200}
GAP_MS=${GAP_MS:-50}
IDLE_S=${IDLE_S:-30}
BASE=${BASE:-}
ROUNDS=${ROUNDS:-3}
HOOK_RUNS=${HOOK_RUNS:-200}
for tool in hyperfine curl sqlite3 python3; do
  command -v "$tool" >/dev/null || { echo "bench/serve.sh needs $tool" >&2; exit 1; }
done
target=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --quiet --bins --example generate --example sse_latency
bin=$target/release/callhook
hookw=$target/release/callhookw
client=$target/release/examples/sse_latency
work=${WORK:-$(mktemp -d)}
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
  [[ -n ${WORK:-} ]] || rm -rf "$work"
  # The default $BASE_TREE was in $tmp: its worktree entry goes with it.
  git worktree prune 2>/dev/null || true
}
trap cleanup EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }
# `callhook serve` on database $1 and config $2, in the background: sets $serve, $url, $token.
start_serve() {
  # Emptied here, not by the redirection: the background job opens it later than this shell
  # goes on to read it.
  : >"$tmp/serve.out"
  CALLHOOK_DB=$1 CALLHOOK_CONFIG=$2 "$bin" serve --listen 127.0.0.1:0 >"$tmp/serve.out" 2>&1 &
  serve=$!
  pids+=("$serve")
  for _ in $(seq 300); do
    grep -q '^callhook serve: http' "$tmp/serve.out" 2>/dev/null && break
    sleep 0.1
  done
  url=$(sed -n 's/^callhook serve: //p' "$tmp/serve.out" | head -1)
  [[ -n $url ]] || { cat "$tmp/serve.out" >&2; exit 1; }
  token=$(<"$(dirname "$2")/serve-token")
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
# $1 SSE clients connected to the server, held until stop_clients: sets $holder.
start_clients() {
  mkfifo "$tmp/hold-$1"
  exec 3<>"$tmp/hold-$1"
  "$client" hold "$url" "$token" "$1" <"$tmp/hold-$1" >"$tmp/hold.out" &
  holder=$!
  pids+=("$holder")
  for _ in $(seq 300); do grep -q connected "$tmp/hold.out" && break; sleep 0.1; done
  grep -q connected "$tmp/hold.out" || { echo "the SSE clients did not connect" >&2; exit 1; }
}
stop_clients() { exec 3>&-; stop "$holder"; }
# The server's CPU time (utime + stime, clock ticks), context switches (all its threads), memory.
ticks() { awk '{print $14 + $15}' "/proc/$serve/stat"; }
switches() { cat /proc/"$serve"/task/*/status | awk '/ctxt_switches/ {n += $2} END {print n}'; }
mem() { awk '/^(VmRSS|VmHWM):/ {printf "%s=%d ", $1, $2}' "/proc/$serve/status"; }
# One idle measurement with $1 clients: a JSON object on stdout.
idle() {
  start_clients "$1"
  sleep 2
  local t0 s0 t1 s1 l
  l=$(load)
  t0=$(ticks); s0=$(switches)
  sleep "$IDLE_S"
  t1=$(ticks); s1=$(switches)
  local m
  m=$(mem)
  stop_clients
  echo "{\"clients\": $1, \"ticks\": $((t1 - t0)), \"hz\": $(getconf CLK_TCK), \"seconds\": $IDLE_S, \
\"switches\": $((s1 - s0)), \"rss_kb\": $(sed 's/.*VmRSS:=\([0-9]*\).*/\1/' <<<"$m"), \
\"hwm_kb\": $(sed 's/.*VmHWM:=\([0-9]*\).*/\1/' <<<"$m"), \"load\": \"$l\"}"
}

# 1. Live events, on a new log.
mkdir "$tmp/live"
printf '[numbers]\ncountry_code = "49"\n' >"$tmp/live/config.toml"
start_serve "$tmp/live/calls.db" "$tmp/live/config.toml"
echo "live events: $EVENTS hooks, $GAP_MS ms apart…" >&2
live_load=$(load)
CALLHOOK_DB=$tmp/live/calls.db CALLHOOK_CONFIG=$tmp/live/config.toml \
  "$client" latency "$url" "$token" "$EVENTS" "$GAP_MS" "$hookw" >"$tmp/live.json"
live_load="$live_load / $(load)"
stop "$serve"

# 2 and 3. The server on a log of $CALLS calls, as bench/queries.sh makes it.
export CALLHOOK_DB=$work/calls.db CALLHOOK_CONFIG=$work/config.toml
printf '[numbers]\ncountry_code = "49"\n' >"$CALLHOOK_CONFIG"
if [[ ! -f $CALLHOOK_DB ]]; then
  echo "generating $CALLS calls…" >&2
  "$target/release/examples/generate" --db "$CALLHOOK_DB" --calls "$CALLS" --days 730 >&2
fi
number=$(sqlite3 "$CALLHOOK_DB" "SELECT number FROM calls WHERE number LIKE '+49300%' \
  GROUP BY number HAVING count(*) BETWEEN 5 AND 50 LIMIT 1" 2>/dev/null || echo +49300001234)
start_serve "$CALLHOOK_DB" "$CALLHOOK_CONFIG"
sleep 2
start_mem=$(mem)
echo "idle: 10 and 100 SSE clients, $IDLE_S s each…" >&2
idle 10 >"$tmp/idle-10.json"
idle 100 >"$tmp/idle-100.json"
api() { echo "curl -s -o /dev/null -H 'Authorization: Bearer $token' '$url$1'"; }
for path in "/api/calls?number=${number/+/%2B}" "/api/missed?unreturned&since=30d" \
  "/api/stats?by=day&since=30d"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url$path")
  [[ $code == 200 ]] || { echo "GET $path: $code" >&2; exit 1; }
done
echo "API and CLI at $CALLS calls…" >&2
api_load=$(load)
# In $ROUNDS rounds, as a VM's speed drifts by more than the differences measured.
for round in $(seq "$ROUNDS"); do
  hyperfine -N --warmup 3 --runs "$RUNS" --style basic --export-json "$tmp/api-$round.json" \
    -n "GET /api/openapi.json (static: curl and HTTP alone)" "curl -s -o /dev/null $url/api/openapi.json" \
    -n "GET /api/calls?number=$number" "$(api "/api/calls?number=${number/+/%2B}")" \
    -n "calls --number $number --format json" "$bin calls --number $number --format json" \
    -n "GET /api/missed?unreturned&since=30d" "$(api "/api/missed?unreturned&since=30d")" \
    -n "missed --unreturned --since 30d --format json" "$bin missed --unreturned --since 30d --format json" \
    -n "GET /api/stats?by=day&since=30d" "$(api "/api/stats?by=day&since=30d")" \
    -n "stats --since 30d --by day --format json" "$bin stats --since 30d --by day --format json" >&2
done
api_load="$api_load / $(load)"
after_mem=$(mem)
stop "$serve"

# 4. The hook, HEAD against BASE.
if [[ -n $BASE ]]; then
  base_tree=${BASE_TREE:-$tmp/base-tree}
  base_target=${BASE_TARGET:-$target-base}
  [[ -d $base_tree ]] || git worktree add --detach "$base_tree" "$BASE" >&2
  [[ $(git -C "$base_tree" rev-parse HEAD) == $(git rev-parse "$BASE^{commit}") ]] ||
    { echo "$base_tree is not at $BASE" >&2; exit 1; }
  echo "building $BASE in $base_tree…" >&2
  (cd "$base_tree" && CARGO_TARGET_DIR=$base_target cargo build --release --quiet --bins)
  base_hookw=$base_target/release/callhookw
  unset CALLHOOK_DB
  export CALLHOOK_CONFIG=$tmp/no-config.toml
  CALLHOOK_DB=$tmp/base.db "$base_hookw" event incoming -- +15550000000
  CALLHOOK_DB=$tmp/head.db "$hookw" event incoming -- +15550000000
  hook_load=$(load)
  for round in $(seq "$ROUNDS"); do
    a=(-n base "CALLHOOK_DB=$tmp/base.db $base_hookw event incoming -- +1555\$RANDOM\$RANDOM")
    b=(-n head "CALLHOOK_DB=$tmp/head.db $hookw event incoming -- +1555\$RANDOM\$RANDOM")
    # Alternate which goes first: a VM's speed drifts.
    if (( round % 2 )); then order=("${a[@]}" "${b[@]}"); else order=("${b[@]}" "${a[@]}"); fi
    # -i: on a busy machine a hook can reach its watchdog (950 ms) and exit 1, its event in the
    # fallback log; those runs are counted below.
    hyperfine -i --shell=bash --warmup 20 --runs "$HOOK_RUNS" --style basic \
      --export-json "$tmp/hook-$round.json" "${order[@]}" >&2
  done
  hook_load="$hook_load / $(load)"
  # One `event incoming` (a new caller) on a new log holding one call, under $1 (valgrind or
  # strace, with its options), so that every count is of the same work. SIGALRM is blocked
  # for it (the mask passes through exec): the hook arms its watchdog as always, but valgrind's
  # slowness on a busy machine cannot make it fire at 950 ms. Should a run still end otherwise
  # or leave a fallback log, it is run again.
  unalarmed() {
    python3 -c 'import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
os.execvp(sys.argv[1], sys.argv[1:])' "$@"
  }
  count_once() {
    local hook=$1 out rc dir
    shift
    for _ in $(seq 10); do
      dir=$(mktemp -d "$tmp/count.XXXX")
      CALLHOOK_DB=$dir/c.db unalarmed "$hook" event incoming -- +15550000001
      rc=0
      out=$(CALLHOOK_DB=$dir/c.db unalarmed "$@" "$hook" event incoming -- +15551110001 2>&1) ||
        rc=$?
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
  for which in base head; do
    [[ $which == base ]] && hook=$base_hookw || hook=$hookw
    for _ in 1 2 3; do
      if command -v valgrind >/dev/null; then
        count_once "$hook" valgrind --tool=callgrind --callgrind-out-file=/dev/null |
          sed -n "s/.*Collected : \([0-9]*\).*/$which instructions \1/p" >>"$tmp/counts"
      fi
      if command -v strace >/dev/null; then
        # strace -o: its table goes to a file in the log's directory, which count_once prints.
        count_once "$hook" sh -c 'exec strace -f -c -o "${CALLHOOK_DB%/*}/strace.out" "$@"' strace |
          awk -v w="$which" '/total$/ {print w, "syscalls", $4}' >>"$tmp/counts"
      fi
    done
  done
  printf '%s %s\n' "$(stat -c %s "$base_hookw")" "$(stat -c %s "$hookw")" >"$tmp/sizes"
  printf '%s %s\n' "$(stat -c %s "$base_target/release/callhook")" "$(stat -c %s "$bin")" >>"$tmp/sizes"
fi

python3 - "$tmp" "$CALLS" "$BASE" "$ROUNDS" "$live_load" "$api_load" "${hook_load:-}" \
  "$start_mem" "$after_mem" "$EVENTS" "$GAP_MS" <<'PY'
import json, os, re, statistics, sys
tmp, calls, base, rounds = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
live_load, api_load, hook_load, start_mem, after_mem = sys.argv[5:10]
events, gap = int(sys.argv[10]), int(sys.argv[11])
live = json.load(open(f"{tmp}/live.json"))
e, s, h = live["after_hook_end_ms"], live["after_hook_start_ms"], live["hook_ms"]
print(f"Live events ({events} hooks `callhookw event incoming`, {gap} ms apart, one SSE client; "
      f"{live['received']} of {live['events']} frames received; load {live_load}):\n")
print("Delay: from the hook process's start, or its end (`wait` returning in the client's "
      "process), to the client reading the `data:` line that names the event's caller; one "
      "monotonic clock, in one process. Negative: the frame came before the hook had exited.\n")
print("| delay to the SSE client's frame | median | p90 | p99 | max |")
print("|---|---|---|---|---|")
print(f"| from the hook process's end | {e['median']:.1f} ms | {e['p90']:.1f} ms | {e['p99']:.1f} ms | {e['max']:.1f} ms |")
print(f"| from the hook process's start | {s['median']:.1f} ms | {s['p90']:.1f} ms | {s['p99']:.1f} ms | {s['max']:.1f} ms |")
print(f"| (the hook process itself) | {h['median']:.1f} ms | {h['p90']:.1f} ms | {h['p99']:.1f} ms | {h['max']:.1f} ms |")

rounds_api = [json.load(open(f"{tmp}/api-{k}.json"))["results"] for k in range(1, rounds + 1)]
print(f"\nAPI against CLI, {calls:,} calls (median of {rounds} rounds' medians, "
      f"{len(rounds_api[0][0]['times'])} runs each; load {api_load}):\n")
print(f"| request, {calls:,} calls | median | max |")
print("|---|---|---|")
for i, r in enumerate(rounds_api[0]):
    median = statistics.median(rs[i]["median"] for rs in rounds_api)
    worst = max(max(rs[i]["times"]) for rs in rounds_api)
    print(f"| `{r['command']}` | {median * 1000:.1f} ms | {worst * 1000:.1f} ms |")

def kb(text, key):
    m = re.search(key + r":=(\d+)", text)
    return int(m.group(1)) / 1024 if m else float("nan")
print(f"\nServer idle ({calls:,} calls):\n")
print("| SSE clients | CPU time over the idle time | wakeups (context switches) | VmRSS | VmHWM | load |")
print("|---|---|---|---|---|---|")
print(f"| 0 (started) | | | {kb(start_mem, 'VmRSS'):.1f} MiB | {kb(start_mem, 'VmHWM'):.1f} MiB | |")
for n in (10, 100):
    i = json.load(open(f"{tmp}/idle-{n}.json"))
    cpu = i["ticks"] / i["hz"]
    print(f"| {n} | {cpu * 1000:.0f} ms in {i['seconds']} s ({cpu / i['seconds'] * 100:.2f} %) | "
          f"{i['switches'] / i['seconds']:.0f}/s | {i['rss_kb'] / 1024:.1f} MiB | "
          f"{i['hwm_kb'] / 1024:.1f} MiB | {i['load']} |")
print(f"| after the API runs above | | | {kb(after_mem, 'VmRSS'):.1f} MiB | {kb(after_mem, 'VmHWM'):.1f} MiB | |")

if base:
    def med(name):
        return statistics.median(
            next(r for r in json.load(open(f"{tmp}/hook-{k}.json"))["results"] if r["command"] == name)["median"] * 1000
            for k in range(1, rounds + 1))
    b, hd = med("base"), med("head")
    sizes = [l.split() for l in open(f"{tmp}/sizes")]
    counts = {}
    for line in open(f"{tmp}/counts"):
        w, what, n = line.split()
        counts.setdefault((w, what), []).append(int(n))
    print(f"\nThe hook, HEAD against {base} (median of {rounds} rounds' medians; load {hook_load}):\n")
    print(f"| | {base} | HEAD | change |")
    print("|---|---|---|---|")
    bw, hw = int(sizes[0][0]), int(sizes[0][1])
    print(f"| `callhookw` size | {bw:,} B | {hw:,} B | {hw - bw:+,} B |")
    ba, ha = int(sizes[1][0]), int(sizes[1][1])
    print(f"| `callhook` size | {ba:,} B | {ha:,} B | {ha - ba:+,} B |")
    print(f"| `callhookw event incoming`, median wall time | {b:.2f} ms | {hd:.2f} ms | {hd / b:.2f}x |")
    def failed(name):
        return sum(sum(1 for c in r["exit_codes"] if c)
                   for k in range(1, rounds + 1)
                   for r in json.load(open(f"{tmp}/hook-{k}.json"))["results"] if r["command"] == name)
    runs = sum(1 for k in range(1, rounds + 1)
               for r in json.load(open(f"{tmp}/hook-{k}.json"))["results"] if r["command"] == "base"
               for _ in r["times"])
    print(f"| runs ended by the watchdog (950 ms), of {runs} | {failed('base')} | {failed('head')} | |")
    for what, label in (("instructions", "instructions (callgrind)"), ("syscalls", "system calls (strace)")):
        bc, hc = counts.get(("base", what)), counts.get(("head", what))
        if bc and hc:
            bm, hm = statistics.median(bc), statistics.median(hc)
            print(f"| {label}, one `event incoming` (median of {len(bc)}) | {bm:,.0f} | {hm:,.0f} | "
                  f"{hm - bm:+,.0f} ({(hm - bm) / bm * 100:+.1f} %) |")
PY
