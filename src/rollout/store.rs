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

/// Saves the machine after a change, with the event and its evidence, audited.
pub fn save(conn: &Connection, id: i64, r: &Rollout, c: &Change) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE rollouts SET state = ?2, stage_index = ?3, stage_started_at = ?4,
                             updated_at = ?5, snapshot = ?6 WHERE id = ?1",
        params![
            id,
            state_name(r.state),
            r.stage as i64,
            r.stage_started_ns,
            c.now_ns,
            serde_json::to_string(r).expect("a rollout serialises")
        ],
    )?;
    conn.execute(
        "INSERT INTO rollout_events (rollout_id, at, actor, kind, item, evidence)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id,
            c.now_ns,
            c.actor,
            c.kind,
            c.item,
            c.evidence.to_string()
        ],
    )?;
    let details = serde_json::json!({"rollout": id, "item": c.item, "state": state_name(r.state),
        "stage": r.stage, "evidence": c.evidence});
    let action = format!("rollout.{}", c.kind);
    crate::audit::record(conn, c.now_ns, c.actor, &action, &r.release, &details)
}
