//! Fuzzing on stable Rust: bounded property tests over the parsers that read what
//! operators and peers hand relops (OTLP/JSON files and bodies, OTLP protobuf bodies,
//! config files, case files, the console's filter language).
//!
//! Each target replays its committed corpus (`tests/fuzz/corpus/<target>/`: seeds and
//! every crasher found so far), then runs `RELOPS_FUZZ_CASES` generated inputs
//! (default 256): mutations of the seeds, structure-aware edits, and raw bytes. The
//! property is always the same pair: no panic, and an error that names its place
//! (line, column, field) wherever the format has one.
//!
//! A failing case prints its input (`Input(b"…")`); add it to the target's corpus so that
//! every later run replays it.

#[path = "fuzz/mutate.rs"]
mod mutate;

use std::convert::Infallible;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, FileFailurePersistence, TestRunner};
use serde_json::Value;

use mutate::{Input, json_mutated, line_mutated, mutated, raw_bytes, replay};
use relops::cases::{self, Case, Observed};
use relops::collect::proto::{self, Message, any_value};
use relops::collect::{DecodeError, Encoding, decode, gunzip};
use relops::config::{Config, ConfigError, Detection, VersionMapping};
use relops::ingest::{Extractor, Importer, Resource, SpanRecord};
use relops::otlp::DocumentReader;
use relops::store::query::VersionRow;
use relops::tui::filter::FilterSpec;

/// Generated cases per target (the corpus replays on top).
fn cases() -> u32 {
    std::env::var("RELOPS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Runs `check` on `strategy`'s inputs; a failure is shrunk and printed.
fn fuzz(strategy: impl Strategy<Value = Input>, check: impl Fn(&Input) -> Result<(), String>) {
    let config = RunnerConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/fuzz/proptest-regressions.txt",
        ))),
        max_shrink_iters: 2048,
        ..RunnerConfig::default()
    };
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, |input| {
        check(&input).map_err(TestCaseError::fail)
    }) {
        panic!("{e}");
    }
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    mutate::corpus(target).into_iter().map(|(_, b)| b).collect()
}

fn json_seeds(target: &str) -> Vec<Value> {
    mutate::corpus(target)
        .into_iter()
        .filter_map(|(_, b)| {
            let text = String::from_utf8(b).ok()?;
            serde_json::from_str(&text).ok().or_else(|| {
                // JSON Lines: one array item per line.
                let lines: Option<Vec<Value>> =
                    text.lines().map(|l| serde_json::from_str(l).ok()).collect();
                lines.filter(|l| l.len() > 1).map(Value::Array)
            })
        })
        .collect()
}

fn extractor() -> Extractor {
    Extractor::new(&VersionMapping::default(), &Detection::default())
}

// ─── OTLP/JSON: the importer's reader and extractor, and the receiver's JSON body ──────

const JSON_TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\n",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"\xff",
    b"\xc3",
    b"null",
    b"-9223372036854775808",
    b"18446744073709551616",
    b"1e999",
    b"\"-1\"",
    b"{\"resourceSpans\":[",
    b"\"spans\":[{}]",
    b"\"intValue\":\"x\"",
    b"\"startTimeUnixNano\":\"-9223372036854775808\"",
    b"\"endTimeUnixNano\":\"9223372036854775807\"",
];

/// What the importer's parsing half makes of an input, checked as it goes.
#[derive(Debug, Default)]
struct Imported {
    records: u64,
    rejected_spans: u64,
    read_errors: u64,
    /// (trace id, span id) of the records: the cache keeps one row per key.
    keys: std::collections::BTreeSet<(String, String)>,
}

fn import_pure(bytes: &[u8]) -> Result<Imported, String> {
    let lines = bytes.split(|b| *b == b'\n').count();
    let ex = extractor();
    let mut out = Imported::default();
    let mut problem = None;
    let mut errors = Vec::new();
    let Ok(()) = DocumentReader::new(bytes).read::<Infallible>(
        |batch| {
            let resource = Resource::new(batch.resource);
            for raw in &batch.spans {
                match ex.record(&resource, raw.get()) {
                    Ok(rec) => {
                        out.records += 1;
                        out.keys
                            .insert((rec.trace_id.clone(), rec.facts.span_id.clone()));
                        if let Err(why) = check_record(&rec) {
                            problem.get_or_insert(why);
                        }
                    }
                    Err(reason) if reason.is_empty() => {
                        problem.get_or_insert("a span rejected without a reason".into());
                    }
                    Err(_) => out.rejected_spans += 1,
                }
            }
            Ok(())
        },
        |e| errors.push(e),
    );
    if let Some(why) = problem {
        return Err(why);
    }
    for e in &errors {
        match e.line {
            Some(l) if (1..=lines + 1).contains(&l) && !e.message.is_empty() => {}
            _ => {
                return Err(format!(
                    "read error without a usable place: {e:?} ({lines} lines)"
                ));
            }
        }
    }
    out.read_errors = errors.len() as u64;
    Ok(out)
}

/// What every record must be, whatever the input: ids normalised, time running forward,
/// attributes valid JSON.
fn check_record(r: &SpanRecord) -> Result<(), String> {
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let f = &r.facts;
    if !hex(&r.trace_id, 32) || !hex(&f.span_id, 16) {
        return Err(format!("ids not normalised: {} {}", r.trace_id, f.span_id));
    }
    if f.parent_span_id.as_deref().is_some_and(|p| !hex(p, 16)) {
        return Err(format!("parent id not normalised: {:?}", f.parent_span_id));
    }
    if f.start_ns < 0 || f.end_ns < f.start_ns {
        return Err(format!("times out of order: {} {}", f.start_ns, f.end_ns));
    }
    let d = f.duration_ms();
    if !(d.is_finite() && d >= 0.0) {
        return Err(format!("duration {d}"));
    }
    serde_json::from_str::<Value>(&r.attributes).map_err(|e| format!("attributes: {e}"))?;
    Ok(())
}

/// The receiver reads a JSON body as the importer reads a file: a body the importer
/// reads without error gives the same records and rejections.
fn check_otlp_json(input: &Input) -> Result<(), String> {
    let imported = import_pure(&input.0)?;
    match decode(&extractor(), Encoding::Json, input.0.clone().into()) {
        Ok(d) => {
            let seen = (d.records.len() as u64, d.rejected);
            let want = (imported.records, imported.rejected_spans);
            if imported.read_errors == 0 && seen != want {
                return Err(format!("receiver {seen:?} vs importer {want:?}"));
            }
            d.error_message();
        }
        Err(DecodeError::Malformed(m)) if !m.is_empty() => {}
        Err(e) => return Err(format!("unexpected refusal {e:?}")),
    }
    Ok(())
}

#[test]
fn otlp_json_corpus_replays_and_imports_into_a_real_cache() {
    replay("otlp_json", check_otlp_json);
    // The whole importer, writer thread and SQLite cache included, agrees with its
    // parsing half on every corpus file.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::parse("", Path::new("relops.toml")).expect("empty config");
    for (i, (path, bytes)) in mutate::corpus("otlp_json").into_iter().enumerate() {
        let mut writer =
            relops::store::open_writer(&dir.path().join(format!("c{i}.db"))).expect("cache opens");
        let mut importer = Importer::new(&mut writer, &config, "fuzz");
        importer
            .import_reader(&bytes[..], &path.display().to_string())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let s = &importer.summary;
        let pure = import_pure(&bytes).expect("checked above");
        let c = &s.counts;
        assert_eq!(
            (c.inserted + c.updated + c.unchanged, s.rejected),
            (
                pure.keys.len() as u64,
                pure.rejected_spans + pure.read_errors
            ),
            "{}",
            path.display()
        );
    }
}

#[test]
fn otlp_json_mutated_seeds() {
    fuzz(mutated(seeds("otlp_json"), JSON_TOKENS, 8), check_otlp_json);
}

#[test]
fn otlp_json_structure_aware() {
    let lines = json_seeds("otlp_json")
        .into_iter()
        .filter(Value::is_array)
        .collect();
    let docs = json_seeds("otlp_json")
        .into_iter()
        .filter(Value::is_object)
        .collect();
    fuzz(
        prop_oneof![json_mutated(lines, true), json_mutated(docs, false)],
        check_otlp_json,
    );
}

#[test]
fn otlp_json_raw_bytes() {
    fuzz(raw_bytes(), check_otlp_json);
}

/// A well-formed span of any content imports: nothing in its attributes, names or
/// values rejects it.
#[test]
fn otlp_json_valid_spans_all_import() {
    let strategy = prop::collection::vec(valid_request(), 1..4).prop_map(|requests| {
        let lines: Vec<String> = requests.iter().map(Value::to_string).collect();
        Input(lines.join("\n").into_bytes())
    });
    fuzz(strategy, |input| {
        let text = input.text();
        let spans: u64 = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("generated JSON"))
            .map(|v| count_spans(&v))
            .sum();
        let got = import_pure(&input.0)?;
        if (got.records, got.rejected_spans, got.read_errors) != (spans, 0, 0) {
            return Err(format!("{got:?}, expected {spans} records"));
        }
        Ok(())
    });
}

fn count_spans(request: &Value) -> u64 {
    request["resourceSpans"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|rs| rs["scopeSpans"].as_array().into_iter().flatten())
        .map(|ss| ss["spans"].as_array().map_or(0, |s| s.len() as u64))
        .sum()
}

fn valid_request() -> impl Strategy<Value = Value> {
    let spans = prop::collection::vec(valid_span(), 0..4);
    let scopes = prop::collection::vec(spans.prop_map(|s| serde_json::json!({"spans": s})), 0..3);
    let resources = prop::collection::vec(
        (prop::collection::vec(key_value(), 0..4), scopes).prop_map(|(attrs, scopes)| {
            serde_json::json!({"resource": {"attributes": attrs}, "scopeSpans": scopes})
        }),
        0..3,
    );
    resources.prop_map(|r| serde_json::json!({ "resourceSpans": r }))
}

fn valid_span() -> impl Strategy<Value = Value> {
    let id = |n: usize| prop::collection::vec(any::<u8>(), n).prop_map(hex::encode);
    (
        id(16),
        id(8),
        prop::option::of(id(8)),
        0..=i64::MAX,
        0..=i64::MAX,
        mutate::nasty_string(),
        prop::collection::vec(key_value(), 0..6),
        prop::option::of(0..3i64),
    )
        .prop_map(|(trace, span, parent, a, b, name, attrs, code)| {
            let (start, end) = (a.min(b), a.max(b));
            let mut v = serde_json::json!({
                "traceId": trace, "spanId": span, "name": name,
                "startTimeUnixNano": start.to_string(), "endTimeUnixNano": end,
                "attributes": attrs,
            });
            if let Some(p) = parent {
                v["parentSpanId"] = p.into();
            }
            if let Some(c) = code {
                v["status"] = serde_json::json!({ "code": c });
            }
            v
        })
}

fn key_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "gen_ai.operation.name",
            "gen_ai.request.model",
            "gen_ai.usage.input_tokens",
            "gen_ai.response.finish_reasons",
            "openinference.span.kind",
            "retrieval.documents",
            "retrieval.documents.0.document.score",
            "relops.retrieval.count",
            "tool.name",
            "input.value",
            "output.value",
            "service.version",
            "relops.tool.search.version",
        ])
        .prop_map(str::to_string),
        mutate::nasty_string(),
    ];
    (key, any_value_json()).prop_map(|(k, v)| serde_json::json!({"key": k, "value": v}))
}

fn any_value_json() -> impl Strategy<Value = Value> {
    use serde_json::json;
    let leaf = prop_oneof![
        mutate::nasty_string().prop_map(|s| json!({ "stringValue": s })),
        any::<bool>().prop_map(|b| json!({ "boolValue": b })),
        any::<i64>().prop_map(|i| json!({ "intValue": i.to_string() })),
        any::<i64>().prop_map(|i| json!({ "intValue": i })),
        any::<f64>().prop_map(|d| json!({ "doubleValue": d })),
        mutate::nasty_string().prop_map(|s| json!({ "bytesValue": s })),
        Just(json!({})),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| json!({ "arrayValue": { "values": v } })),
            prop::collection::vec((mutate::nasty_string(), inner), 0..4).prop_map(|kvs| {
                let values: Vec<Value> = kvs
                    .into_iter()
                    .map(|(k, v)| json!({"key": k, "value": v}))
                    .collect();
                json!({ "kvlistValue": { "values": values } })
            }),
        ]
    })
}

// ─── OTLP protobuf: the receiver's decoder ────────────────────────────────────────────

const PROTO_TOKENS: &[&[u8]] = &[
    &[0x0a],
    &[0x12],
    &[0x1a],
    &[0x2a],
    &[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    &[0x80],
    &[0x00],
    &[0x0f],
    &[0x0a, 0x00],
    &[0x41, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    &[0xc3, 0x28],
];

/// A body in either encoding is decoded or refused as malformed; what it yields is
/// sound, and every rejection is counted and said.
fn check_protobuf(input: &Input) -> Result<(), String> {
    for body in [input.0.clone(), gzip(&input.0)] {
        let body = match gunzip(&body, 1 << 20) {
            Ok(plain) => plain,
            Err(DecodeError::TooLarge(_)) => return Err("a small body inflated too far".into()),
            Err(DecodeError::Malformed(_)) => body,
        };
        match decode(&extractor(), Encoding::Protobuf, body.into()) {
            Ok(d) => {
                for r in &d.records {
                    check_record(r)?;
                }
                if d.problems.len() as u64 > d.rejected || (d.rejected > 0) == d.problems.is_empty()
                {
                    return Err(format!("{} rejected, {:?}", d.rejected, d.problems));
                }
                d.error_message();
            }
            Err(DecodeError::Malformed(m)) if m.contains("ExportTraceServiceRequest") => {}
            Err(e) => return Err(format!("unexpected refusal {e:?}")),
        }
    }
    // Any bytes as a gzip body: inflated within the limit or refused, never more.
    match gunzip(&input.0, 4096) {
        Ok(plain) if plain.len() > 4096 => Err("gunzip went past its limit".into()),
        Ok(_) | Err(DecodeError::TooLarge(4096)) | Err(DecodeError::Malformed(_)) => Ok(()),
        Err(e) => Err(format!("unexpected gunzip error {e:?}")),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).expect("in memory");
    gz.finish().expect("in memory")
}

#[test]
fn protobuf_corpus_replays() {
    replay("protobuf", check_protobuf);
}

#[test]
fn protobuf_mutated_seeds() {
    fuzz(mutated(seeds("protobuf"), PROTO_TOKENS, 8), check_protobuf);
}

#[test]
fn protobuf_raw_bytes() {
    fuzz(raw_bytes(), check_protobuf);
}

/// Structured requests of any content, encoded and then mutated: the decoder keeps
/// every span whose ids and times are usable, and names each one it rejects.
#[test]
fn protobuf_structure_aware() {
    let strategy =
        (request_proto(), prop::collection::vec(any::<u8>(), 0..3)).prop_map(|(request, noise)| {
            let mut bytes = request.encode_to_vec();
            // A little trailing noise now and then: an unknown field or a broken tag.
            bytes.extend(noise);
            Input(bytes)
        });
    fuzz(strategy, check_protobuf);
    fuzz_request(request_proto(), |request| {
        let want = request
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .filter(|s| usable(s))
            .count();
        let body = request.encode_to_vec();
        let d = decode(&extractor(), Encoding::Protobuf, body.into())
            .map_err(|e| format!("a well-formed request refused: {e:?}"))?;
        let total = want as u64 + d.rejected;
        if d.records.len() != want || total != span_count(request) {
            return Err(format!(
                "{} records and {} rejected, expected {want} of {}: {:?}",
                d.records.len(),
                d.rejected,
                span_count(request),
                d.problems
            ));
        }
        Ok(())
    });
}

fn span_count(r: &proto::ExportTraceServiceRequest) -> u64 {
    let spans = r.resource_spans.iter().flat_map(|rs| &rs.scope_spans);
    spans.map(|ss| ss.spans.len() as u64).sum()
}

/// What the decoder must accept: ids of their byte length, times in range and in order.
fn usable(s: &proto::Span) -> bool {
    s.trace_id.len() == 16
        && s.span_id.len() == 8
        && (s.parent_span_id.is_empty() || s.parent_span_id.len() == 8)
        && s.start_time_unix_nano <= i64::MAX as u64
        && s.end_time_unix_nano <= i64::MAX as u64
        && s.end_time_unix_nano >= s.start_time_unix_nano
}

impl std::fmt::Debug for ProtoInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The property runner wants `Input`s; a structured request is checked directly.
#[derive(Clone)]
struct ProtoInput(proto::ExportTraceServiceRequest);

fn fuzz_request(
    strategy: impl Strategy<Value = proto::ExportTraceServiceRequest>,
    check: impl Fn(&proto::ExportTraceServiceRequest) -> Result<(), String>,
) {
    let mut runner = TestRunner::new(RunnerConfig {
        cases: cases(),
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    if let Err(e) = runner.run(&strategy.prop_map(ProtoInput), |r| {
        check(&r.0).map_err(TestCaseError::fail)
    }) {
        panic!("{e}");
    }
}

fn request_proto() -> impl Strategy<Value = proto::ExportTraceServiceRequest> {
    let scope = prop::collection::vec(span_proto(), 0..4).prop_map(|spans| proto::ScopeSpans {
        spans,
        ..Default::default()
    });
    let resource = (
        prop::collection::vec(kv_proto(), 0..4),
        prop::collection::vec(scope, 0..3),
    )
        .prop_map(|(attributes, scope_spans)| proto::ResourceSpans {
            resource: Some(proto::Resource {
                attributes,
                dropped_attributes_count: 0,
            }),
            scope_spans,
            schema_url: String::new(),
        });
    prop::collection::vec(resource, 0..3)
        .prop_map(|resource_spans| proto::ExportTraceServiceRequest { resource_spans })
}

fn span_proto() -> impl Strategy<Value = proto::Span> {
    let id = |n: usize| {
        prop_oneof![
            4 => prop::collection::vec(any::<u8>(), n),
            1 => prop::collection::vec(any::<u8>(), 0..20),
        ]
    };
    let time = prop_oneof![0..=i64::MAX as u64, any::<u64>()];
    (
        id(16),
        id(8),
        prop_oneof![Just(Vec::new()), id(8)],
        mutate::nasty_string(),
        any::<i32>(),
        (time.clone(), time),
        prop::collection::vec(kv_proto(), 0..6),
        prop::option::of((any::<i32>(), mutate::nasty_string())),
    )
        .prop_map(
            |(trace_id, span_id, parent_span_id, name, kind, (a, b), attributes, status)| {
                proto::Span {
                    trace_id,
                    span_id,
                    parent_span_id,
                    name,
                    kind,
                    start_time_unix_nano: a.min(b),
                    end_time_unix_nano: if a % 7 == 0 { a.min(b) / 2 } else { a.max(b) },
                    attributes,
                    status: status.map(|(code, message)| proto::Status { code, message }),
                    ..Default::default()
                }
            },
        )
}

fn kv_proto() -> impl Strategy<Value = proto::KeyValue> {
    use any_value::Value as V;
    let leaf = prop_oneof![
        mutate::nasty_string().prop_map(V::StringValue),
        any::<bool>().prop_map(V::BoolValue),
        any::<i64>().prop_map(V::IntValue),
        any::<f64>().prop_map(V::DoubleValue),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(V::BytesValue),
    ]
    .prop_map(|v| proto::AnyValue { value: Some(v) });
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|values| proto::AnyValue {
                value: Some(V::ArrayValue(proto::ArrayValue { values }))
            }),
            prop::collection::vec((mutate::nasty_string(), inner), 0..4).prop_map(|kvs| {
                let values = kvs
                    .into_iter()
                    .map(|(key, v)| proto::KeyValue {
                        key,
                        value: Some(v),
                    })
                    .collect();
                proto::AnyValue {
                    value: Some(V::KvlistValue(proto::KeyValueList { values })),
                }
            }),
        ]
    });
    (mutate::nasty_string(), prop::option::of(value))
        .prop_map(|(key, value)| proto::KeyValue { key, value })
}

// ─── Config files ─────────────────────────────────────────────────────────────────────

const TOML_TOKENS: &[&[u8]] = &[
    b"\"",
    b"'''",
    b"[[",
    b"]]",
    b"[",
    b"]",
    b"{",
    b"}",
    b"=",
    b",",
    b".",
    b"\n",
    b"#",
    b"\\u0000",
    b"-1",
    b"0",
    b"1e999",
    b"nan",
    b"-inf",
    b"18446744073709551616",
    b"9223372036854775807",
    b"\"99999999999999999999w\"",
    b"\"30500000000000000w\"",
    b"\"9300000000s\"",
    b"\"0s\"",
    b"\"\"",
    b"true",
    b"1979-05-27T07:32:00Z",
    b"\xff",
    b"\"{targt}\"",
    b"\"not a url\"",
];

/// A config parses or is refused with its file, line, column and key; the place is
/// inside the text.
fn check_config(input: &Input) -> Result<(), String> {
    let text = input.text();
    match Config::parse(&text, Path::new("relops.toml")) {
        Ok(config) => {
            // A loaded config is usable: its plans answer, its mapping builds.
            for plan in &config.rollouts {
                plan.check()
                    .map_err(|e| format!("loaded a plan that fails check: {e}"))?;
            }
            Extractor::new(&config.versions, &config.detect);
            Ok(())
        }
        Err(ConfigError::Invalid {
            line,
            column,
            key,
            message,
            ..
        }) => {
            let lines: Vec<&str> = text.split('\n').collect();
            let width = lines.get(line.wrapping_sub(1)).map(|l| l.chars().count());
            match width {
                Some(w)
                    if column >= 1 && column <= w + 1 && !key.is_empty() && !message.is_empty() =>
                {
                    Ok(())
                }
                _ => Err(format!(
                    "error at {line}:{column} ({key}: {message}) is not in the text"
                )),
            }
        }
        Err(e) => Err(format!("unexpected {e}")),
    }
}

#[test]
fn config_corpus_replays() {
    replay("config", check_config);
}

#[test]
fn config_mutated_seeds() {
    fuzz(mutated(seeds("config"), TOML_TOKENS, 6), check_config);
}

#[test]
fn config_line_edits() {
    fuzz(line_mutated(seeds("config"), TOML_TOKENS), check_config);
}

#[test]
fn config_raw_bytes() {
    fuzz(raw_bytes(), check_config);
}

// ─── Case files ───────────────────────────────────────────────────────────────────────

/// A case file loads, or is refused naming its path and field (with line and column for
/// a syntax error); a loaded case saves and reads back the same, evaluates without
/// panicking, and never hides a good neighbour.
fn check_case(input: &Input) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("fuzzed-0000.json");
    std::fs::write(&path, &input.0).map_err(|e| e.to_string())?;
    match cases::read_case(&path) {
        Ok(case) => round_trip(&case)?,
        Err(bad) => {
            if bad.path != path || bad.field.is_empty() || bad.message.is_empty() {
                return Err(format!("{bad:?} does not say where"));
            }
            if bad.field == "(syntax)" && !bad.message.contains("line") {
                return Err(format!("syntax error without a line: {bad}"));
            }
        }
    }
    let good = good_case();
    cases::save(dir.path(), &good).map_err(|e| e.to_string())?;
    let suite = cases::Suite::load(dir.path());
    if !suite.cases.iter().any(|l| l.case == good) {
        return Err(format!("the good case is hidden: {:?}", suite.errors));
    }
    Ok(())
}

fn round_trip(case: &Case) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let saved =
        cases::save(dir.path(), case).map_err(|e| format!("a loaded case won't save: {e}"))?;
    let back = cases::read_case(&saved).map_err(|e| format!("a saved case won't load: {e}"))?;
    if &back != case {
        return Err(format!("saved {case:?}, read {back:?}"));
    }
    let observed = [
        Observed::default(),
        Observed {
            output: Some(case.input.clone()),
            latency_ms: Some(1.0),
            cost_usd: Some(0.0),
            tokens_out: Some(1),
            ..Observed::default()
        },
    ];
    for o in &observed {
        for a in &case.assertions {
            a.evaluate(o, case.reference.as_deref());
        }
    }
    Ok(())
}

/// A demo case under an id of its own (a fuzzed file may well reuse a demo case's id,
/// and two files with one id are both reported).
fn good_case() -> Case {
    let mut case = relops::demo::suite::cases("2026-11-20T12:00:00Z")
        .into_iter()
        .next()
        .expect("the demo suite has cases");
    case.id = "900dca5e".into();
    case
}

/// The demo suite's cases as seeds, beside the committed ones.
fn case_seeds() -> Vec<Vec<u8>> {
    let mut out = seeds("cases");
    out.extend(
        relops::demo::suite::cases("2026-11-20T12:00:00Z")
            .iter()
            .map(|c| serde_json::to_vec_pretty(c).expect("JSON")),
    );
    out
}

#[test]
fn cases_corpus_replays() {
    replay("cases", check_case);
}

#[test]
fn cases_mutated_seeds() {
    fuzz(mutated(case_seeds(), JSON_TOKENS, 6), check_case);
}

#[test]
fn cases_structure_aware() {
    let seeds = case_seeds()
        .iter()
        .filter_map(|b| serde_json::from_slice(b).ok())
        .collect();
    fuzz(json_mutated(seeds, false), check_case);
}

// ─── The console's filter language ────────────────────────────────────────────────────

/// A filter parses or is refused with a message; a parsed one resolves against any
/// versions at any time, and its canonical spelling parses back to itself.
fn check_filter(input: &Input) -> Result<(), String> {
    let text = input.text();
    let spec = match FilterSpec::parse(&text) {
        Ok(spec) => spec,
        Err(e) if e.is_empty() => return Err("refused without a message".into()),
        Err(_) => return Ok(()),
    };
    let canonical = spec.to_string();
    match FilterSpec::parse(&canonical) {
        Ok(back) if back == spec => {}
        other => {
            return Err(format!(
                "{canonical:?} reads back as {other:?}, not {spec:?}"
            ));
        }
    }
    let versions = [
        version(1, "v1", "aaaa11112222"),
        version(2, "v2", "aaaa11113333"),
    ];
    for now in [0, 1_795_000_000_000_000_000, i64::MAX, i64::MIN] {
        match spec.resolve(&versions, now) {
            Ok(_) => {}
            Err(e) if e.is_empty() => return Err("resolve refused without a message".into()),
            Err(_) => {}
        }
    }
    Ok(())
}

fn version(rowid: i64, label: &str, id: &str) -> VersionRow {
    VersionRow {
        id: id.into(),
        label: label.into(),
        prompt_hash: None,
        config_hash: None,
        model: None,
        index_version: None,
        tools: Default::default(),
        first_seen: None,
        last_seen: None,
        traces: 1,
        rowid,
        first_seen_ns: None,
        last_seen_ns: None,
    }
}

/// Terms of the language and near misses, joined by odd whitespace.
fn filter_text() -> impl Strategy<Value = Input> {
    let term = prop_oneof![
        prop::sample::select(vec![
            "v:v2",
            "v:aaaa",
            "v:aaaa1111",
            "version:",
            "refusal",
            "REFUSED",
            "error",
            "tool",
            "status:ok",
            "status:ERR",
            "status:maybe",
            "since:2h",
            "since:0s",
            "since:7d",
            "since:99999999999999999999w",
            "since:30500000000000000w",
            "since:9300000000s",
            "since:-1h",
            "text:a:b",
            "colour:red",
            ":",
            "::",
            "\"",
            "\"refund: policy\"",
            "\"\"",
            "\"refusal\"",
            "\"a\"b",
            "a\"b\"c",
            "\u{1b}[2J",
            "漢字",
        ])
        .prop_map(str::to_string),
        mutate::nasty_string(),
    ];
    let sep = prop::sample::select(vec![" ", "  ", "\t", "\n", "\u{3000}", ""]);
    prop::collection::vec((term, sep), 0..6).prop_map(|parts| {
        let text: String = parts.into_iter().map(|(t, s)| t + s).collect();
        Input(text.into_bytes())
    })
}

#[test]
fn filter_corpus_replays() {
    replay("filter", check_filter);
}

#[test]
fn filter_language() {
    fuzz(filter_text(), check_filter);
}

#[test]
fn filter_mutated_seeds() {
    const FILTER_TOKENS: &[&[u8]] = &[b"\"", b":", b" ", b"\t", b"since:", b"v:", b"text:"];
    fuzz(mutated(seeds("filter"), FILTER_TOKENS, 4), check_filter);
}

/// The protobuf seeds are these requests, encoded; `RELOPS_FUZZ_WRITE_SEEDS=1` rewrites
/// the committed files from them.
fn protobuf_seed_requests() -> Vec<(&'static str, proto::ExportTraceServiceRequest)> {
    use any_value::Value as V;
    let kv = |key: &str, v: V| proto::KeyValue {
        key: key.into(),
        value: Some(proto::AnyValue { value: Some(v) }),
    };
    let span = |trace: Vec<u8>, id: u8, parent: Option<u8>| proto::Span {
        trace_id: trace,
        span_id: vec![id; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        name: "chat m-1".into(),
        kind: 3,
        start_time_unix_nano: 1_795_000_000_000_000_000,
        end_time_unix_nano: 1_795_000_000_250_000_000,
        attributes: vec![
            kv("gen_ai.operation.name", V::StringValue("chat".into())),
            kv("gen_ai.request.model", V::StringValue("m-1".into())),
            kv("gen_ai.usage.input_tokens", V::IntValue(120)),
            kv("llm.cost.total", V::DoubleValue(0.25)),
            kv("relops.flag", V::BoolValue(true)),
            kv("relops.blob", V::BytesValue(vec![0, 1, 2, 255])),
            kv(
                "gen_ai.response.finish_reasons",
                V::ArrayValue(proto::ArrayValue {
                    values: vec![proto::AnyValue {
                        value: Some(V::StringValue("content_filter".into())),
                    }],
                }),
            ),
            kv(
                "llm",
                V::KvlistValue(proto::KeyValueList {
                    values: vec![kv("token_count.prompt", V::IntValue(7))],
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
    };
    let request = |spans: Vec<proto::Span>, version: &str| proto::ResourceSpans {
        resource: Some(proto::Resource {
            attributes: vec![kv("service.version", V::StringValue(version.into()))],
            dropped_attributes_count: 0,
        }),
        scope_spans: vec![proto::ScopeSpans {
            scope: Some(proto::InstrumentationScope {
                name: "genai".into(),
                ..Default::default()
            }),
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    };
    let trace = vec![0xa1; 16];
    let mut late = span(trace.clone(), 4, None);
    late.end_time_unix_nano = 1;
    vec![
        (
            "seed-two-spans.bin",
            proto::ExportTraceServiceRequest {
                resource_spans: vec![request(
                    vec![
                        span(trace.clone(), 1, None),
                        span(trace.clone(), 2, Some(1)),
                    ],
                    "v3",
                )],
            },
        ),
        (
            "seed-bad-spans.bin",
            proto::ExportTraceServiceRequest {
                resource_spans: vec![
                    request(vec![span(vec![7; 11], 2, None), late], "v2"),
                    request(vec![span(trace, 3, Some(1))], "v2"),
                ],
            },
        ),
        (
            "seed-empty.bin",
            proto::ExportTraceServiceRequest::default(),
        ),
    ]
}

#[test]
fn protobuf_seeds_are_the_encoded_requests() {
    let dir = mutate::corpus_dir("protobuf");
    for (name, request) in protobuf_seed_requests() {
        let path = dir.join(name);
        let bytes = request.encode_to_vec();
        if std::env::var_os("RELOPS_FUZZ_WRITE_SEEDS").is_some() {
            std::fs::write(&path, &bytes).expect("write seed");
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == bytes,
            "{}: stale seed (RELOPS_FUZZ_WRITE_SEEDS=1 rewrites it)",
            path.display()
        );
    }
}

/// Mutations start from valid inputs: every `seed-*` file of the config, case and filter
/// corpora loads (crashers and other regression inputs are named otherwise).
#[test]
fn seeds_are_valid() {
    let seeds = |target: &str| {
        mutate::corpus(target).into_iter().filter(|(p, _)| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        })
    };
    for (path, bytes) in seeds("config") {
        let text = String::from_utf8(bytes).expect("UTF-8");
        if let Err(e) = Config::parse(&text, &path) {
            panic!("{e}");
        }
    }
    for (path, _) in seeds("cases") {
        if let Err(e) = cases::read_case(&path) {
            panic!("{e}");
        }
    }
    for (path, bytes) in seeds("filter") {
        let text = String::from_utf8(bytes).expect("UTF-8");
        FilterSpec::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}
