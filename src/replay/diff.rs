//! The difference between two executions: output text (lines, then words within a
//! changed line), a structural diff when both outputs are JSON, span trees and tool
//! calls aligned, deltas of latency, tokens and cost, flags, and what changed in the
//! version fingerprint. Pure: the same diff feeds `relops diff --json` and the console.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};
use serde_json::Value;
use similar::{Algorithm, ChangeTag, DiffOp, DiffTag};

use super::execution::Execution;
use crate::model::{SpanFacts, SpanKind};

/// Past this, similar returns a coarser (still correct) diff rather than keep searching.
const DEADLINE: Duration = Duration::from_millis(300);
/// Structural JSON changes listed at most.
const MAX_JSON_CHANGES: usize = 1000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    pub a: Execution,
    pub b: Execution,
    pub output: TextDiff,
    /// Present when both outputs are JSON objects or arrays.
    pub json: Option<Vec<JsonChange>>,
    pub spans: Vec<SpanPair>,
    pub tool_calls: Vec<ToolPair>,
    pub deltas: Deltas,
    pub flags: Flags,
    pub fingerprint: FingerprintDiff,
}

/// How a row or an aligned pair compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Same,
    Changed,
    Removed,
    Added,
}

/// A run of text on one side, emphasised when it is what changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub text: String,
    pub changed: bool,
}

/// One line of one side: its 1-based number and its parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub line: usize,
    pub parts: Vec<Part>,
}

impl Cell {
    pub fn text(&self) -> String {
        self.parts.iter().map(|p| p.text.as_str()).collect()
    }

    fn changed_words(&self) -> Vec<&str> {
        self.parts
            .iter()
            .filter(|p| p.changed && !p.text.trim().is_empty())
            .map(|p| p.text.as_str())
            .collect()
    }
}

/// A side-by-side row of the output diff.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub change: Change,
    pub left: Option<Cell>,
    pub right: Option<Cell>,
}

/// The output diff: every row, side by side.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TextDiff {
    pub rows: Vec<Row>,
    /// The texts were JSON and are compared pretty-printed.
    pub pretty_json: bool,
}

impl TextDiff {
    pub fn identical(&self) -> bool {
        self.rows.iter().all(|r| r.change == Change::Same)
    }

    fn count(&self, c: Change) -> usize {
        self.rows.iter().filter(|r| r.change == c).count()
    }
}

/// JSON carries only the changed rows, with the words that changed.
impl Serialize for TextDiff {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Line<'a> {
            change: Change,
            a_line: Option<usize>,
            b_line: Option<usize>,
            a: Option<String>,
            b: Option<String>,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            removed_words: Vec<&'a str>,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            added_words: Vec<&'a str>,
        }
        let lines: Vec<Line> = self
            .rows
            .iter()
            .filter(|r| r.change != Change::Same)
            .map(|r| Line {
                change: r.change,
                a_line: r.left.as_ref().map(|c| c.line),
                b_line: r.right.as_ref().map(|c| c.line),
                a: r.left.as_ref().map(Cell::text),
                b: r.right.as_ref().map(Cell::text),
                removed_words: match r.change {
                    Change::Changed => r.left.as_ref().map(Cell::changed_words).unwrap_or_default(),
                    _ => Vec::new(),
                },
                added_words: match r.change {
                    Change::Changed => r
                        .right
                        .as_ref()
                        .map(Cell::changed_words)
                        .unwrap_or_default(),
                    _ => Vec::new(),
                },
            })
            .collect();
        let mut st = s.serialize_struct("TextDiff", 6)?;
        st.serialize_field("identical", &self.identical())?;
        st.serialize_field("pretty_json", &self.pretty_json)?;
        st.serialize_field("changed", &self.count(Change::Changed))?;
        st.serialize_field("removed", &self.count(Change::Removed))?;
        st.serialize_field("added", &self.count(Change::Added))?;
        st.serialize_field("lines", &lines)?;
        st.end()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonChange {
    /// JSON pointer.
    pub path: String,
    pub change: Change,
    pub a: Option<Value>,
    pub b: Option<Value>,
}

/// One side of an aligned span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpanSide {
    pub name: String,
    pub kind: &'static str,
    pub depth: usize,
    pub duration_ms: f64,
    pub error: bool,
    pub status_message: Option<String>,
    pub model: Option<String>,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub tool: Option<String>,
    pub arguments: Option<String>,
    pub output: Option<String>,
    pub refusal: bool,
    pub safety_events: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpanPair {
    pub change: Change,
    /// The fields that differ, for changed pairs.
    pub fields: Vec<&'static str>,
    pub a: Option<SpanSide>,
    pub b: Option<SpanSide>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCall {
    pub name: String,
    pub arguments: Option<String>,
    pub result: Option<String>,
    pub error: Option<String>,
    pub latency_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolPair {
    pub change: Change,
    pub fields: Vec<&'static str>,
    pub a: Option<ToolCall>,
    pub b: Option<ToolCall>,
}

/// B against A.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Delta {
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub delta: Option<f64>,
    /// `b / a`, when `a` is not zero.
    pub ratio: Option<f64>,
}

impl Delta {
    fn of(a: Option<f64>, b: Option<f64>) -> Self {
        let (delta, ratio) = match (a, b) {
            (Some(x), Some(y)) => (Some(y - x), (x != 0.0).then(|| y / x)),
            _ => (None, None),
        };
        Self { a, b, delta, ratio }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Deltas {
    pub latency_ms: Delta,
    pub tokens_in: Delta,
    pub tokens_out: Delta,
    pub cost_usd: Delta,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair<T> {
    pub a: T,
    pub b: T,
    pub changed: bool,
}

impl<T: PartialEq> Pair<T> {
    fn of(a: T, b: T) -> Self {
        let changed = a != b;
        Self { a, b, changed }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flags {
    pub status: Pair<&'static str>,
    pub refusal: Pair<bool>,
    pub safety_events: Pair<i64>,
    pub tool_errors: Pair<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldRow {
    pub field: String,
    pub a: Option<String>,
    pub b: Option<String>,
    pub changed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FingerprintDiff {
    pub a: String,
    pub b: String,
    pub same: bool,
    /// The names of the fields that differ.
    pub changed: Vec<String>,
    pub fields: Vec<FieldRow>,
}

/// Compares two executions, A (before) against B (after).
pub fn diff(a: Execution, b: Execution) -> Diff {
    let ja = json_output(a.output.as_deref());
    let jb = json_output(b.output.as_deref());
    let (output, json) = match (&ja, &jb) {
        (Some(x), Some(y)) => {
            let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
            let mut t = text_diff(&pretty(x), &pretty(y));
            t.pretty_json = true;
            let mut changes = Vec::new();
            json_diff(x, y, &mut String::new(), &mut changes);
            (t, Some(changes))
        }
        _ => (
            text_diff(
                a.output.as_deref().unwrap_or(""),
                b.output.as_deref().unwrap_or(""),
            ),
            None,
        ),
    };
    Diff {
        spans: span_pairs(&a.spans, &b.spans),
        tool_calls: tool_pairs(&a.spans, &b.spans),
        deltas: Deltas {
            latency_ms: Delta::of(a.latency_ms, b.latency_ms),
            tokens_in: Delta::of(a.tokens_in.map(|n| n as f64), b.tokens_in.map(|n| n as f64)),
            tokens_out: Delta::of(
                a.tokens_out.map(|n| n as f64),
                b.tokens_out.map(|n| n as f64),
            ),
            cost_usd: Delta::of(a.cost_usd, b.cost_usd),
        },
        flags: Flags {
            status: Pair::of(a.status, b.status),
            refusal: Pair::of(a.refusal, b.refusal),
            safety_events: Pair::of(a.safety_events, b.safety_events),
            tool_errors: Pair::of(tool_errors(&a.spans), tool_errors(&b.spans)),
        },
        fingerprint: fingerprint_diff(&a, &b),
        output,
        json,
        a,
        b,
    }
}

fn json_output(text: Option<&str>) -> Option<Value> {
    let t = text?.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    serde_json::from_str(t).ok()
}

/// Lines aligned side by side; a replaced block pairs its lines and diffs their words.
pub fn text_diff(a: &str, b: &str) -> TextDiff {
    let lines = similar::TextDiff::configure()
        .algorithm(Algorithm::Patience)
        .deadline(Instant::now() + DEADLINE)
        .diff_lines(a, b);
    let (old, new) = (lines.old_slices(), lines.new_slices());
    let plain = |i: usize, s: &str| Cell {
        line: i + 1,
        parts: vec![Part {
            text: s.trim_end_matches(['\n', '\r']).to_string(),
            changed: false,
        }],
    };
    let mut rows = Vec::new();
    for op in lines.ops() {
        let (o, n) = (op.old_range(), op.new_range());
        match op.tag() {
            DiffTag::Equal => rows.extend(o.zip(n).map(|(i, j)| Row {
                change: Change::Same,
                left: Some(plain(i, old[i])),
                right: Some(plain(j, new[j])),
            })),
            DiffTag::Delete => rows.extend(o.map(|i| Row {
                change: Change::Removed,
                left: Some(plain(i, old[i])),
                right: None,
            })),
            DiffTag::Insert => rows.extend(n.map(|j| Row {
                change: Change::Added,
                left: None,
                right: Some(plain(j, new[j])),
            })),
            DiffTag::Replace => {
                let paired = o.len().min(n.len());
                for k in 0..paired {
                    let (i, j) = (o.start + k, n.start + k);
                    let (left, right) = word_diff(old[i], new[j]);
                    rows.push(Row {
                        change: Change::Changed,
                        left: Some(Cell {
                            line: i + 1,
                            parts: left,
                        }),
                        right: Some(Cell {
                            line: j + 1,
                            parts: right,
                        }),
                    });
                }
                rows.extend(o.skip(paired).map(|i| Row {
                    change: Change::Removed,
                    left: Some(plain(i, old[i])),
                    right: None,
                }));
                rows.extend(n.skip(paired).map(|j| Row {
                    change: Change::Added,
                    left: None,
                    right: Some(plain(j, new[j])),
                }));
            }
        }
    }
    TextDiff {
        rows,
        pretty_json: false,
    }
}

/// Both sides of a changed line, split into runs with the changed words marked.
fn word_diff(a: &str, b: &str) -> (Vec<Part>, Vec<Part>) {
    let (a, b) = (
        a.trim_end_matches(['\n', '\r']),
        b.trim_end_matches(['\n', '\r']),
    );
    let words = similar::TextDiff::configure()
        .deadline(Instant::now() + DEADLINE)
        .diff_words(a, b);
    let (mut left, mut right) = (Vec::new(), Vec::new());
    let push = |side: &mut Vec<Part>, text: &str, changed: bool| match side.last_mut() {
        Some(p) if p.changed == changed => p.text.push_str(text),
        _ => side.push(Part {
            text: text.to_string(),
            changed,
        }),
    };
    for change in words.iter_all_changes() {
        let text = change.value();
        match change.tag() {
            ChangeTag::Equal => {
                push(&mut left, text, false);
                push(&mut right, text, false);
            }
            ChangeTag::Delete => push(&mut left, text, true),
            ChangeTag::Insert => push(&mut right, text, true),
        }
    }
    let kept: usize = left
        .iter()
        .filter(|p| !p.changed)
        .map(|p| p.text.trim().len())
        .sum();
    // Lines that share little read better as wholly replaced than as confetti.
    if kept * 3 < a.len().min(b.len()) {
        let whole = |t: &str| {
            vec![Part {
                text: t.to_string(),
                changed: true,
            }]
        };
        return (whole(a), whole(b));
    }
    (tidy(left), tidy(right))
}

/// Joins changed runs separated only by whitespace.
fn tidy(parts: Vec<Part>) -> Vec<Part> {
    let mut out: Vec<Part> = Vec::with_capacity(parts.len());
    let mut iter = parts.into_iter().peekable();
    while let Some(p) = iter.next() {
        let bridge = !p.changed
            && p.text.trim().is_empty()
            && out.last().is_some_and(|l| l.changed)
            && iter.peek().is_some_and(|n| n.changed);
        match out.last_mut() {
            Some(last) if last.changed && (bridge || p.changed) => last.text.push_str(&p.text),
            _ => out.push(p),
        }
    }
    out
}

/// Structural differences, keyed by JSON pointer; arrays compare by index.
pub fn json_diff(a: &Value, b: &Value, path: &mut String, out: &mut Vec<JsonChange>) {
    if out.len() >= MAX_JSON_CHANGES {
        return;
    }
    let mut at = |key: &str, x: Option<&Value>, y: Option<&Value>, out: &mut Vec<JsonChange>| {
        let len = path.len();
        path.push('/');
        path.push_str(&key.replace('~', "~0").replace('/', "~1"));
        match (x, y) {
            (Some(x), Some(y)) => json_diff(x, y, path, out),
            (x, y) => out.push(JsonChange {
                path: path.clone(),
                change: if x.is_some() {
                    Change::Removed
                } else {
                    Change::Added
                },
                a: x.cloned(),
                b: y.cloned(),
            }),
        }
        path.truncate(len);
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                at(k, Some(v), y.get(k), out);
            }
            for (k, v) in y.iter().filter(|(k, _)| !x.contains_key(*k)) {
                at(k, None, Some(v), out);
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                at(&i.to_string(), x.get(i), y.get(i), out);
            }
        }
        (x, y) if x != y => out.push(JsonChange {
            path: if path.is_empty() {
                "/".into()
            } else {
                path.clone()
            },
            change: Change::Changed,
            a: Some(x.clone()),
            b: Some(y.clone()),
        }),
        _ => {}
    }
}

/// What pairs two spans across executions: position in the tree, kind, and the tool
/// or span name. LLM spans pair by position alone, so a model change reads as a
/// changed span rather than one removed and one added.
fn span_key(depth: usize, f: &SpanFacts) -> String {
    let name = match f.kind {
        SpanKind::Llm => "",
        SpanKind::Tool => f.tool_name.as_deref().unwrap_or(&f.name),
        _ => &f.name,
    };
    format!("{depth}/{}/{name}", f.kind.as_str())
}

fn side(depth: usize, f: &SpanFacts) -> SpanSide {
    SpanSide {
        name: f.name.clone(),
        kind: f.kind.as_str(),
        depth,
        duration_ms: f.duration_ms(),
        error: f.error,
        status_message: f.status_message.clone(),
        model: f.model.clone(),
        tokens_in: f.tokens_in,
        tokens_out: f.tokens_out,
        tool: f.tool_name.clone(),
        arguments: f.tool_args.clone(),
        output: f.output.clone(),
        refusal: f.refusal,
        safety_events: f.safety_events,
    }
}

/// Fields whose difference makes a pair "changed" (durations always differ a little).
fn span_fields(a: &SpanSide, b: &SpanSide) -> Vec<&'static str> {
    let checks: [(&'static str, bool); 7] = [
        ("error", a.error != b.error),
        ("status_message", a.status_message != b.status_message),
        ("model", a.model != b.model),
        ("arguments", a.arguments != b.arguments),
        ("output", a.output != b.output),
        ("refusal", a.refusal != b.refusal),
        ("safety_events", a.safety_events != b.safety_events),
    ];
    checks.iter().filter(|c| c.1).map(|c| c.0).collect()
}

/// Aligns two depth-first span lists by their keys.
pub fn span_pairs(a: &[(usize, SpanFacts)], b: &[(usize, SpanFacts)]) -> Vec<SpanPair> {
    let ka: Vec<String> = a.iter().map(|(d, f)| span_key(*d, f)).collect();
    let kb: Vec<String> = b.iter().map(|(d, f)| span_key(*d, f)).collect();
    align(
        &ka,
        &kb,
        |i| side(a[i].0, &a[i].1),
        |j| side(b[j].0, &b[j].1),
        span_fields,
    )
    .into_iter()
    .map(|(change, fields, a, b)| SpanPair {
        change,
        fields,
        a,
        b,
    })
    .collect()
}

fn tool_calls(spans: &[(usize, SpanFacts)]) -> Vec<ToolCall> {
    spans
        .iter()
        .map(|(_, f)| f)
        .filter(|f| f.kind == SpanKind::Tool)
        .map(|f| ToolCall {
            name: f.tool_name.clone().unwrap_or_else(|| f.name.clone()),
            arguments: f.tool_args.clone(),
            result: f.output.clone(),
            error: f
                .error
                .then(|| f.status_message.clone().unwrap_or_else(|| "failed".into())),
            latency_ms: f.duration_ms(),
        })
        .collect()
}

fn tool_errors(spans: &[(usize, SpanFacts)]) -> usize {
    spans.iter().filter(|(_, f)| f.is_tool_error()).count()
}

fn tool_fields(a: &ToolCall, b: &ToolCall) -> Vec<&'static str> {
    let checks: [(&'static str, bool); 3] = [
        ("arguments", a.arguments != b.arguments),
        ("result", a.result != b.result),
        ("error", a.error != b.error),
    ];
    checks.iter().filter(|c| c.1).map(|c| c.0).collect()
}

/// Tool calls in call order, paired by name.
pub fn tool_pairs(a: &[(usize, SpanFacts)], b: &[(usize, SpanFacts)]) -> Vec<ToolPair> {
    let (ta, tb) = (tool_calls(a), tool_calls(b));
    let ka: Vec<&str> = ta.iter().map(|t| t.name.as_str()).collect();
    let kb: Vec<&str> = tb.iter().map(|t| t.name.as_str()).collect();
    align(&ka, &kb, |i| ta[i].clone(), |j| tb[j].clone(), tool_fields)
        .into_iter()
        .map(|(change, fields, a, b)| ToolPair {
            change,
            fields,
            a,
            b,
        })
        .collect()
}

type Aligned<T> = (Change, Vec<&'static str>, Option<T>, Option<T>);

/// Aligns two keyed sequences: equal keys pair up (changed when `fields` finds a
/// difference); the rest are removed from A or added in B.
fn align<K: Eq + std::hash::Hash + Ord, T>(
    ka: &[K],
    kb: &[K],
    left: impl Fn(usize) -> T,
    right: impl Fn(usize) -> T,
    fields: impl Fn(&T, &T) -> Vec<&'static str>,
) -> Vec<Aligned<T>> {
    let mut out = Vec::new();
    for op in similar::capture_diff_slices(Algorithm::Myers, ka, kb) {
        match op {
            DiffOp::Equal {
                old_index,
                new_index,
                len,
            } => {
                for k in 0..len {
                    let (x, y) = (left(old_index + k), right(new_index + k));
                    let f = fields(&x, &y);
                    let change = if f.is_empty() {
                        Change::Same
                    } else {
                        Change::Changed
                    };
                    out.push((change, f, Some(x), Some(y)));
                }
            }
            DiffOp::Delete {
                old_index, old_len, ..
            } => out.extend(
                (old_index..old_index + old_len)
                    .map(|i| (Change::Removed, Vec::new(), Some(left(i)), None)),
            ),
            DiffOp::Insert {
                new_index, new_len, ..
            } => out.extend(
                (new_index..new_index + new_len)
                    .map(|j| (Change::Added, Vec::new(), None, Some(right(j)))),
            ),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                out.extend(
                    (old_index..old_index + old_len)
                        .map(|i| (Change::Removed, Vec::new(), Some(left(i)), None)),
                );
                out.extend(
                    (new_index..new_index + new_len)
                        .map(|j| (Change::Added, Vec::new(), None, Some(right(j)))),
                );
            }
        }
    }
    out
}

/// Every fingerprint field of both versions, tools by name.
fn fingerprint_diff(a: &Execution, b: &Execution) -> FingerprintDiff {
    let (fa, fb) = (&a.fingerprint, &b.fingerprint);
    let mut fields = vec![
        ("label".to_string(), fa.label.clone(), fb.label.clone()),
        (
            "prompt_hash".into(),
            fa.prompt_hash.clone(),
            fb.prompt_hash.clone(),
        ),
        (
            "config_hash".into(),
            fa.config_hash.clone(),
            fb.config_hash.clone(),
        ),
        ("model".into(), fa.model.clone(), fb.model.clone()),
        (
            "index_version".into(),
            fa.index_version.clone(),
            fb.index_version.clone(),
        ),
    ];
    let tools: std::collections::BTreeSet<&String> =
        fa.tools.keys().chain(fb.tools.keys()).collect();
    for t in tools {
        fields.push((
            format!("tools.{t}"),
            fa.tools.get(t).cloned(),
            fb.tools.get(t).cloned(),
        ));
    }
    let fields: Vec<FieldRow> = fields
        .into_iter()
        .map(|(field, a, b)| FieldRow {
            changed: a != b,
            field,
            a,
            b,
        })
        .collect();
    FingerprintDiff {
        a: a.version_id.clone(),
        b: b.version_id.clone(),
        same: a.version_id == b.version_id,
        changed: fields
            .iter()
            .filter(|f| f.changed)
            .map(|f| f.field.clone())
            .collect(),
        fields,
    }
}

#[cfg(test)]
mod tests;

/// A sample execution for tests and the benchmark (`examples/replay_bench.rs`).
pub mod sample {
    use super::*;

    /// A trace-like execution with this output and spans.
    pub fn execution(id: &str, output: &str, spans: Vec<(usize, SpanFacts)>) -> Execution {
        Execution {
            id: id.into(),
            kind: "trace",
            trace_id: Some(id.into()),
            case_id: None,
            version: "v".into(),
            version_id: format!("fp-{id}"),
            target: None,
            started_at: String::new(),
            status: "ok",
            error: None,
            latency_ms: Some(100.0),
            tokens_in: Some(10),
            tokens_out: Some(5),
            cost_usd: Some(0.001),
            refusal: false,
            safety_events: 0,
            input: Some("q".into()),
            output: Some(output.into()),
            fingerprint: crate::model::Fingerprint::default(),
            spans,
        }
    }
}

/// Diffs for tests of the views.
#[cfg(test)]
pub mod tests_support {
    pub use super::sample::execution;
    use super::*;

    pub fn empty() -> Diff {
        diff(execution("a", "", vec![]), execution("b", "", vec![]))
    }
}
