//! Spans pulled from an API, dressed as OTLP spans so the importer's [`Extractor`]
//! reads them: one attribute mapping for files, receivers and pulls alike.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::ingest::{Extractor, Resource, SpanRecord};
use crate::otlp::Attributes;

/// What a pulled span says, in the source's terms already parsed.
#[derive(Debug, Default)]
pub struct SpanParts {
    pub trace_id: String,
    pub span_id: String,
    pub parent_id: Option<String>,
    pub name: String,
    pub start_ns: i64,
    pub end_ns: i64,
    pub error: bool,
    pub status_message: Option<String>,
    /// Dotted keys (see [`flatten_into`]).
    pub attributes: Attributes,
    pub events: Vec<(String, Attributes)>,
}

impl SpanParts {
    /// The cache record, through the importer's mapping.
    pub fn record(
        self,
        extractor: &Extractor,
        resource: &Arc<Resource>,
    ) -> Result<SpanRecord, String> {
        extractor.record(resource, &self.to_otlp_json())
    }

    /// The OTLP/JSON encoding of the span.
    fn to_otlp_json(&self) -> String {
        let events: Vec<Value> = self
            .events
            .iter()
            .map(|(name, attrs)| json!({"name": name, "attributes": key_values(attrs)}))
            .collect();
        let mut span = json!({
            "traceId": self.trace_id,
            "spanId": self.span_id,
            "name": self.name,
            "startTimeUnixNano": self.start_ns.to_string(),
            "endTimeUnixNano": self.end_ns.to_string(),
            "attributes": key_values(&self.attributes),
            "events": events,
            "status": {
                "code": if self.error { 2 } else { 0 },
                "message": self.status_message.clone().unwrap_or_default(),
            },
        });
        if let Some(parent) = &self.parent_id {
            span["parentSpanId"] = Value::String(parent.clone());
        }
        span.to_string()
    }
}

/// Nested objects become dotted keys, as OTLP attributes are.
pub use crate::otlp::flatten_json as flatten_into;

fn key_values(attrs: &Attributes) -> Vec<Value> {
    attrs
        .iter()
        .filter_map(|(k, v)| Some(json!({"key": k, "value": any_value(v)?})))
        .collect()
}

fn any_value(v: &Value) -> Option<Value> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => json!({"boolValue": b}),
        Value::Number(n) if n.is_i64() => json!({"intValue": n.to_string()}),
        Value::Number(n) => json!({"doubleValue": n.as_f64()}),
        Value::String(s) => json!({"stringValue": s}),
        Value::Array(items) => {
            let values: Vec<Value> = items.iter().filter_map(any_value).collect();
            json!({"arrayValue": {"values": values}})
        }
        Value::Object(_) => json!({"stringValue": v.to_string()}),
    })
}

/// An id in the shape OTLP wants (`hex_len` lowercase hex digits): kept when it
/// already is, else derived from a hash of it, so the same source id always maps to
/// the same cache id. Sources keep the original in an attribute.
pub fn hex_id(id: &str, hex_len: usize) -> String {
    let clean: String = id.chars().filter(|c| *c != '-').collect();
    if clean.len() == hex_len && clean.chars().all(|c| c.is_ascii_hexdigit()) {
        return clean.to_ascii_lowercase();
    }
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(id.as_bytes()))[..hex_len].to_string()
}

/// Resource attributes for every span of a source, e.g. `relops.source`.
pub fn resource(pairs: &[(&str, &str)]) -> Arc<Resource> {
    let mut attrs = Map::new();
    for (k, v) in pairs {
        attrs.insert((*k).to_string(), Value::String((*v).to_string()));
    }
    Resource::new(attrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Detection, VersionMapping};
    use crate::model::SpanKind;

    #[test]
    fn nested_attributes_flatten_to_dotted_keys() {
        let mut out = Attributes::new();
        let v = json!({"llm": {"model_name": "gpt-4o", "token_count": {"prompt": 12}},
                       "tags": ["a", "b"], "gone": null});
        flatten_into("", &v, &mut out);
        assert_eq!(out["llm.model_name"], "gpt-4o");
        assert_eq!(out["llm.token_count.prompt"], 12);
        assert_eq!(out["tags"], json!(["a", "b"]));
        assert!(!out.contains_key("gone"));
    }

    #[test]
    fn parts_read_like_an_imported_span() {
        let mut attributes = Attributes::new();
        flatten_into(
            "",
            &json!({"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o",
                    "llm.token_count.prompt": 12, "metadata.prompt_hash": "p1",
                    "service.version": "v2", "output.value": "hello"}),
            &mut attributes,
        );
        let parts = SpanParts {
            trace_id: "a".repeat(32),
            span_id: "b".repeat(16),
            name: "llm".into(),
            start_ns: 1,
            end_ns: 5,
            error: true,
            status_message: Some("boom".into()),
            attributes,
            ..SpanParts::default()
        };
        let ex = Extractor::new(&VersionMapping::default(), &Detection::default());
        let rec = parts.record(&ex, &resource(&[])).unwrap();
        let f = &rec.facts;
        assert_eq!((f.kind, f.error, f.tokens_in), (SpanKind::Llm, true, 12));
        assert_eq!(f.model.as_deref(), Some("gpt-4o"));
        assert_eq!(f.output.as_deref(), Some("hello"));
        assert_eq!(f.version.prompt_hash.as_deref(), Some("p1"));
        assert_eq!(f.status_message.as_deref(), Some("boom"));
    }

    #[test]
    fn ids_keep_their_hex_or_hash_stably() {
        assert_eq!(hex_id(&"AB".repeat(16), 32), "ab".repeat(16));
        let uuid = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(hex_id(uuid, 32), "0f8fad5bd9cb469fa16570867728950e");
        let h = hex_id("trace-42", 32);
        assert_eq!((h.len(), h.clone()), (32, hex_id("trace-42", 32)));
        assert_eq!(hex_id("obs-1", 16).len(), 16);
    }
}
