//! Runs the release gate from the console on a tokio task, off the UI thread: the same
//! steps as `relops gate` (suite, versions, replays on both versions, decision, report,
//! stored run), reporting an [`Action::GateProgress`] as each case finishes on both
//! versions and ending with an [`Action::GateFinished`].

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::mpsc::UnboundedSender;

use super::action::{Action, GateDone, GateProgress};
use crate::cases::Suite;
use crate::gate::store as gate_store;
use crate::gate::{CaseRun, Decision, Outcome, decide, report};
use crate::replay::Replayer;
use crate::store::{self, query};
use crate::workspace::Workspace;

/// Starts console gate runs; the update logic allows one at a time.
pub struct Gates {
    ws: Arc<Workspace>,
    tx: UnboundedSender<Action>,
}

impl Gates {
    pub fn new(ws: &Workspace, tx: UnboundedSender<Action>) -> Self {
        Self {
            ws: Arc::new(ws.clone()),
            tx,
        }
    }

    /// Must be called within the runtime.
    pub fn spawn(&self, candidate: String, baseline: Option<String>) {
        let (ws, tx) = (Arc::clone(&self.ws), self.tx.clone());
        tokio::spawn(async move {
            let done = run(&ws, candidate, baseline, &tx).await;
            // The console may have quit meanwhile; nobody is left to tell.
            let _ = tx.send(done);
        });
    }
}

/// Runs the gate to the end; progress goes to `tx`, the result is returned as an
/// [`Action::GateFinished`].
pub async fn run(
    ws: &Workspace,
    candidate: String,
    baseline: Option<String>,
    tx: &UnboundedSender<Action>,
) -> Action {
    Action::GateFinished(gate(ws, &candidate, baseline.as_deref(), tx).await)
}

async fn gate(
    ws: &Workspace,
    candidate: &str,
    baseline: Option<&str>,
    tx: &UnboundedSender<Action>,
) -> Result<GateDone, String> {
    let dir = ws.suite_dir();
    let suite = Suite::load(&dir);
    if let Some(bad) = suite.errors.first() {
        return Err(format!(
            "{} bad case file(s) in {}, first {bad}: fix them first",
            suite.errors.len(),
            dir.display()
        ));
    }
    if suite.cases.is_empty() {
        return Err(format!(
            "no cases in {}: `R` on a trace makes one",
            dir.display()
        ));
    }
    let (cand, base) = {
        let conn = store::open_reader(&ws.db_path).map_err(|e| e.to_string())?;
        let cand = query::resolve_version(&conn, candidate)?;
        let base = match baseline {
            Some(b) => Some(query::resolve_version(&conn, b)?),
            None => {
                let all = query::versions(&conn).map_err(|e| e.to_string())?;
                let at = all.iter().position(|v| v.id == cand.id).unwrap_or(0);
                all[..at]
                    .iter()
                    .rev()
                    .find(|v| v.label != cand.label)
                    .cloned()
            }
        };
        (cand, base)
    };
    let replayer = Replayer::new(ws, None)?;
    let started_ns = crate::clock::now_ns();
    let base_label = base.as_ref().map(|b| b.label.as_str());

    // One future per case (both versions inside it): progress as each one ends, while
    // the replay target's concurrency limit holds across all of them.
    let total = suite.cases.len();
    let mut pending: FuturesUnordered<_> = suite
        .cases
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let replayer = &replayer;
            let config = &ws.config;
            let cand_label = cand.label.as_str();
            async move {
                let runs = crate::gate::run::run(
                    replayer,
                    config,
                    std::slice::from_ref(case),
                    cand_label,
                    base_label,
                    1,
                    None,
                )
                .await;
                (i, runs)
            }
        })
        .collect();
    let mut slots: Vec<Option<CaseRun>> = vec![None; total];
    let mut progress = GateProgress {
        total,
        ..Default::default()
    };
    let _ = tx.send(Action::GateProgress(progress));
    while let Some((i, runs)) = pending.next().await {
        if let Some(r) = runs.into_iter().next() {
            let errored = r
                .candidate
                .iter()
                .any(|a| matches!(a.outcome, Outcome::Error { .. }));
            let passed = r.candidate.iter().all(|a| a.outcome == Outcome::Pass);
            match (errored, passed) {
                (true, _) => progress.errors += 1,
                (false, true) => progress.passed += 1,
                (false, false) => progress.failed += 1,
            }
            slots[i] = Some(r);
        }
        progress.done += 1;
        let _ = tx.send(Action::GateProgress(progress));
    }
    drop(pending);
    let runs: Vec<CaseRun> = slots.into_iter().flatten().collect();

    let verdict = decide(&runs, base.is_some(), &ws.config.gate);
    let versions = report::Versions {
        candidate: cand.label.clone(),
        candidate_fingerprint: Some(cand.id.clone()),
        baseline: base.as_ref().map(|b| b.label.clone()),
        baseline_fingerprint: base.as_ref().map(|b| b.id.clone()),
    };
    let md = report::markdown(&verdict, &runs, &versions);
    let writer = store::open_writer(&ws.db_path).map_err(|e| e.to_string())?;
    let run_id = gate_store::save(
        writer.connection(),
        &gate_store::Finished {
            candidate_pk: cand.rowid,
            baseline_pk: base.as_ref().map(|b| b.rowid),
            started_ns,
            finished_ns: crate::clock::now_ns(),
            verdict: &verdict,
            runs: &runs,
            report: &md,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(GateDone {
        run_id,
        candidate: cand.label,
        baseline: base.map(|b| b.label),
        decision: match verdict.decision {
            Decision::Ship => "ship".into(),
            Decision::Hold => "hold".into(),
        },
    })
}
