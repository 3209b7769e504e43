//! Ship or hold: from per-case, per-attempt outcomes on both versions to a decision with
//! its reasons, regressions, fixes, flaky cases, deltas and risks. Pure: no I/O.

use serde::{Deserialize, Serialize};

use crate::config::Gate as Budgets;

/// One side of a case run: the candidate's attempts or the baseline's.
type AttemptsOf = fn(&CaseRun) -> &[Attempt];

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
        /// Whether an answer came back at all: what tells "the candidate is bad" from
        /// "the target is down" (stored runs without it read as unreached).
        #[serde(default)]
        cause: Cause,
    },
}

/// Why an attempt could not run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    /// No answer came back: the target could not be reached, timed out, answered with an
    /// HTTP error after its retries, or cannot run this version. Says nothing of the
    /// candidate: the gate cannot judge it (exit 2).
    #[default]
    Unreached,
    /// The workflow answered, but with an error (a failed root span) or with an answer
    /// the target's response pointers cannot read: the version's doing, not passing.
    Answer,
}

impl Outcome {
    /// An error with no answer behind it.
    pub fn unreached(&self) -> bool {
        matches!(
            self,
            Outcome::Error {
                cause: Cause::Unreached,
                ..
            }
        )
    }
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
    /// The hold says nothing of the candidate: no rule found against it, but some case
    /// could not run on some version (no answer came back), so it cannot ship either.
    /// `relops gate` exits 2 then, 1 on a real hold.
    #[serde(default)]
    pub could_not_run: bool,
}

impl Verdict {
    /// 0 ship, 1 hold, 2 the cases could not run.
    pub fn exit_code(&self) -> u8 {
        match self.decision {
            Decision::Ship => 0,
            Decision::Hold if self.could_not_run => 2,
            Decision::Hold => 1,
        }
    }
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
///
/// Two kinds of reason hold a release: evidence against the candidate (a must-pass case
/// fails or answers with an error, the pass rate drops, latency or cost over budget, an
/// empty suite), and cases that could not run (no answer came back). When only the
/// second kind is there the verdict is `could_not_run`: a hold that says nothing of the
/// candidate. The pass-rate rule compares only cases that got an answer on both sides,
/// so a target that is down for some calls cannot pose as a regression.
pub fn decide(runs: &[CaseRun], has_baseline: bool, budgets: &Budgets) -> Verdict {
    let candidate = tally(runs, |r| &r.candidate);
    let baseline = has_baseline.then(|| tally(runs, |r| &r.baseline));
    let mut evidence = Vec::new();
    let mut risks = Vec::new();
    let (mut regressions, mut fixes, mut flakes) = (Vec::new(), Vec::new(), Vec::new());

    if runs.is_empty() {
        evidence.push("the suite has no cases: nothing shows the candidate is safe".into());
    }
    for r in runs {
        let (c, b) = (Standing::of(&r.candidate), Standing::of(&r.baseline));
        if r.must_pass {
            match c {
                Standing::Pass => {}
                Standing::Fail => evidence.push(format!(
                    "must-pass case {} \"{}\" fails on the candidate{}",
                    r.id,
                    r.title,
                    first_reason(&r.candidate)
                        .map(|x| format!(": {x}"))
                        .unwrap_or_default()
                )),
                Standing::Error if answered_with_error(&r.candidate) => evidence.push(format!(
                    "must-pass case {} \"{}\" answers with an error on the candidate{}",
                    r.id,
                    r.title,
                    first_error(&r.candidate, Cause::Answer)
                        .map(|x| format!(": {x}"))
                        .unwrap_or_default()
                )),
                // Could not run: said below, with the other cases that did not.
                Standing::Error | Standing::Absent => {}
            }
        }
        if c == Standing::Error {
            risks.push(format!(
                "case {} could not run on the candidate: {}",
                r.id,
                any_error(&r.candidate).unwrap_or_default()
            ));
        }
        if has_baseline {
            if b == Standing::Error {
                risks.push(format!(
                    "case {} could not run on the baseline: {}",
                    r.id,
                    any_error(&r.baseline).unwrap_or_default()
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
    let unrun = not_run(runs, has_baseline, budgets.pass_rate_margin);

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

    if has_baseline {
        evidence.extend(pass_rate_drop(runs, budgets.pass_rate_margin));
        for (name, d, budget) in [
            ("median latency", &latency_ms, budgets.latency_ratio),
            ("mean cost", &cost_usd, budgets.cost_ratio),
        ] {
            match d.ratio {
                Some(r) if r > budget => evidence.push(format!(
                    "{name} ×{r:.2} of the baseline's, over the ×{budget:.2} budget"
                )),
                Some(_) => {}
                None => risks.push(format!("{name}: no numbers to compare")),
            }
        }
    }

    let could_not_run = evidence.is_empty() && !unrun.is_empty();
    let mut reasons = evidence;
    reasons.extend(unrun);
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
        could_not_run,
    }
}

/// Some attempt got an answer that was an error (the version's doing).
fn answered_with_error(attempts: &[Attempt]) -> bool {
    attempts.iter().any(|a| {
        matches!(
            a.outcome,
            Outcome::Error {
                cause: Cause::Answer,
                ..
            }
        )
    })
}

/// Some attempt got no answer at all.
fn unreached(attempts: &[Attempt]) -> bool {
    attempts.iter().any(|a| a.outcome.unreached())
}

/// The cases that could not run, as reasons, when they keep the gate from judging:
/// (a) a must-pass case got no answer on the candidate (named one by one); (b) no case
/// got an answer on a version; (c) the cases without an answer could change the
/// pass-rate rule: counted as failing on the candidate and passing on the baseline, the
/// drop would exceed the margin. Fewer are risks only (see [`decide`]).
fn not_run(runs: &[CaseRun], has_baseline: bool, margin: f64) -> Vec<String> {
    let mut out = Vec::new();
    for r in runs.iter().filter(|r| r.must_pass) {
        let absent = r.candidate.is_empty();
        if (absent || unreached(&r.candidate)) && !answered_with_error(&r.candidate) {
            out.push(format!(
                "must-pass case {} \"{}\" could not run on the candidate{}",
                r.id,
                r.title,
                first_error(&r.candidate, Cause::Unreached)
                    .map(|x| format!(": {x}"))
                    .unwrap_or_default()
            ));
        }
    }
    let sides: &[(&str, AttemptsOf)] = if has_baseline {
        &[("candidate", candidate_side), ("baseline", baseline_side)]
    } else {
        &[("candidate", candidate_side)]
    };
    let mut too_many = false;
    for &(version, side) in sides {
        let down: Vec<&CaseRun> = runs.iter().filter(|&r| unreached(side(r))).collect();
        let Some(&first) = down.first() else { continue };
        let error = first_error(side(first), Cause::Unreached).unwrap_or_default();
        if down.len() == runs.len() {
            out.push(format!(
                "no case could run on the {version} ({} of {}): {error}",
                down.len(),
                runs.len()
            ));
        } else {
            too_many = true;
        }
    }
    if too_many && has_baseline && out.is_empty() {
        out.extend(worst_case_drop(runs, margin));
    }
    out
}

/// Rule (c) of [`not_run`]: the pass-rate drop with every case that got no answer
/// counted against the candidate, when that exceeds the margin.
fn worst_case_drop(runs: &[CaseRun], margin: f64) -> Option<String> {
    let passes = |side: fn(&CaseRun) -> &[Attempt], down_passes: bool| {
        runs.iter()
            .filter(|&r| match unreached(side(r)) {
                true => down_passes,
                false => Standing::of(side(r)) == Standing::Pass,
            })
            .count()
    };
    let n = runs.len() as f64;
    let drop = (passes(baseline_side, true) as f64 - passes(candidate_side, false) as f64) / n;
    let count =
        |side: fn(&CaseRun) -> &[Attempt]| runs.iter().filter(|&r| unreached(side(r))).count();
    (drop > margin + 1e-12).then(|| {
        let first = runs
            .iter()
            .find_map(|r| first_error(&r.candidate, Cause::Unreached))
            .or_else(|| {
                runs.iter()
                    .find_map(|r| first_error(&r.baseline, Cause::Unreached))
            })
            .unwrap_or_default();
        format!(
            "{} case(s) could not run on the candidate and {} on the baseline: too many for \
             the pass-rate rule (counted against the candidate, down {:.1} points, more than \
             the {:.1} allowed): {first}",
            count(candidate_side),
            count(baseline_side),
            drop * 100.0,
            margin * 100.0
        )
    })
}

/// The pass-rate rule, over the cases that got an answer on both versions (an answer
/// that is an error counts as not passing).
fn pass_rate_drop(runs: &[CaseRun], margin: f64) -> Option<String> {
    let compared: Vec<&CaseRun> = runs
        .iter()
        .filter(|r| !unreached(&r.candidate) && !unreached(&r.baseline))
        .collect();
    if compared.is_empty() {
        return None;
    }
    let rate = |side: fn(&CaseRun) -> &[Attempt]| {
        let pass = compared
            .iter()
            .filter(|&&r| Standing::of(side(r)) == Standing::Pass)
            .count();
        pass as f64 / compared.len() as f64
    };
    let (c, b) = (rate(candidate_side), rate(baseline_side));
    let drop = b - c;
    (drop > margin + 1e-12).then(|| {
        let over = if compared.len() < runs.len() {
            format!(" (over the {} cases that ran on both)", compared.len())
        } else {
            String::new()
        };
        format!(
            "pass rate {:.1}% on the candidate vs {:.1}% on the baseline{over}: down {:.1} \
             points, more than the {:.1} allowed",
            c * 100.0,
            b * 100.0,
            drop * 100.0,
            margin * 100.0
        )
    })
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

/// The first error of that cause.
fn first_error(attempts: &[Attempt], want: Cause) -> Option<String> {
    attempts.iter().find_map(|a| match &a.outcome {
        Outcome::Error { error, cause } if *cause == want => Some(error.clone()),
        _ => None,
    })
}

/// The first error of any cause.
fn any_error(attempts: &[Attempt]) -> Option<String> {
    attempts.iter().find_map(|a| match &a.outcome {
        Outcome::Error { error, .. } => Some(error.clone()),
        _ => None,
    })
}

#[cfg(test)]
mod tests;
