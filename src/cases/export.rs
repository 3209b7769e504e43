//! `relops case export --format promptfoo`: the suite as a promptfoo config that runs as
//! written: one `http` provider per version, built from the replay target (its URL,
//! version header, request body and response pointers, so output, latency, cost and
//! tokens mean what they mean in relops), and every case as a test with its assertions.
//! The result is JSON, which is also valid YAML (save it as `promptfooconfig.yaml`).
//!
//! | relops                              | promptfoo                                         |
//! |-------------------------------------|---------------------------------------------------|
//! | contains / icontains                | same name; `not: true` → `not-` prefix            |
//! | regex (common syntax)               | regex / not-regex                                 |
//! | is_json                             | is-json                                           |
//! | refusal / not_refusal               | is-refusal / not-is-refusal (promptfoo's phrases) |
//! | max_latency_ms                      | latency (`threshold` in ms)                       |
//! | max_cost_usd                        | cost (`threshold` in USD)                         |
//! | equals (trimmed), json_pointer_equals, tool_called, tool_not_called, no_tool_errors, max_output_tokens, similar_to_reference (relops' word ratio) | javascript over the output and the provider's response |
//!
//! What cannot be expressed (a regex in Rust-only syntax, an input promptfoo's http
//! provider would parse as JSON) becomes a failing placeholder, so that promptfoo never
//! passes a case relops cannot vouch for; [`Export::notes`] says which.

use base64::Engine;
use serde::Serialize;
use serde_json::{Value, json};

use super::{Assertion, Loaded};
use crate::config::{ReplayTarget, TargetKind};

/// What the export had to say about one assertion (or a whole case).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    pub case: String,
    pub assertion: String,
    /// `placeholder`: not expressible, exported as an assertion that fails;
    /// `differs`: exported with promptfoo's own measure, which can judge differently.
    pub kind: NoteKind,
    pub why: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NoteKind {
    Placeholder,
    Differs,
}

/// The promptfoo config and what the operator must know about it.
#[derive(Debug, Clone)]
pub struct Export {
    pub config: Value,
    pub notes: Vec<Note>,
    /// Cases with at least one failing placeholder.
    pub placeholder_cases: usize,
}

/// The replay target the providers call, and the versions to call it on.
pub struct Providers<'a> {
    pub name: &'a str,
    pub target: &'a ReplayTarget,
    pub versions: &'a [String],
}

/// The suite as a promptfoo config; `providers` None writes tests only.
pub fn promptfoo(cases: &[Loaded], providers: Option<&Providers>) -> Result<Export, String> {
    let mut notes = Vec::new();
    let mut placeholder_cases = 0;
    let tests: Vec<Value> = cases
        .iter()
        .map(|l| {
            let (test, case_notes) = test(l);
            if case_notes.iter().any(|n| n.kind == NoteKind::Placeholder) {
                placeholder_cases += 1;
            }
            notes.extend(case_notes);
            test
        })
        .collect();
    let mut config = json!({
        "description": "relops regression suite (exported by `relops case export`)",
        "prompts": ["{{input}}"],
        "tests": tests,
    });
    if let Some(p) = providers {
        config["providers"] = Value::Array(
            p.versions
                .iter()
                .map(|v| provider(p.name, p.target, v))
                .collect::<Result<_, _>>()?,
        );
    }
    Ok(Export {
        config,
        notes,
        placeholder_cases,
    })
}

fn test(l: &Loaded) -> (Value, Vec<Note>) {
    let c = &l.case;
    let mut notes = Vec::new();
    let mut note = |assertion: String, kind, why: &str| {
        notes.push(Note {
            case: c.id.clone(),
            assertion,
            kind,
            why: why.to_string(),
        })
    };
    let mut asserts = Vec::new();
    let trimmed = c.input.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let why = "promptfoo's http provider parses an input that looks like JSON into an \
                   object: the workflow would not get the same text";
        note("(input)".into(), NoteKind::Placeholder, why);
        asserts.push(placeholder("(input)", why));
    }
    for a in &c.assertions {
        match map(a, c.reference.as_deref()) {
            Mapped::Same(v) => asserts.push(v),
            Mapped::Differs(v, why) => {
                note(a.describe(), NoteKind::Differs, why);
                asserts.push(v);
            }
            Mapped::Not(why) => {
                note(a.describe(), NoteKind::Placeholder, why);
                asserts.push(placeholder(&a.describe(), why));
            }
        }
    }
    let test = json!({
        "description": format!("{} {}{}", c.id, c.title,
            if c.must_pass { " [must-pass]" } else { "" }),
        "vars": {"input": c.input},
        "assert": asserts,
        "metadata": {"relops_case": c.id, "must_pass": c.must_pass,
                     "incident": c.incident, "tags": c.tags},
    });
    (test, notes)
}

/// How an assertion went over.
enum Mapped {
    /// The same measure.
    Same(Value),
    /// promptfoo's own measure of the same thing, which may judge differently.
    Differs(Value, &'static str),
    /// No way to say it in promptfoo.
    Not(&'static str),
}

fn map(a: &Assertion, reference: Option<&str>) -> Mapped {
    let neg = |not: bool, name: &str| {
        if not {
            format!("not-{name}")
        } else {
            name.to_string()
        }
    };
    // promptfoo renders assertion values as Nunjucks templates: text that could hold a
    // template goes through javascript (base64, never rendered) instead.
    let plain = |v: &str| !(v.contains("{{") || v.contains("{%") || v.contains("{#"));
    let data = |kind: &str, args: Value| Mapped::Same(javascript(kind, &args));
    match a {
        Assertion::Contains { value, not } if plain(value) => {
            Mapped::Same(json!({"type": neg(*not, "contains"), "value": value}))
        }
        Assertion::Icontains { value, not } if plain(value) => {
            Mapped::Same(json!({"type": neg(*not, "icontains"), "value": value}))
        }
        Assertion::Contains { value, not } => data(
            "contains",
            json!({"value": value, "not": not, "fold": false}),
        ),
        Assertion::Icontains { value, not } => data(
            "contains",
            json!({"value": value, "not": not, "fold": true}),
        ),
        Assertion::Regex { pattern, not } => match rust_only(pattern) {
            Some(why) => Mapped::Not(why),
            None if plain(pattern) => {
                Mapped::Same(json!({"type": neg(*not, "regex"), "value": pattern}))
            }
            None => Mapped::Not("the pattern holds template syntax promptfoo would render"),
        },
        Assertion::IsJson => Mapped::Same(json!({"type": "is-json"})),
        Assertion::Refusal => Mapped::Differs(json!({"type": "is-refusal"}), REFUSAL),
        Assertion::NotRefusal => Mapped::Differs(json!({"type": "not-is-refusal"}), REFUSAL),
        Assertion::MaxLatencyMs { ms } => Mapped::Same(json!({"type": "latency", "threshold": ms})),
        Assertion::MaxCostUsd { usd } => Mapped::Same(json!({"type": "cost", "threshold": usd})),
        Assertion::Equals { value } => data("equals", json!({"value": value})),
        Assertion::JsonPointerEquals { pointer, value } => {
            data("pointer", json!({"pointer": pointer, "value": value}))
        }
        Assertion::ToolCalled { name, args } => {
            data("tool", json!({"name": name, "args": args, "not": false}))
        }
        Assertion::ToolNotCalled { name, args } => {
            data("tool", json!({"name": name, "args": args, "not": true}))
        }
        Assertion::NoToolErrors => data("tool_errors", json!({})),
        Assertion::MaxOutputTokens { tokens } => data("tokens", json!({"max": tokens})),
        Assertion::SimilarToReference { threshold } => match reference {
            Some(r) => data("similar", json!({"reference": r, "threshold": threshold})),
            None => Mapped::Not("the case has no reference output"),
        },
    }
}

const REFUSAL: &str = "promptfoo's is-refusal looks for its own refusal phrases in the \
                       output; relops reads [detect] phrases and finish reasons in the spans";

/// Why a pattern would not mean the same to JavaScript's `RegExp`, if it would not.
fn rust_only(pattern: &str) -> Option<&'static str> {
    const RUST_ONLY: &[&str] = &["(?", "\\A", "\\z", "\\p{", "\\P{", "[[:"];
    // Groups both read alike (Rust has no lookaround: validation refuses it).
    let shared = ["(?:", "(?<"];
    for token in RUST_ONLY {
        let mut rest = pattern;
        while let Some(at) = rest.find(token) {
            let here = &rest[at..];
            if !shared.iter().any(|n| here.starts_with(n)) {
                return Some(
                    "Rust regex syntax JavaScript reads differently (inline flags, \\A, \\z, \
                     Unicode or POSIX classes)",
                );
            }
            rest = &rest[at + token.len()..];
        }
    }
    None
}

/// A failing assertion in place of one promptfoo cannot check.
fn placeholder(what: &str, why: &str) -> Value {
    javascript("placeholder", &json!({"what": what, "why": why}))
}

/// A `javascript` assert running [`CHECKS`] on this assertion's data (base64 JSON:
/// never rendered as a template, never parsed as code).
fn javascript(kind: &str, args: &Value) -> Value {
    let data = json!({"kind": kind, "args": args}).to_string();
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    json!({
        "type": "javascript",
        "value": format!("const relops = JSON.parse(Buffer.from(\"{b64}\", \"base64\").toString(\"utf8\"));\n{CHECKS}"),
    })
}

/// The body of every javascript assert: `relops.kind` picks the check, `relops.args`
/// its data; the response facts come from the provider's transform
/// (`metadata.relops`). Mirrors `cases::assertion` (and the tool rules of
/// `ingest::semconv`); no `{{` anywhere, as promptfoo renders the text first.
const CHECKS: &str = include_str!("export_checks.js");

/// The provider's response transform: output, latency, cost and tokens at the target's
/// pointers, and the tool calls of its spans, as relops reads them.
const TRANSFORM: &str = include_str!("export_transform.js");

/// One `http` provider: the target on version `label`.
fn provider(name: &str, t: &ReplayTarget, label: &str) -> Result<Value, String> {
    if t.kind != TargetKind::Http {
        return Err(format!(
            "replay.targets.{name}: the promptfoo export writes http providers; an \
             openai-chat target is better served by promptfoo's own openai provider"
        ));
    }
    let mut body = Value::Null;
    set_pointer(&mut body, &t.input_pointer, json!("{{prompt}}"))
        .map_err(|e| format!("replay.targets.{name}.input_pointer: {e}"))?;
    let mut headers = serde_json::Map::new();
    headers.insert("Content-Type".into(), json!("application/json"));
    if let Some(h) = &t.version_header {
        headers.insert(h.clone(), json!(label));
    }
    if let Some(var) = &t.api_key_env {
        // The key stays in the environment: promptfoo reads it when it runs.
        headers.insert(
            "Authorization".into(),
            json!(format!("Bearer {{{{env.{var}}}}}")),
        );
    }
    let m = &t.response;
    let pointers = json!({
        "output": m.output,
        "spans": m.spans,
        "latency_ms": m.latency_ms,
        "cost_usd": m.cost_usd,
        "tokens_in": m.tokens_in,
        "tokens_out": m.tokens_out,
    });
    Ok(json!({
        "id": "http",
        "label": label,
        "config": {
            "url": t.url.replace("{version}", &path_segment(label)),
            "method": "POST",
            "headers": headers,
            "body": body,
            "transformResponse": TRANSFORM.replace("__POINTERS__", &pointers.to_string()),
        },
    }))
}

/// A version label as one URL path segment (percent-encoded: a label is data).
fn path_segment(label: &str) -> String {
    label
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Writes `value` at a JSON pointer, creating objects on the way (as the replay does).
fn set_pointer(root: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    if pointer.is_empty() {
        *root = value;
        return Ok(());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| format!("{pointer:?} must start with '/'"))?;
    let mut at = root;
    for part in rest.split('/') {
        let key = part.replace("~1", "/").replace("~0", "~");
        if !at.is_object() {
            *at = Value::Object(Default::default());
        }
        at = match at {
            Value::Object(map) => map.entry(key).or_insert(Value::Null),
            _ => return Err(format!("{pointer:?} cannot be written")),
        };
    }
    *at = value;
    Ok(())
}

#[cfg(test)]
mod tests;
