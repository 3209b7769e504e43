//! The Gate pane's data: stored gate runs (`gate_runs`, `gate_results`) with their
//! tallies, and one run's cases with each version's standing and failed assertions.
//!
//! Results name cases by id only: titles and must-pass come from the suite (files, then
//! the `cases` index); a case no longer in the suite shows by its id.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, params};

use super::incidents;

/// How a stored run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateVerdict {
    Ship,
    Hold,
    /// No decision was stored: the run broke off.
    Error,
}

impl GateVerdict {
    pub fn word(self) -> &'static str {
        match self {
            GateVerdict::Ship => "SHIP",
            GateVerdict::Hold => "HOLD",
            GateVerdict::Error => "ERROR",
        }
    }

    fn parse(decision: Option<&str>) -> Self {
        match decision {
            Some("ship") => GateVerdict::Ship,
            Some("hold") => GateVerdict::Hold,
            _ => GateVerdict::Error,
        }
    }
}

/// A case's standing on one version across its attempts (an error is never a pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Standing {
    Error,
    Fail,
    Pass,
}

impl Standing {
    pub fn word(self) -> &'static str {
        match self {
            Standing::Pass => "pass",
            Standing::Fail => "FAIL",
            Standing::Error => "ERROR",
        }
    }
}

/// Cases by standing on one version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub pass: usize,
    pub fail: usize,
    pub error: usize,
}

impl Tally {
    fn add(&mut self, s: Standing) {
        match s {
            Standing::Pass => self.pass += 1,
            Standing::Fail => self.fail += 1,
            Standing::Error => self.error += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.pass + self.fail + self.error
    }
}

/// One stored gate run.
#[derive(Debug, Clone, PartialEq)]
pub struct GateRunRow {
    pub id: i64,
    pub candidate: String,
    pub baseline: Option<String>,
    pub started_ns: i64,
    pub finished_ns: Option<i64>,
    pub verdict: GateVerdict,
    pub cases: usize,
    pub must_pass: usize,
    pub on_candidate: Tally,
    pub on_baseline: Option<Tally>,
}

/// A case on one version: its standing, attempts, why it failed, its replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    pub standing: Standing,
    pub attempts: usize,
    /// Failed assertions and errors, once each.
    pub reasons: Vec<String>,
    /// The stored replay of the last attempt, when the run kept one.
    pub replay: Option<i64>,
    pub latency_ms: Option<f64>,
}

/// One case of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct GateCaseRow {
    pub id: String,
    /// The suite's title; `None` when the case left the suite.
    pub title: Option<String>,
    pub must_pass: bool,
    pub candidate: Option<Side>,
    pub baseline: Option<Side>,
}

impl GateCaseRow {
    /// Passed on the baseline, not on the candidate.
    pub fn regression(&self) -> bool {
        matches!(
            (&self.candidate, &self.baseline),
            (Some(c), Some(b)) if b.standing == Standing::Pass && c.standing != Standing::Pass
        )
    }
}

/// A run and its cases: must-pass first, then the worst on the candidate first.
#[derive(Debug, Clone, PartialEq)]
pub struct GateRunDetail {
    pub run: GateRunRow,
    pub cases: Vec<GateCaseRow>,
}

/// Newest first; at most this many.
const RUNS: i64 = 200;

struct RunHead {
    row: GateRunRow,
    candidate_pk: i64,
    baseline_pk: Option<i64>,
}

fn heads(conn: &Connection, only: Option<i64>) -> rusqlite::Result<Vec<RunHead>> {
    let mut stmt = conn.prepare_cached(
        "SELECT g.id, c.label, b.label, g.started_at, g.finished_at, g.decision,
            g.candidate_version_id, g.baseline_version_id
         FROM gate_runs g JOIN versions c ON c.id = g.candidate_version_id
         LEFT JOIN versions b ON b.id = g.baseline_version_id
         WHERE ?1 IS NULL OR g.id = ?1
         ORDER BY g.started_at DESC, g.id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![only, RUNS], |r| {
        Ok(RunHead {
            row: GateRunRow {
                id: r.get(0)?,
                candidate: r.get(1)?,
                baseline: r.get(2)?,
                started_ns: r.get(3)?,
                finished_ns: r.get(4)?,
                verdict: GateVerdict::parse(r.get::<_, Option<String>>(5)?.as_deref()),
                cases: 0,
                must_pass: 0,
                on_candidate: Tally::default(),
                on_baseline: None,
            },
            candidate_pk: r.get(6)?,
            baseline_pk: r.get(7)?,
        })
    })?;
    rows.collect()
}

/// One attempt as `gate_results.details` holds it (a serialized `gate::Attempt`).
fn attempt(details: &str) -> (Standing, Vec<String>, Option<f64>) {
    let v: serde_json::Value = serde_json::from_str(details).unwrap_or_default();
    let outcome = &v["outcome"];
    let latency = v["latency_ms"].as_f64();
    match outcome["status"].as_str() {
        Some("pass") => (Standing::Pass, Vec::new(), latency),
        Some("fail") => {
            let reasons = outcome["reasons"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|r| r.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            (Standing::Fail, reasons, latency)
        }
        Some("error") => {
            let e = outcome["error"].as_str().unwrap_or("error").to_string();
            (Standing::Error, vec![e], latency)
        }
        _ => (
            Standing::Error,
            vec![format!("unreadable result: {details}")],
            latency,
        ),
    }
}

fn cases_of(
    conn: &Connection,
    head: &RunHead,
    suite: &BTreeMap<String, incidents::CaseRef>,
) -> rusqlite::Result<Vec<GateCaseRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT case_id, version_id, attempt, replay_id, details FROM gate_results
         WHERE gate_run_id = ?1 ORDER BY case_id, version_id, attempt",
    )?;
    let mut by_case: BTreeMap<String, GateCaseRow> = BTreeMap::new();
    let rows = stmt.query_map([head.row.id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, String>(4)?,
        ))
    })?;
    for row in rows {
        let (case_id, version, replay, details) = row?;
        let case = by_case.entry(case_id.clone()).or_insert_with(|| {
            let known = suite.get(&case_id);
            GateCaseRow {
                id: case_id.clone(),
                title: known.map(|c| c.title.clone()),
                must_pass: known.is_some_and(|c| c.must_pass),
                candidate: None,
                baseline: None,
            }
        });
        let side = if version == head.candidate_pk {
            &mut case.candidate
        } else if Some(version) == head.baseline_pk {
            &mut case.baseline
        } else {
            continue;
        };
        let (standing, reasons, latency) = attempt(&details);
        let s = side.get_or_insert(Side {
            standing: Standing::Pass,
            attempts: 0,
            reasons: Vec::new(),
            replay: None,
            latency_ms: None,
        });
        s.attempts += 1;
        s.standing = s.standing.min(standing);
        for r in reasons {
            if !s.reasons.contains(&r) {
                s.reasons.push(r);
            }
        }
        s.replay = replay.or(s.replay);
        s.latency_ms = latency.or(s.latency_ms);
    }
    let mut cases: Vec<GateCaseRow> = by_case.into_values().collect();
    let worst = |c: &GateCaseRow| c.candidate.as_ref().map_or(Standing::Error, |s| s.standing);
    cases.sort_by(|a, b| {
        b.must_pass
            .cmp(&a.must_pass)
            .then(worst(a).cmp(&worst(b)))
            .then(a.title.cmp(&b.title))
            .then(a.id.cmp(&b.id))
    });
    Ok(cases)
}

fn summarise(head: &mut RunHead, cases: &[GateCaseRow]) {
    let row = &mut head.row;
    row.cases = cases.len();
    row.must_pass = cases.iter().filter(|c| c.must_pass).count();
    let mut base = Tally::default();
    for c in cases {
        if let Some(s) = &c.candidate {
            row.on_candidate.add(s.standing);
        }
        if let Some(s) = &c.baseline {
            base.add(s.standing);
        }
    }
    row.on_baseline = head.baseline_pk.map(|_| base);
}

fn suite_index(
    conn: &Connection,
    suite: &Path,
) -> rusqlite::Result<BTreeMap<String, incidents::CaseRef>> {
    Ok(incidents::cases(conn, suite)?
        .0
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect())
}

/// Stored runs, newest first, with their tallies.
pub fn runs(conn: &Connection, suite: &Path) -> rusqlite::Result<Vec<GateRunRow>> {
    let index = suite_index(conn, suite)?;
    let mut out = Vec::new();
    for mut head in heads(conn, None)? {
        let cases = cases_of(conn, &head, &index)?;
        summarise(&mut head, &cases);
        out.push(head.row);
    }
    Ok(out)
}

/// One run with its cases; `None` when there is no such run.
pub fn run(conn: &Connection, id: i64, suite: &Path) -> rusqlite::Result<Option<GateRunDetail>> {
    let index = suite_index(conn, suite)?;
    let Some(mut head) = heads(conn, Some(id))?.into_iter().next() else {
        return Ok(None);
    };
    let cases = cases_of(conn, &head, &index)?;
    summarise(&mut head, &cases);
    Ok(Some(GateRunDetail {
        run: head.row,
        cases,
    }))
}
