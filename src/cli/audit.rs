//! `relops audit [--json]` and `relops audit verify`.

use clap::{Args, Subcommand};
use color_eyre::eyre::Result;

use crate::audit;
use crate::workspace::Workspace;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain: exit 0 when intact, 1 at the first edited or missing row.
    Verify {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(ws: &Workspace, args: &AuditArgs) -> Result<u8> {
    let conn = crate::store::open_reader(&ws.db_path)?;
    match &args.command {
        None => {
            let entries = audit::entries(&conn)?;
            if args.json {
                super::print_json(&entries)?;
            } else {
                for e in &entries {
                    out!(
                        "{:>5}  {}  {:<10} {:<22} {}  {}",
                        e.id,
                        crate::clock::rfc3339(e.at_ns),
                        e.actor,
                        e.action,
                        e.subject.as_deref().unwrap_or("-"),
                        e.details
                    );
                }
            }
            Ok(0)
        }
        Some(AuditCommand::Verify { json }) => {
            let v = audit::verify(&conn)?;
            if *json {
                super::print_json(&v)?;
            } else {
                match &v.broken {
                    None => out!(
                        "audit log intact: {} rows chained ({} older rows before the chain)",
                        v.rows - v.unchained,
                        v.unchained
                    ),
                    Some((id, why)) => out!("audit log BROKEN at row {id}: {why}"),
                }
            }
            Ok(u8::from(!v.ok()))
        }
    }
}
