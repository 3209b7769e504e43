//! Ship or hold: from per-case, per-attempt outcomes on both versions to a decision with
//! its reasons, regressions, fixes, flaky cases, deltas and risks. Pure: no I/O.

use serde::{Deserialize, Serialize};

use crate::config::Gate as Budgets;

/// How one attempt of one case on one version ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    /// The assertions that failed, with their reasons.
    Fail {
        reasons: Vec<String>,
    },
    /// The case could not run (target down, timeout, bad response): never a pass.
    Error {
        error: String,
    },
}

/// One attempt: its outcome and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub outcome: Outcome,
    pub latency_ms: Option<f64>,
    pub cost_usd: Option<f64>,
    /// The stored replay (`r:<id>`) once the gate run is saved: what a case drills into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_id: Option<i64>,
}

/// A case's attempts on the candidate and (if any) the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseRun {
    pub id: String,
    pub title: String,
    pub must_pass: bool,
    pub candidate: Vec<Attempt>,
    pub baseline: Vec<Attempt>,
}

/// A case's standing on one version across its attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Standing {
    /// Every attempt passed.
    Pass,
    /// Some attempt failed (and none errored).
    Fail,
    /// Some attempt could not run.
    Error,
    /// No attempt (no baseline given).
    Absent,
}

impl Standing {
    pub fn of(attempts: &[Attempt]) -> Standing {
        if attempts.is_empty() {
            Standing::Absent
        } else if attempts
            .iter()
            .any(|a| matches!(a.outcome, Outcome::Error { .. }))
        {
            Standing::Error
        } else if attempts.iter().all(|a| a.outcome == Outcome::Pass) {
            Standing::Pass
        } else {
            Standing::Fail
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Ship,
    Hold,
}

/// Passes, failures and errors of one version, by case.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub pass: usize,
    pub fail: usize,
    pub error: usize,
    /// Passing cases / all cases (errors count as not passing).
    pub pass_rate: f64,
}

/// A candidate / baseline pair of numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub candidate: Option<f64>,
    pub baseline: Option<f64>,
    /// candidate / baseline.
    pub ratio: Option<f64>,
}

impl Delta {
    fn new(candidate: Option<f64>, baseline: Option<f64>) -> Self {
        let ratio = match (candidate, baseline) {
            (Some(c), Some(b)) if b > 0.0 => Some(c / b),
            _ => None,
        };
        Self {
            candidate,
            baseline,
            ratio,
        }
    }
}

/// The decision and its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub decision: Decision,
    /// Why it holds (empty when it ships).
    pub reasons: Vec<String>,
    pub cases: usize,
    pub must_pass: usize,
    pub candidate: Tally,
    pub baseline: Option<Tally>,
    /// Passed on the baseline, not on the candidate.
    pub regressions: Vec<String>,
    /// Failed on the baseline, passed on the candidate.
    pub fixes: Vec<String>,
    /// Attempts of one version disagree (pass and fail) across `--repeat`.
    pub flaky: Vec<String>,
    /// Median latency (ms) and mean cost (USD) over attempts that ran.
    pub latency_ms: Delta,
    pub cost_usd: Delta,
    /// What the decision could not see: cases that errored, missing numbers.
    pub risks: Vec<String>,
}

fn tally(runs: &[CaseRun], side: impl Fn(&CaseRun) -> &[Attempt]) -> Tally {
    let mut t = Tally::default();
    for r in runs {
        match Standing::of(side(r)) {
            Standing::Pass => t.pass += 1,
            Standing::Fail => t.fail += 1,
            Standing::Error | Standing::Absent => t.error += 1,
        }
    }
    t.pass_rate = if runs.is_empty() {
        0.0
    } else {
        t.pass as f64 / runs.len() as f64
    };
    t
}

fn ran(attempts: &[Attempt]) -> impl Iterator<Item = &Attempt> {
    attempts
        .iter()
        .filter(|a| !matches!(a.outcome, Outcome::Error { .. }))
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn mean(v: Vec<f64>) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn flaky(attempts: &[Attempt]) -> bool {
    let pass = attempts.iter().any(|a| a.outcome == Outcome::Pass);
    let fail = attempts
        .iter()
        .any(|a| matches!(a.outcome, Outcome::Fail { .. }));
    pass && fail
}

/// Decides. `has_baseline` is false when the gate ran the candidate alone (no pass-rate
/// or delta rules then).
pub fn decide(runs: &[CaseRun], has_baseline: bool, budgets: &Budgets) -> Verdict {
    let candidate = tally(runs, |r| &r.candidate);
    let baseline = has_baseline.then(|| tally(runs, |r| &r.baseline));
    let mut reasons = Vec::new();
    let mut risks = Vec::new();
    let (mut regressions, mut fixes, mut flakes) = (Vec::new(), Vec::new(), Vec::new());

    if runs.is_empty() {
        reasons.push("the suite has no cases: nothing shows the candidate is safe".into());
    }
    for r in runs {
        let (c, b) = (Standing::of(&r.candidate), Standing::of(&r.baseline));
        if r.must_pass {
            match c {
                Standing::Pass => {}
                Standing::Fail => reasons.push(format!(
                    "must-pass case {} \"{}\" fails on the candidate{}",
                    r.id,
                    r.title,
                    first_reason(&r.candidate)
                        .map(|x| format!(": {x}"))
                        .unwrap_or_default()
                )),
                Standing::Error | Standing::Absent => reasons.push(format!(
                    "must-pass case {} \"{}\" could not run on the candidate{}",
                    r.id,
                    r.title,
                    first_error(&r.candidate)
                        .map(|x| format!(": {x}"))
                        .unwrap_or_default()
                )),
            }
        }
        if c == Standing::Error {
            risks.push(format!(
                "case {} could not run on the candidate: {}",
                r.id,
                first_error(&r.candidate).unwrap_or_default()
            ));
        }
        if has_baseline {
            if b == Standing::Error {
                risks.push(format!(
                    "case {} could not run on the baseline: {}",
                    r.id,
                    first_error(&r.baseline).unwrap_or_default()
                ));
            }
            if b == Standing::Pass && matches!(c, Standing::Fail | Standing::Error) {
                regressions.push(r.id.clone());
            }
            if b == Standing::Fail && c == Standing::Pass {
                fixes.push(r.id.clone());
            }
        }
        if flaky(&r.candidate) || flaky(&r.baseline) {
            flakes.push(r.id.clone());
        }
    }

    let latency_ms = Delta::new(
        median(numbers(runs, candidate_side, |a| a.latency_ms)),
        has_baseline
            .then(|| median(numbers(runs, baseline_side, |a| a.latency_ms)))
            .flatten(),
    );
    let cost_usd = Delta::new(
        mean(numbers(runs, candidate_side, |a| a.cost_usd)),
        has_baseline
            .then(|| mean(numbers(runs, baseline_side, |a| a.cost_usd)))
            .flatten(),
    );

    if let Some(b) = &baseline {
        let drop = b.pass_rate - candidate.pass_rate;
        if drop > budgets.pass_rate_margin + 1e-12 {
            reasons.push(format!(
                "pass rate {:.1}% on the candidate vs {:.1}% on the baseline: down {:.1} points, \
                 more than the {:.1} allowed",
                candidate.pass_rate * 100.0,
                b.pass_rate * 100.0,
                drop * 100.0,
                budgets.pass_rate_margin * 100.0
            ));
        }
        for (name, d, budget) in [
            ("median latency", &latency_ms, budgets.latency_ratio),
            ("mean cost", &cost_usd, budgets.cost_ratio),
        ] {
            match d.ratio {
                Some(r) if r > budget => reasons.push(format!(
                    "{name} ×{r:.2} of the baseline's, over the ×{budget:.2} budget"
                )),
                Some(_) => {}
                None => risks.push(format!("{name}: no numbers to compare")),
            }
        }
    }

    Verdict {
        decision: if reasons.is_empty() {
            Decision::Ship
        } else {
            Decision::Hold
        },
        reasons,
        cases: runs.len(),
        must_pass: runs.iter().filter(|r| r.must_pass).count(),
        candidate,
        baseline,
        regressions,
        fixes,
        flaky: flakes,
        latency_ms,
        cost_usd,
        risks,
    }
}

fn candidate_side(r: &CaseRun) -> &[Attempt] {
    &r.candidate
}

fn baseline_side(r: &CaseRun) -> &[Attempt] {
    &r.baseline
}

/// A number of every attempt that ran, on one side.
fn numbers(
    runs: &[CaseRun],
    side: fn(&CaseRun) -> &[Attempt],
    f: fn(&Attempt) -> Option<f64>,
) -> Vec<f64> {
    runs.iter()
        .flat_map(|r| ran(side(r)).filter_map(f))
        .collect()
}

fn first_reason(attempts: &[Attempt]) -> Option<String> {
    attempts.iter().find_map(|a| match &a.outcome {
        Outcome::Fail { reasons } => reasons.first().cloned(),
        _ => None,
    })
}

fn first_error(attempts: &[Attempt]) -> Option<String> {
    attempts.iter().find_map(|a| match &a.outcome {
        Outcome::Error { error } => Some(error.clone()),
        _ => None,
    })
}

#[cfg(test)]
mod tests;
