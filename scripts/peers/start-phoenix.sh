#!/usr/bin/env bash
# Start Arize Phoenix in the background on 127.0.0.1 for relops' integration tests.
#
# Env:
#   RELOPS_PEERS_DIR     where install.sh put the venv        (default /opt/relops-peers)
#   PHOENIX_PORT         HTTP port (UI, REST, OTLP/HTTP)       (default 6006)
#   PHOENIX_GRPC_PORT    OTLP/gRPC port; Phoenix always opens it, on [::] (all interfaces).
#                        Default: a free port picked at start, so parallel servers don't clash.
#   PHOENIX_WORKING_DIR  working dir (sqlite db, log, pid). Default: a fresh mktemp dir.
#                        An existing dir is wiped first (only if it is empty or holds a
#                        phoenix.pid from an earlier start), so every start is a fresh database.
#   PHOENIX_START_TIMEOUT seconds to wait for /healthz          (default 120)
#
# Prints the base URL (http://127.0.0.1:PORT) on stdout and exits 0, leaving the
# server running. Its pid is in $PHOENIX_WORKING_DIR/phoenix.pid, its log in
# $PHOENIX_WORKING_DIR/phoenix.log. Stop it with: kill "$(cat "$PHOENIX_WORKING_DIR/phoenix.pid")"
# Everything else (working dir, grpc port) goes to stderr.
set -euo pipefail

PEERS_DIR="${RELOPS_PEERS_DIR:-/opt/relops-peers}"
VENV="$PEERS_DIR/phoenix-venv"
PORT="${PHOENIX_PORT:-6006}"
TIMEOUT="${PHOENIX_START_TIMEOUT:-120}"

if [[ ! -x "$VENV/bin/phoenix" ]]; then
  echo "start-phoenix: $VENV/bin/phoenix not found; run scripts/peers/install.sh first" >&2
  exit 2
fi

if [[ -n "${PHOENIX_WORKING_DIR:-}" ]]; then
  WORKDIR="$PHOENIX_WORKING_DIR"
  # fresh: never reuse an old database or pid file
  if [[ -f "$WORKDIR/phoenix.pid" ]] && kill -0 "$(cat "$WORKDIR/phoenix.pid")" 2>/dev/null; then
    echo "start-phoenix: a Phoenix (pid $(cat "$WORKDIR/phoenix.pid")) still runs from $WORKDIR" >&2
    exit 2
  fi
  # Only wipe a dir that is empty or was a Phoenix working dir of ours before
  # (it has our phoenix.pid); never an arbitrary directory.
  if [[ -d "$WORKDIR" && -n "$(ls -A "$WORKDIR")" && ! -f "$WORKDIR/phoenix.pid" ]]; then
    echo "start-phoenix: $WORKDIR is not empty and not an old Phoenix working dir; refusing to wipe it" >&2
    exit 2
  fi
  rm -rf "$WORKDIR"
  mkdir -p "$WORKDIR"
else
  WORKDIR="$(mktemp -d /tmp/relops-phoenix.XXXXXX)"
fi
WORKDIR="$(cd "$WORKDIR" && pwd)"

if [[ -z "${PHOENIX_GRPC_PORT:-}" ]]; then
  PHOENIX_GRPC_PORT="$("$VENV/bin/python" - <<'PY'
import socket
try:
    s = socket.socket(socket.AF_INET6); s.bind(("::", 0))
except OSError:
    s = socket.socket(socket.AF_INET); s.bind(("0.0.0.0", 0))
print(s.getsockname()[1])
PY
)"
fi

# Refuse to start if something already answers on the HTTP port (we would
# otherwise "succeed" against someone else's server).
if "$VENV/bin/python" - "$PORT" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(); s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
PY
then
  echo "start-phoenix: 127.0.0.1:$PORT is already in use" >&2
  exit 2
fi

LOG="$WORKDIR/phoenix.log"
PIDFILE="$WORKDIR/phoenix.pid"

# No phone-home: telemetry pixels off, no external resources (fonts, wasm
# download), no assistant / MCP / web access.
env \
  PHOENIX_HOST=127.0.0.1 \
  PHOENIX_PORT="$PORT" \
  PHOENIX_GRPC_PORT="$PHOENIX_GRPC_PORT" \
  PHOENIX_WORKING_DIR="$WORKDIR" \
  PHOENIX_SQL_DATABASE_URL="sqlite:///$WORKDIR/phoenix.db" \
  PHOENIX_TELEMETRY_ENABLED=false \
  PHOENIX_ALLOW_EXTERNAL_RESOURCES=false \
  PHOENIX_DISABLE_AGENT_ASSISTANT=true \
  PHOENIX_AGENTS_DISABLE_WEB_ACCESS=true \
  PHOENIX_AGENTS_DISABLE_GITHUB=true \
  PHOENIX_AGENTS_DISABLE_BASH=true \
  PHOENIX_ENABLE_MCP_SERVER=false \
  PHOENIX_ENABLE_AUTH=false \
  PHOENIX_LOG_MIGRATIONS=false \
  DO_NOT_TRACK=1 \
  nohup "$VENV/bin/phoenix" serve >"$LOG" 2>&1 </dev/null &
PID=$!
echo "$PID" >"$PIDFILE"

BASE="http://127.0.0.1:$PORT"
echo "start-phoenix: pid $PID, working dir $WORKDIR, grpc port $PHOENIX_GRPC_PORT" >&2

deadline=$((SECONDS + TIMEOUT))
while (( SECONDS < deadline )); do
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "start-phoenix: Phoenix exited early; log tail ($LOG):" >&2
    tail -n 40 "$LOG" >&2 || true
    exit 1
  fi
  if "$VENV/bin/python" - "$BASE" <<'PY' 2>/dev/null
import sys, urllib.request
base = sys.argv[1]
with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
    assert r.status == 200
with urllib.request.urlopen(base + "/v1/projects", timeout=5) as r:
    assert r.status == 200
PY
  then
    echo "$BASE"
    exit 0
  fi
  sleep 0.5
done

echo "start-phoenix: Phoenix did not answer on $BASE/healthz within ${TIMEOUT}s; log tail ($LOG):" >&2
tail -n 40 "$LOG" >&2 || true
kill "$PID" 2>/dev/null || true
exit 1
