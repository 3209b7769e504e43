#!/usr/bin/env bash
# Install promptfoo (the eval CLI `relops case export --format promptfoo` writes for)
# from npm into ${RELOPS_PEERS_DIR:-/opt/relops-peers}/promptfoo, pinned below.
# tests/promptfoo.rs runs the exported demo suite with it, offline.
#
# 0.121.20 is the newest release that runs on Node 20 (later ones need Node >= 22.22)
# and it stores results through @libsql/client, whose native part is an npm package
# (no download from outside the registry at install time).
#
# Idempotent: a stamp names the version installed; with it present this returns at
# once. Env: RELOPS_PEERS_DIR, RELOPS_PROMPTFOO_VERSION (to try another pin).
set -euo pipefail

VERSION="${RELOPS_PROMPTFOO_VERSION:-0.121.20}"
PEERS_DIR="${RELOPS_PEERS_DIR:-/opt/relops-peers}"
PREFIX="$PEERS_DIR/promptfoo"
BIN="$PREFIX/node_modules/.bin/promptfoo"

log() { echo "peers/install-promptfoo: $*" >&2; }

if [[ -x "$BIN" && "$(cat "$PREFIX/.relops-stamp" 2>/dev/null)" == "$VERSION" ]]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  log "installing nodejs and npm from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q --no-install-recommends nodejs npm
fi
log "installing promptfoo@$VERSION into $PREFIX"
start=$SECONDS
rm -rf "$PREFIX"
mkdir -p "$PREFIX"
# A private package.json keeps npm from walking up into another project.
echo '{"name": "relops-peer-promptfoo", "private": true}' >"$PREFIX/package.json"
npm install --prefix "$PREFIX" --no-audit --no-fund --no-update-notifier \
  --loglevel=error "promptfoo@$VERSION"
# Smoke check, offline as the tests run it.
PROMPTFOO_DISABLE_TELEMETRY=1 PROMPTFOO_DISABLE_UPDATE=1 "$BIN" --version >/dev/null
echo "$VERSION" >"$PREFIX/.relops-stamp"
log "promptfoo $VERSION ready in $((SECONDS - start))s"
