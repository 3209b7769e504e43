//! The command line: global flags, subcommands, exit codes.
//!
//! Every verb prints JSON (with `--json`) or text on stdout, errors on stderr, and exits
//! 0 on success or 2 on error (`replay`: 1 when some replays failed and others ran).

/// `println!` for everything the CLI prints: trace text is data, so each line passes
/// [`shown`] (no escape sequence from a trace reaches the terminal, no secret the
/// output) on its way out. The console draws through ratatui, which drops control
/// characters the same way.
macro_rules! out {
    () => { println!() };
    ($($arg:tt)*) => { println!("{}", $crate::cli::shown(&format!($($arg)*))) };
}

/// `print!`, as [`out!`].
macro_rules! out_part {
    ($($arg:tt)*) => { print!("{}", $crate::cli::shown(&format!($($arg)*))) };
}

/// `eprintln!`, as [`out!`]: progress, warnings and errors on stderr.
macro_rules! note {
    () => { eprintln!() };
    ($($arg:tt)*) => { eprintln!("{}", $crate::cli::shown(&format!($($arg)*))) };
}

/// `eprint!`, as [`out!`].
macro_rules! note_part {
    ($($arg:tt)*) => { eprint!("{}", $crate::cli::shown(&format!($($arg)*))) };
}

mod audit;
mod case;
mod collect;
mod drift;
mod gate;
mod guard;
mod import;
mod incident;
mod inspect;
mod replay;
mod report;
mod review;
// The demo starts its rollout and rehearses its rollback through these, as the CLI does.
pub(crate) mod rollout;
pub(crate) mod runbook;
mod signals;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use color_eyre::eyre::{Result, WrapErr};

use crate::workspace::Workspace;

#[derive(Debug, Parser)]
#[command(
    name = "relops",
    version,
    about = "Release operations console for LLM workflows"
)]
pub struct Cli {
    /// Workspace config file.
    #[arg(long, global = true, env = "RELOPS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SQLite cache file (default: the config's `workspace.cache`, else the data dir).
    #[arg(long, global = true, env = "RELOPS_DB", value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Hide and refuse every action that changes the world.
    #[arg(long, global = true)]
    pub readonly: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the console (the default).
    Tui,
    /// Import OTLP/JSON trace exports into the cache.
    Import(import::ImportArgs),
    /// Receive traces over OTLP/HTTP (POST /v1/traces) into the cache until stopped.
    Collect(collect::CollectArgs),
    /// List versions with their fingerprints.
    Versions(inspect::VersionsArgs),
    /// List traces, newest first.
    Traces(inspect::TracesArgs),
    /// One trace.
    Trace {
        #[command(subcommand)]
        command: inspect::TraceCommand,
    },
    /// Judge drift per signal: candidate vs baseline (exit 0 ok, 1 fail, 3 inconclusive).
    Drift(drift::DriftArgs),
    /// Create the embedded demo workspace and open it.
    Demo(crate::demo::DemoArgs),
    /// Run a trace's input on other versions and store the replays (exit 1 if any failed).
    Replay(replay::ReplayArgs),
    /// Compare two executions: traces or replays (`r:42`).
    Diff(replay::DiffArgs),
    /// Incidents: open, attach traces, list, close.
    Incident {
        #[command(subcommand)]
        command: incident::IncidentCommand,
    },
    /// Run the suite on a candidate and its baseline: exit 0 ship, 1 hold, 2 error.
    Gate(gate::GateArgs),
    /// Regression cases: list (exit 1 on a bad file), from-trace, eval, export.
    Case {
        #[command(subcommand)]
        command: case::CaseCommand,
    },
    /// Pull the configured sources into the cache: --once (exit 1 if any failed),
    /// --watch, or --status.
    Sync(sync::SyncArgs),
    /// Series pulled from Prometheus: points, range and last value per source, signal
    /// and labels.
    Signals(signals::SignalsArgs),
    /// Check the config, the cache and every source; say what is wrong (exit 1).
    Doctor,
    /// The append-only, hash-chained audit log; `audit verify` checks the chain (exit 1).
    Audit(audit::AuditArgs),
    /// The rollout in flight: start, status, tick, check, approve, promote, hold,
    /// resume, rollback (exit 1 while triggered).
    Rollout {
        #[command(subcommand)]
        command: rollout::RolloutCommand,
    },
    /// Operating cadence reports: the weekly stability memo, the monthly drift report
    /// and ratchet plan (Markdown with SVG charts, or JSON).
    Report {
        #[command(subcommand)]
        command: report::ReportCommand,
    },
    /// Procedures: list, rehearse (dry runs), run (confirmed, audited; exit 1 on failure).
    Runbook {
        #[command(subcommand)]
        command: runbook::RunbookCommand,
    },
    /// Quality sampling against the rubric: sample a round, score a trace, list scores.
    Review {
        #[command(subcommand)]
        command: review::ReviewCommand,
    },
    /// The always-on release guard: sync, check the rollout and production drift, page
    /// through [[notify]] (`--once`: one cycle; `guard status`: lease and backlogs).
    Guard(guard::GuardArgs),
}

/// Text as the CLI prints it: no control character but newline and tab (the same
/// filter as `text::printable`), no registered secret in any form.
pub(crate) fn shown(text: &str) -> String {
    crate::text::printable(&crate::secret::scrub(text)).into_owned()
}

/// Runs the command line; the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        // Some replays failed: they are stored and were printed; the rest ran.
        Err(e) if e.downcast_ref::<replay::ReplaysFailed>().is_some() => {
            note!("relops: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            note!("relops: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The exit code: 0 on success; verdict verbs use 1 and 3 as they document.
fn run(cli: Cli) -> Result<u8> {
    let open = || {
        Workspace::open(cli.config.as_deref(), cli.db.as_deref(), cli.readonly)
            .wrap_err("cannot open the workspace")
    };
    let done = |r: Result<()>| r.map(|()| 0);
    match cli.command {
        None | Some(Command::Tui) => done(crate::tui::run(open()?)),
        Some(Command::Import(args)) => import::run(&open()?, &args),
        Some(Command::Collect(args)) => done(collect::run(&open()?, &args)),
        Some(Command::Versions(args)) => done(inspect::versions(&open()?, &args)),
        Some(Command::Traces(args)) => done(inspect::traces(&open()?, &args)),
        Some(Command::Trace { command }) => done(inspect::trace(&open()?, &command)),
        Some(Command::Drift(args)) => drift::run(&open()?, &args),
        Some(Command::Demo(args)) => done(crate::demo::run(&args, cli.readonly)),
        Some(Command::Replay(args)) => done(replay::replay(&open()?, &args)),
        Some(Command::Diff(args)) => done(replay::diff(&open()?, &args)),
        Some(Command::Incident { command }) => done(incident::run(&open()?, &command)),
        Some(Command::Case { command }) => case::run(&open()?, &command),
        Some(Command::Gate(args)) => gate::run(&open()?, &args),
        Some(Command::Sync(args)) => sync::run(&open()?, &args),
        Some(Command::Signals(args)) => done(signals::run(&open()?, &args)),
        Some(Command::Doctor) => sync::doctor(&open()?),
        Some(Command::Audit(args)) => audit::run(&open()?, &args),
        Some(Command::Report { command }) => done(report::run(&open()?, &command)),
        Some(Command::Runbook { command }) => runbook::run(&open()?, &command),
        Some(Command::Rollout { command }) => rollout::run(&open()?, &command),
        Some(Command::Review { command }) => done(review::run(&open()?, &command)),
        Some(Command::Guard(args)) => guard::run(&open()?, &args),
    }
}

/// Prints a value as pretty JSON on stdout.
pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    out!("{text}");
    Ok(())
}
