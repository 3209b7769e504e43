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


# ---------------------------------------------------------------------------------------
# Verdicts: whole drift verdicts on arms with known properties, the expected figures from
# scipy / statsmodels / numpy and the verdicts the rules in src/drift/judge.rs give them.
# Writes tests/fixtures/drift_verdicts.json (read by tests/drift.rs).
#
#   python3 scripts/drift_reference.py --bench 30000 ARMS.json   # the bench anchor (below)
# ---------------------------------------------------------------------------------------
import sys
import time

VERDICTS = OUT.parent / "drift_verdicts.json"
ALPHA, POWER, Z = 0.05, 0.8, stats.norm.ppf(0.975)
MIN_DELTA_MS = 1.0
REF_RESAMPLES = 9999

# name, kind, what, statistic, threshold, worse (mirrors src/drift/catalogue.rs)
SIGNALS = [
    ("refusal_rate", "rate", "refusal", ("refusals", "requests"), 0.01, None),
    ("tool_error_rate", "rate", "tool_error", ("tool errors", "tool calls"), 0.01, None),
    ("safety_event_rate", "rate", "safety", ("safety events", "requests"), 0.01, None),
    ("retrieval_empty_rate", "rate", "retrieval_empty", ("empty retrievals", "retrievals"), 0.02, None),
    ("latency_p50", "sample", "latency", "p50", 1.2, "higher"),
    ("latency_p95", "sample", "latency", "p95", 1.2, "higher"),
    ("latency_p99", "sample", "latency", "p99", 1.3, "higher"),
    ("llm_latency_p95", "sample", "llm", "p95", 1.2, "higher"),
    ("tool_latency_p95", "sample", "tool", "p95", 1.2, "higher"),
    ("retrieval_latency_p95", "sample", "retriever", "p95", 1.2, "higher"),
    ("cost_per_request", "sample", "cost", "mean", 1.1, "higher"),
    ("tokens_in", "sample", "tokens_in", "mean", 1.2, "higher"),
    ("tokens_out", "sample", "tokens_out", "mean", 1.2, "higher"),
    ("retrieval_top_score", "sample", "retrieval_score", "mean", 1.05, "lower"),
    ("output_length", "distribution", "output_chars", None, 0.1, None),
]
LATENCY = {"latency", "llm", "tool", "retriever"}
QUANTILE = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
MIN_SAMPLE = {"mean": 30, "p50": 30, "p95": 200, "p99": 1000}


def newcombe_ci(x1, n1, x2, n2):
    lo, hi = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff")
    return float(lo), float(hi)


def rate_p(x1, n1, x2, n2):
    pooled = (x1 + x2) / (n1 + n2)
    if min(n1, n2) * pooled < 10:
        return float(stats.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]])[1])
    if x1 + x2 in (0, n1 + n2):
        return 1.0
    return float(proportions_ztest([x1, x2], [n1, n2])[1])


def judge_rate(c, b, margin):
    (x1, n1), (x2, n2) = c, b
    if n1 == 0 and n2 == 0:
        return {"verdict": "ok", "excluded": "not_applicable"}
    if n1 == 0 or n2 == 0:
        return {"verdict": "insufficient"}
    p1, p2 = x1 / n1, x2 / n2
    lo, hi = newcombe_ci(x1, n1, x2, n2)
    none_either = x1 == 0 and x2 == 0
    need = min_sample(min(max(p2, 1e-4), 1 - margin - 1e-4), margin, ALPHA, POWER)
    ok_from = min_n_ok(p2, margin) or 0
    j = {"baseline": p2, "current": p1, "delta": p1 - p2, "interval": [lo, hi],
         "p_value": None if none_either else rate_p(x1, n1, x2, n2), "min_n_ok": min_n_ok(p2, margin)}
    if lo > margin:
        j["verdict"] = "fail"
    elif hi < margin:
        j["verdict"] = "ok"
    elif none_either:
        return {"verdict": "ok", "excluded": "not_applicable", "min_n_ok": j["min_n_ok"]}
    elif min(n1, n2) < max(need, ok_from):
        j["verdict"] = "insufficient"
    else:
        j["verdict"] = "warn"
    return j


def hodges_lehmann_exact(x, y):
    return float(np.median(np.subtract.outer(np.asarray(x), np.asarray(y))))


def judge_sample(c, b, stat, worse, ratio, floor, seed):
    c, b = np.sort(np.asarray(c, float)), np.sort(np.asarray(b, float))
    if len(c) == 0 and len(b) == 0:
        return {"verdict": "ok", "excluded": "not_applicable"}
    if min(len(c), len(b)) < MIN_SAMPLE[stat]:
        return {"verdict": "insufficient"}
    of = (lambda v: float(v.mean())) if stat == "mean" else (lambda v: float(np.quantile(v, QUANTILE[stat])))
    cur, base = of(c), of(b)
    if cur == 0 and base == 0:
        return {"verdict": "ok", "excluded": "not_applicable", "baseline": 0.0, "current": 0.0}
    mw = stats.mannwhitneyu(c, b, alternative="two-sided", method="asymptotic", use_continuity=True)
    j = {"baseline": base, "current": cur, "mann_whitney_p": float(mw.pvalue),
         "effect": float(mw.statistic) / (len(c) * len(b)), "shift": hodges_lehmann_exact(c, b)}
    if base == 0:
        j["verdict"] = "warn" if worse == "higher" and not (floor and cur <= floor) else "ok"
        return j
    j["delta"] = cur / base
    limit = ratio if worse == "higher" else 1 / ratio
    if worse == "higher" and floor:
        limit = max(ratio, (base + floor) / base)
    if stat == "mean":
        iv = fieller_interval(c, b)
        j["interval"] = list(iv) if iv else None
        p_above = fieller_p_above(c, b, limit)
        j["p_value"] = p_above if worse == "higher" else 1 - p_above
        j["method"] = "fieller"
        borderline = False
    else:
        q = QUANTILE[stat]
        res = stats.bootstrap((c, b), lambda x, y, axis: np.quantile(x, q, axis=axis) / np.quantile(y, q, axis=axis),
                              n_resamples=REF_RESAMPLES, method="percentile", vectorized=True, batch=250,
                              random_state=np.random.default_rng(seed))
        dist = np.sort(res.bootstrap_distribution)
        iv = (float(res.confidence_interval.low), float(res.confidence_interval.high))
        j["interval"] = list(iv)
        at_most = np.searchsorted(dist, limit, side="right")
        at_least = len(dist) - np.searchsorted(dist, limit, side="left")
        j["p_value"] = float(((at_most if worse == "higher" else at_least) + 1) / (len(dist) + 1))
        j["method"] = "bootstrap"
        share = (np.searchsorted(dist, limit, side="left") + at_most) / 2 / len(dist)
        se = np.sqrt(0.025 * 0.975 / len(dist))
        # Within 5 MC errors of an end: a seed could flip relops's verdict; cases avoid it.
        borderline = min(abs(share - 0.025), abs(share - 0.975)) <= 5 * se
        j["tail_share_at_limit"] = float(share)
    j["borderline"] = bool(borderline)
    if iv is None:
        j["verdict"] = "warn"
    elif worse == "higher":
        j["verdict"] = "fail" if iv[0] > limit else "ok" if iv[1] < limit else "warn"
    else:
        j["verdict"] = "fail" if iv[1] < limit else "ok" if iv[0] > limit else "warn"
    return j


def judge_distribution(c, b, warn, fail=0.25):
    if len(c) == 0 and len(b) == 0:
        return {"verdict": "ok", "excluded": "not_applicable"}
    if min(len(c), len(b)) < 100:
        return {"verdict": "insufficient"}
    if not np.any(c) and not np.any(b):
        return {"verdict": "ok", "excluded": "not_applicable"}
    v = psi(c, b)
    return {"verdict": "fail" if v >= fail else "warn" if v >= warn else "ok", "delta": v,
            "baseline": float(np.mean(b)), "current": float(np.mean(c))}


def verdict_of(cand, base, seed=7):
    """The whole verdict: every signal, duplicates and n/a set aside, Holm, the summary."""
    out, questions = [], []
    for name, kind, what, stat, thr, worse in SIGNALS:
        if kind == "rate":
            c, b = tuple(cand["rates"][what]), tuple(base["rates"][what])
            j, q = judge_rate(c, b, thr), ("rate",) + c + b
        elif kind == "sample":
            c, b = cand["samples"].get(what, []), base["samples"].get(what, [])
            floor = MIN_DELTA_MS if what in LATENCY else None
            j = judge_sample(c, b, stat, worse, thr, floor, seed)
            q = ("sample", stat, thr, tuple(sorted(c)), tuple(sorted(b)))
        else:
            j, q = judge_distribution(np.asarray(cand["samples"].get(what, []), float),
                                      np.asarray(base["samples"].get(what, []), float), thr), None
        out.append((name, j, q))
    for tool in sorted(set(cand["tools"]) | set(base["tools"])):
        c, b = tuple(cand["tools"].get(tool, (0, 0))), tuple(base["tools"].get(tool, (0, 0)))
        out.append((f"tool_error_rate.{tool}", judge_rate(c, b, 0.01), ("rate",) + c + b))
    for i, (name, j, q) in enumerate(out):
        if q is None or j.get("excluded"):
            continue
        twin = next((n for n, jj, qq in out[:i] if qq == q and not jj.get("excluded")), None)
        if twin:
            j["excluded"] = f"same_as:{twin}"
    family = [j for _, j, _ in out if j.get("p_value") is not None and not j.get("excluded")]
    if family:
        adjusted = multipletests([j["p_value"] for j in family], method="holm")[1]
        for j, a in zip(family, adjusted):
            j["p_holm"] = float(a)
            if j["verdict"] == "fail" and a >= ALPHA:
                j["verdict"] = "warn"
    by_name = {n: j for n, j, _ in out}
    for name, j, _ in out:
        ex = j.get("excluded") or ""
        if ex.startswith("same_as:") and j.get("p_value") is not None:
            j["p_holm"] = by_name[ex[8:]].get("p_holm")
            if j["verdict"] == "fail" and j["p_holm"] >= ALPHA:
                j["verdict"] = "warn"
    summary = {k: 0 for k in ["ok", "warn", "fail", "insufficient", "not_applicable", "same_as"]}
    for _, j, _ in out:
        ex = j.get("excluded")
        summary["not_applicable" if ex == "not_applicable" else "same_as" if ex else j["verdict"]] += 1
    verdict = ("fail" if summary["fail"] else "insufficient" if summary["insufficient"] or not (summary["ok"] + summary["warn"])
               else "warn" if summary["warn"] else "ok")
    return {"verdict": verdict, "summary": summary, "signals": by_name}


def arm(rng, n, *, lat_scale=1.0, lat_sigma=0.3, refusal=0.01, safety="refusals", tools=("refund",), tool_err=0.01,
        retrieval=0.6, empty=0.02, cost=True):
    """One arm of n requests, as relops's ArmData holds it."""
    lat = rng.lognormal(6.8, lat_sigma, n) * lat_scale
    refusals = rng.random(n) < refusal
    safe = refusals if safety == "refusals" else rng.random(n) < safety
    calls = rng.binomial(2, 0.5, n) if tools else np.zeros(n, int)
    k = int(calls.sum())
    tool_names = rng.choice(list(tools), k) if tools else np.array([])
    tool_errors = rng.random(k) < tool_err
    retrieves = rng.random(n) < retrieval
    r = int(retrieves.sum())
    empties = rng.random(r) < empty
    tok_in, tok_out = rng.poisson(1100, n), rng.poisson(130, n)
    return {
        "requests": n,
        "rates": {
            "refusal": [int(refusals.sum()), n],
            "safety": [int(safe.sum()), n],
            "tool_error": [int(tool_errors.sum()), k],
            "retrieval_empty": [int(empties.sum()), r],
        },
        "samples": {
            "latency": np.round(lat, 1).tolist(),
            "llm": np.round(lat * rng.uniform(0.6, 0.85, n), 1).tolist(),
            "tool": np.round(rng.lognormal(5.5, 0.4, k), 1).tolist(),
            "retriever": np.round(rng.lognormal(4.8, 0.3, r), 1).tolist(),
            "cost": (np.round(tok_in * 1.5e-7 + tok_out * 6e-7, 9) if cost else np.zeros(n)).tolist(),
            "tokens_in": tok_in.astype(float).tolist(),
            "tokens_out": tok_out.astype(float).tolist(),
            "output_chars": np.maximum(rng.normal(300, 60, n).round(), 0).tolist(),
            "retrieval_score": np.round(rng.beta(8, 2, r - int(empties.sum())), 4).tolist(),
        },
        "tools": {t: [int(tool_errors[tool_names == t].sum()), int((tool_names == t).sum())] for t in tools},
    }


CASES = [
    # (name, about, seed, candidate kwargs, baseline kwargs, n candidate, n baseline, expected verdict)
    ("regression", "requests 28 % slower at every quantile (p95 x1.28 against a x1.2 limit) at 3,000 "
     "per arm; every safety event is a refusal (the same counts) and one tool (its error rate is "
     "the overall one)",
     1, {"lat_scale": 1.28}, {}, 3000, 3000, "fail"),
    ("identical", "both arms drawn from one distribution, 3,000 per arm",
     2, {"safety": 0.004}, {"safety": 0.004}, 3000, 3000, "ok"),
    ("zero_vs_zero", "no cost attribute and no safety events in either arm (0 vs 0)",
     3, {"cost": False, "safety": 0.0}, {"cost": False, "safety": 0.0}, 3000, 3000, "ok"),
    ("no_retrieval", "a workflow without retrieval: no retrieval spans, retrievals or scores; two tools",
     4, {"retrieval": 0.0, "safety": 0.004, "tools": ("order_lookup", "refund")},
     {"retrieval": 0.0, "safety": 0.004, "tools": ("order_lookup", "refund")}, 3000, 3000, "ok"),
    ("tiny", "40 candidate and 25 baseline requests", 5, {}, {}, 40, 25, "insufficient"),
]


def write_verdicts():
    cases = []
    for name, about, seed, ck, bk, nc, nb, expect in CASES:
        rng = np.random.default_rng(seed)
        cand, base = arm(rng, nc, **ck), arm(rng, nb, **bk)
        v = verdict_of(cand, base)
        assert v["verdict"] == expect, (name, v["verdict"], {k: j["verdict"] for k, j in v["signals"].items()})
        # Not borderline: no interval end within 5 MC errors of its limit, and no
        # failure's Holm-adjusted p within a factor of 2 of alpha.
        shaky = [k for k, j in v["signals"].items() if j.get("borderline")
                 or (j.get("method") == "bootstrap" and j.get("p_holm") is not None
                     and j["verdict"] in ("fail", "warn") and j["p_value"] < ALPHA
                     and ALPHA / 2 < j["p_holm"] < 2 * ALPHA)]
        assert not shaky, (name, shaky)
        cases.append({"name": name, "about": about, "candidate": cand, "baseline": base, "expected": v})
        print(f"{name}: {v['verdict']} {v['summary']}")
    tolerance = {
        "exact": 1e-9,
        "bootstrap_interval_share_of_width": 0.05,
        "bootstrap_resamples": 20000,
        "note": "rates, Fieller intervals, quantiles, Mann-Whitney, Hodges-Lehmann and PSI are "
                "exact (relative 1e-9); bootstrap interval ends (scipy.stats.bootstrap, percentile, "
                f"{REF_RESAMPLES} resamples) agree within 5 % of the interval's width when relops draws "
                "20,000; bootstrap p-values within 4 Monte Carlo errors plus 2/(B+1).",
    }
    VERDICTS.write_text(json.dumps({"tolerance": tolerance, "cases": cases}, separators=(",", ":")) + "\n")
    print(f"wrote {VERDICTS} ({VERDICTS.stat().st_size // 1024} KiB)")


def bench(n, path):
    raise SystemExit("bench: not yet")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--bench":
        bench(int(sys.argv[2]), pathlib.Path(sys.argv[3]))
    else:
        write_verdicts()
