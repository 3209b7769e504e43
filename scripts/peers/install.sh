#!/usr/bin/env bash
# Install the real peers relops' integration tests talk to:
#
#   * Prometheus and Alertmanager, from Debian's packages (/usr/bin/prometheus,
#     /usr/bin/prometheus-alertmanager). The tests run the binaries themselves;
#     the packages' systemd services are never used (their start is refused
#     through policy-rc.d during the install).
#   * Arize Phoenix (+ OpenTelemetry SDK, OTLP/HTTP exporter), from PyPI, into
#     a venv at ${RELOPS_PEERS_DIR:-/opt/relops-peers}/phoenix-venv, pinned by
#     scripts/peers/requirements.txt.
#
# Idempotent: when both are already there (the venv carries a stamp of the
# requirements file and python it was built from) it returns in well under a
# second. Env: RELOPS_PEERS_DIR, RELOPS_PYTHON (default python3, must be >= 3.11),
# RELOPS_PEERS_SKIP_PROMETHEUS=1 / RELOPS_PEERS_SKIP_ALERTMANAGER=1 /
# RELOPS_PEERS_SKIP_PHOENIX=1 to leave one out.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEERS_DIR="${RELOPS_PEERS_DIR:-/opt/relops-peers}"
VENV="$PEERS_DIR/phoenix-venv"
REQS="$HERE/requirements.txt"
PYTHON="${RELOPS_PYTHON:-python3}"

log() { echo "peers/install: $*" >&2; }

SUDO=()
if [[ "$(id -u)" != 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi
fi

install_deb() {
  # $1: the Debian package, $2: its binary, $3: its service name
  local pkg="$1" bin="$2" service="$3"
  if [[ -x "$bin" ]]; then
    return 0
  fi
  log "installing $pkg from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive

  # Keep the package from starting its service (no systemd here, and the tests
  # run the binary themselves): policy-rc.d exit 101 = "action forbidden".
  local made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi

  local apt_opts=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  # apt-get update only when the lists don't know the package, or when an
  # install from the current lists fails (e.g. a stale list gives a 404).
  if ! apt-cache show "$pkg" >/dev/null 2>&1; then
    "${SUDO[@]}" apt-get update -q
  fi
  local rc=0
  "${SUDO[@]}" apt-get install "${apt_opts[@]}" "$pkg" || rc=$?
  if (( rc != 0 )) && [[ ! -x $bin ]]; then
    log "apt-get install failed ($rc); updating the package lists and trying again"
    "${SUDO[@]}" apt-get update -q
    rc=0
    "${SUDO[@]}" apt-get install "${apt_opts[@]}" "$pkg" || rc=$?
  fi

  if (( made_policy )); then
    "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d
  fi

  if [[ ! -x $bin ]]; then
    log "$pkg did not install (apt-get exit $rc)"
    return 1
  fi
  if (( rc != 0 )); then
    # The binary is unpacked; only a maintainer script (service start) failed.
    log "apt-get exit $rc, but $bin is there; going on"
  fi
  # Should a service have started anyway (a machine with a live systemd), stop
  # it so it doesn't hold its port. Harmless where there is no systemd.
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    "${SUDO[@]}" systemctl disable --now "$service" >/dev/null 2>&1 || true
  fi
}

stamp_of() {
  # what the venv was built from: the requirements file and the python
  { sha256sum "$REQS" | cut -d' ' -f1; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1
}

install_phoenix() {
  if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    log "$PYTHON is $("$PYTHON" --version 2>&1); arize-phoenix needs python >= 3.11 (set RELOPS_PYTHON)"
    return 1
  fi
  local want
  want="$(stamp_of)"
  if [[ -x "$VENV/bin/phoenix" && -f "$VENV/.relops-stamp" && "$(cat "$VENV/.relops-stamp")" == "$want" ]]; then
    return 0
  fi
  log "installing Arize Phoenix into $VENV (pinned by $REQS)"
  local start=$SECONDS
  "${SUDO[@]}" mkdir -p "$PEERS_DIR"
  "${SUDO[@]}" rm -rf "$VENV"
  "${SUDO[@]}" "$PYTHON" -m venv "$VENV"
  # a current pip first: python 3.11's bundled pip 23 takes twice the CPU on this lock
  "${SUDO[@]}" env PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/pip" install -q --no-input pip==26.3
  "${SUDO[@]}" env PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/pip" install -q --no-input -r "$REQS"
  # Smoke-check the pieces the scripts use.
  "$VENV/bin/python" -c '
import phoenix.server.main, opentelemetry.sdk.trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
'
  echo "$want" | "${SUDO[@]}" tee "$VENV/.relops-stamp" >/dev/null
  log "Phoenix venv ready in $((SECONDS - start))s"
}

if [[ "${RELOPS_PEERS_SKIP_PROMETHEUS:-0}" != 1 ]]; then install_deb prometheus /usr/bin/prometheus prometheus; fi
if [[ "${RELOPS_PEERS_SKIP_ALERTMANAGER:-0}" != 1 ]]; then
  install_deb prometheus-alertmanager /usr/bin/prometheus-alertmanager prometheus-alertmanager
fi
if [[ "${RELOPS_PEERS_SKIP_PHOENIX:-0}" != 1 ]]; then install_phoenix; fi
# tmux drives the real binary in a terminal in the end-to-end console test.
install_deb tmux /usr/bin/tmux tmux
