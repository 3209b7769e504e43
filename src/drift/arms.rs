//! What one arm of a comparison (a version over a time range) looks like in the cache.
//!
//! Rates are SQL sums; per-request values stream out of one indexed range scan into
//! columns of numbers; no trace is held in memory.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, params};

use super::catalogue::{Rate, Sample};

/// A version over `[start_ns, end_ns)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arm {
    pub version: i64,
    pub start_ns: i64,
    pub end_ns: i64,
}

/// An arm's counts and samples.
#[derive(Debug, Default)]
pub struct ArmData {
    pub requests: u64,
    /// Events and trials per rate.
    pub rates: HashMap<Rate, (u64, u64)>,
    pub samples: HashMap<Sample, Vec<f64>>,
    /// Failed and total calls per tool.
    pub tools: BTreeMap<String, (u64, u64)>,
    /// Prometheus (and other pulled) series: values per signal name.
    pub series: BTreeMap<String, Vec<f64>>,
}

impl ArmData {
    pub fn rate(&self, rate: Rate) -> (u64, u64) {
        self.rates.get(&rate).copied().unwrap_or((0, 0))
    }

    pub fn sample(&self, sample: Sample) -> &[f64] {
        self.samples.get(&sample).map_or(&[], Vec::as_slice)
    }

    /// Sorts every sample and series once: the quantiles, the bootstrap, Mann–Whitney
    /// and Hodges–Lehmann all read the same sorted arrays (no statistic depends on the
    /// order of observations).
    pub fn sort(&mut self) {
        for v in self.samples.values_mut().chain(self.series.values_mut()) {
            v.sort_unstable_by(f64::total_cmp);
        }
    }
}

/// Loads an arm; every sample and series comes back sorted ascending (see
/// [`ArmData::sort`]).
pub fn load(conn: &Connection, arm: Arm) -> rusqlite::Result<ArmData> {
    let mut data = ArmData::default();
    load_rates(conn, arm, &mut data)?;
    load_trace_samples(conn, arm, &mut data)?;
    load_span_samples(conn, arm, &mut data)?;
    load_series(conn, arm, &mut data)?;
    data.sort();
    Ok(data)
}

fn count(n: Option<i64>) -> u64 {
    n.unwrap_or(0).max(0) as u64
}

fn load_rates(conn: &Connection, arm: Arm, data: &mut ArmData) -> rusqlite::Result<()> {
    let row = conn
        .prepare_cached(
            "SELECT count(*), sum(refusal), sum(safety_events > 0), sum(tool_errors),
                    sum(tool_calls), sum(retrieval_empty), sum(retrievals)
             FROM traces WHERE version_id = ?1 AND start_ns >= ?2 AND start_ns < ?3",
        )?
        .query_row(params![arm.version, arm.start_ns, arm.end_ns], |r| {
            Ok([
                count(r.get(0)?),
                count(r.get(1)?),
                count(r.get(2)?),
                count(r.get(3)?),
                count(r.get(4)?),
                count(r.get(5)?),
                count(r.get(6)?),
            ])
        })?;
    let [
        requests,
        refusals,
        safety,
        tool_errors,
        tool_calls,
        empty,
        retrievals,
    ] = row;
    data.requests = requests;
    data.rates.insert(Rate::Refusal, (refusals, requests));
    data.rates.insert(Rate::Safety, (safety, requests));
    data.rates
        .insert(Rate::ToolError, (tool_errors, tool_calls));
    data.rates.insert(Rate::RetrievalEmpty, (empty, retrievals));
    Ok(())
}

fn load_trace_samples(conn: &Connection, arm: Arm, data: &mut ArmData) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT duration_ms, cost_usd, tokens_in, tokens_out, output_chars, retrieval_top_score
         FROM traces WHERE version_id = ?1 AND start_ns >= ?2 AND start_ns < ?3",
    )?;
    let mut rows = stmt.query(params![arm.version, arm.start_ns, arm.end_ns])?;
    let columns = [
        Sample::Latency,
        Sample::Cost,
        Sample::TokensIn,
        Sample::TokensOut,
        Sample::OutputChars,
    ];
    let mut out: Vec<Vec<f64>> = vec![Vec::with_capacity(data.requests as usize); columns.len()];
    let mut scores = Vec::new();
    while let Some(r) = rows.next()? {
        for (i, col) in out.iter_mut().enumerate() {
            col.push(r.get::<_, f64>(i)?);
        }
        if let Some(score) = r.get::<_, Option<f64>>(5)? {
            scores.push(score);
        }
    }
    data.samples.extend(columns.into_iter().zip(out));
    data.samples.insert(Sample::RetrievalScore, scores);
    Ok(())
}

fn load_span_samples(conn: &Connection, arm: Arm, data: &mut ArmData) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.kind, (s.end_ns - s.start_ns) / 1e6, s.tool_name, s.error
         FROM traces t JOIN spans s ON s.trace_pk = t.id
         WHERE t.version_id = ?1 AND t.start_ns >= ?2 AND t.start_ns < ?3
           AND s.kind IN ('llm', 'tool', 'retriever')",
    )?;
    let mut rows = stmt.query(params![arm.version, arm.start_ns, arm.end_ns])?;
    let mut by_kind: HashMap<String, Vec<f64>> = HashMap::new();
    while let Some(r) = rows.next()? {
        let kind: String = r.get(0)?;
        if kind == "tool" {
            let name: Option<String> = r.get(2)?;
            let entry = data
                .tools
                .entry(name.unwrap_or_else(|| "?".into()))
                .or_default();
            entry.0 += u64::from(r.get::<_, bool>(3)?);
            entry.1 += 1;
        }
        by_kind.entry(kind).or_default().push(r.get(1)?);
    }
    for kind in ["llm", "tool", "retriever"] {
        let values = by_kind.remove(kind).unwrap_or_default();
        data.samples.insert(Sample::SpanLatency(kind), values);
    }
    Ok(())
}

fn load_series(conn: &Connection, arm: Arm, data: &mut ArmData) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        // A pulled series names its version by label only (Prometheus knows no
        // fingerprints): every version carrying the arm's label is the arm's.
        "SELECT s.signal, s.value FROM signal_samples s
         JOIN versions v ON v.id = s.version_id
         WHERE v.label = (SELECT label FROM versions WHERE id = ?1)
           AND s.ts_ns >= ?2 AND s.ts_ns < ?3",
    )?;
    let mut rows = stmt.query(params![arm.version, arm.start_ns, arm.end_ns])?;
    while let Some(r) = rows.next()? {
        let value: f64 = r.get(1)?;
        if value.is_finite() {
            data.series.entry(r.get(0)?).or_default().push(value);
        }
    }
    Ok(())
}
