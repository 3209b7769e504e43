//! Gate runs in the cache (`gate_runs`, `gate_results`): the decision, the Markdown
//! report, and every attempt's outcome. Replays of cases are not stored yet, so
//! `replay_id` stays empty.

use rusqlite::{Connection, params};

use super::verdict::{CaseRun, Decision, Outcome, Verdict};

/// A finished gate to store.
pub struct Finished<'a> {
    pub candidate_pk: i64,
    pub baseline_pk: Option<i64>,
    pub started_ns: i64,
    pub finished_ns: i64,
    pub verdict: &'a Verdict,
    pub runs: &'a [CaseRun],
    pub report: &'a str,
}

/// Stores a gate run with its results in one transaction; its id.
pub fn save(conn: &Connection, g: &Finished) -> rusqlite::Result<i64> {
    let tx = conn.unchecked_transaction()?;
    let decision = match g.verdict.decision {
        Decision::Ship => "ship",
        Decision::Hold => "hold",
    };
    let id: i64 = tx.query_row(
        "INSERT INTO gate_runs (candidate_version_id, baseline_version_id, started_at,
            finished_at, decision, report) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        params![
            g.candidate_pk,
            g.baseline_pk,
            g.started_ns,
            g.finished_ns,
            decision,
            g.report
        ],
        |r| r.get(0),
    )?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO gate_results (gate_run_id, case_id, version_id, attempt, passed,
                replay_id, details) VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6)",
        )?;
        for r in g.runs {
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
                        details
                    ])?;
                }
            }
        }
    }
    tx.commit()?;
    Ok(id)
}
