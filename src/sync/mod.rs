//! The sync engine: pulls every configured source into the cache, page by page.
//!
//! Each source runs as its own task, so one failing source never stops the others.
//! A page's records and the cursor after it commit together (see [`committer`]); a
//! failed pull records its error and leaves the cursor where it was, so the same page
//! is asked for again. Within a run, a page whose answer is unreadable, does not answer
//! the query or repeats a cursor of the pass is asked for again a few times before the
//! source stops (see [`Engine::pull_again`]).

mod committer;
mod receiver;
pub mod status;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

pub use committer::Committer;

use crate::config::Config;
use crate::ingest::Extractor;
use crate::sources::{self, PullContext, PullError, Source, SourceConfig};

/// What happened, as it happens: for progress lines and the console.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A page committed.
    Page {
        source: String,
        records: u64,
        rows: u64,
        rejected: u64,
    },
    /// The source has nothing more for now.
    CaughtUp { source: String },
    /// A page's answer was faulty; it is asked for again after `retry_in`.
    Retrying {
        source: String,
        error: String,
        /// The ask coming up (2 for the first ask again) and the most there will be.
        ask: u32,
        of: u32,
        retry_in: Duration,
    },
    /// A pull failed; `retry_in` when the engine will try again.
    Failed {
        source: String,
        error: String,
        retry_in: Option<Duration>,
    },
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Page {
                source,
                records,
                rows,
                rejected,
            } => write!(
                f,
                "{source}: +{records} records ({rows} new or changed, {rejected} rejected)"
            ),
            Event::CaughtUp { source } => write!(f, "{source}: caught up"),
            Event::Retrying {
                source,
                error,
                ask,
                of,
                retry_in,
            } => write!(
                f,
                "{source}: {error}; asking for the page again in {} ms ({ask} of {of}); \
                 the pages before it are kept",
                retry_in.as_millis()
            ),
            Event::Failed {
                source,
                error,
                retry_in: Some(d),
            } => write!(
                f,
                "{source}: failed: {error}; retrying in {} s",
                d.as_secs()
            ),
            Event::Failed { source, error, .. } => write!(f, "{source}: failed: {error}"),
        }
    }
}

/// How one source's sync went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceReport {
    pub source: String,
    pub kind: String,
    pub ok: bool,
    pub pages: u64,
    /// Records pulled (re-read ones included).
    pub records: u64,
    /// Rows new or changed in the cache.
    pub rows: u64,
    pub rejected: u64,
    /// Pages asked for again because an answer was faulty (then mended).
    pub retried: u64,
    /// The first few rejected records with their reasons.
    pub rejections: Vec<String>,
    pub error: Option<String>,
    /// Why the source was not pulled (a receiver is pushed to).
    pub skipped: Option<String>,
}

/// Rejections kept per report; the rest are counted.
const MAX_REJECTIONS: usize = 20;

/// The longest wait before asking for a faulty page again.
const MAX_PAGE_WAIT: Duration = Duration::from_secs(10);

/// The error of a page asked for `asked` times in vain, in plain words: what went
/// wrong, and that the pages before it were kept.
fn gave_up(error: PullError, asked: u32, committed: u64) -> PullError {
    let kept = match committed {
        0 => "no page of this run was stored; the next sync asks for the same page".to_string(),
        1 => "the 1 page before it is stored; the next sync resumes from there".to_string(),
        n => format!("the {n} pages before it are stored; the next sync resumes from there"),
    };
    let times = match asked {
        1 => "once".to_string(),
        n => format!("{n} times"),
    };
    let say = |m: String| format!("{m}; asked for the page {times}, then stopped; {kept}");
    match error {
        PullError::Malformed(m) => PullError::Malformed(say(m)),
        PullError::Looping(m) => PullError::Looping(say(m)),
        e => e,
    }
}

/// Sources built from the config, or the reason each could not be.
pub struct Sources {
    pub pulled: Vec<Arc<dyn Source>>,
    /// Receivers (pushed to): they listen while the engine watches.
    pub receivers: Vec<SourceConfig>,
    pub reports: Vec<SourceReport>,
}

impl Sources {
    pub fn build(config: &Config) -> Self {
        let mut pulled = Vec::new();
        let mut receivers = Vec::new();
        let mut reports = Vec::new();
        for c in &config.sources {
            match sources::build(c) {
                Ok(Some(s)) => pulled.push(s),
                Ok(None) => {
                    receivers.push(c.clone());
                    reports.push(SourceReport {
                        skipped: Some(
                            "a receiver: it is pushed to while `relops collect`, \
                                   `relops sync --watch` or the console runs"
                                .into(),
                        ),
                        ok: true,
                        ..SourceReport::new(c)
                    })
                }
                Err(e) => reports.push(SourceReport {
                    error: Some(e),
                    ..SourceReport::new(c)
                }),
            }
        }
        Self {
            pulled,
            receivers,
            reports,
        }
    }
}

impl SourceReport {
    fn new(c: &SourceConfig) -> Self {
        Self {
            source: c.name.clone(),
            kind: c.kind.as_str().to_string(),
            ..Self::default()
        }
    }
}

/// Shared by every source task.
#[derive(Clone)]
pub struct Engine {
    config: Arc<Config>,
    committer: Committer,
    extractor: Arc<Extractor>,
    events: Option<UnboundedSender<Event>>,
}

impl Engine {
    pub fn new(
        config: &Config,
        committer: Committer,
        events: Option<UnboundedSender<Event>>,
    ) -> Self {
        Self {
            config: Arc::new(config.clone()),
            committer,
            extractor: Arc::new(Extractor::new(&config.versions, &config.detect)),
            events,
        }
    }

    /// Pulls every source until it is caught up or fails; sources run concurrently.
    pub async fn once(&self, sources: &Sources) -> Vec<SourceReport> {
        self.record_unbuilt(sources);
        let pulls = sources.pulled.iter().map(|s| self.catch_up(s.as_ref()));
        let mut reports = futures::future::join_all(pulls).await;
        self.committer.flush().await;
        reports.extend(sources.reports.iter().cloned());
        reports.sort_by(|a, b| a.source.cmp(&b.source));
        reports
    }

    /// Keeps every source caught up until `stop`: after a clean pass a source waits its
    /// poll interval; after a failure, a backoff that doubles up to that interval.
    pub async fn watch(&self, sources: &Sources, stop: CancellationToken) {
        self.record_unbuilt(sources);
        let mut tasks: Vec<_> = sources
            .pulled
            .iter()
            .map(|s| {
                let (engine, source, stop) = (self.clone(), Arc::clone(s), stop.clone());
                tokio::spawn(async move { engine.keep_up(source.as_ref(), stop).await })
            })
            .collect();
        for c in &sources.receivers {
            let (engine, source, stop) = (self.clone(), c.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let e = &engine;
                let db = e.committer.db().to_path_buf();
                receiver::run(&source, &e.config, &db, &e.committer, |ev| e.emit(ev), stop).await
            }));
        }
        futures::future::join_all(tasks).await;
        self.committer.flush().await;
    }

    /// A source that could not be built (a missing variable, say) is failing too: the
    /// Sources view and `--status` must say so, not "never synced".
    fn record_unbuilt(&self, sources: &Sources) {
        for r in &sources.reports {
            if let Some(error) = &r.error {
                self.committer.error(&r.source, &r.kind, error);
                self.emit(Event::Failed {
                    source: r.source.clone(),
                    error: error.clone(),
                    retry_in: None,
                });
            }
        }
    }

    async fn keep_up(&self, source: &dyn Source, stop: CancellationToken) {
        let c = source.config();
        let poll = Duration::from_secs(c.poll.as_secs().max(1));
        let mut backoff = Duration::from_millis(c.backoff_ms.max(100));
        loop {
            let report = tokio::select! {
                r = self.catch_up(source) => r,
                () = stop.cancelled() => return,
            };
            let wait = if report.ok {
                backoff = Duration::from_millis(c.backoff_ms.max(100));
                poll
            } else {
                backoff = (backoff * 2).min(poll);
                self.emit(Event::Failed {
                    source: report.source.clone(),
                    error: report.error.unwrap_or_default(),
                    retry_in: Some(backoff),
                });
                backoff
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    /// Pulls one source page after page until it says it is caught up.
    async fn catch_up(&self, source: &dyn Source) -> SourceReport {
        let c = source.config();
        let kind = c.kind.as_str();
        let mut report = SourceReport::new(c);
        match self.pages(source, &mut report).await {
            Ok(()) => report.ok = true,
            Err(e) => {
                let error = e.to_string();
                self.committer.error(&c.name, kind, &error);
                report.error = Some(error);
            }
        }
        report
    }

    async fn pages(&self, source: &dyn Source, report: &mut SourceReport) -> Result<(), PullError> {
        let c = source.config();
        let mut seen = HashSet::new();
        loop {
            let cursor = self
                .committer
                .cursor(&c.name)
                .await
                .map_err(PullError::Unavailable)?;
            let page = self
                .pull_again(source, cursor.as_deref(), &mut seen, report)
                .await?;
            let more = page.more;
            let rejected = page.rejected.len() as u64;
            let room = MAX_REJECTIONS.saturating_sub(report.rejections.len());
            report
                .rejections
                .extend(page.rejected.iter().take(room).cloned());
            let empty = page.records.is_empty() && rejected == 0;
            if empty && !more && cursor.as_deref() == Some(&page.cursor) {
                self.committer.idle(&c.name, c.kind.as_str());
            } else {
                let done = self
                    .committer
                    .commit(&c.name, c.kind.as_str(), page)
                    .await
                    .map_err(PullError::Unavailable)?;
                report.pages += 1;
                report.records += done.records;
                report.rows += done.rows;
                report.rejected += rejected;
                self.emit(Event::Page {
                    source: c.name.clone(),
                    records: done.records,
                    rows: done.rows,
                    rejected,
                });
            }
            if !more {
                self.emit(Event::CaughtUp {
                    source: c.name.clone(),
                });
                return Ok(());
            }
        }
    }

    /// The page after `cursor`, asked for again (at most `retries` times, the wait
    /// doubling from `backoff_ms`) while the answer is unreadable, does not answer the
    /// query, or hands back a cursor this pass has seen: faults of one response, which
    /// a proxy or a restarting server serves and the next request mends. Transport
    /// faults are retried inside each request already. The error says how often the
    /// page was asked for; pages committed before it stay committed.
    async fn pull_again(
        &self,
        source: &dyn Source,
        cursor: Option<&str>,
        seen: &mut HashSet<String>,
        report: &mut SourceReport,
    ) -> Result<sources::Page, PullError> {
        let c = source.config();
        let mut wait = Duration::from_millis(c.backoff_ms.max(1));
        let mut asked = 0;
        loop {
            asked += 1;
            let cx = PullContext {
                extractor: Arc::clone(&self.extractor),
                now_ns: crate::clock::now_ns(),
            };
            let pulled = source.pull(cursor, &cx).await.and_then(|page| {
                let repeats = cursor == Some(page.cursor.as_str()) || seen.contains(&page.cursor);
                match page.more && repeats {
                    true => Err(PullError::Looping(format!(
                        "the source repeats its cursor ({}), which would loop",
                        crate::text::clip(&page.cursor, 80)
                    ))),
                    false => Ok(page),
                }
            });
            let error = match pulled {
                Ok(page) => {
                    if page.more {
                        seen.insert(page.cursor.clone());
                    }
                    return Ok(page);
                }
                Err(e @ (PullError::Malformed(_) | PullError::Looping(_))) => e,
                Err(e) => return Err(e),
            };
            if asked > c.retries {
                return Err(gave_up(error, asked, report.pages));
            }
            report.retried += 1;
            self.emit(Event::Retrying {
                source: c.name.clone(),
                error: error.to_string(),
                ask: asked + 1,
                of: c.retries + 1,
                retry_in: wait,
            });
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_PAGE_WAIT);
        }
    }

    fn emit(&self, event: Event) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }
}
