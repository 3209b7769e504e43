#!/usr/bin/env python3
"""Reference values for relops' drift statistics, from scipy, statsmodels and numpy.

Writes tests/fixtures/drift_reference.json, which the Rust tests in
src/drift/stats/tests.rs compare against. Re-run after changing an input:

    pip install scipy statsmodels numpy
    python3 scripts/drift_reference.py
"""
import json
import pathlib

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/drift_reference.json"

rng = np.random.RandomState(20261127)
samples = {
    "lat_a": np.round(rng.lognormal(6.8, 0.5, 60), 1).tolist(),
    "lat_b": np.round(rng.lognormal(6.9, 0.6, 80), 1).tolist(),
    "ties_a": rng.randint(0, 8, 45).astype(float).tolist(),
    "ties_b": rng.randint(1, 9, 55).astype(float).tolist(),
    "len_base": rng.normal(300, 40, 400).round().tolist(),
    "len_same": rng.normal(300, 40, 300).round().tolist(),
    "len_shift": rng.normal(340, 60, 300).round().tolist(),
}

wilson = []
for x, n in [(0, 10), (1, 10), (5, 50), (30, 1000), (80, 1000), (999, 1000)]:
    lo, hi = proportion_confint(x, n, alpha=0.05, method="wilson")
    wilson.append({"x": x, "n": n, "low": lo, "high": hi})

newcombe = []
for x1, n1, x2, n2 in [(80, 1000, 20, 1000), (5, 40, 2, 60), (0, 100, 3, 100), (170, 2100, 120, 5000)]:
    lo, hi = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff")
    newcombe.append({"x1": x1, "n1": n1, "x2": x2, "n2": n2, "low": lo, "high": hi})

fisher = []
for x1, n1, x2, n2 in [(3, 20, 1, 25), (8, 100, 2, 100), (0, 10, 5, 12), (40, 500, 10, 500), (1, 3, 1, 3)]:
    _, p = stats.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]], alternative="two-sided")
    fisher.append({"x1": x1, "n1": n1, "x2": x2, "n2": n2, "p": p})

ztest = []
for x1, n1, x2, n2 in [(80, 1000, 20, 1000), (170, 2100, 120, 5000), (12, 400, 10, 400)]:
    _, p = proportions_ztest([x1, x2], [n1, n2])
    ztest.append({"x1": x1, "n1": n1, "x2": x2, "n2": n2, "p": p})

mwu = []
for a, b in [("lat_a", "lat_b"), ("ties_a", "ties_b"), ("lat_b", "lat_a")]:
    x, y = samples[a], samples[b]
    res = stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic", use_continuity=True)
    hl = float(np.median(np.subtract.outer(np.array(x), np.array(y))))
    mwu.append({"x": a, "y": b, "u": float(res.statistic), "p": float(res.pvalue), "hl": hl})


def psi(actual, expected):
    edges = np.unique(np.quantile(expected, np.arange(1, 10) / 10))
    def shares(v):
        idx = np.searchsorted(edges, v, side="left")
        counts = np.bincount(idx, minlength=len(edges) + 1)
        return np.maximum(counts / len(v), 1e-6)
    a, e = shares(np.array(actual)), shares(np.array(expected))
    return float(np.sum((a - e) * np.log(a / e)))


psis = [
    {"actual": "len_same", "expected": "len_base", "psi": psi(samples["len_same"], samples["len_base"])},
    {"actual": "len_shift", "expected": "len_base", "psi": psi(samples["len_shift"], samples["len_base"])},
]

holm_in = [0.01, 0.04, 0.03, 0.005, 0.5]
holm = {"p": holm_in, "adjusted": multipletests(holm_in, method="holm")[1].tolist()}


def min_sample(p, delta, alpha=0.05, power=0.8):
    pbar = p + delta / 2
    za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    num = za * np.sqrt(2 * pbar * (1 - pbar)) + zb * np.sqrt(p * (1 - p) + (p + delta) * (1 - p - delta))
    return int(np.ceil(num**2 / delta**2))


min_samples = [{"p": p, "delta": d, "n": min_sample(p, d)} for p, d in [(0.02, 0.01), (0.005, 0.01), (0.10, 0.02)]]
normal = [{"x": x, "cdf": stats.norm.cdf(x)} for x in [-3.5, -1.0, 0.0, 0.3, 1.96, 4.0]]
ppf = [{"p": p, "x": stats.norm.ppf(p)} for p in [0.001, 0.025, 0.3, 0.5, 0.8, 0.975, 0.9999]]
quantiles = [{"q": q, "value": float(np.quantile(samples["lat_a"], q))} for q in [0.0, 0.5, 0.95, 0.99, 1.0]]

OUT.write_text(json.dumps({
    "samples": samples, "wilson": wilson, "newcombe": newcombe, "fisher": fisher, "ztest": ztest,
    "mann_whitney": mwu, "psi": psis, "holm": holm, "min_sample": min_samples,
    "normal_cdf": normal, "normal_ppf": ppf, "quantile": quantiles,
}, indent=1) + "\n")
print(f"wrote {OUT}")
