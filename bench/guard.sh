#!/usr/bin/env bash
# One guard cycle on the demo (rollout check, production drift on three signals, outbox
# reconcile and a webhook send to a local sink) against its anchor, `relops drift` on the
# same versions and window (the statistics the cycle runs, alone). Goal: the cycle under
# 200 ms of CPU. Prints user+sys CPU per run for both and the ratio.
# Runs on a 3,000-trace demo workspace in a temporary directory (release build, or
# RELOPS_BIN=path/to/relops to time another build).
#
#   bench/guard.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-10}"
if [[ -z "${RELOPS_BIN:-}" ]]; then
  cargo build --release --quiet
  target_dir="${CARGO_TARGET_DIR:-target}"
  case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
  RELOPS_BIN="$target_dir/release/relops"
fi
relops="$RELOPS_BIN"
work="$(mktemp -d)"
trap 'kill "${sink:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
export RELOPS_NOW=2026-11-20T12:00:00Z HOOK_KEY=bench-key
"$relops" demo --no-tui --dir "$work" --traces 3000 >/dev/null
"$relops" --config "$work/relops.toml" rollout start canary --release v3 --previous v2 >/dev/null 2>&1 || true
port=47998
python3 - "$port" <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b"{}"
        # Headers and body in one write: two writes add a 40 ms Nagle stall.
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n" + body)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
sink=$!
cat >>"$work/relops.toml" <<TOML

[guard]
check_every = "1s"
sync = false
drift_signals = ["refusal_rate", "latency_p95", "tool_error_rate"]
candidate = "v3"
baseline = "v2"
drift_window = "7d"

[[notify]]
name = "bench"
kind = "webhook"
url = "http://127.0.0.1:$port/hook"
secret_env = "HOOK_KEY"
TOML
sleep 0.5
cpu_ms() { # average user+sys ms of "$@" over $runs runs
  python3 - "$runs" "$@" <<'PY'
import resource, subprocess, sys
runs = int(sys.argv[1]); cmd = sys.argv[2:]
before = resource.getrusage(resource.RUSAGE_CHILDREN)
for _ in range(runs):
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
after = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000 / runs:.1f}")
PY
}
"$relops" --config "$work/relops.toml" guard --once >/dev/null 2>&1 || true  # migrate, first page
guard=$(cpu_ms "$relops" --config "$work/relops.toml" guard --once)
tick=$(cpu_ms "$relops" --config "$work/relops.toml" drift --candidate v3 --baseline v2 --window 7d)
echo "guard cycle (whole process): $guard ms CPU per run (goal < 200)"
echo "anchor, relops drift:        $tick ms CPU per run"
python3 -c "print(f'ratio guard/drift: {float($guard)/max(float($tick),0.1):.2f}')"
