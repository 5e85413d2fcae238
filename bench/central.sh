#!/usr/bin/env bash
# Team mode's figures, against a real central: examples/central.rs starts a throw-away
# PostgreSQL cluster and `callhook serve` on it with the desks added, and examples/desks.rs
# plays the office:
#   1. catch-up: a desk that stored a day of $CATCHUP_CALLS calls (default 600) through its
#      hook before it joined central, and one that had joined but could not reach central
#      all day, run `callhook deliver`: the time until central holds every call and event;
#   2. live events: $DESKS real desks (default 50) whose hook processes take a call every
#      $EVERY_MS ms each (default 5000) for $DELAY_S seconds (default 60), and one SSE client
#      of central's `GET /api/events`: the delay from each hook process to its frame;
#   3. ingest: 50 simulated desks posting signed batches as fast as central takes them, for
#      $INGEST_S seconds (default 30) each way: one event per batch (desks delivering as their
#      calls happen), then $BACKLOG_CHANGES events per batch (default 1650, about 500 calls:
#      desks with a backlog, whose batches hold up to 500 calls or 1 MiB); with the CPU time
#      central and PostgreSQL took for it;
#   4. queries: central's PostgreSQL filled directly with SQL (generate_series: 50 desks, 40 %
#      missed, recurring numbers, 2 to 5 events a call, over the last $DAYS days, default
#      730) to each size of $SIZES (default "1000000 10000000") calls, VACUUM ANALYZE, then
#      the team queries through the HTTP API (curl with the admin token, hyperfine: $RUNS runs
#      after a warm-up, default 10), the time each spends in PostgreSQL (its statement log),
#      the plan of any over its target (EXPLAIN ANALYZE), and PostgreSQL's bytes per call.
# Usage: bench/central.sh        (SIZES=1000000 for the small size only; STEPS="queries" for
#                                 some steps only, of "catchup delay ingest queries")
#   CENTRAL=FILE uses a central started beforehand (examples/central's line in FILE, with the
#   desks catchup, offline, sim-01…sim-50 and desk-01…), which stays, filled, for another run;
#   DURABLE=1 runs central's PostgreSQL with fsync on, as PostgreSQL's defaults have it (a
#   throw-away cluster syncs nothing otherwise);
#   LOGS=DIR keeps every step's raw output there (JSON, the trace of each event, PostgreSQL's
#   statement log).
# Needs PostgreSQL's server programs (15 or newer), hyperfine, curl and python3 (Debian:
# apt-get install postgresql hyperfine curl). 10,000,000 calls take about 12 GB of disk.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-1000000 10000000}
DAYS=${DAYS:-730}
RUNS=${RUNS:-10}
DESKS=${DESKS:-50}
EVERY_MS=${EVERY_MS:-5000}
DELAY_S=${DELAY_S:-60}
INGEST_S=${INGEST_S:-30}
BACKLOG_CHANGES=${BACKLOG_CHANGES:-1650}
CATCHUP_CALLS=${CATCHUP_CALLS:-600}
STEPS=${STEPS:-catchup delay ingest queries}
for tool in hyperfine curl python3 psql; do
  command -v "$tool" >/dev/null || { echo "bench/central.sh needs $tool" >&2; exit 1; }
done
step() { [[ " $STEPS " == *" $1 "* ]]; }
target=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --quiet --bins --example central --example desks
bin=$target/release/callhook
hookw=$target/release/callhookw
desks=$target/release/examples/desks
work=$(mktemp -d)
central=
cleanup() {
  # Closing its stdin stops central: the server, then the cluster, which it removes.
  exec 3>&-
  [[ -n $central ]] && wait "$central" 2>/dev/null || true
  if [[ -n ${LOGS:-} ]]; then mkdir -p "$LOGS" && cp -r "$work"/. "$LOGS"/; fi
  rm -rf "$work"
}
trap cleanup EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }

# Central with its desks: sim-01…sim-50 for the simulated ones, desk-01… for the real ones.
if [[ -n ${CENTRAL:-} ]]; then
  cp "$CENTRAL" "$work/central.json"
else
  names=(catchup offline)
  for i in $(seq -w 1 50); do names+=("sim-$i"); done
  for i in $(seq -w 1 "$DESKS"); do names+=("desk-$i"); done
  mkfifo "$work/hold"
  exec 3<>"$work/hold"
  echo "central: a PostgreSQL cluster, callhook serve, ${#names[@]} desks…" >&2
  durable=(); [[ ${DURABLE:-0} == 1 ]] && durable=(--durable)
  "$target/release/examples/central" "${durable[@]}" "$bin" "$work/central" "${names[@]}" \
    <"$work/hold" >"$work/central.json" 3>&- &
  central=$!
  for _ in $(seq 1200); do [[ -s $work/central.json ]] && break; sleep 0.1; done
  [[ -s $work/central.json ]] || { echo "central did not start" >&2; exit 1; }
fi
field() { python3 -c "import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/central.json" "$1"; }
url=$(field url)
token=$(field token)
database=$(field database)
# The cluster's directory is the socket's, in the URL's host; its server.log is there.
pgdir=$(python3 -c "import sys, urllib.parse; print(urllib.parse.unquote(sys.argv[1].split('@')[1].rsplit(':', 1)[0]))" "$database")
sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$database" "$@"; }
# The server: the process listening on central's port.
serve=$(ss -Hltnp "sport = :${url##*:}" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1)
postmaster=$(head -1 "$pgdir/data/postmaster.pid")
# CPU ticks of a process and its children (live ones, and those it has reaped).
ticks() {
  local t
  t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat")
  for c in $(pgrep -P "$1"); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}

echo "Machine: $(nproc) cores ($(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -1)), \
$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo) GB of memory; PostgreSQL \
$(sql -c 'SHOW server_version' | cut -d' ' -f1) with its default settings, fsync \
$(sql -c 'SHOW fsync')$([[ $(sql -c 'SHOW fsync') == off ]] && echo ' (as examples/central runs it without --durable; DURABLE=1 for on)')."
echo

if step catchup; then
  echo "catch-up: a day of $CATCHUP_CALLS calls on a desk that joins central…" >&2
  "$desks" catchup "$work/central.json" "$hookw" --desk catchup --calls "$CATCHUP_CALLS" \
    >"$work/catchup.json"
  echo "catch-up: a day of $CATCHUP_CALLS calls on a desk that was offline…" >&2
  "$desks" catchup "$work/central.json" "$hookw" --desk offline --calls "$CATCHUP_CALLS" \
    --offline true >"$work/offline.json"
fi

if step delay; then
  echo "live events: $DESKS desks, a call every $EVERY_MS ms each, $DELAY_S s…" >&2
  "$desks" delay "$work/central.json" "$hookw" --desks "$DESKS" --seconds "$DELAY_S" \
    --every-ms "$EVERY_MS" --trace "$work/delay-trace.jsonl" >"$work/delay.json"
fi

if step ingest; then
  for changes in 1 "$BACKLOG_CHANGES"; do
    echo "ingest: 50 desks, $changes events a batch, $INGEST_S s…" >&2
    s0=$(ticks "$serve"); p0=$(ticks "$postmaster")
    "$desks" ingest "$work/central.json" --seconds "$INGEST_S" --changes "$changes" \
      >"$work/ingest-$changes.json"
    s1=$(ticks "$serve"); p1=$(ticks "$postmaster")
    echo "{\"serve\": $((s1 - s0)), \"postgres\": $((p1 - p0)), \"hz\": $(getconf CLK_TCK)}" \
      >"$work/ingest-$changes.cpu"
  done
fi

# Adds calls, with their events and numbers, until central holds $1: in turns of at most a
# million calls, each over its own stretch of days, oldest first, inserted in time order (as
# desks deliver them: a time range of calls lies together on disk, as it would). The calls
# belong to the simulated desks sim-01…sim-50.
fill() {
  local want=$1 have turns turn n now
  have=$(sql -c "SELECT count(*) FROM calls")
  (( want > have )) || return 0
  turns=$(( (want - have + 999999) / 1000000 ))
  now=$(date +%s%3N)
  for turn in $(seq 0 $((turns - 1))); do
    n=$(( (want - have) / turns + (turn < (want - have) % turns ? 1 : 0) ))
    echo "  $n calls (turn $((turn + 1)) of $turns)…" >&2
    local t0 t1
    t0=$(date +%s%N)
    sql -v n="$n" -v now="$now" -v days="$DAYS" -v turn="$turn" -v turns="$turns" <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS fill;
-- A front desk's day: calls at office hours (UTC), none in the future.
CREATE UNLOGGED TABLE fill AS
WITH d AS (SELECT array_agg(id ORDER BY id) AS ids FROM desks WHERE name LIKE 'sim-%'
           AND revoked_at IS NULL),
hours AS (SELECT array_agg(h ORDER BY h) AS hs FROM generate_series(0, 23) h,
          generate_series(1, ('{0,0,0,0,0,0,1,3,8,10,10,9,7,9,10,9,8,6,3,1,1,1,0,0}'::int[])[h + 1])),
g AS (
  SELECT d.ids[1 + floor(random() * cardinality(d.ids))::int] AS desk_id,
         ((:now::bigint / 86400000 - :days::bigint + 1
           + floor((:turn + random()) * :days / :turns::float8)::bigint) * 86400000
          + hours.hs[1 + floor(random() * cardinality(hours.hs))::int] * 3600000::bigint
          + floor(random() * 3600000)::bigint) AS t,
         random() AS r, random() AS r2,
         CASE WHEN random() < 0.1 THEN (100 + floor(random() * 200))::int::text
              ELSE '+4930' || lpad((floor(exp(random() * ln(200000))) - 1)::int::text, 7, '0')
         END AS number,
         2000 + floor(random() * 25000)::bigint AS ring,
         9999 + floor(exp(random() * ln(900000)))::bigint AS talk
  FROM generate_series(1, :n), d, hours
),
k AS (
  SELECT desk_id, CASE WHEN t > :now::bigint - 60000 THEN t - 86400000 ELSE t END AS started_at,
         number, ring, talk,
         CASE WHEN r < 0.40 THEN CASE WHEN r2 < 0.25 THEN 'missed2' ELSE 'missed' END
              WHEN r < 0.65 THEN CASE WHEN r2 < 0.5 THEN 'answered' ELSE 'answered5' END
              WHEN r < 0.68 THEN 'busy'
              WHEN r < 0.88 THEN 'out'
              WHEN r < 0.96 THEN 'noanswer'
              ELSE 'outbusy' END AS kind
  FROM g
)
SELECT (lpad(to_hex(started_at), 12, '0') || '7'
        || substr(replace(gen_random_uuid()::text, '-', ''), 14))::uuid AS id,
       desk_id, started_at, number, ring, talk, kind,
       CASE kind WHEN 'missed' THEN '{incoming,ring,end}'
                 WHEN 'missed2' THEN '{incoming,end}'
                 WHEN 'answered' THEN '{incoming,ring,answer,end}'
                 WHEN 'answered5' THEN '{incoming,ring,answer,start,end}'
                 WHEN 'busy' THEN '{incoming,ring,busy}'
                 WHEN 'out' THEN '{outgoing,start,end}'
                 WHEN 'noanswer' THEN '{outgoing,end}'
                 ELSE '{outgoing,busy}' END::text[] AS ev,
       CASE kind WHEN 'missed' THEN ARRAY[0, 150, ring]
                 WHEN 'missed2' THEN ARRAY[0, ring]
                 WHEN 'answered' THEN ARRAY[0, 150, ring, ring + talk]
                 WHEN 'answered5' THEN ARRAY[0, 150, ring, ring + 80, ring + talk]
                 WHEN 'busy' THEN ARRAY[0, 150, ring / 4 + 200]
                 WHEN 'out' THEN ARRAY[0, ring, ring + talk]
                 WHEN 'noanswer' THEN ARRAY[0, ring]
                 ELSE ARRAY[0, ring / 5 + 200] END AS off
FROM k;

INSERT INTO calls (id, started_at, last_event_at, revision, received_at, ringing_at,
                   answered_at, ended_at, expires_at, ring_ms, talk_ms, desk_id, direction,
                   status, number, raw, name, source)
SELECT id, started_at, ended_at, 2 * cardinality(ev), ended_at + 1000, ringing_at, answered_at,
       ended_at, NULL, coalesce(answered_at, ended_at) - ringing_at,
       CASE WHEN answered_at IS NOT NULL THEN ended_at - answered_at END, desk_id,
       CASE WHEN ev[1] = 'outgoing' THEN 'out' ELSE 'in' END,
       CASE WHEN answered_at IS NOT NULL THEN 'answered'
            WHEN kind IN ('busy', 'outbusy') THEN 'busy'
            WHEN kind = 'noanswer' THEN 'no-answer'
            ELSE 'missed' END,
       number, number, NULL, 'hook'
FROM (SELECT f.*, started_at + off[cardinality(off)] AS ended_at,
             started_at + CASE WHEN ev[2] = 'ring' THEN 150 ELSE 0 END AS ringing_at,
             CASE WHEN kind IN ('answered', 'answered5', 'out') THEN started_at + ring END
               AS answered_at
      FROM fill f) c
ORDER BY started_at;

INSERT INTO events (id, call_id, at, recorded_at, revision, boot_ms, clock_shift_ms, desk_id,
                    caller_truncated, event, caller, caller_bytes, number, host, os_user,
                    config_error)
SELECT CASE WHEN e.i = 1 THEN f.id
            ELSE (lpad(to_hex(f.started_at + e.off), 12, '0') || '7'
                  || substr(replace(gen_random_uuid()::text, '-', ''), 14))::uuid END,
       f.id, f.started_at + e.off, f.started_at + e.off + 4, 2 * cardinality(f.ev),
       (f.started_at + e.off) % 604800000, NULL, f.desk_id, false, e.ev, f.number, NULL,
       f.number, 'DESK-' || f.desk_id, 'reception', NULL
FROM fill f CROSS JOIN LATERAL unnest(f.ev, f.off) WITH ORDINALITY AS e(ev, off, i)
ORDER BY f.started_at + e.off;

INSERT INTO numbers (number, raw) SELECT DISTINCT number, number FROM fill
ON CONFLICT DO NOTHING;
DROP TABLE fill;
SQL
    t1=$(date +%s%N)
    echo "$n $(( (t1 - t0) / 1000000 ))" >>"$work/fill-ms"
  done
  # What ingest keeps for every desk, as it would have.
  sql -c "UPDATE desks d SET calls_held = coalesce((SELECT count(*) FROM calls c
            WHERE c.desk_id = d.id), 0),
          events_held = coalesce((SELECT count(*) FROM events e WHERE e.desk_id = d.id), 0)"
}

# One query's run in the statement log: its markers around it, for db_times below.
mark() { sql -c "SELECT 'bench-mark $1'" >/dev/null; }

if step queries; then
  echo "disk before the fill: $(df -h --output=avail /work | tail -1) free on /work" >&2
  for size in $SIZES; do
    echo "filling central's PostgreSQL to $size calls…" >&2
    fill "$size"
    sql -c "VACUUM ANALYZE" >/dev/null
    calls=$(sql -c "SELECT count(*) FROM calls")
    events=$(sql -c "SELECT count(*) FROM events")
    # A caller who calls now and then, as bench/queries.sh picks one.
    number=$(sql -c "SELECT number FROM calls WHERE number LIKE '+4930%' GROUP BY number
                     HAVING count(*) BETWEEN 5 AND 50 LIMIT 1")
    enc=${number/+/%2B}
    paths=("/api/calls?number=$enc" "/api/calls?since=today" \
      "/api/missed?unreturned=true&since=30d" "/api/stats?by=day&since=30d")
    for path in "${paths[@]}"; do
      code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url$path")
      [[ $code == 200 ]] || { echo "GET $path: $code" >&2; exit 1; }
    done
    echo "queries at $calls calls…" >&2
    api() { echo "curl -s -o /dev/null -H 'Authorization: Bearer $token' '$url$1'"; }
    q_load=$(load)
    hyperfine -N --warmup 2 --runs "$RUNS" --style basic --export-json "$work/api-$size.json" \
      -n "GET /api/openapi.json (static: curl and HTTP alone)" "curl -s -o /dev/null $url/api/openapi.json" \
      -n "GET /api/calls?number=$number" "$(api "${paths[0]}")" \
      -n "GET /api/calls?since=today" "$(api "${paths[1]}")" \
      -n "GET /api/missed?unreturned=true&since=30d" "$(api "${paths[2]}")" \
      -n "GET /api/stats?by=day&since=30d" "$(api "${paths[3]}")" >&2
    q_load="$q_load / $(load)"
    # The same queries once more each with every statement logged: their time in PostgreSQL.
    log_from=$(stat -c %s "$pgdir/server.log")
    sql -c "ALTER SYSTEM SET log_min_duration_statement = 0" -c "SELECT pg_reload_conf()" >/dev/null
    sleep 0.5
    for run in 1 2 3 4 5; do
      for i in "${!paths[@]}"; do
        mark "$i $run"
        curl -s -o /dev/null -H "Authorization: Bearer $token" "$url${paths[$i]}"
      done
    done
    mark "end 0"
    sql -c "ALTER SYSTEM RESET log_min_duration_statement" -c "SELECT pg_reload_conf()" >/dev/null
    tail -c +"$((log_from + 1))" "$pgdir/server.log" >"$work/statements-$size.log"
    sql -c "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 2 DESC" >"$work/sizes-$size"
    printf '%s\n' "$calls" "$events" "$number" "$q_load" >"$work/facts-$size"
    # The plans of the slowest statement of each query (parameters put back in).
    python3 - "$work/statements-$size.log" "$work/explain-$size.sql" <<'PY'
import json, re, sys
entries, marks = [], []
stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
for line in open(sys.argv[1], errors="replace"):
    if stamp.match(line) or not entries:
        entries.append(line.rstrip("\n"))
    else:
        entries[-1] += "\n" + line.rstrip("\n")
runs, current, sets = {}, None, {}
last = None
pid = lambda e: (re.search(r"\[(\d+)\]", e) or [None, None])[1]
for e in entries:
    m = re.search(r"statement: SELECT 'bench-mark (\S+) (\d+)'", e)
    if m:
        current = (m.group(1), int(m.group(2)))
        continue
    # Settings a query's transaction makes for itself (SET LOCAL), replayed with its plan.
    m = re.search(r"statement: (SET LOCAL [^;]*)", e)
    if m and current is not None:
        sets.setdefault((current, pid(e)), []).append(m.group(1))
        continue
    m = re.search(r"LOG:  duration: ([\d.]+) ms  (parse|bind|execute) [^:]*: (.*)", e, re.S)
    if m:
        last = None
        sql = m.group(3)
        # Central's own work meanwhile: the live events' poll, the pool's checks.
        if current is None or current[0] == "end" or "e.seq >" in sql or sql.strip() in ("SELECT 1", ""):
            continue
        last = {"ms": float(m.group(1)), "phase": m.group(2), "sql": sql, "params": "",
                "sets": list(sets.get((current, pid(e)), []))}
        runs.setdefault(current, []).append(last)
        continue
    m = re.search(r"DETAIL:  parameters: (.*)", e, re.S)
    if m and last is not None:
        last["params"] = m.group(1)
out = {}
for (query, run), stmts in runs.items():
    out.setdefault(query, []).append(sum(s["ms"] for s in stmts))
json.dump({q: sorted(v) for q, v in out.items()}, open(sys.argv[1] + ".json", "w"))
# The slowest execute of each query, as EXPLAIN ANALYZE with its parameters in place.
with open(sys.argv[2], "w") as f:
    for query in sorted(out):
        stmts = [s for (q, _), ss in runs.items() if q == query for s in ss if s["phase"] == "execute"]
        if not stmts:
            continue
        s = max(stmts, key=lambda s: s["ms"])
        sql = s["sql"]
        params = dict(re.findall(r"\$(\d+) = ('(?:[^']|'')*'|NULL)", s["params"]))
        for n in sorted(params, key=int, reverse=True):
            sql = re.sub(r"\$" + n + r"(?!\d)", lambda _: params[n], sql)
        f.write(f"\\echo '### query {query}'\nBEGIN;\n"
                + "".join(f"{x};\n" for x in s["sets"])
                + f"EXPLAIN (ANALYZE, BUFFERS) {sql};\nROLLBACK;\n")
PY
    sql -v ON_ERROR_STOP=0 -f "$work/explain-$size.sql" >"$work/plans-$size.txt" 2>&1 || true
  done
fi

python3 - "$work" "$STEPS" "$SIZES" "$DESKS" "$EVERY_MS" "$DELAY_S" "$INGEST_S" "$BACKLOG_CHANGES" <<'PY'
import json, os, re, statistics, sys
work, steps, sizes = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
desks, every_ms, delay_s, ingest_s, backlog = sys.argv[4:9]
def j(name):
    return json.load(open(f"{work}/{name}"))
if "catchup" in steps:
    c, o = j("catchup.json"), j("offline.json")
    print(f"Catch-up: a desk stores a day of {c['calls']} calls ({c['events']} events) through "
          f"its hook (`callhookw event --time`, {c['store_s']} s) while central cannot have "
          f"them: it joins central afterwards (its backfill sends the day), or it had joined "
          f"and central was unreachable all day ({o['queued_changes']:,} changes queued; "
          f"then `callhook outbox retry --failed`, whose worker takes the lane); then `callhook "
          f"deliver`:\n")
    print("| what | joined after the day | offline for the day |")
    print("|---|---|---|")
    def both(key, form):
        return " | ".join(form(x[key]) if x[key] is not None else "(not reached)" for x in (c, o))
    print(f"| until central holds every call and event | "
          f"{both('central_has_everything_s', lambda v: f'{v:.2f} s')} |")
    print(f"| events per second | {both('events_per_s', lambda v: f'{v:,.0f}')} |")
    print()
if "delay" in steps:
    d = j("delay.json")
    print(f"Live events: {d['desks']} desks, each a call every {int(every_ms) / 1000:g} s on "
          f"average ({d['calls']} calls, {d['events']} hook processes, {d['events_per_s']} a "
          f"second, in {d['seconds']} s; {d['received']} frames received, {d['hooks_failed']} "
          f"hooks failed; load {d['load']}):\n")
    print("| delay to the frame at central's SSE client | median | p90 | p99 | max |")
    print("|---|---|---|---|---|")
    for key, what in [("after_hook_end_ms", "from the hook process's end"),
                      ("after_hook_start_ms", "from the hook process's start"),
                      ("hook_ms", "(the hook process itself)")]:
        s = d[key]
        print(f"| {what} | {s['median']:.1f} ms | {s['p90']:.1f} ms | {s['p99']:.1f} ms | {s['max']:.1f} ms |")
    print()
if "ingest" in steps:
    print(f"Ingest: 50 simulated desks posting as fast as central answers, {ingest_s} s each:\n")
    print("| batches of | batches/s | calls/s | events/s | per batch: median | p99 | bytes | "
          "errors | CPU: serve | CPU: PostgreSQL | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for changes in ("1", backlog):
        i = j(f"ingest-{changes}.json")
        cpu = json.loads(open(f"{work}/ingest-{changes}.cpu").read())
        s, p = cpu["serve"] / cpu["hz"], cpu["postgres"] / cpu["hz"]
        errors = sum(i["errors"].values())
        print(f"| {changes} event{'s' if changes != '1' else ''} | {i['batches_per_s']:,.0f} | "
              f"{i['calls_per_s']:,.0f} | {i['events_per_s']:,.0f} | {i['batch_ms']['median']:.1f} ms | "
              f"{i['batch_ms']['p99']:.1f} ms | {i['bytes_per_batch']:,} | {errors} | "
              f"{s / i['seconds'] * 100:.0f} % | {p / i['seconds'] * 100:.0f} % | {i['load']} |")
    print()
if "queries" in steps:
    targets = {"calls?number": 20, "calls?since=today": 20, "missed": 200, "stats": 300}
    # The queries over their target, by size: their plans follow.
    missed = {}
    for size in sizes:
        if not os.path.exists(f"{work}/facts-{size}"):
            continue
        calls, events, number, load = open(f"{work}/facts-{size}").read().splitlines()
        api = j(f"api-{size}.json")["results"]
        db = j(f"statements-{size}.log.json")
        print(f"Queries at {int(calls):,} calls ({int(events):,} events; the API through curl, "
              f"median of {len(api[0]['times'])} runs; in PostgreSQL: the sum of its statements, "
              f"median of {len(next(iter(db.values()), []))}; load {load}):\n")
        print("| request | API median | API max | in PostgreSQL | target |")
        print("|---|---|---|---|---|")
        for k, r in enumerate(api):
            name = r["command"]
            target = next((f"≤ {t} ms" for key, t in targets.items() if key in name), "")
            inside = db.get(str(k - 1))
            inside = f"{statistics.median(inside):.1f} ms" if inside else ""
            print(f"| `{name}` | {r['median'] * 1000:.1f} ms | {max(r['times']) * 1000:.1f} ms | "
                  f"{inside} | {target} |")
            limit = next((t for key, t in targets.items() if key in name), None)
            if limit is not None and r["median"] * 1000 > limit:
                missed.setdefault(size, []).append((str(k - 1), name))
        rows = [l.split("|") for l in open(f"{work}/sizes-{size}").read().split()]
        total = sum(int(b) for _, b in rows)
        print(f"\nPostgreSQL: {total / 1e6:,.0f} MB, {total / int(calls):,.0f} bytes per call: " +
              ", ".join(f"{t} {int(b) / int(calls):,.0f}" for t, b in rows if int(b) > 65536) + ".\n")
    if os.path.exists(f"{work}/fill-ms"):
        fills = [tuple(map(int, l.split())) for l in open(f"{work}/fill-ms")]
        n, ms = sum(f[0] for f in fills), sum(f[1] for f in fills)
        print(f"Filled directly with SQL: {n:,} calls with their events in {ms / 1000:,.0f} s, "
              f"{n / ms * 1000:,.0f} calls/s (the schema's indexes kept up to date).\n")
    for size, queries in missed.items():
        # The hours' boundaries of `stats` run to hundreds of numbers.
        text = re.sub(r"'\{(\d+),[\d,]{200,},(\d+)\}'", r"'{\1,…,\2}'",
                      open(f"{work}/plans-{size}.txt").read())
        plans = dict(re.findall(r"### query (\S+)\n(.*?)(?=### query |\Z)", text, re.S))
        for k, name in queries:
            print(f"Over its target at {int(size):,} calls: `{name}`; the plan of its slowest "
                  f"statement (EXPLAIN ANALYZE, as central ran it):\n\n```")
            print(plans.get(k, "(no plan)").rstrip())
            print("```\n")
PY
