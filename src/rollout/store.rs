//! Rollouts in the cache: the machine's snapshot in `rollouts`, every change in
//! `rollout_events` and the audit chain.

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
    let sql = format!("SELECT id, snapshot FROM rollouts {filter} ORDER BY id DESC LIMIT 1");
    let row: Option<(i64, String)> = conn
        .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.and_then(|(id, json)| serde_json::from_str(&json).ok().map(|r| (id, r))))
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

/// Saves the machine after a change, with the event and its evidence, audited. A check
/// that changed nothing (same state, stage, streaks and item outcomes, by the same
/// actor, as the event before it) folds into that event: its count and last time go
/// up and the audit chain, which records changes, gains no row.
pub fn save(conn: &Connection, id: i64, r: &Rollout, c: &Change) -> rusqlite::Result<()> {
    snapshot(conn, id, r, c.now_ns)?;
    let outcome = (c.kind == "tick").then(|| outcome(r, c.actor));
    if let Some(o) = &outcome {
        let folded = conn.execute(
            "UPDATE rollout_events SET repeats = repeats + 1, last_at = ?3, evidence = ?4
             WHERE id = (SELECT MAX(id) FROM rollout_events WHERE rollout_id = ?1)
               AND kind = 'tick' AND outcome = ?2",
            params![id, o, c.now_ns, c.evidence.to_string()],
        )?;
        if folded == 1 {
            return Ok(());
        }
    }
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

fn snapshot(conn: &Connection, id: i64, r: &Rollout, now_ns: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE rollouts SET state = ?2, stage_index = ?3, stage_started_at = ?4,
                             updated_at = ?5, snapshot = ?6 WHERE id = ?1",
        params![
            id,
            state_name(r.state),
            r.stage as i64,
            r.stage_started_ns,
            now_ns,
            serde_json::to_string(r).expect("a rollout serialises")
        ],
    )?;
    Ok(())
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
            save(&conn, id, &r, &tick("guard@h", at)).unwrap();
        }
        assert_eq!(rows(&conn), [("tick".into(), 3, Some(30))]);
        let audited = crate::audit::verify(&conn).unwrap().rows;
        assert_eq!(audited, 1, "one row for three identical checks");

        // Another actor's check, or a changed outcome, is a new event.
        save(&conn, id, &r, &tick("ana", 40)).unwrap();
        r.check(&plan, "looked").unwrap();
        save(&conn, id, &r, &tick("ana", 50)).unwrap();
        save(&conn, id, &r, &tick("ana", 60)).unwrap();
        let kinds: Vec<i64> = rows(&conn).iter().map(|(_, n, _)| *n).collect();
        assert_eq!(kinds, [3, 1, 2]);
        assert_eq!(
            newest(&conn).unwrap().unwrap().1,
            r,
            "the snapshot is always saved"
        );
        assert!(crate::audit::verify(&conn).unwrap().ok());
    }
}
