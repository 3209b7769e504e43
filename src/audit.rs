//! The audit log: append-only and hash-chained.
//!
//! Triggers refuse updates and deletes; the chain catches what triggers cannot (a
//! database edited with the triggers dropped, rows removed from the file by hand):
//! each row's hash covers its content and the previous row's hash, so `verify` finds
//! the first row that no longer fits.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Who is acting: `$USER`, else `relops`.
pub fn actor() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "relops".into())
}

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
}

/// Appends a row chained to the last one.
pub fn record(
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
    conn.prepare_cached(
        "INSERT INTO audit_log (at, actor, action, subject, details, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![now_ns, actor, action, subject, details, prev, hash])?;
    Ok(())
}

fn last_hash(conn: &Connection) -> rusqlite::Result<String> {
    conn.prepare_cached("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| r.get::<_, Option<String>>(0))
        .optional()
        .map(|h| h.flatten().unwrap_or_default())
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
        "SELECT id, at, actor, action, subject, details, hash FROM audit_log ORDER BY id",
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
        })
    })?
    .collect()
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    pub rows: usize,
    /// Rows written before the chain existed (schema 2 and older): not covered.
    pub unchained: usize,
    /// The first row that does not fit the chain, and why.
    pub broken: Option<(i64, String)>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.broken.is_none()
    }
}

/// Walks the chain from the first row.
pub fn verify(conn: &Connection) -> rusqlite::Result<Verification> {
    let mut stmt = conn.prepare(
        "SELECT id, at, actor, action, subject, details, prev_hash, hash
         FROM audit_log ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    let mut v = Verification {
        rows: 0,
        unchained: 0,
        broken: None,
    };
    let mut prev = String::new();
    while let Some(r) = rows.next()? {
        v.rows += 1;
        let id: i64 = r.get(0)?;
        let (stored_prev, hash): (Option<String>, Option<String>) = (r.get(6)?, r.get(7)?);
        let Some(hash) = hash else {
            if !prev.is_empty() {
                v.broken = Some((id, "an unchained row after the chain began".into()));
                break;
            }
            v.unchained += 1;
            continue;
        };
        if stored_prev.as_deref() != Some(prev.as_str()) {
            v.broken = Some((id, "the row before it was removed or changed".into()));
            break;
        }
        let subject: Option<String> = r.get(4)?;
        let details: String = r.get(5)?;
        let expected = chain(
            &prev,
            r.get(1)?,
            &r.get::<_, String>(2)?,
            &r.get::<_, String>(3)?,
            subject.as_deref(),
            &details,
        );
        if expected != hash {
            v.broken = Some((id, "its content was edited".into()));
            break;
        }
        prev = hash;
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn log() -> Connection {
        let c = crate::store::memory();
        for (i, action) in ["incident.open", "rollout.tick", "runbook.step"]
            .iter()
            .enumerate()
        {
            record(&c, i as i64, "ana", action, "x", &json!({"n": i})).unwrap();
        }
        c
    }

    /// What an attacker with the file could do: drop the guard, then rewrite.
    fn tamper(c: &Connection, sql: &str) {
        c.execute_batch("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
            .unwrap();
        c.execute_batch(sql).unwrap();
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let v = verify(&log()).unwrap();
        assert_eq!((v.rows, v.unchained, v.ok()), (3, 0, true));
    }

    #[test]
    fn an_edited_row_is_caught() {
        let c = log();
        tamper(&c, "UPDATE audit_log SET actor = 'mallory' WHERE id = 2");
        let v = verify(&c).unwrap();
        assert_eq!(v.broken, Some((2, "its content was edited".into())));
    }

    #[test]
    fn a_deleted_row_is_caught() {
        let c = log();
        tamper(&c, "DELETE FROM audit_log WHERE id = 2");
        let v = verify(&c).unwrap();
        assert_eq!(v.broken.map(|b| b.0), Some(3));
    }

    #[test]
    fn the_guard_refuses_edits_before_any_tampering() {
        let c = log();
        assert!(c.execute("DELETE FROM audit_log", []).is_err());
        assert_eq!(entries(&c).unwrap().len(), 3);
    }
}
