#!/usr/bin/env bash
# What side effects cost the hook, and how fast a popup opens:
#   - `callhook event` without side effects, against the same with a popup configured, which
#     makes every hook queue it and start the detached worker (hyperfine, same run);
#   - the time from the start of `callhook event` to the start of the popup's opener (the
#     recorder example standing in for the browser), over $POPUPS calls;
#   - the worker's peak memory against hostile endpoints: one that answers 200 with a 1 GB
#     body, one that answers 500 with a chunked body that never ends.
# Usage: bench/effects.sh        (RUNS=… POPUPS=… to change the counts)
# Needs hyperfine, python3 and GNU time (Debian: apt-get install hyperfine time).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-60}
POPUPS=${POPUPS:-200}
for tool in hyperfine python3 /usr/bin/time; do
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
# The pause before each run lets the previous run's worker finish (it stays 1.5 s for more
# work), so that every measured hook starts one; the same pause for both.
hyperfine --shell=bash --warmup 3 --runs "$RUNS" --prepare "sleep 1.7" --style basic \
  --export-json "$work/hook.json" \
  -n "event, no side effects" "$(hook plain)" \
  -n "event, queues a popup and starts the worker" "$(hook popup)" >&2

rm -f "$work/popups.jsonl" "$work/latency.db"*
for i in $(seq "$POPUPS"); do
  CALLHOOK_DB=$work/latency.db CALLHOOK_CONFIG=$work/popup.toml "$bin" event incoming -- "+1999$i"
  sleep 0.05
done
sleep 1

# Hostile endpoints: a worker delivers one webhook to each, its peak memory measured.
cat > "$work/hostile.py" <<'PY'
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        chunk = b"x" * 65536
        try:
            if self.path == "/huge":
                self.send_response(200)
                self.send_header("content-length", str(1 << 30))
                self.end_headers()
                for _ in range((1 << 30) // len(chunk)):
                    self.wfile.write(chunk)
            else:
                self.send_response(500)
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                while True:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_port, flush=True)
server.serve_forever()
PY
python3 "$work/hostile.py" > "$work/port" &
server=$!
trap 'kill $server; rm -rf "$work"' EXIT
while [[ ! -s $work/port ]]; do sleep 0.1; done
port=$(<"$work/port")
leases() {  # leases DB hold|free: keeps workers away while the delivery is queued
  python3 -c "import sqlite3, sys; c = sqlite3.connect(sys.argv[1])
if sys.argv[2] == 'hold':
    c.executemany('INSERT OR REPLACE INTO worker_leases (lane, holder, expires_at) VALUES (?, \'bench\', 9999999999999)',
                  [(l,) for l in ('popup', 'webhook', 'fallback', 'contacts')])
else:
    c.execute('DELETE FROM worker_leases')
c.commit()" "$@"
}
for endpoint in huge endless; do
  cat > "$work/$endpoint.toml" <<TOML
[outbox]
retries = ["1h"]
[[webhook]]
url = "http://127.0.0.1:$port/$endpoint"
timeout = "30s"
TOML
  export CALLHOOK_DB=$work/$endpoint.db CALLHOOK_CONFIG=$work/$endpoint.toml
  "$bin" deliver > /dev/null  # makes the database
  leases "$CALLHOOK_DB" hold
  "$bin" event incoming -- +15551234567
  leases "$CALLHOOK_DB" free
  /usr/bin/time -f "%M %e" -o "$work/$endpoint.rss" "$bin" deliver > /dev/null
  unset CALLHOOK_DB CALLHOOK_CONFIG
done

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
print()
print("| worker (`callhook deliver`) against | peak memory | took | the delivery |")
print("|---|---|---|---|")
for endpoint, what in [("huge", "`200` with a 1 GB body"),
                       ("endless", "`500` with a chunked body that never ends")]:
    kb, took = open(f"{work}/{endpoint}.rss").read().split()
    status, error = sqlite3.connect(f"{work}/{endpoint}.db").execute(
        "SELECT status, last_error FROM outbox").fetchone()
    outcome = status + (f" ({error[:24]}…)" if error else "")
    print(f"| {what} | {int(kb) / 1024:.1f} MiB | {float(took):.2f} s | {outcome} |")
PY
