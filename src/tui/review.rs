//! The console's review effect: storing scores and notes with the writer. Synchronous
//! here; the driver runs it on tokio's blocking pool and the headless driver in place.

use super::action::{Action, ReviewWrite};
use crate::store;
use crate::workspace::Workspace;

/// Stores the scores and note; the answer is an [`Action::Reviewed`].
pub fn write(ws: &Workspace, w: &ReviewWrite) -> Action {
    let result = store::open_writer(&ws.db_path)
        .map_err(|e| e.to_string())
        .and_then(|writer| {
            crate::review::store::record(
                writer.connection(),
                w.trace_pk,
                &w.reviewer,
                crate::clock::now_ns(),
                &w.scores,
                w.note.as_deref(),
            )
        });
    Action::Reviewed {
        trace_pk: w.trace_pk,
        result,
    }
}

/// Runs review writes off the UI thread.
pub struct Reviews {
    ws: std::sync::Arc<Workspace>,
    tx: tokio::sync::mpsc::UnboundedSender<Action>,
}

impl Reviews {
    pub fn new(ws: &Workspace, tx: tokio::sync::mpsc::UnboundedSender<Action>) -> Self {
        Self {
            ws: std::sync::Arc::new(ws.clone()),
            tx,
        }
    }

    /// Must be called within the runtime.
    pub fn spawn(&self, w: Box<ReviewWrite>) {
        let (ws, tx) = (self.ws.clone(), self.tx.clone());
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(write(&ws, &w));
        });
    }
}
