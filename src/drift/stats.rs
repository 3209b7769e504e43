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
    wilson_p(x as f64 / n as f64, n as f64)
}

/// Wilson's interval for an observed share `p` of `n` trials (n may be fractional).
fn wilson_p(p: f64, n: f64) -> Interval {
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

/// The fewest observations per arm at which a rate judged against `margin` can come
/// out ok: with both arms at rate `p` (no change at all), the smallest n whose
/// Newcombe interval lies wholly below the margin. `None` when no n can (a margin of
/// zero). Below it, "ok" is impossible whatever the data; above it, possible.
pub fn min_n_ok_rate(p: f64, margin: f64) -> Option<u64> {
    if margin.is_nan() || margin <= 0.0 {
        return None;
    }
    let p = p.clamp(0.0, 1.0);
    let upper = |n: u64| {
        let w = wilson_p(p, n as f64);
        ((w.high - p).powi(2) + (p - w.low).powi(2)).sqrt()
    };
    let (mut lo, mut hi) = (1u64, 1u64 << 40);
    if upper(hi) >= margin {
        return None;
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if upper(mid) < margin {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(lo)
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
    mann_whitney_sorted(&sorted_copy(x), &sorted_copy(y))
}

/// Mann–Whitney of two sorted samples: one merge, O(n + m).
pub fn mann_whitney_sorted(x: &[f64], y: &[f64]) -> MannWhitney {
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    let (mut i, mut j, mut below) = (0usize, 0usize, 0usize);
    let (mut rank_sum_x, mut tie_term) = (0.0, 0.0);
    while i < x.len() || j < y.len() {
        let v = match (x.get(i), y.get(j)) {
            (Some(a), Some(b)) => {
                if a.total_cmp(b).is_le() {
                    *a
                } else {
                    *b
                }
            }
            (Some(a), None) => *a,
            (None, Some(b)) => *b,
            (None, None) => unreachable!(),
        };
        let (i0, j0) = (i, j);
        while i < x.len() && x[i] == v {
            i += 1;
        }
        while j < y.len() && y[j] == v {
            j += 1;
        }
        // A NaN equals nothing: rank it alone.
        if i == i0 && j == j0 {
            if x.get(i).is_some_and(|a| a.total_cmp(&v).is_eq()) {
                i += 1;
            } else {
                j += 1;
            }
        }
        let (tx, t) = ((i - i0) as f64, (i - i0 + j - j0) as f64);
        let avg_rank = below as f64 + (t + 1.0) / 2.0;
        tie_term += t * t * t - t;
        rank_sum_x += avg_rank * tx;
        below += (i - i0) + (j - j0);
    }
    let n = n1 + n2;
    let u = rank_sum_x - n1 * (n1 + 1.0) / 2.0;
    let mu = n1 * n2 / 2.0;
    let sigma = (n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))).sqrt();
    let p_value = if sigma == 0.0 || sigma.is_nan() {
        1.0
    } else {
        // Continuity-corrected as scipy: |U − μ| − ½, no evidence below zero.
        let z = ((u - mu).abs() - 0.5).max(0.0) / sigma;
        (2.0 * (1.0 - normal_cdf(z))).min(1.0)
    };
    MannWhitney {
        u,
        p_value,
        effect: u / (n1 * n2),
    }
}

/// Largest arm the pairwise shift (Hodges–Lehmann) runs on; a larger arm is replaced by
/// a fixed-seed subsample drawn *without* replacement (and the report says so). Every
/// other statistic runs on the full arms at any size.
pub const PAIRWISE_CAP: usize = 200_000;

/// A fixed-seed subsample of at most `max` values of a sorted arm, drawn without
/// replacement and returned sorted; the arm itself when it is no larger.
pub fn subsample_sorted(sorted: &[f64], max: usize, seed: u64) -> std::borrow::Cow<'_, [f64]> {
    if sorted.len() <= max {
        return std::borrow::Cow::Borrowed(sorted);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut picked = rand::seq::index::sample(&mut rng, sorted.len(), max).into_vec();
    picked.sort_unstable();
    std::borrow::Cow::Owned(picked.into_iter().map(|i| sorted[i]).collect())
}

/// What the two arms say as wholes, beside the statistic's ratio: Mann–Whitney and the
/// Hodges–Lehmann shift. Computed once per pair of arms and shared by every statistic
/// of those arms (latency p50, p95 and p99 share one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pairwise {
    pub mann_whitney: MannWhitney,
    /// Median of the pairwise differences candidate − baseline.
    pub shift: f64,
    /// The shift ran on subsamples (an arm above [`PAIRWISE_CAP`]).
    pub subsampled: bool,
}

impl Pairwise {
    /// Both arms sorted ascending.
    pub fn of_sorted(cand: &[f64], base: &[f64], seed: u64) -> Self {
        let (c, b) = (
            subsample_sorted(cand, PAIRWISE_CAP, seed),
            subsample_sorted(base, PAIRWISE_CAP, seed ^ 0x9e37_79b9_7f4a_7c15),
        );
        Self {
            mann_whitney: mann_whitney_sorted(cand, base),
            shift: hodges_lehmann_sorted(&c, &b),
            subsampled: c.len() < cand.len() || b.len() < base.len(),
        }
    }
}

/// Hodges–Lehmann shift: the median of all pairwise differences xᵢ − yⱼ.
pub fn hodges_lehmann(x: &[f64], y: &[f64]) -> f64 {
    hodges_lehmann_sorted(&sorted_copy(x), &sorted_copy(y))
}

fn sorted_copy(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

/// Hodges–Lehmann shift of two sorted samples without materialising the n·m
/// differences: a selection in the implicitly sorted matrix D(i, c) = xᵢ − y₍ₘ₋₁₋c₎,
/// which rises along rows and columns (floating-point subtraction is monotone, so the
/// differences compared are exactly the ones numpy's `subtract.outer` holds). The same
/// median as sorting all of them, in O((n + m) log(n·m)) time and O(n + m) memory.
pub fn hodges_lehmann_sorted(x: &[f64], y: &[f64]) -> f64 {
    let total = x.len() * y.len();
    if total == 0 {
        return f64::NAN;
    }
    let mut m = DiffMatrix::new(x, y);
    let mid = total / 2;
    if total % 2 == 1 {
        return m.kth(mid);
    }
    let a = m.kth(mid - 1);
    // The next order statistic: `a` again when it repeats, else the smallest difference
    // above it (the first one past each row's boundary).
    let le = m.count(a, false);
    let b = if le > mid {
        a
    } else {
        (0..x.len())
            .filter(|&i| m.bound[i] < y.len())
            .map(|i| m.at(i, m.bound[i]))
            .fold(f64::INFINITY, f64::min)
    };
    (a + b) / 2.0
}

/// The sorted differences of two sorted samples, never materialised.
struct DiffMatrix<'a> {
    x: &'a [f64],
    y: &'a [f64],
    /// Per row: the boundary the last [`DiffMatrix::count`] found.
    bound: Vec<usize>,
    rng: ChaCha8Rng,
}

impl<'a> DiffMatrix<'a> {
    fn new(x: &'a [f64], y: &'a [f64]) -> Self {
        Self {
            x,
            y,
            bound: vec![0; x.len()],
            rng: ChaCha8Rng::seed_from_u64(0x484c),
        }
    }

    fn at(&self, i: usize, c: usize) -> f64 {
        self.x[i] - self.y[self.y.len() - 1 - c]
    }

    /// How many differences are below `p` (`strict`) or at most `p`; leaves each row's
    /// count in `bound`. Rows rise, so the boundary only moves left: O(n + m).
    fn count(&mut self, p: f64, strict: bool) -> usize {
        let m = self.y.len();
        let mut c = m;
        let mut total = 0;
        for i in 0..self.x.len() {
            while c > 0 && {
                let d = self.at(i, c - 1);
                if strict { d >= p } else { d > p }
            } {
                c -= 1;
            }
            self.bound[i] = c;
            total += c;
        }
        total
    }

    /// The k-th smallest difference (0-based). Each round samples the differences still
    /// in play, takes two pivots that bracket the wanted rank, counts exactly around
    /// them and keeps only what lies between; once few remain they are selected
    /// directly. Pivots are differences in play, so each round removes at least one and
    /// the answer is exact whatever the sample.
    fn kth(&mut self, k: usize) -> f64 {
        let (n, m) = (self.x.len(), self.y.len());
        let mut lo = vec![0usize; n];
        let mut hi = vec![m; n];
        const SAMPLE: usize = 1024;
        let direct = (4 * (n + m)).max(1 << 14);
        let mut cum = vec![0usize; n];
        let mut kept = vec![0usize; n];
        loop {
            let below: usize = lo.iter().sum();
            let mut active = 0;
            for i in 0..n {
                active += hi[i] - lo[i];
                cum[i] = active;
            }
            let rank = k - below;
            if active <= direct {
                let mut left: Vec<f64> = Vec::with_capacity(active);
                for i in 0..n {
                    left.extend((lo[i]..hi[i]).map(|c| self.at(i, c)));
                }
                let (_, v, _) = left.select_nth_unstable_by(rank, f64::total_cmp);
                return *v;
            }
            let mut sample: Vec<f64> = (0..SAMPLE)
                .map(|_| {
                    let t = self.rng.random_range(0..active);
                    let i = cum.partition_point(|&c| c <= t);
                    let before = if i == 0 { 0 } else { cum[i - 1] };
                    self.at(i, lo[i] + t - before)
                })
                .collect();
            sample.sort_by(f64::total_cmp);
            let f = (rank as f64 + 0.5) / active as f64;
            let s = SAMPLE as f64;
            let gap = 3.0 * (s * f * (1.0 - f)).sqrt() + 1.0;
            let at = |q: f64| sample[(q.max(0.0) as usize).min(SAMPLE - 1)];
            let (p1, p2) = (at((s * f - gap).floor()), at((s * f + gap).ceil()));
            if k < self.count(p1, true) {
                for (h, b) in hi.iter_mut().zip(&self.bound) {
                    *h = (*h).min(*b);
                }
                continue;
            }
            if k < self.count(p1, false) {
                return p1;
            }
            kept.copy_from_slice(&self.bound);
            if k < self.count(p2, true) {
                for (((l, h), low), b) in lo.iter_mut().zip(&mut hi).zip(&kept).zip(&self.bound) {
                    *l = (*l).max(*low);
                    *h = (*h).min(*b);
                }
                continue;
            }
            if k < self.count(p2, false) {
                return p2;
            }
            for (l, b) in lo.iter_mut().zip(&self.bound) {
                *l = (*l).max(*b);
            }
        }
    }
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

    /// The quantile a statistic reads (`None` for the mean).
    pub fn quantile(self) -> Option<f64> {
        match self {
            Statistic::Mean => None,
            Statistic::P50 => Some(0.50),
            Statistic::P95 => Some(0.95),
            Statistic::P99 => Some(0.99),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Statistic::Mean => "mean",
            Statistic::P50 => "p50",
            Statistic::P95 => "p95",
            Statistic::P99 => "p99",
        }
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

/// A bootstrap of statistic(candidate) / statistic(baseline) for a quantile.
#[derive(Debug, Clone, PartialEq)]
pub struct Bootstrap {
    /// Percentile 95 % interval.
    pub interval: Interval,
    /// Monte Carlo standard errors of the interval's ends: how far another seed would
    /// typically move them, read off the resampled ratios' own order statistics (an
    /// estimate; coarse where the ratios take few distinct values).
    pub mc_low: f64,
    pub mc_high: f64,
    /// The resampled ratios, sorted.
    ratios: Vec<f64>,
}

impl Bootstrap {
    pub fn resamples(&self) -> usize {
        self.ratios.len()
    }

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

    /// Whether another seed could move an end of the 95 % interval across `limit`: the
    /// share of resampled ratios at or below the limit lies within `k` Monte Carlo
    /// standard errors (binomial, √(0.025·0.975/B)) of 2.5 % or of 97.5 %. A count, so
    /// it holds however discrete the resampled ratios are.
    pub fn limit_within_mc_error(&self, limit: f64, k: f64) -> bool {
        let b = self.ratios.len() as f64;
        let below = self.ratios.partition_point(|r| *r < limit) as f64;
        let at_most = self.ratios.partition_point(|r| *r <= limit) as f64;
        let share = (below + at_most) / 2.0 / b;
        let se = (0.025 * 0.975 / b).sqrt();
        (share - 0.025).abs() <= k * se || (share - 0.975).abs() <= k * se
    }

    /// Monte Carlo standard error of a p-value this bootstrap gave.
    pub fn p_mc_error(&self, p: f64) -> f64 {
        (p * (1.0 - p) / self.ratios.len() as f64).sqrt()
    }

    /// Share of resamples whose baseline statistic was 0 while the candidate's was not
    /// (an unbounded ratio).
    pub fn unbounded_share(&self) -> f64 {
        let inf = self.ratios.len() - self.ratios.partition_point(|r| r.is_finite());
        inf as f64 / self.ratios.len() as f64
    }
}

/// The percentile bootstrap of quantile(candidate, q) / quantile(baseline, q) on the
/// full arms (both sorted ascending), without building a single resample.
///
/// numpy's quantile of a resample of n is its order statistic k = ⌊q(n − 1)⌋ + 1,
/// interpolated towards the next one. A resample is xᵢ = x₍⌈n·Uᵢ⌉₎ for iid uniforms,
/// and that map is monotone, so its k-th order statistic is x₍⌈n·U₍ₖ₎⌉₎ where U₍ₖ₎,
/// the k-th of n uniforms, is Beta(k, n + 1 − k); the next is U₍ₖ₎ + (1 − U₍ₖ₎)·B with
/// B ~ Beta(1, n − k). Drawing those two is drawing the resample's quantile exactly, in
/// O(1) instead of O(n): the same distribution as resampling, at any arm size, with
/// a fixed seed so the same data always gives the same interval.
pub fn bootstrap_quantile_ratio(
    x: &[f64],
    y: &[f64],
    q: f64,
    resamples: usize,
    seed: u64,
) -> Bootstrap {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (qx, qy) = (ResampledQuantile::new(x, q), ResampledQuantile::new(y, q));
    let mut ratios: Vec<f64> = (0..resamples.max(1))
        .map(|_| {
            let (a, b) = (qx.draw(&mut rng), qy.draw(&mut rng));
            if b > 0.0 {
                a / b
            } else if a == 0.0 {
                // 0 / 0: both resamples at zero, no change.
                1.0
            } else {
                f64::INFINITY
            }
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let b = ratios.len() as f64;
    // One standard error of an empirical quantile of the B ratios, read off the order
    // statistics one binomial standard deviation either side of it.
    let mc = |level: f64| {
        let d = (level * (1.0 - level) / b).sqrt();
        let (lo, hi) = ((level - d).max(0.0), (level + d).min(1.0));
        let spread = quantile(&ratios, hi) - quantile(&ratios, lo);
        if spread.is_finite() {
            spread / 2.0
        } else {
            f64::INFINITY
        }
    };
    Bootstrap {
        interval: Interval {
            low: quantile(&ratios, 0.025),
            high: quantile(&ratios, 0.975),
        },
        mc_low: mc(0.025),
        mc_high: mc(0.975),
        ratios,
    }
}

/// Draws the q-quantile of a resample of a sorted arm (see [`bootstrap_quantile_ratio`]).
struct ResampledQuantile<'a> {
    sorted: &'a [f64],
    /// 1-based order statistic and the interpolation weight towards the next one.
    k: usize,
    frac: f64,
}

impl<'a> ResampledQuantile<'a> {
    fn new(sorted: &'a [f64], q: f64) -> Self {
        let pos = q * (sorted.len() - 1) as f64;
        Self {
            sorted,
            k: pos.floor() as usize + 1,
            frac: pos.fract(),
        }
    }

    fn value_at(&self, u: f64) -> f64 {
        let n = self.sorted.len();
        let index = ((u * n as f64).ceil() as usize).clamp(1, n) - 1;
        self.sorted[index]
    }

    fn draw(&self, rng: &mut ChaCha8Rng) -> f64 {
        let n = self.sorted.len();
        let u = beta(rng, self.k as f64, (n + 1 - self.k) as f64);
        let a = self.value_at(u);
        if self.frac == 0.0 || self.k >= n {
            return a;
        }
        // The next of the n uniforms: U₍ₖ₎ + (1 − U₍ₖ₎)·Beta(1, n − k).
        let v: f64 = 1.0 - rng.random::<f64>();
        let step = -(v.ln() / (n - self.k) as f64).exp_m1();
        let b = self.value_at(u + (1.0 - u) * step);
        a + (b - a) * self.frac
    }
}

/// A standard normal variate (Marsaglia's polar method).
fn std_normal(rng: &mut ChaCha8Rng) -> f64 {
    loop {
        let u = 2.0 * rng.random::<f64>() - 1.0;
        let v = 2.0 * rng.random::<f64>() - 1.0;
        let s = u * u + v * v;
        if s > 0.0 && s < 1.0 {
            return u * (-2.0 * s.ln() / s).sqrt();
        }
    }
}

/// A Gamma(shape, 1) variate for shape ≥ 1 (Marsaglia and Tsang, 2000).
fn gamma(rng: &mut ChaCha8Rng, shape: f64) -> f64 {
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = std_normal(rng);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u: f64 = rng.random();
        if u < 1.0 - 0.0331 * x.powi(4) || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
            return d * v;
        }
    }
}

/// A Beta(a, b) variate for a, b ≥ 1.
fn beta(rng: &mut ChaCha8Rng, a: f64, b: f64) -> f64 {
    let x = gamma(rng, a);
    let y = gamma(rng, b);
    x / (x + y)
}

/// The ratio of two independent means with Fieller's interval: the set of ratios r
/// for which mean(x) − r·mean(y) is within z·se of zero. Exact when the means are
/// normal (as the bootstrap of a mean also assumes at these sizes); no resampling, no
/// seed. The p-values are the z-tests of the same difference at a given limit, so an
/// interval that excludes the limit and p < 0.025 are one and the same statement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanRatio {
    pub current: f64,
    pub baseline: f64,
    /// Variances of the two means (s² / n).
    pub var_current: f64,
    pub var_baseline: f64,
    /// `None` when the baseline's mean is not distinguishable from zero: no bounded
    /// interval exists.
    pub interval: Option<Interval>,
}

fn mean_and_var_of_mean(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, 0.0);
    }
    let ss: f64 = v.iter().map(|x| (x - mean) * (x - mean)).sum();
    (mean, ss / (n - 1.0) / n)
}

impl MeanRatio {
    pub fn of(x: &[f64], y: &[f64]) -> Self {
        let (mc, vc) = mean_and_var_of_mean(x);
        let (mb, vb) = mean_and_var_of_mean(y);
        let z2 = Z95 * Z95;
        let a = mb * mb - z2 * vb;
        let interval = (a > 0.0).then(|| {
            let root = Z95 * (vc * a + vb * mc * mc).sqrt();
            Interval {
                low: (mc * mb - root) / a,
                high: (mc * mb + root) / a,
            }
        });
        Self {
            current: mc,
            baseline: mb,
            var_current: vc,
            var_baseline: vb,
            interval,
        }
    }

    /// z of mean(x) − limit·mean(y).
    fn z(&self, limit: f64) -> f64 {
        let se = (self.var_current + limit * limit * self.var_baseline).sqrt();
        (self.current - limit * self.baseline) / se
    }

    /// One-sided p-value against "the ratio is at most `limit`".
    pub fn p_above(&self, limit: f64) -> f64 {
        normal_cdf(-self.z(limit))
    }

    /// One-sided p-value against "the ratio is at least `limit`".
    pub fn p_below(&self, limit: f64) -> f64 {
        normal_cdf(self.z(limit))
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
