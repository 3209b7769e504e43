//! Rollouts in the ledger: the machine's snapshot in `rollouts`, every change in
//! `rollout_events` and the audit chain.
//!
//! Several operators (and the guard) may change one rollout. Each change is one write
//! transaction made on the revision it was read at: a change on an older revision is
//! refused with who changed it since, so two operators pressing hold at once make one
//! change and one audit row. A rollback in progress holds a lease on its rollout.

use rusqlite::{Connection, OptionalExtension, params};

use super::machine::{Rollout, State};

fn state_name(s: State) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Stores a new rollout; its id. Only one may be active at a time.
pub fn create(
    conn: &Connection,
    r: &Rollout,
    release_id: i64,
    previous_id: Option<i64>,
    now_ns: i64,
) -> Result<i64, String> {
    if let Some((id, active)) = active(conn).map_err(|e| e.to_string())? {
        return Err(format!(
            "rollout {id} of {} is still {}; finish it first",
            active.release,
            state_name(active.state)
        ));
    }
    conn.execute(
        "INSERT INTO rollouts (plan, release_version_id, previous_version_id, state, stage_index,
                               stage_started_at, created_at, updated_at, snapshot)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
        params![
            r.plan,
            release_id,
            previous_id,
            state_name(r.state),
            r.stage as i64,
            r.stage_started_ns,
            now_ns,
            serde_json::to_string(r).expect("a rollout serialises")
        ],
    )
    .map_err(|e| e.to_string())?;
    Ok(conn.last_insert_rowid())
}

/// The rollout still in flight (running, triggered or held), if any.
pub fn active(conn: &Connection) -> rusqlite::Result<Option<(i64, Rollout)>> {
    latest(conn, "WHERE state IN ('running', 'triggered', 'held')")
}

/// The newest rollout, whatever its state.
pub fn newest(conn: &Connection) -> rusqlite::Result<Option<(i64, Rollout)>> {
    latest(conn, "")
}

fn latest(conn: &Connection, filter: &str) -> rusqlite::Result<Option<(i64, Rollout)>> {
    let sql =
        format!("SELECT id, snapshot, revision FROM rollouts {filter} ORDER BY id DESC LIMIT 1");
    let row: Option<(i64, String, i64)> = conn
        .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    Ok(row.and_then(|(id, json, revision)| {
        let mut r: Rollout = serde_json::from_str(&json).ok()?;
        r.revision = revision;
        Some((id, r))
    }))
}

/// Why a change was not saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// Someone else changed the rollout after it was read: nothing was saved.
    #[error("{0}")]
    Stale(String),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// One change to a rollout, as the events table and the audit log record it.
pub struct Change<'a> {
    pub actor: &'a str,
    /// `start`, `tick`, `check`, `approve`, `promote`, `hold`, `resume`, `rollback`.
    pub kind: &'a str,
    pub item: Option<&'a str>,
    /// The signal readings behind an automatic decision.
    pub evidence: serde_json::Value,
    pub now_ns: i64,
}

/// Saves the machine after a change, with the event and its evidence, audited, in one
/// write transaction, if the rollout is still at the revision `r` was read at (then
/// `r.revision` moves on). A check that changed nothing (same state, stage, streaks
/// and item outcomes, by the same actor, as the event before it) folds into that
/// event: its count and last time go up, the audit chain, which records changes, gains
/// no row, and the revision stays (a quiet check never makes an operator's change
/// stale).
pub fn save(conn: &Connection, id: i64, r: &mut Rollout, c: &Change) -> Result<(), SaveError> {
    let revision = crate::audit::in_write_tx(conn, || {
        let outcome = (c.kind == "tick").then(|| outcome(r, c.actor));
        let folds = match &outcome {
            Some(o) => folds(conn, id, o)?,
            None => false,
        };
        let revision = r.revision + i64::from(!folds);
        if !snapshot(conn, id, r, revision, c.now_ns)? {
            return Err(SaveError::Stale(stale(conn, id, c.now_ns)?));
        }
        if folds {
            conn.execute(
                "UPDATE rollout_events SET repeats = repeats + 1, last_at = ?2, evidence = ?3
                 WHERE id = (SELECT MAX(id) FROM rollout_events WHERE rollout_id = ?1)",
                params![id, c.now_ns, c.evidence.to_string()],
            )?;
        } else {
            event(conn, id, r, c, outcome.as_deref())?;
        }
        Ok(revision)
    })?;
    r.revision = revision;
    Ok(())
}

/// Whether a check with `outcome` repeats the rollout's last event.
fn folds(conn: &Connection, id: i64, outcome: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT kind = 'tick' AND outcome IS ?2 FROM rollout_events WHERE rollout_id = ?1
         ORDER BY id DESC LIMIT 1",
        params![id, outcome],
        |r| r.get(0),
    )
    .optional()
    .map(|f| f.unwrap_or(false))
}

/// "rollout 4 changed since you looked: held by alice 12s ago; reload".
fn stale(conn: &Connection, id: i64, now_ns: i64) -> rusqlite::Result<String> {
    let last: Option<(String, String, i64)> = conn
        .query_row(
            "SELECT kind, actor, COALESCE(last_at, at) FROM rollout_events WHERE rollout_id = ?1
             ORDER BY id DESC LIMIT 1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let what = last.map_or("changed".into(), |(kind, actor, at)| {
        format!(
            "{} by {actor} {} ago",
            done(&kind),
            crate::clock::age(at, now_ns)
        )
    });
    Ok(format!(
        "rollout {id} changed since you looked: {what}; reload"
    ))
}

/// An event kind as a past participle.
fn done(kind: &str) -> &str {
    match kind {
        "start" => "started",
        "tick" => "checked",
        "check" => "ticked",
        "approve" => "approved",
        "promote" => "promoted",
        "hold" => "held",
        "resume" => "resumed",
        "rollback" => "rolled back",
        other => other,
    }
}

/// Appends the change's event and its audit row.
fn event(
    conn: &Connection,
    id: i64,
    r: &Rollout,
    c: &Change,
    outcome: Option<&str>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO rollout_events (rollout_id, at, actor, kind, item, evidence, outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            id,
            c.now_ns,
            c.actor,
            c.kind,
            c.item,
            c.evidence.to_string(),
            outcome
        ],
    )?;
    let details = serde_json::json!({"rollout": id, "item": c.item, "state": state_name(r.state),
        "stage": r.stage, "evidence": c.evidence});
    let action = format!("rollout.{}", c.kind);
    crate::audit::record(conn, c.now_ns, c.actor, &action, &r.release, &details)
}

/// What makes two checks the same for the record: the machine's decisions, not the
/// numbers behind them.
fn outcome(r: &Rollout, actor: &str) -> String {
    let items: std::collections::BTreeMap<&str, &str> = r
        .items
        .iter()
        .map(|(name, s)| (name.as_str(), s.word()))
        .collect();
    serde_json::json!({"actor": actor, "state": state_name(r.state), "stage": r.stage,
        "fired": r.fired, "streaks": r.streaks, "items": items})
    .to_string()
}

/// Writes the snapshot at `revision` if the stored one is still the one `r` was read
/// at; whether it was.
fn snapshot(
    conn: &Connection,
    id: i64,
    r: &Rollout,
    revision: i64,
    now_ns: i64,
) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        "UPDATE rollouts SET state = ?2, stage_index = ?3, stage_started_at = ?4,
                             updated_at = ?5, snapshot = ?6, revision = ?7
         WHERE id = ?1 AND revision = ?8",
        params![
            id,
            state_name(r.state),
            r.stage as i64,
            r.stage_started_ns,
            now_ns,
            serde_json::to_string(r).expect("a rollout serialises"),
            revision,
            r.revision
        ],
    )?;
    Ok(changed == 1)
}

/// Who is rolling a rollout back, since when.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackLease {
    pub by: String,
    pub since_ns: i64,
}

/// Takes the rollback lease on rollout `id` for `actor`, or says who holds it. A lease
/// older than `stale_after_ns` (its holder died mid-run) may be taken over.
pub fn claim_rollback(
    conn: &Connection,
    id: i64,
    actor: &str,
    now_ns: i64,
    stale_after_ns: i64,
) -> Result<(), String> {
    let taken = conn
        .execute(
            "UPDATE rollouts SET rollback_by = ?2, rollback_since = ?3
             WHERE id = ?1 AND (rollback_by IS NULL OR rollback_since < ?4)",
            params![id, actor, now_ns, now_ns.saturating_sub(stale_after_ns)],
        )
        .map_err(|e| e.to_string())?;
    if taken == 1 {
        return Ok(());
    }
    match rollback_lease(conn, id).map_err(|e| e.to_string())? {
        Some(l) => Err(format!(
            "rollout {id} is being rolled back by {} since {} ({} ago): not running it twice",
            l.by,
            crate::clock::rfc3339(l.since_ns),
            crate::clock::age(l.since_ns, now_ns)
        )),
        None => Err(format!("rollout {id} is gone")),
    }
}

/// Gives the lease back (the run finished, either way).
pub fn release_rollback(conn: &Connection, id: i64, actor: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE rollouts SET rollback_by = NULL, rollback_since = NULL
         WHERE id = ?1 AND rollback_by = ?2",
        params![id, actor],
    )?;
    Ok(())
}

/// The rollback lease on rollout `id`, if held.
pub fn rollback_lease(conn: &Connection, id: i64) -> rusqlite::Result<Option<RollbackLease>> {
    conn.query_row(
        "SELECT rollback_by, rollback_since FROM rollouts WHERE id = ?1 AND rollback_by IS NOT NULL",
        [id],
        |r| {
            Ok(RollbackLease {
                by: r.get(0)?,
                since_ns: r.get(1)?,
            })
        },
    )
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::plan::Plan;

    fn plan() -> Plan {
        toml::from_str(
            "name = 'std'\n[[stage]]\nname = 'canary'\nweight = 5\nwindow = '30m'\n\
             item = [{ name = 'looked', kind = 'manual' }]\n",
        )
        .unwrap()
    }

    fn tick<'a>(actor: &'a str, at: i64) -> Change<'a> {
        Change {
            actor,
            kind: "tick",
            item: None,
            evidence: serde_json::json!({"at": at}),
            now_ns: at,
        }
    }

    fn rows(conn: &Connection) -> Vec<(String, i64, Option<i64>)> {
        conn.prepare("SELECT kind, repeats, last_at FROM rollout_events ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn identical_checks_fold_into_one_event_and_one_audit_row() {
        let conn = crate::store::memory();
        let plan = plan();
        let mut r = Rollout::start(&plan, "v3", Some("v2"), 1);
        conn.execute_batch(
            "INSERT INTO versions (id, fingerprint, label, created_at) VALUES (1, 'a', 'v2', 0),
             (2, 'b', 'v3', 0)",
        )
        .unwrap();
        let id = create(&conn, &r, 2, Some(1), 1).unwrap();
        for at in [10, 20, 30] {
            save(&conn, id, &mut r, &tick("guard@h", at)).unwrap();
        }
        assert_eq!(rows(&conn), [("tick".into(), 3, Some(30))]);
        let audited = crate::audit::verify(&conn, &Default::default())
            .unwrap()
            .rows;
        assert_eq!(audited, 1, "one row for three identical checks");

        // Another actor's check, or a changed outcome, is a new event.
        save(&conn, id, &mut r, &tick("ana", 40)).unwrap();
        r.check(&plan, "looked").unwrap();
        save(&conn, id, &mut r, &tick("ana", 50)).unwrap();
        save(&conn, id, &mut r, &tick("ana", 60)).unwrap();
        let kinds: Vec<i64> = rows(&conn).iter().map(|(_, n, _)| *n).collect();
        assert_eq!(kinds, [3, 1, 2]);
        assert_eq!(
            newest(&conn).unwrap().unwrap().1,
            r,
            "the snapshot is always saved"
        );
        assert!(
            crate::audit::verify(&conn, &Default::default())
                .unwrap()
                .ok()
        );
    }

    fn started(conn: &Connection, plan: &Plan) -> (i64, Rollout) {
        conn.execute_batch(
            "INSERT INTO versions (id, fingerprint, label, created_at) VALUES (1, 'a', 'v2', 0),
             (2, 'b', 'v3', 0)",
        )
        .unwrap();
        let r = Rollout::start(plan, "v3", Some("v2"), 1);
        let id = create(conn, &r, 2, Some(1), 1).unwrap();
        (id, newest(conn).unwrap().unwrap().1)
    }

    fn change<'a>(actor: &'a str, kind: &'a str, at: i64) -> Change<'a> {
        Change {
            actor,
            kind,
            item: None,
            evidence: serde_json::json!({}),
            now_ns: at,
        }
    }

    #[test]
    fn a_change_on_an_old_revision_is_refused_and_changes_nothing() {
        let conn = crate::store::memory();
        let plan = plan();
        let (id, read) = started(&conn, &plan);
        // Two operators read the same revision; alice holds first.
        let (mut alice, mut bob) = (read.clone(), read);
        alice.hold("alice", 10 * 1_000_000_000).unwrap();
        save(
            &conn,
            id,
            &mut alice,
            &change("alice", "hold", 10 * 1_000_000_000),
        )
        .unwrap();
        assert_eq!(alice.revision, 1);
        bob.hold("bob", 22 * 1_000_000_000).unwrap();
        let err = save(
            &conn,
            id,
            &mut bob,
            &change("bob", "hold", 22 * 1_000_000_000),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "rollout 1 changed since you looked: held by alice 12s ago; reload"
        );
        assert_eq!(
            newest(&conn).unwrap().unwrap().1,
            alice,
            "alice's change stands"
        );
        assert_eq!(
            crate::audit::verify(&conn, &Default::default())
                .unwrap()
                .rows,
            1
        );
        // A quiet check folds and keeps the revision: it never makes a change stale.
        let mut fresh = newest(&conn).unwrap().unwrap().1;
        for at in [30, 40] {
            save(&conn, id, &mut fresh, &tick("guard@h", at)).unwrap();
        }
        assert_eq!(
            newest(&conn).unwrap().unwrap().1.revision,
            2,
            "one new event, then a fold"
        );
    }

    #[test]
    fn the_rollback_lease_is_held_once_and_taken_over_only_when_stale() {
        let conn = crate::store::memory();
        let (id, _) = started(&conn, &plan());
        let min = 60 * 1_000_000_000;
        claim_rollback(&conn, id, "bob", 3 * min, 10 * min).unwrap();
        let err = claim_rollback(&conn, id, "alice", 4 * min, 10 * min).unwrap_err();
        assert!(
            err.contains("being rolled back by bob since") && err.contains("(1m ago)"),
            "{err}"
        );
        // Only the holder gives it back.
        release_rollback(&conn, id, "alice").unwrap();
        assert_eq!(rollback_lease(&conn, id).unwrap().unwrap().by, "bob");
        // A holder that died: past the term, the lease may be taken over.
        claim_rollback(&conn, id, "alice", 14 * min, 10 * min).unwrap();
        release_rollback(&conn, id, "alice").unwrap();
        assert_eq!(rollback_lease(&conn, id).unwrap(), None);
    }
}
