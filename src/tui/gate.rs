//! Runs the release gate from the console on a tokio task, off the UI thread, through
//! [`crate::gate::job`] (the steps `relops gate` takes: suite, versions, calls on both
//! versions, decision, stored run with its replays). Every call that ends becomes an
//! [`Action::GateProgress`]; the end is an [`Action::GateFinished`].

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc::UnboundedSender;

use super::action::{Action, GateDone, GateProgress};
use crate::gate::Decision;
use crate::gate::job::{self, Error};
use crate::gate::run::{Progress, Status};
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

/// Runs the gate to the end (within a tokio runtime); progress goes to `tx`, the result
/// is returned as an [`Action::GateFinished`].
pub async fn run(
    ws: &Workspace,
    candidate: String,
    baseline: Option<String>,
    tx: &UnboundedSender<Action>,
) -> Action {
    Action::GateFinished(gate(ws, candidate, baseline, tx).await)
}

async fn gate(
    ws: &Workspace,
    candidate: String,
    baseline: Option<String>,
    tx: &UnboundedSender<Action>,
) -> Result<GateDone, String> {
    let request = job::Request {
        candidate,
        baseline,
        repeat: 1,
        ..Default::default()
    };
    let joined = |e: tokio::task::JoinError| format!("the gate task failed: {e}");
    let owned = ws.clone();
    let prepared = tokio::task::spawn_blocking(move || job::prepare(&owned, request))
        .await
        .map_err(joined)?
        .map_err(describe)?;
    // The bar's end is known before the first call.
    let start = GateProgress {
        total: prepared.total(),
        ..Default::default()
    };
    let _ = tx.send(Action::GateProgress(start));
    let started_ns = crate::clock::now_ns();
    let tally = Mutex::new(start);
    let report = tx.clone();
    let ran = job::execute(&prepared, move |p: Progress| {
        let mut t = tally.lock().unwrap_or_else(PoisonError::into_inner);
        count(&mut t, &p);
        let _ = report.send(Action::GateProgress(*t));
    })
    .await;
    let outcome = tokio::task::spawn_blocking(move || job::finish(&prepared, ran, started_ns))
        .await
        .map_err(joined)?
        .map_err(describe)?;
    Ok(GateDone {
        run_id: outcome.gate_run,
        candidate: outcome.versions.candidate,
        baseline: outcome.versions.baseline,
        decision: match outcome.verdict.decision {
            Decision::Ship => "ship".into(),
            Decision::Hold => "hold".into(),
        },
    })
}

/// One more call ended.
fn count(t: &mut GateProgress, p: &Progress) {
    t.done = p.done;
    t.total = p.total;
    match p.status {
        Status::Pass => t.passed += 1,
        Status::Fail => t.failed += 1,
        Status::Error => t.errors += 1,
    }
}

/// The error with the first bad file named (the status line has one line).
fn describe(e: Error) -> String {
    match &e {
        Error::BadFiles { errors, .. } => match errors.first() {
            Some(first) => format!("{e}; first: {first}"),
            None => e.to_string(),
        },
        Error::Other(_) => e.to_string(),
    }
}
