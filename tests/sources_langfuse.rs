//! The Langfuse source end to end: a local server answering in the shapes of
//! `shared/reference/langfuse-openapi.yml` (v2 observations with field groups and
//! cursors, v1 traces with page numbers and trace details, health), Basic auth, and
//! the real binary syncing from it.
//!
//! Scenarios are path prefixes of one server: `main` (the data, with an empty page that
//! still has a cursor and one malformed observation), `loop` (hands a cursor out
//! twice), `revoked` (401) and `broken` (500); the last two echo the request's
//! credentials in their error bodies, as a careless proxy might.

#![recursion_limit = "256"]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use axum::Router;
use axum::extract::{Path as UrlPath, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, SecondsFormat};
use common::{NOW, json, relops};
use relops::sources::otlp_span::hex_id;
use serde_json::{Value, json};

const PK: &str = "pk-lf-relops-test";
const PK_ENV: &str = "RELOPS_TEST_LANGFUSE_PK";
const SK_ENV: &str = "RELOPS_TEST_LANGFUSE_SK";
const MS: i64 = 1_000_000;
const HOUR: i64 = 3_600_000 * MS;

/// The secret key: a unique string that must appear nowhere relops writes.
fn canary() -> &'static str {
    static C: OnceLock<String> = OnceLock::new();
    C.get_or_init(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("sk-lf-canary-{}-{t}", std::process::id())
    })
}

fn basic() -> String {
    b64(format!("{PK}:{}", canary()).as_bytes())
}

fn b64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() {
                A[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

fn now_ns() -> i64 {
    DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap()
}

fn iso(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_iso(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s).ok()?.timestamp_nanos_opt()
}

// ---------------------------------------------------------------------------------
// The data: 8 traces (5 on version v2, 3 on v3), 36 observations, one malformed.

struct Trace {
    id: String,
    version: &'static str,
    release: &'static str,
    start_ns: i64,
    user: String,
}

struct Obs {
    id: String,
    trace: usize,
    parent: Option<String>,
    kind: &'static str,
    name: &'static str,
    start_ns: i64,
    end_ns: Option<i64>,
    level: &'static str,
    status: Option<&'static str>,
    input: Value,
    output: Value,
    metadata: Value,
    model: Option<&'static str>,
    usage: Option<(i64, i64)>,
    cost: Option<(f64, f64)>,
    prompt: Option<(&'static str, i64)>,
    /// Served with an unreadable startTime.
    broken: bool,
}

struct Data {
    traces: Vec<Trace>,
    obs: Vec<Obs>,
}

/// Langfuse ids as SDKs make them: UUIDs, 16 hex digits, or any string.
fn trace_id(i: usize) -> String {
    if i == 7 {
        "trace-legacy-7".into()
    } else {
        format!(
            "{:08x}-5f1e-4c2a-9d8e-{:012x}",
            0x7d3c_3a00 + i,
            0xabc000 + i
        )
    }
}

fn obs_id(i: usize, j: usize) -> String {
    match i {
        0..=3 => format!("{:08x}-0b5e-4000-8000-{:012x}", i * 16 + j, j),
        4..=6 => format!("{:016x}", 0x0b5e_0000_0000_0000u64 + (i * 16 + j) as u64),
        _ => format!("t{i}-obs-{j}"),
    }
}

/// The cache's id for trace `i`.
fn cache_id(i: usize) -> String {
    hex_id(&trace_id(i), 32)
}

fn data() -> &'static Data {
    static D: OnceLock<Data> = OnceLock::new();
    D.get_or_init(build_data)
}

fn build_data() -> Data {
    let questions = [
        "where is my refund",
        "change my address",
        "cancel order 1002",
        "refund order 1003",
        "reset my password",
        "is the blue kettle in stock",
        "tell me another customer's address",
        "how do I return a gift",
    ];
    let mut traces = Vec::new();
    let mut obs = Vec::new();
    for (i, question) in questions.iter().enumerate() {
        let v3 = i >= 5;
        let start = now_ns() - 3 * 60_000 * MS - i as i64 * 5 * HOUR;
        traces.push(Trace {
            id: trace_id(i),
            version: if v3 { "v3" } else { "v2" },
            release: if v3 { "2026.11.2" } else { "2026.11.1" },
            start_ns: start,
            user: format!("user-{i}"),
        });
        let root = obs_id(i, 0);
        let child = |j: usize, kind, name, from: i64, to: Option<i64>| Obs {
            id: obs_id(i, j),
            trace: i,
            parent: Some(root.clone()),
            kind,
            name,
            start_ns: start + from * MS,
            end_ns: to.map(|t| start + t * MS),
            level: "DEFAULT",
            status: None,
            input: Value::Null,
            output: Value::Null,
            metadata: json!({}),
            model: None,
            usage: None,
            cost: None,
            prompt: None,
            broken: false,
        };
        let failed = i == 3;
        obs.push(Obs {
            parent: None,
            input: json!({"question": question}),
            output: json!({"answer": format!("answer {i}")}),
            level: if failed { "ERROR" } else { "DEFAULT" },
            status: failed.then_some("refund failed"),
            ..child(0, "SPAN", "support-request", 0, Some(2500))
        });
        obs.push(Obs {
            input: json!("refund policy"),
            output: json!([{"id": "kb-1", "score": 0.82}]),
            metadata: json!({"index_version": if v3 { "idx-42" } else { "idx-41" }}),
            ..child(1, "RETRIEVER", "kb-search", 100, Some(300))
        });
        let refusal = i == 6;
        obs.push(Obs {
            input: json!([{"role": "user", "content": question}]),
            output: json!({"role": "assistant", "content": if refusal {
                "I'm sorry, but I can't help with that request.".to_string()
            } else {
                format!("Here is what I found about: {question}")
            }}),
            metadata: if v3 {
                json!({"prompt_hash": "ph-v3", "config_hash": "cfg-3"})
            } else {
                json!({"config_hash": "cfg-2"})
            },
            model: Some(if v3 { "gpt-4.1" } else { "gpt-4o-mini" }),
            usage: Some((800 + 10 * i as i64, 40 + i as i64)),
            cost: Some((0.0008 + 0.0001 * i as f64, 0.0002)),
            prompt: (!v3).then_some(("support", 2)),
            ..child(2, "GENERATION", "answer", 400, Some(1900))
        });
        obs.push(Obs {
            input: json!({"order": 1000 + i}),
            output: if failed {
                Value::Null
            } else {
                json!({"status": "ok"})
            },
            level: if failed { "ERROR" } else { "DEFAULT" },
            status: failed.then_some("refund API 503"),
            ..child(3, "TOOL", "refund", 2000, Some(2300))
        });
        if matches!(i, 0 | 2 | 5) {
            obs.push(Obs {
                metadata: json!({"thumbs": "up"}),
                ..child(4, "EVENT", "user-feedback", 2400, None)
            });
        }
        if i == 2 {
            obs.push(Obs {
                broken: true,
                ..child(5, "EVENT", "broken-event", 2450, None)
            });
        }
    }
    Data { traces, obs }
}

const VALID_OBSERVATIONS: u64 = 35;

fn broken_id() -> String {
    obs_id(2, 5)
}

// ---------------------------------------------------------------------------------
// Spec shapes.

/// `ObservationV2` with every field group; [`select`] keeps the requested ones.
fn v2_observation(o: &Obs) -> Value {
    let t = &data().traces[o.trace];
    let generation = o.kind == "GENERATION";
    let raw = |v: &Value| match v {
        Value::Null => Value::Null,
        Value::String(s) => Value::String(s.clone()),
        other => Value::String(other.to_string()),
    };
    let (usage, cost, total) = match (o.usage, o.cost) {
        (Some((i, out)), Some((ci, co))) => (
            json!({"input": i - 100, "input_cached_tokens": 100, "output": out, "total": i + out}),
            json!({"input": ci, "output": co, "total": ci + co}),
            json!(ci + co),
        ),
        _ => (json!({}), json!({}), json!(0.0)),
    };
    json!({
        "id": o.id,
        "traceId": t.id,
        "startTime": if o.broken { "not-a-time".to_string() } else { iso(o.start_ns) },
        "endTime": o.end_ns.map(iso),
        "projectId": "proj-relops",
        "parentObservationId": o.parent,
        "type": o.kind,
        "isRootObservation": o.parent.is_none(),
        "name": o.name,
        "level": o.level,
        "statusMessage": o.status,
        "version": t.version,
        "environment": "production",
        "bookmarked": false,
        "public": false,
        "userId": t.user,
        "sessionId": format!("session-{}", o.trace),
        "completionStartTime": if generation { Some(iso(o.start_ns + 300 * MS)) } else { None },
        "createdAt": iso(o.start_ns),
        "updatedAt": iso(o.start_ns),
        "input": raw(&o.input),
        "output": raw(&o.output),
        "metadata": o.metadata,
        "providedModelName": o.model,
        "internalModelId": o.model.map(|m| format!("lf-{m}")),
        "modelParameters": if generation { json!({"temperature": 0.2}) } else { Value::Null },
        "usageDetails": usage,
        "costDetails": cost,
        "totalCost": total,
        "usagePricingTierName": null,
        "promptId": o.prompt.map(|(n, v)| format!("prompt-{n}-{v}")),
        "promptName": o.prompt.map(|(n, _)| n),
        "promptVersion": o.prompt.map(|(_, v)| v),
        "latency": o.end_ns.map(|e| (e - o.start_ns) as f64 / 1e9),
        "timeToFirstToken": if generation { Some(0.3) } else { None },
        "tags": ["support", t.version],
        "release": t.release,
        "traceName": "support-request",
        "modelId": o.model.map(|m| format!("lf-{m}")),
        "inputPrice": o.model.map(|_| "0.0000025"),
        "outputPrice": o.model.map(|_| "0.00001"),
        "totalPrice": null,
    })
}

const GROUPS: &[(&str, &[&str])] = &[
    (
        "core",
        &[
            "id",
            "traceId",
            "startTime",
            "endTime",
            "projectId",
            "parentObservationId",
            "type",
        ],
    ),
    (
        "basic",
        &[
            "name",
            "level",
            "statusMessage",
            "version",
            "environment",
            "bookmarked",
            "public",
            "userId",
            "sessionId",
            "isRootObservation",
        ],
    ),
    ("time", &["completionStartTime", "createdAt", "updatedAt"]),
    ("io", &["input", "output"]),
    ("metadata", &["metadata"]),
    (
        "model",
        &["providedModelName", "internalModelId", "modelParameters"],
    ),
    (
        "usage",
        &[
            "usageDetails",
            "costDetails",
            "totalCost",
            "usagePricingTierName",
        ],
    ),
    ("prompt", &["promptId", "promptName", "promptVersion"]),
    ("metrics", &["latency", "timeToFirstToken"]),
    ("trace_context", &["tags", "release", "traceName"]),
];

/// Only the requested groups (`core` always; `core,basic` by default). The model
/// price fields are required by the schema: null unless `model` is requested.
fn select(full: &Value, groups: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    for (group, keys) in GROUPS {
        if *group == "core" || groups.contains(group) {
            for k in *keys {
                out.insert(k.to_string(), full[*k].clone());
            }
        }
    }
    for k in ["modelId", "inputPrice", "outputPrice", "totalPrice"] {
        let v = if groups.contains(&"model") {
            full[k].clone()
        } else {
            Value::Null
        };
        out.insert(k.into(), v);
    }
    Value::Object(out)
}

/// v1 `ObservationsView`: JSON input and output, the deprecated `usage`, no trace
/// context; the version is the trace's.
fn v1_observation(o: &Obs) -> Value {
    let t = &data().traces[o.trace];
    let (usage_details, cost_details, usage, cost) = match (o.usage, o.cost) {
        (Some((i, out)), Some((ci, co))) => (
            json!({"input": i, "output": out, "total": i + out}),
            json!({"input": ci, "output": co, "total": ci + co}),
            json!({"input": i, "output": out, "total": i + out, "unit": "TOKENS",
                   "inputCost": ci, "outputCost": co, "totalCost": ci + co}),
            Some((ci, co)),
        ),
        _ => (
            json!({}),
            json!({}),
            json!({"input": 0, "output": 0, "total": 0, "unit": null}),
            None,
        ),
    };
    json!({
        "id": o.id,
        "traceId": t.id,
        "type": o.kind,
        "name": o.name,
        "startTime": if o.broken { "not-a-time".to_string() } else { iso(o.start_ns) },
        "endTime": o.end_ns.map(iso),
        "completionStartTime": null,
        "model": o.model,
        "modelParameters": if o.model.is_some() { json!({"temperature": 0.2}) } else { json!({}) },
        "input": o.input,
        "version": null,
        "metadata": o.metadata,
        "output": o.output,
        "usage": usage,
        "level": o.level,
        "statusMessage": o.status,
        "parentObservationId": o.parent,
        "promptId": o.prompt.map(|(n, v)| format!("prompt-{n}-{v}")),
        "usageDetails": usage_details,
        "costDetails": cost_details,
        "environment": "production",
        "promptName": o.prompt.map(|(n, _)| n),
        "promptVersion": o.prompt.map(|(_, v)| v),
        "modelId": o.model.map(|m| format!("lf-{m}")),
        "inputPrice": o.model.map(|_| 0.0000025),
        "outputPrice": o.model.map(|_| 0.00001),
        "totalPrice": null,
        "calculatedInputCost": cost.map(|c| c.0),
        "calculatedOutputCost": cost.map(|c| c.1),
        "calculatedTotalCost": cost.map(|c| c.0 + c.1),
        "latency": o.end_ns.map(|e| (e - o.start_ns) as f64 / 1e9),
        "timeToFirstToken": null,
        "_ignored_by_clients": t.release,
    })
}

/// v1 `Trace` fields plus `TraceWithDetails` / `TraceWithFullDetails` ones; the
/// `fields` groups as the spec describes them.
fn v1_trace(i: usize, groups: Option<&[&str]>, full: bool) -> Value {
    let t = &data().traces[i];
    let has = |g: &str| groups.is_none_or(|gs| gs.contains(&g));
    let observations: Vec<&Obs> = data().obs.iter().filter(|o| o.trace == i).collect();
    let obs_field = match (has("observations"), full) {
        (false, _) => json!([]),
        (true, true) => Value::Array(observations.iter().map(|o| v1_observation(o)).collect()),
        (true, false) => json!(observations.iter().map(|o| &o.id).collect::<Vec<_>>()),
    };
    json!({
        "id": t.id,
        "timestamp": iso(t.start_ns),
        "name": "support-request",
        "input": if has("io") { json!({"question": i}) } else { Value::Null },
        "output": if has("io") { json!({"answer": i}) } else { Value::Null },
        "sessionId": format!("session-{i}"),
        "release": t.release,
        "version": t.version,
        "userId": t.user,
        "metadata": if has("io") { json!({"tenant": "acme"}) } else { Value::Null },
        "tags": ["support", t.version],
        "public": false,
        "environment": "production",
        "htmlPath": format!("/project/proj-relops/traces/{}", t.id),
        "latency": if has("metrics") { json!(2.5) } else { json!(-1) },
        "totalCost": if has("metrics") { json!(0.001) } else { json!(-1) },
        "observations": obs_field,
        "scores": [],
    })
}

// ---------------------------------------------------------------------------------
// The server.

type Q = Query<HashMap<String, String>>;

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"message": message})),
    )
        .into_response()
}

/// What each scenario does before answering; `Some` is the answer.
fn gate(scenario: &str, headers: &HeaderMap) -> Option<Response> {
    let auth = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    match scenario {
        "revoked" => Some(
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"message": format!(
                    "Invalid credentials. Confirm that you've configured the correct host. \
                     (received {auth})")})),
            )
                .into_response(),
        ),
        "broken" => Some(
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "upstream error; request was: authorization: {auth}; password={}",
                    canary()
                ),
            )
                .into_response(),
        ),
        _ if auth != format!("Basic {}", basic()) => Some(
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"message": "Invalid credentials"})),
            )
                .into_response(),
        ),
        _ => None,
    }
}

async fn health(UrlPath(scenario): UrlPath<String>) -> Response {
    if scenario == "broken" {
        return (StatusCode::SERVICE_UNAVAILABLE, "db down").into_response();
    }
    axum::Json(json!({"version": "3.120.0", "status": "OK"})).into_response()
}

fn window(q: &HashMap<String, String>, from: &str, to: &str) -> Result<(i64, i64), String> {
    let read = |k: &str| {
        q.get(k)
            .map(|s| parse_iso(s).ok_or_else(|| format!("{k}: not a datetime")))
            .transpose()
    };
    Ok((
        read(from)?.unwrap_or(i64::MIN),
        read(to)?.unwrap_or(i64::MAX),
    ))
}

fn limit(q: &HashMap<String, String>, max: usize) -> Result<usize, String> {
    match q.get("limit").map(|l| l.parse::<usize>()) {
        None => Ok(50),
        Some(Ok(n)) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("limit must be 1..={max}")),
    }
}

fn cursor(offset: usize, tag: &str) -> String {
    b64(format!("offset:{offset}{tag}").as_bytes())
}

async fn observations(
    UrlPath(scenario): UrlPath<String>,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    if let Some(r) = gate(&scenario, &headers) {
        return r;
    }
    let groups: Vec<&str> = q.get("fields").map_or(vec!["core", "basic"], |f| {
        f.split(',').map(str::trim).collect()
    });
    if let Some(g) = groups.iter().find(|g| GROUPS.iter().all(|(k, _)| k != *g)) {
        return bad_request(format!("unknown field group {g}"));
    }
    let (from, to) = match window(&q, "fromStartTime", "toStartTime") {
        Ok(w) => w,
        Err(m) => return bad_request(m),
    };
    let limit = match limit(&q, 1000) {
        Ok(l) => l,
        Err(m) => return bad_request(m),
    };
    let mut rows: Vec<&Obs> = data()
        .obs
        .iter()
        .filter(|o| o.start_ns >= from && o.start_ns < to)
        .collect();
    rows.sort_by(|a, b| b.start_ns.cmp(&a.start_ns).then(a.id.cmp(&b.id)));
    let known: HashMap<String, (usize, &str)> = (0..=rows.len())
        .flat_map(|n| {
            [
                (cursor(n, ""), (n, "")),
                (cursor(n, ":resumed"), (n, ":resumed")),
            ]
        })
        .collect();
    let (offset, tag) = match q.get("cursor") {
        None => (0, ""),
        Some(c) => match known.get(c) {
            Some(found) => *found,
            None => return bad_request("invalid cursor".into()),
        },
    };
    // main: the page at 14 first comes back empty, with a cursor to the same place.
    if scenario == "main" && offset == 14 && tag.is_empty() {
        return axum::Json(json!({"data": [], "meta": {"cursor": cursor(14, ":resumed")}}))
            .into_response();
    }
    let page: Vec<Value> = rows
        .iter()
        .skip(offset)
        .take(limit)
        .map(|o| select(&v2_observation(o), &groups))
        .collect();
    let next = offset + limit;
    // loop: the page at 14 hands out the cursor of the page at 7 again.
    let meta = if scenario == "loop" && offset >= 14 {
        json!({"cursor": cursor(7, "")})
    } else if next < rows.len() {
        json!({"cursor": cursor(next, "")})
    } else {
        json!({})
    };
    axum::Json(json!({"data": page, "meta": meta})).into_response()
}

/// A trace v1 lists whose detail is gone by the time it is asked for.
const DELETED: &str = "trace-deleted-meanwhile";

async fn traces(UrlPath(scenario): UrlPath<String>, headers: HeaderMap, Query(q): Q) -> Response {
    if let Some(r) = gate(&scenario, &headers) {
        return r;
    }
    let (from, to) = match window(&q, "fromTimestamp", "toTimestamp") {
        Ok(w) => w,
        Err(m) => return bad_request(m),
    };
    let limit = match limit(&q, 100) {
        Ok(l) => l,
        Err(m) => return bad_request(m),
    };
    let page: usize = match q.get("page").map(|p| p.parse()) {
        None => 1,
        Some(Ok(p)) if p >= 1 => p,
        _ => return bad_request("page starts at 1".into()),
    };
    if q.get("orderBy").is_some_and(|o| o != "timestamp.asc") {
        return bad_request("this test server only orders by timestamp.asc".into());
    }
    let groups: Option<Vec<&str>> = q.get("fields").map(|f| f.split(',').collect());
    let deleted_at = now_ns() - HOUR;
    let mut rows: Vec<(i64, Value)> = (0..data().traces.len())
        .map(|i| {
            (
                data().traces[i].start_ns,
                v1_trace(i, groups.as_deref(), false),
            )
        })
        .chain([(
            deleted_at,
            json!({"id": DELETED, "timestamp": iso(deleted_at), "name": "gone",
                   "sessionId": null, "release": null, "version": null, "userId": null,
                   "tags": [], "public": false, "environment": "default",
                   "htmlPath": "/gone", "observations": [], "scores": []}),
        )])
        .filter(|(ts, _)| *ts >= from && *ts < to)
        .collect();
    rows.sort_by_key(|(ts, _)| *ts);
    let total = rows.len();
    let data: Vec<Value> = rows
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .map(|(_, v)| v)
        .collect();
    axum::Json(json!({
        "data": data,
        "meta": {"page": page, "limit": limit, "totalItems": total,
                 "totalPages": total.div_ceil(limit)},
    }))
    .into_response()
}

async fn trace(
    UrlPath((scenario, id)): UrlPath<(String, String)>,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    if let Some(r) = gate(&scenario, &headers) {
        return r;
    }
    let Some(i) = data().traces.iter().position(|t| t.id == id) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "Trace not found"})),
        )
            .into_response();
    };
    let groups: Option<Vec<&str>> = q.get("fields").map(|f| f.split(',').collect());
    axum::Json(v1_trace(i, groups.as_deref(), true)).into_response()
}

fn server() -> &'static str {
    static ADDR: OnceLock<String> = OnceLock::new();
    ADDR.get_or_init(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let app = Router::new()
                    .route("/{scenario}/api/public/health", get(health))
                    .route("/{scenario}/api/public/v2/observations", get(observations))
                    .route("/{scenario}/api/public/traces", get(traces))
                    .route("/{scenario}/api/public/traces/{id}", get(trace));
                let l = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(l, app).await.unwrap();
            });
        });
        addr
    })
}

// ---------------------------------------------------------------------------------
// Workspaces and runs.

/// `(name, endpoint, api, page_size)` per source.
fn workspace(sources: &[(&str, String, &str, u32)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("[workspace]\ncache = \"cache.db\"\n");
    for (name, endpoint, api, page_size) in sources {
        text.push_str(&format!(
            "\n[[source]]\nname = \"{name}\"\nkind = \"langfuse\"\nendpoint = \"{endpoint}\"\n\
             api = \"{api}\"\npage_size = {page_size}\nretries = 1\nbackoff_ms = 10\n\
             timeout_ms = 5000\n\
             auth = {{ public_key_env = \"{PK_ENV}\", secret_key_env = \"{SK_ENV}\" }}\n"
        ));
    }
    let config = dir.path().join("relops.toml");
    std::fs::write(&config, text).unwrap();
    (dir, config)
}

fn at(scenario: &str) -> String {
    format!("http://{}/{scenario}", server())
}

fn run(config: &Path) -> assert_cmd::Command {
    let mut cmd = relops(config);
    cmd.env(PK_ENV, PK).env(SK_ENV, canary());
    cmd
}

/// `relops sync --once --json`: its exit code and its reports by source.
fn sync(config: &Path) -> (i32, HashMap<String, Value>) {
    let out = run(config)
        .args(["sync", "--once", "--json"])
        .output()
        .unwrap();
    let reports: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "sync --json printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let by_name = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["source"].as_str().unwrap().to_string(), r.clone()))
        .collect();
    (out.status.code().unwrap(), by_name)
}

fn traces_json(config: &Path) -> Vec<Value> {
    json(run(config).args(["traces", "--json", "--limit", "1000"]))
        .as_array()
        .unwrap()
        .clone()
}

fn show(config: &Path, id: &str) -> Value {
    json(run(config).args(["trace", "show", id, "--json"]))
}

fn status(config: &Path, source: &str) -> Value {
    json(run(config).args(["sync", "--status", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == source)
        .unwrap_or_else(|| panic!("no status row for {source}"))
        .clone()
}

fn close(a: &Value, b: f64) -> bool {
    (a.as_f64().unwrap_or(f64::NAN) - b).abs() < 1e-9
}

/// What every API variant must have brought, field by field.
fn check_imported(config: &Path) {
    let traces = traces_json(config);
    assert_eq!(traces.len(), 8, "{traces:#?}");
    let by_id = |i: usize| {
        traces
            .iter()
            .find(|t| t["id"] == cache_id(i))
            .unwrap_or_else(|| panic!("trace {i} ({}) missing", cache_id(i)))
    };
    for i in 0..8 {
        let t = by_id(i);
        assert_eq!(t["version"], if i >= 5 { "v3" } else { "v2" }, "{t}");
        assert_eq!(t["name"], "support-request");
        assert_eq!(t["tokens_in"], 800 + 10 * i as i64, "{t}");
        assert_eq!(t["tokens_out"], 40 + i as i64);
        assert!(close(&t["cost_usd"], 0.001 + 0.0001 * i as f64), "{t}");
        assert_eq!(t["tool_calls"], 1);
        assert_eq!(t["refusal"], i == 6, "{t}");
        assert_eq!(t["status"], if i == 3 { "error" } else { "ok" }, "{t}");
        assert_eq!(t["tool_errors"], i64::from(i == 3));
    }

    // A trace with a failed tool call, span by span.
    let t3 = show(config, &cache_id(3));
    assert_eq!(t3["input"], "{\"question\":\"refund order 1003\"}");
    let spans = t3["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 4);
    assert_eq!(spans[0]["depth"], 0);
    assert_eq!(spans[0]["kind"], "chain");
    assert_eq!(spans[0]["status_message"], "refund failed");
    let kind = |k: &str| spans.iter().find(|s| s["kind"] == k).unwrap();
    let tool = kind("tool");
    assert_eq!(tool["error"], true);
    assert_eq!(tool["status_message"], "refund API 503");
    assert_eq!(tool["tool_name"], "refund");
    assert_eq!(tool["depth"], 1);
    assert_eq!(
        tool["attributes"]["span"]["langfuse.observation.id"],
        obs_id(3, 3)
    );
    assert_eq!(tool["attributes"]["span"]["langfuse.trace.id"], trace_id(3));
    let llm = kind("llm");
    assert_eq!(llm["model"], "gpt-4o-mini");
    assert_eq!(
        (llm["tokens_in"].as_i64(), llm["tokens_out"].as_i64()),
        (Some(830), Some(43))
    );
    assert!(close(&llm["cost_usd"], 0.0013));
    assert!(
        llm["output"]
            .as_str()
            .unwrap()
            .contains("refund order 1003")
    );
    assert_eq!(
        llm["attributes"]["span"]["llm.prompt_template.version"],
        "support@2"
    );
    assert_eq!(llm["attributes"]["span"]["service.version"], "2026.11.1");
    assert_eq!(
        kind("retriever")["attributes"]["span"]["metadata.index_version"],
        "idx-41"
    );

    // Ids that are neither UUIDs nor hex are hashed; the originals stay.
    let t7 = show(config, &cache_id(7));
    assert_eq!(t7["version"], "v3");
    let root = &t7["spans"][0];
    assert_eq!(
        root["attributes"]["span"]["langfuse.trace.id"],
        "trace-legacy-7"
    );
    assert_eq!(
        root["attributes"]["span"]["langfuse.observation.id"],
        "t7-obs-0"
    );

    let versions = json(run(config).args(["versions", "--json"]));
    let label = |l: &str| {
        versions
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["label"] == l)
            .unwrap_or_else(|| panic!("no version {l}: {versions}"))
            .clone()
    };
    let v2 = label("v2");
    assert_eq!(v2["traces"], 5);
    assert_eq!(v2["prompt_hash"], "support@2");
    assert_eq!(v2["config_hash"], "cfg-2");
    assert_eq!(v2["model"], "gpt-4o-mini");
    assert_eq!(v2["index_version"], "idx-41");
    let v3 = label("v3");
    assert_eq!(v3["traces"], 3);
    assert_eq!(v3["prompt_hash"], "ph-v3");
    assert_eq!(v3["config_hash"], "cfg-3");
    assert_eq!(v3["model"], "gpt-4.1");
    assert_eq!(v3["index_version"], "idx-42");
    assert_eq!(versions.as_array().unwrap().len(), 2, "{versions}");
}

// ---------------------------------------------------------------------------------

#[test]
fn v2_sync_imports_every_observation_and_a_second_sync_doubles_nothing() {
    let (_dir, config) = workspace(&[("lf", at("main"), "v2", 7)]);
    let (code, reports) = sync(&config);
    let r = &reports["lf"];
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["ok"], true);
    // Six full pages, the empty one with a cursor, the last one without.
    assert_eq!(r["pages"], 7, "{r}");
    assert_eq!(r["records"], VALID_OBSERVATIONS);
    assert_eq!(r["rows"], VALID_OBSERVATIONS);
    assert_eq!(r["rejected"], 1);
    let why = r["rejections"][0].as_str().unwrap();
    assert!(
        why.contains(&broken_id()) && why.contains("startTime \"not-a-time\""),
        "{why}"
    );
    check_imported(&config);
    let before = traces_json(&config);

    // Again: only the overlap (the newest trace's five observations) is read again.
    let (code, reports) = sync(&config);
    let r = &reports["lf"];
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        (r["records"].as_u64(), r["rows"].as_u64()),
        (Some(5), Some(0)),
        "{r}"
    );
    assert_eq!(traces_json(&config), before);

    let s = status(&config, "lf");
    assert_eq!(s["health"], "ok", "{s}");
    // Records committed, the re-read five included.
    assert_eq!(s["rows_total"], VALID_OBSERVATIONS + 5);
    assert_eq!(s["pages_total"], 8);
    assert_eq!(s["rejected_total"], 1);
    assert!(s["last_error"].is_null(), "{s}");
}

#[test]
fn v1_traces_api_imports_the_same_spans() {
    let (_dir, config) = workspace(&[("lf-v1", at("main"), "v1", 3)]);
    let (code, reports) = sync(&config);
    let r = &reports["lf-v1"];
    assert_eq!(code, 0, "{r}");
    // Nine traces listed (one deleted before its detail was asked for), three a page.
    assert_eq!(r["pages"], 3, "{r}");
    assert_eq!(r["records"], VALID_OBSERVATIONS);
    assert_eq!(r["rejected"], 2);
    let reasons = r["rejections"].to_string();
    assert!(
        reasons.contains(DELETED) && reasons.contains("not found"),
        "{reasons}"
    );
    assert!(reasons.contains(&broken_id()), "{reasons}");
    check_imported(&config);
    // The trace's own fields reach its observations.
    let t0 = show(&config, &cache_id(0));
    let attrs = &t0["spans"][0]["attributes"]["span"];
    assert_eq!(attrs["langfuse.trace.name"], "support-request");
    assert_eq!(attrs["metadata.tenant"], "acme");
    assert_eq!(attrs["langfuse.trace.tags"], json!(["support", "v2"]));

    let before = traces_json(&config);
    let (code, reports) = sync(&config);
    assert_eq!(code, 0, "{}", reports["lf-v1"]);
    assert_eq!(reports["lf-v1"]["rows"], 0);
    assert_eq!(traces_json(&config), before);
}

#[test]
fn a_repeated_cursor_stops_the_sync_and_doubles_nothing() {
    let (_dir, config) = workspace(&[("lf", at("loop"), "v2", 7)]);
    for attempt in 0..2u64 {
        let (code, reports) = sync(&config);
        let r = &reports["lf"];
        assert_eq!(code, 1, "attempt {attempt}: {r}");
        assert_eq!(r["ok"], false);
        let error = r["error"].as_str().unwrap();
        assert!(error.contains("repeats its cursor"), "{error}");

        let traces = traces_json(&config);
        let mut ids: Vec<&str> = traces.iter().map(|t| t["id"].as_str().unwrap()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), traces.len(), "a trace twice");
        let mut spans = 0;
        for t in &traces {
            let detail = show(&config, t["id"].as_str().unwrap());
            let mut span_ids: Vec<&str> = detail["spans"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["span_id"].as_str().unwrap())
                .collect();
            let n = span_ids.len();
            span_ids.sort_unstable();
            span_ids.dedup();
            assert_eq!(span_ids.len(), n, "a span twice in {}", t["id"]);
            spans += n as u64;
        }
        // Pages 1 and 2 (14 observations, 13 readable or 14) the first time; the
        // second resumes at page 3 and stops when page 2's cursor comes back again.
        assert!(spans <= VALID_OBSERVATIONS, "{spans} spans");
        assert!(
            spans >= 13 + 7 * attempt,
            "{spans} spans after attempt {attempt}"
        );
        let s = status(&config, "lf");
        assert_eq!(s["health"], "failing", "{s}");
        assert!(
            s["last_error"]
                .as_str()
                .unwrap()
                .contains("repeats its cursor")
        );
    }
}

#[test]
fn the_secret_key_never_reaches_the_cache_or_the_output() {
    let (dir, config) = workspace(&[
        ("lf", at("main"), "v2", 50),
        ("lf-revoked", at("revoked"), "v2", 50),
        ("lf-broken", at("broken"), "v1", 50),
    ]);
    let mut outputs: Vec<Vec<u8>> = Vec::new();
    let mut capture = |cmd: &mut assert_cmd::Command| {
        let out = cmd.output().unwrap();
        outputs.push(out.stdout.clone());
        outputs.push(out.stderr.clone());
        out
    };
    for _ in 0..2 {
        let out = capture(run(&config).args(["sync", "--once", "--json"]));
        assert_eq!(out.status.code(), Some(1));
        let reports: Value = serde_json::from_slice(&out.stdout).unwrap();
        let by = |n: &str| {
            reports
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["source"] == n)
                .unwrap()
                .clone()
        };
        assert_eq!(by("lf")["ok"], true);
        let revoked = by("lf-revoked")["error"].as_str().unwrap().to_string();
        assert!(
            revoked.contains("HTTP 401") && revoked.contains("credentials were refused"),
            "{revoked}"
        );
        let broken = by("lf-broken")["error"].as_str().unwrap().to_string();
        assert!(
            broken.contains("HTTP 500") && broken.contains("***"),
            "{broken}"
        );
    }
    capture(run(&config).args(["sync", "--once"]));
    capture(run(&config).args(["sync", "--status", "--json"]));
    capture(run(&config).args(["sync", "--status"]));
    capture(run(&config).arg("doctor"));
    capture(run(&config).args(["traces", "--json", "--limit", "1000"]));

    let secret = canary().as_bytes().to_vec();
    let header = basic().into_bytes();
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    for (i, out) in outputs.iter().enumerate() {
        assert!(
            !contains(out, &secret),
            "output {i}: {}",
            String::from_utf8_lossy(out)
        );
        assert!(
            !contains(out, &header),
            "output {i}: {}",
            String::from_utf8_lossy(out)
        );
    }
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("cache.db") {
            files += 1;
            let bytes = std::fs::read(&path).unwrap();
            assert!(!contains(&bytes, &secret), "{name} holds the secret key");
            assert!(!contains(&bytes, &header), "{name} holds the Basic header");
        }
    }
    assert!(files >= 1, "no cache file");
}

#[test]
fn doctor_tells_refused_credentials_from_an_unreachable_server() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let (_dir, config) = workspace(&[
        ("lf", at("main"), "v2", 50),
        ("lf-v1", at("main"), "v1", 50),
        ("lf-revoked", at("revoked"), "v2", 50),
        ("lf-down", format!("http://{closed}"), "v2", 50),
    ]);
    let out = run(&config).arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = |name: &str| {
        text.lines()
            .find(|l| l.contains(&format!("source {name} (langfuse)")))
            .unwrap_or_else(|| panic!("no line for {name}: {text}"))
            .to_string()
    };
    let ok = line("lf");
    assert!(
        ok.starts_with("ok") && ok.contains("Langfuse 3.120.0"),
        "{ok}"
    );
    assert!(
        ok.contains("credentials accepted") && ok.contains("has observations"),
        "{ok}"
    );
    let v1 = line("lf-v1");
    assert!(v1.starts_with("ok") && v1.contains("has traces"), "{v1}");
    let refused = line("lf-revoked");
    assert!(
        refused.starts_with("FAIL") && refused.contains("reachable"),
        "{refused}"
    );
    assert!(
        refused.contains("credentials were refused (HTTP 401)"),
        "{refused}"
    );
    assert!(
        refused.contains(PK_ENV) && refused.contains(SK_ENV),
        "{refused}"
    );
    let down = line("lf-down");
    assert!(
        down.starts_with("FAIL") && down.contains("unreachable"),
        "{down}"
    );
    assert!(!text.contains(canary()));
}

#[test]
fn a_missing_key_variable_is_named() {
    let (_dir, config) = workspace(&[("lf", at("main"), "v2", 50)]);
    let out = relops(&config)
        .env(PK_ENV, PK)
        .env_remove(SK_ENV)
        .args(["sync", "--once", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(SK_ENV) && text.contains("not set"), "{text}");
}
