#!/usr/bin/env bash
# The statistics of one full drift verdict (issue 14's goal: under 100 ms of CPU at 30,000
# requests per arm), against scipy and numpy doing the core of the same work on the same
# arms: Mann-Whitney U on each of the nine sample signals, a percentile bootstrap of the
# p50/p95/p99 ratios (1,000 resamples, vectorised) and the Wilson intervals of the four
# rates. relops does more (Hodges-Lehmann, Fieller's interval for means, Newcombe
# differences, Holm, the seed-proof growth of borderline bootstraps): the ratio is an
# upper bound on what relops costs against the textbook tools.
#
#   bench/drift_stats.sh [REQUESTS]     # default 30000 per arm
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-30000}
cargo build --release --quiet --example drift_bench
target_dir="${CARGO_TARGET_DIR:-target}"
arms=$(mktemp --suffix .json)
trap 'rm -f "$arms"' EXIT
relops_ms=$("$target_dir/release/examples/drift_bench" "$n" "$arms" | awk '$1 == "relops_cpu_ms" {print $2}')
python3 - "$arms" "$relops_ms" "$n" <<'PY'
import json, sys, time
import numpy as np
from scipy import stats
from statsmodels.stats.proportion import proportion_confint
arms = json.load(open(sys.argv[1])); relops_ms = float(sys.argv[2]); n = int(sys.argv[3])
cand = {k: np.sort(np.array(v)) for k, v in arms["candidate"]["samples"].items()}
base = {k: np.sort(np.array(v)) for k, v in arms["baseline"]["samples"].items()}
rng = np.random.default_rng(7)
def work():
    for k in cand:
        c, b = cand[k], base[k]
        stats.mannwhitneyu(c, b, alternative="two-sided")
        ic = rng.integers(0, len(c), size=(1000, len(c)))
        ib = rng.integers(0, len(b), size=(1000, len(b)))
        qc = np.percentile(c[ic], [50, 95, 99], axis=1)
        qb = np.percentile(b[ib], [50, 95, 99], axis=1)
        np.percentile(qc / qb, [2.5, 97.5], axis=1)
    for side in ("candidate", "baseline"):
        for k, (e, t) in arms[side]["rates"].items():
            proportion_confint(e, t, method="wilson")
best = float("inf")
for _ in range(3):
    t0 = time.process_time(); work(); best = min(best, time.process_time() - t0)
print(f"relops drift verdict, {n} requests per arm: {relops_ms:.1f} ms CPU")
print(f"scipy/numpy anchor (MWU + quantile bootstrap + Wilson): {best*1000:.1f} ms CPU")
print(f"ratio relops/anchor: {relops_ms / (best*1000):.4f}")
PY
