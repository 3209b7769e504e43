//! The sync engine's one writer: a thread owning the cache's write connection, taking
//! requests from the source tasks and answering each on a oneshot channel.

use std::path::Path;
use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::sources::{Page, Records};
use crate::store::sync::{self as state, Progress};
use crate::store::{self, Writer};

/// What a committed page added.
#[derive(Debug, Clone, Copy, Default)]
pub struct Committed {
    /// Spans or samples that were new or changed.
    pub rows: u64,
    /// Records the page carried, new or not.
    pub records: u64,
}

enum Job {
    Cursor(String, oneshot::Sender<Result<Option<String>, String>>),
    Commit(Box<CommitJob>, oneshot::Sender<Result<Committed, String>>),
    Error(String, String, String),
    Idle(String, String),
    Received(String, u64, u64, i64),
    Flush(oneshot::Sender<()>),
}

struct CommitJob {
    source: String,
    kind: String,
    page: Page,
}

/// A cheap handle to the writer thread; the thread ends when every handle is gone.
#[derive(Clone)]
pub struct Committer {
    jobs: mpsc::Sender<Job>,
    db: std::path::PathBuf,
}

impl Committer {
    /// Opens the cache for writing and starts the thread.
    pub fn start(db: &Path) -> Result<Self, store::StoreError> {
        let writer = store::open_writer(db)?;
        let (jobs, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("relops-sync-writer".into())
            .spawn(move || serve(writer, rx))
            .expect("a thread starts");
        Ok(Self {
            jobs,
            db: db.to_path_buf(),
        })
    }

    /// Where `source`'s next pull starts.
    pub async fn cursor(&self, source: &str) -> Result<Option<String>, String> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Cursor(source.to_string(), tx))?;
        rx.await.map_err(|_| stopped())?
    }

    /// Commits a page's records and its cursor in one transaction.
    pub async fn commit(&self, source: &str, kind: &str, page: Page) -> Result<Committed, String> {
        let (tx, rx) = oneshot::channel();
        let job = CommitJob {
            source: source.to_string(),
            kind: kind.to_string(),
            page,
        };
        self.send(Job::Commit(Box::new(job), tx))?;
        rx.await.map_err(|_| stopped())?
    }

    /// Records a failed pull (fire and forget: the error is reported elsewhere too).
    pub fn error(&self, source: &str, kind: &str, error: &str) {
        let _ = self.send(Job::Error(source.into(), kind.into(), error.into()));
    }

    /// Records spans a receiver committed since its last report.
    pub fn received(&self, source: &str, rows: u64, rejected: u64, last_ns: Option<i64>) {
        let last = last_ns.unwrap_or_else(crate::clock::now_ns);
        let _ = self.send(Job::Received(source.into(), rows, rejected, last));
    }

    /// Waits until every job sent before is written: errors and receiver counts are
    /// sent without waiting, and must not be lost when the process exits.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.send(Job::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// The cache file this committer writes.
    pub fn db(&self) -> &Path {
        &self.db
    }

    /// Records a pull that found the source caught up with nothing new.
    pub fn idle(&self, source: &str, kind: &str) {
        let _ = self.send(Job::Idle(source.into(), kind.into()));
    }

    fn send(&self, job: Job) -> Result<(), String> {
        self.jobs.send(job).map_err(|_| stopped())
    }
}

fn stopped() -> String {
    "the cache writer stopped".into()
}

fn serve(mut writer: Writer, jobs: mpsc::Receiver<Job>) {
    for job in jobs {
        let now = crate::clock::now_ns();
        match job {
            Job::Cursor(source, reply) => {
                let r = state::cursor(writer.connection(), &source).map_err(|e| e.to_string());
                let _ = reply.send(r);
            }
            Job::Commit(job, reply) => {
                let _ = reply.send(commit(&mut writer, *job, now).map_err(|e| e.to_string()));
            }
            Job::Error(source, kind, error) => {
                let _ = state::record_error(writer.connection(), &source, &kind, &error, now);
            }
            Job::Idle(source, kind) => {
                let _ = state::record_idle(writer.connection(), &source, &kind, now);
            }
            Job::Flush(reply) => {
                let _ = reply.send(());
            }
            Job::Received(source, rows, rejected, last) => {
                let conn = writer.connection();
                let _ = state::record_received(conn, &source, rows as i64, rejected as i64, last);
            }
        }
    }
}

fn commit(writer: &mut Writer, job: CommitJob, now_ns: i64) -> rusqlite::Result<Committed> {
    let CommitJob { source, kind, page } = job;
    let records = page.records.len() as u64;
    let mut progress = Progress {
        source: &source,
        kind: &kind,
        cursor: &page.cursor,
        high_water_ns: page.high_water_ns,
        rows: 0,
        rejected: page.rejected.len() as i64,
        now_ns,
    };
    let rows = match page.records {
        Records::Spans(spans) => {
            let (tx_rows, counts) = (records as i64, &mut progress);
            let c = writer.ingest_then(&source, spans, |tx| {
                counts.rows = tx_rows;
                state::save_progress(tx, counts)
            })?;
            c.inserted + c.updated
        }
        Records::Samples(samples) => writer.transaction(|tx| {
            let written = state::write_samples(tx, &source, &samples)?;
            progress.rows = records as i64;
            state::save_progress(tx, &progress)?;
            Ok(written)
        })?,
    };
    Ok(Committed { rows, records })
}
