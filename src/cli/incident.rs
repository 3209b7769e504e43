//! `relops incident open | attach | list | close`.

use clap::Subcommand;
use color_eyre::eyre::{Result, eyre};

use crate::incident::{self, Incident};
use crate::store;
use crate::text::clip;
use crate::workspace::Workspace;

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Open an incident; prints its id.
    Open {
        title: String,
        /// Free text; sev1 (worst) to sev4 by convention.
        #[arg(long, default_value = "sev3")]
        severity: String,
        #[arg(long)]
        json: bool,
    },
    /// Link traces (ids or `#<row id>`) to an incident.
    Attach {
        id: i64,
        #[arg(required = true)]
        traces: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List incidents, newest first, with their traces.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Close an open incident.
    Close {
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(ws: &Workspace, cmd: &IncidentCommand) -> Result<()> {
    if let IncidentCommand::List { json } = cmd {
        let conn = store::open_reader(&ws.db_path)?;
        let all = incident::list(&conn).map_err(|e| eyre!(e))?;
        if *json {
            return super::print_json(&all);
        }
        if all.is_empty() {
            out!("no incidents; `relops incident open \"TITLE\"` opens one");
        }
        for i in &all {
            print_row(i);
        }
        return Ok(());
    }
    if ws.readonly {
        return Err(eyre!(
            "readonly: incident changes write the cache; run without --readonly"
        ));
    }
    let writer = store::open_writer(&ws.db_path)?;
    let conn = writer.connection();
    let (actor, now) = (incident::actor(), crate::clock::now_ns());
    let (id, json) = match cmd {
        IncidentCommand::Open {
            title,
            severity,
            json,
        } => (
            incident::open(conn, title, severity, &actor, now).map_err(|e| eyre!(e))?,
            *json,
        ),
        IncidentCommand::Attach { id, traces, json } => {
            let added = incident::attach(conn, *id, traces, &actor, now).map_err(|e| eyre!(e))?;
            if !json {
                let skipped = traces.len() - added.len();
                out!(
                    "attached {} trace(s) to incident {id}{}",
                    added.len(),
                    if skipped > 0 {
                        format!(" ({skipped} already attached)")
                    } else {
                        String::new()
                    }
                );
            }
            (*id, *json)
        }
        IncidentCommand::Close { id, json } => {
            incident::close(conn, *id, &actor, now).map_err(|e| eyre!(e))?;
            (*id, *json)
        }
        IncidentCommand::List { .. } => unreachable!("handled above"),
    };
    let inc = incident::get(conn, id)
        .map_err(|e| eyre!(e))?
        .ok_or_else(|| eyre!("incident {id} vanished"))?;
    if json {
        return super::print_json(&inc);
    }
    if matches!(
        cmd,
        IncidentCommand::Open { .. } | IncidentCommand::Close { .. }
    ) {
        print_row(&inc);
    }
    Ok(())
}

fn print_row(i: &Incident) {
    out!(
        "{:>4}  {:<6} {:<5} {}  {}  by {}  {} trace(s)",
        i.id,
        i.status,
        i.severity,
        i.opened_at,
        clip(&i.title, 60),
        i.opened_by,
        i.traces.len()
    );
}
