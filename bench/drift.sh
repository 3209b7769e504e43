#!/usr/bin/env bash
# Time `relops drift` for one version pair on the 1,000,000-trace demo set against the
# same aggregates written by hand as SQL in the sqlite3 shell, on the same database.
#
#   bench/drift.sh [DB]     # default: the cache bench/import.sh built for 1M traces
#
# Prints the best of three runs of each and their ratio. Needs sqlite3 (apt-get
# install sqlite3) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/relops
db=${1:-/tmp/relops-bench/import-1000000.sqlite}
[ -f "$db" ] || { echo "no $db: run bench/import.sh 1000000 first"; exit 2; }
command -v sqlite3 >/dev/null || { echo "needs sqlite3 (apt-get install sqlite3)"; exit 2; }
cfg=$(mktemp --suffix .toml)
printf '[workspace]\ncache = "%s"\n' "$db" > "$cfg"

# The window relops judges: 24 h ending at the newest trace; v3 against v2.
read -r end cand base < <(sqlite3 "$db" "SELECT (SELECT max(start_ns) + 1 FROM traces),
  (SELECT id FROM versions WHERE label = 'v3'), (SELECT id FROM versions WHERE label = 'v2');" | tr '|' ' ')
start=$((end - 86400 * 1000000000))

arm_sql() { # version id: rates, means, end-to-end quantiles, span p95 per kind, per-tool errors
  local w="version_id = $1 AND start_ns >= $start AND start_ns < $end"
  local tw="t.version_id = $1 AND t.start_ns >= $start AND t.start_ns < $end"
  cat <<SQL
SELECT count(*), sum(refusal), sum(safety_events > 0), sum(tool_errors), sum(tool_calls),
       sum(retrieval_empty), sum(retrievals), avg(cost_usd), avg(tokens_in), avg(tokens_out),
       avg(retrieval_top_score)
FROM traces WHERE $w;
SELECT duration_ms FROM traces WHERE $w ORDER BY duration_ms
  LIMIT 1 OFFSET (SELECT count(*) * 50 / 100 FROM traces WHERE $w);
SELECT duration_ms FROM traces WHERE $w ORDER BY duration_ms
  LIMIT 1 OFFSET (SELECT count(*) * 95 / 100 FROM traces WHERE $w);
SELECT duration_ms FROM traces WHERE $w ORDER BY duration_ms
  LIMIT 1 OFFSET (SELECT count(*) * 99 / 100 FROM traces WHERE $w);
SELECT output_chars FROM traces WHERE $w ORDER BY output_chars;
WITH s AS (SELECT s.kind, (s.end_ns - s.start_ns) / 1e6 AS ms FROM traces t
           JOIN spans s ON s.trace_pk = t.id WHERE $tw AND s.kind IN ('llm','tool','retriever'))
SELECT kind, ms FROM s ORDER BY kind, ms;
SELECT s.tool_name, count(*), sum(s.error) FROM traces t JOIN spans s ON s.trace_pk = t.id
  WHERE $tw AND s.kind = 'tool' GROUP BY s.tool_name;
SQL
}
sql=$(mktemp --suffix .sql)
{ arm_sql "$cand"; arm_sql "$base"; } > "$sql"

best() { # command...: best wall time of three runs, in seconds
  local b=999
  for _ in 1 2 3; do
    local t0 t1
    t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N)
    b=$(python3 -c "print(min($b, $t1 - $t0))")
  done
  echo "$b"
}
set +e
relops_s=$(best "$bin" --config "$cfg" drift --candidate v3 --baseline v2 --json)
sql_s=$(best sqlite3 "$db" ".read $sql")
set -e
python3 -c "print(f'relops drift (all signals, v3 vs v2, 24h, 1M traces): {$relops_s:.3f} s')"
python3 -c "print(f'hand-written SQL in sqlite3, same aggregates:          {$sql_s:.3f} s')"
python3 -c "print(f'ratio: {$relops_s / $sql_s:.2f}x')"
rm -f "$cfg" "$sql"
