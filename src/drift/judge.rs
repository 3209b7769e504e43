//! One verdict per signal from the two arms' numbers: never a pass on too little data,
//! never an alarm without both statistical and practical significance, never a verdict
//! that another seed would turn (beyond the Monte Carlo error it states).

use serde::Serialize;

use super::catalogue::Worse;
use super::stats::{self, Interval, MeanRatio, Pairwise, Statistic};

/// A signal's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Within its limit, or (with `excluded`) nothing to judge.
    Ok,
    /// Inconclusive, or significant but not beyond the practical threshold after Holm.
    Warn,
    /// Too little data to say either way.
    Insufficient,
    Fail,
}

/// Why a signal stands outside Holm's family and the overall verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exclusion {
    /// `not_applicable` (no data in either arm, or 0 in both) or `same_as` (the same
    /// counts or values as an earlier signal: the same question asked twice).
    pub why: &'static str,
    /// For `same_as`: the signal that asks it.
    pub same_as: Option<String>,
    pub text: String,
}

/// Monte Carlo standard errors of a bootstrap's figures: how far another seed would
/// typically move them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MonteCarlo {
    pub p_value: f64,
    pub low: f64,
    pub high: f64,
}

/// The numbers behind one verdict. Every number is finite: what has none is `None`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    pub verdict: Verdict,
    pub reason: String,
    pub n_candidate: u64,
    pub n_baseline: u64,
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    /// Rates: candidate minus baseline; samples: candidate / baseline (none on a zero
    /// baseline); distributions: PSI.
    pub delta: Option<f64>,
    pub threshold: f64,
    /// 95 % interval of `delta` (none for distributions, and where it is unbounded).
    pub interval: Option<Interval>,
    pub p_value: Option<f64>,
    /// After Holm's correction across this verdict's distinct questions.
    pub p_holm: Option<f64>,
    /// How many more observations per arm a verdict needs.
    pub need_more: Option<u64>,
    /// Rates: the fewest observations per arm at which an ok is possible at the
    /// baseline's rate (below it the interval cannot lie within the margin).
    pub min_n_ok: Option<u64>,
    /// Samples: the Hodges–Lehmann shift (candidate − baseline).
    pub shift: Option<f64>,
    /// Samples: P(candidate > baseline).
    pub effect: Option<f64>,
    /// Samples: Mann–Whitney's two-sided p-value (a shift of the whole distribution;
    /// evidence beside `p_value`, which tests the statistic against its limit).
    pub mann_whitney_p: Option<f64>,
    /// The Hodges–Lehmann shift ran on subsamples without replacement (an arm above
    /// `stats::PAIRWISE_CAP`); every other figure ran on the full arms.
    pub subsampled: bool,
    /// How the interval was found: `newcombe` (rates), `bootstrap` (quantiles: the
    /// percentile bootstrap on the full arms), `fieller` (means).
    pub method: Option<&'static str>,
    /// Bootstrap resamples drawn: the configured count, or more when the verdict sat
    /// within the Monte Carlo error of its limit.
    pub resamples: Option<usize>,
    /// The bootstrap's Monte Carlo standard errors.
    pub monte_carlo: Option<MonteCarlo>,
    /// Samples: the absolute floor beside the ratio (latencies: `min_delta_ms`); the
    /// limit judged is the larger of the ratio and 1 + floor / baseline.
    pub floor: Option<f64>,
    /// Set when the signal is not one of the verdict's questions.
    pub excluded: Option<Exclusion>,
}

impl Judgement {
    fn new(verdict: Verdict, reason: String, n: (u64, u64), threshold: f64) -> Self {
        Self {
            verdict,
            reason,
            n_candidate: n.0,
            n_baseline: n.1,
            baseline: None,
            current: None,
            delta: None,
            threshold,
            interval: None,
            p_value: None,
            p_holm: None,
            need_more: None,
            min_n_ok: None,
            shift: None,
            effect: None,
            mann_whitney_p: None,
            subsampled: false,
            method: None,
            resamples: None,
            monte_carlo: None,
            floor: None,
            excluded: None,
        }
    }

    /// Nothing to judge: ok, outside the family and the overall verdict.
    fn not_applicable(text: String, n: (u64, u64), threshold: f64) -> Self {
        let mut j = Self::new(Verdict::Ok, text.clone(), n, threshold);
        j.excluded = Some(Exclusion {
            why: "not_applicable",
            same_as: None,
            text,
        });
        j
    }

    pub fn is_excluded(&self) -> bool {
        self.excluded.is_some()
    }

    /// Marks this judgement as asking the same question as `name` (`label` in text).
    pub fn same_as(&mut self, name: &str, label: &str) {
        self.reason = format!("same as {label}: {}", self.reason);
        self.excluded = Some(Exclusion {
            why: "same_as",
            same_as: Some(name.to_string()),
            text: format!("same as {label}"),
        });
    }

    /// Drops every non-finite number (none should be left; this is the guarantee).
    fn finite(mut self) -> Self {
        let keep = |v: Option<f64>| v.filter(|x| x.is_finite());
        self.baseline = keep(self.baseline);
        self.current = keep(self.current);
        self.delta = keep(self.delta);
        self.p_value = keep(self.p_value);
        self.shift = keep(self.shift);
        self.effect = keep(self.effect);
        self.mann_whitney_p = keep(self.mann_whitney_p);
        self.floor = keep(self.floor);
        self.interval = self
            .interval
            .filter(|i| i.low.is_finite() && i.high.is_finite());
        self.monte_carlo = self
            .monte_carlo
            .filter(|m| m.p_value.is_finite() && m.low.is_finite() && m.high.is_finite());
        if !self.threshold.is_finite() {
            self.threshold = 0.0;
        }
        self
    }
}

/// Test settings shared by the signals of one verdict.
#[derive(Debug, Clone, Copy)]
pub struct Levels {
    pub alpha: f64,
    pub power: f64,
    pub resamples: usize,
    pub seed: u64,
    /// Latencies: the absolute difference (ms) below which no ratio is a finding.
    pub min_delta_ms: f64,
}

/// The default `min_delta_ms`: a latency must move by at least a millisecond to count.
pub const DEFAULT_MIN_DELTA_MS: f64 = 1.0;

/// The most resamples a bootstrap grows to when its verdict sits within the Monte
/// Carlo error of the limit.
pub const MAX_RESAMPLES: usize = 100_000;

/// The largest Holm family the p-value's precision plans for: a failing quantile's
/// bootstrap p-value is refined until it clears alpha / this (or reaches the cap).
pub const HOLM_FAMILY_MAX: usize = 32;

/// How many Monte Carlo standard errors the limit's bootstrap tail share must clear
/// 2.5 % (97.5 %) by for the verdict to stand whatever the seed.
const MC_CLEARANCE: f64 = 3.0;

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

fn pp(x: f64) -> String {
    format!("{:+.2} pp", x * 100.0)
}

/// `×1.23`, or `unbounded` where there is no finite ratio.
pub fn times(x: f64) -> String {
    if x.is_finite() {
        format!("×{x:.2}")
    } else {
        "unbounded".into()
    }
}

/// A value in text, never `inf` or `NaN`.
fn num(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x.abs() >= 100.0 || x == 0.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        // Three significant digits: 0.05, 0.000237.
        let decimals = (2 - x.abs().log10().floor() as i32).max(0) as usize;
        format!("{x:.decimals$}")
    }
}

/// Rates: the Newcombe interval of the difference against the margin.
///
/// Fail when the interval lies wholly above the margin; ok when it lies wholly below
/// (an equivalence answered, whatever the planned sample size: Newcombe's interval keeps
/// its coverage at small n); only an interval that straddles the margin is inconclusive,
/// and insufficient while the arms are smaller than the planned sample. No trials in
/// either arm, or no events in either, leave nothing to test: not applicable (or ok
/// when even so the interval clears the margin), and no p-value joins Holm's family
/// (with no events Fisher's p is 1 whatever the sizes).
pub fn rate(
    cand: (u64, u64),
    base: (u64, u64),
    margin: f64,
    (events, noun): (&str, &str),
    lv: Levels,
) -> Judgement {
    let ((x1, n1), (x2, n2)) = (cand, base);
    let ns = (n1, n2);
    if n1 == 0 && n2 == 0 {
        return Judgement::not_applicable(
            format!("not applicable: no {noun} in either arm"),
            ns,
            margin,
        );
    }
    if n1 == 0 || n2 == 0 {
        let arm = if n1 == 0 { "candidate" } else { "baseline" };
        let mut j = Judgement::new(
            Verdict::Insufficient,
            format!("no {noun} in the {arm}"),
            ns,
            margin,
        );
        j.need_more = Some(stats::min_sample_rate(0.01, margin, lv.alpha, lv.power));
        return j;
    }
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let iv = stats::newcombe(x1, n1, x2, n2);
    let pooled = (x1 + x2) as f64 / (n1 + n2) as f64;
    let small = (n1.min(n2) as f64) * pooled < 10.0;
    let p_value = if small {
        stats::fisher_exact(x1, n1, x2, n2)
    } else {
        stats::two_proportion_p(x1, n1, x2, n2)
    };
    let none_either = x1 == 0 && x2 == 0;
    let need = stats::min_sample_rate(p2, margin, lv.alpha, lv.power);
    let min_ok = stats::min_n_ok_rate(p2, margin);
    let n = n1.min(n2);
    let span = format!(
        "{} → {} ({}, 95% CI {}..{})",
        pct(p2),
        pct(p1),
        pp(p1 - p2),
        pp(iv.low),
        pp(iv.high)
    );
    let ok_from = match min_ok {
        Some(m) => format!("an ok needs at least {m} {noun} per arm at this rate"),
        None => format!("no sample size allows an ok within a {} margin", pp(margin)),
    };
    let mut need_more = None;
    let (verdict, reason) = if iv.low > margin {
        (
            Verdict::Fail,
            format!("{span} lies above the {} margin", pp(margin)),
        )
    } else if iv.high < margin {
        let none = if none_either {
            format!("no {events} in either arm; ")
        } else {
            String::new()
        };
        (
            Verdict::Ok,
            format!("{none}{span} stays below the {} margin", pp(margin)),
        )
    } else if none_either {
        let text = format!(
            "not applicable: no {events} in either arm ({x1} of {n1} vs {x2} of {n2}); {ok_from}"
        );
        let mut j = Judgement::not_applicable(text, ns, margin);
        j.baseline = Some(p2);
        j.current = Some(p1);
        j.delta = Some(0.0);
        j.min_n_ok = min_ok;
        j.method = Some("newcombe");
        return j.finite();
    } else if n < need.max(min_ok.unwrap_or(0)) {
        let target = need.max(min_ok.unwrap_or(0));
        let more = target - n;
        need_more = Some(more);
        (
            Verdict::Insufficient,
            format!(
                "{span} straddles the {} margin; {ok_from}, and a {} rise is told apart at \
                 {need} per arm: about {more} more {noun} per arm",
                pp(margin),
                pp(margin)
            ),
        )
    } else {
        (
            Verdict::Warn,
            format!("{span} straddles the {} margin: inconclusive", pp(margin)),
        )
    };
    let mut j = Judgement::new(verdict, reason, ns, margin);
    j.baseline = Some(p2);
    j.current = Some(p1);
    j.delta = Some(p1 - p2);
    j.interval = Some(iv);
    j.p_value = (!none_either).then_some(p_value);
    j.need_more = need_more;
    j.min_n_ok = min_ok;
    j.method = Some("newcombe");
    j.finite()
}

/// What a sample signal is judged by.
#[derive(Debug, Clone, Copy)]
pub struct SampleRule<'a> {
    pub stat: Statistic,
    pub worse: Worse,
    /// The allowed candidate / baseline ratio of the statistic (e.g. 1.2).
    pub ratio: f64,
    /// An absolute floor beside the ratio, in the sample's unit (higher-is-worse only).
    pub floor: Option<f64>,
    /// What one observation is ("requests", "retrieval spans").
    pub noun: &'a str,
}

/// Samples: the statistic's ratio against the allowed ratio (and floor), with
/// Mann–Whitney for a shift of the whole distribution and Hodges–Lehmann for its size.
///
/// Quantiles: the percentile bootstrap on the full arms (`stats::bootstrap_quantile_ratio`),
/// grown from the configured resamples up to [`MAX_RESAMPLES`] while an interval end
/// lies within a few Monte Carlo errors of the limit (still there, the verdict is
/// inconclusive rather than a coin the seed tosses), and while a failure's p-value is
/// too coarse to say whether it survives Holm. Means: Fieller's interval, exact and
/// seed-free. `cand` and `base` should be sorted (they are sorted here if not);
/// `pairwise` (given both arms sorted) is asked for only when both arms are judged.
pub fn sample(
    cand: &[f64],
    base: &[f64],
    rule: SampleRule,
    lv: Levels,
    pairwise: impl FnOnce(&[f64], &[f64]) -> Pairwise,
) -> Judgement {
    let ns = (cand.len() as u64, base.len() as u64);
    let SampleRule {
        stat,
        worse,
        ratio,
        floor,
        noun,
    } = rule;
    if cand.is_empty() && base.is_empty() {
        return Judgement::not_applicable(
            format!("not applicable: no {noun} in either arm"),
            ns,
            ratio,
        );
    }
    let min = stat.min_sample();
    if cand.len() < min || base.len() < min {
        let more = (min - cand.len().min(base.len())) as u64;
        let mut j = Judgement::new(
            Verdict::Insufficient,
            format!(
                "a {} is judged on {min} {noun} per arm; need about {more} more",
                stat.name()
            ),
            ns,
            ratio,
        );
        j.need_more = Some(more);
        return j;
    }
    let cand = sorted(cand);
    let base = sorted(base);
    let (current, baseline) = (stat.of(&cand), stat.of(&base));
    let name = stat.name();
    if current == 0.0 && baseline == 0.0 {
        let mut j = Judgement::not_applicable(
            format!("not applicable: the {name} is 0 in both arms (nothing recorded)"),
            ns,
            ratio,
        );
        j.baseline = Some(0.0);
        j.current = Some(0.0);
        return j;
    }
    let floor = floor.filter(|f| *f > 0.0 && worse == Worse::Higher);
    let with_pairwise = |mut j: Judgement| {
        let pw = pairwise(&cand, &base);
        j.mann_whitney_p = Some(pw.mann_whitney.p_value);
        j.effect = Some(pw.mann_whitney.effect);
        j.shift = Some(pw.shift);
        j.subsampled = pw.subsampled;
        j.baseline = Some(baseline);
        j.current = Some(current);
        j.floor = floor;
        j.finite()
    };
    if baseline == 0.0 {
        // No ratio exists: say so, and judge what can be judged.
        let (verdict, reason) = match (worse, floor) {
            (Worse::Higher, Some(f)) if current <= f => (
                Verdict::Ok,
                format!(
                    "the baseline's {name} is 0 (no ratio); the candidate's {} is within the \
                     {} floor",
                    num(current),
                    num(f)
                ),
            ),
            (Worse::Higher, _) => (
                Verdict::Warn,
                format!(
                    "the baseline's {name} is 0, the candidate's {}: a zero baseline has no \
                     ratio to judge",
                    num(current)
                ),
            ),
            (Worse::Lower, _) => (
                Verdict::Ok,
                format!(
                    "the baseline's {name} is 0, the candidate's {}: a zero baseline has no \
                     ratio, and higher is better",
                    num(current)
                ),
            ),
        };
        return with_pairwise(Judgement::new(verdict, reason, ns, ratio));
    }
    let observed = current / baseline;
    // The practical limit on the ratio: the allowed ratio, or the floor, whichever is
    // further (the floor as a ratio of the observed baseline).
    let limit = match (worse, floor) {
        (Worse::Higher, Some(f)) => ratio.max((baseline + f) / baseline),
        (Worse::Higher, None) => ratio,
        (Worse::Lower, _) => 1.0 / ratio,
    };
    let floored = limit > ratio && worse == Worse::Higher;
    let limit_text = if floored {
        format!(
            "{} (the {} floor on a {} baseline)",
            times(limit),
            num(floor.unwrap_or(0.0)),
            num(baseline)
        )
    } else {
        times(limit)
    };
    let mut j = Judgement::new(Verdict::Warn, String::new(), ns, ratio);
    j.delta = Some(observed);
    let (iv, p_value, unsure) = match stat.quantile() {
        Some(q) => {
            let mut resamples = lv.resamples.max(1);
            let cap = MAX_RESAMPLES.max(resamples);
            loop {
                let boot = stats::bootstrap_quantile_ratio(&cand, &base, q, resamples, lv.seed);
                let iv = boot.interval;
                let unsure = boot.limit_within_mc_error(limit, MC_CLEARANCE);
                let p = match worse {
                    Worse::Higher => boot.p_above(limit),
                    Worse::Lower => boot.p_below(limit),
                };
                // A failure stands only if it survives Holm, whose threshold lies between
                // alpha / HOLM_FAMILY_MAX and alpha: grow until the p-value is known to
                // be on one side of that band, or is pinned within it.
                let failing = match worse {
                    Worse::Higher => iv.low > limit,
                    Worse::Lower => iv.high < limit,
                };
                let band = MC_CLEARANCE * boot.p_mc_error(p).max(1.0 / boot.resamples() as f64);
                let p_unsure =
                    failing && p - band < lv.alpha && p + band > lv.alpha / HOLM_FAMILY_MAX as f64;
                if (unsure || p_unsure) && resamples < cap {
                    resamples = (resamples * 4).min(cap);
                    continue;
                }
                j.method = Some("bootstrap");
                j.resamples = Some(boot.resamples());
                j.monte_carlo = Some(MonteCarlo {
                    p_value: boot.p_mc_error(p),
                    low: boot.mc_low,
                    high: boot.mc_high,
                });
                let bounded = iv.low.is_finite() && iv.high.is_finite();
                break (bounded.then_some(iv), Some(p), unsure);
            }
        }
        None => {
            let m = MeanRatio::of(&cand, &base);
            j.method = Some("fieller");
            if m.var_current == 0.0 && m.var_baseline == 0.0 {
                // Constant in both arms: the ratio is known exactly, and no test applies.
                let point = Interval {
                    low: observed,
                    high: observed,
                };
                (Some(point), None, false)
            } else {
                let p = match worse {
                    Worse::Higher => m.p_above(limit),
                    Worse::Lower => m.p_below(limit),
                };
                (m.interval, Some(p), false)
            }
        }
    };
    let span = match iv {
        Some(iv) if iv.low == iv.high => format!("{} (constant in both arms)", times(observed)),
        Some(iv) => format!(
            "{} (95% CI {}..{})",
            times(observed),
            times(iv.low),
            times(iv.high)
        ),
        None => format!("{} (95% CI unbounded)", times(observed)),
    };
    let (verdict, reason) = match (worse, iv) {
        (_, None) => (
            Verdict::Warn,
            format!("{span}: the baseline's {name} is too close to 0 for a bounded ratio"),
        ),
        (_, Some(_)) if unsure => (
            Verdict::Warn,
            format!(
                "{span} sits within the Monte Carlo error of {limit_text} even at {} \
                 resamples: inconclusive",
                j.resamples.unwrap_or(0)
            ),
        ),
        (Worse::Higher, Some(iv)) if iv.low > limit => {
            (Verdict::Fail, format!("{span} exceeds {limit_text}"))
        }
        (Worse::Higher, Some(iv)) if iv.high < limit => {
            (Verdict::Ok, format!("{span} stays under {limit_text}"))
        }
        (Worse::Lower, Some(iv)) if iv.high < limit => {
            (Verdict::Fail, format!("{span} falls below {limit_text}"))
        }
        (Worse::Lower, Some(iv)) if iv.low > limit => {
            (Verdict::Ok, format!("{span} stays above {limit_text}"))
        }
        _ => (
            Verdict::Warn,
            format!("{span} straddles the {limit_text} limit: inconclusive"),
        ),
    };
    j.verdict = verdict;
    j.reason = reason;
    j.interval = iv;
    j.p_value = p_value;
    with_pairwise(j)
}

fn sorted(v: &[f64]) -> std::borrow::Cow<'_, [f64]> {
    if v.is_sorted_by(|a, b| a.total_cmp(b).is_le()) {
        std::borrow::Cow::Borrowed(v)
    } else {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        std::borrow::Cow::Owned(s)
    }
}

/// Observations per arm a PSI needs: ten per decile bin.
pub const PSI_MIN_SAMPLE: usize = 100;

/// Distributions: PSI on the baseline's deciles, in bands.
pub fn distribution(cand: &[f64], base: &[f64], warn: f64, fail: f64, noun: &str) -> Judgement {
    let ns = (cand.len() as u64, base.len() as u64);
    if cand.is_empty() && base.is_empty() {
        return Judgement::not_applicable(
            format!("not applicable: no {noun} in either arm"),
            ns,
            warn,
        );
    }
    if cand.len() < PSI_MIN_SAMPLE || base.len() < PSI_MIN_SAMPLE {
        let more = (PSI_MIN_SAMPLE - cand.len().min(base.len())) as u64;
        let mut j = Judgement::new(
            Verdict::Insufficient,
            format!("PSI needs {PSI_MIN_SAMPLE} per arm; need about {more} more"),
            ns,
            warn,
        );
        j.need_more = Some(more);
        return j;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    if cand.iter().chain(base).all(|v| *v == 0.0) {
        let mut j = Judgement::not_applicable(
            "not applicable: 0 in every observation of both arms (nothing recorded)".into(),
            ns,
            warn,
        );
        j.baseline = Some(0.0);
        j.current = Some(0.0);
        return j;
    }
    let psi = stats::psi(cand, base);
    let (verdict, band) = if psi >= fail {
        (Verdict::Fail, "a major shift")
    } else if psi >= warn {
        (Verdict::Warn, "a moderate shift")
    } else {
        (Verdict::Ok, "stable")
    };
    let mut j = Judgement::new(
        verdict,
        format!("PSI {psi:.3}: {band} (bands {warn} / {fail})"),
        ns,
        warn,
    );
    j.baseline = Some(mean(base));
    j.current = Some(mean(cand));
    j.delta = Some(psi);
    j.finite()
}

/// Holm across the distinct questions (judgements with a p-value and no exclusion): a
/// failure that does not survive the correction becomes a warning, and says so.
pub fn apply_holm(judgements: &mut [&mut Judgement], alpha: f64) {
    let family: Vec<usize> = (0..judgements.len())
        .filter(|i| judgements[*i].p_value.is_some() && !judgements[*i].is_excluded())
        .collect();
    let p: Vec<f64> = family
        .iter()
        .map(|i| judgements[*i].p_value.unwrap_or(1.0))
        .collect();
    for (i, adjusted) in family.into_iter().zip(stats::holm(&p)) {
        holm_adjusted(judgements[i], adjusted, alpha);
    }
}

/// Sets the Holm-adjusted p-value (and downgrades a failure that does not survive it).
pub fn holm_adjusted(j: &mut Judgement, adjusted: f64, alpha: f64) {
    j.p_holm = Some(adjusted);
    if j.verdict == Verdict::Fail && adjusted >= alpha {
        j.verdict = Verdict::Warn;
        j.reason = format!(
            "{}, but not significant after Holm (p = {adjusted:.3})",
            j.reason
        );
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    const LV: Levels = Levels {
        alpha: 0.05,
        power: 0.8,
        resamples: 400,
        seed: 7,
        min_delta_ms: 1.0,
    };

    const REQ: (&str, &str) = ("refusals", "requests");

    fn rule(stat: Statistic, worse: Worse, ratio: f64) -> SampleRule<'static> {
        SampleRule {
            stat,
            worse,
            ratio,
            floor: None,
            noun: "requests",
        }
    }

    fn judge(cand: &[f64], base: &[f64], rule: SampleRule, lv: Levels) -> Judgement {
        sample(cand, base, rule, lv, |c, b| {
            Pairwise::of_sorted(c, b, lv.seed)
        })
    }

    #[test]
    fn a_clear_rise_fails_even_below_the_planned_sample() {
        let j = rate((170, 2100), (120, 5000), 0.01, REQ, LV);
        assert_eq!(j.verdict, Verdict::Fail, "{}", j.reason);
        assert!(j.interval.unwrap().low > 0.01);
    }

    #[test]
    fn no_change_with_enough_data_is_ok_and_without_it_insufficient() {
        let ok = rate((200, 10_000), (205, 10_000), 0.01, REQ, LV);
        assert_eq!(ok.verdict, Verdict::Ok, "{}", ok.reason);
        let few = rate((2, 100), (2, 100), 0.01, REQ, LV);
        assert_eq!(few.verdict, Verdict::Insufficient, "{}", few.reason);
        assert!(few.need_more.unwrap() > 1000);
        assert!(few.reason.contains("more requests"));
        assert!(
            few.reason.contains("an ok needs at least"),
            "{}",
            few.reason
        );
    }

    #[test]
    fn an_interval_within_the_margin_is_ok_below_the_planned_sample() {
        // 2 % vs 2 % at 3,000 per arm: the power plan asks for more, but the interval
        // already lies wholly below the +1 pp margin.
        let need = stats::min_sample_rate(0.02, 0.01, 0.05, 0.8);
        assert!(need > 3000, "{need}");
        let j = rate((60, 3000), (60, 3000), 0.01, REQ, LV);
        assert!(j.interval.unwrap().high < 0.01);
        assert_eq!(j.verdict, Verdict::Ok, "{}", j.reason);
        // The fewest per arm at which an ok is possible at 2 %, and it is: at that n
        // the interval of no change clears the margin, one fewer it does not.
        let m = j.min_n_ok.unwrap();
        assert!((1000..3000).contains(&m), "{m}");
        assert_eq!(stats::min_n_ok_rate(0.02, 0.0), None);
        // Straddling below the planned sample: insufficient, with both figures.
        let s = rate((66, 3000), (54, 3000), 0.01, REQ, LV);
        assert_eq!(s.verdict, Verdict::Insufficient, "{}", s.reason);
        let at_18 = s.min_n_ok.unwrap();
        assert!(
            at_18 < m,
            "a lower baseline rate needs fewer: {at_18} vs {m}"
        );
        assert!(
            s.reason.contains(&format!("at least {at_18} ")),
            "{}",
            s.reason
        );
    }

    #[test]
    fn no_events_in_either_arm_is_never_a_finding() {
        let few = rate((0, 40), (0, 50), 0.01, REQ, LV);
        assert_eq!(few.verdict, Verdict::Ok);
        assert_eq!(few.excluded.as_ref().unwrap().why, "not_applicable");
        assert!(
            few.reason.contains("no refusals in either arm"),
            "{}",
            few.reason
        );
        assert_eq!(few.p_value, None);
        let many = rate((0, 3000), (0, 3000), 0.01, REQ, LV);
        assert_eq!(many.verdict, Verdict::Ok, "{}", many.reason);
        assert!(many.excluded.is_none());
        assert_eq!(
            many.p_value, None,
            "a test with no events is out of Holm's family"
        );
        let none = rate((0, 0), (0, 0), 0.02, ("empty retrievals", "retrievals"), LV);
        assert_eq!(none.verdict, Verdict::Ok);
        assert!(none.reason.starts_with("not applicable: no retrievals"));
    }

    #[test]
    fn no_data_is_never_ok() {
        let j = rate((0, 0), (10, 500), 0.01, ("tool errors", "tool calls"), LV);
        assert_eq!(j.verdict, Verdict::Insufficient);
        let s = judge(
            &[],
            &[1.0; 300],
            rule(Statistic::P95, Worse::Higher, 1.2),
            LV,
        );
        assert_eq!(s.verdict, Verdict::Insufficient);
        let d = distribution(&[1.0; 50], &[1.0; 500], 0.1, 0.25, "requests");
        assert_eq!(d.verdict, Verdict::Insufficient);
        let both = judge(&[], &[], rule(Statistic::P95, Worse::Higher, 1.2), LV);
        assert!(both.is_excluded() && both.reason.starts_with("not applicable"));
    }

    #[test]
    fn zero_statistics_and_zero_baselines_have_no_inf_or_nan() {
        // No cost recorded on either side: not applicable, not ×inf.
        let zeros = vec![0.0; 500];
        let j = judge(
            &zeros,
            &zeros,
            rule(Statistic::Mean, Worse::Higher, 1.1),
            LV,
        );
        assert!(j.is_excluded(), "{}", j.reason);
        assert_eq!(j.verdict, Verdict::Ok);
        // Cost on the candidate only: a zero baseline, said so.
        let some: Vec<f64> = (0..500).map(|i| 0.0001 * (1 + i % 3) as f64).collect();
        let z = judge(&some, &zeros, rule(Statistic::Mean, Worse::Higher, 1.1), LV);
        assert_eq!(z.verdict, Verdict::Warn);
        assert!(z.reason.contains("zero baseline"), "{}", z.reason);
        assert_eq!(z.delta, None);
        // p50 of a mostly-zero baseline: some resamples put it at 0.
        let mostly: Vec<f64> = (0..400).map(|i| if i < 199 { 0.0 } else { 1.0 }).collect();
        let m = judge(&some, &mostly, rule(Statistic::P50, Worse::Higher, 1.2), LV);
        for j in [&j, &z, &m] {
            let text = format!("{} {}", j.reason, serde_json::to_string(j).unwrap());
            assert!(!text.contains("inf") && !text.contains("NaN"), "{text}");
        }
    }

    #[test]
    fn a_slower_tail_fails_and_the_same_sample_passes() {
        let base: Vec<f64> = (0..1000).map(|i| 100.0 + (i % 100) as f64).collect();
        let slow: Vec<f64> = base.iter().map(|v| v * 1.6).collect();
        let r = rule(Statistic::P95, Worse::Higher, 1.2);
        let j = judge(&slow, &base, r, LV);
        assert_eq!(j.verdict, Verdict::Fail, "{}", j.reason);
        assert!(j.shift.unwrap() > 0.0 && j.effect.unwrap() > 0.5);
        assert_eq!(j.method, Some("bootstrap"));
        let same = judge(&base, &base, r, LV);
        assert_eq!(same.verdict, Verdict::Ok, "{}", same.reason);
    }

    #[test]
    fn a_sub_millisecond_difference_is_not_a_finding() {
        // Spans of 0.20 ms against 0.15 ms: ×1.33, but 0.05 ms.
        let base: Vec<f64> = (0..1000).map(|i| 0.10 + (i % 10) as f64 * 0.005).collect();
        let cand: Vec<f64> = base.iter().map(|v| v + 0.05).collect();
        let mut r = rule(Statistic::P95, Worse::Higher, 1.2);
        let bare = judge(&cand, &base, r, LV);
        assert_eq!(
            bare.verdict,
            Verdict::Fail,
            "without a floor: {}",
            bare.reason
        );
        r.floor = Some(LV.min_delta_ms);
        let j = judge(&cand, &base, r, LV);
        assert_eq!(j.verdict, Verdict::Ok, "{}", j.reason);
        assert!(j.reason.contains("floor"), "{}", j.reason);
        // The floor leaves real slowdowns alone.
        let slow: Vec<f64> = base.iter().map(|v| v * 100.0 + 30.0).collect();
        let b100: Vec<f64> = base.iter().map(|v| v * 100.0).collect();
        assert_eq!(judge(&slow, &b100, r, LV).verdict, Verdict::Fail);
    }

    #[test]
    fn means_use_fieller_without_a_seed() {
        let base: Vec<f64> = (0..500).map(|i| 0.8 + (i % 10) as f64 / 100.0).collect();
        let worse: Vec<f64> = base.iter().map(|v| v * 0.7).collect();
        let r = rule(Statistic::Mean, Worse::Lower, 1.05);
        let j = judge(&worse, &base, r, LV);
        assert_eq!(j.verdict, Verdict::Fail, "{}", j.reason);
        assert_eq!(j.method, Some("fieller"));
        let other = Levels { seed: 99, ..LV };
        assert_eq!(judge(&worse, &base, r, other), j);
        // Constant in both arms: the ratio is exact and no test joins Holm.
        let c = judge(
            &[3.0; 40],
            &[3.0; 40],
            rule(Statistic::Mean, Worse::Higher, 1.2),
            LV,
        );
        assert_eq!(c.verdict, Verdict::Ok, "{}", c.reason);
        assert_eq!(c.p_value, None);
    }

    #[test]
    fn a_borderline_bootstrap_grows_its_resamples() {
        // A limit right at the interval's lower end: another seed could put the end on
        // either side, so the bootstrap grows, and, still there, calls it inconclusive.
        let base: Vec<f64> = (0..2000).map(|i| 100.0 + (i as f64).sqrt() * 7.0).collect();
        let cand: Vec<f64> = base.iter().map(|v| v * 1.35).collect();
        let first = stats::bootstrap_quantile_ratio(&cand, &base, 0.95, LV.resamples, LV.seed);
        let r = rule(Statistic::P95, Worse::Higher, first.interval.low);
        let j = judge(&cand, &base, r, LV);
        assert!(j.resamples.unwrap() > LV.resamples, "{j:?}");
        // Grown, the verdict no longer depends on the seed.
        for seed in 0..10 {
            let other = judge(&cand, &base, r, Levels { seed, ..LV });
            assert_eq!(other.verdict, j.verdict, "seed {seed}: {}", other.reason);
        }
        // A limit at the 2.5 % point of the largest bootstrap: inconclusive, and said.
        let big = stats::bootstrap_quantile_ratio(&cand, &base, 0.95, MAX_RESAMPLES, LV.seed);
        let r = rule(Statistic::P95, Worse::Higher, big.interval.low);
        let j = judge(&cand, &base, r, LV);
        assert_eq!(j.resamples, Some(MAX_RESAMPLES), "{j:?}");
        assert_eq!(j.verdict, Verdict::Warn, "{}", j.reason);
        assert!(j.reason.contains("Monte Carlo"), "{}", j.reason);
        let mc = j.monte_carlo.unwrap();
        assert!(mc.low > 0.0 && mc.low < 0.01 && mc.p_value > 0.0, "{mc:?}");
        // Far from the limit the interval needs no more resamples; the failure's p-value
        // (0 of n) grows only until 3/n clears alpha / HOLM_FAMILY_MAX: 400 → 1600 → 6400.
        let clear = judge(&cand, &base, rule(Statistic::P95, Worse::Higher, 1.2), LV);
        assert_eq!(clear.resamples, Some(LV.resamples * 16), "{clear:?}");
        assert_eq!(clear.verdict, Verdict::Fail, "{}", clear.reason);
    }

    #[test]
    fn psi_bands() {
        let base: Vec<f64> = (0..1000).map(|i| (i % 200) as f64).collect();
        let d = |c: &[f64]| distribution(c, &base, 0.1, 0.25, "requests").verdict;
        assert_eq!(d(&base), Verdict::Ok);
        let shifted: Vec<f64> = base.iter().map(|v| v + 120.0).collect();
        assert_eq!(d(&shifted), Verdict::Fail);
    }

    #[test]
    fn holm_downgrades_a_failure_that_does_not_survive() {
        let mut a = rate((170, 2100), (120, 5000), 0.01, REQ, LV);
        let mut b = Judgement::new(Verdict::Fail, "borderline".into(), (10, 10), 1.2);
        b.p_value = Some(0.04);
        let mut c = Judgement::new(Verdict::Ok, "fine".into(), (10, 10), 1.2);
        c.p_value = Some(0.5);
        // Excluded signals are no part of the family.
        let mut d = Judgement::not_applicable("not applicable".into(), (0, 0), 1.2);
        d.p_value = Some(0.9);
        apply_holm(&mut [&mut a, &mut b, &mut c, &mut d], 0.05);
        assert_eq!(a.verdict, Verdict::Fail);
        assert_eq!(b.verdict, Verdict::Warn);
        assert!(b.reason.contains("Holm"));
        assert_eq!(c.p_holm, Some(0.5_f64.max(0.08)));
        assert_eq!(d.p_holm, None);
    }
}
