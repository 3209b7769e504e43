//! What a rollout check reads: the release's drift against the previous version over
//! the stage's window, and whether its latest gate run ships.

use rusqlite::{Connection, OptionalExtension};

use super::machine::{Evidence, Reading, Rollout};
use super::plan::Plan;
use crate::config::Config;
use crate::drift::{self, DriftRequest};

/// Reads every signal the current stage's items and triggers name.
pub fn gather(
    conn: &Connection,
    config: &Config,
    plan: &Plan,
    r: &Rollout,
    now_ns: i64,
) -> Evidence {
    let stage = &plan.stages[r.stage.min(plan.stages.len() - 1)];
    let mut evidence = Evidence {
        at_ns: now_ns,
        ..Evidence::default()
    };
    let request = DriftRequest {
        candidate: Some(r.release.clone()),
        baseline: r.previous.clone(),
        before: r.previous.is_none(),
        window: Some(stage.window),
        until_ns: None,
    };
    // No report (no traces yet, say) leaves every signal unread: items stay pending.
    if let Ok(report) = drift::run(conn, &config.drift, &request) {
        for s in report.signals {
            let reading = Reading {
                verdict: s.judgement.verdict,
                value: s.judgement.current,
                n: s.judgement.n_candidate,
            };
            evidence.signals.insert(s.name, reading);
        }
    }
    evidence.gate_ships = gate_ships(conn, &r.release).ok().flatten();
    evidence
}

fn gate_ships(conn: &Connection, release: &str) -> rusqlite::Result<Option<bool>> {
    conn.query_row(
        "SELECT g.decision FROM gate_runs g JOIN versions v ON v.id = g.candidate_version_id
         WHERE v.label = ?1 AND g.decision IS NOT NULL ORDER BY g.started_at DESC LIMIT 1",
        [release],
        |r| r.get::<_, String>(0),
    )
    .optional()
    .map(|d| d.map(|d| d == "ship"))
}
