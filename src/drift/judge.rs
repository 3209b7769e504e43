//! One verdict per signal from the two arms' numbers: never a pass on too little data,
//! never an alarm without both statistical and practical significance.

use serde::Serialize;

use super::catalogue::Worse;
use super::stats::{self, Interval, Statistic};

/// A signal's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    /// Inconclusive, or significant but not beyond the practical threshold after Holm.
    Warn,
    /// Too little data to say either way.
    Insufficient,
    Fail,
}

/// The numbers behind one verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    pub verdict: Verdict,
    pub reason: String,
    pub n_candidate: u64,
    pub n_baseline: u64,
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    /// Rates: candidate minus baseline; samples: candidate / baseline; distributions: PSI.
    pub delta: Option<f64>,
    pub threshold: f64,
    /// 95 % interval of `delta` (none for distributions).
    pub interval: Option<Interval>,
    pub p_value: Option<f64>,
    /// After Holm's correction across this verdict's signals.
    pub p_holm: Option<f64>,
    /// How many more observations per arm a verdict needs.
    pub need_more: Option<u64>,
    /// Samples: the Hodges–Lehmann shift (candidate − baseline).
    pub shift: Option<f64>,
    /// Samples: P(candidate > baseline).
    pub effect: Option<f64>,
    /// Samples: Mann–Whitney's two-sided p-value (a shift of the whole distribution;
    /// evidence beside `p_value`, which tests the statistic against its limit).
    pub mann_whitney_p: Option<f64>,
    /// Pairwise and bootstrap statistics ran on fixed-seed subsamples.
    pub subsampled: bool,
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
            shift: None,
            effect: None,
            mann_whitney_p: None,
            subsampled: false,
        }
    }
}

/// Test settings shared by the signals of one verdict.
#[derive(Debug, Clone, Copy)]
pub struct Levels {
    pub alpha: f64,
    pub power: f64,
    pub resamples: usize,
    pub seed: u64,
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

fn pp(x: f64) -> String {
    format!("{:+.2} pp", x * 100.0)
}

/// Rates: the Newcombe interval of the difference against the margin.
pub fn rate(cand: (u64, u64), base: (u64, u64), margin: f64, noun: &str, lv: Levels) -> Judgement {
    let ((x1, n1), (x2, n2)) = (cand, base);
    let ns = (n1, n2);
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
    let need = stats::min_sample_rate(p2, margin, lv.alpha, lv.power);
    let span = format!(
        "{} → {} ({}, 95% CI {}..{})",
        pct(p2),
        pct(p1),
        pp(p1 - p2),
        pp(iv.low),
        pp(iv.high)
    );
    let (verdict, reason, need_more) = if iv.low > margin {
        (
            Verdict::Fail,
            format!("{span} lies above the {} margin", pp(margin)),
            None,
        )
    } else if n1.min(n2) < need {
        let more = need - n1.min(n2);
        (
            Verdict::Insufficient,
            format!(
                "{span}; need about {more} more {noun} per arm to judge a {} rise",
                pp(margin)
            ),
            Some(more),
        )
    } else if iv.high < margin {
        (
            Verdict::Ok,
            format!("{span} stays below the {} margin", pp(margin)),
            None,
        )
    } else {
        (
            Verdict::Warn,
            format!("{span} straddles the {} margin: inconclusive", pp(margin)),
            None,
        )
    };
    let mut j = Judgement::new(verdict, reason, ns, margin);
    j.baseline = Some(p2);
    j.current = Some(p1);
    j.delta = Some(p1 - p2);
    j.interval = Some(iv);
    j.p_value = Some(p_value);
    j.need_more = need_more;
    j
}

/// Samples: the bootstrap interval of the statistic's ratio against the allowed ratio,
/// with Mann–Whitney for significance and Hodges–Lehmann for the typical shift.
pub fn sample(
    cand: &[f64],
    base: &[f64],
    stat: Statistic,
    worse: Worse,
    ratio: f64,
    lv: Levels,
) -> Judgement {
    let ns = (cand.len() as u64, base.len() as u64);
    let min = stat.min_sample();
    if cand.len() < min || base.len() < min {
        let more = (min - cand.len().min(base.len())) as u64;
        let stat_name = format!("{stat:?}").to_lowercase();
        let mut j = Judgement::new(
            Verdict::Insufficient,
            format!("a {stat_name} is judged on {min} per arm; need about {more} more"),
            ns,
            ratio,
        );
        j.need_more = Some(more);
        return j;
    }
    let sorted = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s
    };
    let (current, baseline) = (stat.of(&sorted(cand)), stat.of(&sorted(base)));
    let (sc, sb) = (
        stats::subsample(cand, stats::SUBSAMPLE, lv.seed),
        stats::subsample(base, stats::SUBSAMPLE, lv.seed + 1),
    );
    let boot = stats::bootstrap_ratio(&sc, &sb, stat, lv.resamples, lv.seed);
    let iv = boot.interval;
    let mwu = stats::mann_whitney(cand, base);
    let (hc, hb) = (
        stats::subsample(cand, 1_000, lv.seed),
        stats::subsample(base, 1_000, lv.seed + 1),
    );
    let observed = if baseline > 0.0 {
        current / baseline
    } else {
        f64::INFINITY
    };
    let span = format!("×{observed:.2} (95% CI ×{:.2}..×{:.2})", iv.low, iv.high);
    // The p-value tests the statistic against its practical limit, the question the
    // verdict answers (Mann–Whitney would miss a tail that moved without the median).
    let limit = match worse {
        Worse::Higher => ratio,
        Worse::Lower => 1.0 / ratio,
    };
    let p_value = match worse {
        Worse::Higher => boot.p_above(limit),
        Worse::Lower => boot.p_below(limit),
    };
    let (verdict, reason) = match worse {
        Worse::Higher if iv.low > limit => (Verdict::Fail, format!("{span} exceeds ×{limit:.2}")),
        Worse::Higher if iv.high < limit => {
            (Verdict::Ok, format!("{span} stays under ×{limit:.2}"))
        }
        Worse::Lower if iv.high < limit => {
            (Verdict::Fail, format!("{span} falls below ×{limit:.2}"))
        }
        Worse::Lower if iv.low > limit => (Verdict::Ok, format!("{span} stays above ×{limit:.2}")),
        _ => (
            Verdict::Warn,
            format!("{span} straddles the ×{limit:.2} limit: inconclusive"),
        ),
    };
    let mut j = Judgement::new(verdict, reason, ns, ratio);
    j.baseline = Some(baseline);
    j.current = Some(current);
    j.delta = Some(observed);
    j.interval = Some(iv);
    j.p_value = Some(p_value);
    j.mann_whitney_p = Some(mwu.p_value);
    j.shift = Some(stats::hodges_lehmann(&hc, &hb));
    j.effect = Some(mwu.effect);
    j.subsampled = sc.len() < cand.len()
        || sb.len() < base.len()
        || hc.len() < cand.len()
        || hb.len() < base.len();
    j
}

/// Observations per arm a PSI needs: ten per decile bin.
pub const PSI_MIN_SAMPLE: usize = 100;

/// Distributions: PSI on the baseline's deciles, in bands.
pub fn distribution(cand: &[f64], base: &[f64], warn: f64, fail: f64) -> Judgement {
    let ns = (cand.len() as u64, base.len() as u64);
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
    let psi = stats::psi(cand, base);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
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
    j
}

/// Holm across the signals that have p-values: a failure that does not survive the
/// correction becomes a warning, and says so.
pub fn apply_holm(judgements: &mut [&mut Judgement], alpha: f64) {
    let with_p: Vec<usize> = (0..judgements.len())
        .filter(|i| judgements[*i].p_value.is_some())
        .collect();
    let p: Vec<f64> = with_p
        .iter()
        .map(|i| judgements[*i].p_value.unwrap_or(1.0))
        .collect();
    for (i, adjusted) in with_p.into_iter().zip(stats::holm(&p)) {
        let j = &mut judgements[i];
        j.p_holm = Some(adjusted);
        if j.verdict == Verdict::Fail && adjusted >= alpha {
            j.verdict = Verdict::Warn;
            j.reason = format!(
                "{}, but not significant after Holm (p = {adjusted:.3})",
                j.reason
            );
        }
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
    };

    #[test]
    fn a_clear_rise_fails_even_below_the_planned_sample() {
        let j = rate((170, 2100), (120, 5000), 0.01, "requests", LV);
        assert_eq!(j.verdict, Verdict::Fail, "{}", j.reason);
        assert!(j.interval.unwrap().low > 0.01);
    }

    #[test]
    fn no_change_with_enough_data_is_ok_and_without_it_insufficient() {
        let ok = rate((200, 10_000), (205, 10_000), 0.01, "requests", LV);
        assert_eq!(ok.verdict, Verdict::Ok, "{}", ok.reason);
        let few = rate((2, 100), (2, 100), 0.01, "requests", LV);
        assert_eq!(few.verdict, Verdict::Insufficient, "{}", few.reason);
        assert!(few.need_more.unwrap() > 1000);
        assert!(few.reason.contains("more requests"));
    }

    #[test]
    fn no_data_is_never_ok() {
        let j = rate((0, 0), (10, 500), 0.01, "tool calls", LV);
        assert_eq!(j.verdict, Verdict::Insufficient);
        let s = sample(&[], &[1.0; 300], Statistic::P95, Worse::Higher, 1.2, LV);
        assert_eq!(s.verdict, Verdict::Insufficient);
        let d = distribution(&[1.0; 50], &[1.0; 500], 0.1, 0.25);
        assert_eq!(d.verdict, Verdict::Insufficient);
    }

    #[test]
    fn a_slower_tail_fails_and_the_same_sample_passes() {
        let base: Vec<f64> = (0..1000).map(|i| 100.0 + (i % 100) as f64).collect();
        let slow: Vec<f64> = base.iter().map(|v| v * 1.6).collect();
        let j = sample(&slow, &base, Statistic::P95, Worse::Higher, 1.2, LV);
        assert_eq!(j.verdict, Verdict::Fail, "{}", j.reason);
        assert!(j.shift.unwrap() > 0.0 && j.effect.unwrap() > 0.5);
        let same = sample(&base, &base, Statistic::P95, Worse::Higher, 1.2, LV);
        assert_eq!(same.verdict, Verdict::Ok, "{}", same.reason);
    }

    #[test]
    fn lower_is_worse_for_scores() {
        let base: Vec<f64> = (0..500).map(|i| 0.8 + (i % 10) as f64 / 100.0).collect();
        let worse: Vec<f64> = base.iter().map(|v| v * 0.7).collect();
        let j = sample(&worse, &base, Statistic::Mean, Worse::Lower, 1.05, LV);
        assert_eq!(j.verdict, Verdict::Fail, "{}", j.reason);
    }

    #[test]
    fn psi_bands() {
        let base: Vec<f64> = (0..1000).map(|i| (i % 200) as f64).collect();
        assert_eq!(distribution(&base, &base, 0.1, 0.25).verdict, Verdict::Ok);
        let shifted: Vec<f64> = base.iter().map(|v| v + 120.0).collect();
        assert_eq!(
            distribution(&shifted, &base, 0.1, 0.25).verdict,
            Verdict::Fail
        );
    }

    #[test]
    fn holm_downgrades_a_failure_that_does_not_survive() {
        let mut a = rate((170, 2100), (120, 5000), 0.01, "requests", LV);
        let mut b = Judgement::new(Verdict::Fail, "borderline".into(), (10, 10), 1.2);
        b.p_value = Some(0.04);
        let mut c = Judgement::new(Verdict::Ok, "fine".into(), (10, 10), 1.2);
        c.p_value = Some(0.5);
        apply_holm(&mut [&mut a, &mut b, &mut c], 0.05);
        assert_eq!(a.verdict, Verdict::Fail);
        assert_eq!(b.verdict, Verdict::Warn);
        assert!(b.reason.contains("Holm"));
        assert_eq!(c.p_holm, Some(0.5_f64.max(0.08)));
    }
}
