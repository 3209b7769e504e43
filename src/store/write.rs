//! The single writer: idempotent upserts of spans, and trace rollups kept in step.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use crate::ingest::SpanRecord;
use crate::model::{Fingerprint, SpanFacts, SpanKind, TraceRollup};

/// What one ingest did, span by span.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IngestCounts {
    /// Spans seen for the first time.
    pub inserted: u64,
    /// Spans that were cached before and changed.
    pub updated: u64,
    /// Spans identical to what the cache holds.
    pub unchanged: u64,
    /// Traces seen for the first time.
    pub new_traces: u64,
}

impl std::ops::AddAssign for IngestCounts {
    fn add_assign(&mut self, o: Self) {
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.new_traces += o.new_traces;
    }
}

/// Owns the only write connection to the cache.
pub struct Writer {
    conn: Connection,
    /// Trace fingerprints to `versions` rows; versions are few and never change.
    versions: HashMap<Fingerprint, i64>,
    /// Span-level version fields to `span_versions` rows.
    span_versions: HashMap<Fingerprint, i64>,
    /// Resource digest to row id.
    resources: HashMap<[u8; 32], i64>,
}

impl Writer {
    pub(super) fn new(conn: Connection) -> Self {
        Self {
            conn,
            versions: HashMap::new(),
            span_versions: HashMap::new(),
            resources: HashMap::new(),
        }
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Upserts spans in one transaction, keyed by `(source, trace id, span id)`, and
    /// recomputes the rollup of every trace they touch.
    pub fn ingest(
        &mut self,
        source: &str,
        spans: Vec<SpanRecord>,
    ) -> rusqlite::Result<IngestCounts> {
        self.ingest_then(source, spans, |_| Ok(()))
    }

    /// [`Writer::ingest`], then `then` in the same transaction: a sync cursor moves
    /// only when the spans it covers commit with it.
    pub fn ingest_then(
        &mut self,
        source: &str,
        spans: Vec<SpanRecord>,
        then: impl FnOnce(&Transaction) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<IngestCounts> {
        let result = self.try_ingest(source, spans, then);
        if result.is_err() {
            // Rows created in the rolled-back transaction are gone: forget their ids.
            self.versions.clear();
            self.span_versions.clear();
            self.resources.clear();
        }
        result
    }

    fn try_ingest(
        &mut self,
        source: &str,
        spans: Vec<SpanRecord>,
        then: impl FnOnce(&Transaction) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<IngestCounts> {
        let groups = group_by_trace(spans);
        let now = crate::clock::now_ns();
        let tx = self.conn.transaction()?;
        let mut counts = IngestCounts::default();
        let mut cache = Caches {
            versions: &mut self.versions,
            span_versions: &mut self.span_versions,
            resources: &mut self.resources,
        };
        for group in &groups {
            counts += ingest_trace(&tx, &mut cache, source, group, now)?;
        }
        then(&tx)?;
        tx.commit()?;
        Ok(counts)
    }

    /// Runs `f` in a transaction of the writer connection.
    pub fn transaction<T>(
        &mut self,
        f: impl FnOnce(&Transaction) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let tx = self.conn.transaction()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

/// Spans grouped by trace, traces in order of first appearance. A span repeated within
/// one batch: the last copy wins.
fn group_by_trace(spans: Vec<SpanRecord>) -> Vec<Vec<SpanRecord>> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let slots: Vec<usize> = spans
        .iter()
        .map(|s| {
            let next = index.len();
            *index.entry(s.trace_id.as_str()).or_insert(next)
        })
        .collect();
    let mut groups: Vec<Vec<SpanRecord>> = (0..index.len()).map(|_| Vec::new()).collect();
    drop(index);
    for (s, slot) in spans.into_iter().zip(slots) {
        let group = &mut groups[slot];
        group.retain(|g| g.facts.span_id != s.facts.span_id);
        group.push(s);
    }
    groups
}

struct Caches<'a> {
    versions: &'a mut HashMap<Fingerprint, i64>,
    span_versions: &'a mut HashMap<Fingerprint, i64>,
    resources: &'a mut HashMap<[u8; 32], i64>,
}

fn ingest_trace(
    tx: &Transaction,
    cache: &mut Caches,
    source: &str,
    spans: &[SpanRecord],
    now: i64,
) -> rusqlite::Result<IngestCounts> {
    let trace_id = spans[0].trace_id.as_str();
    let mut counts = IngestCounts::default();
    // Most traces are new: try the insert first, which also tells whether one existed,
    // so a bulk import touches the trace-id index once per trace.
    let rollup =
        TraceRollup::from_spans(spans.iter().map(|s| &s.facts)).expect("a group has spans");
    let version_id = ensure_version(tx, cache, &rollup.version, now)?;
    let key = (source, trace_id);
    if let Some(trace_pk) = write_trace(tx, key, version_id, &rollup, now, OnConflict::Keep)? {
        for s in spans {
            insert_span(tx, cache, trace_pk, s)?;
        }
        counts.inserted = spans.len() as u64;
        counts.new_traces = 1;
        return Ok(counts);
    }
    let trace_pk: i64 = tx
        .prepare_cached("SELECT id FROM traces WHERE trace_id = ?1 AND source = ?2")?
        .query_row(params![trace_id, source], |r| r.get(0))?;

    let known = span_hashes(tx, trace_pk)?;
    for s in spans {
        match known.get(&s.facts.span_id) {
            Some(h) if *h == s.content_hash => counts.unchanged += 1,
            Some(_) => {
                tx.prepare_cached("DELETE FROM spans WHERE trace_pk = ?1 AND span_id = ?2")?
                    .execute(params![trace_pk, s.facts.span_id])?;
                insert_span(tx, cache, trace_pk, s)?;
                counts.updated += 1;
            }
            None => {
                insert_span(tx, cache, trace_pk, s)?;
                counts.inserted += 1;
            }
        }
    }
    if counts.inserted + counts.updated > 0 {
        let facts = load_facts(tx, trace_pk)?;
        let rollup = TraceRollup::from_spans(&facts).expect("trace has spans");
        let version_id = ensure_version(tx, cache, &rollup.version, now)?;
        write_trace(tx, key, version_id, &rollup, now, OnConflict::Update)?;
    }
    Ok(counts)
}

fn ensure_version(
    tx: &Transaction,
    cache: &mut Caches,
    f: &Fingerprint,
    now: i64,
) -> rusqlite::Result<i64> {
    if let Some(rowid) = cache.versions.get(f) {
        return Ok(*rowid);
    }
    let rowid = super::versions::ensure_version(tx, f, now)?;
    cache.versions.insert(f.clone(), rowid);
    Ok(rowid)
}

fn ensure_span_version(
    tx: &Transaction,
    cache: &mut Caches,
    f: &Fingerprint,
) -> rusqlite::Result<Option<i64>> {
    if f.is_unknown() {
        return Ok(None);
    }
    if let Some(id) = cache.span_versions.get(f) {
        return Ok(Some(*id));
    }
    let fields = serde_json::to_string(f).expect("fingerprint serialises");
    tx.prepare_cached(
        "INSERT INTO span_versions (fields) VALUES (?1) ON CONFLICT (fields) DO NOTHING",
    )?
    .execute([&fields])?;
    let id: i64 = tx
        .prepare_cached("SELECT id FROM span_versions WHERE fields = ?1")?
        .query_row([&fields], |r| r.get(0))?;
    cache.span_versions.insert(f.clone(), id);
    Ok(Some(id))
}

fn ensure_resource(
    tx: &Transaction,
    cache: &mut Caches,
    s: &SpanRecord,
) -> rusqlite::Result<Option<i64>> {
    let r = &s.resource;
    if r.attrs.is_empty() {
        return Ok(None);
    }
    let digest = &r.digest;
    if let Some(id) = cache.resources.get(digest) {
        return Ok(Some(*id));
    }
    tx.prepare_cached(
        "INSERT INTO resources (digest, attributes) VALUES (?1, ?2)
         ON CONFLICT (digest) DO NOTHING",
    )?
    .execute(params![&digest[..], r.json])?;
    let id: i64 = tx
        .prepare_cached("SELECT id FROM resources WHERE digest = ?1")?
        .query_row([&digest[..]], |r| r.get(0))?;
    cache.resources.insert(*digest, id);
    Ok(Some(id))
}

/// What happens when the trace is already cached.
#[derive(Clone, Copy)]
enum OnConflict {
    /// Leave it: the caller goes on to merge spans.
    Keep,
    /// Replace its rollup with this one (after late spans arrived).
    Update,
}

/// Writes a trace's rollup; the row id when a row was written.
fn write_trace(
    tx: &Transaction,
    (source, trace_id): (&str, &str),
    version_id: i64,
    r: &TraceRollup,
    now: i64,
    on_conflict: OnConflict,
) -> rusqlite::Result<Option<i64>> {
    const INSERT: &str = "INSERT INTO traces (source, trace_id, version_id, name, start_ns,
            end_ns, duration_ms, error, refusal, safety_events, tool_calls, tool_errors,
            retrievals, retrieval_empty, retrieval_top_score, tokens_in, tokens_out, cost_usd,
            input, output, output_chars, span_count, imported_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?19, ?20, ?21, ?22, ?23)";
    let clause = match on_conflict {
        OnConflict::Keep => " ON CONFLICT (trace_id, source) DO NOTHING RETURNING id",
        // Every column but the keys and the first import time.
        OnConflict::Update => {
            " ON CONFLICT (trace_id, source) DO UPDATE SET version_id = excluded.version_id,
              name = excluded.name, start_ns = excluded.start_ns, end_ns = excluded.end_ns,
              duration_ms = excluded.duration_ms, error = excluded.error,
              refusal = excluded.refusal, safety_events = excluded.safety_events,
              tool_calls = excluded.tool_calls, tool_errors = excluded.tool_errors,
              retrievals = excluded.retrievals, retrieval_empty = excluded.retrieval_empty,
              retrieval_top_score = excluded.retrieval_top_score,
              tokens_in = excluded.tokens_in, tokens_out = excluded.tokens_out,
              cost_usd = excluded.cost_usd, input = excluded.input, output = excluded.output,
              output_chars = excluded.output_chars, span_count = excluded.span_count
             RETURNING id"
        }
    };
    // Constant fragments only: every value is bound.
    tx.prepare_cached(&format!("{INSERT}{clause}"))?
        .query_row(
            params![
                source,
                trace_id,
                version_id,
                r.name,
                r.start_ns,
                r.end_ns,
                r.duration_ms(),
                r.error,
                r.refusal,
                r.safety_events,
                r.tool_calls,
                r.tool_errors,
                r.retrievals,
                r.retrieval_empty,
                r.retrieval_top_score,
                r.tokens_in,
                r.tokens_out,
                r.cost_usd,
                r.input,
                r.output,
                output_chars(r),
                r.span_count,
                now
            ],
            |row| row.get(0),
        )
        .optional()
}

fn output_chars(r: &TraceRollup) -> i64 {
    r.output.as_ref().map_or(0, |o| o.chars().count() as i64)
}

fn insert_span(
    tx: &Transaction,
    cache: &mut Caches,
    trace_pk: i64,
    s: &SpanRecord,
) -> rusqlite::Result<()> {
    let f = &s.facts;
    let resource_id = ensure_resource(tx, cache, s)?;
    let version = ensure_span_version(tx, cache, &f.version)?;
    tx.prepare_cached(
        "INSERT INTO spans (trace_pk, span_id, parent_span_id, name, kind, start_ns, end_ns,
            error, status_message, model, tokens_in, tokens_out, cost_usd, input, output,
            refusal, safety_events, tool_name, tool_args, retrieval_docs, retrieval_top_score,
            span_version_id, resource_id, attributes, content_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)",
    )?
    .execute(params![
        trace_pk,
        f.span_id,
        f.parent_span_id,
        f.name,
        f.kind.as_str(),
        f.start_ns,
        f.end_ns,
        f.error,
        f.status_message,
        f.model,
        f.tokens_in,
        f.tokens_out,
        f.cost_usd,
        f.input,
        f.output,
        f.refusal,
        f.safety_events,
        f.tool_name,
        f.tool_args,
        f.retrieval_docs,
        f.retrieval_top_score,
        version,
        resource_id,
        s.attributes,
        s.content_hash
    ])?;
    Ok(())
}

fn span_hashes(tx: &Transaction, trace_pk: i64) -> rusqlite::Result<HashMap<String, i64>> {
    let mut stmt =
        tx.prepare_cached("SELECT span_id, content_hash FROM spans WHERE trace_pk = ?1")?;
    let rows = stmt.query_map([trace_pk], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// The facts of every cached span of a trace.
pub(crate) fn load_facts(conn: &Connection, trace_pk: i64) -> rusqlite::Result<Vec<SpanFacts>> {
    let mut stmt = conn.prepare_cached(
        "SELECT span_id, parent_span_id, name, kind, start_ns, end_ns, error, status_message,
                model, tokens_in, tokens_out, cost_usd, input, output, refusal, safety_events,
                tool_name, tool_args, retrieval_docs, retrieval_top_score, sv.fields
         FROM spans s LEFT JOIN span_versions sv ON sv.id = s.span_version_id
         WHERE trace_pk = ?1 ORDER BY start_ns, s.id",
    )?;
    let rows = stmt.query_map([trace_pk], |r| {
        let version: Option<String> = r.get(20)?;
        Ok(SpanFacts {
            span_id: r.get(0)?,
            parent_span_id: r.get(1)?,
            name: r.get(2)?,
            kind: SpanKind::parse(&r.get::<_, String>(3)?),
            start_ns: r.get(4)?,
            end_ns: r.get(5)?,
            error: r.get(6)?,
            status_message: r.get(7)?,
            model: r.get(8)?,
            tokens_in: r.get(9)?,
            tokens_out: r.get(10)?,
            cost_usd: r.get(11)?,
            input: r.get(12)?,
            output: r.get(13)?,
            refusal: r.get(14)?,
            safety_events: r.get(15)?,
            tool_name: r.get(16)?,
            tool_args: r.get(17)?,
            retrieval_docs: r.get(18)?,
            retrieval_top_score: r.get(19)?,
            version: version
                .and_then(|v| serde_json::from_str(&v).ok())
                .unwrap_or_default(),
        })
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ingest::Resource;
    use crate::model::tests::span;

    fn writer() -> Writer {
        Writer::new(crate::store::memory())
    }

    fn record(trace: &str, facts: SpanFacts, hash: i64) -> SpanRecord {
        SpanRecord {
            trace_id: trace.into(),
            facts,
            attributes: "{}".into(),
            resource: Resource::new(Default::default()),
            content_hash: hash,
        }
    }

    fn trace_row(w: &Writer, trace: &str) -> (i64, String, Option<String>, i64) {
        w.connection()
            .query_row(
                "SELECT t.span_count, v.label, v.model, t.tool_errors FROM traces t
                 JOIN versions v ON v.id = t.version_id WHERE t.trace_id = ?1",
                [trace],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap()
    }

    #[test]
    fn reingesting_identical_spans_changes_nothing() {
        let mut w = writer();
        let spans = || {
            vec![
                record("t1", span("a", None, SpanKind::Chain, 0, 10), 1),
                record("t1", span("b", Some("a"), SpanKind::Llm, 1, 9), 2),
            ]
        };
        let first = w.ingest("src", spans()).unwrap();
        assert_eq!((first.inserted, first.new_traces), (2, 1));
        let second = w.ingest("src", spans()).unwrap();
        assert_eq!(
            second,
            IngestCounts {
                unchanged: 2,
                ..Default::default()
            }
        );
        let traces: i64 = w
            .connection()
            .query_row("SELECT count(*) FROM traces", [], |r| r.get(0))
            .unwrap();
        assert_eq!(traces, 1);
    }

    #[test]
    fn same_trace_id_from_another_source_is_another_trace() {
        let mut w = writer();
        w.ingest(
            "a",
            vec![record("t1", span("a", None, SpanKind::Chain, 0, 10), 1)],
        )
        .unwrap();
        let c = w
            .ingest(
                "b",
                vec![record("t1", span("a", None, SpanKind::Chain, 0, 10), 1)],
            )
            .unwrap();
        assert_eq!(c.new_traces, 1);
    }

    #[test]
    fn late_spans_update_the_rollup_and_the_version() {
        let mut w = writer();
        let mut root = span("a", None, SpanKind::Chain, 0, 10);
        root.version.label = Some("v2".into());
        w.ingest("src", vec![record("t1", root, 1)]).unwrap();
        assert_eq!(trace_row(&w, "t1"), (1, "v2".into(), None, 0));

        let mut llm = span("b", Some("a"), SpanKind::Llm, 1, 5);
        llm.version.model = Some("m-9".into());
        let mut tool = span("c", Some("a"), SpanKind::Tool, 5, 9);
        tool.error = true;
        let c = w
            .ingest("src", vec![record("t1", llm, 2), record("t1", tool, 3)])
            .unwrap();
        assert_eq!((c.inserted, c.new_traces), (2, 0));
        // The model joined the fingerprint: a new version row, the trace moved to it.
        assert_eq!(trace_row(&w, "t1"), (3, "v2".into(), Some("m-9".into()), 1));
    }

    #[test]
    fn a_changed_span_is_replaced() {
        let mut w = writer();
        w.ingest(
            "src",
            vec![record("t1", span("a", None, SpanKind::Tool, 0, 10), 1)],
        )
        .unwrap();
        let mut failed = span("a", None, SpanKind::Tool, 0, 10);
        failed.error = true;
        let c = w.ingest("src", vec![record("t1", failed, 2)]).unwrap();
        assert_eq!(c.updated, 1);
        assert_eq!(trace_row(&w, "t1").3, 1);
        let spans: i64 = w
            .connection()
            .query_row("SELECT count(*) FROM spans", [], |r| r.get(0))
            .unwrap();
        assert_eq!(spans, 1);
    }

    #[test]
    fn resources_are_stored_once() {
        let mut w = writer();
        let mut attrs = crate::otlp::Attributes::new();
        attrs.insert("service.name".into(), "x".into());
        let res = Resource::new(attrs);
        let recs: Vec<SpanRecord> = (0..3)
            .map(|i| SpanRecord {
                resource: Arc::clone(&res),
                ..record(&format!("t{i}"), span("a", None, SpanKind::Chain, 0, 1), i)
            })
            .collect();
        w.ingest("src", recs).unwrap();
        let n: i64 = w
            .connection()
            .query_row("SELECT count(*) FROM resources", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }
}
