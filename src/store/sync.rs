//! Per-source pull state (`sync_state`) and pulled signal samples (`signal_samples`).
//!
//! A cursor is saved in the transaction that commits the records it covers, so a crash
//! between the two cannot skip data; a failed pull only records its error.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

/// What the cache knows of one source's pulls.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SourceState {
    pub source: String,
    pub kind: String,
    /// Opaque to everyone but the source kind that wrote it.
    pub cursor: Option<String>,
    /// The newest record time the source is known to be synced up to.
    pub high_water_ns: Option<i64>,
    pub last_attempt_ns: Option<i64>,
    pub last_success_ns: Option<i64>,
    pub last_error_ns: Option<i64>,
    pub last_error: Option<String>,
    pub rows_total: i64,
    pub pages_total: i64,
    pub rejected_total: i64,
    pub errors_total: i64,
}

/// A page that committed: where the next pull starts and what it brought.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    pub source: &'a str,
    pub kind: &'a str,
    pub cursor: &'a str,
    pub high_water_ns: Option<i64>,
    pub rows: i64,
    pub rejected: i64,
    pub now_ns: i64,
}

/// Saves a committed page's cursor and clears the source's error.
pub fn save_progress(tx: &Transaction, p: &Progress) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO sync_state (source, kind, cursor, high_water_ns, updated_at,
                                 last_attempt_ns, last_success_ns, rows_total, pages_total,
                                 rejected_total)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?5, ?6, 1, ?7)
         ON CONFLICT (source) DO UPDATE SET
             kind = excluded.kind, cursor = excluded.cursor,
             high_water_ns = max(coalesce(high_water_ns, excluded.high_water_ns),
                                 coalesce(excluded.high_water_ns, high_water_ns)),
             updated_at = excluded.updated_at, last_attempt_ns = excluded.updated_at,
             last_success_ns = excluded.updated_at, last_error = NULL,
             rows_total = rows_total + excluded.rows_total,
             pages_total = pages_total + 1,
             rejected_total = rejected_total + excluded.rejected_total",
    )?
    .execute(params![
        p.source,
        p.kind,
        p.cursor,
        p.high_water_ns,
        p.now_ns,
        p.rows,
        p.rejected
    ])?;
    Ok(())
}

/// Records a failed pull; the cursor stays where it was.
pub fn record_error(
    conn: &Connection,
    source: &str,
    kind: &str,
    error: &str,
    now_ns: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_state (source, kind, updated_at, last_attempt_ns, last_error,
                                 last_error_ns, errors_total)
         VALUES (?1, ?2, ?3, ?3, ?4, ?3, 1)
         ON CONFLICT (source) DO UPDATE SET
             kind = excluded.kind, updated_at = excluded.updated_at,
             last_attempt_ns = excluded.updated_at, last_error = excluded.last_error,
             last_error_ns = excluded.updated_at, errors_total = errors_total + 1",
    )?
    .execute(params![source, kind, now_ns, crate::secret::scrub(error)])?;
    Ok(())
}

/// Records a pull that found nothing new (a caught-up source is healthy too).
pub fn record_idle(
    conn: &Connection,
    source: &str,
    kind: &str,
    now_ns: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_state (source, kind, updated_at, last_attempt_ns, last_success_ns)
         VALUES (?1, ?2, ?3, ?3, ?3)
         ON CONFLICT (source) DO UPDATE SET
             kind = excluded.kind, updated_at = excluded.updated_at,
             last_attempt_ns = excluded.updated_at, last_success_ns = excluded.updated_at,
             last_error = NULL",
    )?
    .execute(params![source, kind, now_ns])?;
    Ok(())
}

/// Records spans pushed to a receiver: counted like pulled rows, no cursor.
pub fn record_received(
    conn: &Connection,
    source: &str,
    rows: i64,
    rejected: i64,
    last_ns: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_state (source, kind, updated_at, last_attempt_ns, last_success_ns,
                                 high_water_ns, rows_total, rejected_total, pages_total)
         VALUES (?1, 'otlp-http', ?2, ?2, ?2, ?2, ?3, ?4, 1)
         ON CONFLICT (source) DO UPDATE SET
             kind = excluded.kind, updated_at = excluded.updated_at,
             last_attempt_ns = excluded.updated_at, last_success_ns = excluded.updated_at,
             high_water_ns = excluded.updated_at, last_error = NULL,
             rows_total = rows_total + excluded.rows_total,
             rejected_total = rejected_total + excluded.rejected_total,
             pages_total = pages_total + 1",
    )?
    .execute(params![source, last_ns, rows, rejected])?;
    Ok(())
}

/// Where a source's next pull starts.
pub fn cursor(conn: &Connection, source: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT cursor FROM sync_state WHERE source = ?1")?
        .query_row([source], |r| r.get(0))
        .optional()
        .map(Option::flatten)
}

/// Every source the cache has heard of, by name.
pub fn states(conn: &Connection) -> rusqlite::Result<Vec<SourceState>> {
    let mut stmt = conn.prepare_cached(
        "SELECT source, kind, cursor, high_water_ns, last_attempt_ns, last_success_ns,
                last_error_ns, last_error, rows_total, pages_total, rejected_total,
                errors_total
         FROM sync_state ORDER BY source",
    )?;
    stmt.query_map([], |r| {
        Ok(SourceState {
            source: r.get(0)?,
            kind: r.get(1)?,
            cursor: r.get(2)?,
            high_water_ns: r.get(3)?,
            last_attempt_ns: r.get(4)?,
            last_success_ns: r.get(5)?,
            last_error_ns: r.get(6)?,
            last_error: r.get(7)?,
            rows_total: r.get(8)?,
            pages_total: r.get(9)?,
            rejected_total: r.get(10)?,
            errors_total: r.get(11)?,
        })
    })?
    .collect()
}

/// One point of a pulled series.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub signal: String,
    /// The series' labels as canonical JSON (sorted keys): part of its identity.
    pub labels: String,
    /// The version label the series names, when it names one.
    pub version: Option<String>,
    pub ts_ns: i64,
    pub value: f64,
}

/// Upserts samples keyed by `(source, signal, labels, ts)`; a sample read again (the
/// overlap window) replaces itself. NaN cannot be stored in SQLite and is skipped by
/// the caller. The version is the newest one carrying the label.
pub fn write_samples(tx: &Transaction, source: &str, samples: &[Sample]) -> rusqlite::Result<u64> {
    let mut version = tx.prepare_cached(
        "SELECT id FROM versions WHERE label = ?1 ORDER BY created_at DESC, id DESC LIMIT 1",
    )?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO signal_samples (source, signal, labels, version_id, ts_ns, value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (source, signal, labels, ts_ns) DO UPDATE SET
             value = excluded.value, version_id = excluded.version_id",
    )?;
    let mut written = 0;
    for s in samples {
        let version_id: Option<i64> = match &s.version {
            Some(label) => version.query_row([label], |r| r.get(0)).optional()?,
            None => None,
        };
        written += insert.execute(params![
            source, s.signal, s.labels, version_id, s.ts_ns, s.value
        ])? as u64;
    }
    Ok(written)
}

/// One pulled series as the cache holds it (`relops signals`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesSummary {
    pub source: String,
    pub signal: String,
    /// The series' labels, as the source named them.
    pub labels: serde_json::Value,
    /// The version the series names, when the cache knows that version.
    pub version: Option<String>,
    pub points: i64,
    pub first_ns: i64,
    pub last_ns: i64,
    /// Infinite values print as `null` in JSON.
    pub min: f64,
    pub max: f64,
    /// The newest point's value.
    pub last: f64,
}

/// Every pulled series (of one source), by source, signal and labels.
pub fn series(conn: &Connection, source: Option<&str>) -> rusqlite::Result<Vec<SeriesSummary>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.source, s.signal, s.labels, max(v.label), count(*), min(s.ts_ns),
                max(s.ts_ns), min(s.value), max(s.value),
                (SELECT t.value FROM signal_samples t
                 WHERE t.source = s.source AND t.signal = s.signal AND t.labels = s.labels
                 ORDER BY t.ts_ns DESC LIMIT 1)
         FROM signal_samples s LEFT JOIN versions v ON v.id = s.version_id
         WHERE ?1 IS NULL OR s.source = ?1
         GROUP BY s.source, s.signal, s.labels
         ORDER BY s.source, s.signal, s.labels",
    )?;
    stmt.query_map([source], |r| {
        let labels: String = r.get(2)?;
        Ok(SeriesSummary {
            source: r.get(0)?,
            signal: r.get(1)?,
            labels: serde_json::from_str(&labels).unwrap_or(serde_json::Value::String(labels)),
            version: r.get(3)?,
            points: r.get(4)?,
            first_ns: r.get(5)?,
            last_ns: r.get(6)?,
            min: r.get(7)?,
            max: r.get(8)?,
            last: r.get(9)?,
        })
    })?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress<'a>(cursor: &'a str, rows: i64, now_ns: i64) -> Progress<'a> {
        Progress {
            source: "px",
            kind: "phoenix",
            cursor,
            high_water_ns: Some(now_ns),
            rows,
            rejected: 0,
            now_ns,
        }
    }

    #[test]
    fn progress_accumulates_and_an_error_keeps_the_cursor() {
        let mut c = crate::store::memory();
        let tx = c.transaction().unwrap();
        save_progress(&tx, &progress("a", 10, 100)).unwrap();
        save_progress(&tx, &progress("b", 5, 200)).unwrap();
        tx.commit().unwrap();
        record_error(&c, "px", "phoenix", "HTTP 500", 300).unwrap();
        let s = &states(&c).unwrap()[0];
        assert_eq!(s.cursor.as_deref(), Some("b"));
        assert_eq!((s.rows_total, s.pages_total, s.errors_total), (15, 2, 1));
        assert_eq!((s.last_success_ns, s.last_error_ns), (Some(200), Some(300)));
        assert_eq!(s.last_error.as_deref(), Some("HTTP 500"));
        assert_eq!(cursor(&c, "px").unwrap().as_deref(), Some("b"));
    }

    #[test]
    fn success_clears_the_error_and_high_water_never_goes_back() {
        let mut c = crate::store::memory();
        record_error(&c, "px", "phoenix", "down", 50).unwrap();
        let tx = c.transaction().unwrap();
        save_progress(&tx, &progress("a", 1, 500)).unwrap();
        save_progress(&tx, &progress("b", 1, 400)).unwrap();
        tx.commit().unwrap();
        let s = &states(&c).unwrap()[0];
        assert_eq!(s.last_error, None);
        assert_eq!(s.high_water_ns, Some(500));
    }

    #[test]
    fn samples_upsert_and_find_their_version() {
        let mut c = crate::store::memory();
        c.execute(
            "INSERT INTO versions (fingerprint, label, created_at) VALUES ('f', 'v3', 1)",
            [],
        )
        .unwrap();
        let sample = |v: f64| Sample {
            signal: "latency_p95".into(),
            labels: r#"{"version":"v3"}"#.into(),
            version: Some("v3".into()),
            ts_ns: 10,
            value: v,
        };
        let tx = c.transaction().unwrap();
        write_samples(&tx, "prom", &[sample(1.0)]).unwrap();
        write_samples(&tx, "prom", &[sample(2.0)]).unwrap();
        tx.commit().unwrap();
        let (n, value, version): (i64, f64, Option<i64>) = c
            .query_row(
                "SELECT count(*), max(value), max(version_id) FROM signal_samples",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((n, value, version), (1, 2.0, Some(1)));
        let tx = c.transaction().unwrap();
        let infinite = Sample {
            ts_ns: 20,
            value: f64::INFINITY,
            ..sample(0.0)
        };
        write_samples(&tx, "prom", &[infinite]).unwrap();
        tx.commit().unwrap();
        let s = &series(&c, Some("prom")).unwrap()[0];
        assert_eq!(s.labels, serde_json::json!({"version": "v3"}));
        assert_eq!(s.version.as_deref(), Some("v3"));
        assert_eq!((s.points, s.first_ns, s.last_ns), (2, 10, 20));
        assert_eq!((s.min, s.max, s.last), (2.0, f64::INFINITY, f64::INFINITY));
        assert!(series(&c, Some("other")).unwrap().is_empty());
    }
}
