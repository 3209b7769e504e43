//! An execution is anything that ran the workflow once: a cached trace or a stored
//! replay. Both load into the same shape so that any two can be diffed.

use std::str::FromStr;

use rusqlite::Connection;
use serde::Serialize;

use crate::config::Config;
use crate::ingest::{Extractor, Resource};
use crate::model::{Fingerprint, SpanFacts, TraceRollup};
use crate::otlp::DocumentReader;
use crate::store::query::{self, order_tree};
use crate::store::replays::{self, ReplayRow};

/// How the command line and the console name an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecRef {
    /// A trace id (or `#<row id>`).
    Trace(String),
    /// A replay: `r:<id>`.
    Replay(i64),
    /// The newest replay of a trace.
    LatestReplay(String),
}

impl FromStr for ExecRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(n) = s.strip_prefix("r:") {
            return n
                .parse()
                .map(ExecRef::Replay)
                .map_err(|_| format!("{s:?}: a replay is r:<number>, e.g. r:42"));
        }
        if s.is_empty() {
            return Err("an execution is a trace id or r:<replay id>".into());
        }
        Ok(ExecRef::Trace(s.to_string()))
    }
}

/// One run of the workflow, trace or replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Execution {
    /// The trace id, or `r:<id>` for a replay.
    pub id: String,
    /// `trace` or `replay`.
    pub kind: &'static str,
    /// The trace this is, or was replayed from; `None` for a regression case's replay.
    pub trace_id: Option<String>,
    /// The regression case whose input a replay ran (the gate's replays).
    pub case_id: Option<String>,
    pub version: String,
    pub version_id: String,
    /// The replay target, for replays.
    pub target: Option<String>,
    pub started_at: String,
    /// `ok` or `error`.
    pub status: &'static str,
    pub error: Option<String>,
    pub latency_ms: Option<f64>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub cost_usd: Option<f64>,
    pub refusal: bool,
    pub safety_events: i64,
    pub input: Option<String>,
    pub output: Option<String>,
    #[serde(skip)]
    pub fingerprint: Fingerprint,
    /// Depth-first, with depths.
    #[serde(skip)]
    pub spans: Vec<(usize, SpanFacts)>,
}

/// Loads an execution; `Ok(None)` when the cache does not hold it.
pub fn load(conn: &Connection, config: &Config, r: &ExecRef) -> Result<Execution, String> {
    let sql = |e: rusqlite::Error| e.to_string();
    match r {
        ExecRef::Trace(id) => {
            let d = query::trace_detail(conn, id)
                .map_err(sql)?
                .ok_or_else(|| format!("no trace {id:?} in the cache"))?;
            let fingerprint = replays::fingerprint(conn, &d.row.version_id).map_err(sql)?;
            let root_error = d
                .spans
                .iter()
                .find(|s| s.depth == 0 && s.facts.error)
                .and_then(|s| s.facts.status_message.clone());
            let row = d.row;
            Ok(Execution {
                id: row.id.clone(),
                kind: "trace",
                trace_id: Some(row.id),
                case_id: None,
                version: row.version,
                version_id: row.version_id,
                target: None,
                started_at: row.started_at,
                status: row.status,
                error: root_error,
                latency_ms: Some(row.duration_ms),
                tokens_in: Some(row.tokens_in),
                tokens_out: Some(row.tokens_out),
                cost_usd: Some(row.cost_usd),
                refusal: row.refusal,
                safety_events: row.safety_events,
                input: d.input,
                output: d.output,
                fingerprint,
                spans: d.spans.into_iter().map(|s| (s.depth, s.facts)).collect(),
            })
        }
        ExecRef::Replay(pk) => {
            let row = replays::get(conn, *pk)
                .map_err(sql)?
                .ok_or_else(|| format!("no replay r:{pk} in the cache"))?;
            replay(conn, config, row)
        }
        ExecRef::LatestReplay(trace) => {
            let d = query::trace_detail(conn, trace)
                .map_err(sql)?
                .ok_or_else(|| format!("no trace {trace:?} in the cache"))?;
            let row = replays::for_trace(conn, d.row.pk)
                .map_err(sql)?
                .into_iter()
                .next()
                .ok_or_else(|| format!("trace {} has no replay yet", d.row.id))?;
            replay(conn, config, row)
        }
    }
}

fn replay(conn: &Connection, config: &Config, row: ReplayRow) -> Result<Execution, String> {
    let sql = |e: rusqlite::Error| e.to_string();
    let fingerprint = replays::fingerprint(conn, &row.version_id).map_err(sql)?;
    let input = match (row.input.clone(), row.trace_pk) {
        (Some(input), _) => Some(input),
        (None, Some(pk)) => replays::trace_input(conn, pk).map_err(sql)?,
        (None, None) => None,
    };
    let answer = Answer::read(config, row.spans.as_deref(), row.output.as_deref());
    let error = row.error.clone().or(answer.workflow_error);
    Ok(Execution {
        id: row.id,
        kind: "replay",
        trace_id: row.trace_id,
        case_id: row.case_id,
        version: row.version,
        version_id: row.version_id,
        target: Some(row.target),
        started_at: row.started_at,
        status: if error.is_some() { "error" } else { "ok" },
        error,
        latency_ms: row.latency_ms,
        tokens_in: row.tokens_in,
        tokens_out: row.tokens_out,
        cost_usd: row.cost_usd,
        refusal: answer.refusal,
        safety_events: answer.safety_events,
        input,
        output: row.output,
        fingerprint,
        spans: order_tree(answer.facts),
    })
}

/// What a replayed answer says of itself: its spans, whether it refused, safety events,
/// and the workflow's own error (a failed root span). Shared by diffs and case checks.
pub struct Answer {
    pub facts: Vec<SpanFacts>,
    pub refusal: bool,
    pub safety_events: i64,
    pub workflow_error: Option<String>,
}

impl Answer {
    /// Reads the answer's OTLP/JSON spans, or judges the output text when it has none.
    pub fn read(config: &Config, spans: Option<&str>, output: Option<&str>) -> Self {
        let extractor = Extractor::new(&config.versions, &config.detect);
        let facts = spans
            .map(|s| parse_spans(&extractor, s))
            .unwrap_or_default();
        let rollup = TraceRollup::from_spans(&facts);
        let refusal = match &rollup {
            Some(r) => r.refusal,
            None => output.is_some_and(|o| extractor.is_refusal_text(o)),
        };
        let workflow_error = rollup.as_ref().filter(|r| r.error).map(|_| {
            facts
                .iter()
                .find(|f| f.error && f.parent_span_id.is_none())
                .and_then(|f| f.status_message.clone())
                .unwrap_or_else(|| "the workflow reported an error".into())
        });
        Self {
            safety_events: rollup.as_ref().map_or(0, |r| r.safety_events),
            facts,
            refusal,
            workflow_error,
        }
    }
}

/// The spans of an OTLP/JSON document, sorted by start; unreadable spans are skipped
/// (the replay's output and numbers stand without them).
pub fn parse_spans(extractor: &Extractor, otlp_json: &str) -> Vec<SpanFacts> {
    let mut facts = Vec::new();
    let read = DocumentReader::new(otlp_json.as_bytes()).read(
        |batch| {
            let resource = Resource::new(batch.resource);
            for raw in &batch.spans {
                if let Ok(rec) = extractor.record(&resource, raw.get()) {
                    facts.push(rec.facts);
                }
            }
            Ok::<(), ()>(())
        },
        |_| {},
    );
    debug_assert!(read.is_ok());
    facts.sort_by_key(|f| (f.start_ns, f.end_ns));
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        assert_eq!("r:42".parse(), Ok(ExecRef::Replay(42)));
        assert_eq!(
            "4bf92f3577b34da6a3ce929d0e0e4736".parse(),
            Ok(ExecRef::Trace("4bf92f3577b34da6a3ce929d0e0e4736".into()))
        );
        assert!("r:x".parse::<ExecRef>().unwrap_err().contains("r:<number>"));
    }
}
