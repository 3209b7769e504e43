//! Reads the meaning out of span attributes: OpenTelemetry GenAI (`gen_ai.*`) and
//! OpenInference (`openinference.span.kind`, `llm.*`, `tool.*`, `retrieval.documents.*`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::refusal::{self, Reason};
use crate::config::{Detection, VersionMapping};
use crate::model::{Fingerprint, SpanFacts, SpanKind, refusal_keys};
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
    refusal: refusal::Rules,
    safety_attributes: Vec<String>,
}

const INPUT_KEYS: &[&str] = &["input.value", "gen_ai.input.messages", "gen_ai.prompt"];
const OUTPUT_KEYS: &[&str] = &[
    "output.value",
    "gen_ai.output.messages",
    "gen_ai.completion",
];
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
const TOOL_ARGS: &[&str] = &[
    "tool.parameters",
    "gen_ai.tool.call.arguments",
    "input.value",
];
/// OpenInference's JSON-text attribute of user metadata, expanded to `metadata.*` keys
/// on every path as Phoenix expands it, so the version mapping reads the same keys.
const METADATA: &str = "metadata";

impl Extractor {
    pub fn new(mapping: &VersionMapping, detect: &Detection) -> Self {
        Self {
            mapping: mapping.clone(),
            refusal: refusal::Rules::new(detect),
            safety_attributes: detect.safety_attributes.clone(),
        }
    }

    /// Parses one raw span of a batch; the error says what is wrong with it.
    pub fn record(&self, resource: &Arc<Resource>, raw: &str) -> Result<SpanRecord, String> {
        let span: otlp::Span = serde_json::from_str(raw).map_err(|e| e.to_string())?;
        self.record_span(resource, span, content_hash(resource, raw.as_bytes()))
    }

    /// Turns a span already decoded (from JSON or protobuf) into a record; `content_hash`
    /// comes from [`content_hash`] over the span's encoded bytes.
    pub fn record_span(
        &self,
        resource: &Arc<Resource>,
        span: otlp::Span,
        content_hash: i64,
    ) -> Result<SpanRecord, String> {
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
        otlp::flatten(span.attributes, &mut attrs);
        otlp::expand_json_text(&mut attrs, METADATA);
        for k in [
            refusal_keys::ATTRIBUTE,
            refusal_keys::RULE,
            refusal_keys::PATTERN,
        ] {
            attrs.remove(k);
        }
        let a = Lookup {
            span: &attrs,
            resource: &resource.attrs,
        };
        let kind = classify(&a);
        let error = span.status.as_ref().is_some_and(otlp::Status::is_error);
        let output = a.text(OUTPUT_KEYS).or_else(|| output_message_text(&attrs));
        let finish = self.refusal.finish(&attrs);
        let safety_events = self.safety_events(&a, &span.events) + i64::from(finish.is_some());
        let events = answer_events(span.events);
        let refusal = self.refusal_reason(kind, parent.is_none(), finish, &attrs, &events);
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
            refusal: refusal.is_some(),
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
        if let Some(reason) = refusal {
            reason.write(&mut attrs);
        }
        Ok(SpanRecord {
            trace_id,
            facts,
            attributes: Value::Object(attrs).to_string(),
            resource: Arc::clone(resource),
            content_hash,
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

    /// Why the span refused, if it did. The answer is read on LLM spans and on the root
    /// span, whose output is the trace's answer: workflows that capture no content on
    /// their LLM spans still show their refusals there.
    fn refusal_reason(
        &self,
        kind: SpanKind,
        root: bool,
        finish: Option<Reason>,
        attrs: &Attributes,
        events: &[(String, Attributes)],
    ) -> Option<Reason> {
        if kind != SpanKind::Llm && !root {
            return None;
        }
        finish.or_else(|| self.refusal.answer(attrs, events))
    }

    /// True when text matches a configured refusal phrase or pattern (for outputs
    /// without spans).
    pub fn is_refusal_text(&self, text: &str) -> bool {
        self.refusal.text(text).is_some()
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

/// The first OpenInference output message's text, for spans with no `output.value`:
/// flat keys as OTLP sends them, or one array as Phoenix hands them back.
fn output_message_text(attrs: &Attributes) -> Option<String> {
    const FLAT: &str = "llm.output_messages.0.message.content";
    if let Some(text) = attrs.get(FLAT).and_then(scalar_text) {
        return Some(text);
    }
    let first = attrs.get("llm.output_messages")?.get(0)?;
    first
        .pointer("/message/content")
        .or_else(|| first.get("message.content"))
        .and_then(scalar_text)
}

/// The attributes of the older GenAI answer events (`gen_ai.choice`), flattened; the
/// others are not read.
fn answer_events(events: Vec<otlp::Event>) -> Vec<(String, Attributes)> {
    events
        .into_iter()
        .filter(|e| refusal::ANSWER_EVENTS.contains(&e.name.as_str()))
        .map(|e| {
            let mut attrs = Attributes::new();
            otlp::flatten(e.attributes, &mut attrs);
            (e.name, attrs)
        })
        .collect()
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
    if let Some(kind) = a
        .span
        .get("openinference.span.kind")
        .and_then(Value::as_str)
    {
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
            if let Some(score) = v.as_f64().filter(|_| field == "document.score") {
                best = Some(best.map_or(score, |b: f64| b.max(score)));
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

/// Hash of a span's encoded bytes and its resource: a span sent again unchanged (same
/// encoding, same bytes) is recognised and not rewritten.
pub fn content_hash(resource: &Resource, raw: &[u8]) -> i64 {
    // SHA-256 rather than std's hasher: the value is persisted and must not change
    // between Rust releases.
    let mut h = Sha256::new();
    h.update(resource.digest);
    h.update(raw);
    let d = h.finalize();
    i64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Detection, VersionMapping};
    use serde_json::json;

    fn extractor() -> Extractor {
        Extractor::new(&VersionMapping::default(), &Detection::default())
    }

    fn resource(pairs: &[(&str, &str)]) -> Arc<Resource> {
        let mut attrs = Attributes::new();
        for (k, v) in pairs {
            attrs.insert(k.to_string(), json!(v));
        }
        Resource::new(attrs)
    }

    fn span(attributes: serde_json::Value, status: serde_json::Value) -> String {
        json!({
            "traceId": "0af7651916cd43dd8448eb211c80319c",
            "spanId": "b7ad6b7169203331",
            "name": "s",
            "startTimeUnixNano": "1000000000",
            "endTimeUnixNano": 1500000000u64,
            "attributes": attributes,
            "status": status,
        })
        .to_string()
    }

    fn kv(key: &str, value: serde_json::Value) -> serde_json::Value {
        json!({"key": key, "value": value})
    }

    #[test]
    fn genai_chat_with_content_filter_is_a_refusal_and_a_safety_event() {
        let raw = span(
            json!([
                kv("gen_ai.operation.name", json!({"stringValue": "chat"})),
                kv("gen_ai.request.model", json!({"stringValue": "m-1"})),
                kv("gen_ai.usage.input_tokens", json!({"intValue": "120"})),
                kv("gen_ai.usage.output_tokens", json!({"intValue": 7})),
                kv(
                    "gen_ai.response.finish_reasons",
                    json!({"arrayValue": {"values": [{"stringValue": "content_filter"}]}})
                ),
            ]),
            json!({}),
        );
        let r = extractor().record(&resource(&[]), &raw).unwrap();
        assert_eq!(r.facts.kind, SpanKind::Llm);
        assert_eq!(r.facts.model.as_deref(), Some("m-1"));
        assert_eq!((r.facts.tokens_in, r.facts.tokens_out), (120, 7));
        assert!(r.facts.refusal);
        assert_eq!(r.facts.safety_events, 1);
        assert_eq!(r.facts.duration_ms(), 500.0);
    }

    fn with_parent(raw: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(raw).unwrap();
        v["parentSpanId"] = json!("00f067aa0ba902b7");
        v.to_string()
    }

    #[test]
    fn refusals_are_read_on_llm_spans_and_on_the_root_only() {
        let attrs = |kind: &str| {
            json!([
                kv("openinference.span.kind", json!({"stringValue": kind})),
                kv(
                    "output.value",
                    json!({"stringValue": "i'M SORRY, BUT I CAN'T do that"})
                ),
            ])
        };
        let e = extractor();
        let refused = |raw: String| e.record(&resource(&[]), &raw).unwrap().facts.refusal;
        assert!(refused(with_parent(&span(attrs("LLM"), json!({})))));
        assert!(
            refused(span(attrs("CHAIN"), json!({}))),
            "the root's answer"
        );
        assert!(!refused(with_parent(&span(attrs("CHAIN"), json!({})))));
        assert!(!refused(with_parent(&span(attrs("TOOL"), json!({})))));
    }

    #[test]
    fn the_reason_is_kept_with_the_span_and_a_sent_one_is_not_trusted() {
        let raw = with_parent(&span(
            json!([
                kv("openinference.span.kind", json!({"stringValue": "LLM"})),
                kv(
                    "llm.output_messages.0.message.content",
                    json!({"stringValue": "I cannot help with refunds."})
                ),
            ]),
            json!({}),
        ));
        let r = extractor().record(&resource(&[]), &raw).unwrap();
        assert!(r.facts.refusal);
        assert_eq!(
            r.facts.output.as_deref(),
            Some("I cannot help with refunds.")
        );
        let attrs: serde_json::Value = serde_json::from_str(&r.attributes).unwrap();
        let why = crate::model::RefusalReason::from_attributes("s", "n", &attrs).unwrap();
        assert_eq!(
            (
                why.attribute.as_str(),
                why.rule.as_str(),
                why.pattern.as_str()
            ),
            (
                "llm.output_messages.0.message.content",
                "phrase",
                "I cannot help with"
            )
        );

        let forged = span(
            json!([
                kv("relops.refusal.rule", json!({"stringValue": "phrase"})),
                kv("output.value", json!({"stringValue": "All done."})),
            ]),
            json!({}),
        );
        let r = extractor().record(&resource(&[]), &forged).unwrap();
        assert!(!r.facts.refusal);
        assert!(!r.attributes.contains("relops.refusal"), "{}", r.attributes);
    }

    #[test]
    fn a_content_filter_finish_reason_counts_as_a_safety_event_on_any_span() {
        let raw = with_parent(&span(
            json!([kv(
                "llm.output_messages.0.message.finish_reason",
                json!({"stringValue": "content_filter"})
            )]),
            json!({}),
        ));
        let f = extractor().record(&resource(&[]), &raw).unwrap().facts;
        assert_eq!(
            (f.kind, f.refusal, f.safety_events),
            (SpanKind::Span, false, 1)
        );
    }

    #[test]
    fn openinference_metadata_text_is_expanded_for_the_version_mapping() {
        let raw = span(
            json!([kv(
                "metadata",
                json!({"stringValue": "{\"version\": \"v3\", \"prompt_hash\": \"ph-3\"}"})
            )]),
            json!({}),
        );
        let r = extractor().record(&resource(&[]), &raw).unwrap();
        let v = &r.facts.version;
        assert_eq!(v.label.as_deref(), Some("v3"), "metadata.version labels");
        assert_eq!(v.prompt_hash.as_deref(), Some("ph-3"));
        assert!(
            r.attributes.contains("\"metadata.version\":\"v3\""),
            "{}",
            r.attributes
        );

        // The resource's service.version, when there is one, comes first.
        let res = resource(&[("service.version", "v3")]);
        let v = extractor().record(&res, &raw).unwrap().facts.version;
        assert_eq!(v.label.as_deref(), Some("v3"));
    }

    #[test]
    fn retrieval_documents_flat_and_array_forms() {
        let flat = span(
            json!([
                kv(
                    "openinference.span.kind",
                    json!({"stringValue": "RETRIEVER"})
                ),
                kv(
                    "retrieval.documents.0.document.score",
                    json!({"doubleValue": 0.4})
                ),
                kv(
                    "retrieval.documents.1.document.score",
                    json!({"doubleValue": 0.9})
                ),
                kv(
                    "retrieval.documents.2.document.id",
                    json!({"stringValue": "x"})
                ),
            ]),
            json!({}),
        );
        let r = extractor().record(&resource(&[]), &flat).unwrap();
        assert_eq!(
            (r.facts.retrieval_docs, r.facts.retrieval_top_score),
            (Some(3), Some(0.9))
        );

        let empty = span(
            json!([
                kv(
                    "openinference.span.kind",
                    json!({"stringValue": "RETRIEVER"})
                ),
                kv("retrieval.documents", json!({"arrayValue": {"values": []}})),
            ]),
            json!({}),
        );
        let r = extractor().record(&resource(&[]), &empty).unwrap();
        assert_eq!(
            (r.facts.retrieval_docs, r.facts.retrieval_top_score),
            (Some(0), None)
        );
    }

    #[test]
    fn failed_tool_call_keeps_name_args_and_message() {
        let raw = span(
            json!([
                kv("openinference.span.kind", json!({"stringValue": "TOOL"})),
                kv("tool.name", json!({"stringValue": "refund"})),
                kv("tool.parameters", json!({"stringValue": "{\"id\":1}"})),
            ]),
            json!({"code": "STATUS_CODE_ERROR", "message": "503"}),
        );
        let f = extractor().record(&resource(&[]), &raw).unwrap().facts;
        assert!(f.is_tool_error());
        assert_eq!(f.tool_name.as_deref(), Some("refund"));
        assert_eq!(f.tool_args.as_deref(), Some("{\"id\":1}"));
        assert_eq!(f.status_message.as_deref(), Some("503"));
    }

    #[test]
    fn fingerprint_reads_resource_and_span_with_span_first() {
        let raw = span(
            json!([
                kv("relops.prompt.hash", json!({"stringValue": "from-span"})),
                kv("relops.tool.search.version", json!({"stringValue": "2"})),
            ]),
            json!({}),
        );
        let res = resource(&[
            ("service.version", "v7"),
            ("relops.prompt.hash", "from-resource"),
            ("relops.tool.refund.version", "1.0"),
        ]);
        let v = extractor().record(&res, &raw).unwrap().facts.version;
        assert_eq!(v.label.as_deref(), Some("v7"));
        assert_eq!(v.prompt_hash.as_deref(), Some("from-span"));
        assert_eq!(v.tools.get("refund").map(String::as_str), Some("1.0"));
        assert_eq!(v.tools.get("search").map(String::as_str), Some("2"));
    }

    #[test]
    fn custom_mapping_is_honoured() {
        let mapping = VersionMapping {
            label: vec!["deploy.tag".into()],
            ..VersionMapping::default()
        };
        let e = Extractor::new(&mapping, &Detection::default());
        let v = e
            .record(
                &resource(&[("deploy.tag", "blue"), ("service.version", "9")]),
                &span(json!([]), json!({})),
            )
            .unwrap()
            .facts
            .version;
        assert_eq!(v.label.as_deref(), Some("blue"));
    }

    #[test]
    fn ids_may_be_base64_but_must_have_the_right_length() {
        assert_eq!(
            normalise_id("CvdlGRbNQ92ESOshHIAxnA==", 32).as_deref(),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(
            normalise_id("0AF7651916CD43DD8448EB211C80319C", 32).as_deref(),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(normalise_id("abc", 16), None);
    }

    #[test]
    fn malformed_spans_say_what_is_wrong() {
        let e = extractor();
        let r = resource(&[]);
        let bad_time = span(json!([]), json!({})).replace("1500000000", "5");
        assert!(e.record(&r, &bad_time).unwrap_err().contains("before"));
        assert!(
            e.record(&r, "{\"spanId\": 1}")
                .unwrap_err()
                .contains("invalid type")
        );
        let no_trace = json!({"traceId": "", "spanId": "b7ad6b7169203331", "startTimeUnixNano": "1", "endTimeUnixNano": "2"});
        assert!(
            e.record(&r, &no_trace.to_string())
                .unwrap_err()
                .contains("traceId")
        );
    }

    #[test]
    fn unchanged_spans_hash_alike_and_resources_count() {
        let raw = span(json!([]), json!({}));
        let e = extractor();
        let a = e.record(&resource(&[("k", "1")]), &raw).unwrap();
        let b = e.record(&resource(&[("k", "1")]), &raw).unwrap();
        let c = e.record(&resource(&[("k", "2")]), &raw).unwrap();
        assert_eq!(a.content_hash, b.content_hash);
        assert_ne!(a.content_hash, c.content_hash);
    }
}
