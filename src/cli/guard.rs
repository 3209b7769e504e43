//! `relops guard [--once]` and `relops guard status`: the always-on release guard.

use clap::{Args, Subcommand, ValueEnum};
use color_eyre::eyre::{Result, bail, eyre};

use crate::clock::age;
use crate::guard::{self, Guard};
use crate::workspace::Workspace;

#[derive(Debug, Args)]
pub struct GuardArgs {
    #[command(subcommand)]
    pub command: Option<GuardCommand>,
    /// Run one cycle and exit (for cron and tests): 0 when it ran clean, 1 when a
    /// source or notifier failed.
    #[arg(long)]
    pub once: bool,
    /// Log lines as text (default) or JSON, on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum GuardCommand {
    /// The lease holder, its heartbeat and last cycle, and each notifier's backlog.
    Status {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(ws: &Workspace, args: &GuardArgs) -> Result<u8> {
    if let Some(GuardCommand::Status { json }) = &args.command {
        return status(ws, *json);
    }
    if ws.readonly {
        bail!("--readonly: the guard checks rollouts (which records them) and sends notifications");
    }
    logging(args.log_format);
    let guard = match Guard::start(ws.clone()) {
        Ok(g) => g,
        Err(e) => {
            note!("relops guard: {e}");
            return Ok(1);
        }
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let code = runtime.block_on(serve(&guard, ws, args.once));
    guard.stop();
    code
}

/// Cycles until SIGTERM or Ctrl-C; a signal lets the cycle in progress finish and what
/// is due be sent before the exit.
async fn serve(guard: &Guard, ws: &Workspace, once: bool) -> Result<u8> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let every = std::time::Duration::from_secs(ws.config.guard.check_every.as_secs().max(1));
    tracing::info!(holder = guard.holder(), every_s = every.as_secs(), workspace = %ws.name(), "guard started");
    loop {
        let report = guard.cycle().await.map_err(|e| eyre!(e))?;
        for p in &report.problems {
            tracing::warn!(problem = %p, "cycle problem");
        }
        tracing::info!(
            ms = format!("{:.1}", report.ms),
            rollout = report.rollout.as_deref().unwrap_or("none"),
            firing = report.firing.len(),
            queued = report.queued,
            sent = report.sent,
            "cycle"
        );
        if once {
            return Ok(u8::from(!report.problems.is_empty()));
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    let (sent, _) = guard.flush().await;
    tracing::info!(sent, "guard stopping");
    Ok(0)
}

fn logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RELOPS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| crate::secret::ScrubbedStderr)
        .with_ansi(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

fn status(ws: &Workspace, json: bool) -> Result<u8> {
    let conn = crate::store::open_reader(&ws.db_path)?;
    let s = guard::status(ws, &conn)?;
    if json {
        super::print_json(&s)?;
        return Ok(0);
    }
    let now = crate::clock::wall_ns();
    match &s.lease {
        Some(l) => {
            let word = if s.alive {
                "running"
            } else {
                "NOT RUNNING (stale lease)"
            };
            out!("guard: {word}: {}", l.describe(now));
            if let (Some(at), Some(ms)) = (l.last_cycle_ns, l.last_cycle_ms) {
                out!(
                    "  last cycle {} ago, took {ms:.0} ms; {} cycles",
                    age(at, now),
                    l.cycles
                );
            }
            if let Some(e) = &l.last_error {
                out!("  last problem: {e}");
            }
        }
        None => out!("guard: not running (no lease): start it with `relops guard`"),
    }
    for n in &s.notifiers {
        out!(
            "  notify {:<14} {:<12} firing {:>3}  pending {:>3}  sent {:>4}  failed {:>3}  last sent {}{}",
            n.notifier,
            n.kind,
            n.firing,
            n.pending,
            n.sent,
            n.failed,
            n.last_sent_ns
                .map_or("-".into(), |t| format!("{} ago", age(t, now))),
            n.last_error
                .as_deref()
                .map_or(String::new(), |e| format!("  last error: {e}"))
        );
    }
    Ok(0)
}
