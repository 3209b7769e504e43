//! Incidents: a title, a severity, the traces that show the problem, open or closed.
//!
//! Stored in the cache (`incidents`, `incident_traces`); every change is also appended to
//! `audit_log` with who made it. All writes take the writer's connection.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::clock::rfc3339;
use crate::store::query;

/// An incident with its linked traces.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    pub id: i64,
    pub title: String,
    pub severity: String,
    /// `open` or `closed`.
    pub status: String,
    pub opened_at: String,
    pub opened_by: String,
    pub closed_at: Option<String>,
    /// Trace ids, in the order they were attached.
    pub traces: Vec<String>,
}

pub use crate::audit::actor;

fn audit(
    conn: &Connection,
    now_ns: i64,
    actor: &str,
    action: &str,
    subject: &str,
    details: serde_json::Value,
) -> rusqlite::Result<()> {
    crate::audit::record(conn, now_ns, actor, action, subject, &details)
}

/// Opens an incident; its id.
pub fn open(
    conn: &Connection,
    title: &str,
    severity: &str,
    actor: &str,
    now_ns: i64,
) -> Result<i64, String> {
    if title.trim().is_empty() {
        return Err("an incident needs a title".into());
    }
    let run = || -> rusqlite::Result<i64> {
        let tx = conn.unchecked_transaction()?;
        let id: i64 = tx.query_row(
            "INSERT INTO incidents (title, severity, status, opened_at, opened_by)
             VALUES (?1, ?2, 'open', ?3, ?4) RETURNING id",
            params![title.trim(), severity, now_ns, actor],
            |r| r.get(0),
        )?;
        audit(
            &tx,
            now_ns,
            actor,
            "incident.open",
            &format!("incident:{id}"),
            serde_json::json!({"title": title.trim(), "severity": severity}),
        )?;
        tx.commit()?;
        Ok(id)
    };
    run().map_err(|e| e.to_string())
}

/// Links traces (ids or `#row`) to an open or closed incident; the trace ids newly
/// attached (already attached ones are skipped). Unknown traces fail the whole call.
pub fn attach(
    conn: &Connection,
    id: i64,
    traces: &[String],
    actor: &str,
    now_ns: i64,
) -> Result<Vec<String>, String> {
    let sql = |e: rusqlite::Error| e.to_string();
    get(conn, id)?.ok_or_else(|| no_incident(id))?;
    let mut found = Vec::new();
    for t in traces {
        let d = query::trace_detail(conn, t)
            .map_err(sql)?
            .ok_or_else(|| format!("no trace {t:?} in the cache"))?;
        found.push((d.row.pk, d.row.id));
    }
    let tx = conn.unchecked_transaction().map_err(sql)?;
    let mut added = Vec::new();
    for (pk, trace_id) in found {
        let n = tx
            .execute(
                "INSERT OR IGNORE INTO incident_traces (incident_id, trace_pk, added_at)
                 VALUES (?1, ?2, ?3)",
                params![id, pk, now_ns],
            )
            .map_err(sql)?;
        if n > 0 {
            added.push(trace_id);
        }
    }
    if !added.is_empty() {
        audit(
            &tx,
            now_ns,
            actor,
            "incident.attach",
            &format!("incident:{id}"),
            serde_json::json!({"traces": added}),
        )
        .map_err(sql)?;
    }
    tx.commit().map_err(sql)?;
    Ok(added)
}

/// Closes an open incident.
pub fn close(conn: &Connection, id: i64, actor: &str, now_ns: i64) -> Result<(), String> {
    let sql = |e: rusqlite::Error| e.to_string();
    let inc = get(conn, id)?.ok_or_else(|| no_incident(id))?;
    if inc.status == "closed" {
        return Err(format!(
            "incident {id} is already closed (since {})",
            inc.closed_at.unwrap_or_default()
        ));
    }
    let tx = conn.unchecked_transaction().map_err(sql)?;
    tx.execute(
        "UPDATE incidents SET status = 'closed', closed_at = ?2 WHERE id = ?1",
        params![id, now_ns],
    )
    .map_err(sql)?;
    audit(
        &tx,
        now_ns,
        actor,
        "incident.close",
        &format!("incident:{id}"),
        serde_json::json!({}),
    )
    .map_err(sql)?;
    tx.commit().map_err(sql)
}

fn no_incident(id: i64) -> String {
    format!("no incident {id}; `relops incident list` shows them")
}

/// One incident.
pub fn get(conn: &Connection, id: i64) -> Result<Option<Incident>, String> {
    Ok(list(conn)?.into_iter().find(|i| i.id == id))
}

/// Every incident, newest first.
pub fn list(conn: &Connection) -> Result<Vec<Incident>, String> {
    let run = || -> rusqlite::Result<Vec<Incident>> {
        let mut stmt = conn.prepare_cached(
            "SELECT id, title, severity, status, opened_at, opened_by, closed_at
             FROM incidents ORDER BY id DESC",
        )?;
        let mut out = stmt
            .query_map([], |r| {
                Ok(Incident {
                    id: r.get(0)?,
                    title: r.get(1)?,
                    severity: r.get(2)?,
                    status: r.get(3)?,
                    opened_at: rfc3339(r.get(4)?),
                    opened_by: r.get(5)?,
                    closed_at: r.get::<_, Option<i64>>(6)?.map(rfc3339),
                    traces: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut traces = conn.prepare_cached(
            "SELECT t.trace_id FROM incident_traces i JOIN traces t ON t.id = i.trace_pk
             WHERE i.incident_id = ?1 ORDER BY i.added_at, t.trace_id",
        )?;
        for inc in &mut out {
            inc.traces = traces
                .query_map([inc.id], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
        }
        Ok(out)
    };
    run().map_err(|e| e.to_string())
}

/// Whether an incident exists (for `case from-trace --incident`).
pub fn exists(conn: &Connection, id: i64) -> Result<bool, String> {
    conn.query_row("SELECT 1 FROM incidents WHERE id = ?1", [id], |_| Ok(()))
        .optional()
        .map(|o| o.is_some())
        .map_err(|e| e.to_string())
}
