//! The console keeps its sources pulling while it is open: the sync engine runs on the
//! console's runtime and reports through the same channel as the loaders.

use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::action::Action;
use crate::sync::{Committer, Engine, Event, Sources};
use crate::workspace::Workspace;

/// The running engine; stops when dropped.
pub struct BackgroundSync {
    stop: CancellationToken,
}

impl BackgroundSync {
    /// Starts pulling every configured source, unless there are none or the console is
    /// read-only. Must be called on the runtime.
    pub fn start(ws: &Workspace, actions: UnboundedSender<Action>) -> Option<Self> {
        if ws.readonly || ws.config.sources.is_empty() {
            return None;
        }
        let committer = match Committer::start(&ws.db_path) {
            Ok(c) => c,
            Err(e) => {
                let _ = actions.send(Action::Synced(Event::Failed {
                    source: "sync".into(),
                    error: e.to_string(),
                    retry_in: None,
                }));
                return None;
            }
        };
        let (events, mut heard) = tokio::sync::mpsc::unbounded_channel();
        let engine = Engine::new(&ws.config, committer, Some(events));
        let sources = Sources::build(&ws.config);
        let stop = CancellationToken::new();
        let until = stop.clone();
        tokio::spawn(async move { engine.watch(&sources, until).await });
        tokio::spawn(async move {
            while let Some(e) = heard.recv().await {
                if actions.send(Action::Synced(e)).is_err() {
                    break;
                }
            }
        });
        Some(Self { stop })
    }
}

impl Drop for BackgroundSync {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
