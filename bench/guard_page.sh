#!/usr/bin/env bash
# The release guard as a service (issue 17's goals: a fired trigger reaches Alertmanager in
# under 1 s; the guard stays under 60 MB RSS over an hour). Runs `relops guard` on the
# demo's triggered canary rollout with a real Alertmanager, then:
#   - latency: from the start of the cycle that fired (the guard's JSON log: its time
#     minus the cycle's ms) to the alert's first appearance in Alertmanager's API (polled
#     every 20 ms, so the figure is high by up to that);
#     anchor: one alert POSTed straight to Alertmanager by curl, send to receipt;
#   - memory: the guard's VmRSS every 5 s for DURATION seconds (default 600), beside
#     Alertmanager's own (a Go always-on service, the anchor), while the demo's live
#     feed adds traffic to the cache (`relops demo --serve`; LIVE=0 for a still cache).
# Needs /usr/bin/prometheus-alertmanager (scripts/peers/install.sh), curl and python3.
#
#   bench/guard_page.sh [DURATION_S]          # LIVE=0 bench/guard_page.sh: no live feed
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-600}"
am_bin=/usr/bin/prometheus-alertmanager
[ -x "$am_bin" ] || { echo "needs $am_bin: bash scripts/peers/install.sh"; exit 2; }
if [[ -z "${RELOPS_BIN:-}" ]]; then
  cargo build --release --quiet --bin relops
  target_dir="${CARGO_TARGET_DIR:-target}"
  case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
  RELOPS_BIN="$target_dir/release/relops"
fi
relops="$RELOPS_BIN"
work="$(mktemp -d)"
trap 'kill "${guard:-}" "${am:-}" "${feed:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
export RELOPS_NOW=2026-11-20T12:00:00Z
"$relops" demo --no-tui --dir "$work" --traces 3000 >/dev/null
"$relops" --config "$work/relops.toml" rollout start canary --release v3 --previous v2 >/dev/null 2>&1 || true
# The demo's live feed (LIVE=0 for a still cache): traffic keeps arriving in the cache
# while the guard watches, as in production.
if [[ "${LIVE:-1}" == 1 ]]; then
  "$relops" demo --serve --dir "$work" >"$work/feed.log" 2>&1 &
  feed=$!
  sleep 3
fi

port=${AM_PORT:-47997}  # AM_PORT=N for another Alertmanager port
cat >"$work/am.yml" <<YML
route:
  receiver: none
receivers:
  - name: none
YML
"$am_bin" --config.file="$work/am.yml" --storage.path="$work/am-data" \
  --web.listen-address=127.0.0.1:$port --cluster.listen-address= >/dev/null 2>&1 &
am=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break; sleep 0.1; done

cat >>"$work/relops.toml" <<TOML

[guard]
check_every = "5s"
sync = false
drift_signals = ["refusal_rate", "latency_p95", "tool_error_rate"]
candidate = "v3"
baseline = "v2"
drift_window = "7d"

[[notify]]
name = "am"
kind = "alertmanager"
url = "http://127.0.0.1:$port"
min_severity = "info"
TOML

# The anchor: Alertmanager's own ingestion of one alert, send to receipt.
anchor=$(python3 - "$port" <<'PY'
import json, subprocess, sys, time, datetime, urllib.request
port = sys.argv[1]
body = json.dumps([{"labels": {"alertname": "anchor"}, "annotations": {}}]).encode()
t0 = time.time()
req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v2/alerts", body, {"content-type": "application/json"})
urllib.request.urlopen(req).read()
for a in json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/alerts")):
    if a["labels"].get("alertname") == "anchor":
        t = datetime.datetime.fromisoformat(a["updatedAt"].replace("Z", "+00:00")).timestamp()
        print(f"{(t - t0) * 1000:.1f}")
PY
)

# A poller notes when the guard's first alert appears in Alertmanager (every 20 ms).
python3 - "$port" "$work/seen" <<'PY' &
import json, sys, time, urllib.request
port, out = sys.argv[1], sys.argv[2]
for _ in range(30000):
    alerts = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/alerts"))
    if any(a["labels"].get("alertname") != "anchor" for a in alerts):
        open(out, "w").write(f"{time.time()}\n"); break
    time.sleep(0.02)
PY
"$relops" --config "$work/relops.toml" guard --log-format json 2>"$work/guard.log" &
guard=$!
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
samples="$work/rss"
end=$((SECONDS + duration))
while [ $SECONDS -lt $end ] && kill -0 "$guard" 2>/dev/null; do
  echo "$(rss $guard) $(rss $am)" >>"$samples"
  sleep 5
done
kill -TERM "$guard"; wait "$guard" 2>/dev/null || true

python3 - "$work/guard.log" "$work/seen" "$samples" "$anchor" "$duration" <<'PY'
import json, os, sys, datetime
log, seen, samples, anchor, duration = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
ts = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
start = None
for line in open(log):
    e = json.loads(line)
    f = e.get("fields", {})
    if f.get("message") == "cycle" and int(f.get("sent", 0)) > 0:
        start = ts(e["timestamp"]) - float(f["ms"]) / 1000
        break
got = [float(open(seen).read())] if os.path.exists(seen) else []
rows = [tuple(map(int, l.split())) for l in open(samples) if l.strip()]
g = [r[0] for r in rows]; a = [r[1] for r in rows]
if start is None or not got:
    print("no page reached Alertmanager: see the guard log"); sys.exit(1)
lat = (min(got) - start) * 1000
print(f"trigger cycle start -> Alertmanager receipt: {lat:.0f} ms (goal < 1000); "
      f"anchor, curl -> receipt: {anchor:.0f} ms")
print(f"guard RSS over {duration} s: at 1 min {g[min(12, len(g) - 1)]/1024:.1f} MB, halfway "
      f"{g[len(g) // 2]/1024:.1f} MB, max {max(g)/1024:.1f} MB, last {g[-1]/1024:.1f} MB "
      f"(goal < 60); Alertmanager: max {max(a)/1024:.1f} MB; "
      f"ratio guard/alertmanager {max(g)/max(a):.2f}")
PY
