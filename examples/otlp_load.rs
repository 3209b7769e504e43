//! Load generator for `bench/collect.sh`: posts the demo's traffic to an OTLP/HTTP
//! receiver as OTLP/JSON or protobuf and prints the spans per second it committed
//! (every answer is a 200 only once its spans are in the cache).
//!
//! ```text
//! cargo run --release --example otlp_load -- URL json|protobuf [TRACES] [PER_REQUEST] [CONCURRENCY]
//! ```
//!
//! Bodies are generated and encoded before the clock starts; trace ids are fresh on
//! every run, so each run inserts. A 503 is retried after its `Retry-After`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use relops::collect::proto::{self, Message, any_value::Value as Any};
use relops::demo::{traffic, workflow};
use serde_json::Value;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: otlp_load URL json|protobuf [TRACES] [PER_REQUEST] [CONCURRENCY]";
    let url = args.first().expect(usage).clone();
    let protobuf = match args.get(1).map(String::as_str) {
        Some("json") => false,
        Some("protobuf") => true,
        _ => panic!("{usage}"),
    };
    let num = |i: usize, default: usize| args.get(i).map_or(default, |a| a.parse().expect(usage));
    let (traces, per_request, concurrency) = (num(2, 20_000), num(3, 100), num(4, 4));

    let (bodies, spans) = bodies(traces, per_request, protobuf);
    let bytes: usize = bodies.iter().map(Vec::len).sum();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (secs, refused) = runtime.block_on(post_all(url, bodies, protobuf, concurrency));
    println!(
        "{:<8} {spans:>7} spans ({traces} traces, {per_request} per request, {:.0} MiB) at \
         concurrency {concurrency}: {secs:.2} s  {:>7.0} spans/s  {refused} refused busy",
        if protobuf { "protobuf" } else { "json" },
        bytes as f64 / f64::from(1 << 20),
        spans as f64 / secs,
    );
}

/// Request bodies of `per_request` demo traces each, and the spans they hold.
fn bodies(traces: usize, per_request: usize, protobuf: bool) -> (Vec<Vec<u8>>, u64) {
    let now = relops::clock::now_ns();
    let mut rng = ChaCha8Rng::seed_from_u64(now as u64);
    let mut out = Vec::new();
    let mut spans = 0;
    for chunk in 0..traces.div_ceil(per_request) {
        let n = per_request.min(traces - chunk * per_request);
        let requests: Vec<traffic::Request> = (0..n)
            .map(|i| {
                let label = if rng.random::<f64>() < 0.3 {
                    "v3"
                } else {
                    "v2"
                };
                let release = workflow::release(label).expect("demo release");
                let at = now - ((chunk * per_request + i) as i64) * 10_000_000;
                traffic::request(&mut rng, release, at)
            })
            .collect();
        let mut body = Vec::new();
        spans += traffic::write_line(&mut body, &mut rng, &requests).expect("in memory");
        if protobuf {
            let json: Value = serde_json::from_slice(&body).expect("generated JSON");
            body = to_protobuf(&json).encode_to_vec();
        }
        out.push(body);
    }
    (out, spans)
}

/// Posts every body with `concurrency` clients; the seconds from the first request to
/// the last answer, and how many answers were 503.
async fn post_all(
    url: String,
    bodies: Vec<Vec<u8>>,
    protobuf: bool,
    concurrency: usize,
) -> (f64, u64) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let content_type = if protobuf {
        "application/x-protobuf"
    } else {
        "application/json"
    };
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, bodies, next, refused) = (
                client.clone(),
                url.clone(),
                Arc::clone(&bodies),
                Arc::clone(&next),
                Arc::clone(&refused),
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { return };
                    loop {
                        let answer = client
                            .post(&url)
                            .header("content-type", content_type)
                            .body(body.clone())
                            .send()
                            .await
                            .expect("the receiver answers");
                        match answer.status().as_u16() {
                            200 => break,
                            503 => {
                                refused.fetch_add(1, Ordering::Relaxed);
                                let wait = answer
                                    .headers()
                                    .get("retry-after")
                                    .and_then(|v| v.to_str().ok()?.parse().ok())
                                    .unwrap_or(1);
                                tokio::time::sleep(Duration::from_secs(wait)).await;
                            }
                            s => panic!("answer {s}: {}", answer.text().await.unwrap_or_default()),
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    (
        started.elapsed().as_secs_f64(),
        refused.load(Ordering::Relaxed),
    )
}

/// An OTLP/JSON export as the protobuf request the same data makes.
fn to_protobuf(v: &Value) -> proto::ExportTraceServiceRequest {
    let list = |v: &Value, key: &str| v[key].as_array().cloned().unwrap_or_default();
    proto::ExportTraceServiceRequest {
        resource_spans: list(v, "resourceSpans")
            .iter()
            .map(|rs| proto::ResourceSpans {
                resource: Some(proto::Resource {
                    attributes: key_values(&rs["resource"]["attributes"]),
                    dropped_attributes_count: 0,
                }),
                scope_spans: list(rs, "scopeSpans")
                    .iter()
                    .map(|ss| proto::ScopeSpans {
                        scope: Some(proto::InstrumentationScope {
                            name: ss["scope"]["name"].as_str().unwrap_or("").into(),
                            version: ss["scope"]["version"].as_str().unwrap_or("").into(),
                            ..Default::default()
                        }),
                        spans: list(ss, "spans").iter().map(span).collect(),
                        schema_url: String::new(),
                    })
                    .collect(),
                schema_url: String::new(),
            })
            .collect(),
    }
}

fn span(s: &Value) -> proto::Span {
    let id = |key: &str| hex::decode(s[key].as_str().unwrap_or("")).expect("hex id");
    let nanos = |key: &str| int(&s[key]) as u64;
    proto::Span {
        trace_id: id("traceId"),
        span_id: id("spanId"),
        parent_span_id: id("parentSpanId"),
        name: s["name"].as_str().unwrap_or("").into(),
        kind: int(&s["kind"]) as i32,
        start_time_unix_nano: nanos("startTimeUnixNano"),
        end_time_unix_nano: nanos("endTimeUnixNano"),
        attributes: key_values(&s["attributes"]),
        status: Some(proto::Status {
            message: s["status"]["message"].as_str().unwrap_or("").into(),
            code: int(&s["status"]["code"]) as i32,
        }),
        ..Default::default()
    }
}

fn key_values(v: &Value) -> Vec<proto::KeyValue> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|kv| proto::KeyValue {
            key: kv["key"].as_str().unwrap_or("").into(),
            value: Some(any(&kv["value"])),
        })
        .collect()
}

fn any(v: &Value) -> proto::AnyValue {
    let value = if let Some(s) = v["stringValue"].as_str() {
        Any::StringValue(s.into())
    } else if !v["intValue"].is_null() {
        Any::IntValue(int(&v["intValue"]))
    } else if let Some(d) = v["doubleValue"].as_f64() {
        Any::DoubleValue(d)
    } else if let Some(b) = v["boolValue"].as_bool() {
        Any::BoolValue(b)
    } else {
        Any::ArrayValue(proto::ArrayValue {
            values: v["arrayValue"]["values"]
                .as_array()
                .into_iter()
                .flatten()
                .map(any)
                .collect(),
        })
    };
    proto::AnyValue { value: Some(value) }
}

/// OTLP/JSON integers: numbers or strings holding one.
fn int(v: &Value) -> i64 {
    v.as_i64().or_else(|| v.as_str()?.parse().ok()).unwrap_or(0)
}
