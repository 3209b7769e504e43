//! A week of production traffic for the demo workflow, written as OTLP/JSON lines.
//!
//! Timeline (the week ends at the anchor): v1 alone for two and a half days; v2 ramps
//! from 5 % to 100 % over half a day and serves alone until day six; then v3 takes a
//! 30 % canary share beside v2. Traffic follows a daily cycle.

use std::io::Write;

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::workflow::{self, Execution, RELEASES, Release, Step};

const DAY_NS: f64 = 86_400e9;
pub const WEEK_NS: i64 = 7 * 86_400 * 1_000_000_000;
/// Traces per OTLP export line, as a Collector batch would hold.
const TRACES_PER_LINE: usize = 64;
/// The v3 canary's share of traffic over the week's last day. (The live feed follows
/// the server's routing instead: a 5 % canary. The week keeps its share because the
/// drift, gate and console tests are written against it.)
pub const CANARY_SHARE: f64 = 0.30;

/// Which release serves a request at `day` (0..7) given a uniform draw `u`.
pub fn release_at(day: f64, u: f64) -> &'static Release {
    let [v1, v2, v3] = &RELEASES;
    let v2_share = ((day - 2.5) / 0.5 * 0.95 + 0.05).clamp(0.0, 1.0);
    match day {
        d if d < 2.5 => v1,
        d if d < 3.0 => {
            if u < v2_share {
                v2
            } else {
                v1
            }
        }
        d if d < 6.0 => v2,
        _ => {
            if u < CANARY_SHARE {
                v3
            } else {
                v2
            }
        }
    }
}

/// Start times of `n` requests across the week, with a daily cycle: a uniform grid
/// mapped through the inverse of the cumulative request rate. Sorted, deterministic.
fn start_times(rng: &mut impl Rng, n: usize, start_ns: i64) -> impl Iterator<Item = i64> + '_ {
    // rate(t) = 1 + A·sin(2πt − π/2) in days; busiest at midday.
    const A: f64 = 0.6;
    let cdf = |t: f64| {
        t - A / (2.0 * std::f64::consts::PI)
            * ((2.0 * std::f64::consts::PI * t - std::f64::consts::FRAC_PI_2).cos())
    };
    let total = cdf(7.0) - cdf(0.0);
    (0..n).map(move |i| {
        let target = (i as f64 + rng.random::<f64>()) / n as f64 * total + cdf(0.0);
        let mut t = target - cdf(0.0);
        for _ in 0..6 {
            let rate =
                1.0 + A * (2.0 * std::f64::consts::PI * t - std::f64::consts::FRAC_PI_2).sin();
            t -= (cdf(t) - target) / rate;
        }
        start_ns + (t.clamp(0.0, 7.0) * DAY_NS) as i64
    })
}

/// One generated request: when, on which release, and what happened.
pub struct Request {
    pub start_ns: i64,
    pub trace_id: String,
    pub execution: Execution,
}

fn hex_id(rng: &mut impl Rng, bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// Generates the week ending at `anchor_ns` and writes it as OTLP/JSON lines.
/// Returns (traces, spans).
pub fn write_week(
    out: &mut impl Write,
    seed: u64,
    traces: usize,
    anchor_ns: i64,
) -> std::io::Result<(u64, u64)> {
    let mut times_rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(1));
    let start_ns = anchor_ns - WEEK_NS;
    let mut batch = Vec::with_capacity(TRACES_PER_LINE);
    let mut spans = 0;
    for start in start_times(&mut times_rng, traces, start_ns) {
        let day = (start - start_ns) as f64 / DAY_NS;
        let release = release_at(day, rng.random());
        batch.push(request(&mut rng, release, start));
        if batch.len() == TRACES_PER_LINE {
            spans += write_line(out, &mut rng, &batch)?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        spans += write_line(out, &mut rng, &batch)?;
    }
    Ok((traces as u64, spans))
}

/// A request at `start_ns` on `release`, with a fresh customer message.
pub fn request(rng: &mut impl Rng, release: &'static Release, start_ns: i64) -> Request {
    let input = workflow::customer_message(rng);
    Request {
        start_ns,
        trace_id: hex_id(rng, 16),
        execution: workflow::execute(release, &input),
    }
}

/// Writes requests as one `ExportTraceServiceRequest` line, one resource per release.
pub fn write_line(
    out: &mut impl Write,
    rng: &mut impl Rng,
    requests: &[Request],
) -> std::io::Result<u64> {
    let mut resource_spans = Vec::new();
    let mut count = 0;
    for release in &RELEASES {
        let mut spans = Vec::new();
        for r in requests
            .iter()
            .filter(|r| r.execution.release == release.label)
        {
            spans.extend(trace_spans(rng, r));
        }
        if spans.is_empty() {
            continue;
        }
        count += spans.len() as u64;
        resource_spans.push(json!({
            "resource": {"attributes": resource_attributes(release)},
            "scopeSpans": [{"scope": {"name": "support-bot", "version": "3.2.0"}, "spans": spans}],
        }));
    }
    serde_json::to_writer(&mut *out, &json!({ "resourceSpans": resource_spans }))?;
    out.write_all(b"\n")?;
    Ok(count)
}

fn resource_attributes(r: &Release) -> Value {
    attrs(&[
        ("service.name", s("support-bot")),
        ("service.version", s(r.label)),
        ("deployment.environment", s("production")),
        ("relops.version", s(r.label)),
        ("relops.prompt.hash", s(r.prompt_hash)),
        ("relops.config.hash", s(r.config_hash)),
        ("relops.index.version", s(r.index_version)),
        (
            "relops.tool.order_lookup.version",
            s(r.order_lookup_version),
        ),
        ("relops.tool.refund.version", s(r.refund_version)),
    ])
}

/// The spans of one request: a root chain span with retrieval, tool and LLM children
/// laid out one after another.
pub fn trace_spans(rng: &mut impl Rng, r: &Request) -> Vec<Value> {
    let e = &r.execution;
    let release = workflow::release(e.release).expect("known release");
    let root_id = hex_id(rng, 8);
    let end = r.start_ns + (e.total_ms * 1e6) as i64;
    let mut root_attrs = vec![
        ("openinference.span.kind", s("CHAIN")),
        ("input.value", s(&e.input)),
        ("output.value", s(&e.output)),
    ];
    if let Some(reason) = &e.failed {
        root_attrs.push(("error.type", s(reason)));
    }
    let mut spans = vec![span(
        &r.trace_id,
        &root_id,
        None,
        "support.answer",
        (r.start_ns, end),
        root_attrs,
        e.failed.as_deref(),
    )];
    let mut t = r.start_ns + 15_000_000;
    for step in &e.steps {
        let dur = (step.ms() * 1e6) as i64;
        let id = hex_id(rng, 8);
        spans.push(step_span(
            &r.trace_id,
            &id,
            &root_id,
            step,
            release,
            (t, t + dur),
        ));
        t += dur + 2_000_000;
    }
    spans
}

fn step_span(
    trace: &str,
    id: &str,
    parent: &str,
    step: &Step,
    release: &Release,
    (start, end): (i64, i64),
) -> Value {
    match step {
        Step::Retrieval {
            query, documents, ..
        } => {
            let mut a = vec![
                ("openinference.span.kind", s("RETRIEVER")),
                ("input.value", s(query)),
            ];
            let keys: Vec<(String, Value)> = documents
                .iter()
                .enumerate()
                .flat_map(|(i, (doc, score, text))| {
                    [
                        (format!("retrieval.documents.{i}.document.id"), s(doc)),
                        (
                            format!("retrieval.documents.{i}.document.score"),
                            json!({"doubleValue": score}),
                        ),
                        (format!("retrieval.documents.{i}.document.content"), s(text)),
                    ]
                })
                .collect();
            let mut all: Vec<Value> = a
                .drain(..)
                .map(|(k, v)| json!({"key": k, "value": v}))
                .collect();
            all.extend(keys.into_iter().map(|(k, v)| json!({"key": k, "value": v})));
            span_value(
                trace,
                id,
                Some(parent),
                "retrieve kb",
                (start, end),
                Value::Array(all),
                None,
            )
        }
        Step::Llm {
            tokens_in,
            tokens_out,
            cost_usd,
            finish_reason,
            safety_flagged,
            output,
            ..
        } => {
            let mut a = vec![
                ("openinference.span.kind", s("LLM")),
                ("gen_ai.operation.name", s("chat")),
                ("gen_ai.system", s("openai")),
                ("gen_ai.request.model", s(release.model)),
                ("llm.prompt_template.version", s(release.prompt_hash)),
                ("gen_ai.usage.input_tokens", i(*tokens_in)),
                ("gen_ai.usage.output_tokens", i(*tokens_out)),
                ("relops.cost_usd", json!({"doubleValue": cost_usd})),
                (
                    "gen_ai.response.finish_reasons",
                    json!({"arrayValue": {"values": [{"stringValue": finish_reason}]}}),
                ),
                ("output.value", s(output)),
            ];
            if *safety_flagged {
                a.push(("relops.safety.flagged", json!({"boolValue": true})));
            }
            span(
                trace,
                id,
                Some(parent),
                &format!("chat {}", release.model),
                (start, end),
                a,
                None,
            )
        }
        Step::Tool {
            name,
            version,
            args,
            result,
            error,
            ..
        } => {
            let mut a = vec![
                ("openinference.span.kind", s("TOOL")),
                ("tool.name", s(name)),
                ("tool.version", s(version)),
                ("tool.parameters", s(args)),
            ];
            if let Some(r) = result {
                a.push(("output.value", s(r)));
            }
            span(
                trace,
                id,
                Some(parent),
                &format!("tool {name}"),
                (start, end),
                a,
                error.as_deref(),
            )
        }
    }
}

fn span(
    trace: &str,
    id: &str,
    parent: Option<&str>,
    name: &str,
    times: (i64, i64),
    a: Vec<(&str, Value)>,
    error: Option<&str>,
) -> Value {
    span_value(trace, id, parent, name, times, attrs(&a), error)
}

fn span_value(
    trace: &str,
    id: &str,
    parent: Option<&str>,
    name: &str,
    (start, end): (i64, i64),
    attributes: Value,
    error: Option<&str>,
) -> Value {
    let status = match error {
        Some(msg) => json!({"code": 2, "message": msg}),
        None => json!({"code": 1}),
    };
    let mut v = json!({
        "traceId": trace,
        "spanId": id,
        "name": name,
        "kind": if parent.is_none() { 2 } else { 1 },
        "startTimeUnixNano": start.to_string(),
        "endTimeUnixNano": end.to_string(),
        "attributes": attributes,
        "status": status,
    });
    if let Some(p) = parent {
        v["parentSpanId"] = Value::String(p.to_string());
    }
    v
}

fn attrs(pairs: &[(&str, Value)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect(),
    )
}

fn s(v: &str) -> Value {
    json!({ "stringValue": v })
}

fn i(v: i64) -> Value {
    json!({ "intValue": v.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_moves_from_v1_to_a_v3_canary() {
        assert_eq!(release_at(1.0, 0.99).label, "v1");
        assert_eq!(release_at(2.9, 0.01).label, "v2");
        assert_eq!(release_at(4.0, 0.99).label, "v2");
        assert_eq!(release_at(6.5, 0.1).label, "v3");
        assert_eq!(release_at(6.5, 0.9).label, "v2");
    }

    #[test]
    fn start_times_are_sorted_within_the_week() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let times: Vec<i64> = start_times(&mut rng, 2000, 0).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(times.iter().all(|t| (0..=WEEK_NS).contains(t)));
        // The daily cycle: more traffic around midday than around midnight.
        let hour = |t: &i64| (t % 86_400_000_000_000) / 3_600_000_000_000;
        let noon = times.iter().filter(|t| (10..14).contains(&hour(t))).count();
        let night = times
            .iter()
            .filter(|t| hour(t) < 2 || hour(t) >= 22)
            .count();
        assert!(noon > night * 2, "noon {noon} night {night}");
    }

    #[test]
    fn week_output_is_deterministic() {
        let week = || {
            let mut out = Vec::new();
            write_week(&mut out, 42, 300, 1_800_000_000_000_000_000).unwrap();
            out
        };
        let a = week();
        assert_eq!(a, week());
        assert_eq!(a.iter().filter(|b| **b == b'\n').count(), 5);
    }
}
