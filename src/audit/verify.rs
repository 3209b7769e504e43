//! `relops audit verify`: walks the chain from its genesis and finds the first row that
//! does not fit, a checkpoint's head that the chain no longer contains, a seal that
//! does not match the key, or a signature the allowed signers refuse.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::seal::Seal;
use super::{Head, chain, identity};

/// A head written earlier (`relops audit checkpoint`), or only its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub schema: String,
    pub workspace: String,
    #[serde(flatten)]
    pub head: Head,
}

/// The schema tag a checkpoint file carries.
pub const CHECKPOINT_SCHEMA: &str = "relops.audit-checkpoint/1";

impl Checkpoint {
    pub fn new(workspace: &str, head: Head) -> Self {
        Self {
            schema: CHECKPOINT_SCHEMA.into(),
            workspace: workspace.into(),
            head,
        }
    }

    /// `--checkpoint FILE|HASH`: a checkpoint file, or a bare 64-hex-digit hash (from a
    /// report or a page), which only says "this row must still be in the chain".
    pub fn parse(arg: &str) -> Result<Anchor, String> {
        let path = Path::new(arg);
        if path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{arg}: {e}"))?;
            let cp: Checkpoint =
                serde_json::from_str(&text).map_err(|e| format!("{arg}: not a checkpoint: {e}"))?;
            if cp.schema != CHECKPOINT_SCHEMA {
                return Err(format!(
                    "{arg}: schema {:?}, expected {CHECKPOINT_SCHEMA:?}",
                    cp.schema
                ));
            }
            return Ok(Anchor::Head(cp.head));
        }
        let hash = arg.trim().to_ascii_lowercase();
        if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Anchor::Hash(hash));
        }
        Err(format!(
            "{arg}: neither a checkpoint file nor a 64-hex-digit hash"
        ))
    }
}

/// What the chain must still contain.
#[derive(Debug, Clone, PartialEq)]
pub enum Anchor {
    /// This row, at this position.
    Head(Head),
    /// A row with this hash, anywhere.
    Hash(String),
}

/// What `verify` checks beyond the chain itself.
#[derive(Default)]
pub struct Options<'a> {
    /// The audit key: every row since sealing began must carry its seal.
    pub seal: Option<&'a Seal>,
    /// A head the chain must still contain and extend.
    pub anchor: Option<&'a Anchor>,
    /// The allowed-signers file signed rows are checked against.
    pub allowed_signers: Option<&'a Path>,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    pub rows: usize,
    /// Rows written before the chain existed (schema 2 and older): not covered.
    pub unchained: usize,
    /// Rows whose seal matched the key; rows before the first sealed one (written before
    /// the key was set, or stripped of their seals: a checkpoint tells which); rows with
    /// a seal nobody checked (no key given).
    pub sealed: usize,
    pub unsealed: usize,
    pub seals_unchecked: usize,
    /// Rows whose signature verified; signed rows nobody checked (no allowed signers).
    pub signed: usize,
    pub signatures_unchecked: usize,
    /// The anchor was found where it should be.
    pub anchored: bool,
    pub head: Option<Head>,
    /// The first row that does not fit the chain, and why.
    pub broken: Option<(i64, String)>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.broken.is_none()
    }
}

/// One stored row, as the walk reads it.
struct Stored {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    subject: Option<String>,
    details: String,
    prev: Option<String>,
    hash: Option<String>,
    mac: Option<String>,
    signer: Option<String>,
    signature: Option<String>,
}

impl Stored {
    fn read(r: &Row) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            subject: r.get(4)?,
            details: r.get(5)?,
            prev: r.get(6)?,
            hash: r.get(7)?,
            mac: r.get(8)?,
            signer: r.get(9)?,
            signature: r.get(10)?,
        })
    }
}

/// Walks the chain from the first row.
pub fn verify(conn: &Connection, opts: &Options) -> rusqlite::Result<Verification> {
    let mut v = Verification {
        rows: 0,
        unchained: 0,
        sealed: 0,
        unsealed: 0,
        seals_unchecked: 0,
        signed: 0,
        signatures_unchecked: 0,
        anchored: false,
        head: None,
        broken: None,
    };
    // How many rows may predate the chain, as recorded when it began. A missing record
    // allows none: a log cannot talk its way into being "older".
    let pre_chain: Option<i64> = conn
        .query_row(
            "SELECT unchained FROM audit_genesis WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let pre_chain = pre_chain.unwrap_or(0).max(0) as usize;
    let mut stmt = conn.prepare(
        "SELECT id, at, actor, action, subject, details, prev_hash, hash, mac, signer,
                signature
         FROM audit_log ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    let mut walk = Walk {
        prev: String::new(),
        sealing: false,
        pre_chain,
    };
    while let Some(r) = rows.next()? {
        let row = Stored::read(r)?;
        v.rows += 1;
        if let Err(why) = walk.step(&row, opts, &mut v) {
            v.broken = Some((row.id, why));
            return Ok(v);
        }
    }
    if let Some(anchor) = opts.anchor.filter(|_| !v.anchored) {
        v.broken = Some(missing_anchor(anchor, &v));
    }
    Ok(v)
}

/// The state carried from row to row.
struct Walk {
    prev: String,
    /// A sealed row has been seen: every later row must be sealed too.
    sealing: bool,
    pre_chain: usize,
}

impl Walk {
    fn step(&mut self, row: &Stored, opts: &Options, v: &mut Verification) -> Result<(), String> {
        let Some(hash) = &row.hash else {
            if self.prev.is_empty() && v.rows <= self.pre_chain {
                v.unchained += 1;
                return Ok(());
            }
            return Err(
                "a row without a hash where the chain had begun (the chain was downgraded)".into(),
            );
        };
        if row.prev.as_deref() != Some(self.prev.as_str()) {
            return Err("the row before it was removed or changed".into());
        }
        let expected = chain(
            &self.prev,
            row.at,
            &row.actor,
            &row.action,
            row.subject.as_deref(),
            &row.details,
        );
        if &expected != hash {
            return Err("its content was edited".into());
        }
        self.seal(row, hash, opts.seal, v)?;
        sign(row, hash, opts.allowed_signers, v)?;
        if let Some(anchor) = opts.anchor {
            v.anchored |= anchored(anchor, v.rows, hash)?;
        }
        v.head = Some(Head {
            rows: v.rows,
            id: row.id,
            hash: hash.clone(),
            at: crate::clock::rfc3339(row.at),
        });
        self.prev = hash.clone();
        Ok(())
    }

    fn seal(
        &mut self,
        row: &Stored,
        hash: &str,
        key: Option<&Seal>,
        v: &mut Verification,
    ) -> Result<(), String> {
        match (&row.mac, key) {
            (Some(mac), Some(key)) if *mac == key.mac(hash) => {
                self.sealing = true;
                v.sealed += 1;
                Ok(())
            }
            (Some(_), Some(_)) => Err("its seal does not match the audit key: written or rewritten without it".into()),
            (Some(_), None) => {
                v.seals_unchecked += 1;
                Ok(())
            }
            (None, Some(_)) if self.sealing => Err("no seal where every row since sealing began has one: written without the audit key".into()),
            (None, Some(_)) => {
                v.unsealed += 1;
                Ok(())
            }
            (None, None) => Ok(()),
        }
    }
}

fn sign(
    row: &Stored,
    hash: &str,
    allowed: Option<&Path>,
    v: &mut Verification,
) -> Result<(), String> {
    let (Some(signer), Some(signature)) = (&row.signer, &row.signature) else {
        return Ok(());
    };
    if signer != &row.actor {
        return Err(format!(
            "signed by {signer}, but the row names {}",
            row.actor
        ));
    }
    match allowed {
        Some(allowed) => {
            identity::verify(allowed, signer, hash, signature)?;
            v.signed += 1;
        }
        None => v.signatures_unchecked += 1,
    }
    Ok(())
}

/// Whether the row at `position` with `hash` is the anchor; a different row where the
/// checkpoint's head stood means the chain was rewritten since.
fn anchored(anchor: &Anchor, position: usize, hash: &str) -> Result<bool, String> {
    match anchor {
        Anchor::Head(head) if head.rows == position => {
            if head.hash == hash {
                Ok(true)
            } else {
                Err(format!(
                    "row {position} is not the one checkpointed at {} ({}): the chain was rewritten since",
                    head.at,
                    head.short()
                ))
            }
        }
        Anchor::Head(_) => Ok(false),
        Anchor::Hash(h) => Ok(h == hash),
    }
}

/// Why an anchor the walk never met is missing.
fn missing_anchor(anchor: &Anchor, v: &Verification) -> (i64, String) {
    let last = v.head.as_ref().map_or(0, |h| h.id);
    let why = match anchor {
        Anchor::Head(head) => format!(
            "the log has {} rows, the checkpoint of {} saw {} ({}): its newest rows were deleted",
            v.rows,
            head.at,
            head.rows,
            head.short()
        ),
        Anchor::Hash(h) => format!(
            "no row has the hash {}: rows were deleted or rewritten",
            &h[..12]
        ),
    };
    (last, why)
}

#[cfg(test)]
mod tests {
    use super::super::{head, record};
    use super::*;
    use serde_json::json;

    const ACTIONS: [&str; 4] = [
        "incident.open",
        "rollout.tick",
        "runbook.step",
        "rollout.hold",
    ];

    /// Four rows, sealed with `key` when given (as a process with `[audit] key_env`).
    fn log(key: Option<&Seal>) -> Connection {
        let c = crate::store::memory();
        for (i, action) in ACTIONS.iter().enumerate() {
            record(&c, i as i64, "ana", action, "x", &json!({"n": i})).unwrap();
            if let Some(key) = key {
                let (id, hash): (i64, String) = c
                    .query_row(
                        "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .unwrap();
                unguarded(
                    &c,
                    &format!(
                        "UPDATE audit_log SET mac = '{}' WHERE id = {id}",
                        key.mac(&hash)
                    ),
                );
            }
        }
        c
    }

    /// Runs `sql` with the append-only triggers out of the way (restored after), as
    /// someone with write access to the database file could.
    fn unguarded(c: &Connection, sql: &str) {
        c.execute_batch(&format!(
            "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;
             DROP TRIGGER audit_genesis_no_update; DROP TRIGGER audit_genesis_no_delete;
             {sql};
             CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
             BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
             CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
             BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
             CREATE TRIGGER audit_genesis_no_update BEFORE UPDATE ON audit_genesis
             BEGIN SELECT RAISE(ABORT, 'x'); END;
             CREATE TRIGGER audit_genesis_no_delete BEFORE DELETE ON audit_genesis
             BEGIN SELECT RAISE(ABORT, 'x'); END;"
        ))
        .unwrap();
    }

    /// Rewrites the whole chain consistently from the rows left, as a careful attacker
    /// would after an edit or a deletion: every hash recomputed, no seal (no key).
    fn rechain(c: &Connection) {
        let rows: Vec<(i64, i64, String, String, Option<String>, String)> = c
            .prepare("SELECT id, at, actor, action, subject, details FROM audit_log ORDER BY id")
            .unwrap()
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut prev = String::new();
        for (id, at, actor, action, subject, details) in rows {
            let hash = chain(&prev, at, &actor, &action, subject.as_deref(), &details);
            unguarded(
                c,
                &format!(
                    "UPDATE audit_log SET prev_hash = '{prev}', hash = '{hash}', mac = NULL WHERE id = {id}"
                ),
            );
            prev = hash;
        }
    }

    /// Appends a correctly chained row without the key.
    fn forge(c: &Connection) {
        record(c, 9, "mallory", "rollout.approve", "x", &json!({})).unwrap();
    }

    fn checked(c: &Connection, key: Option<&Seal>, anchor: Option<&Anchor>) -> Verification {
        verify(
            c,
            &Options {
                seal: key,
                anchor,
                allowed_signers: None,
            },
        )
        .unwrap()
    }

    #[test]
    fn an_untouched_chain_verifies_with_its_checkpoint_and_its_key() {
        let key = Seal::new("team-audit-key");
        let c = log(Some(&key));
        let anchor = Anchor::Head(head(&c).unwrap().unwrap());
        let v = checked(&c, Some(&key), Some(&anchor));
        assert_eq!(
            (v.rows, v.unchained, v.sealed, v.anchored, v.ok()),
            (4, 0, 4, true, true)
        );
        // The chain goes on after its checkpoint: still anchored.
        record(&c, 10, "ana", "rollout.tick", "x", &json!({})).unwrap();
        let v = checked(&c, None, Some(&anchor));
        assert!(v.ok() && v.anchored, "{v:?}");
        assert_eq!(v.seals_unchecked, 4);
    }

    /// Eleven ways to tamper with a log by hand, each caught: by the chain alone, by
    /// the genesis record, by a checkpoint taken before, or by the audit key.
    #[test]
    fn every_kind_of_tampering_is_caught() {
        let key = Seal::new("team-audit-key");
        type Attack = (&'static str, fn(&Connection), bool);
        let attacks: [Attack; 11] = [
            (
                "edit a row",
                |c| unguarded(c, "UPDATE audit_log SET actor = 'mallory' WHERE id = 2"),
                false,
            ),
            (
                "edit a hash",
                |c| unguarded(c, "UPDATE audit_log SET hash = 'ff' WHERE id = 3"),
                false,
            ),
            (
                "delete a middle row",
                |c| unguarded(c, "DELETE FROM audit_log WHERE id = 2"),
                false,
            ),
            (
                "delete the newest row",
                |c| unguarded(c, "DELETE FROM audit_log WHERE id = 4"),
                false,
            ),
            (
                "delete every row",
                |c| unguarded(c, "DELETE FROM audit_log"),
                false,
            ),
            (
                "null every hash",
                |c| unguarded(c, "UPDATE audit_log SET hash = NULL, prev_hash = NULL"),
                false,
            ),
            (
                "null every hash and claim they predate the chain",
                |c| {
                    unguarded(
                        c,
                        "UPDATE audit_log SET hash = NULL, prev_hash = NULL; DELETE FROM audit_genesis",
                    )
                },
                false,
            ),
            (
                "edit, then rechain",
                |c| {
                    unguarded(c, "UPDATE audit_log SET details = '{}' WHERE id = 1");
                    rechain(c);
                },
                false,
            ),
            (
                "delete, then rechain",
                |c| {
                    unguarded(c, "DELETE FROM audit_log WHERE id = 3");
                    rechain(c);
                },
                false,
            ),
            (
                "swap two rows' content",
                |c| {
                    unguarded(
                        c,
                        "UPDATE audit_log SET action = CASE id WHEN 2 THEN 'runbook.step' ELSE 'rollout.tick' END WHERE id IN (2, 3)",
                    )
                },
                false,
            ),
            ("append a forged row", forge, true),
        ];
        for (name, attack, after_checkpoint) in attacks {
            let c = log(Some(&key));
            let anchor = Anchor::Head(head(&c).unwrap().unwrap());
            attack(&c);
            let v = checked(&c, Some(&key), Some(&anchor));
            assert!(!v.ok(), "{name}: passed as intact: {v:?}");
            // A forged row past the checkpoint is the key's to catch; everything before
            // it, the checkpoint's (even with no key at all).
            if !after_checkpoint {
                let v = checked(&c, None, Some(&anchor));
                assert!(
                    !v.ok(),
                    "{name}: passed the checkpoint without the key: {v:?}"
                );
            }
        }
    }

    #[test]
    fn the_reasons_name_what_happened() {
        let c = log(None);
        let anchor = Anchor::Head(head(&c).unwrap().unwrap());
        unguarded(&c, "DELETE FROM audit_log WHERE id = 4");
        let (id, why) = checked(&c, None, Some(&anchor)).broken.unwrap();
        assert_eq!(id, 3);
        assert!(
            why.contains("has 3 rows")
                && why.contains("saw 4")
                && why.contains("newest rows were deleted"),
            "{why}"
        );

        let c = log(None);
        let anchor = Anchor::Head(head(&c).unwrap().unwrap());
        unguarded(&c, "UPDATE audit_log SET details = '{}' WHERE id = 1");
        rechain(&c);
        let (id, why) = checked(&c, None, Some(&anchor)).broken.unwrap();
        assert_eq!(id, 4);
        assert!(why.contains("rewritten since"), "{why}");

        let c = log(None);
        unguarded(&c, "UPDATE audit_log SET hash = NULL, prev_hash = NULL");
        let (id, why) = checked(&c, None, None).broken.unwrap();
        assert_eq!(id, 1);
        assert!(why.contains("downgraded"), "{why}");

        let key = Seal::new("team-audit-key");
        let c = log(Some(&key));
        forge(&c);
        let (id, why) = checked(&c, Some(&key), None).broken.unwrap();
        assert_eq!(id, 5);
        assert!(why.contains("written without the audit key"), "{why}");
        let wrong = Seal::new("another-key");
        let (id, why) = checked(&c, Some(&wrong), None).broken.unwrap();
        assert_eq!(id, 1);
        assert!(why.contains("does not match the audit key"), "{why}");
    }

    #[test]
    fn rows_from_before_the_chain_stay_allowed_as_the_genesis_counted_them() {
        let mut c = Connection::open_in_memory().unwrap();
        // A log from schema 2: rows without hashes, then the upgrade.
        c.pragma_update(None, "user_version", 0i64).unwrap();
        crate::store::migrate_to(&mut c, 2);
        c.execute_batch(
            "INSERT INTO audit_log (at, actor, action) VALUES (1, 'old', 'x'), (2, 'old', 'y')",
        )
        .unwrap();
        crate::store::migrate_to(&mut c, crate::store::LATEST);
        record(&c, 3, "ana", "rollout.tick", "x", &json!({})).unwrap();
        let v = checked(&c, None, None);
        assert_eq!((v.rows, v.unchained, v.ok()), (3, 2, true), "{v:?}");
    }

    #[test]
    fn a_checkpoint_is_a_file_or_a_hash() {
        let dir = tempfile::tempdir().unwrap();
        let c = log(None);
        let h = head(&c).unwrap().unwrap();
        let file = dir.path().join("audit.checkpoint");
        std::fs::write(
            &file,
            serde_json::to_string(&Checkpoint::new("w", h.clone())).unwrap(),
        )
        .unwrap();
        assert_eq!(
            Checkpoint::parse(file.to_str().unwrap()).unwrap(),
            Anchor::Head(h.clone())
        );
        assert_eq!(
            Checkpoint::parse(&h.hash.to_uppercase()).unwrap(),
            Anchor::Hash(h.hash.clone())
        );
        let err = Checkpoint::parse("nope").unwrap_err();
        assert!(err.contains("neither a checkpoint file nor"), "{err}");
        std::fs::write(&file, "{}").unwrap();
        assert!(
            Checkpoint::parse(file.to_str().unwrap())
                .unwrap_err()
                .contains("not a checkpoint")
        );
        let v = checked(&c, None, Some(&Anchor::Hash(h.hash)));
        assert!(v.ok() && v.anchored);
    }
}
