#!/usr/bin/env bash
# How long MicroSIP would be frozen per event on Windows: the test launcher (examples/microsip.rs)
# starts callhookw.exe exactly as MicroSIP does (ShellExecuteExW, SW_HIDE, wait) and times each
# run, here under wine. A run of `callhookw.exe --version` through the same launcher gives the
# cost of starting any process, which under wine is most of it.
# Usage: bench/windows.sh        (RUNS=… to change the count; builds with ci/windows.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-200}
ci/windows.sh build >&2
export WINEPREFIX=${WINEPREFIX:-$HOME/.wine-callhook} WINEDEBUG=-all
unset DISPLAY
release=$PWD/target/windows/x86_64-pc-windows-gnu/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
win() { winepath -w "$1" 2>/dev/null; }
hook=$(win "$release/callhookw.exe")
export CALLHOOK_DB=$(win "$work/calls.db") CALLHOOK_CONFIG=$(win "$work/none.toml")

caller() { printf '%s' "$1" | iconv -t UTF-16LE > "$work/caller"; }
launch() {  # launch NAME VALUE CALLER
  caller "$3"
  wine "$release/examples/microsip.exe" --value "$2" --caller-file "$(win "$work/caller")" \
    --repeat "$RUNS" > "$work/$1.jsonl"
}
launch start "\"$(win "$release/examples/recorder.exe")\" NUL" ""
launch incoming "\"$hook\" event incoming --" "+1555{n}"
launch ring "\"$hook\" event ring --" "+1555{n}"
launch end "\"$hook\" event end --" "+1555{n}"
printf '[database]\r\nsynchronous = "full"\r\n' > "$work/full.toml"
CALLHOOK_CONFIG=$(win "$work/full.toml") launch full "\"$hook\" event incoming --" "+1666{n}"

python3 - "$work" "$RUNS" <<'PY'
import json, statistics, sys
work, runs = sys.argv[1], int(sys.argv[2])
def stats(name):
    rows = [json.loads(l) for l in open(f"{work}/{name}.jsonl")]
    assert all(r["exit_code"] == 0 and not r["timed_out"] for r in rows), name
    ms = sorted(r["waited_ms"] for r in rows)
    return statistics.median(ms), ms[int(len(ms) * 0.9)]
print(f"| MicroSIP frozen per hook, under wine ({runs} runs each) | median | p90 |")
print("|---|---|---|")
for name, what in [("start", "starting a program (the recorder example)"),
                   ("incoming", "`event incoming` (opens a call)"),
                   ("ring", "`event ring` (joins it)"),
                   ("end", "`event end` (closes it)"),
                   ("full", "`event incoming` with `synchronous = \"full\"`")]:
    median, p90 = stats(name)
    print(f"| {what} | {median:.1f} ms | {p90:.1f} ms |")
PY
