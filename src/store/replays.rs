//! Replays in the cache: every run of an input on a version, linked to the version
//! (fingerprint) it ran on and to what the input came from: a trace (`relops replay`),
//! or a regression case (the gate), which has no trace.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use crate::clock::rfc3339;
use crate::model::Fingerprint;

/// A replay about to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReplay {
    /// The trace whose input ran; `None` for a case's input.
    pub trace_pk: Option<i64>,
    /// The regression case whose input ran (gate replays).
    pub case_id: Option<String>,
    /// The input sent, when it is not a cached trace's (a case file may change later).
    pub input: Option<String>,
    /// `versions` row id.
    pub version_pk: i64,
    pub target: String,
    pub started_ns: i64,
    pub latency_ms: Option<f64>,
    pub output: Option<String>,
    /// OTLP/JSON spans as the target returned them.
    pub spans: Option<String>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub cost_usd: Option<f64>,
    /// Why the replay did not run to an answer (transport, HTTP status, bad response).
    pub error: Option<String>,
}

/// Stores replays in one transaction; their new ids in order. Takes the writer's
/// connection ([`super::Writer::connection`]).
pub fn insert(conn: &Connection, replays: &[NewReplay]) -> rusqlite::Result<Vec<i64>> {
    let tx = conn.unchecked_transaction()?;
    let ids = insert_rows(&tx, replays)?;
    tx.commit()?;
    Ok(ids)
}

/// Stores replays within the caller's transaction; their new ids in order.
pub fn insert_rows(conn: &Connection, replays: &[NewReplay]) -> rusqlite::Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(replays.len());
    let mut stmt = conn.prepare_cached(
        "INSERT INTO replays (trace_pk, case_id, input, version_id, target, started_at,
            latency_ms, output, spans, tokens_in, tokens_out, cost_usd, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) RETURNING id",
    )?;
    // What a target answered is a peer's text: no secret it echoed is kept.
    let clean = |t: &Option<String>| t.as_deref().map(|t| crate::secret::scrub(t).into_owned());
    for r in replays {
        ids.push(stmt.query_row(
            params![
                r.trace_pk,
                r.case_id,
                r.input,
                r.version_pk,
                r.target,
                r.started_ns,
                r.latency_ms,
                clean(&r.output),
                r.spans,
                r.tokens_in,
                r.tokens_out,
                r.cost_usd,
                clean(&r.error)
            ],
            |row| row.get(0),
        )?);
    }
    Ok(ids)
}

/// A stored replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayRow {
    /// `r:<id>`, how `relops diff` names it.
    pub id: String,
    /// The source trace's id; `None` for a case's replay.
    pub trace_id: Option<String>,
    /// The regression case whose input ran (gate replays).
    pub case_id: Option<String>,
    /// The version's label and fingerprint id.
    pub version: String,
    pub version_id: String,
    pub target: String,
    pub started_at: String,
    pub latency_ms: Option<f64>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub cost_usd: Option<f64>,
    pub error: Option<String>,
    pub output: Option<String>,
    #[serde(skip)]
    pub pk: i64,
    #[serde(skip)]
    pub trace_pk: Option<i64>,
    /// The input sent, when stored with the replay (case replays).
    #[serde(skip)]
    pub input: Option<String>,
    #[serde(skip)]
    pub version_pk: i64,
    #[serde(skip)]
    pub started_ns: i64,
    #[serde(skip)]
    pub spans: Option<String>,
}

const COLUMNS: &str = "r.id, t.trace_id, v.label, v.fingerprint, r.target, r.started_at,
    r.latency_ms, r.tokens_in, r.tokens_out, r.cost_usd, r.error, r.output, r.trace_pk,
    r.version_id, r.spans, r.case_id, r.input";

/// Replays with their trace when they have one (a case's replay has none).
const FROM: &str = "FROM replays r LEFT JOIN traces t ON t.id = r.trace_pk
    JOIN versions v ON v.id = r.version_id";

fn replay_row(r: &Row) -> rusqlite::Result<ReplayRow> {
    let pk: i64 = r.get(0)?;
    let started_ns: i64 = r.get(5)?;
    Ok(ReplayRow {
        id: format!("r:{pk}"),
        trace_id: r.get(1)?,
        version: r.get(2)?,
        version_id: r.get(3)?,
        target: r.get(4)?,
        started_at: rfc3339(started_ns),
        latency_ms: r.get(6)?,
        tokens_in: r.get(7)?,
        tokens_out: r.get(8)?,
        cost_usd: r.get(9)?,
        error: r.get(10)?,
        output: r.get(11)?,
        pk,
        trace_pk: r.get(12)?,
        version_pk: r.get(13)?,
        started_ns,
        spans: r.get(14)?,
        case_id: r.get(15)?,
        input: r.get(16)?,
    })
}

/// One replay by row id.
pub fn get(conn: &Connection, pk: i64) -> rusqlite::Result<Option<ReplayRow>> {
    let sql = format!("SELECT {COLUMNS} {FROM} WHERE r.id = ?1");
    conn.prepare_cached(&sql)?
        .query_row([pk], replay_row)
        .optional()
}

/// A trace's replays, newest first.
pub fn for_trace(conn: &Connection, trace_pk: i64) -> rusqlite::Result<Vec<ReplayRow>> {
    let sql = format!(
        "SELECT {COLUMNS} {FROM} WHERE r.trace_pk = ?1 ORDER BY r.started_at DESC, r.id DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([trace_pk], replay_row)?;
    rows.collect()
}

/// A regression case's replays (the gate's), newest first.
pub fn for_case(conn: &Connection, case_id: &str) -> rusqlite::Result<Vec<ReplayRow>> {
    let sql = format!(
        "SELECT {COLUMNS} {FROM} WHERE r.case_id = ?1 ORDER BY r.started_at DESC, r.id DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([case_id], replay_row)?;
    rows.collect()
}

/// The fingerprint a `versions` row records, by its id (12 hex digits).
pub fn fingerprint(conn: &Connection, id: &str) -> rusqlite::Result<Fingerprint> {
    conn.prepare_cached(
        "SELECT label, prompt_hash, config_hash, model, index_version, tools
         FROM versions WHERE fingerprint = ?1",
    )?
    .query_row([id], |r| {
        let tools: String = r.get(5)?;
        Ok(Fingerprint {
            label: r.get(0)?,
            prompt_hash: r.get(1)?,
            config_hash: r.get(2)?,
            model: r.get(3)?,
            index_version: r.get(4)?,
            tools: serde_json::from_str(&tools).unwrap_or_default(),
        })
    })
}

/// A trace's recorded input, by row id.
pub fn trace_input(conn: &Connection, trace_pk: i64) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT input FROM traces WHERE id = ?1")?
        .query_row([trace_pk], |r| r.get(0))
        .optional()
        .map(Option::flatten)
}

#[cfg(test)]
mod tests {
    use super::super::versions::ensure_version;
    use super::*;

    #[test]
    fn stores_and_reads_back_replays_newest_first() {
        let conn = crate::store::memory();
        let f = Fingerprint {
            label: Some("v2".into()),
            model: Some("m".into()),
            ..Default::default()
        };
        let v = ensure_version(&conn, &f, 1).unwrap();
        assert_eq!(ensure_version(&conn, &f, 2).unwrap(), v, "idempotent");
        conn.execute(
            "INSERT INTO traces (source, trace_id, version_id, name, start_ns, end_ns,
                duration_ms, error, refusal, safety_events, tool_calls, tool_errors,
                retrievals, retrieval_empty, tokens_in, tokens_out, cost_usd, output_chars,
                span_count, imported_at)
             VALUES ('s', 'abc', ?1, 'n', 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0)",
            [v],
        )
        .unwrap();
        let new = |at, error: Option<&str>| NewReplay {
            trace_pk: Some(1),
            case_id: None,
            input: None,
            version_pk: v,
            target: "t".into(),
            started_ns: at,
            latency_ms: Some(5.0),
            output: Some("hi".into()),
            spans: None,
            tokens_in: None,
            tokens_out: None,
            cost_usd: None,
            error: error.map(Into::into),
        };
        let ids = insert(&conn, &[new(10, None), new(20, Some("HTTP 500"))]).unwrap();
        let rows = for_trace(&conn, 1).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].pk, ids[1]);
        assert_eq!(rows[0].error.as_deref(), Some("HTTP 500"));
        assert_eq!(rows[1].id, format!("r:{}", ids[0]));
        assert_eq!(get(&conn, ids[0]).unwrap().unwrap().version, "v2");
        assert_eq!(fingerprint(&conn, &f.id()).unwrap(), f);
        // A case's replay has no trace: it still reads back, by id and by case.
        let case = NewReplay {
            trace_pk: None,
            case_id: Some("3f9c2a1b".into()),
            input: Some("refund please".into()),
            ..new(30, None)
        };
        let id = insert(&conn, &[case]).unwrap()[0];
        let row = get(&conn, id).unwrap().expect("a case replay reads back");
        assert_eq!((row.trace_id, row.trace_pk), (None, None));
        assert_eq!(row.case_id.as_deref(), Some("3f9c2a1b"));
        assert_eq!(row.input.as_deref(), Some("refund please"));
        assert_eq!(for_case(&conn, "3f9c2a1b").unwrap()[0].pk, id);
        assert_eq!(
            for_trace(&conn, 1).unwrap().len(),
            2,
            "not a trace's replay"
        );
    }
}
