//! The command line: global flags, subcommands, exit codes.
//!
//! Every verb prints JSON (with `--json`) or text on stdout, errors on stderr, and exits
//! 0 on success or 2 on error (`replay`: 1 when some replays failed and others ran).

mod import;
mod inspect;
mod replay;

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
    /// List versions with their fingerprints.
    Versions(inspect::VersionsArgs),
    /// List traces, newest first.
    Traces(inspect::TracesArgs),
    /// One trace.
    Trace {
        #[command(subcommand)]
        command: inspect::TraceCommand,
    },
    /// Create the embedded demo workspace and open it.
    Demo(crate::demo::DemoArgs),
    /// Run a trace's input on other versions and store the replays (exit 1 if any failed).
    Replay(replay::ReplayArgs),
    /// Compare two executions: traces or replays (`r:42`).
    Diff(replay::DiffArgs),
}

/// Runs the command line; the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // Some replays failed: they are stored and were printed; the rest ran.
        Err(e) if e.downcast_ref::<replay::ReplaysFailed>().is_some() => {
            eprintln!("relops: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("relops: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let open = || {
        Workspace::open(cli.config.as_deref(), cli.db.as_deref(), cli.readonly)
            .wrap_err("cannot open the workspace")
    };
    match cli.command {
        None | Some(Command::Tui) => crate::tui::run(open()?),
        Some(Command::Import(args)) => import::run(&open()?, &args),
        Some(Command::Versions(args)) => inspect::versions(&open()?, &args),
        Some(Command::Traces(args)) => inspect::traces(&open()?, &args),
        Some(Command::Trace { command }) => inspect::trace(&open()?, &command),
        Some(Command::Demo(args)) => crate::demo::run(&args, cli.readonly),
        Some(Command::Replay(args)) => replay::replay(&open()?, &args),
        Some(Command::Diff(args)) => replay::diff(&open()?, &args),
    }
}

/// Prints a value as pretty JSON on stdout.
pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    println!("{text}");
    Ok(())
}
