#!/usr/bin/env bash
# OTLP/HTTP receiver throughput on loopback: `relops collect` (release build) in a fresh
# workspace, fed by examples/otlp_load.rs with the demo's traffic, first as protobuf then
# as OTLP/JSON. A request counts once its spans are committed (the receiver answers 200
# only then). Aim: >= 50,000 spans/s. Prints one line per encoding and the receiver's
# closing totals. The receiver's CPU time is printed too: on a shared 2-core machine the
# wall-clock figure depends on what else runs, spans per CPU-second much less.
#
#   bench/collect.sh                  # 20,000 traces per encoding, 100 per request, 4 clients
#   bench/collect.sh 50000 200 8      # TRACES PER_REQUEST CONCURRENCY
set -euo pipefail
cd "$(dirname "$0")/.."
traces=${1:-20000}; per_request=${2:-100}; concurrency=${3:-4}
cargo build --release --quiet --bin relops --example otlp_load
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
relops="$target_dir/release/relops"
load="$target_dir/release/examples/otlp_load"
work="$(mktemp -d)"
trap 'kill "${collector:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
printf '[workspace]\ncache = "cache.db"\n' > "$work/relops.toml"

"$relops" --config "$work/relops.toml" collect --listen 127.0.0.1:0 --interval 5 \
  >"$work/totals.txt" 2>"$work/collect.log" &
collector=$!
for _ in $(seq 100); do
  grep -q 'listening on' "$work/collect.log" 2>/dev/null && break
  sleep 0.1
done
url=$(grep -o 'http://[^ ]*' "$work/collect.log" | head -1)
[ -n "$url" ] || { cat "$work/collect.log"; exit 2; }

# CPU seconds the receiver has used so far (user + system), from /proc.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$collector/stat"; }
for encoding in protobuf json; do
  before=$(cpu)
  line=$("$load" "$url" "$encoding" "$traces" "$per_request" "$concurrency")
  used=$(echo "$(cpu) - $before" | bc)
  spans=$(echo "$line" | awk '{print $2}')
  echo "$line  receiver CPU ${used} s ($(echo "$spans / $used" | bc) spans per CPU-second)"
done

kill -TERM "$collector"
wait "$collector" || true
collector=
cat "$work/totals.txt"
