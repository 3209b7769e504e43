//! From a request body to span records: content types, gzip, protobuf and OTLP/JSON.
//!
//! A body that cannot be read as a whole is refused (400) and nothing of it imports; a
//! readable body whose spans are partly malformed imports the rest and counts the others
//! (OTLP's `partial_success`).

use std::io::Read;
use std::sync::Arc;

use prost::Message;
use prost::bytes::Bytes;

use super::proto;
use crate::ingest::{Extractor, Resource, SpanRecord, content_hash};
use crate::otlp::{self, Attributes, DocumentReader};

/// How many rejected spans are named in `partial_success.error_message`.
const NAMED_REJECTIONS: usize = 5;

/// The two encodings of OTLP/HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// From a `Content-Type` header value; parameters (`; charset=utf-8`) are ignored.
    pub fn from_content_type(value: &str) -> Option<Self> {
        let media = value.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/x-protobuf")
            || media.eq_ignore_ascii_case("application/protobuf")
        {
            Some(Self::Protobuf)
        } else if media.eq_ignore_ascii_case("application/json") {
            Some(Self::Json)
        } else {
            None
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// What a request body held.
#[derive(Debug, Default)]
pub struct Decoded {
    pub records: Vec<SpanRecord>,
    pub rejected: u64,
    /// The first rejections with their reasons.
    pub problems: Vec<String>,
}

impl Decoded {
    fn reject(&mut self, reason: String) {
        self.rejected += 1;
        if self.problems.len() < NAMED_REJECTIONS {
            self.problems.push(reason);
        }
    }

    /// `partial_success.error_message`: the first reasons, and how many more.
    pub fn error_message(&self) -> String {
        let mut text = self.problems.join("; ");
        let more = self.rejected as usize - self.problems.len();
        if more > 0 {
            text.push_str(&format!("; and {more} more"));
        }
        text
    }
}

/// Why a body was refused as a whole.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not readable in its declared encoding (400).
    Malformed(String),
    /// Larger than the limit once decompressed (413).
    TooLarge(usize),
}

/// Decompresses a gzip body, refusing one that inflates beyond `limit` bytes.
pub fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity((body.len() * 4).min(limit));
    flate2::read::MultiGzDecoder::new(body)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Malformed(format!("gzip body: {e}")))?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge(limit));
    }
    Ok(out)
}

/// Reads every span of a body in `encoding`.
pub fn decode(
    extractor: &Extractor,
    encoding: Encoding,
    body: Bytes,
) -> Result<Decoded, DecodeError> {
    match encoding {
        Encoding::Protobuf => protobuf(extractor, body),
        Encoding::Json => json(extractor, &body),
    }
    .map_err(DecodeError::Malformed)
}

fn protobuf(extractor: &Extractor, body: Bytes) -> Result<Decoded, String> {
    let request = proto::RawExportTraceServiceRequest::decode(body)
        .map_err(|e| format!("not a protobuf ExportTraceServiceRequest: {e}"))?;
    let mut out = Decoded::default();
    let mut index = 0;
    for rs in request.resource_spans {
        let mut attrs = Attributes::new();
        if let Some(r) = rs.resource {
            otlp::flatten(proto::key_values(r.attributes), &mut attrs);
        }
        let resource = Resource::new(attrs);
        for raw in rs.scope_spans.into_iter().flat_map(|ss| ss.spans) {
            let hash = content_hash(&resource, &raw);
            let span = proto::Span::decode(raw).map_err(|e| e.to_string());
            let label = match &span {
                Ok(s) if s.span_id.len() == 8 => format!("#{index} ({})", hex::encode(&s.span_id)),
                _ => format!("#{index}"),
            };
            match span
                .and_then(proto::Span::into_otlp)
                .and_then(|s| extractor.record_span(&resource, s, hash))
            {
                Ok(record) => out.records.push(record),
                Err(reason) => out.reject(format!("span {label}: {reason}")),
            }
            index += 1;
        }
    }
    Ok(out)
}

fn json(extractor: &Extractor, body: &[u8]) -> Result<Decoded, String> {
    let mut out = Decoded::default();
    let mut failed = None;
    let mut index = 0;
    let Ok(()) = DocumentReader::new(body).read::<std::convert::Infallible>(
        |batch| {
            let resource: Arc<Resource> = Resource::new(batch.resource);
            for raw in &batch.spans {
                match extractor.record(&resource, raw.get()) {
                    Ok(record) => out.records.push(record),
                    Err(reason) => out.reject(format!("span #{index}: {reason}")),
                }
                index += 1;
            }
            Ok(())
        },
        |e| {
            failed.get_or_insert(e.to_string());
        },
    );
    match failed {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Detection, VersionMapping};
    use crate::model::SpanKind;
    use proto::any_value::Value;
    use std::io::Write;

    fn extractor() -> Extractor {
        Extractor::new(&VersionMapping::default(), &Detection::default())
    }

    fn kv(key: &str, value: Value) -> proto::KeyValue {
        proto::KeyValue {
            key: key.into(),
            value: Some(proto::AnyValue { value: Some(value) }),
        }
    }

    fn span(trace: &[u8], span: u8, parent: Option<u8>) -> proto::Span {
        proto::Span {
            trace_id: trace.to_vec(),
            span_id: vec![span; 8],
            parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
            name: "chat m-1".into(),
            kind: 3,
            start_time_unix_nano: 1_000_000_000,
            end_time_unix_nano: 1_250_000_000,
            attributes: vec![
                kv("gen_ai.operation.name", Value::StringValue("chat".into())),
                kv("gen_ai.request.model", Value::StringValue("m-1".into())),
                kv("gen_ai.usage.input_tokens", Value::IntValue(120)),
                kv(
                    "gen_ai.response.finish_reasons",
                    Value::ArrayValue(proto::ArrayValue {
                        values: vec![proto::AnyValue {
                            value: Some(Value::StringValue("content_filter".into())),
                        }],
                    }),
                ),
                kv(
                    "llm",
                    Value::KvlistValue(proto::KeyValueList {
                        values: vec![kv("cost.total", Value::DoubleValue(0.25))],
                    }),
                ),
            ],
            events: vec![proto::Event {
                name: "guardrail.blocked".into(),
                ..Default::default()
            }],
            status: Some(proto::Status {
                message: "filtered".into(),
                code: 2,
            }),
            ..Default::default()
        }
    }

    fn request(spans: Vec<proto::Span>) -> proto::ExportTraceServiceRequest {
        proto::ExportTraceServiceRequest {
            resource_spans: vec![proto::ResourceSpans {
                resource: Some(proto::Resource {
                    attributes: vec![kv("service.version", Value::StringValue("v7".into()))],
                    dropped_attributes_count: 0,
                }),
                scope_spans: vec![proto::ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
        }
    }

    const TRACE: [u8; 16] = [0xa1; 16];

    #[test]
    fn protobuf_request_becomes_records_with_hex_ids() {
        let body = request(vec![span(&TRACE, 1, None), span(&TRACE, 2, Some(1))]).encode_to_vec();
        let d = decode(&extractor(), Encoding::Protobuf, body.into()).unwrap();
        assert_eq!((d.records.len(), d.rejected), (2, 0));
        let (root, child) = (&d.records[0], &d.records[1]);
        assert_eq!(root.trace_id, "a1".repeat(16));
        assert_eq!(root.facts.span_id, "0101010101010101");
        assert_eq!(
            child.facts.parent_span_id.as_deref(),
            Some("0101010101010101")
        );
        let f = &root.facts;
        assert_eq!(f.kind, SpanKind::Llm);
        assert_eq!((f.model.as_deref(), f.tokens_in), (Some("m-1"), 120));
        assert_eq!(f.cost_usd, 0.25, "kvlist values flatten to dotted keys");
        assert!(f.error && f.refusal);
        assert_eq!(f.safety_events, 2, "finish reason and guardrail event");
        assert_eq!(f.status_message.as_deref(), Some("filtered"));
        assert_eq!(f.duration_ms(), 250.0);
        assert_eq!(f.version.label.as_deref(), Some("v7"));
        assert_ne!(root.content_hash, child.content_hash);
    }

    #[test]
    fn the_same_bytes_hash_alike() {
        let body = request(vec![span(&TRACE, 1, None)]).encode_to_vec();
        let e = extractor();
        let a = decode(&e, Encoding::Protobuf, body.clone().into()).unwrap();
        let b = decode(&e, Encoding::Protobuf, body.into()).unwrap();
        assert_eq!(a.records[0].content_hash, b.records[0].content_hash);
    }

    #[test]
    fn bad_spans_are_rejected_alone_with_their_reason() {
        let mut late = span(&TRACE, 4, None);
        late.end_time_unix_nano = 1;
        let body = request(vec![
            span(&TRACE, 1, None),
            span(&[7; 11], 2, None),
            late,
            span(&TRACE, 3, Some(1)),
        ])
        .encode_to_vec();
        let d = decode(&extractor(), Encoding::Protobuf, body.into()).unwrap();
        assert_eq!((d.records.len(), d.rejected), (2, 2));
        assert_eq!(
            d.error_message(),
            "span #1 (0202020202020202): traceId is 11 bytes, not 16; \
             span #2 (0404040404040404): endTimeUnixNano is before startTimeUnixNano"
        );
    }

    #[test]
    fn a_span_that_is_not_a_span_is_rejected_and_the_rest_kept() {
        let mut body = request(vec![span(&TRACE, 1, None)]);
        body.resource_spans[0].scope_spans[0]
            .spans
            .push(span(&TRACE, 2, None));
        let mut bytes = body.encode_to_vec();
        // Corrupt the second span's name tag (field 5, wire type 2) into field 5, wire
        // type 7, which does not exist.
        let second = bytes.len() - span(&TRACE, 2, None).encoded_len();
        let pos = bytes[second..].iter().position(|&b| b == 0x2a).unwrap() + second;
        bytes[pos] = 0x2f;
        let d = decode(&extractor(), Encoding::Protobuf, bytes.into()).unwrap();
        assert_eq!((d.records.len(), d.rejected), (1, 1));
        assert!(d.problems[0].starts_with("span #1: "), "{:?}", d.problems);
    }

    #[test]
    fn garbage_is_malformed_not_empty() {
        let e = extractor();
        assert!(matches!(
            decode(&e, Encoding::Protobuf, Bytes::from_static(b"\xff\xff\xff")),
            Err(DecodeError::Malformed(m)) if m.contains("ExportTraceServiceRequest")
        ));
        assert!(matches!(
            decode(
                &e,
                Encoding::Json,
                Bytes::from_static(b"{\"resourceSpans\": [")
            ),
            Err(DecodeError::Malformed(_))
        ));
        let empty = decode(&e, Encoding::Protobuf, Bytes::new()).unwrap();
        assert_eq!((empty.records.len(), empty.rejected), (0, 0));
    }

    #[test]
    fn json_bodies_read_as_the_importer_reads_files() {
        let body = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.version","value":{"stringValue":"v2"}}]},
            "scopeSpans":[{"spans":[
              {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"a",
               "startTimeUnixNano":"1","endTimeUnixNano":"2"},
              {"traceId":"0af7","spanId":"b7ad6b7169203332","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}"#;
        let d = decode(&extractor(), Encoding::Json, Bytes::from(body)).unwrap();
        assert_eq!((d.records.len(), d.rejected), (1, 1));
        assert_eq!(d.records[0].facts.version.label.as_deref(), Some("v2"));
        assert_eq!(d.error_message(), "span #1: traceId is not 32 hex digits");
    }

    #[test]
    fn gzip_inflates_within_the_limit_only() {
        let plain = request(vec![span(&TRACE, 1, None)]).encode_to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(gunzip(&gz, 1 << 20).unwrap(), plain);
        assert_eq!(gunzip(&gz, 10), Err(DecodeError::TooLarge(10)));
        assert!(matches!(
            gunzip(b"not gzip", 100),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn content_types_with_parameters() {
        let e = Encoding::from_content_type;
        assert_eq!(e("application/json; charset=utf-8"), Some(Encoding::Json));
        assert_eq!(e("Application/X-Protobuf"), Some(Encoding::Protobuf));
        assert_eq!(e("text/plain"), None);
    }
}
