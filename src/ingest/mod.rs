//! From OTLP/JSON bytes to the cache: parse, extract, batch, upsert.

mod refusal;
mod semconv;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{SyncSender, sync_channel};

use serde::Serialize;

pub use semconv::{Extractor, Resource, SpanRecord, content_hash};

use crate::config::Config;
use crate::otlp::{Batch, DocumentReader};
use crate::store::{IngestCounts, Writer};

/// Spans per transaction: large enough to amortise commits, small enough that memory
/// stays flat whatever the file size.
pub const BATCH_SPANS: usize = 5_000;

/// How many rejected spans are kept with their reasons; the rest are only counted.
const MAX_PROBLEMS: usize = 50;

/// One span or line that could not be imported.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub file: String,
    pub line: Option<usize>,
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

/// The closing summary of an import.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ImportSummary {
    pub files: u64,
    #[serde(flatten)]
    pub counts: IngestCounts,
    /// Spans or lines rejected as malformed.
    pub rejected: u64,
    /// The first rejections with their reasons.
    pub problems: Vec<Problem>,
}

impl ImportSummary {
    fn reject(&mut self, problem: Problem) {
        self.rejected += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        }
    }
}

/// Imports OTLP/JSON into the cache under one source name.
///
/// Parsing runs on the calling thread and writing on a second one, joined by a short
/// bounded queue: the two overlap on two cores, and memory stays flat.
pub struct Importer<'w> {
    writer: &'w mut Writer,
    extractor: Extractor,
    source: String,
    pub summary: ImportSummary,
}

/// Batches of spans in flight between the parser and the writer.
const QUEUE_BATCHES: usize = 2;

impl<'w> Importer<'w> {
    pub fn new(writer: &'w mut Writer, config: &Config, source: &str) -> Self {
        Self {
            writer,
            extractor: Extractor::new(&config.versions, &config.detect),
            source: source.to_string(),
            summary: ImportSummary::default(),
        }
    }

    /// Imports one file; `on_progress` hears the bytes read so far.
    pub fn import_file(
        &mut self,
        path: &Path,
        on_progress: impl FnMut(u64),
    ) -> Result<(), ImportError> {
        let file = File::open(path).map_err(|e| ImportError::Open {
            path: path.display().to_string(),
            source: e,
        })?;
        let reader = BufReader::with_capacity(1 << 20, Counting::new(file, on_progress));
        self.import_reader(reader, &path.display().to_string())
    }

    /// Imports from any reader; `name` labels problems.
    pub fn import_reader(&mut self, input: impl BufRead, name: &str) -> Result<(), ImportError> {
        self.summary.files += 1;
        let (tx, rx) = sync_channel::<Vec<SpanRecord>>(QUEUE_BATCHES);
        let Self {
            writer,
            extractor,
            source,
            summary,
        } = self;
        std::thread::scope(|scope| {
            let written = scope.spawn(move || {
                let mut counts = IngestCounts::default();
                for spans in rx {
                    counts += writer.ingest(source, spans)?;
                }
                Ok::<_, rusqlite::Error>(counts)
            });
            let mut parser = Parser {
                extractor,
                summary,
                name,
                pending: Vec::with_capacity(BATCH_SPANS),
                tx,
            };
            let parsed = parser.run(input);
            drop(parser);
            // A writer error explains a parser stop (the queue closed), so it wins.
            summary.counts += written.join().expect("writer thread does not panic")?;
            parsed
        })
    }
}

/// The parsing half of an import.
struct Parser<'a> {
    extractor: &'a Extractor,
    summary: &'a mut ImportSummary,
    name: &'a str,
    pending: Vec<SpanRecord>,
    tx: SyncSender<Vec<SpanRecord>>,
}

impl Parser<'_> {
    fn run(&mut self, input: impl BufRead) -> Result<(), ImportError> {
        let mut problems = Vec::new();
        DocumentReader::new(input).read(
            |batch| self.add_batch(batch),
            |e| problems.push((e.line, e.message)),
        )?;
        for (line, reason) in problems {
            self.reject(line, reason);
        }
        self.flush()
    }

    fn add_batch(&mut self, batch: Batch) -> Result<(), ImportError> {
        let resource = Resource::new(batch.resource);
        for (i, raw) in batch.spans.iter().enumerate() {
            match self.extractor.record(&resource, raw.get()) {
                Ok(rec) => self.pending.push(rec),
                Err(reason) => self.reject(
                    batch.line,
                    format!("span {}: {reason}", span_label(i, raw.get())),
                ),
            }
        }
        if self.pending.len() >= BATCH_SPANS {
            self.flush()?;
        }
        Ok(())
    }

    fn reject(&mut self, line: Option<usize>, reason: String) {
        self.summary.reject(Problem {
            file: self.name.to_string(),
            line,
            reason,
        });
    }

    /// Hands what is pending to the writer.
    fn flush(&mut self) -> Result<(), ImportError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let spans = std::mem::replace(&mut self.pending, Vec::with_capacity(BATCH_SPANS));
        self.tx.send(spans).map_err(|_| ImportError::WriterStopped)
    }
}

/// Names a rejected span by its id when it has a readable one.
fn span_label(index: usize, raw: &str) -> String {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Id {
        span_id: Option<String>,
    }
    match serde_json::from_str::<Id>(raw).ok().and_then(|i| i.span_id) {
        Some(id) => format!("#{index} ({id})"),
        None => format!("#{index}"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("cache write failed: {0}")]
    Store(#[from] rusqlite::Error),
    #[error("cache writer stopped")]
    WriterStopped,
}

/// Counts bytes as they are read, for the progress bar.
struct Counting<R, F> {
    inner: R,
    read: u64,
    on_progress: F,
}

impl<R, F> Counting<R, F> {
    fn new(inner: R, on_progress: F) -> Self {
        Self {
            inner,
            read: 0,
            on_progress,
        }
    }
}

impl<R: Read, F: FnMut(u64)> Read for Counting<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        (self.on_progress)(self.read);
        Ok(n)
    }
}
