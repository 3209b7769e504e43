//! Reads the meaning out of span attributes: OpenTelemetry GenAI (`gen_ai.*`) and
//! OpenInference (`openinference.span.kind`, `llm.*`, `tool.*`, `retrieval.documents.*`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::{Detection, VersionMapping};
use crate::model::{Fingerprint, SpanFacts, SpanKind};
use crate::otlp::{self, Attributes};

/// A span ready for the cache: its facts plus the attributes kept for the detail view.
#[derive(Debug, Clone)]
pub struct SpanRecord {
    pub trace_id: String,
    pub facts: SpanFacts,
    /// Span attributes as JSON, less the input and output kept in `facts`.
    pub attributes: String,
    pub resource: Arc<Resource>,
    /// Hash of the raw span and its resource: unchanged spans are not rewritten.
    pub content_hash: i64,
}

/// A batch's resource attributes, serialised and hashed once for all its spans.
#[derive(Debug)]
pub struct Resource {
    pub attrs: Attributes,
    pub json: String,
    pub digest: [u8; 32],
}

impl Resource {
    pub fn new(attrs: Attributes) -> Arc<Self> {
        let json = Value::Object(attrs.clone()).to_string();
        let digest = Sha256::digest(json.as_bytes()).into();
        Arc::new(Self {
            attrs,
            json,
            digest,
        })
    }
}

/// Turns OTLP spans into records, with the workspace's mapping and detection rules.
pub struct Extractor {
    mapping: VersionMapping,
    refusal_phrases: Vec<String>,
    refusal_finish_reasons: Vec<String>,
    safety_attributes: Vec<String>,
}

const INPUT_KEYS: &[&str] = &["input.value", "gen_ai.input.messages", "gen_ai.prompt"];
const OUTPUT_KEYS: &[&str] = &["output.value", "gen_ai.output.messages", "gen_ai.completion"];
const TOKENS_IN: &[&str] = &[
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
];
const TOKENS_OUT: &[&str] = &[
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
];
const COST: &[&str] = &["relops.cost_usd", "llm.cost.total", "gen_ai.usage.cost"];
const MODEL: &[&str] = &[
    "gen_ai.response.model",
    "gen_ai.request.model",
    "llm.model_name",
];
const TOOL_NAME: &[&str] = &["tool.name", "gen_ai.tool.name"];
const TOOL_ARGS: &[&str] = &["tool.parameters", "gen_ai.tool.call.arguments", "input.value"];
const FINISH: &[&str] = &[
    "gen_ai.response.finish_reasons",
    "llm.finish_reason",
    "llm.output_messages.0.message.finish_reason",
];

impl Extractor {
    pub fn new(mapping: &VersionMapping, detect: &Detection) -> Self {
        let lower = |v: &[String]| v.iter().map(|s| s.to_lowercase()).collect();
        Self {
            mapping: mapping.clone(),
            refusal_phrases: lower(&detect.refusal_phrases),
            refusal_finish_reasons: lower(&detect.refusal_finish_reasons),
            safety_attributes: detect.safety_attributes.clone(),
        }
    }

    /// Parses one raw span of a batch; the error says what is wrong with it.
    pub fn record(&self, resource: &Arc<Resource>, raw: &str) -> Result<SpanRecord, String> {
        let span: otlp::Span = serde_json::from_str(raw).map_err(|e| e.to_string())?;
        let trace_id = normalise_id(&span.trace_id, 32).ok_or("traceId is not 32 hex digits")?;
        let span_id = normalise_id(&span.span_id, 16).ok_or("spanId is not 16 hex digits")?;
        let parent = span
            .parent_span_id
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(|p| normalise_id(p, 16).ok_or("parentSpanId is not 16 hex digits"))
            .transpose()?;
        if span.end_time_unix_nano < span.start_time_unix_nano {
            return Err("endTimeUnixNano is before startTimeUnixNano".into());
        }

        let mut attrs = Attributes::new();
        otlp::flatten(&span.attributes, &mut attrs);
        let a = Lookup {
            span: &attrs,
            resource: &resource.attrs,
        };
        let kind = classify(&a);
        let error = span.status.as_ref().is_some_and(otlp::Status::is_error);
        let output = a.text(OUTPUT_KEYS);
        let finish_refusal = self.finish_refusal(&a);
        let refusal = kind == SpanKind::Llm && (finish_refusal || self.phrase_refusal(&output));
        let safety_events = self.safety_events(&a, &span.events) + i64::from(finish_refusal);
        let (retrieval_docs, retrieval_top_score) = retrieval(&attrs, kind);

        let facts = SpanFacts {
            span_id,
            parent_span_id: parent,
            name: span.name,
            kind,
            start_ns: span.start_time_unix_nano,
            end_ns: span.end_time_unix_nano,
            error,
            status_message: span
                .status
                .and_then(|s| s.message)
                .filter(|m| !m.is_empty())
                .or_else(|| a.span_text(&["error.type", "exception.message"])),
            model: a.span_text(MODEL),
            tokens_in: a.int(TOKENS_IN),
            tokens_out: a.int(TOKENS_OUT),
            cost_usd: a.float(COST),
            input: a.text(INPUT_KEYS),
            output,
            refusal,
            safety_events,
            tool_name: (kind == SpanKind::Tool)
                .then(|| a.span_text(TOOL_NAME))
                .flatten(),
            tool_args: (kind == SpanKind::Tool)
                .then(|| a.span_text(TOOL_ARGS))
                .flatten(),
            retrieval_docs,
            retrieval_top_score,
            version: self.fingerprint(&a),
        };
        for k in INPUT_KEYS.iter().chain(OUTPUT_KEYS) {
            attrs.remove(*k);
        }
        Ok(SpanRecord {
            trace_id,
            facts,
            attributes: Value::Object(attrs).to_string(),
            resource: Arc::clone(resource),
            content_hash: content_hash(resource, raw),
        })
    }

    /// The version fields this span (and its resource) carries.
    pub fn fingerprint(&self, a: &Lookup) -> Fingerprint {
        let m = &self.mapping;
        let mut tools = BTreeMap::new();
        for map in [a.resource, a.span] {
            for (k, v) in map {
                let Some(name) = k
                    .strip_prefix(m.tool_prefix.as_str())
                    .and_then(|rest| rest.strip_suffix(m.tool_suffix.as_str()))
                else {
                    continue;
                };
                if let Some(v) = scalar_text(v) {
                    tools.insert(name.to_string(), v);
                }
            }
        }
        Fingerprint {
            label: a.text(&m.label),
            prompt_hash: a.text(&m.prompt_hash),
            config_hash: a.text(&m.config_hash),
            model: a.text(&m.model),
            index_version: a.text(&m.index_version),
            tools,
        }
    }

    fn finish_refusal(&self, a: &Lookup) -> bool {
        FINISH.iter().filter_map(|k| a.get(k)).any(|v| match v {
            Value::Array(items) => items.iter().any(|i| self.is_refusal_reason(i)),
            other => self.is_refusal_reason(other),
        })
    }

    fn is_refusal_reason(&self, v: &Value) -> bool {
        v.as_str()
            .is_some_and(|s| self.refusal_finish_reasons.contains(&s.to_lowercase()))
    }

    fn phrase_refusal(&self, output: &Option<String>) -> bool {
        let Some(out) = output else { return false };
        let out = out.to_lowercase();
        self.refusal_phrases.iter().any(|p| out.contains(p.as_str()))
    }

    fn safety_events(&self, a: &Lookup, events: &[otlp::Event]) -> i64 {
        let flagged = self
            .safety_attributes
            .iter()
            .filter(|k| a.span.get(k.as_str()).is_some_and(truthy))
            .count();
        let evented = events
            .iter()
            .filter(|e| {
                let n = e.name.to_lowercase();
                n.contains("safety") || n.contains("guardrail") || n.contains("moderation")
            })
            .count();
        (flagged + evented) as i64
    }
}

/// Span attributes first, then the resource's.
pub struct Lookup<'a> {
    pub span: &'a Attributes,
    pub resource: &'a Attributes,
}

impl Lookup<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.span
            .get(key)
            .or_else(|| self.resource.get(key))
            .filter(|v| !v.is_null())
    }

    fn text(&self, keys: &[impl AsRef<str>]) -> Option<String> {
        keys.iter()
            .filter_map(|k| self.get(k.as_ref()))
            .find_map(scalar_text)
    }

    fn span_text(&self, keys: &[&str]) -> Option<String> {
        keys.iter()
            .filter_map(|k| self.span.get(*k))
            .find_map(scalar_text)
    }

    fn int(&self, keys: &[&str]) -> i64 {
        keys.iter()
            .filter_map(|k| self.span.get(*k))
            .find_map(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
            .unwrap_or(0)
    }

    fn float(&self, keys: &[&str]) -> f64 {
        keys.iter()
            .filter_map(|k| self.span.get(*k))
            .find_map(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()))
            .unwrap_or(0.0)
    }
}

/// Strings as they are; numbers and booleans printed; arrays and objects as JSON.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => matches!(s.to_lowercase().as_str(), "true" | "1" | "yes"),
        _ => false,
    }
}

fn classify(a: &Lookup) -> SpanKind {
    if let Some(kind) = a.span.get("openinference.span.kind").and_then(Value::as_str) {
        return match kind.to_ascii_uppercase().as_str() {
            "LLM" => SpanKind::Llm,
            "TOOL" => SpanKind::Tool,
            "RETRIEVER" | "RERANKER" => SpanKind::Retriever,
            "EMBEDDING" => SpanKind::Embedding,
            "AGENT" => SpanKind::Agent,
            "GUARDRAIL" => SpanKind::Guardrail,
            "CHAIN" => SpanKind::Chain,
            _ => SpanKind::Span,
        };
    }
    if let Some(op) = a.span.get("gen_ai.operation.name").and_then(Value::as_str) {
        return match op {
            "chat" | "text_completion" | "generate_content" => SpanKind::Llm,
            "execute_tool" => SpanKind::Tool,
            "embeddings" => SpanKind::Embedding,
            "invoke_agent" | "create_agent" => SpanKind::Agent,
            "retrieval" | "retrieve" => SpanKind::Retriever,
            _ => SpanKind::Span,
        };
    }
    if a.span.contains_key("gen_ai.request.model") || a.span.contains_key("llm.model_name") {
        return SpanKind::Llm;
    }
    SpanKind::Span
}

/// Number of retrieved documents and the best score, from
/// `retrieval.documents.<i>.document.score` keys or a `retrieval.documents` array.
fn retrieval(attrs: &Attributes, kind: SpanKind) -> (Option<i64>, Option<f64>) {
    if kind != SpanKind::Retriever {
        return (None, None);
    }
    if let Some(Value::Array(docs)) = attrs.get("retrieval.documents") {
        let best = docs
            .iter()
            .filter_map(|d| {
                d.get("document.score")
                    .or_else(|| d.pointer("/document/score"))
                    .and_then(Value::as_f64)
            })
            .reduce(f64::max);
        return (Some(docs.len() as i64), best);
    }
    let mut indices = std::collections::BTreeSet::new();
    let mut best: Option<f64> = None;
    for (k, v) in attrs {
        let Some(rest) = k.strip_prefix("retrieval.documents.") else {
            continue;
        };
        let (index, field) = rest.split_once('.').unwrap_or((rest, ""));
        if let Ok(i) = index.parse::<u32>() {
            indices.insert(i);
            if field == "document.score" {
                if let Some(s) = v.as_f64() {
                    best = Some(best.map_or(s, |b: f64| b.max(s)));
                }
            }
        }
    }
    let explicit = attrs.get("relops.retrieval.count").and_then(Value::as_i64);
    (Some(explicit.unwrap_or(indices.len() as i64)), best)
}

/// Lower-case hex ids; OTLP/JSON writes hex, but some exporters send base64.
fn normalise_id(id: &str, hex_len: usize) -> Option<String> {
    if id.len() == hex_len && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(id.to_ascii_lowercase());
    }
    let bytes = base64_decode(id)?;
    (bytes.len() * 2 == hex_len).then(|| hex::encode(bytes))
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

fn content_hash(resource: &Resource, raw: &str) -> i64 {
    // SHA-256 rather than std's hasher: the value is persisted and must not change
    // between Rust releases.
    let mut h = Sha256::new();
    h.update(resource.digest);
    h.update(raw.as_bytes());
    let d = h.finalize();
    i64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}
