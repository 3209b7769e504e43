//! OTLP/JSON trace exports: the `ExportTraceServiceRequest` JSON encoding.
//!
//! Spans are kept raw until the importer parses them one by one, so one malformed span
//! is rejected with its reason while the rest of its batch imports.

mod attrs;
mod reader;

pub use attrs::{Attributes, expand_json_text, flatten, flatten_json};
pub use reader::{Batch, DocumentReader, ReadError};

use serde::Deserialize;
use serde::de::{self, Deserializer};

/// One OTLP span, as the JSON encoding writes it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    #[serde(default)]
    pub parent_span_id: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub kind: Option<serde_json::Value>,
    #[serde(deserialize_with = "nanos")]
    pub start_time_unix_nano: i64,
    #[serde(deserialize_with = "nanos")]
    pub end_time_unix_nano: i64,
    #[serde(default)]
    pub attributes: Vec<KeyValue>,
    #[serde(default)]
    pub events: Vec<Event>,
    #[serde(default)]
    pub status: Option<Status>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub attributes: Vec<KeyValue>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Status {
    /// 0 unset, 1 ok, 2 error; JSON may spell it `"STATUS_CODE_ERROR"`.
    #[serde(default)]
    pub code: Option<serde_json::Value>,
    #[serde(default)]
    pub message: Option<String>,
}

impl Status {
    pub fn is_error(&self) -> bool {
        match &self.code {
            Some(serde_json::Value::Number(n)) => n.as_i64() == Some(2),
            Some(serde_json::Value::String(s)) => s == "STATUS_CODE_ERROR" || s == "2",
            _ => false,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct KeyValue {
    pub key: String,
    #[serde(default)]
    pub value: Option<AnyValue>,
}

/// OTLP `AnyValue`: exactly one of its fields is set.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnyValue {
    #[serde(default)]
    pub string_value: Option<String>,
    #[serde(default)]
    pub bool_value: Option<bool>,
    #[serde(default, deserialize_with = "opt_int")]
    pub int_value: Option<i64>,
    #[serde(default)]
    pub double_value: Option<f64>,
    #[serde(default)]
    pub array_value: Option<ArrayValue>,
    #[serde(default)]
    pub kvlist_value: Option<KvList>,
    #[serde(default)]
    pub bytes_value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ArrayValue {
    #[serde(default)]
    pub values: Vec<AnyValue>,
}

#[derive(Debug, Default, Deserialize)]
pub struct KvList {
    #[serde(default)]
    pub values: Vec<KeyValue>,
}

/// Integers are strings in OTLP/JSON (64-bit safety) but some writers use numbers.
/// A visitor rather than an untagged enum: this runs for every span and attribute.
struct IntVisitor;

impl de::Visitor<'_> for IntVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an integer or a string holding one")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom(format!("integer out of range: {v}")))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<i64, E> {
        s.parse()
            .map_err(|_| E::custom(format!("not an integer: {s:?}")))
    }
}

/// Nanoseconds since 1970: never negative (OTLP's `fixed64`), so that `end - start`
/// cannot overflow later.
fn nanos<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let ns = d.deserialize_any(IntVisitor)?;
    if ns < 0 {
        return Err(de::Error::custom(format!("a negative time: {ns}")));
    }
    Ok(ns)
}

fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct Opt;
    impl<'de> de::Visitor<'de> for Opt {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an optional integer")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(IntVisitor).map(Some)
        }
    }
    d.deserialize_option(Opt)
}

/// Parses the span kind, which OTLP/JSON writes as a number or as `SPAN_KIND_*`.
pub fn span_kind_name(kind: Option<&serde_json::Value>) -> &'static str {
    let code = match kind {
        Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(serde_json::Value::String(s)) => match s.as_str() {
            "SPAN_KIND_INTERNAL" => 1,
            "SPAN_KIND_SERVER" => 2,
            "SPAN_KIND_CLIENT" => 3,
            "SPAN_KIND_PRODUCER" => 4,
            "SPAN_KIND_CONSUMER" => 5,
            _ => 0,
        },
        _ => 0,
    };
    match code {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "unspecified",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_not_negative() {
        // A start at i64::MIN and an end at i64::MAX passed the order check and then
        // overflowed `end - start` in `duration_ms` (a panic in debug builds).
        let span = |start: &str| {
            serde_json::from_str::<Span>(&format!(
                r#"{{"traceId":"t","spanId":"s","startTimeUnixNano":{start},"endTimeUnixNano":"9223372036854775807"}}"#
            ))
        };
        let err = span(r#""-9223372036854775808""#).unwrap_err().to_string();
        assert!(err.contains("a negative time"), "{err}");
        assert!(span("-1").is_err());
        assert_eq!(span(r#""0""#).unwrap().start_time_unix_nano, 0);
    }
}
