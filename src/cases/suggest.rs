//! Trace → case: a draft case whose assertions say what went wrong with the trace.
//!
//! | the trace                                       | suggested                                  |
//! |-------------------------------------------------|--------------------------------------------|
//! | refused                                         | `not_refusal`                              |
//! | a tool call failed                              | `no_tool_errors`, `tool_called` that tool  |
//! | slower than the baseline version's p95          | `max_latency_ms` at that p95               |
//! | a successful replay on another version exists   | `similar_to_reference`, its output as reference |
//!
//! The baseline version is the one that first appeared just before the trace's own (what
//! ran before this release; the trace's own version when it is the oldest); its p95 is
//! taken over the drift window ending at its newest trace, with at least
//! [`MIN_BASELINE`] traces. A trace with none of these problems that answered is pinned
//! to its own output (`similar_to_reference`); one that did not gets the generic
//! `not_refusal` and `no_tool_errors`.

use rusqlite::Connection;
use serde::Serialize;

use super::{Assertion, Case, Source, assertion::default_threshold, short_id};
use crate::config::Config;
use crate::replay::{ExecRef, Execution, execution};
use crate::store::{query, replays};

/// Fewer baseline traces than this: no latency suggestion (a p95 of a handful is noise).
pub const MIN_BASELINE: usize = 20;

/// What the operator chose on the command line (or in the form).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub title: Option<String>,
    pub incident: Option<i64>,
    pub must_pass: bool,
    /// RFC 3339 creation time and the seed of the id (the clock, read by the caller).
    pub now: String,
}

/// A draft case and why each assertion was suggested (same order as `case.assertions`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Draft {
    pub case: Case,
    pub why: Vec<String>,
}

/// Builds the draft for a trace (id or `#row`).
pub fn from_trace(
    conn: &Connection,
    config: &Config,
    trace: &str,
    opts: &Options,
) -> Result<Draft, String> {
    let exec = execution::load(conn, config, &ExecRef::Trace(trace.to_string()))?;
    let input = exec
        .input
        .clone()
        .ok_or_else(|| format!("trace {} has no recorded input: nothing to replay", exec.id))?;
    let mut assertions = Vec::new();
    let mut why = Vec::new();
    let mut tags = vec!["from-trace".to_string()];
    let mut what = Vec::new();

    if exec.refusal {
        assertions.push(Assertion::NotRefusal);
        why.push("the trace refused".to_string());
        tags.push("refusal".into());
        what.push("refused");
    }
    let mut failed_tools: Vec<String> = Vec::new();
    for (_, s) in &exec.spans {
        if s.is_tool_error() {
            let name = s.tool_name.clone().unwrap_or_else(|| s.name.clone());
            if !failed_tools.contains(&name) {
                failed_tools.push(name);
            }
        }
    }
    if !failed_tools.is_empty() {
        assertions.push(Assertion::NoToolErrors);
        why.push(format!("tool calls failed: {}", failed_tools.join(", ")));
        for name in &failed_tools {
            assertions.push(Assertion::ToolCalled {
                name: name.clone(),
                args: None,
            });
            why.push(format!("the workflow must still call {name}"));
        }
        tags.push("tool-error".into());
        what.push("tool error");
    }
    let sql = |e: rusqlite::Error| e.to_string();
    if let (Some(latency), Some((label, p95, n))) = (
        exec.latency_ms,
        baseline_p95(conn, config, &exec).map_err(sql)?,
    ) && latency > p95
    {
        assertions.push(Assertion::MaxLatencyMs { ms: p95.round() });
        why.push(format!(
            "took {latency:.0} ms, above {label}'s p95 of {p95:.0} ms ({n} traces)"
        ));
        tags.push("slow".into());
        what.push("slow");
    }
    let mut reference = None;
    if let Some(good) = good_replay(conn, config, &exec)? {
        reference = good.output.clone();
        assertions.push(Assertion::SimilarToReference {
            threshold: default_threshold(),
        });
        why.push(format!(
            "replay {} on {} answered well: its output is the reference",
            good.id, good.version
        ));
    }
    if assertions.is_empty() {
        match exec.output.as_deref().filter(|_| exec.status == "ok") {
            Some(out) => {
                reference = Some(out.to_string());
                assertions.push(Assertion::SimilarToReference {
                    threshold: default_threshold(),
                });
                why.push("nothing went wrong: the trace's own output is the reference".into());
            }
            None => {
                assertions.push(Assertion::NotRefusal);
                why.push("nothing specific stood out: generic check".into());
                assertions.push(Assertion::NoToolErrors);
                why.push("nothing specific stood out: generic check".into());
            }
        }
    }
    if exec.status == "error" && !what.contains(&"tool error") {
        what.push("failed");
    }
    if opts.incident.is_some() {
        tags.push("incident".into());
    }
    let title = opts.title.clone().unwrap_or_else(|| {
        let what = if what.is_empty() {
            "answered".to_string()
        } else {
            what.join(", ")
        };
        format!("{} {what} on {}", clip_words(&input, 6), exec.version)
    });
    let case = Case {
        id: short_id(&format!("{}@{}", exec.id, opts.now)),
        title,
        created_at: opts.now.clone(),
        source: Some(Source {
            trace_id: exec.id.clone(),
            version: exec.version.clone(),
            version_id: exec.version_id.clone(),
        }),
        incident: opts.incident,
        input,
        reference,
        assertions,
        must_pass: opts.must_pass,
        tags,
    };
    Ok(Draft { case, why })
}

/// The first `n` words of a text, with `…` when cut.
fn clip_words(text: &str, n: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() <= n {
        words.join(" ")
    } else {
        format!("{}…", words[..n].join(" "))
    }
}

/// The baseline version's label, latency p95 and sample size; `None` when too few.
fn baseline_p95(
    conn: &Connection,
    config: &Config,
    exec: &Execution,
) -> rusqlite::Result<Option<(String, f64, usize)>> {
    let versions = query::versions(conn)?;
    let Some(own) = versions.iter().position(|v| v.id == exec.version_id) else {
        return Ok(None);
    };
    // The newest-seen version with another label that first appeared before this one.
    let baseline = versions[..own]
        .iter()
        .rev()
        .find(|v| v.label != exec.version)
        .unwrap_or(&versions[own]);
    let Some(last) = baseline.last_seen_ns else {
        return Ok(None);
    };
    let since = last - config.drift.window.as_nanos();
    let mut stmt = conn.prepare_cached(
        "SELECT duration_ms FROM traces WHERE version_id = ?1 AND start_ns >= ?2",
    )?;
    let mut values = stmt
        .query_map(rusqlite::params![baseline.rowid, since], |r| {
            r.get::<_, f64>(0)
        })?
        .collect::<rusqlite::Result<Vec<f64>>>()?;
    if values.len() < MIN_BASELINE {
        return Ok(None);
    }
    let n = values.len();
    let p95 = query::percentile(&mut values, 0.95);
    Ok(Some((baseline.label.clone(), p95, n)))
}

/// The newest replay of the trace on another version that answered without error,
/// refusal or failed tool call.
fn good_replay(
    conn: &Connection,
    config: &Config,
    exec: &Execution,
) -> Result<Option<Execution>, String> {
    let Some(d) = query::trace_detail(conn, &exec.id).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let rows = replays::for_trace(conn, d.row.pk).map_err(|e| e.to_string())?;
    for row in rows {
        if row.version_id == exec.version_id || row.error.is_some() || row.output.is_none() {
            continue;
        }
        let r = execution::load(conn, config, &ExecRef::Replay(row.pk))?;
        let tool_error = r.spans.iter().any(|(_, s)| s.is_tool_error());
        if r.status == "ok" && !r.refusal && !tool_error {
            return Ok(Some(r));
        }
    }
    Ok(None)
}
