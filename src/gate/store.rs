//! Gate runs in the cache (`gate_runs`, `gate_results`, and the case replays in
//! `replays`): the decision and its verdict, the Markdown report, every attempt's outcome
//! and the replay it came from; and the reads the Gate pane and `relops gate --list` /
//! `--show` make of them.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::run::{CaseReplay, Side};
use super::verdict::{Attempt, CaseRun, Decision, Outcome, Standing, Verdict};
use crate::clock::rfc3339;
use crate::store::replays;

/// A finished gate to store.
pub struct Finished<'a> {
    pub candidate_pk: i64,
    pub baseline_pk: Option<i64>,
    pub started_ns: i64,
    pub finished_ns: i64,
    /// The suite directory and the replay target, as the run used them.
    pub suite: &'a str,
    pub target: &'a str,
    pub repeat: usize,
    pub verdict: &'a Verdict,
    /// Every call's record ([`super::run::Ran::replays`]).
    pub replays: &'a [CaseReplay],
}

fn decision_text(d: Decision) -> &'static str {
    match d {
        Decision::Ship => "ship",
        Decision::Hold => "hold",
    }
}

/// Stores a gate run in one transaction: its replays (linked to their cases, with no
/// trace), then its results, each naming its replay. Fills every attempt's
/// `replay_id` in `runs`, then stores `render(runs)` as the report. Its id.
pub fn save(
    conn: &Connection,
    g: &Finished,
    runs: &mut [CaseRun],
    render: impl FnOnce(&[CaseRun]) -> String,
) -> rusqlite::Result<i64> {
    let tx = conn.unchecked_transaction()?;
    let verdict = serde_json::to_string(g.verdict).ok();
    let id: i64 = tx.query_row(
        "INSERT INTO gate_runs (candidate_version_id, baseline_version_id, started_at,
            finished_at, decision, verdict, suite, target, repeat)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
        params![
            g.candidate_pk,
            g.baseline_pk,
            g.started_ns,
            g.finished_ns,
            decision_text(g.verdict.decision),
            verdict,
            g.suite,
            g.target,
            g.repeat as i64,
        ],
        |r| r.get(0),
    )?;
    let version = |side: Side| match side {
        Side::Candidate => Some(g.candidate_pk),
        Side::Baseline => g.baseline_pk,
    };
    let records: Vec<_> = g
        .replays
        .iter()
        .filter_map(|r| {
            Some(replays::NewReplay {
                version_pk: version(r.side)?,
                ..r.record.clone()
            })
        })
        .collect();
    let ids = replays::insert_rows(&tx, &records)?;
    let stored = g.replays.iter().filter(|r| version(r.side).is_some());
    for (r, id) in stored.zip(ids) {
        let attempts = runs.get_mut(r.case).map(|run| match r.side {
            Side::Candidate => &mut run.candidate,
            Side::Baseline => &mut run.baseline,
        });
        if let Some(a) = attempts.and_then(|a| a.get_mut(r.attempt)) {
            a.replay_id = Some(id);
        }
    }
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO gate_results (gate_run_id, case_id, version_id, attempt, passed,
                replay_id, details, title, must_pass)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for r in runs.iter() {
            let sides = [(g.candidate_pk, &r.candidate)]
                .into_iter()
                .chain(g.baseline_pk.map(|b| (b, &r.baseline)));
            for (version, attempts) in sides {
                for (i, a) in attempts.iter().enumerate() {
                    let details = serde_json::to_string(a).unwrap_or_else(|_| "{}".into());
                    stmt.execute(params![
                        id,
                        r.id,
                        version,
                        i as i64,
                        a.outcome == Outcome::Pass,
                        a.replay_id,
                        details,
                        r.title,
                        r.must_pass,
                    ])?;
                }
            }
        }
    }
    let report = render(runs);
    tx.execute(
        "UPDATE gate_runs SET report = ?1 WHERE id = ?2",
        params![report, id],
    )?;
    tx.commit()?;
    Ok(id)
}

/// Cases by standing on one version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub error: usize,
}

impl Counts {
    fn add(&mut self, s: Standing) {
        match s {
            Standing::Pass => self.pass += 1,
            Standing::Fail => self.fail += 1,
            Standing::Error | Standing::Absent => self.error += 1,
        }
    }
}

/// A stored gate run, as a list shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub id: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// Label and fingerprint id of each version.
    pub candidate: String,
    pub candidate_fingerprint: String,
    pub baseline: Option<String>,
    pub baseline_fingerprint: Option<String>,
    /// `None` for a run that never finished.
    pub decision: Option<Decision>,
    /// Why it holds (empty when it ships, or when the run predates stored verdicts).
    pub reasons: Vec<String>,
    pub cases: usize,
    pub must_pass: usize,
    pub candidate_counts: Counts,
    pub baseline_counts: Option<Counts>,
    pub suite: Option<String>,
    pub target: Option<String>,
    pub repeat: usize,
    #[serde(skip)]
    pub started_ns: i64,
    #[serde(skip)]
    pub candidate_pk: i64,
    #[serde(skip)]
    pub baseline_pk: Option<i64>,
}

/// One case of a stored run: its attempts on both versions, each with its replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseResult {
    pub case_id: String,
    /// As the case was when the gate ran.
    pub title: String,
    pub must_pass: bool,
    pub candidate: Standing,
    pub baseline: Standing,
    pub candidate_attempts: Vec<Attempt>,
    pub baseline_attempts: Vec<Attempt>,
}

impl CaseResult {
    /// The failed assertions (with reasons) of the candidate's attempts, deduplicated.
    pub fn failed_assertions(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in &self.candidate_attempts {
            if let Outcome::Fail { reasons } = &a.outcome {
                for r in reasons {
                    if !out.contains(r) {
                        out.push(r.clone());
                    }
                }
            }
        }
        out
    }

    /// The replays to diff for this case: (baseline, candidate) of the first attempt
    /// on each side that has one, for `relops diff r:A r:B`.
    pub fn diff_pair(&self) -> Option<(i64, i64)> {
        let first = |a: &[Attempt]| a.iter().find_map(|a| a.replay_id);
        Some((
            first(&self.baseline_attempts)?,
            first(&self.candidate_attempts)?,
        ))
    }
}

/// A stored gate run with every case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunDetail {
    #[serde(flatten)]
    pub summary: RunSummary,
    /// The whole verdict (regressions, fixes, flaky, deltas, risks), when stored.
    pub verdict: Option<Verdict>,
    /// In suite order (as the run stored them).
    pub results: Vec<CaseResult>,
    #[serde(skip)]
    pub report: Option<String>,
}

const RUN_COLUMNS: &str = "g.id, g.started_at, g.finished_at, g.decision, g.verdict,
    c.label, c.fingerprint, b.label, b.fingerprint, g.candidate_version_id,
    g.baseline_version_id, g.suite, g.target, g.repeat";
const RUN_FROM: &str = "FROM gate_runs g JOIN versions c ON c.id = g.candidate_version_id
    LEFT JOIN versions b ON b.id = g.baseline_version_id";

fn summary_row(r: &rusqlite::Row) -> rusqlite::Result<(RunSummary, Option<Verdict>)> {
    let started_ns: i64 = r.get(1)?;
    let finished: Option<i64> = r.get(2)?;
    let decision: Option<String> = r.get(3)?;
    let verdict: Option<Verdict> = r
        .get::<_, Option<String>>(4)?
        .and_then(|v| serde_json::from_str(&v).ok());
    let repeat: i64 = r.get(13)?;
    Ok((
        RunSummary {
            id: r.get(0)?,
            started_at: rfc3339(started_ns),
            finished_at: finished.map(rfc3339),
            candidate: r.get(5)?,
            candidate_fingerprint: r.get(6)?,
            baseline: r.get(7)?,
            baseline_fingerprint: r.get(8)?,
            decision: match decision.as_deref() {
                Some("ship") => Some(Decision::Ship),
                Some("hold") => Some(Decision::Hold),
                _ => None,
            },
            reasons: verdict
                .as_ref()
                .map(|v| v.reasons.clone())
                .unwrap_or_default(),
            cases: 0,
            must_pass: 0,
            candidate_counts: Counts::default(),
            baseline_counts: None,
            suite: r.get(11)?,
            target: r.get(12)?,
            repeat: repeat.max(1) as usize,
            started_ns,
            candidate_pk: r.get(9)?,
            baseline_pk: r.get(10)?,
        },
        verdict,
    ))
}

/// Fills a summary's counts from its results, one standing per case and version.
fn count(conn: &Connection, s: &mut RunSummary) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT case_id, version_id, min(passed),
                max(json_extract(details, '$.outcome.status') = 'error'), max(must_pass)
         FROM gate_results WHERE gate_run_id = ?1 GROUP BY case_id, version_id",
    )?;
    let rows = stmt.query_map([s.id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, bool>(2)?,
            r.get::<_, Option<bool>>(3)?.unwrap_or(false),
            r.get::<_, bool>(4)?,
        ))
    })?;
    let mut cases = std::collections::BTreeMap::new();
    let mut baseline = Counts::default();
    for row in rows {
        let (case, version, passed, error, must_pass) = row?;
        let standing = if error {
            Standing::Error
        } else if passed {
            Standing::Pass
        } else {
            Standing::Fail
        };
        let must = cases.entry(case).or_insert(false);
        *must |= must_pass;
        if version == s.candidate_pk {
            s.candidate_counts.add(standing);
        } else if Some(version) == s.baseline_pk {
            baseline.add(standing);
        }
    }
    s.cases = cases.len();
    s.must_pass = cases.values().filter(|m| **m).count();
    s.baseline_counts = s.baseline_pk.map(|_| baseline);
    Ok(())
}

/// Stored gate runs, newest first, at most `limit`.
pub fn list(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<RunSummary>> {
    let sql = format!("SELECT {RUN_COLUMNS} {RUN_FROM} ORDER BY g.id DESC LIMIT ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([limit as i64], summary_row)?;
    let mut out = Vec::new();
    for row in rows {
        let (mut s, _) = row?;
        count(conn, &mut s)?;
        out.push(s);
    }
    Ok(out)
}

/// One stored gate run with every case's attempts; `None` when there is no such run.
pub fn show(conn: &Connection, id: i64) -> rusqlite::Result<Option<RunDetail>> {
    let sql = format!("SELECT {RUN_COLUMNS} {RUN_FROM} WHERE g.id = ?1");
    let Some((mut summary, verdict)) = conn
        .prepare_cached(&sql)?
        .query_row([id], summary_row)
        .optional()?
    else {
        return Ok(None);
    };
    count(conn, &mut summary)?;
    let report: Option<String> =
        conn.query_row("SELECT report FROM gate_runs WHERE id = ?1", [id], |r| {
            r.get(0)
        })?;
    let mut stmt = conn.prepare_cached(
        "SELECT r.case_id, r.version_id, r.details, r.replay_id,
                coalesce(r.title, c.title, ''), r.must_pass
         FROM gate_results r LEFT JOIN cases c ON c.id = r.case_id
         WHERE r.gate_run_id = ?1 ORDER BY r.rowid",
    )?;
    let rows = stmt.query_map([id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, bool>(5)?,
        ))
    })?;
    let mut results: Vec<CaseResult> = Vec::new();
    for row in rows {
        let (case_id, version, details, replay_id, title, must_pass) = row?;
        let mut attempt: Attempt = serde_json::from_str(&details).unwrap_or(Attempt {
            outcome: Outcome::Error {
                error: format!("unreadable stored result: {details}"),
                cause: super::verdict::Cause::Unreached,
            },
            latency_ms: None,
            cost_usd: None,
            replay_id: None,
        });
        attempt.replay_id = replay_id.or(attempt.replay_id);
        // Stored case by case: a case's rows are consecutive.
        if results.last().is_none_or(|c| c.case_id != case_id) {
            results.push(CaseResult {
                case_id: case_id.clone(),
                title,
                must_pass,
                candidate: Standing::Absent,
                baseline: Standing::Absent,
                candidate_attempts: Vec::new(),
                baseline_attempts: Vec::new(),
            });
        }
        let c = results.last_mut().expect("pushed above");
        c.must_pass |= must_pass;
        if version == summary.candidate_pk {
            c.candidate_attempts.push(attempt);
        } else if Some(version) == summary.baseline_pk {
            c.baseline_attempts.push(attempt);
        }
    }
    for c in &mut results {
        c.candidate = Standing::of(&c.candidate_attempts);
        c.baseline = Standing::of(&c.baseline_attempts);
    }
    Ok(Some(RunDetail {
        summary,
        verdict,
        results,
        report,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::run::CaseReplay;
    use crate::model::Fingerprint;
    use crate::store::versions::ensure_version;

    fn record(output: &str) -> replays::NewReplay {
        replays::NewReplay {
            trace_pk: None,
            case_id: Some("aaaa0001".into()),
            input: Some("refund please".into()),
            version_pk: 0,
            target: "demo".into(),
            started_ns: 5,
            latency_ms: Some(100.0),
            output: Some(output.into()),
            spans: None,
            tokens_in: None,
            tokens_out: None,
            cost_usd: Some(0.001),
            error: None,
        }
    }

    fn attempt(outcome: Outcome) -> Attempt {
        Attempt {
            outcome,
            latency_ms: Some(100.0),
            cost_usd: Some(0.001),
            replay_id: None,
        }
    }

    #[test]
    fn saves_replays_and_results_and_reads_them_back() {
        let conn = crate::store::memory();
        let v = |label: &str| {
            let f = Fingerprint {
                label: Some(label.into()),
                ..Default::default()
            };
            (ensure_version(&conn, &f, 1).unwrap(), f.id())
        };
        let ((c, c_fp), (b, _)) = (v("v3"), v("v2"));
        let fail = Outcome::Fail {
            reasons: vec!["not_refusal: the workflow refused".into()],
        };
        let mut runs = vec![
            CaseRun {
                id: "aaaa0001".into(),
                title: "refund refused".into(),
                must_pass: true,
                candidate: vec![attempt(fail.clone())],
                baseline: vec![attempt(Outcome::Pass)],
            },
            CaseRun {
                id: "bbbb0002".into(),
                title: "shipping".into(),
                must_pass: false,
                candidate: vec![attempt(Outcome::Error {
                    error: "HTTP 503".into(),
                    cause: crate::gate::Cause::Unreached,
                })],
                baseline: vec![attempt(Outcome::Pass)],
            },
        ];
        let replay = |case, side, output: &str| CaseReplay {
            case,
            side,
            attempt: 0,
            record: record(output),
        };
        let calls = [
            replay(0, Side::Candidate, "I'm sorry"),
            replay(0, Side::Baseline, "Approved"),
            replay(1, Side::Candidate, ""),
            replay(1, Side::Baseline, "We ship"),
        ];
        let verdict = crate::gate::decide(&runs, true, &crate::config::Gate::default());
        let id = save(
            &conn,
            &Finished {
                candidate_pk: c,
                baseline_pk: Some(b),
                started_ns: 1_000_000_000,
                finished_ns: 2_000_000_000,
                suite: "evals/cases",
                target: "demo",
                repeat: 1,
                verdict: &verdict,
                replays: &calls,
            },
            &mut runs,
            |runs| format!("{} cases", runs.len()),
        )
        .unwrap();
        let (cand, base) = (
            runs[0].candidate[0].replay_id.unwrap(),
            runs[0].baseline[0].replay_id.unwrap(),
        );
        let row = replays::get(&conn, cand).unwrap().unwrap();
        assert_eq!(row.output.as_deref(), Some("I'm sorry"));
        assert_eq!((row.version_pk, row.trace_id), (c, None));
        assert_eq!(replays::get(&conn, base).unwrap().unwrap().version_pk, b);

        let listed = list(&conn, 10).unwrap();
        assert_eq!(listed.len(), 1);
        let s = &listed[0];
        assert_eq!((s.id, s.decision), (id, Some(Decision::Hold)));
        assert_eq!(
            (s.candidate.as_str(), s.candidate_fingerprint.as_str()),
            ("v3", c_fp.as_str())
        );
        assert_eq!(s.baseline.as_deref(), Some("v2"));
        assert_eq!((s.cases, s.must_pass), (2, 1));
        assert_eq!(
            s.candidate_counts,
            Counts {
                pass: 0,
                fail: 1,
                error: 1
            }
        );
        assert_eq!(s.baseline_counts.unwrap().pass, 2);
        assert!(
            s.reasons[0].contains("must-pass case aaaa0001"),
            "{:?}",
            s.reasons
        );

        let d = show(&conn, id).unwrap().unwrap();
        assert_eq!(d.report.as_deref(), Some("2 cases"));
        assert_eq!(d.results.len(), 2);
        let first = &d.results[0];
        assert_eq!(
            (first.candidate, first.baseline),
            (Standing::Fail, Standing::Pass)
        );
        assert_eq!(first.title, "refund refused");
        assert!(first.must_pass);
        assert_eq!(first.diff_pair(), Some((base, cand)));
        assert_eq!(
            first.failed_assertions(),
            ["not_refusal: the workflow refused"]
        );
        assert_eq!(d.results[1].candidate, Standing::Error);
        assert_eq!(d.verdict.unwrap().regressions, ["aaaa0001", "bbbb0002"]);
        assert!(show(&conn, id + 1).unwrap().is_none());
    }
}
