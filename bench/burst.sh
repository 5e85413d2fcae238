#!/usr/bin/env bash
# A burst of calls with side effects: $HOOKS hook processes (default 200) started at once, with
# a webhook (to a local HTTP server) and a popup (the recorder example standing in for the
# browser) configured. Reports, over $ROUNDS rounds (default 5): the hooks that went to the
# fallback log, the workers started (counted by a wrapper around `callhook`, which the hook
# starts as the worker), and the time from the first hook's start to the last webhook received
# and the last popup opened.
# Usage: bench/burst.sh      (HOOKS=… ROUNDS=… to change the sizes)
# Needs python3.
set -euo pipefail
cd "$(dirname "$0")/.."
HOOKS=${HOOKS:-200}
ROUNDS=${ROUNDS:-5}
cargo build --release --quiet --bins --example recorder
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The programs in a folder of their own; `callhook` there notes each worker start.
mkdir "$work/bin"
cp target/release/callhookw "$work/bin/"
cp target/release/callhook "$work/bin/callhook.real"
cat > "$work/bin/callhook" <<SH
#!/bin/sh
echo "\$*" >> "$work/starts.log"
exec "$work/bin/callhook.real" "\$@"
SH
chmod +x "$work/bin/callhook"

python3 - "$work" "$PWD/target/release/examples/recorder" "$HOOKS" "$ROUNDS" <<'PY'
import http.server, json, os, statistics, subprocess, sys, threading, time
work, recorder, hooks, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
arrivals = []
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        arrivals.append(time.time())
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
results = []
for round in range(rounds):
    d = f"{work}/round-{round}"
    os.makedirs(d)
    with open(f"{d}/config.toml", "w") as f:
        f.write(f'[[webhook]]\nname = "crm"\nurl = "http://127.0.0.1:{server.server_port}/"\n\n'
                f'[popup]\nurl = "https://crm.example.com/?n={{number}}"\n'
                f'opener = ["{recorder}", "{d}/popups.jsonl"]\n')
    env = dict(os.environ, CALLHOOK_DB=f"{d}/calls.db", CALLHOOK_CONFIG=f"{d}/config.toml")
    # The database exists before the burst, as on a desk in use.
    subprocess.run([f"{work}/bin/callhook.real", "deliver"], env=env, capture_output=True)
    arrivals.clear()
    if os.path.exists(f"{work}/starts.log"):
        os.remove(f"{work}/starts.log")
    start = time.time()
    procs = [subprocess.Popen([f"{work}/bin/callhookw", "event", "incoming", "--", f"+1555{i:04}"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i in range(hooks)]
    fallbacks = sum(p.wait() != 0 for p in procs)
    deadline = time.time() + 120
    popups = []
    while time.time() < deadline:
        try:
            popups = [json.loads(l)["at"] / 1000 for l in open(f"{d}/popups.jsonl")]
        except FileNotFoundError:
            pass
        if len(arrivals) >= hooks and len(popups) >= hooks:
            break
        time.sleep(0.05)
    assert len(arrivals) >= hooks and len(popups) >= hooks, (len(arrivals), len(popups))
    workers = sum(" deliver" in l for l in open(f"{work}/starts.log"))
    results.append((fallbacks, workers, max(arrivals) - start, max(popups) - start))
    time.sleep(2)
print(f"| {hooks} hooks at once, webhook and popup configured ({rounds} rounds) | median | worst |")
print("|---|---|---|")
for i, (what, unit) in enumerate([("hooks to the fallback log", ""), ("workers started", ""),
                                  ("first hook's start to the last webhook received", " s"),
                                  ("first hook's start to the last popup opened", " s")]):
    values = [r[i] for r in results]
    fmt = (lambda v: f"{v:.2f}{unit}") if unit else (lambda v: f"{v}")
    print(f"| {what} | {fmt(statistics.median(values))} | {fmt(max(values))} |")
PY
