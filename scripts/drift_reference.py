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


def fieller_interval(x, y, z=stats.norm.ppf(0.975)):
    """Fieller's 95 % interval for mean(x) / mean(y), independent samples."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    mc, mb = x.mean(), y.mean()
    vc, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    a = mb**2 - z**2 * vb
    if a <= 0:
        return None
    root = z * np.sqrt(vc * a + vb * mc**2)
    return float((mc * mb - root) / a), float((mc * mb + root) / a)


def fieller_p_above(x, y, limit):
    """One-sided p of 'mean(x) / mean(y) <= limit': the z-test of mean(x) - limit*mean(y)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    se = np.sqrt(x.var(ddof=1) / len(x) + limit**2 * y.var(ddof=1) / len(y))
    return float(stats.norm.sf((x.mean() - limit * y.mean()) / se))


def wilson_real(p, n, z=stats.norm.ppf(0.975)):
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n * n)) / (1 + z**2 / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def min_n_ok(p, margin):
    """Fewest n per arm whose Newcombe interval for no change (p vs p) lies below the margin."""
    def upper(n):
        lo, hi = wilson_real(p, n)
        return np.hypot(hi - p, p - lo)
    lo, hi = 1, 1 << 40
    if upper(hi) >= margin:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if upper(mid) < margin:
            hi = mid
        else:
            lo = mid + 1
    return lo


min_samples = [{"p": p, "delta": d, "n": min_sample(p, d)} for p, d in [(0.02, 0.01), (0.005, 0.01), (0.10, 0.02)]]
normal = [{"x": x, "cdf": stats.norm.cdf(x)} for x in [-3.5, -1.0, 0.0, 0.3, 1.96, 4.0]]
ppf = [{"p": p, "x": stats.norm.ppf(p)} for p in [0.001, 0.025, 0.3, 0.5, 0.8, 0.975, 0.9999]]
quantiles = [{"q": q, "value": float(np.quantile(samples["lat_a"], q))} for q in [0.0, 0.5, 0.95, 0.99, 1.0]]

fieller = []
for a, b, limit in [("lat_b", "lat_a", 1.2), ("len_shift", "len_base", 1.1), ("len_same", "len_base", 1.0)]:
    lo, hi = fieller_interval(samples[a], samples[b])
    fieller.append({"x": a, "y": b, "low": lo, "high": hi, "limit": limit,
                    "p_above": fieller_p_above(samples[a], samples[b], limit)})

min_n_oks = [{"p": p, "margin": m, "n": min_n_ok(p, m)}
             for p, m in [(0.02, 0.01), (0.0, 0.01), (0.05, 0.02), (0.3, 0.05)]]

OUT.write_text(json.dumps({
    "samples": samples, "wilson": wilson, "newcombe": newcombe, "fisher": fisher, "ztest": ztest,
    "mann_whitney": mwu, "psi": psis, "holm": holm, "min_sample": min_samples,
    "normal_cdf": normal, "normal_ppf": ppf, "quantile": quantiles,
    "fieller": fieller, "min_n_ok": min_n_oks,
}, indent=1) + "\n")
print(f"wrote {OUT}")
