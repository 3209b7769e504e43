//! `relops collect --listen ADDR`: the OTLP/HTTP trace receiver in the foreground.

use std::time::{Duration, Instant};

use clap::Args;
use color_eyre::eyre::{Result, WrapErr, bail, eyre};

use crate::collect::{self, Options, Receiver, ReceiverStats};
use crate::sources::Secret;
use crate::store;
use crate::workspace::Workspace;

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Address to listen on; port 0 takes a free port (the bound address is printed on
    /// stderr).
    #[arg(long, default_value = "127.0.0.1:4318", value_name = "ADDR")]
    pub listen: String,
    /// Source name the received traces are keyed under.
    #[arg(long, default_value = collect::DEFAULT_SOURCE)]
    pub source: String,
    /// Seconds between progress lines on stderr (printed when requests arrived).
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub interval: u64,
    /// Largest request body, compressed or once decompressed, in MiB (413 beyond).
    #[arg(long, default_value_t = 32, value_name = "MIB")]
    pub max_body_mib: usize,
    /// Print the closing totals as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ws: &Workspace, args: &CollectArgs) -> Result<()> {
    if ws.readonly {
        bail!("--readonly: collect writes to the cache");
    }
    if args.interval == 0 {
        bail!("--interval must be at least 1 second");
    }
    let token = match &ws.config.collect.token_env {
        Some(var) => Some(Secret::from_env(var).map_err(|e| eyre!("[collect] token_env: {e}"))?),
        None => None,
    };
    let has_token = token.is_some();
    let writer = store::open_writer(&ws.db_path)?;
    let options = Options {
        source: args.source.clone(),
        max_body_bytes: args.max_body_mib.saturating_mul(1 << 20),
        token,
        ..Options::default()
    };
    let receiver = Receiver::new(writer, &ws.config, options);
    let stats = receiver.stats();
    let runtime = tokio::runtime::Runtime::new()?;
    let totals = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .wrap_err_with(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        collect::check_exposure(addr, has_token).map_err(|e| eyre!(e))?;
        note!(
            "relops collect: listening on http://{addr}/v1/traces (source {:?}); Ctrl-C stops",
            args.source
        );
        let progress = tokio::spawn(report_progress(stats, Duration::from_secs(args.interval)));
        let totals = receiver.serve(listener, stop_signal()).await;
        progress.abort();
        Ok::<_, color_eyre::Report>(totals?)
    })?;
    if args.json {
        super::print_json(&totals)
    } else {
        print_totals(&totals);
        Ok(())
    }
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    note!("relops collect: stopping; finishing the requests in flight");
}

/// One line per interval in which requests arrived.
async fn report_progress(stats: std::sync::Arc<collect::Stats>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    // From zero, not a first snapshot: requests that beat this task to it still count.
    let mut before = ReceiverStats::default();
    let mut since = Instant::now();
    loop {
        ticks.tick().await;
        let now = stats.snapshot();
        let secs = since.elapsed().as_secs_f64();
        if now.requests > before.requests {
            let accepted = now.spans_accepted - before.spans_accepted;
            note!(
                "relops collect: {:.0} spans/s ({accepted} spans in {} requests), {} rejected, \
                 {} refused busy, {} invalid; {} spans in all",
                accepted as f64 / secs,
                now.requests - before.requests,
                now.spans_rejected - before.spans_rejected,
                now.refused - before.refused,
                now.invalid - before.invalid,
                now.spans_accepted,
            );
        }
        before = now;
        since = Instant::now();
    }
}

fn print_totals(s: &ReceiverStats) {
    out!(
        "received {} spans in {} requests ({} new traces): inserted {}, updated {}, \
         unchanged {}; rejected {} spans; refused {} requests busy, {} invalid",
        s.spans_accepted,
        s.requests,
        s.counts.new_traces,
        s.counts.inserted,
        s.counts.updated,
        s.counts.unchanged,
        s.spans_rejected,
        s.refused,
        s.invalid
    );
    if let Some(e) = &s.last_error {
        out!("  last error: {e}");
    }
}
