//! Assertions: what a case demands of an execution (a trace or a replay).
//!
//! In a case file each assertion is a JSON object tagged by `type`; unknown fields are
//! rejected. Every assertion evaluates to a [`Verdict`]: pass or fail, with a reason
//! that says what was expected and what was seen.
//!
//! Missing data never passes: an execution without an output fails every output
//! assertion, one without a recorded latency fails `max_latency_ms`, and so on.

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::SpanKind;
use crate::replay::Execution;

/// One check on an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Assertion {
    /// The output equals `value` exactly (leading and trailing whitespace ignored).
    ///
    /// `{"type": "equals", "value": "4"}`
    Equals { value: String },
    /// The output contains `value` (case-sensitive); `not: true` demands it does not.
    ///
    /// `{"type": "contains", "value": "refund"}`,
    /// `{"type": "contains", "value": "support@example.com", "not": true}`
    Contains {
        value: String,
        #[serde(default, skip_serializing_if = "is_false")]
        not: bool,
    },
    /// As `contains`, ignoring case.
    ///
    /// `{"type": "icontains", "value": "REFUND"}`
    Icontains {
        value: String,
        #[serde(default, skip_serializing_if = "is_false")]
        not: bool,
    },
    /// The output matches the regular expression `pattern` (Rust `regex` syntax, unanchored);
    /// `not: true` demands it does not.
    ///
    /// `{"type": "regex", "pattern": "refund of \\$\\d+"}`
    Regex {
        pattern: String,
        #[serde(default, skip_serializing_if = "is_false")]
        not: bool,
    },
    /// The output parses as JSON.
    ///
    /// `{"type": "is_json"}`
    IsJson,
    /// The output parses as JSON and the value at `pointer` (RFC 6901) equals `value`.
    ///
    /// `{"type": "json_pointer_equals", "pointer": "/status", "value": "approved"}`
    JsonPointerEquals { pointer: String, value: Value },
    /// The workflow refused (refusal phrases or finish reasons, as `[detect]` configures).
    ///
    /// `{"type": "refusal"}`
    Refusal,
    /// The workflow did not refuse.
    ///
    /// `{"type": "not_refusal"}`
    NotRefusal,
    /// A tool named `name` was called; with `args`, one call's JSON arguments contain
    /// every key of `args` with an equal value (other keys may differ).
    ///
    /// `{"type": "tool_called", "name": "refund"}`,
    /// `{"type": "tool_called", "name": "order_lookup", "args": {"order_id": "A-1001"}}`
    ToolCalled {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        args: Option<Value>,
    },
    /// No call of tool `name` (matching `args`, when given) was made.
    ///
    /// `{"type": "tool_not_called", "name": "escalate"}`
    ToolNotCalled {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        args: Option<Value>,
    },
    /// No tool call failed.
    ///
    /// `{"type": "no_tool_errors"}`
    NoToolErrors,
    /// The run took at most `ms` milliseconds.
    ///
    /// `{"type": "max_latency_ms", "ms": 2500}`
    MaxLatencyMs { ms: f64 },
    /// The run cost at most `usd` dollars.
    ///
    /// `{"type": "max_cost_usd", "usd": 0.01}`
    MaxCostUsd { usd: f64 },
    /// The run produced at most `tokens` output tokens.
    ///
    /// `{"type": "max_output_tokens", "tokens": 400}`
    MaxOutputTokens { tokens: i64 },
    /// The output is similar to the case's `reference` output: the word-level similarity
    /// (see [`similarity`]: both texts lower-cased and split into words, then `similar`'s
    /// diff ratio, 2 × words in common / all words) is at least `threshold` (0..=1,
    /// default 0.6).
    ///
    /// `{"type": "similar_to_reference", "threshold": 0.7}`
    SimilarToReference {
        #[serde(default = "default_threshold")]
        threshold: f64,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

pub fn default_threshold() -> f64 {
    0.6
}

/// What an assertion concluded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub pass: bool,
    pub reason: String,
}

impl Verdict {
    fn new(pass: bool, reason: impl Into<String>) -> Self {
        Self {
            pass,
            reason: reason.into(),
        }
    }
}

/// One tool call of an execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCall {
    pub name: String,
    /// The arguments as recorded (usually JSON text).
    pub args: Option<String>,
    pub error: bool,
}

/// What assertions read of an execution.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Observed {
    pub output: Option<String>,
    pub refusal: bool,
    pub tool_calls: Vec<ToolCall>,
    pub latency_ms: Option<f64>,
    pub cost_usd: Option<f64>,
    pub tokens_out: Option<i64>,
}

impl From<&Execution> for Observed {
    fn from(e: &Execution) -> Self {
        Self {
            output: e.output.clone(),
            refusal: e.refusal,
            tool_calls: e
                .spans
                .iter()
                .filter(|(_, s)| s.kind == SpanKind::Tool)
                .map(|(_, s)| ToolCall {
                    name: s.tool_name.clone().unwrap_or_else(|| s.name.clone()),
                    args: s.tool_args.clone(),
                    error: s.error,
                })
                .collect(),
            latency_ms: e.latency_ms,
            cost_usd: e.cost_usd,
            tokens_out: e.tokens_out,
        }
    }
}

impl Assertion {
    /// The `type` tag, as case files spell it.
    pub fn kind(&self) -> &'static str {
        match self {
            Assertion::Equals { .. } => "equals",
            Assertion::Contains { .. } => "contains",
            Assertion::Icontains { .. } => "icontains",
            Assertion::Regex { .. } => "regex",
            Assertion::IsJson => "is_json",
            Assertion::JsonPointerEquals { .. } => "json_pointer_equals",
            Assertion::Refusal => "refusal",
            Assertion::NotRefusal => "not_refusal",
            Assertion::ToolCalled { .. } => "tool_called",
            Assertion::ToolNotCalled { .. } => "tool_not_called",
            Assertion::NoToolErrors => "no_tool_errors",
            Assertion::MaxLatencyMs { .. } => "max_latency_ms",
            Assertion::MaxCostUsd { .. } => "max_cost_usd",
            Assertion::MaxOutputTokens { .. } => "max_output_tokens",
            Assertion::SimilarToReference { .. } => "similar_to_reference",
        }
    }

    /// A one-line description (`contains "refund"`, `max_latency_ms 2500`).
    pub fn describe(&self) -> String {
        let neg = |not: bool| if not { "not " } else { "" };
        match self {
            Assertion::Equals { value } => format!("equals {}", quoted(value)),
            Assertion::Contains { value, not } => {
                format!("{}contains {}", neg(*not), quoted(value))
            }
            Assertion::Icontains { value, not } => {
                format!("{}icontains {}", neg(*not), quoted(value))
            }
            Assertion::Regex { pattern, not } => format!("{}regex /{pattern}/", neg(*not)),
            Assertion::JsonPointerEquals { pointer, value } => {
                format!("json_pointer_equals {pointer} = {value}")
            }
            Assertion::ToolCalled { name, args } | Assertion::ToolNotCalled { name, args } => {
                match args {
                    Some(a) => format!("{} {name} {a}", self.kind()),
                    None => format!("{} {name}", self.kind()),
                }
            }
            Assertion::MaxLatencyMs { ms } => format!("max_latency_ms {ms:.0}"),
            Assertion::MaxCostUsd { usd } => format!("max_cost_usd {usd}"),
            Assertion::MaxOutputTokens { tokens } => format!("max_output_tokens {tokens}"),
            Assertion::SimilarToReference { threshold } => {
                format!("similar_to_reference ≥ {threshold}")
            }
            Assertion::IsJson
            | Assertion::Refusal
            | Assertion::NotRefusal
            | Assertion::NoToolErrors => self.kind().to_string(),
        }
    }

    /// Checks what serde cannot: a regex that compiles, a threshold in range, a reference
    /// where one is needed. The error names the offending field.
    pub fn validate(&self, has_reference: bool) -> Result<(), (&'static str, String)> {
        match self {
            Assertion::Regex { pattern, .. } => Regex::new(pattern)
                .map(|_| ())
                .map_err(|e| ("pattern", format!("invalid regex: {e}"))),
            Assertion::JsonPointerEquals { pointer, .. }
                if !pointer.is_empty() && !pointer.starts_with('/') =>
            {
                Err((
                    "pointer",
                    "a JSON pointer is empty or starts with '/'".into(),
                ))
            }
            Assertion::SimilarToReference { threshold } => {
                if !(0.0..=1.0).contains(threshold) {
                    Err(("threshold", "must be between 0 and 1".into()))
                } else if !has_reference {
                    Err((
                        "type",
                        "similar_to_reference needs the case's `reference` output".into(),
                    ))
                } else {
                    Ok(())
                }
            }
            Assertion::MaxLatencyMs { ms: v } | Assertion::MaxCostUsd { usd: v } if *v < 0.0 => {
                Err((
                    if matches!(self, Assertion::MaxLatencyMs { .. }) {
                        "ms"
                    } else {
                        "usd"
                    },
                    "must not be negative".into(),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Evaluates the assertion; `reference` is the case's reference output.
    pub fn evaluate(&self, o: &Observed, reference: Option<&str>) -> Verdict {
        let output = o.output.as_deref();
        let need_output = |f: &dyn Fn(&str) -> Verdict| match output {
            Some(text) => f(text),
            None => Verdict::new(false, "no output to check"),
        };
        match self {
            Assertion::Equals { value } => need_output(&|text| {
                let pass = text.trim() == value.trim();
                Verdict::new(
                    pass,
                    if pass {
                        "output equals the expected text".to_string()
                    } else {
                        format!("output {} is not {}", quoted(text), quoted(value))
                    },
                )
            }),
            Assertion::Contains { value, not } => {
                need_output(&|text| substring(text.contains(value.as_str()), *not, value, ""))
            }
            Assertion::Icontains { value, not } => need_output(&|text| {
                let found = text.to_lowercase().contains(&value.to_lowercase());
                substring(found, *not, value, " (ignoring case)")
            }),
            Assertion::Regex { pattern, not } => need_output(&|text| match Regex::new(pattern) {
                Err(e) => Verdict::new(false, format!("invalid regex: {e}")),
                Ok(re) => match (re.find(text), *not) {
                    (Some(m), false) => {
                        Verdict::new(true, format!("matched {}", quoted(m.as_str())))
                    }
                    (None, false) => Verdict::new(false, format!("no match for /{pattern}/")),
                    (Some(m), true) => Verdict::new(
                        false,
                        format!("matched {} but must not", quoted(m.as_str())),
                    ),
                    (None, true) => Verdict::new(true, format!("no match for /{pattern}/")),
                },
            }),
            Assertion::IsJson => need_output(&|text| match serde_json::from_str::<Value>(text) {
                Ok(_) => Verdict::new(true, "output is JSON"),
                Err(e) => Verdict::new(false, format!("output is not JSON: {e}")),
            }),
            Assertion::JsonPointerEquals { pointer, value } => {
                need_output(&|text| match serde_json::from_str::<Value>(text) {
                    Err(e) => Verdict::new(false, format!("output is not JSON: {e}")),
                    Ok(doc) => match doc.pointer(pointer) {
                        None => Verdict::new(false, format!("nothing at {pointer}")),
                        Some(v) if v == value => Verdict::new(true, format!("{pointer} = {v}")),
                        Some(v) => {
                            Verdict::new(false, format!("{pointer} is {v}, expected {value}"))
                        }
                    },
                })
            }
            Assertion::Refusal => Verdict::new(
                o.refusal,
                if o.refusal {
                    "the workflow refused"
                } else {
                    "the workflow did not refuse"
                },
            ),
            Assertion::NotRefusal => Verdict::new(
                !o.refusal,
                if o.refusal {
                    "the workflow refused"
                } else {
                    "the workflow did not refuse"
                },
            ),
            Assertion::ToolCalled { name, args } => {
                let calls = matching_calls(o, name, args.as_ref());
                match (calls, args) {
                    (0, None) => Verdict::new(false, format!("{name} was not called")),
                    (0, Some(a)) => {
                        Verdict::new(false, format!("no call of {name} with arguments {a}"))
                    }
                    (n, _) => Verdict::new(true, format!("{name} called {n}×")),
                }
            }
            Assertion::ToolNotCalled { name, args } => {
                match matching_calls(o, name, args.as_ref()) {
                    0 => Verdict::new(true, format!("{name} was not called")),
                    n => Verdict::new(false, format!("{name} called {n}× but must not be")),
                }
            }
            Assertion::NoToolErrors => {
                let failed: Vec<&str> = o
                    .tool_calls
                    .iter()
                    .filter(|c| c.error)
                    .map(|c| c.name.as_str())
                    .collect();
                if failed.is_empty() {
                    Verdict::new(
                        true,
                        format!("{} tool calls, none failed", o.tool_calls.len()),
                    )
                } else {
                    Verdict::new(false, format!("failed tool calls: {}", failed.join(", ")))
                }
            }
            Assertion::MaxLatencyMs { ms } => {
                budget(o.latency_ms, *ms, "latency", |v| format!("{v:.0} ms"))
            }
            Assertion::MaxCostUsd { usd } => {
                budget(o.cost_usd, *usd, "cost", |v| format!("${v:.6}"))
            }
            Assertion::MaxOutputTokens { tokens } => budget(
                o.tokens_out.map(|t| t as f64),
                *tokens as f64,
                "output tokens",
                |v| format!("{v:.0}"),
            ),
            Assertion::SimilarToReference { threshold } => {
                let Some(reference) = reference else {
                    return Verdict::new(false, "the case has no reference output");
                };
                need_output(&|text| {
                    let ratio = similarity(text, reference);
                    Verdict::new(
                        ratio >= *threshold,
                        format!("similarity {ratio:.2} (threshold {threshold})"),
                    )
                })
            }
        }
    }
}

fn substring(found: bool, not: bool, value: &str, how: &str) -> Verdict {
    match (found, not) {
        (true, false) => Verdict::new(true, format!("output contains {}{how}", quoted(value))),
        (false, false) => Verdict::new(false, format!("output lacks {}{how}", quoted(value))),
        (true, true) => Verdict::new(
            false,
            format!("output contains {}{how} but must not", quoted(value)),
        ),
        (false, true) => Verdict::new(true, format!("output lacks {}{how}", quoted(value))),
    }
}

fn budget(seen: Option<f64>, max: f64, what: &str, fmt: impl Fn(f64) -> String) -> Verdict {
    match seen {
        None => Verdict::new(false, format!("no {what} recorded")),
        Some(v) if v <= max => Verdict::new(true, format!("{what} {} ≤ {}", fmt(v), fmt(max))),
        Some(v) => Verdict::new(false, format!("{what} {} > {}", fmt(v), fmt(max))),
    }
}

/// Calls of `name` whose arguments contain `args` (every key, equal values).
fn matching_calls(o: &Observed, name: &str, args: Option<&Value>) -> usize {
    o.tool_calls
        .iter()
        .filter(|c| c.name == name)
        .filter(|c| match args {
            None => true,
            Some(want) => args_match(c.args.as_deref(), want),
        })
        .count()
}

fn args_match(seen: Option<&str>, want: &Value) -> bool {
    let Some(seen) = seen else {
        return false;
    };
    match (serde_json::from_str::<Value>(seen), want) {
        (Ok(Value::Object(have)), Value::Object(want)) => {
            want.iter().all(|(k, v)| have.get(k) == Some(v))
        }
        (Ok(have), want) => &have == want,
        (Err(_), Value::String(s)) => seen == s,
        (Err(_), _) => false,
    }
}

/// Word-level similarity of two texts after normalisation (lower case, split into words
/// of letters and digits; punctuation and whitespace dropped): `similar`'s diff ratio
/// over the word sequences, 2 × words in common (in order) / all words, in 0..=1.
pub fn similarity(a: &str, b: &str) -> f64 {
    let words = |s: &str| -> Vec<String> {
        s.to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (a, b) = (words(a), words(b));
    if a == b {
        return 1.0;
    }
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    f64::from(similar::TextDiff::from_slices(&a, &b).ratio())
}

fn quoted(s: &str) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let clipped: String = one_line.chars().take(60).collect();
    if clipped.len() < one_line.len() {
        format!("{clipped:?}…")
    } else {
        format!("{clipped:?}")
    }
}

#[cfg(test)]
mod tests;
