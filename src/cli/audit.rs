//! `relops audit [--json]`, `relops audit verify [--checkpoint FILE|HASH]` and
//! `relops audit checkpoint [--out FILE]`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use color_eyre::eyre::{Result, eyre};

use crate::audit::{self, Checkpoint, Options, Verification};
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
    /// Walk the hash chain: exit 0 when intact, 1 at the first edited, missing, unsealed
    /// or wrongly signed row, or when the chain no longer contains a checkpoint's head.
    Verify {
        /// A checkpoint file (`relops audit checkpoint --out`) or a head's hash from a
        /// report or a page: the chain must still contain and extend it.
        #[arg(long, value_name = "FILE|HASH")]
        checkpoint: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Write the chain's head (rows, last hash, time) for the team's repository: a later
    /// `verify --checkpoint` then catches deleted newest rows and rewritten chains.
    Checkpoint {
        /// Write here (else print it).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

pub fn run(ws: &Workspace, args: &AuditArgs) -> Result<u8> {
    let conn = crate::store::open_reader(&ws.db_path)?;
    match &args.command {
        None => list(&conn, args.json),
        Some(AuditCommand::Verify { checkpoint, json }) => {
            verify(&conn, checkpoint.as_deref(), *json)
        }
        Some(AuditCommand::Checkpoint { out }) => checkpoint(ws, &conn, out.as_ref()),
    }
}

fn list(conn: &rusqlite::Connection, json: bool) -> Result<u8> {
    let entries = audit::entries(conn)?;
    if json {
        super::print_json(&entries)?;
        return Ok(0);
    }
    for e in &entries {
        let signed = e
            .signer
            .as_ref()
            .map_or(String::new(), |s| format!("  signed by {s}"));
        out!(
            "{:>5}  {}  {:<10} {:<22} {}  {}{signed}",
            e.id,
            crate::clock::rfc3339(e.at_ns),
            e.actor,
            e.action,
            e.subject.as_deref().unwrap_or("-"),
            e.details
        );
    }
    Ok(0)
}

fn verify(conn: &rusqlite::Connection, checkpoint: Option<&str>, json: bool) -> Result<u8> {
    let anchor = checkpoint
        .map(Checkpoint::parse)
        .transpose()
        .map_err(|e| eyre!("--checkpoint {e}"))?;
    let seal = audit::seal::current();
    let allowed = audit::identity::allowed_signers();
    let opts = Options {
        seal: seal.as_ref(),
        anchor: anchor.as_ref(),
        allowed_signers: allowed.as_deref(),
    };
    let v = audit::verify(conn, &opts)?;
    if json {
        super::print_json(&v)?;
    } else {
        match &v.broken {
            None => out!("audit log intact: {}", summary(&v, checkpoint.is_some())),
            Some((id, why)) => out!("audit log BROKEN at row {id}: {why}"),
        }
    }
    Ok(u8::from(!v.ok()))
}

/// What an intact log was checked for, in one line.
fn summary(v: &Verification, anchored: bool) -> String {
    let mut parts = vec![format!("{} rows chained", v.rows - v.unchained)];
    if v.unchained > 0 {
        parts.push(format!("{} older rows before the chain", v.unchained));
    }
    if v.sealed + v.unsealed > 0 {
        parts.push(format!("{} sealed with the audit key", v.sealed));
    }
    if v.unsealed > 0 {
        parts.push(format!("{} unsealed before the first seal", v.unsealed));
    }
    if v.seals_unchecked > 0 {
        parts.push(format!(
            "{} seals not checked ([audit] key_env is not set)",
            v.seals_unchecked
        ));
    }
    if v.signed > 0 {
        parts.push(format!("{} signatures verified", v.signed));
    }
    if v.signatures_unchecked > 0 {
        parts.push(format!(
            "{} signatures not checked ([identity] allowed_signers is not set)",
            v.signatures_unchecked
        ));
    }
    if anchored {
        parts.push("contains and extends the checkpoint".into());
    }
    if let Some(head) = &v.head {
        parts.push(format!("head {}", head.short()));
    }
    parts.join(" · ")
}

fn checkpoint(ws: &Workspace, conn: &rusqlite::Connection, out: Option<&PathBuf>) -> Result<u8> {
    let head = audit::head(conn)?
        .ok_or_else(|| eyre!("the audit log is empty: nothing to checkpoint yet"))?;
    let text = serde_json::to_string_pretty(&Checkpoint::new(&ws.name(), head.clone()))? + "\n";
    match out {
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| eyre!("{}: {e}", path.display()))?;
            out!(
                "{}: audit head {} at {}",
                path.display(),
                head.short(),
                head.at
            );
        }
        None => out_part!("{text}"),
    }
    Ok(0)
}
