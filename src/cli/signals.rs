//! `relops signals`: the series pulled from Prometheus, as the cache holds them.

use clap::Args;
use color_eyre::eyre::Result;

use crate::store;
use crate::workspace::Workspace;

#[derive(Debug, Args)]
pub struct SignalsArgs {
    /// Only this source.
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(ws: &Workspace, args: &SignalsArgs) -> Result<()> {
    let conn = store::open_reader(&ws.db_path)?;
    let rows = store::sync::series(&conn, args.source.as_deref())?;
    if args.json {
        return super::print_json(&rows);
    }
    if rows.is_empty() {
        out!("no pulled series: add a [[source]] with kind = \"prometheus\" and run `relops sync`");
        return Ok(());
    }
    out!(
        "{:<14} {:<20} {:<8} {:>7} {:>12} {:>12} {:>12}  LABELS",
        "SOURCE",
        "SIGNAL",
        "VERSION",
        "POINTS",
        "LAST",
        "MIN",
        "MAX"
    );
    for r in rows {
        out!(
            "{:<14} {:<20} {:<8} {:>7} {:>12} {:>12} {:>12}  {}",
            r.source,
            r.signal,
            r.version.as_deref().unwrap_or("-"),
            r.points,
            r.last,
            r.min,
            r.max,
            r.labels
        );
    }
    Ok(())
}
