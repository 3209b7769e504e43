//! The OTLP/HTTP trace receiver: `POST /v1/traces`, protobuf or JSON, gzip or not, into
//! the cache under one source name, with the importer's mapping.
//!
//! ```text
//!  handlers (tokio)                         queue (bounded in spans)     writer thread
//!  ────────────────                         ────────────────────────     ─────────────
//!  type, encoding, size ─▶ gunzip, decode, extract ─▶ Job ─────────────▶ one transaction
//!        ▲                  (blocking pool)                              per queued batch
//!        └── 200 (+ partial_success) / 503 ◀──────── committed or failed ◀──┘
//! ```
//!
//! A 200 means the spans are committed. When the queue holds `max_pending_spans`, a
//! request is answered 503 with `Retry-After` instead of being buffered. Spans are keyed
//! by (source, trace id, span id), so a request sent twice is stored once.
//!
//! Start it with [`serve`] (or [`Receiver`] when a status view needs its [`Stats`]
//! before it runs); it stops when the `shutdown` future completes, after answering the
//! requests in flight and committing what they carried.

mod decode;
pub mod proto;
mod sink;
#[cfg(test)]
mod tests;

use std::future::{Future, IntoFuture};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::header::{
    AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use prost::Message;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot};

pub use decode::{DecodeError, Decoded, Encoding, decode, gunzip};

use crate::config::Config;
use crate::ingest::Extractor;
use crate::sources::Secret;
use crate::store::{IngestCounts, Writer};

/// Source name of spans received over OTLP/HTTP unless told otherwise.
pub const DEFAULT_SOURCE: &str = "otlp-http";

/// Refuses to listen beyond loopback without a token: the receiver is where traffic
/// names its version, and an open one lets anyone on the network post a second "v2".
pub fn check_exposure(addr: std::net::SocketAddr, has_token: bool) -> Result<(), String> {
    if addr.ip().is_loopback() || has_token {
        return Ok(());
    }
    Err(format!(
        "listening on {addr}, beyond loopback, needs a bearer token: name its environment \
         variable in [collect] token_env (or the source's auth.token_env) and export it"
    ))
}

/// Whether `headers` carry `Authorization: Bearer <token>`. Compared as digests, so
/// the time taken says nothing about how much of a guess was right.
fn authorised(headers: &HeaderMap, token: &Secret) -> bool {
    use sha2::{Digest, Sha256};
    let given = header(headers, AUTHORIZATION)
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    Sha256::digest(given.trim().as_bytes()) == Sha256::digest(token.expose().as_bytes())
}

/// How long requests in flight may take to finish once shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What a busy receiver asks clients to wait, in seconds.
const RETRY_AFTER_SECS: u64 = 1;

/// `google.rpc.Code` values used in error bodies.
const INVALID_ARGUMENT: i32 = 3;
const RESOURCE_EXHAUSTED: i32 = 8;
const INTERNAL: i32 = 13;
const UNAVAILABLE: i32 = 14;
const UNAUTHENTICATED: i32 = 16;

/// How the receiver behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Source name the spans are cached under.
    pub source: String,
    /// Largest body accepted, compressed and once decompressed (413 beyond).
    pub max_body_bytes: usize,
    /// Spans decoded and waiting for the writer; beyond this requests get 503.
    pub max_pending_spans: usize,
    /// When set, a request must carry `Authorization: Bearer <token>` (401 without):
    /// anyone who can post spans can mint a version label.
    pub token: Option<Secret>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            source: DEFAULT_SOURCE.to_string(),
            max_body_bytes: 32 << 20,
            max_pending_spans: 50_000,
            token: None,
        }
    }
}

/// Live counters of a receiver, cheap to share and to read (a status view polls
/// [`Stats::snapshot`]).
#[derive(Debug, Default)]
pub struct Stats {
    requests: AtomicU64,
    spans_accepted: AtomicU64,
    spans_rejected: AtomicU64,
    refused: AtomicU64,
    invalid: AtomicU64,
    batches: AtomicU64,
    queued_spans: AtomicU64,
    inserted: AtomicU64,
    updated: AtomicU64,
    unchanged: AtomicU64,
    new_traces: AtomicU64,
    last_request_ns: AtomicI64,
    last_error: Mutex<Option<String>>,
}

/// A receiver's counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReceiverStats {
    /// Requests received, answered or not yet.
    pub requests: u64,
    /// Spans committed to the cache.
    pub spans_accepted: u64,
    /// Spans rejected as malformed in requests otherwise accepted (`partial_success`).
    pub spans_rejected: u64,
    /// Requests answered 503 because the writer was behind (or failed).
    pub refused: u64,
    /// Requests refused as unreadable, too large or of an unsupported type (4xx).
    pub invalid: u64,
    /// Transactions committed.
    pub batches: u64,
    /// Spans decoded and waiting for the writer.
    pub queued_spans: u64,
    #[serde(flatten)]
    pub counts: IngestCounts,
    /// When the last request arrived (Unix ns), if any did.
    pub last_request_ns: Option<i64>,
    pub last_error: Option<String>,
}

impl Stats {
    pub fn snapshot(&self) -> ReceiverStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let last = self.last_request_ns.load(Ordering::Relaxed);
        ReceiverStats {
            requests: get(&self.requests),
            spans_accepted: get(&self.spans_accepted),
            spans_rejected: get(&self.spans_rejected),
            refused: get(&self.refused),
            invalid: get(&self.invalid),
            batches: get(&self.batches),
            queued_spans: get(&self.queued_spans),
            counts: IngestCounts {
                inserted: get(&self.inserted),
                updated: get(&self.updated),
                unchanged: get(&self.unchanged),
                new_traces: get(&self.new_traces),
            },
            last_request_ns: (last != 0).then_some(last),
            last_error: self.error_text(),
        }
    }

    fn error_text(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.last_request_ns
            .store(crate::clock::now_ns(), Ordering::Relaxed);
    }

    fn committed(&self, spans: u64, c: IngestCounts) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.spans_accepted.fetch_add(spans, Ordering::Relaxed);
        self.inserted.fetch_add(c.inserted, Ordering::Relaxed);
        self.updated.fetch_add(c.updated, Ordering::Relaxed);
        self.unchanged.fetch_add(c.unchanged, Ordering::Relaxed);
        self.new_traces.fetch_add(c.new_traces, Ordering::Relaxed);
    }

    fn failed(&self, error: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error);
    }

    fn queued(&self, spans: u64) {
        self.queued_spans.fetch_add(spans, Ordering::Relaxed);
    }

    fn dequeued(&self, spans: u64) {
        self.queued_spans.fetch_sub(spans, Ordering::Relaxed);
    }
}

/// A receiver ready to serve: the writer it will own, the mapping, its counters.
pub struct Receiver {
    shared: Arc<Shared>,
    writer: Writer,
}

struct Shared {
    extractor: Extractor,
    options: Options,
    stats: Arc<Stats>,
    /// Permits for spans waiting for the writer: the queue's bound.
    pending: Arc<Semaphore>,
    /// Decodes running at once: at most one per core, so that a burst of large bodies
    /// does not hold them all in memory.
    decoding: Semaphore,
}

#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    queue: mpsc::UnboundedSender<sink::Job>,
}

impl Receiver {
    pub fn new(writer: Writer, config: &Config, options: Options) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let pending = options.max_pending_spans.clamp(1, u32::MAX as usize);
        Self {
            shared: Arc::new(Shared {
                extractor: Extractor::new(&config.versions, &config.detect),
                options,
                stats: Arc::default(),
                pending: Arc::new(Semaphore::new(pending)),
                decoding: Semaphore::new(cores),
            }),
            writer,
        }
    }

    /// The live counters, readable while the receiver runs and after.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.shared.stats)
    }

    /// Serves `POST /v1/traces` on `listener` until `shutdown` completes, then finishes
    /// the requests in flight (for at most 10 s), commits what they carried and returns
    /// the final counters.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<ReceiverStats> {
        let Self { shared, writer } = self;
        let stats = Arc::clone(&shared.stats);
        let (queue, jobs) = mpsc::unbounded_channel();
        let (written, flushed) = oneshot::channel::<()>();
        let source = shared.options.source.clone();
        let sink_stats = Arc::clone(&stats);
        std::thread::Builder::new()
            .name("relops-collect-writer".into())
            .spawn(move || {
                sink::run(writer, &source, jobs, &sink_stats);
                let _ = written.send(());
            })?;

        let limit = shared.options.max_body_bytes;
        let app = Router::new()
            .route("/v1/traces", post(export))
            .layer(DefaultBodyLimit::max(limit))
            .with_state(App { shared, queue });
        let stopping = tokio_util::sync::CancellationToken::new();
        let stop = stopping.clone();
        let server = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                stop.cancel();
            })
            .into_future();
        tokio::select! {
            served = server => served?,
            () = async {
                stopping.cancelled().await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {
                // Requests still open are not answered; what was answered is committed.
                stats.failed("shutdown: requests still in flight were dropped".into());
                return Ok(stats.snapshot());
            }
        }
        // The router and its queue sender are gone: the writer drains and stops.
        let _ = flushed.await;
        Ok(stats.snapshot())
    }
}

/// Serves OTLP/HTTP traces on `listener` into `writer` until `shutdown` completes; see
/// [`Receiver::serve`].
pub async fn serve(
    listener: TcpListener,
    writer: Writer,
    config: &Config,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<ReceiverStats> {
    Receiver::new(writer, config, options)
        .serve(listener, shutdown)
        .await
}

/// `POST /v1/traces`.
async fn export(State(app): State<App>, request: Request) -> Response {
    let shared = &app.shared;
    let stats = &shared.stats;
    stats.request();
    let headers = request.headers();
    if let Some(token) = &shared.options.token
        && !authorised(headers, token)
    {
        let encoding = header(headers, CONTENT_TYPE)
            .and_then(Encoding::from_content_type)
            .unwrap_or(Encoding::Json);
        return unauthorised(stats, encoding);
    }
    let Some(encoding) = header(headers, CONTENT_TYPE).and_then(Encoding::from_content_type) else {
        let found = header(headers, CONTENT_TYPE).unwrap_or("none");
        return invalid(
            stats,
            Encoding::Json,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported content type {found:?}: send application/x-protobuf or application/json"
            ),
        );
    };
    let gzip = match header(headers, CONTENT_ENCODING).map(str::trim) {
        None | Some("" | "identity") => false,
        Some(e) if e.eq_ignore_ascii_case("gzip") => true,
        Some(e) => {
            return invalid(
                stats,
                encoding,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported content encoding {e:?}: send gzip or none"),
            );
        }
    };
    if shared.pending.available_permits() == 0 {
        return busy(stats, encoding, "the cache writer is behind".into());
    }
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return too_large(stats, encoding, shared.options.max_body_bytes);
        }
        Err(rejection) => {
            return invalid(
                stats,
                encoding,
                StatusCode::BAD_REQUEST,
                rejection.body_text(),
            );
        }
    };

    let decoded = {
        let _slot = shared.decoding.acquire().await;
        let shared = Arc::clone(shared);
        tokio::task::spawn_blocking(move || {
            let body: Bytes = if gzip {
                gunzip(&body, shared.options.max_body_bytes)?.into()
            } else {
                body
            };
            decode::decode(&shared.extractor, encoding, body)
        })
        .await
    };
    let mut decoded = match decoded {
        Ok(Ok(d)) => d,
        Ok(Err(DecodeError::TooLarge(limit))) => return too_large(stats, encoding, limit),
        Ok(Err(DecodeError::Malformed(m))) => {
            return invalid(stats, encoding, StatusCode::BAD_REQUEST, m);
        }
        Err(e) => {
            let message = format!("decoding failed: {e}");
            stats.failed(message.clone());
            return status(
                encoding,
                StatusCode::INTERNAL_SERVER_ERROR,
                INTERNAL,
                message,
            );
        }
    };

    let spans = decoded.records.len();
    if spans > 0 {
        let permits = spans.min(shared.options.max_pending_spans).max(1) as u32;
        let Ok(permit) = Arc::clone(&shared.pending).try_acquire_many_owned(permits) else {
            return busy(stats, encoding, "the cache writer is behind".into());
        };
        let (reply, committed) = oneshot::channel();
        stats.queued(spans as u64);
        let job = sink::Job {
            spans: std::mem::take(&mut decoded.records),
            permit,
            reply,
        };
        if app.queue.send(job).is_err() {
            stats.dequeued(spans as u64);
            return busy(stats, encoding, "the receiver is stopping".into());
        }
        match committed.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return busy(stats, encoding, e),
            Err(_) => return busy(stats, encoding, "the cache writer stopped".into()),
        }
    }
    stats
        .spans_rejected
        .fetch_add(decoded.rejected, Ordering::Relaxed);
    let partial_success = (decoded.rejected > 0).then(|| proto::ExportTracePartialSuccess {
        rejected_spans: decoded.rejected as i64,
        error_message: decoded.error_message(),
    });
    let body = match encoding {
        Encoding::Protobuf => proto::ExportTraceServiceResponse { partial_success }.encode_to_vec(),
        Encoding::Json => {
            let value = match partial_success {
                // proto3 JSON writes int64 as a string.
                Some(p) => serde_json::json!({"partialSuccess": {
                    "rejectedSpans": p.rejected_spans.to_string(),
                    "errorMessage": p.error_message,
                }}),
                None => serde_json::json!({}),
            };
            value.to_string().into_bytes()
        }
    };
    (
        StatusCode::OK,
        [(CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response()
}

fn header(headers: &HeaderMap, name: axum::http::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An error answer: a `google.rpc.Status` in the request's encoding.
fn status(encoding: Encoding, http: StatusCode, code: i32, message: String) -> Response {
    let body = match encoding {
        Encoding::Protobuf => proto::RpcStatus { code, message }.encode_to_vec(),
        Encoding::Json => serde_json::json!({"code": code, "message": message})
            .to_string()
            .into_bytes(),
    };
    (http, [(CONTENT_TYPE, encoding.content_type())], body).into_response()
}

fn invalid(stats: &Stats, encoding: Encoding, http: StatusCode, message: String) -> Response {
    stats.invalid.fetch_add(1, Ordering::Relaxed);
    stats.failed(message.clone());
    status(encoding, http, INVALID_ARGUMENT, message)
}

fn unauthorised(stats: &Stats, encoding: Encoding) -> Response {
    stats.invalid.fetch_add(1, Ordering::Relaxed);
    let message = "missing or wrong bearer token: send Authorization: Bearer <token>".to_string();
    stats.failed(message.clone());
    let mut response = status(encoding, StatusCode::UNAUTHORIZED, UNAUTHENTICATED, message);
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    );
    response
}

fn too_large(stats: &Stats, encoding: Encoding, limit: usize) -> Response {
    stats.invalid.fetch_add(1, Ordering::Relaxed);
    let message = format!("body larger than {limit} bytes: send smaller batches");
    stats.failed(message.clone());
    status(
        encoding,
        StatusCode::PAYLOAD_TOO_LARGE,
        RESOURCE_EXHAUSTED,
        message,
    )
}

/// 503 with `Retry-After`: the client keeps the data and sends it again later.
fn busy(stats: &Stats, encoding: Encoding, message: String) -> Response {
    stats.refused.fetch_add(1, Ordering::Relaxed);
    let mut response = status(
        encoding,
        StatusCode::SERVICE_UNAVAILABLE,
        UNAVAILABLE,
        format!("{message}; retry later"),
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, RETRY_AFTER_SECS.into());
    response
}
