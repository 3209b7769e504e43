//! Where traces and signals come from: one trait, one file per kind.
//!
//! A source turns "the page after this cursor" into records and the next cursor; the
//! sync engine ([`crate::sync`]) commits both together and decides when to ask again.
//! Sources never touch the cache themselves.

mod config;
mod fetch;
mod langfuse;
mod otlp_file;
pub mod otlp_span;
mod phoenix;
mod prometheus;
mod window;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use config::{Auth, SourceConfig, SourceKind};
pub use fetch::{Credentials, Fetcher, Secret};
pub use window::Window;

use crate::ingest::{Extractor, SpanRecord};
use crate::store::sync::Sample;

/// What one pull brought.
#[derive(Debug)]
pub enum Records {
    Spans(Vec<SpanRecord>),
    Samples(Vec<Sample>),
}

impl Records {
    pub fn len(&self) -> usize {
        match self {
            Self::Spans(s) => s.len(),
            Self::Samples(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One page of a source.
#[derive(Debug)]
pub struct Page {
    pub records: Records,
    /// Records the source sent that could not be read, with the reason; the rest of
    /// the page commits.
    pub rejected: Vec<String>,
    /// Where the next pull starts; saved in the transaction that commits `records`.
    pub cursor: String,
    /// How far the source is now known to be in the cache (its lag is measured here).
    pub high_water_ns: Option<i64>,
    /// More is waiting now; `false` means caught up until the next poll.
    pub more: bool,
}

/// Why a pull failed. Whatever it is, nothing is committed and the cursor stays.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PullError {
    /// Unreachable, timed out, 5xx or 429 after the retries: try again later.
    #[error("{0}")]
    Unavailable(String),
    /// The source answered something that cannot be read.
    #[error("unreadable page: {0}")]
    Malformed(String),
    /// The source refuses the request (credentials, project, query): the operator must
    /// act.
    #[error("{0}")]
    Refused(String),
    /// The source handed back a cursor it had handed out before (the text says so).
    #[error("{0}")]
    Looping(String),
}

/// What every pull needs besides the cursor.
pub struct PullContext {
    /// The importer's attribute mapping, so pulled spans mean what imported ones do.
    pub extractor: Arc<Extractor>,
    pub now_ns: i64,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A place relops pulls from.
pub trait Source: Send + Sync {
    fn config(&self) -> &SourceConfig;

    /// The page after `cursor` (`None`: never pulled before).
    fn pull<'a>(
        &'a self,
        cursor: Option<&'a str>,
        cx: &'a PullContext,
    ) -> BoxFuture<'a, Result<Page, PullError>>;

    /// Reaches the source once without pulling: what it found, in words (`doctor`).
    fn probe(&self) -> BoxFuture<'_, Result<String, PullError>>;
}

/// Builds the pulling side of a configured source (`None` for a receiver, which is
/// pushed to). The error names the missing environment variable or bad setting.
pub fn build(config: &SourceConfig) -> Result<Option<Arc<dyn Source>>, String> {
    let source: Arc<dyn Source> = match config.kind {
        SourceKind::Phoenix => Arc::new(phoenix::Phoenix::new(config)?),
        SourceKind::OtlpFile => Arc::new(otlp_file::OtlpFile::new(config)),
        SourceKind::OtlpHttp => return Ok(None),
        SourceKind::Langfuse => Arc::new(langfuse::Langfuse::new(config)?),
        SourceKind::Prometheus => Arc::new(prometheus::Prometheus::new(config)?),
    };
    Ok(Some(source))
}
