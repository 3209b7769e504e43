//! Runs the console's replays on tokio tasks, off the UI thread; each result comes back
//! as an [`Action::Replayed`]. One [`Replayer`] serves the session, so the target's
//! concurrency limit holds across key presses.

use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc::UnboundedSender;

use super::action::Action;
use crate::replay::Replayer;
use crate::workspace::Workspace;

pub struct Replays {
    ws: Arc<Workspace>,
    tx: UnboundedSender<Action>,
    /// Built on first use; a config error is kept and reported on every attempt.
    replayer: Arc<OnceLock<Result<Replayer, String>>>,
}

impl Replays {
    pub fn new(ws: &Workspace, tx: UnboundedSender<Action>) -> Self {
        Self {
            ws: Arc::new(ws.clone()),
            tx,
            replayer: Arc::new(OnceLock::new()),
        }
    }

    /// Starts a replay; must be called within the runtime.
    pub fn spawn(&self, trace_id: String, versions: Vec<String>) {
        let (ws, tx, cell) = (
            Arc::clone(&self.ws),
            self.tx.clone(),
            Arc::clone(&self.replayer),
        );
        tokio::spawn(async move {
            let replayer = cell.get_or_init(|| Replayer::new(&ws, None));
            let result = match replayer {
                Ok(r) => r.replay(trace_id.clone(), versions).await,
                Err(e) => Err(e.clone()),
            };
            // The console may have quit meanwhile; nobody is left to tell.
            let _ = tx.send(Action::Replayed { trace_id, result });
        });
    }
}
