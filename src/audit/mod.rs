//! The audit log: append-only, hash-chained, sealed, signed and anchored.
//!
//! Triggers refuse updates and deletes; the chain catches what triggers cannot (a
//! database edited with the triggers dropped, rows removed from the file by hand):
//! each row's hash covers its content and the previous row's hash, so `verify` finds
//! the first row that no longer fits. What a chain alone cannot catch (its newest rows
//! cut off, or the whole log rewritten consistently) a checkpoint catches: the head
//! (row count and last hash) written to a file the team commits, embedded in reports
//! and pages, and checked by `verify --checkpoint`. A row forged by someone who can
//! write the database is caught by its seal (an HMAC under a key kept outside it, see
//! [`seal`]) and, for approvals, promotions and rollbacks, the operator's SSH
//! signature (see [`identity`]).

pub mod identity;
pub mod seal;
mod verify;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use identity::actor;
pub use verify::{Checkpoint, Options, Verification, verify};

/// The actions an operator signs when `[identity] signing_key` is set: the ones that
/// change production or let it change.
pub const SIGNED: &[&str] = &[
    "rollout.approve",
    "rollout.promote",
    "rollout.rollback",
    "runbook.run.start",
];

/// One audit row as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub id: i64,
    pub at_ns: i64,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub details: serde_json::Value,
    pub hash: Option<String>,
    /// Whether the row carries the audit key's seal, and its signer's name.
    pub sealed: bool,
    pub signer: Option<String>,
}

/// Appends a row chained to the last one, sealed with the installed key and, for a
/// [`SIGNED`] action, signed with the operator's key. A signature that cannot be made,
/// or that the allowed signers would refuse, refuses the row (and so the action).
pub fn record(
    conn: &Connection,
    now_ns: i64,
    actor: &str,
    action: &str,
    subject: &str,
    details: &serde_json::Value,
) -> rusqlite::Result<()> {
    in_write_tx(conn, || {
        append(conn, now_ns, actor, action, subject, details)
    })
}

fn append(
    conn: &Connection,
    now_ns: i64,
    actor: &str,
    action: &str,
    subject: &str,
    details: &serde_json::Value,
) -> rusqlite::Result<()> {
    let prev = last_hash(conn)?;
    // The chain is shared and kept for good: no secret a step echoed enters it.
    let details = crate::secret::scrub_owned(details.to_string());
    let hash = chain(&prev, now_ns, actor, action, Some(subject), &details);
    let mac = seal::current().map(|s| s.mac(&hash));
    let signature = SIGNED
        .contains(&action)
        .then(|| signature(actor, &hash))
        .transpose()
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?
        .flatten();
    let signer = signature.as_ref().map(|_| actor);
    conn.prepare_cached(
        "INSERT INTO audit_log (at, actor, action, subject, details, prev_hash, hash, mac,
                                signer, signature)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        now_ns, actor, action, subject, details, prev, hash, mac, signer, signature
    ])?;
    Ok(())
}

/// `actor`'s signature over a row's hash, when a signing key is configured; checked at
/// once against the allowed signers, so a stranger's key is refused now, not at the
/// next `verify`.
fn signature(actor: &str, hash: &str) -> Result<Option<String>, String> {
    let Some(key) = identity::signing_key() else {
        return Ok(None);
    };
    let sig = identity::sign(&key, hash)?;
    if let Some(allowed) = identity::allowed_signers() {
        identity::verify(&allowed, actor, hash, &sig)?;
    }
    Ok(Some(sig))
}

/// Runs `f` in one write transaction: `BEGIN IMMEDIATE` takes the write lock before
/// anything is read, so two processes cannot both read the same chain head (or the same
/// rollout revision) and both write after it. Inside a caller's transaction, a
/// savepoint. Whatever `f` wrote is undone when it fails.
pub fn in_write_tx<T, E: From<rusqlite::Error>>(
    conn: &Connection,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let outer = conn.is_autocommit();
    let (begin, commit, undo) = if outer {
        ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
    } else {
        (
            "SAVEPOINT relops_write",
            "RELEASE relops_write",
            "ROLLBACK TO relops_write; RELEASE relops_write",
        )
    };
    conn.execute_batch(begin)?;
    match f() {
        Ok(v) => {
            conn.execute_batch(commit)?;
            Ok(v)
        }
        Err(e) => {
            // The error that stopped `f` is the one worth reporting.
            let _ = conn.execute_batch(undo);
            Err(e)
        }
    }
}

fn last_hash(conn: &Connection) -> rusqlite::Result<String> {
    conn.prepare_cached("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| r.get::<_, Option<String>>(0))
        .optional()
        .map(|h| h.flatten().unwrap_or_default())
}

/// The chain's newest row: what a checkpoint records and reports carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Head {
    /// Rows in the log up to and including this one.
    pub rows: usize,
    pub id: i64,
    pub hash: String,
    /// The row's time (RFC 3339).
    pub at: String,
}

impl Head {
    /// The sentence a report ends with: the head, and how to check it later.
    pub fn cite(&self) -> String {
        format!(
            "Audit head when written: row {} at {}, `{}` (`relops audit verify --checkpoint {}`).",
            self.rows, self.at, self.hash, self.hash
        )
    }

    /// `row 812 · 3f2a9c0d1e2b`: short enough for a page, long enough to look up.
    pub fn short(&self) -> String {
        format!(
            "row {} · {}",
            self.rows,
            &self.hash[..self.hash.len().min(12)]
        )
    }
}

/// The head of the chain; `None` for an empty or wholly unchained log.
pub fn head(conn: &Connection) -> rusqlite::Result<Option<Head>> {
    conn.query_row(
        "SELECT (SELECT COUNT(*) FROM audit_log), id, hash, at FROM audit_log
         WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1",
        [],
        |r| {
            Ok(Head {
                rows: r.get::<_, i64>(0)? as usize,
                id: r.get(1)?,
                hash: r.get(2)?,
                at: crate::clock::rfc3339(r.get(3)?),
            })
        },
    )
    .optional()
}

/// The hash of a row: its content and the previous row's hash.
fn chain(
    prev: &str,
    at_ns: i64,
    actor: &str,
    action: &str,
    subject: Option<&str>,
    details: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &at_ns.to_string(),
        actor,
        action,
        subject.unwrap_or(""),
        details,
    ] {
        // Length-prefixed, so moving text between fields changes the hash.
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Every row, oldest first.
pub fn entries(conn: &Connection) -> rusqlite::Result<Vec<Entry>> {
    let mut stmt = conn.prepare(
        "SELECT id, at, actor, action, subject, details, hash, mac IS NOT NULL, signer
         FROM audit_log ORDER BY id",
    )?;
    stmt.query_map([], |r| {
        let details: String = r.get(5)?;
        Ok(Entry {
            id: r.get(0)?,
            at_ns: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            subject: r.get(4)?,
            details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
            hash: r.get(6)?,
            sealed: r.get(7)?,
            signer: r.get(8)?,
        })
    })?
    .collect()
}
