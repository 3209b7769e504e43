//! Background data loading: two worker threads ("lanes"), each owning its own read-only
//! SQLite connection (a `Connection` is not `Sync`), each fed through single-flight
//! slots: a newer request of a kind replaces the queued one, so fast scrolling never
//! builds a backlog. The fast lane serves what the operator waits for (pages, details);
//! the slow lane serves full scans (overview buckets, counts).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use tokio::sync::mpsc::UnboundedSender;

use super::action::Action;
use super::data::{self, Loaded, Request};
use crate::store;

/// Hands requests to the lanes; dropping it stops the workers.
pub struct Loader {
    fast: Lane,
    slow: Lane,
}

impl Loader {
    pub fn spawn(db: &Path, tx: UnboundedSender<Action>) -> Self {
        Self {
            fast: Lane::spawn("relops-load-fast", db.to_path_buf(), tx.clone()),
            slow: Lane::spawn("relops-load-slow", db.to_path_buf(), tx),
        }
    }

    pub fn submit(&self, req: Request) {
        match req {
            Request::Overview { .. } | Request::Count { .. } | Request::Drift { .. } => {
                self.slow.submit(req)
            }
            _ => self.fast.submit(req),
        }
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.fast.close();
        self.slow.close();
    }
}

/// The slot a request occupies; lower runs first.
fn slot(req: &Request) -> usize {
    match req {
        Request::Detail { .. } => 0,
        Request::Rebase { .. } => 1,
        Request::Page { .. } => 2,
        Request::Head { .. } => 3,
        Request::Overview { .. } => 4,
        Request::Count { .. } => 5,
        Request::Drift { .. } => 6,
        Request::Diff { .. } => 7,
        Request::Timeline { .. } => 8,
        Request::GateRun { .. } => 9,
        Request::Incidents { .. } => 10,
        Request::GateRuns => 11,
        Request::Rollout { .. } => 12,
        Request::ReviewSample { .. } => 13,
    }
}

/// One more than the highest slot; the test below keeps the two in step.
const SLOTS: usize = 14;

#[derive(Default)]
struct Queue {
    slots: [Option<Request>; SLOTS],
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

struct Lane {
    shared: Arc<Shared>,
}

impl Lane {
    fn spawn(name: &str, db: PathBuf, tx: UnboundedSender<Action>) -> Self {
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        // Detached: a long query must not delay quitting; the closed flag ends the loop.
        let spawned = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || work(&db, &worker, &tx));
        if let Err(e) = spawned {
            eprintln!("relops: cannot start the loader: {e}");
        }
        Self { shared }
    }

    fn submit(&self, req: Request) {
        let mut q = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let i = slot(&req);
        q.slots[i] = Some(req);
        self.shared.ready.notify_one();
    }

    fn close(&self) {
        let mut q = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        q.closed = true;
        self.shared.ready.notify_all();
    }
}

impl Shared {
    /// The most urgent queued request; `None` once closed.
    fn next(&self) -> Option<Request> {
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if q.closed {
                return None;
            }
            if let Some(req) = q.slots.iter_mut().find_map(Option::take) {
                return Some(req);
            }
            q = self.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

fn work(db: &Path, shared: &Shared, tx: &UnboundedSender<Action>) {
    let mut conn = None;
    while let Some(req) = shared.next() {
        // Opened lazily and retried: the cache may appear after the console starts.
        if conn.is_none() {
            match store::open_reader(db) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    let failed = Loaded::Failed {
                        what: req.what(),
                        error: e.to_string(),
                    };
                    if tx.send(Action::Loaded(failed)).is_err() {
                        return;
                    }
                    continue;
                }
            }
        }
        let Some(c) = conn.as_ref() else { continue };
        if tx.send(Action::Loaded(data::execute(c, &req))).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::data::SharedConfig;

    #[test]
    fn newer_request_replaces_the_queued_one() {
        let shared = Shared::default();
        let lane = Lane {
            shared: Arc::new(shared),
        };
        let detail = |id: &str| Request::Detail {
            trace_id: id.into(),
        };
        lane.submit(Request::Overview {
            window_ns: 1,
            buckets: 1,
            config: SharedConfig(Default::default()),
        });
        lane.submit(detail("a"));
        lane.submit(detail("b"));
        assert_eq!(lane.shared.next(), Some(detail("b")));
        assert!(matches!(lane.shared.next(), Some(Request::Overview { .. })));
        lane.close();
        assert_eq!(lane.shared.next(), None);
    }

    #[test]
    fn every_kind_of_request_has_a_slot_of_its_own() {
        use crate::replay::ExecRef;
        use crate::store::query::TraceFilter;
        let config = data::SharedConfig(Arc::new(crate::config::Config::default()));
        let filter = TraceFilter::default();
        let requests = [
            Request::Detail {
                trace_id: "t".into(),
            },
            Request::Rebase {
                generation: 0,
                filter: filter.clone(),
            },
            Request::Page {
                generation: 0,
                filter: filter.clone(),
                max_pk: 0,
                page: 0,
                seek: data::Seek::Offset(0),
            },
            Request::Head {
                generation: 0,
                filter: filter.clone(),
                max_pk: 0,
            },
            Request::Overview {
                window_ns: 1,
                buckets: 1,
                config: SharedConfig(Default::default()),
            },
            Request::Count {
                generation: 0,
                filter,
                max_pk: 0,
            },
            Request::Drift {
                config: Box::default(),
                request: Default::default(),
            },
            Request::Diff {
                a: ExecRef::Replay(1),
                b: ExecRef::Replay(2),
                config,
            },
            Request::Timeline {
                incident: 1,
                suite: "s".into(),
            },
            Request::GateRun { id: 1 },
            Request::Incidents { suite: "s".into() },
            Request::GateRuns,
            Request::Rollout {
                config: SharedConfig(Default::default()),
                now_ns: 0,
            },
            Request::ReviewSample {
                rubric: Box::default(),
                reviewer: "r".into(),
                round: 0,
                now_ns: 0,
            },
        ];
        let mut slots: Vec<usize> = requests.iter().map(slot).collect();
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(slots.len(), requests.len(), "two kinds share a slot");
        assert!(
            slots.iter().all(|s| *s < SLOTS),
            "a slot past SLOTS: {slots:?}"
        );
    }
}
