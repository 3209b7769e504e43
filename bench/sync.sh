#!/usr/bin/env bash
# Pulling from a Phoenix-shaped peer: relops' CPU time per 1,000 spans and its peak
# memory while syncing N spans (default 1,000,000). The peer (bench/phoenix_fake.py)
# makes spans on the fly; relops' own CPU time is what is measured, not the wall
# clock, since the Python peer is the slower side.
# Usage: bench/sync.sh [SPANS]
set -euo pipefail
cd "$(dirname "$0")/.."
SPANS="${1:-1000000}"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cargo build --release -q
dir=$(mktemp -d)
trap 'kill $peer 2>/dev/null; rm -rf "$dir"' EXIT
python3 bench/phoenix_fake.py "$PORT" "$SPANS" & peer=$!
cat > "$dir/relops.toml" <<TOML
[workspace]
cache = "cache.db"
[[source]]
name = "phoenix"
kind = "phoenix"
endpoint = "http://127.0.0.1:$PORT"
project = "bench"
page_size = 1000
TOML
sleep 0.5
/usr/bin/time -f "%U %S %M %e" -o "$dir/time" \
  target/release/relops --config "$dir/relops.toml" sync --once --json > "$dir/report.json" 2>/dev/null
read -r user sys rss wall < "$dir/time"
python3 - "$dir/report.json" "$user" "$sys" "$rss" "$wall" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))[0]
user, sys_, rss, wall = map(float, sys.argv[2:])
n = report["records"]
print(f"spans pulled      {n:,} in {report['pages']:,} pages (ok={report['ok']})")
print(f"wall              {wall:.1f} s ({n / wall:,.0f} spans/s, paced by the Python peer)")
print(f"relops CPU        {user + sys_:.1f} s = {(user + sys_) * 1000 / n * 1000:.1f} ms per 1,000 spans")
print(f"peak RSS          {rss / 1024:.0f} MiB")
PY
