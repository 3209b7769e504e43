//! `relops report weekly | monthly`: the operating cadence reports, read from the cache.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use color_eyre::eyre::{Result, eyre};

use crate::report::{self, Ctx, Span};
use crate::store;
use crate::workspace::Workspace;

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// The weekly stability memo: versions shipped and rolled back, verdicts, incidents,
    /// cases, gate runs, and recommendations with their evidence.
    Weekly(ReportArgs),
    /// The monthly drift report: drift per signal, test-set maintenance, and the
    /// threshold ratchet plan (triggers and drift margins backtested).
    Monthly(ReportArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// End of the period: RFC 3339 or a date (the end of that day, UTC); default now.
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Length of the period in days (default 7 for weekly, 30 for monthly).
    #[arg(long, value_name = "N")]
    pub days: Option<u32>,
    /// Write the Markdown here and the charts next to it (`FILE-<signal>.svg`);
    /// without it the Markdown goes to stdout and no chart is written.
    #[arg(long, value_name = "FILE.md")]
    pub out: Option<PathBuf>,
    /// Print the report's data (recommendations included) as JSON instead.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ws: &Workspace, cmd: &ReportCommand) -> Result<()> {
    let (args, default_days) = match cmd {
        ReportCommand::Weekly(a) => (a, 7),
        ReportCommand::Monthly(a) => (a, 30),
    };
    let until = match &args.until {
        Some(s) => report::parse_until(s).map_err(|e| eyre!(e))?,
        None => crate::clock::now_ns(),
    };
    let days = args.days.map_or(default_days, i64::from).max(1);
    let conn = store::open_reader(&ws.db_path)?;
    let ctx = Ctx {
        conn: &conn,
        config: &ws.config,
        name: ws.name(),
        suite_dir: ws.suite_dir(),
        span: Span::ending(until, days),
    };
    let (json, rendered) = match cmd {
        ReportCommand::Weekly(_) => {
            let (w, r) = report::weekly::build(&ctx).map_err(|e| eyre!(e))?;
            (serde_json::to_value(&w)?, r)
        }
        ReportCommand::Monthly(_) => {
            let (m, r) = report::monthly::build(&ctx).map_err(|e| eyre!(e))?;
            (serde_json::to_value(&m)?, r)
        }
    };
    if let Some(out) = &args.out {
        let written = rendered.write(out)?;
        if !args.json {
            for p in &written {
                note!("wrote {}", p.display());
            }
        }
    }
    if args.json {
        super::print_json(&json)
    } else if args.out.is_none() {
        out_part!("{}", rendered.markdown_with(None));
        Ok(())
    } else {
        Ok(())
    }
}
