#!/usr/bin/env bash
# What secret scrubbing and escaping cost (issue 15's goal: under 1 % of a 300-case gate
# and of a 1M-span import). The anchors are relops itself, measured in CPU seconds
# (user + system): a real 300-case gate on two versions against a local target, and a
# real import of the 50,000-trace demo set, scaled per span. The scrub figures come
# from examples/scrub_bench.rs on the same amount of text. Prints both and the ratios.
#
#   bench/scrub.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin relops --example scrub_bench
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
relops="$target_dir/release/relops"
bench="$target_dir/release/examples/scrub_bench"
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)"; exit 2; }
work="$(mktemp -d)"
trap 'kill "${server:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
cpu() { # command...: user + system CPU seconds
  /usr/bin/time -f '%U %S' -o "$work/time" "$@" >/dev/null 2>&1 || true
  awk '{print $1 + $2}' "$work/time"
}

RELOPS_NOW=2026-11-20T12:00:00Z "$relops" demo --no-tui --dir "$work" --traces 50000 >/dev/null
port=47998
cat >>"$work/relops.toml" <<TOML

[replay.targets.bench]
kind = "http"
url = "http://127.0.0.1:$port/{version}"
concurrency = 16
TOML
python3 - "$work/cases" <<'PY'
import json, os, sys
d = sys.argv[1]; os.makedirs(d)
for i in range(300):
    c = {"id": f"{i:08x}", "title": f"bench case {i}", "created_at": "2026-11-20T12:00:00Z",
         "input": f"refund for order A-{i}",
         "assertions": [{"type": "not_refusal"}, {"type": "contains", "value": "refund"}],
         "must_pass": i < 30}
    open(f"{d}/bench-{i:08x}.json", "w").write(json.dumps(c, indent=2))
PY
python3 - "$port" <<'PY' &
import json, sys
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = json.dumps({"output": "Your refund for order A-1042 has been issued and should "
                           "reach your card within 5 business days. Anything else I can help with?"}).encode()
        # One write: headers and body together (no Nagle stall).
        head = (f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\n\r\n").encode()
        self.wfile.write(head + body)
    def log_message(self, *a): pass
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
server=$!
sleep 1

gate=$(cpu "$relops" --config "$work/relops.toml" gate --candidate v3 --baseline v2 \
  --target bench --suite "$work/cases" --report "$work/gate.md" --junit "$work/gate.xml" --json "$work/gate.json")
printf '[workspace]\ncache = "%s"\n' "$work/import.sqlite" > "$work/import.toml"
import=$(cpu "$relops" --config "$work/import.toml" import "$work/traces/demo-week.otlp.jsonl")
spans=$(sqlite3 "$work/import.sqlite" "SELECT count(*) FROM spans" 2>/dev/null || \
  python3 -c "import sqlite3,sys;print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM spans').fetchone()[0])" "$work/import.sqlite")
"$bench" 300 "$spans" > "$work/scrub"
scrub_gate=$(awk '$1 == "scrub_gate" {print $2}' "$work/scrub")
scrub_import=$(awk '$1 == "scrub_import" {print $2}' "$work/scrub")
python3 - "$gate" "$scrub_gate" "$import" "$scrub_import" "$spans" <<'PY'
import sys
gate, sg, imp, si, spans = map(float, sys.argv[1:])
print(f"gate 300 cases x 2 versions: relops {gate:.3f} s CPU, scrub + escape {sg*1000:.3f} ms: {100*sg/gate:.3f} %")
print(f"import {spans:.0f} spans: relops {imp:.3f} s CPU, scrub + printable {si*1000:.1f} ms: {100*si/imp:.3f} %")
PY
