//! `review_scores` (schema V6): one row per trace, criterion and reviewer; re-scoring
//! replaces the row. A reviewer's note on a trace is kept on each of their rows for it.
//! Writes take the writer's connection; reads any connection.

use std::collections::{BTreeMap, HashSet};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::clock::rfc3339;

/// One score to store, already checked against the rubric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Score {
    pub criterion: String,
    pub score: u8,
    pub scale: u8,
}

/// What one reviewer stored for one trace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TraceReview {
    /// Criterion to score.
    pub scores: BTreeMap<String, u8>,
    pub note: Option<String>,
}

/// Stores scores, replacing the reviewer's earlier ones for the same criteria, and the
/// note when one is given (an empty note clears it). A note needs a scored trace: it is
/// stored beside the scores. Returns what the reviewer now has on the trace.
pub fn record(
    conn: &Connection,
    trace_pk: i64,
    reviewer: &str,
    now_ns: i64,
    scores: &[Score],
    note: Option<&str>,
) -> Result<TraceReview, String> {
    let sql = |e: rusqlite::Error| e.to_string();
    let tx = conn.unchecked_transaction().map_err(sql)?;
    let (version, trace_id): (Option<i64>, String) = tx
        .query_row(
            "SELECT version_id, trace_id FROM traces WHERE id = ?1",
            [trace_pk],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql)?
        .ok_or_else(|| format!("no trace #{trace_pk} in the cache"))?;
    for s in scores {
        // A new row takes the note the reviewer already wrote on the trace.
        tx.prepare_cached(
            "INSERT INTO review_scores
                 (trace_id, version_id, criterion, score, scale, note, reviewer, scored_at)
             VALUES (?1, ?2, ?3, ?4, ?5,
                     (SELECT note FROM review_scores
                      WHERE trace_id = ?1 AND reviewer = ?6 AND note IS NOT NULL LIMIT 1),
                     ?6, ?7)
             ON CONFLICT (trace_id, criterion, reviewer) DO UPDATE SET
                 score = excluded.score, scale = excluded.scale,
                 version_id = excluded.version_id, scored_at = excluded.scored_at",
        )
        .and_then(|mut st| {
            st.execute(params![
                trace_pk,
                version,
                s.criterion,
                s.score,
                s.scale,
                reviewer,
                now_ns
            ])
        })
        .map_err(sql)?;
    }
    if let Some(note) = note {
        let note = Some(note.trim()).filter(|n| !n.is_empty());
        let n = tx
            .execute(
                "UPDATE review_scores SET note = ?3 WHERE trace_id = ?1 AND reviewer = ?2",
                params![trace_pk, reviewer, note],
            )
            .map_err(sql)?;
        if n == 0 {
            return Err(format!(
                "{reviewer} has not scored trace #{trace_pk} yet: a note is stored with scores"
            ));
        }
    }
    // Scores judge a release: who gave which, and when, is kept like every other call.
    let scored: Vec<_> = scores
        .iter()
        .map(|s| serde_json::json!({"criterion": s.criterion, "score": s.score, "scale": s.scale}))
        .collect();
    let details = serde_json::json!({"scores": scored, "note": note});
    crate::audit::record(&tx, now_ns, reviewer, "review.score", &trace_id, &details)
        .map_err(sql)?;
    tx.commit().map_err(sql)?;
    for_trace(conn, trace_pk, reviewer).map_err(sql)
}

/// The reviewer's scores and note on one trace.
pub fn for_trace(
    conn: &Connection,
    trace_pk: i64,
    reviewer: &str,
) -> rusqlite::Result<TraceReview> {
    let mut stmt = conn.prepare_cached(
        "SELECT criterion, score, note FROM review_scores
         WHERE trace_id = ?1 AND reviewer = ?2 ORDER BY criterion",
    )?;
    let mut rows = stmt.query(params![trace_pk, reviewer])?;
    let mut out = TraceReview::default();
    while let Some(r) = rows.next()? {
        out.scores.insert(r.get(0)?, r.get(1)?);
        out.note = out.note.or(r.get(2)?);
    }
    Ok(out)
}

/// Traces (row ids) the reviewer has scored, ever: a new round skips them.
pub fn scored_traces(conn: &Connection, reviewer: &str) -> rusqlite::Result<HashSet<i64>> {
    conn.prepare_cached("SELECT DISTINCT trace_id FROM review_scores WHERE reviewer = ?1")?
        .query_map([reviewer], |r| r.get(0))?
        .collect()
}

/// One stored score, as `relops review list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreRow {
    /// The OTLP trace id.
    pub trace_id: String,
    pub version: String,
    /// The version's fingerprint id.
    pub version_id: Option<String>,
    pub criterion: String,
    pub score: u8,
    pub scale: u8,
    pub note: Option<String>,
    pub reviewer: String,
    pub scored_at: String,
    #[serde(skip)]
    pub scored_ns: i64,
}

/// Scores stored in `[from_ns, to_ns)`, newest first.
pub fn list(conn: &Connection, from_ns: i64, to_ns: i64) -> rusqlite::Result<Vec<ScoreRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.trace_id, coalesce(v.label, 'unknown'), v.fingerprint, s.criterion, s.score,
                s.scale, s.note, s.reviewer, s.scored_at
         FROM review_scores s
         JOIN traces t ON t.id = s.trace_id
         LEFT JOIN versions v ON v.id = s.version_id
         WHERE s.scored_at >= ?1 AND s.scored_at < ?2
         ORDER BY s.scored_at DESC, t.trace_id, s.criterion",
    )?;
    stmt.query_map(params![from_ns, to_ns], |r| {
        let scored_ns: i64 = r.get(8)?;
        Ok(ScoreRow {
            trace_id: r.get(0)?,
            version: r.get(1)?,
            version_id: r.get(2)?,
            criterion: r.get(3)?,
            score: r.get(4)?,
            scale: r.get(5)?,
            note: r.get(6)?,
            reviewer: r.get(7)?,
            scored_at: rfc3339(scored_ns),
            scored_ns,
        })
    })?
    .collect()
}

/// One version's scores on one criterion (at one scale) over a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Average {
    pub version: String,
    /// The version's fingerprint id.
    pub version_id: Option<String>,
    pub criterion: String,
    pub scale: u8,
    /// Scores averaged (one per trace and reviewer).
    pub scores: i64,
    /// Distinct traces behind them.
    pub traces: i64,
    pub mean: f64,
    /// `(mean - 1) / (scale - 1)`: 0 the worst, 1 the best, comparable across scales.
    pub normalized: f64,
}

/// Per version and criterion: the mean score of what was scored in `[from_ns, to_ns)`.
/// A criterion whose scale changed is averaged per scale (scores on different scales
/// do not mix). Versions in the order they were first cached.
pub fn averages(conn: &Connection, from_ns: i64, to_ns: i64) -> rusqlite::Result<Vec<Average>> {
    let mut stmt = conn.prepare_cached(
        "SELECT coalesce(v.label, 'unknown'), v.fingerprint, s.criterion, s.scale, count(*),
                count(DISTINCT s.trace_id), avg(s.score)
         FROM review_scores s LEFT JOIN versions v ON v.id = s.version_id
         WHERE s.scored_at >= ?1 AND s.scored_at < ?2
         GROUP BY s.version_id, s.criterion, s.scale
         ORDER BY s.version_id, s.criterion, s.scale",
    )?;
    stmt.query_map(params![from_ns, to_ns], |r| {
        let scale: u8 = r.get(3)?;
        let mean: f64 = r.get(6)?;
        Ok(Average {
            version: r.get(0)?,
            version_id: r.get(1)?,
            criterion: r.get(2)?,
            scale,
            scores: r.get(4)?,
            traces: r.get(5)?,
            mean,
            normalized: (mean - 1.0) / f64::from(scale.max(2) - 1),
        })
    })?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{trace, version};
    use super::*;

    fn score(criterion: &str, score: u8) -> Score {
        Score {
            criterion: criterion.into(),
            score,
            scale: 5,
        }
    }

    #[test]
    fn re_scoring_replaces_and_the_note_follows_the_trace() {
        let conn = crate::store::memory();
        let v3 = version(&conn, "v3");
        let t = trace(&conn, v3, "aa", 10, false, false);
        let first = record(
            &conn,
            t,
            "ana",
            100,
            &[score("grounded", 2)],
            Some("cites nothing"),
        );
        assert_eq!(first.unwrap().note.as_deref(), Some("cites nothing"));
        let again = record(
            &conn,
            t,
            "ana",
            200,
            &[score("grounded", 4), score("tone", 5)],
            None,
        )
        .unwrap();
        assert_eq!(
            again.scores,
            BTreeMap::from([("grounded".into(), 4), ("tone".into(), 5)])
        );
        assert_eq!(
            again.note.as_deref(),
            Some("cites nothing"),
            "kept on the new row"
        );
        let n: i64 = conn
            .query_row("SELECT count(*) FROM review_scores", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2, "one row per trace, criterion and reviewer");
        // Another reviewer's scores are their own rows.
        record(&conn, t, "bo", 300, &[score("grounded", 1)], None).unwrap();
        assert_eq!(for_trace(&conn, t, "ana").unwrap().scores["grounded"], 4);
        assert_eq!(scored_traces(&conn, "bo").unwrap(), HashSet::from([t]));
        // An empty note clears it; a note alone needs scores.
        let cleared = record(&conn, t, "ana", 400, &[], Some(" ")).unwrap();
        assert_eq!(cleared.note, None);
        let other = trace(&conn, v3, "bb", 20, false, false);
        let err = record(&conn, other, "ana", 500, &[], Some("hm")).unwrap_err();
        assert!(err.contains("not scored"), "{err}");
        assert!(record(&conn, 999, "ana", 1, &[score("x", 1)], None).is_err());
        // Every stored score is in the audit chain, under the reviewer and the trace.
        let audited: Vec<(String, String)> = conn
            .prepare("SELECT actor, subject FROM audit_log WHERE action = 'review.score'")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(audited.len(), 4, "{audited:?}");
        assert_eq!(audited[2], ("bo".to_string(), "aa".to_string()));
    }

    #[test]
    fn the_schema_refuses_a_score_beyond_its_scale() {
        let conn = crate::store::memory();
        let t = trace(&conn, version(&conn, "v1"), "aa", 10, false, false);
        let bad = Score {
            criterion: "grounded".into(),
            score: 6,
            scale: 5,
        };
        assert!(record(&conn, t, "ana", 1, &[bad], None).is_err());
    }

    #[test]
    fn averages_per_version_and_criterion_within_the_period() {
        let conn = crate::store::memory();
        let (v2, v3) = (version(&conn, "v2"), version(&conn, "v3"));
        let a = trace(&conn, v2, "a", 1, false, false);
        let b = trace(&conn, v3, "b", 2, true, false);
        let c = trace(&conn, v3, "c", 3, false, false);
        record(&conn, a, "ana", 100, &[score("grounded", 5)], None).unwrap();
        record(&conn, b, "ana", 100, &[score("grounded", 1)], None).unwrap();
        record(&conn, c, "ana", 100, &[score("grounded", 4)], None).unwrap();
        record(&conn, c, "bo", 100, &[score("grounded", 3)], None).unwrap();
        record(&conn, c, "bo", 900, &[score("tone", 2)], None).unwrap();
        let avg = averages(&conn, 0, 500).unwrap();
        let got: Vec<(&str, &str, i64, i64, f64)> = avg
            .iter()
            .map(|a| {
                (
                    a.version.as_str(),
                    a.criterion.as_str(),
                    a.scores,
                    a.traces,
                    a.mean,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("v2", "grounded", 1, 1, 5.0),
                ("v3", "grounded", 3, 2, (1.0 + 4.0 + 3.0) / 3.0)
            ]
        );
        assert_eq!(avg[0].normalized, 1.0);
        assert_eq!(
            list(&conn, 0, 1000).unwrap()[0].criterion,
            "tone",
            "newest first"
        );
        assert_eq!(list(&conn, 0, 1000).unwrap().len(), 5);
    }
}
