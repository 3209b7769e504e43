//! The statistics behind drift verdicts, checked against scipy and statsmodels
//! (`scripts/drift_reference.py` wrote `tests/fixtures/drift_reference.json`).
//!
//! Formulas follow `shared/reference/drift-statistics.md`.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// z for a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A closed interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// The standard normal CDF (Φ), via the complementary error function.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// The standard normal quantile (Φ⁻¹), Acklam's rational approximation refined by one
/// Halley step: accurate to ~1e-15 over (0, 1).
pub fn normal_ppf(p: f64) -> f64 {
    assert!(p > 0.0 && p < 1.0, "quantile of {p}");
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    // One Halley step on Φ(x) − p.
    let e = normal_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// Wilson score interval for x events in n trials.
pub fn wilson(x: u64, n: u64) -> Interval {
    if n == 0 {
        return Interval {
            low: 0.0,
            high: 1.0,
        };
    }
    let (n, p) = (n as f64, x as f64 / n as f64);
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    Interval {
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    }
}

/// Newcombe's hybrid score interval for p₁ − p₂ (candidate minus baseline).
pub fn newcombe(x1: u64, n1: u64, x2: u64, n2: u64) -> Interval {
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let (w1, w2) = (wilson(x1, n1), wilson(x2, n2));
    let d = p1 - p2;
    Interval {
        low: d - ((p1 - w1.low).powi(2) + (w2.high - p2).powi(2)).sqrt(),
        high: d + ((w1.high - p1).powi(2) + (p2 - w2.low).powi(2)).sqrt(),
    }
}

/// ln of n choose k.
fn ln_choose(n: u64, k: u64) -> f64 {
    ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
}

fn ln_factorial(n: u64) -> f64 {
    libm::lgamma(n as f64 + 1.0)
}

/// Two-sided p-value of Fisher's exact test on the 2×2 table
/// [[x1, n1 − x1], [x2, n2 − x2]], as scipy computes it: the probability of every table
/// with the same margins no more likely than the observed one.
pub fn fisher_exact(x1: u64, n1: u64, x2: u64, n2: u64) -> f64 {
    let events = x1 + x2;
    let n = n1 + n2;
    let lo = events.saturating_sub(n2);
    let hi = events.min(n1);
    let ln_p = |a: u64| ln_choose(n1, a) + ln_choose(n2, events - a) - ln_choose(n, events);
    let observed = ln_p(x1);
    // Relative tolerance as in scipy, so ties in probability count as "as extreme".
    let threshold = observed + 1e-7_f64.ln_1p();
    (lo..=hi)
        .map(ln_p)
        .filter(|lp| *lp <= threshold)
        .map(f64::exp)
        .sum::<f64>()
        .min(1.0)
}

/// Two-sided p-value of the pooled two-proportion z-test.
pub fn two_proportion_p(x1: u64, n1: u64, x2: u64, n2: u64) -> f64 {
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let pooled = (x1 + x2) as f64 / (n1f + n2f);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f)).sqrt();
    if se == 0.0 {
        return 1.0;
    }
    let z = (x1 as f64 / n1f - x2 as f64 / n2f) / se;
    2.0 * (1.0 - normal_cdf(z.abs()))
}

/// Requests needed per arm to detect a rise from `p` to `p + delta` at two-sided level
/// `alpha` with the given power.
pub fn min_sample_rate(p: f64, delta: f64, alpha: f64, power: f64) -> u64 {
    let p = p.clamp(1e-4, 1.0 - delta - 1e-4);
    let pbar = p + delta / 2.0;
    let za = normal_ppf(1.0 - alpha / 2.0);
    let zb = normal_ppf(power);
    let num = za * (2.0 * pbar * (1.0 - pbar)).sqrt()
        + zb * (p * (1.0 - p) + (p + delta) * (1.0 - p - delta)).sqrt();
    (num * num / (delta * delta)).ceil() as u64
}

/// Mann–Whitney U test (asymptotic, tie-corrected, continuity-corrected, two-sided).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MannWhitney {
    /// U of the first sample (the candidate).
    pub u: f64,
    pub p_value: f64,
    /// P(candidate > baseline) + ½ P(tie): above ½ means the candidate is larger.
    pub effect: f64,
}

pub fn mann_whitney(x: &[f64], y: &[f64]) -> MannWhitney {
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    let mut all: Vec<(f64, bool)> = x
        .iter()
        .map(|v| (*v, true))
        .chain(y.iter().map(|v| (*v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut rank_sum_x, mut tie_term) = (0.0, 0.0);
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        rank_sum_x += avg_rank * all[i..=j].iter().filter(|(_, is_x)| *is_x).count() as f64;
        i = j + 1;
    }
    let n = n1 + n2;
    let u = rank_sum_x - n1 * (n1 + 1.0) / 2.0;
    let mu = n1 * n2 / 2.0;
    let sigma = (n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))).sqrt();
    let p_value = if sigma == 0.0 {
        1.0
    } else {
        let diff = u - mu;
        let z = (diff - 0.5 * diff.signum()).abs().max(0.0) / sigma;
        (2.0 * (1.0 - normal_cdf(z))).min(1.0)
    };
    MannWhitney {
        u,
        p_value,
        effect: u / (n1 * n2),
    }
}

/// Largest arm used for pairwise and resampling statistics; larger arms are
/// subsampled with a fixed seed (and reports say so).
pub const SUBSAMPLE: usize = 2_000;

/// A fixed-seed subsample of at most `max` values (all of them when fewer).
pub fn subsample(values: &[f64], max: usize, seed: u64) -> Vec<f64> {
    if values.len() <= max {
        return values.to_vec();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..max)
        .map(|_| values[rng.random_range(0..values.len())])
        .collect()
}

/// Hodges–Lehmann shift: the median of all pairwise differences xᵢ − yⱼ.
pub fn hodges_lehmann(x: &[f64], y: &[f64]) -> f64 {
    let mut diffs: Vec<f64> = x
        .iter()
        .flat_map(|a| y.iter().map(move |b| a - b))
        .collect();
    median(&mut diffs)
}

pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Quantile with linear interpolation between order statistics (numpy's default).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, frac) = (pos.floor() as usize, pos.fract());
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// What a sample is summarised by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Statistic {
    Mean,
    P50,
    P95,
    P99,
}

impl Statistic {
    /// The statistic of an unsorted sample, reordering it (linear time).
    pub fn of_unsorted(self, values: &mut [f64]) -> f64 {
        let q = match self {
            Statistic::Mean => return values.iter().sum::<f64>() / values.len() as f64,
            Statistic::P50 => 0.50,
            Statistic::P95 => 0.95,
            Statistic::P99 => 0.99,
        };
        let pos = q * (values.len() - 1) as f64;
        let lo = pos.floor() as usize;
        let (_, a, above) = values.select_nth_unstable_by(lo, f64::total_cmp);
        let a = *a;
        let b = above.iter().copied().reduce(f64::min).unwrap_or(a);
        a + (b - a) * pos.fract()
    }

    /// The statistic of a sorted sample.
    pub fn of(self, sorted: &[f64]) -> f64 {
        match self {
            Statistic::Mean => sorted.iter().sum::<f64>() / sorted.len() as f64,
            Statistic::P50 => quantile(sorted, 0.50),
            Statistic::P95 => quantile(sorted, 0.95),
            Statistic::P99 => quantile(sorted, 0.99),
        }
    }

    /// Samples per arm below which the statistic is not judged (a tail needs about
    /// ten observations beyond it).
    pub fn min_sample(self) -> usize {
        match self {
            Statistic::Mean | Statistic::P50 => 30,
            Statistic::P95 => 200,
            Statistic::P99 => 1_000,
        }
    }
}

/// A bootstrap of statistic(candidate) / statistic(baseline).
#[derive(Debug, Clone, PartialEq)]
pub struct Bootstrap {
    /// Percentile 95 % interval.
    pub interval: Interval,
    /// The resampled ratios, sorted.
    ratios: Vec<f64>,
}

impl Bootstrap {
    /// One-sided p-value against "the ratio is at most `limit`": small when the
    /// resampled ratios lie above it.
    pub fn p_above(&self, limit: f64) -> f64 {
        let at_most = self.ratios.partition_point(|r| *r <= limit);
        (at_most + 1) as f64 / (self.ratios.len() + 1) as f64
    }

    /// One-sided p-value against "the ratio is at least `limit`".
    pub fn p_below(&self, limit: f64) -> f64 {
        let at_least = self.ratios.len() - self.ratios.partition_point(|r| *r < limit);
        (at_least + 1) as f64 / (self.ratios.len() + 1) as f64
    }
}

/// Percentile bootstrap of statistic(candidate) / statistic(baseline), with a fixed
/// seed so the same data always gives the same interval.
pub fn bootstrap_ratio(
    x: &[f64],
    y: &[f64],
    stat: Statistic,
    resamples: usize,
    seed: u64,
) -> Bootstrap {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut resample = |v: &[f64], buf: &mut Vec<f64>| {
        buf.clear();
        buf.extend((0..v.len()).map(|_| v[rng.random_range(0..v.len())]));
        stat.of_unsorted(buf)
    };
    let (mut bx, mut by) = (Vec::with_capacity(x.len()), Vec::with_capacity(y.len()));
    let mut ratios: Vec<f64> = (0..resamples)
        .map(|_| {
            let (a, b) = (resample(x, &mut bx), resample(y, &mut by));
            if b > 0.0 { a / b } else { f64::INFINITY }
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    Bootstrap {
        interval: Interval {
            low: quantile(&ratios, 0.025),
            high: quantile(&ratios, 0.975),
        },
        ratios,
    }
}

/// Population stability index of `actual` (candidate) against `expected` (baseline),
/// with bins at the baseline's deciles and shares floored at 1e-6.
pub fn psi(actual: &[f64], expected: &[f64]) -> f64 {
    let mut sorted = expected.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut edges: Vec<f64> = (1..10)
        .map(|i| quantile(&sorted, i as f64 / 10.0))
        .collect();
    edges.dedup();
    let shares = |v: &[f64]| {
        let mut counts = vec![0usize; edges.len() + 1];
        for x in v {
            // Right-closed bins: a value equal to an edge falls in the lower bin.
            counts[edges.partition_point(|e| e < x)] += 1;
        }
        counts
            .into_iter()
            .map(|c| (c as f64 / v.len() as f64).max(1e-6))
            .collect::<Vec<_>>()
    };
    let (a, e) = (shares(actual), shares(expected));
    a.iter().zip(&e).map(|(a, e)| (a - e) * (a / e).ln()).sum()
}

/// Holm's step-down adjusted p-values, in the input's order.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p_values[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// One-sided CUSUM for an upward shift of a bucketed series above `mu0`: the index of
/// the bucket where the shift began, or `None` without an alarm. `k` is half the shift
/// worth detecting; the alarm sounds when the sum exceeds `threshold` (a few standard
/// deviations of a bucket's value under no change). Empty buckets are skipped.
pub fn cusum_onset(series: &[Option<f64>], mu0: f64, k: f64, threshold: f64) -> Option<usize> {
    let (mut s, mut last_zero) = (0.0_f64, 0usize);
    for (t, x) in series.iter().enumerate() {
        let Some(x) = x else { continue };
        s = (s + x - mu0 - k).max(0.0);
        if s == 0.0 {
            last_zero = t + 1;
        } else if s > threshold {
            return Some(last_zero.min(t));
        }
    }
    None
}

#[cfg(test)]
mod tests;
