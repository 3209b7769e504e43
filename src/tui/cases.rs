//! The console's case effects: drafting a case from a trace (reads the cache) and
//! writing its file into the suite. Synchronous here; the driver runs them on tokio's
//! blocking pool and the headless driver calls them in place.

use super::action::Action;
use crate::cases::{self, suggest};
use crate::store;
use crate::workspace::Workspace;

/// Drafts a case from a trace (linked to an incident if given); the answer is an
/// [`Action::CaseSuggested`].
pub fn suggest(ws: &Workspace, trace_id: String, now_ns: i64, incident: Option<i64>) -> Action {
    let result = store::open_reader(&ws.db_path)
        .map_err(|e| e.to_string())
        .and_then(|conn| {
            let opts = suggest::Options {
                now: crate::clock::rfc3339(now_ns),
                incident,
                ..Default::default()
            };
            suggest::from_trace(&conn, &ws.config, &trace_id, &opts)
        })
        .map(Box::new);
    Action::CaseSuggested { trace_id, result }
}

/// Writes the case file atomically; the answer is an [`Action::CaseSaved`].
pub fn save(ws: &Workspace, case: &cases::Case) -> Action {
    let dir = ws.suite_dir();
    let saved = cases::save(&dir, case)
        .map(|p| p.display().to_string())
        .map_err(|e| format!("{}: {e}", dir.display()));
    // The file is what counts; the index (what the Incidents and Gate panes join to)
    // follows, and a failure there is said, not fatal.
    Action::CaseSaved(saved.map(|path| match index(ws, &dir) {
        Ok(()) => path,
        Err(e) => format!("{path} (the cache's case index is not updated: {e})"),
    }))
}

fn index(ws: &Workspace, dir: &std::path::Path) -> Result<(), String> {
    let writer = crate::store::open_writer(&ws.db_path).map_err(|e| e.to_string())?;
    let suite = cases::Suite::load(dir);
    cases::index::index(writer.connection(), &suite, crate::clock::now_ns())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Runs case effects off the UI thread.
pub struct Cases {
    ws: std::sync::Arc<Workspace>,
    tx: tokio::sync::mpsc::UnboundedSender<Action>,
}

impl Cases {
    pub fn new(ws: &Workspace, tx: tokio::sync::mpsc::UnboundedSender<Action>) -> Self {
        Self {
            ws: std::sync::Arc::new(ws.clone()),
            tx,
        }
    }

    /// Must be called within the runtime.
    pub fn suggest(&self, trace_id: String, now_ns: i64, incident: Option<i64>) {
        let (ws, tx) = (self.ws.clone(), self.tx.clone());
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(suggest(&ws, trace_id, now_ns, incident));
        });
    }

    pub fn save(&self, case: Box<cases::Case>) {
        let (ws, tx) = (self.ws.clone(), self.tx.clone());
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(save(&ws, &case));
        });
    }
}
