//! The OTLP protobuf messages the receiver needs, written by hand with the field numbers
//! of opentelemetry-proto (`collector/trace/v1/trace_service.proto`,
//! `trace/v1/trace.proto`, `common/v1/common.proto`, `resource/v1/resource.proto`) and
//! `google.rpc.Status`. Enumerations (span kind, status code) are plain `int32`s, which
//! is how they travel on the wire.
//!
//! Clients (tests, the load generator) encode the full messages; the receiver decodes
//! [`RawExportTraceServiceRequest`], which keeps each span as its encoded bytes, so that
//! one malformed span is rejected alone and unchanged spans hash alike.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use prost::bytes::Bytes;

pub use prost::Message;

use crate::otlp;

/// `opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct ExportTraceServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<ResourceSpans>,
}

/// `opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct ExportTraceServiceResponse {
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportTracePartialSuccess>,
}

/// `opentelemetry.proto.collector.trace.v1.ExportTracePartialSuccess`.
#[derive(Clone, PartialEq, Message)]
pub struct ExportTracePartialSuccess {
    #[prost(int64, tag = "1")]
    pub rejected_spans: i64,
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// `google.rpc.Status`, less its `details` (field 3), which the receiver never sends.
#[derive(Clone, PartialEq, Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct ResourceSpans {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_spans: Vec<ScopeSpans>,
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
    #[prost(uint32, tag = "2")]
    pub dropped_attributes_count: u32,
}

#[derive(Clone, PartialEq, Message)]
pub struct ScopeSpans {
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    #[prost(message, repeated, tag = "2")]
    pub spans: Vec<Span>,
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct InstrumentationScope {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub version: String,
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
    #[prost(uint32, tag = "4")]
    pub dropped_attributes_count: u32,
}

/// `opentelemetry.proto.trace.v1.Span`.
#[derive(Clone, PartialEq, Message)]
pub struct Span {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    #[prost(string, tag = "3")]
    pub trace_state: String,
    #[prost(bytes = "vec", tag = "4")]
    pub parent_span_id: Vec<u8>,
    #[prost(fixed32, tag = "16")]
    pub flags: u32,
    #[prost(string, tag = "5")]
    pub name: String,
    /// `SpanKind`: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    #[prost(int32, tag = "6")]
    pub kind: i32,
    #[prost(fixed64, tag = "7")]
    pub start_time_unix_nano: u64,
    #[prost(fixed64, tag = "8")]
    pub end_time_unix_nano: u64,
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    #[prost(uint32, tag = "10")]
    pub dropped_attributes_count: u32,
    #[prost(message, repeated, tag = "11")]
    pub events: Vec<Event>,
    #[prost(uint32, tag = "12")]
    pub dropped_events_count: u32,
    #[prost(message, repeated, tag = "13")]
    pub links: Vec<Link>,
    #[prost(uint32, tag = "14")]
    pub dropped_links_count: u32,
    #[prost(message, optional, tag = "15")]
    pub status: Option<Status>,
}

/// `opentelemetry.proto.trace.v1.Span.Event`.
#[derive(Clone, PartialEq, Message)]
pub struct Event {
    #[prost(fixed64, tag = "1")]
    pub time_unix_nano: u64,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
    #[prost(uint32, tag = "4")]
    pub dropped_attributes_count: u32,
}

/// `opentelemetry.proto.trace.v1.Span.Link`.
#[derive(Clone, PartialEq, Message)]
pub struct Link {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    #[prost(string, tag = "3")]
    pub trace_state: String,
    #[prost(message, repeated, tag = "4")]
    pub attributes: Vec<KeyValue>,
    #[prost(uint32, tag = "5")]
    pub dropped_attributes_count: u32,
    #[prost(fixed32, tag = "6")]
    pub flags: u32,
}

/// `opentelemetry.proto.trace.v1.Status` (field 1 is reserved).
#[derive(Clone, PartialEq, Message)]
pub struct Status {
    #[prost(string, tag = "2")]
    pub message: String,
    /// `StatusCode`: 0 unset, 1 ok, 2 error.
    #[prost(int32, tag = "3")]
    pub code: i32,
}

#[derive(Clone, PartialEq, Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct AnyValue {
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<any_value::Value>,
}

pub mod any_value {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        #[prost(string, tag = "1")]
        StringValue(String),
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        #[prost(int64, tag = "3")]
        IntValue(i64),
        #[prost(double, tag = "4")]
        DoubleValue(f64),
        #[prost(message, tag = "5")]
        ArrayValue(super::ArrayValue),
        #[prost(message, tag = "6")]
        KvlistValue(super::KeyValueList),
        #[prost(bytes = "vec", tag = "7")]
        BytesValue(Vec<u8>),
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct ArrayValue {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct KeyValueList {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}

/// The request as the receiver reads it: resources decoded, spans left encoded.
#[derive(Clone, PartialEq, Message)]
pub struct RawExportTraceServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<RawResourceSpans>,
}

#[derive(Clone, PartialEq, Message)]
pub struct RawResourceSpans {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_spans: Vec<RawScopeSpans>,
}

/// A `ScopeSpans` whose spans are their encoded bytes: a message and a `bytes` field
/// share the wire type, and slices of the request body cost no copy.
#[derive(Clone, PartialEq, Message)]
pub struct RawScopeSpans {
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub spans: Vec<Bytes>,
}

impl Span {
    /// The span in the form the importer's extractor reads, ids as lower-case hex; the
    /// error says which field is unusable.
    pub fn into_otlp(self) -> Result<otlp::Span, String> {
        let id = |bytes: &[u8], len: usize, field: &str| {
            if bytes.len() == len {
                Ok(hex::encode(bytes))
            } else {
                Err(format!("{field} is {} bytes, not {len}", bytes.len()))
            }
        };
        let nanos = |ns: u64, field: &str| {
            i64::try_from(ns).map_err(|_| format!("{field} is out of range: {ns}"))
        };
        Ok(otlp::Span {
            trace_id: id(&self.trace_id, 16, "traceId")?,
            span_id: id(&self.span_id, 8, "spanId")?,
            parent_span_id: if self.parent_span_id.is_empty() {
                None
            } else {
                Some(id(&self.parent_span_id, 8, "parentSpanId")?)
            },
            name: self.name,
            kind: (self.kind != 0).then(|| self.kind.into()),
            start_time_unix_nano: nanos(self.start_time_unix_nano, "startTimeUnixNano")?,
            end_time_unix_nano: nanos(self.end_time_unix_nano, "endTimeUnixNano")?,
            attributes: key_values(self.attributes),
            events: self
                .events
                .into_iter()
                .map(|e| otlp::Event {
                    name: e.name,
                    attributes: key_values(e.attributes),
                })
                .collect(),
            status: self.status.map(|s| otlp::Status {
                code: Some(s.code.into()),
                message: Some(s.message).filter(|m| !m.is_empty()),
            }),
        })
    }
}

/// Key-values in the importer's form.
pub fn key_values(kvs: Vec<KeyValue>) -> Vec<otlp::KeyValue> {
    kvs.into_iter()
        .map(|kv| otlp::KeyValue {
            key: kv.key,
            value: kv.value.map(any_value),
        })
        .collect()
}

fn any_value(v: AnyValue) -> otlp::AnyValue {
    use any_value::Value;
    let mut out = otlp::AnyValue {
        string_value: None,
        bool_value: None,
        int_value: None,
        double_value: None,
        array_value: None,
        kvlist_value: None,
        bytes_value: None,
    };
    match v.value {
        Some(Value::StringValue(s)) => out.string_value = Some(s),
        Some(Value::BoolValue(b)) => out.bool_value = Some(b),
        Some(Value::IntValue(i)) => out.int_value = Some(i),
        Some(Value::DoubleValue(d)) => out.double_value = Some(d),
        Some(Value::ArrayValue(a)) => {
            out.array_value = Some(otlp::ArrayValue {
                values: a.values.into_iter().map(any_value).collect(),
            });
        }
        Some(Value::KvlistValue(l)) => {
            out.kvlist_value = Some(otlp::KvList {
                values: key_values(l.values),
            });
        }
        // OTLP/JSON writes bytes as base64; the importer keeps them as that string.
        Some(Value::BytesValue(b)) => out.bytes_value = Some(STANDARD.encode(&b)),
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_scope_spans_read_the_spans_of_a_full_message_as_bytes() {
        let span = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "s".into(),
            ..Span::default()
        };
        let full = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "lib".into(),
                        ..Default::default()
                    }),
                    spans: vec![span.clone()],
                    schema_url: String::new(),
                }],
                ..Default::default()
            }],
        };
        let raw = RawExportTraceServiceRequest::decode(Bytes::from(full.encode_to_vec())).unwrap();
        let bytes = &raw.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(bytes.as_ref(), span.encode_to_vec().as_slice());
        assert_eq!(Span::decode(bytes.clone()).unwrap(), span);
    }

    #[test]
    fn ids_must_have_their_byte_length() {
        let span = |trace: usize, parent: usize| Span {
            trace_id: vec![0xab; trace],
            span_id: vec![0xcd; 8],
            parent_span_id: vec![0xef; parent],
            ..Span::default()
        };
        let ok = span(16, 8).into_otlp().unwrap();
        assert_eq!(ok.trace_id, "ab".repeat(16));
        assert_eq!(ok.parent_span_id.as_deref(), Some("efefefefefefefef"));
        assert_eq!(span(16, 0).into_otlp().unwrap().parent_span_id, None);
        assert_eq!(
            span(11, 0).into_otlp().unwrap_err(),
            "traceId is 11 bytes, not 16"
        );
        assert!(
            span(16, 4)
                .into_otlp()
                .unwrap_err()
                .contains("parentSpanId")
        );
    }
}
