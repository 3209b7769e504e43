#!/usr/bin/env bash
# Replay and diff figures (release build): diff + side-by-side layout of two 200 KB
# outputs, and 200 replays at concurrency 16 against a local target answering in 50 ms
# (including planning from the cache and storing the replays).
#
#   bench/replay.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet --example replay_bench
