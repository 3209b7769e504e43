//! Running a suite on the candidate and the baseline through a replay target: every
//! case × version × attempt is one call (at most `concurrency` at once, and never more
//! than the target's own limit), each answer judged by the case's assertions. Each call
//! reports its end as a [`Progress`], and its record comes back to be stored
//! ([`super::store::save`]) so that a case can drill into its diff.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use super::verdict::{Attempt, CaseRun, Cause, Outcome};
use crate::cases::{Loaded, live};
use crate::config::Config;
use crate::replay::Replayer;
use crate::store::replays::NewReplay;

/// What to run: the versions by label, how often, how many calls at once.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    pub candidate: &'a str,
    pub baseline: Option<&'a str>,
    /// Attempts per case and version (at least 1).
    pub repeat: usize,
    /// Calls in flight at once (the target's `concurrency` caps it anyway).
    pub concurrency: Option<usize>,
}

impl Options<'_> {
    /// Calls the run makes for `cases` cases.
    pub fn total(&self, cases: usize) -> usize {
        cases * self.repeat.max(1) * if self.baseline.is_some() { 2 } else { 1 }
    }
}

/// How one call ended, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Error,
}

/// One call finished: `done` of `total`, which case on which version, and how it went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
    pub case_id: String,
    /// The version's label.
    pub version: String,
    /// 0-based, below `--repeat`.
    pub attempt: usize,
    pub status: Status,
    /// Why it could not run (status `error`).
    pub error: Option<String>,
}

/// Which version a replay ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Candidate,
    Baseline,
}

/// One call's record, to store: which case (index into the suite), side and attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseReplay {
    pub case: usize,
    pub side: Side,
    pub attempt: usize,
    /// No version yet (`version_pk` 0): the store knows the gate's versions.
    pub record: NewReplay,
}

/// What a run produced: per case, the attempts on both sides (in suite order), and
/// every call's record.
#[derive(Debug, Clone, PartialEq)]
pub struct Ran {
    pub runs: Vec<CaseRun>,
    pub replays: Vec<CaseReplay>,
}

/// Whether a record that did not pass the answer check got an answer at all: the
/// replay records a latency only once a 2xx answer came back (the round trip, or the
/// workflow's own figure), so an error without one came before any answer.
fn cause(record: &NewReplay) -> Cause {
    if record.error.is_some() && record.latency_ms.is_none() {
        Cause::Unreached
    } else {
        Cause::Answer
    }
}

/// Runs every case `repeat` times on the candidate and (if given) the baseline.
/// `on_progress` hears of every call as it ends (from the task driving the run: keep
/// it quick, e.g. a channel send).
pub async fn run(
    replayer: &Replayer,
    config: &Config,
    cases: &[Loaded],
    opts: &Options<'_>,
    on_progress: impl Fn(Progress) + Send + Sync,
) -> Ran {
    let repeat = opts.repeat.max(1);
    let total = opts.total(cases.len());
    let done = AtomicUsize::new(0);
    let limit = opts
        .concurrency
        .map(|n| std::sync::Arc::new(tokio::sync::Semaphore::new(n.max(1))));
    let (done, limit, on_progress) = (&done, &limit, &on_progress);
    let one = |index: usize, side: Side, attempt: usize| {
        let l = &cases[index];
        let label = match side {
            Side::Candidate => opts.candidate,
            Side::Baseline => opts.baseline.unwrap_or_default(),
        };
        async move {
            let _permit = match limit {
                Some(s) => s.clone().acquire_owned().await.ok(),
                None => None,
            };
            let record = match replayer.run_input(label, &l.case.input).await {
                Ok(r) => r,
                // The target cannot run this version at all: still a record, an error.
                Err(e) => NewReplay {
                    trace_pk: None,
                    case_id: None,
                    input: Some(l.case.input.clone()),
                    version_pk: 0,
                    target: replayer.target_name().to_string(),
                    started_ns: crate::clock::now_ns(),
                    latency_ms: None,
                    output: None,
                    spans: None,
                    tokens_in: None,
                    tokens_out: None,
                    cost_usd: None,
                    error: Some(e),
                },
            };
            let outcome = match live::observed(config, &record) {
                Err(error) => Outcome::Error {
                    error,
                    cause: cause(&record),
                },
                Ok(o) => {
                    let failed: Vec<String> = live::evaluate(&l.case, &o)
                        .into_iter()
                        .filter(|(_, v)| !v.pass)
                        .map(|(a, v)| format!("{a}: {}", v.reason))
                        .collect();
                    if failed.is_empty() {
                        Outcome::Pass
                    } else {
                        Outcome::Fail { reasons: failed }
                    }
                }
            };
            // The verdict counts numbers only of attempts that ran (not errors).
            let attempt_result = Attempt {
                latency_ms: record.latency_ms,
                cost_usd: record.cost_usd,
                replay_id: None,
                outcome,
            };
            let (status, error) = match &attempt_result.outcome {
                Outcome::Pass => (Status::Pass, None),
                Outcome::Fail { .. } => (Status::Fail, None),
                Outcome::Error { error, .. } => (Status::Error, Some(error.clone())),
            };
            on_progress(Progress {
                done: done.fetch_add(1, Ordering::Relaxed) + 1,
                total,
                case_id: l.case.id.clone(),
                version: label.to_string(),
                attempt,
                status,
                error,
            });
            let record = NewReplay {
                case_id: Some(l.case.id.clone()),
                ..record
            };
            (
                attempt_result,
                CaseReplay {
                    case: index,
                    side,
                    attempt,
                    record,
                },
            )
        }
    };
    let sides: &[Side] = if opts.baseline.is_some() {
        &[Side::Candidate, Side::Baseline]
    } else {
        &[Side::Candidate]
    };
    let mut futures = Vec::with_capacity(total);
    for index in 0..cases.len() {
        for &side in sides {
            for attempt in 0..repeat {
                futures.push(one(index, side, attempt));
            }
        }
    }
    let mut results = futures::future::join_all(futures).await.into_iter();
    let mut runs = Vec::with_capacity(cases.len());
    let mut replays = Vec::with_capacity(total);
    for l in cases {
        let mut take = || {
            let (attempts, records): (Vec<Attempt>, Vec<CaseReplay>) =
                (&mut results).take(repeat).unzip();
            replays.extend(records);
            attempts
        };
        let candidate = take();
        let baseline = if sides.len() == 2 { take() } else { Vec::new() };
        runs.push(CaseRun {
            id: l.case.id.clone(),
            title: l.case.title.clone(),
            must_pass: l.case.must_pass,
            candidate,
            baseline,
        });
    }
    Ran { runs, replays }
}
