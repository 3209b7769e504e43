//! `[[source]] kind = "otlp-http"` under the engine: the OTLP/HTTP receiver listens
//! while `relops sync --watch` or the console runs, and its counters reach
//! `sync_state`, so the Sources view shows a pushed source like a pulled one.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Committer, Event};
use crate::collect::{Options, Receiver, ReceiverStats, Stats};
use crate::config::Config;
use crate::sources::{Secret, SourceConfig};

/// Where a receiver listens when its source names no address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4318";

/// How often the receiver's counters are written to the cache.
const REPORT_EVERY: Duration = Duration::from_secs(2);

/// Listens until `stop`; reports what arrived as it goes.
pub async fn run(
    source: &SourceConfig,
    config: &Config,
    db: &Path,
    committer: &Committer,
    emit: impl Fn(Event),
    stop: CancellationToken,
) {
    let name = source.name.as_str();
    let kind = source.kind.as_str();
    let listen = source.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let started = match start(source, config, db, listen).await {
        Ok(r) => r,
        Err(error) => {
            committer.error(name, kind, &error);
            emit(Event::Failed {
                source: name.to_string(),
                error,
                retry_in: None,
            });
            return;
        }
    };
    let (receiver, listener) = started;
    // Listening is healthy: the Sources view says so before the first span arrives.
    committer.idle(name, kind);
    let stats = receiver.stats();
    let until = stop.clone();
    let serving = tokio::spawn(receiver.serve(listener, async move { until.cancelled().await }));
    let mut last = ReceiverStats::default();
    loop {
        tokio::select! {
            () = tokio::time::sleep(REPORT_EVERY) => {}
            () = stop.cancelled() => break,
        }
        last = report(name, &stats, last, committer, &emit);
    }
    // Whatever the receiver answered 200 is committed by now: count it too.
    let _ = serving.await;
    report(name, &stats, last, committer, &emit);
}

async fn start(
    source: &SourceConfig,
    config: &Config,
    db: &Path,
    listen: &str,
) -> Result<(Receiver, tokio::net::TcpListener), String> {
    let token = match &source.auth.token_env {
        Some(var) => Some(Secret::from_env(var).map_err(|e| format!("auth.token_env: {e}"))?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    crate::collect::check_exposure(addr, token.is_some())?;
    let writer = crate::store::open_writer(db).map_err(|e| e.to_string())?;
    let options = Options {
        source: source.name.clone(),
        token,
        ..Options::default()
    };
    Ok((Receiver::new(writer, config, options), listener))
}

/// Writes what arrived since `last` and says so; returns the new mark.
fn report(
    name: &str,
    stats: &Arc<Stats>,
    last: ReceiverStats,
    committer: &Committer,
    emit: &impl Fn(Event),
) -> ReceiverStats {
    let now = stats.snapshot();
    let rows = now.spans_accepted - last.spans_accepted;
    let rejected = now.spans_rejected - last.spans_rejected;
    if rows + rejected > 0 {
        committer.received(name, rows, rejected, now.last_request_ns);
        emit(Event::Page {
            source: name.to_string(),
            records: rows + rejected,
            rows: now.counts.inserted + now.counts.updated
                - last.counts.inserted
                - last.counts.updated,
            rejected,
        });
    }
    if now.last_error != last.last_error
        && let Some(error) = &now.last_error
    {
        committer.error(name, "otlp-http", error);
    }
    now
}
