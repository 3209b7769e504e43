//! Read-side queries shared by the headless verbs and the TUI loaders.
//!
//! SQL text is constant; filters add fixed fragments and bind every value.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Row, ToSql, params};
use serde::Serialize;

use crate::clock::rfc3339;
use crate::model::SpanFacts;

/// A version with its fingerprint and the traffic seen under it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionRow {
    /// The fingerprint id (12 hex digits, or `unknown`).
    pub id: String,
    pub label: String,
    pub prompt_hash: Option<String>,
    pub config_hash: Option<String>,
    pub model: Option<String>,
    pub index_version: Option<String>,
    pub tools: BTreeMap<String, String>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub traces: i64,
    #[serde(skip)]
    pub rowid: i64,
    #[serde(skip)]
    pub first_seen_ns: Option<i64>,
    #[serde(skip)]
    pub last_seen_ns: Option<i64>,
}

impl TraceRow {
    /// A plain successful trace row (tests, fixtures); `key` orders it (newer rows
    /// have larger keys).
    pub fn bare(id: i64, key: i64) -> Self {
        Self {
            id: format!("{id:032x}"),
            version: "v1".into(),
            version_id: "x".into(),
            name: "t".into(),
            started_at: String::new(),
            duration_ms: 1.0,
            status: "ok",
            refusal: false,
            safety_events: 0,
            tool_calls: 0,
            tool_errors: 0,
            tokens_in: 0,
            tokens_out: 0,
            cost_usd: 0.0,
            source: "s".into(),
            pk: key,
            start_ns: key,
        }
    }
}

impl VersionRow {
    /// A version with a label and fingerprint id, nothing else known (tests, fixtures).
    pub fn bare(rowid: i64, label: &str, id: &str, traces: i64) -> Self {
        Self {
            id: id.into(),
            label: label.into(),
            prompt_hash: None,
            config_hash: None,
            model: None,
            index_version: None,
            tools: BTreeMap::new(),
            first_seen: None,
            last_seen: None,
            traces,
            rowid,
            first_seen_ns: None,
            last_seen_ns: None,
        }
    }
}

/// Every version that has traces, with its trace count, oldest first.
pub fn versions(conn: &Connection) -> rusqlite::Result<Vec<VersionRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT v.id, v.fingerprint, v.label, v.prompt_hash, v.config_hash, v.model,
                v.index_version, v.tools, t.first, t.last, coalesce(t.n, 0)
         FROM versions v
         LEFT JOIN (SELECT version_id, min(start_ns) AS first, max(start_ns) AS last,
                           count(*) AS n
                    FROM traces GROUP BY version_id) t ON t.version_id = v.id
         -- A trace whose late spans completed its fingerprint leaves its first, partial
         -- version behind without traces: not worth listing.
         WHERE t.n > 0
         ORDER BY t.first, v.id",
    )?;
    let rows = stmt.query_map([], |r| {
        let tools: String = r.get(7)?;
        let first: Option<i64> = r.get(8)?;
        let last: Option<i64> = r.get(9)?;
        Ok(VersionRow {
            rowid: r.get(0)?,
            id: r.get(1)?,
            label: r.get(2)?,
            prompt_hash: r.get(3)?,
            config_hash: r.get(4)?,
            model: r.get(5)?,
            index_version: r.get(6)?,
            tools: serde_json::from_str(&tools).unwrap_or_default(),
            first_seen: first.map(rfc3339),
            last_seen: last.map(rfc3339),
            traces: r.get(10)?,
            first_seen_ns: first,
            last_seen_ns: last,
        })
    })?;
    rows.collect()
}

/// Finds a version by fingerprint id, `label@id-prefix`, label, or unique id prefix.
pub fn resolve_version(conn: &Connection, spec: &str) -> Result<VersionRow, String> {
    let all = versions(conn).map_err(|e| e.to_string())?;
    find_version(&all, spec).cloned()
}

/// [`resolve_version`] over versions already read (the console's list).
///
/// A label that names several fingerprints is ambiguous, never "the newest": traffic
/// can mint a label (anyone who reaches the receiver can post `service.version = "v2"`
/// with another model), so the operator picks one as `LABEL@ID` from the candidates.
pub fn find_version<'a>(all: &'a [VersionRow], spec: &str) -> Result<&'a VersionRow, String> {
    if let Some(v) = all.iter().find(|v| v.id == spec) {
        return Ok(v);
    }
    if let Some((label, prefix)) = spec.rsplit_once('@') {
        let named: Vec<&VersionRow> = all
            .iter()
            .filter(|v| v.label == label && v.id.starts_with(prefix))
            .collect();
        return match named.as_slice() {
            [one] => Ok(one),
            [] => Err(format!(
                "no version {spec:?}; known versions: {}",
                known_versions(all)
            )),
            many => Err(ambiguous(spec, many)),
        };
    }
    let labelled: Vec<&VersionRow> = all.iter().filter(|v| v.label == spec).collect();
    match labelled.as_slice() {
        [one] => return Ok(one),
        [] => {}
        many => return Err(ambiguous(spec, many)),
    }
    let prefixed: Vec<&VersionRow> = all
        .iter()
        .filter(|v| spec.len() >= 4 && v.id.starts_with(spec))
        .collect();
    match prefixed.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "no version {spec:?}; known versions: {}",
            known_versions(all)
        )),
        many => Err(ambiguous(spec, many)),
    }
}

/// `label@id` when the label alone names several fingerprints, else the label.
pub fn version_name(all: &[VersionRow], v: &VersionRow) -> String {
    if is_ambiguous(all, &v.label) {
        qualified(v)
    } else {
        v.label.clone()
    }
}

/// Whether `label` names more than one fingerprint.
pub fn is_ambiguous(all: &[VersionRow], label: &str) -> bool {
    all.iter().filter(|v| v.label == label).nth(1).is_some()
}

/// `label@` the first 8 digits of the fingerprint: enough to pick one.
fn qualified(v: &VersionRow) -> String {
    let short = v.id.get(..8).unwrap_or(&v.id);
    format!("{}@{short}", v.label)
}

fn known_versions(all: &[VersionRow]) -> String {
    let mut names: Vec<String> = all.iter().map(|v| version_name(all, v)).collect();
    names.dedup();
    names.join(", ")
}

fn ambiguous(spec: &str, many: &[&VersionRow]) -> String {
    let candidates: Vec<String> = many
        .iter()
        .map(|v| {
            let seen = v.first_seen.as_deref().unwrap_or("never");
            format!("{} ({} traces, first seen {seen})", qualified(v), v.traces)
        })
        .collect();
    format!(
        "version {spec:?} is ambiguous: it names {} fingerprints: {}; name one as LABEL@ID",
        many.len(),
        candidates.join(", ")
    )
}

/// Which traces a list shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceFilter {
    /// Version row id.
    pub version: Option<i64>,
    pub since_ns: Option<i64>,
    pub refusals: bool,
    /// Failed requests or failed tool calls.
    pub errors: bool,
    pub tool_errors: bool,
    /// `Some(true)`: failed requests only; `Some(false)`: successful ones only.
    pub failed: Option<bool>,
    /// Substring of the trace's input, output or name (case-insensitive for ASCII).
    pub search: Option<String>,
    /// Only rows cached after this row id (what arrived since a snapshot).
    pub after_pk: Option<i64>,
    /// Only rows up to this row id (a snapshot that the live feed does not shift).
    pub upto_pk: Option<i64>,
}

impl TraceFilter {
    /// The WHERE clause (constant fragments) and its bound values.
    fn clause(&self) -> (String, Vec<Box<dyn ToSql>>) {
        let mut parts: Vec<&str> = Vec::new();
        let mut values: Vec<Box<dyn ToSql>> = Vec::new();
        if let Some(v) = self.version {
            parts.push("t.version_id = ?");
            values.push(Box::new(v));
        }
        if let Some(s) = self.since_ns {
            parts.push("t.start_ns >= ?");
            values.push(Box::new(s));
        }
        if self.refusals {
            parts.push("t.refusal = 1");
        }
        if self.errors {
            parts.push("(t.error = 1 OR t.tool_errors > 0)");
        }
        if self.tool_errors {
            parts.push("t.tool_errors > 0");
        }
        if let Some(failed) = self.failed {
            parts.push("t.error = ?");
            values.push(Box::new(failed));
        }
        if let Some(pk) = self.after_pk {
            parts.push("t.id > ?");
            values.push(Box::new(pk));
        }
        if let Some(pk) = self.upto_pk {
            parts.push("t.id <= ?");
            values.push(Box::new(pk));
        }
        if let Some(text) = self.search.as_deref().filter(|s| !s.is_empty()) {
            parts.push(
                "(t.input LIKE ? ESCAPE '\\' OR t.output LIKE ? ESCAPE '\\' \
                 OR t.name LIKE ? ESCAPE '\\' OR t.trace_id = ?)",
            );
            let pattern = format!("%{}%", escape_like(text));
            values.push(Box::new(pattern.clone()));
            values.push(Box::new(pattern.clone()));
            values.push(Box::new(pattern));
            values.push(Box::new(text.to_ascii_lowercase()));
        }
        let sql = if parts.is_empty() {
            String::new()
        } else {
            format!(" AND {}", parts.join(" AND "))
        };
        (sql, values)
    }
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// One row of a trace list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceRow {
    pub id: String,
    /// The version's label.
    pub version: String,
    /// The version's fingerprint id.
    pub version_id: String,
    pub name: String,
    pub started_at: String,
    pub duration_ms: f64,
    pub status: &'static str,
    pub refusal: bool,
    pub safety_events: i64,
    pub tool_calls: i64,
    pub tool_errors: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost_usd: f64,
    pub source: String,
    #[serde(skip)]
    pub pk: i64,
    #[serde(skip)]
    pub start_ns: i64,
}

/// Where a page of a newest-first list ends; the next page starts after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageKey {
    pub start_ns: i64,
    pub pk: i64,
}

impl TraceRow {
    pub fn key(&self) -> PageKey {
        PageKey {
            start_ns: self.start_ns,
            pk: self.pk,
        }
    }
}

const TRACE_COLUMNS: &str = "t.id, t.trace_id, v.label, v.fingerprint, t.name, t.start_ns,
    t.duration_ms, t.error, t.refusal, t.safety_events, t.tool_calls, t.tool_errors,
    t.tokens_in, t.tokens_out, t.cost_usd, t.source";

fn trace_row(r: &Row) -> rusqlite::Result<TraceRow> {
    let start_ns: i64 = r.get(5)?;
    let error: bool = r.get(7)?;
    Ok(TraceRow {
        pk: r.get(0)?,
        id: r.get(1)?,
        version: r.get(2)?,
        version_id: r.get(3)?,
        name: r.get(4)?,
        start_ns,
        started_at: rfc3339(start_ns),
        duration_ms: r.get(6)?,
        status: if error { "error" } else { "ok" },
        refusal: r.get(8)?,
        safety_events: r.get(9)?,
        tool_calls: r.get(10)?,
        tool_errors: r.get(11)?,
        tokens_in: r.get(12)?,
        tokens_out: r.get(13)?,
        cost_usd: r.get(14)?,
        source: r.get(15)?,
    })
}

/// Where a page of a newest-first list starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Seek {
    /// The rows after (older than) a loaded row: keyset pagination, whose cost does not
    /// depend on how deep into the list it is.
    After(PageKey),
    /// The rows before (newer than) a loaded row, still returned newest first.
    Before(PageKey),
    /// Skip this many rows: for jumps to places no loaded row is near.
    Offset(usize),
}

/// A page of traces, newest first.
pub fn traces_page(
    conn: &Connection,
    filter: &TraceFilter,
    seek: Seek,
    limit: usize,
) -> rusqlite::Result<Vec<TraceRow>> {
    let (clause, mut values) = filter.clause();
    let (keyset, order, offset) = match seek {
        Seek::After(_) => (
            " AND (t.start_ns < ? OR (t.start_ns = ? AND t.id < ?))",
            "DESC",
            0,
        ),
        Seek::Before(_) => (
            " AND (t.start_ns > ? OR (t.start_ns = ? AND t.id > ?))",
            "ASC",
            0,
        ),
        Seek::Offset(n) => ("", "DESC", n),
    };
    if let Seek::After(k) | Seek::Before(k) = seek {
        values.push(Box::new(k.start_ns));
        values.push(Box::new(k.start_ns));
        values.push(Box::new(k.pk));
    }
    values.push(Box::new(limit as i64));
    values.push(Box::new(offset as i64));
    let sql = format!(
        "SELECT {TRACE_COLUMNS} FROM traces t JOIN versions v ON v.id = t.version_id
         WHERE 1 = 1{clause}{keyset}
         ORDER BY t.start_ns {order}, t.id {order} LIMIT ? OFFSET ?"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let params: Vec<&dyn ToSql> = values.iter().map(|b| b.as_ref()).collect();
    let mut rows = stmt
        .query_map(params.as_slice(), trace_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if matches!(seek, Seek::Before(_)) {
        rows.reverse();
    }
    Ok(rows)
}

/// The newest row id: the bound of a snapshot.
pub fn max_pk(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT coalesce(max(id), 0) FROM traces", [], |r| r.get(0))
}

/// How many traces match a filter.
pub fn trace_count(conn: &Connection, filter: &TraceFilter) -> rusqlite::Result<i64> {
    let (clause, values) = filter.clause();
    let sql = format!("SELECT count(*) FROM traces t WHERE 1 = 1{clause}");
    let params: Vec<&dyn ToSql> = values.iter().map(|b| b.as_ref()).collect();
    conn.prepare_cached(&sql)?
        .query_row(params.as_slice(), |r| r.get(0))
}

/// A trace with everything the detail view and `trace show` need.
#[derive(Debug, Clone, Serialize)]
pub struct TraceDetail {
    #[serde(flatten)]
    pub row: TraceRow,
    pub input: Option<String>,
    pub output: Option<String>,
    pub retrievals: i64,
    pub retrieval_empty: i64,
    pub retrieval_top_score: Option<f64>,
    /// Why the trace counts as a refusal: the first refusing span in tree order.
    pub refusal_reason: Option<crate::model::RefusalReason>,
    pub spans: Vec<SpanDetail>,
}

/// One span of a trace, with its depth in the tree.
#[derive(Debug, Clone, Serialize)]
pub struct SpanDetail {
    pub depth: usize,
    #[serde(flatten)]
    pub facts: SpanFacts,
    pub duration_ms: f64,
    pub attributes: serde_json::Value,
}

/// A trace by its id (or the cache's row id as `#N`); `None` when it is not cached.
pub fn trace_detail(conn: &Connection, id: &str) -> rusqlite::Result<Option<TraceDetail>> {
    let sql = format!(
        "SELECT {TRACE_COLUMNS}, t.input, t.output, t.retrievals, t.retrieval_empty,
                t.retrieval_top_score
         FROM traces t JOIN versions v ON v.id = t.version_id
         WHERE t.trace_id = ?1 OR t.id = ?2
         ORDER BY t.trace_id = ?1 DESC LIMIT 1"
    );
    let pk: i64 = id
        .strip_prefix('#')
        .and_then(|n| n.parse().ok())
        .unwrap_or(-1);
    let found = conn
        .prepare_cached(&sql)?
        .query_row(params![id.to_ascii_lowercase(), pk], |r| {
            Ok(TraceDetail {
                row: trace_row(r)?,
                input: r.get(16)?,
                output: r.get(17)?,
                retrievals: r.get(18)?,
                retrieval_empty: r.get(19)?,
                retrieval_top_score: r.get(20)?,
                refusal_reason: None,
                spans: Vec::new(),
            })
        })
        .optional()?;
    let Some(mut detail) = found else {
        return Ok(None);
    };
    detail.spans = span_tree(conn, detail.row.pk)?;
    detail.refusal_reason = detail
        .spans
        .iter()
        .filter(|s| s.facts.refusal)
        .find_map(|s| {
            crate::model::RefusalReason::from_attributes(
                &s.facts.span_id,
                &s.facts.name,
                &s.attributes["span"],
            )
        });
    Ok(Some(detail))
}

/// A trace's spans in depth-first order, children by start time.
fn span_tree(conn: &Connection, trace_pk: i64) -> rusqlite::Result<Vec<SpanDetail>> {
    let facts = super::write::load_facts(conn, trace_pk)?;
    let mut attrs: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT s.span_id, s.attributes, r.attributes FROM spans s
             LEFT JOIN resources r ON r.id = s.resource_id WHERE s.trace_pk = ?1",
        )?;
        let rows = stmt.query_map([trace_pk], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        for row in rows {
            let (id, span, resource) = row?;
            let parse = |s: &str| serde_json::from_str(s).unwrap_or(serde_json::Value::Null);
            let value = serde_json::json!({
                "span": parse(&span),
                "resource": resource.as_deref().map_or(serde_json::Value::Null, parse),
            });
            attrs.insert(id, value);
        }
    }
    Ok(order_tree(facts)
        .into_iter()
        .map(|(depth, f)| SpanDetail {
            depth,
            duration_ms: f.duration_ms(),
            attributes: attrs.remove(&f.span_id).unwrap_or_default(),
            facts: f,
        })
        .collect())
}

/// Depth-first order of spans (already sorted by start); orphans become roots.
pub fn order_tree(facts: Vec<SpanFacts>) -> Vec<(usize, SpanFacts)> {
    let ids: std::collections::HashSet<String> = facts.iter().map(|f| f.span_id.clone()).collect();
    let mut children: BTreeMap<Option<String>, Vec<SpanFacts>> = BTreeMap::new();
    for f in facts {
        let parent = f.parent_span_id.clone().filter(|p| ids.contains(p));
        children.entry(parent).or_default().push(f);
    }
    let mut out = Vec::new();
    let mut stack: Vec<(usize, SpanFacts)> = children
        .remove(&None)
        .unwrap_or_default()
        .into_iter()
        .rev()
        .map(|f| (0, f))
        .collect();
    while let Some((depth, f)) = stack.pop() {
        if let Some(kids) = children.remove(&Some(f.span_id.clone())) {
            stack.extend(kids.into_iter().rev().map(|k| (depth + 1, k)));
        }
        out.push((depth, f));
    }
    out
}

/// What the Overview needs for one version over the window, bucket by bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Buckets {
    pub requests: Vec<u64>,
    pub refusals: Vec<u64>,
    pub safety: Vec<u64>,
    pub tool_calls: Vec<u64>,
    pub tool_errors: Vec<u64>,
    pub retrievals: Vec<u64>,
    pub retrieval_empty: Vec<u64>,
    pub cost: Vec<f64>,
    /// Latencies per bucket, for percentiles; dropped after summarising.
    #[serde(skip)]
    pub latencies: Vec<Vec<f64>>,
    /// p95 latency per bucket (NaN where a bucket is empty).
    pub p95_ms: Vec<f64>,
    /// p95 latency over the whole window.
    pub window_p95_ms: f64,
}

impl Buckets {
    fn new(n: usize) -> Self {
        Self {
            requests: vec![0; n],
            refusals: vec![0; n],
            safety: vec![0; n],
            tool_calls: vec![0; n],
            tool_errors: vec![0; n],
            retrievals: vec![0; n],
            retrieval_empty: vec![0; n],
            cost: vec![0.0; n],
            latencies: vec![Vec::new(); n],
            p95_ms: vec![f64::NAN; n],
            window_p95_ms: f64::NAN,
        }
    }
}

/// Per-version buckets across `[start_ns, end_ns)`, read in one streaming pass.
pub fn window_buckets(
    conn: &Connection,
    start_ns: i64,
    end_ns: i64,
    buckets: usize,
) -> rusqlite::Result<BTreeMap<i64, Buckets>> {
    let width = ((end_ns - start_ns) / buckets as i64).max(1);
    let mut stmt = conn.prepare_cached(
        "SELECT version_id, start_ns, duration_ms, refusal, safety_events, tool_calls,
                tool_errors, retrievals, retrieval_empty, cost_usd
         FROM traces WHERE start_ns >= ?1 AND start_ns < ?2",
    )?;
    let mut rows = stmt.query(params![start_ns, end_ns])?;
    let mut out: BTreeMap<i64, Buckets> = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let b = (((r.get::<_, i64>(1)? - start_ns) / width) as usize).min(buckets - 1);
        let v = out
            .entry(r.get(0)?)
            .or_insert_with(|| Buckets::new(buckets));
        v.requests[b] += 1;
        v.latencies[b].push(r.get(2)?);
        v.refusals[b] += count(r.get::<_, i64>(3)?);
        v.safety[b] += u64::from(r.get::<_, i64>(4)? > 0);
        v.tool_calls[b] += count(r.get::<_, i64>(5)?);
        v.tool_errors[b] += count(r.get::<_, i64>(6)?);
        v.retrievals[b] += count(r.get::<_, i64>(7)?);
        v.retrieval_empty[b] += count(r.get::<_, i64>(8)?);
        v.cost[b] += r.get::<_, f64>(9)?;
    }
    for v in out.values_mut() {
        for (i, lat) in v.latencies.iter_mut().enumerate() {
            v.p95_ms[i] = percentile(lat, 0.95);
        }
        let mut all: Vec<f64> = std::mem::take(&mut v.latencies).concat();
        v.window_p95_ms = percentile(&mut all, 0.95);
    }
    Ok(out)
}

fn count(n: i64) -> u64 {
    n.max(0) as u64
}

/// The nearest-rank percentile; NaN for no data. Sorts in place.
pub fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// Newest trace start and newest import time, for the freshness line.
pub fn freshness(conn: &Connection) -> rusqlite::Result<(Option<i64>, Option<i64>, i64)> {
    conn.prepare_cached(
        "SELECT (SELECT max(start_ns) FROM traces),
                (SELECT imported_at FROM traces ORDER BY id DESC LIMIT 1),
                (SELECT count(*) FROM traces)",
    )?
    .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(rowid: i64, label: &str, id: &str, traces: i64) -> VersionRow {
        VersionRow::bare(rowid, label, id, traces)
    }

    fn spoofed() -> Vec<VersionRow> {
        vec![
            version(1, "v2", "cee871fa0011", 5013),
            version(2, "v3", "0a1b2c3d4455", 2131),
            version(3, "v2", "99887766aabb", 5),
        ]
    }

    #[test]
    fn a_label_with_two_fingerprints_is_refused_with_the_candidates() {
        let all = spoofed();
        let e = find_version(&all, "v2").unwrap_err();
        assert!(e.contains("\"v2\" is ambiguous"), "{e}");
        assert!(e.contains("v2@cee871fa (5013 traces"), "{e}");
        assert!(e.contains("v2@99887766 (5 traces"), "{e}");
        assert_eq!(find_version(&all, "v3").unwrap().rowid, 2);
    }

    #[test]
    fn label_at_id_picks_one_fingerprint() {
        let all = spoofed();
        assert_eq!(find_version(&all, "v2@cee8").unwrap().rowid, 1);
        assert_eq!(find_version(&all, "v2@99887766aabb").unwrap().rowid, 3);
        assert_eq!(find_version(&all, "cee871fa0011").unwrap().rowid, 1);
        let e = find_version(&all, "v2@ffff").unwrap_err();
        assert!(
            e.contains("known versions: v2@cee871fa, v3, v2@99887766"),
            "{e}"
        );
        let e = find_version(&all, "v3@cee8").unwrap_err();
        assert!(e.starts_with("no version \"v3@cee8\""), "{e}");
    }

    #[test]
    fn names_qualify_only_ambiguous_labels() {
        let all = spoofed();
        assert_eq!(version_name(&all, &all[0]), "v2@cee871fa");
        assert_eq!(version_name(&all, &all[1]), "v3");
        assert!(is_ambiguous(&all, "v2") && !is_ambiguous(&all, "v3"));
    }

    #[test]
    fn a_prefix_shared_by_two_ids_is_ambiguous() {
        let all = vec![
            version(1, "a", "abcd00000000", 1),
            version(2, "b", "abcd11111111", 1),
        ];
        let e = find_version(&all, "abcd").unwrap_err();
        assert!(e.contains("ambiguous") && e.contains("a@abcd0000"), "{e}");
        assert_eq!(find_version(&all, "abcd1").unwrap().rowid, 2);
    }
}
