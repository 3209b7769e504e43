//! The Gate pane's data: stored gate runs and one run's cases, read through
//! [`crate::gate::store`] (`list` / `show`), with the cases ordered for the pane:
//! must-pass first, then the worst on the candidate (failures, errors, absent, passes),
//! suite order within.

use rusqlite::Connection;

pub use crate::gate::store::{CaseResult, Counts, RunDetail, RunSummary};
use crate::gate::verdict::{Attempt, Outcome, Standing};

/// Newest first; at most this many.
const RUNS: usize = 200;

/// Stored runs, newest first, with their counts.
pub fn runs(conn: &Connection) -> rusqlite::Result<Vec<RunSummary>> {
    crate::gate::store::list(conn, RUNS)
}

/// One run with its cases in the pane's order; `None` when there is no such run.
pub fn run(conn: &Connection, id: i64) -> rusqlite::Result<Option<RunDetail>> {
    let Some(mut detail) = crate::gate::store::show(conn, id)? else {
        return Ok(None);
    };
    detail
        .results
        .sort_by_key(|c| (!c.must_pass, rank(c.candidate)));
    Ok(Some(detail))
}

/// Failures first: what holds a release is what the operator came for.
fn rank(s: Standing) -> u8 {
    match s {
        Standing::Fail => 0,
        Standing::Error => 1,
        Standing::Absent => 2,
        Standing::Pass => 3,
    }
}

/// SHIP, HOLD, or ERROR for a run that stored no decision (it broke off).
pub fn verdict_word(d: Option<crate::gate::Decision>) -> &'static str {
    match d {
        Some(crate::gate::Decision::Ship) => "SHIP",
        Some(crate::gate::Decision::Hold) => "HOLD",
        None => "ERROR",
    }
}

pub fn standing_word(s: Standing) -> &'static str {
    match s {
        Standing::Pass => "pass",
        Standing::Fail => "FAIL",
        Standing::Error => "ERROR",
        Standing::Absent => "-",
    }
}

/// Why attempts did not pass: failed assertions and errors, once each.
pub fn reasons(attempts: &[Attempt]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in attempts {
        let new: Vec<String> = match &a.outcome {
            Outcome::Pass => Vec::new(),
            Outcome::Fail { reasons } => reasons.clone(),
            Outcome::Error { error, .. } => vec![format!("error: {error}")],
        };
        for r in new {
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    out
}

/// The replay of the first attempt that kept one.
pub fn replay(attempts: &[Attempt]) -> Option<i64> {
    attempts.iter().find_map(|a| a.replay_id)
}

/// Passed on the baseline, not on the candidate.
pub fn regression(c: &CaseResult) -> bool {
    c.baseline == Standing::Pass && matches!(c.candidate, Standing::Fail | Standing::Error)
}
