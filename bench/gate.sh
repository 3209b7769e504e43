#!/usr/bin/env bash
# Gate throughput: 500 cases on two versions against a local target answering in 50 ms,
# at the target's concurrency 16. Ideal: 500 × 2 × 50 ms / 16 = 3.125 s; aim ≤ 1.2×.
# Runs on a 5,000-trace demo workspace in a temporary directory (release build).
#
#   bench/gate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
relops="$target_dir/release/relops"
work="$(mktemp -d)"
trap 'kill "${server:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
"$relops" demo --no-tui --dir "$work" --traces 5000 >/dev/null
port=47999
cat >>"$work/relops.toml" <<TOML

[replay.targets.bench]
kind = "http"
url = "http://127.0.0.1:$port/{version}"
concurrency = 16
TOML
python3 - "$work/cases" <<'PY'
import json, os, sys
d = sys.argv[1]; os.makedirs(d)
for i in range(500):
    c = {"id": f"{i:08x}", "title": f"bench case {i}", "created_at": "2026-11-20T12:00:00Z",
         "input": f"refund for order A-{i}",
         "assertions": [{"type": "not_refusal"}, {"type": "contains", "value": "refund"}],
         "must_pass": i < 50}
    open(f"{d}/bench-{i:08x}.json", "w").write(json.dumps(c, indent=2))
PY
python3 - "$port" <<'PY' &
import json, sys, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        time.sleep(0.05)
        body = json.dumps({"output": "Your refund has been issued.", "tokens_in": 10,
                           "tokens_out": 5, "cost_usd": 0.0001}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.request_queue_size = 128
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
server=$!
sleep 1
for _ in 1 2 3; do
  start=$(date +%s.%N)
  "$relops" --config "$work/relops.toml" gate --candidate v3 --baseline v2 --target bench \
    --suite "$work/cases" --json >/dev/null 2>&1
  end=$(date +%s.%N)
  echo "gate 500 cases × 2 versions: $(echo "$end - $start" | bc) s (ideal 3.125 s)"
done
