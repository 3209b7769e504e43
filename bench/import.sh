#!/usr/bin/env bash
# Import throughput and peak memory of `relops import` on the demo set (50,000 traces)
# and on the scale set (1,000,000 traces). Prints one line per set.
#
#   bench/import.sh                 # both sets
#   bench/import.sh 50000           # one set
#
# The OTLP/JSON files are generated once by `relops demo` under $BENCH_DIR
# (default /tmp/relops-bench) and reused; each run imports into a fresh cache.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/relops
root=${BENCH_DIR:-/tmp/relops-bench}
sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(50000 1000000)
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)"; exit 2; }

for n in "${sets[@]}"; do
  dir=$root/demo-$n
  [ -f "$dir/traces/demo-week.otlp.jsonl" ] || \
    RELOPS_NOW=2026-11-20T12:00:00Z $bin demo --no-tui --traces "$n" --dir "$dir" >/dev/null
  file=$dir/traces/demo-week.otlp.jsonl
  db=$root/import-$n.sqlite
  rm -f "$db" "$db-wal" "$db-shm"
  printf '[workspace]\ncache = "%s"\n' "$db" > "$root/bench.toml"
  out=$( { /usr/bin/time -f '%e %M' $bin --config "$root/bench.toml" import --json "$file" >"$root/summary-$n.json"; } 2>&1 | tail -1)
  secs=${out% *}; rss_kb=${out#* }
  spans=$(python3 -c "import json;print(json.load(open('$root/summary-$n.json'))['inserted'])")
  bytes=$(stat -c %s "$file")
  python3 - "$n" "$spans" "$secs" "$rss_kb" "$bytes" <<'PY'
import sys
n, spans, secs, rss, size = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(f"{n:>8} traces  {spans:>8} spans  {size/2**20:8.0f} MiB  {secs:7.1f} s  "
      f"{spans/secs:9.0f} spans/s  peak RSS {rss/1024:6.0f} MiB")
PY
done
