//! Langfuse public API (spec: `shared/reference/langfuse-openapi.yml`), HTTP Basic auth
//! with the public key as user and the secret key as password.
//!
//! - `api = "v2"` (the default): `GET /api/public/v2/observations`, windowed by
//!   `fromStartTime` / `toStartTime`, paged by `meta.cursor`, asking for the field
//!   groups the mapping reads.
//! - `api = "v1"` (older self-hosted servers): `GET /api/public/traces`, windowed by
//!   `fromTimestamp` / `toTimestamp` and paged by number up to `meta.totalPages`; each
//!   listed trace's observations come from `GET /api/public/traces/{id}`, which also
//!   gives the trace-level fields (release, version, tags, metadata).
//!
//! Every observation becomes one span (see [`parts`] for the mapping); the trace itself
//! is not a span, in either API, so both import the same spans.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat};
use futures::StreamExt;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::otlp_span::{self, SpanParts, flatten_into, hex_id};
use super::window::{Pass, RepeatGuard, Window, nanos};
use super::{BoxFuture, Fetcher, Page, PullContext, PullError, Records, Source, SourceConfig};
use crate::ingest::{Resource, SpanRecord};
use crate::otlp::Attributes;

/// The v2 API's largest page (`limit`: "Maximum 1000").
const V2_MAX_LIMIT: u32 = 1000;
/// The v1 traces list documents no maximum; Langfuse servers validate `limit` at most
/// 100, and each listed trace costs one more request.
const V1_MAX_LIMIT: u32 = 100;
/// Trace detail requests in flight at once (v1).
const V1_CONCURRENCY: usize = 4;
/// The v2 field groups the mapping reads (`core` is always included; `metrics` is
/// computed from what is asked for anyway).
const V2_FIELDS: &str = "core,basic,time,io,metadata,model,usage,prompt,trace_context";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    V1,
    V2,
}

pub struct Langfuse {
    config: SourceConfig,
    fetch: Fetcher,
    base: String,
    api: Api,
    resource: Arc<Resource>,
    repeats: RepeatGuard,
}

/// `ObservationsV2Response`.
#[derive(Deserialize)]
struct V2Page {
    data: Vec<Box<RawValue>>,
    meta: V2Meta,
}

/// `ObservationsV2Meta`: no cursor, no more results.
#[derive(Deserialize)]
struct V2Meta {
    #[serde(default)]
    cursor: Option<String>,
}

/// `Traces` (v1 list).
#[derive(Deserialize)]
struct V1Traces {
    data: Vec<Box<RawValue>>,
    meta: V1Meta,
}

/// `utilsMetaResponse`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Meta {
    total_pages: u64,
}

#[derive(Deserialize)]
struct TraceRef {
    id: String,
}

/// `TraceWithFullDetails` (v1 detail): the trace fields observations inherit.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TraceFields {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    release: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
}

#[derive(Deserialize)]
struct TraceDetail {
    #[serde(flatten)]
    fields: TraceFields,
    #[serde(default)]
    observations: Vec<Box<RawValue>>,
}

/// `ObservationV2`, and v1's `ObservationsView`: the union of both, every field
/// optional but the id and the start time (whatever a field group left out is absent).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Observation {
    id: String,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    start_time: String,
    #[serde(default)]
    end_time: Option<String>,
    #[serde(default)]
    completion_start_time: Option<String>,
    #[serde(default)]
    parent_observation_id: Option<String>,
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    status_message: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    metadata: Option<Value>,
    /// v2 (`model` group).
    #[serde(default)]
    provided_model_name: Option<String>,
    /// v1.
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    internal_model_id: Option<String>,
    #[serde(default)]
    model_id: Option<String>,
    #[serde(default)]
    model_parameters: Option<Value>,
    #[serde(default)]
    usage_details: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    cost_details: Option<BTreeMap<String, Value>>,
    /// v1's deprecated `Usage`, read when `usageDetails` is missing.
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    total_cost: Option<f64>,
    #[serde(default)]
    calculated_total_cost: Option<f64>,
    #[serde(default)]
    prompt_id: Option<String>,
    #[serde(default)]
    prompt_name: Option<String>,
    #[serde(default)]
    prompt_version: Option<i64>,
    /// v2 `trace_context` group.
    #[serde(default)]
    trace_name: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    release: Option<String>,
}

#[derive(Deserialize)]
struct Health {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

impl Langfuse {
    pub fn new(config: &SourceConfig) -> Result<Self, String> {
        let base = config
            .endpoint
            .as_deref()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string();
        match reqwest::Url::parse(&base) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => return Err(format!("endpoint {base:?} is not an http(s) URL")),
        }
        let api = match config.api.as_deref() {
            None | Some("v2") => Api::V2,
            Some("v1") => Api::V1,
            Some(other) => return Err(format!("unknown Langfuse API {other:?}")),
        };
        Ok(Self {
            config: config.clone(),
            fetch: Fetcher::new(config)?,
            base,
            api,
            resource: otlp_span::resource(&[("relops.source", &config.name)]),
            repeats: RepeatGuard::default(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GETs a 2xx body; errors carry no secret, even when a server echoes one.
    async fn get(&self, url: &str, query: &[(&str, String)]) -> Result<Vec<u8>, PullError> {
        self.fetch
            .get(url, query)
            .await
            .and_then(super::fetch::Response::ok)
            .map_err(|e| self.fetch.scrub(e))
    }

    async fn pull_page(&self, cursor: Option<&str>, cx: &PullContext) -> Result<Page, PullError> {
        let pass = Window::resume(cursor, &self.config, cx.now_ns)?;
        let (spans, rejected, next) = match self.api {
            Api::V2 => self.observations_v2(&pass, cx).await?,
            Api::V1 => self.traces_v1(&pass, cx).await?,
        };
        // v1 lists traces by their timestamp; their observations may start earlier, so
        // only v2's pages are checked against the window.
        let checked = match self.api {
            Api::V2 => Some(pass.check(&spans, next.is_none(), &self.repeats)?),
            Api::V1 => None,
        };
        let (cursor, more) = pass.advance(next, checked.as_ref(), &self.config);
        Ok(Page {
            records: Records::Spans(spans),
            rejected,
            cursor,
            high_water_ns: pass.high_water(more),
            more,
        })
    }

    /// One v2 page: its spans, rejections and the next cursor. An empty page that
    /// still has a cursor is followed; a repeated cursor is the engine's to catch.
    async fn observations_v2(&self, pass: &Pass, cx: &PullContext) -> Result<Pulled, PullError> {
        let url = self.url("/api/public/v2/observations");
        let mut query = vec![
            ("fields", V2_FIELDS.to_string()),
            ("limit", self.config.page_size.min(V2_MAX_LIMIT).to_string()),
            ("fromStartTime", rfc3339(pass.from_ns)),
            ("toStartTime", rfc3339(pass.until_ns)),
        ];
        if let Some(page) = &pass.page {
            query.push(("cursor", page.clone()));
        }
        let body = self.get(&url, &query).await?;
        let page: V2Page = serde_json::from_slice(&body)
            .map_err(|e| PullError::Malformed(format!("{url}: {e}")))?;
        let mut spans = Vec::with_capacity(page.data.len());
        let mut rejected = Vec::new();
        for raw in &page.data {
            match record(raw.get(), None, &self.resource, cx) {
                Ok(r) => spans.push(r),
                Err(reason) => rejected.push(reason),
            }
        }
        let next = page.meta.cursor.filter(|c| !c.is_empty());
        Ok((spans, rejected, next))
    }

    /// One v1 page of traces with every listed trace's observations; the next page
    /// number while `meta.totalPages` says there is one.
    async fn traces_v1(&self, pass: &Pass, cx: &PullContext) -> Result<Pulled, PullError> {
        let page_no: u64 = match &pass.page {
            None => 1,
            Some(p) => p
                .parse()
                .map_err(|_| PullError::Malformed(format!("saved page number {p:?}")))?,
        };
        let url = self.url("/api/public/traces");
        let query = [
            ("page", page_no.to_string()),
            ("limit", self.config.page_size.min(V1_MAX_LIMIT).to_string()),
            ("fromTimestamp", rfc3339(pass.from_ns)),
            ("toTimestamp", rfc3339(pass.until_ns)),
            ("orderBy", "timestamp.asc".to_string()),
            ("fields", "core".to_string()),
        ];
        let body = self.get(&url, &query).await?;
        let list: V1Traces = serde_json::from_slice(&body)
            .map_err(|e| PullError::Malformed(format!("{url}: {e}")))?;
        let mut rejected = Vec::new();
        let mut ids = Vec::with_capacity(list.data.len());
        for (i, raw) in list.data.iter().enumerate() {
            match serde_json::from_str::<TraceRef>(raw.get()) {
                Ok(t) if !t.id.is_empty() => ids.push(t.id),
                Ok(_) => rejected.push(format!("trace #{} of page {page_no}: empty id", i + 1)),
                Err(e) => rejected.push(format!("trace #{} of page {page_no}: {e}", i + 1)),
            }
        }
        let details: Vec<Result<Option<Vec<u8>>, PullError>> = futures::stream::iter(ids.clone())
            .map(|id| async move { self.trace_detail(&id).await })
            .buffered(V1_CONCURRENCY)
            .collect()
            .await;
        let mut spans = Vec::new();
        for (id, detail) in ids.iter().zip(details) {
            let Some(body) = detail? else {
                rejected.push(format!(
                    "trace {id}: not found (deleted since it was listed?)"
                ));
                continue;
            };
            let detail: TraceDetail = match serde_json::from_slice(&body) {
                Ok(d) => d,
                Err(e) => {
                    rejected.push(format!("trace {id}: unreadable: {e}"));
                    continue;
                }
            };
            for raw in &detail.observations {
                match record(raw.get(), Some(&detail.fields), &self.resource, cx) {
                    Ok(r) => spans.push(r),
                    Err(reason) => rejected.push(reason),
                }
            }
        }
        let next = (page_no < list.meta.total_pages && !list.data.is_empty())
            .then(|| (page_no + 1).to_string());
        Ok((spans, rejected, next))
    }

    /// A trace with its observations (v1); `None` when it is gone.
    async fn trace_detail(&self, id: &str) -> Result<Option<Vec<u8>>, PullError> {
        let mut url = reqwest::Url::parse(&self.url("/api/public/traces"))
            .map_err(|e| PullError::Refused(format!("endpoint: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| PullError::Refused("endpoint cannot take a path".into()))?
            .push(id);
        let query = [("fields", "core,io,observations".to_string())];
        let resp = self
            .fetch
            .get(url.as_str(), &query)
            .await
            .map_err(|e| self.fetch.scrub(e))?;
        if resp.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        resp.ok().map(Some).map_err(|e| self.fetch.scrub(e))
    }

    /// The server's health, then one authenticated request: what `relops doctor` says.
    async fn probe_source(&self) -> Result<String, PullError> {
        let health_url = self.url("/api/public/health");
        let health =
            self.fetch
                .get(&health_url, &[])
                .await
                .map_err(|e| match self.fetch.scrub(e) {
                    PullError::Unavailable(m) => {
                        PullError::Unavailable(format!("unreachable or down: {m}"))
                    }
                    other => other,
                })?;
        let server = match serde_json::from_slice::<Health>(&health.body) {
            Ok(h) if health.status.is_success() => format!(
                "Langfuse {}, {}",
                h.version.as_deref().unwrap_or("(version unknown)"),
                h.status.as_deref().unwrap_or("status unknown")
            ),
            _ => format!("health check answered HTTP {}", health.status.as_u16()),
        };
        let (url, what) = match self.api {
            Api::V2 => (self.url("/api/public/v2/observations"), "observations"),
            Api::V1 => (self.url("/api/public/traces"), "traces"),
        };
        let query = [("limit", "1".to_string()), ("fields", "core".to_string())];
        let resp = self
            .fetch
            .get(&url, &query)
            .await
            .map_err(|e| self.fetch.scrub(e))?;
        if matches!(
            resp.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            let a = &self.config.auth;
            return Err(PullError::Refused(format!(
                "reachable ({server}), but the credentials were refused (HTTP {}): check the \
                 keys in ${} and ${} and that they belong to this server's project",
                resp.status.as_u16(),
                a.public_key_env.as_deref().unwrap_or("?"),
                a.secret_key_env.as_deref().unwrap_or("?"),
            )));
        }
        let body = resp.ok().map_err(|e| self.fetch.scrub(e))?;
        let found = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("data")?.as_array().map(Vec::len))
            .ok_or_else(|| PullError::Malformed(format!("{url}: no `data` array")))?;
        let api = match self.api {
            Api::V2 => "v2",
            Api::V1 => "v1",
        };
        Ok(format!(
            "reachable ({server}); credentials accepted; the {api} API {}",
            if found > 0 {
                format!("has {what}")
            } else {
                format!("has no {what} yet")
            }
        ))
    }
}

/// A page's spans, its rejections, and the source's token for the next page.
type Pulled = (Vec<SpanRecord>, Vec<String>, Option<String>);

/// One observation, through the importer's mapping; the error names it.
fn record(
    raw: &str,
    trace: Option<&TraceFields>,
    resource: &Arc<Resource>,
    cx: &PullContext,
) -> Result<SpanRecord, String> {
    let obs: Observation = serde_json::from_str(raw).map_err(|e| {
        let id = serde_json::from_str::<Value>(raw)
            .ok()
            .and_then(|v| v.get("id")?.as_str().map(str::to_string));
        match id {
            Some(id) => format!("observation {id}: {e}"),
            None => format!("observation without an id: {e}"),
        }
    })?;
    let label = obs.id.clone();
    parts(obs, trace)
        .and_then(|p| p.record(&cx.extractor, resource))
        .map_err(|e| format!("observation {label}: {e}"))
}

/// OpenInference span kinds for Langfuse's observation types, so classification never
/// guesses; an unknown type is left to the importer's inference.
fn span_kind(kind: &str) -> Option<&'static str> {
    Some(match kind.to_ascii_uppercase().as_str() {
        "GENERATION" => "LLM",
        "EMBEDDING" => "EMBEDDING",
        "TOOL" => "TOOL",
        "RETRIEVER" => "RETRIEVER",
        "AGENT" => "AGENT",
        "GUARDRAIL" => "GUARDRAIL",
        "EVALUATOR" => "EVALUATOR",
        "SPAN" | "CHAIN" => "CHAIN",
        "EVENT" => "UNKNOWN",
        _ => return None,
    })
}

/// A Langfuse observation in OTLP terms:
/// - ids through [`hex_id`], the originals kept as `langfuse.trace.id`,
///   `langfuse.observation.id`, `langfuse.parent_observation.id`;
/// - `type` → `openinference.span.kind` ([`span_kind`]); a TOOL's name → `tool.name`,
///   its input → `tool.parameters`;
/// - model → `llm.model_name`, `modelParameters` → `llm.invocation_parameters`;
/// - `usageDetails` → `llm.token_count.prompt` / `.completion` / `.total` (see
///   [`tokens`]), `costDetails.total` (else `totalCost`) → `relops.cost_usd`; every
///   detail also as `langfuse.usage.<key>` / `langfuse.cost.<key>`;
/// - `level` ERROR → error status with `statusMessage`;
/// - `input` / `output` → `input.value` / `output.value` as text;
/// - `metadata` flattened under `metadata.` (so `metadata.prompt_hash` reaches the
///   fingerprint); in v1 the trace's metadata fills keys the observation lacks;
/// - `promptName@promptVersion` → `llm.prompt_template.version` (a prompt hash key);
/// - `version` (the observation's, else the trace's) → `relops.version`, the trace's
///   `release` → `service.version`: the version label is the version, else the release;
/// - `environment` → `deployment.environment.name`, `userId` → `user.id`, `sessionId`
///   → `session.id`, trace name and tags → `langfuse.trace.name` / `.tags`.
fn parts(o: Observation, trace: Option<&TraceFields>) -> Result<SpanParts, String> {
    let trace_id = o
        .trace_id
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or("no traceId")?;
    if o.id.is_empty() {
        return Err("empty id".into());
    }
    let start_ns = nanos(&o.start_time, "startTime")?;
    let end_ns = match o.end_time.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => nanos(t, "endTime")?,
        None => start_ns,
    };
    let t = trace.unwrap_or(&EMPTY_TRACE);
    let mut a = Attributes::new();

    if let Some(m) = &o.metadata {
        metadata_into(m, &mut a);
    }
    if let Some(m) = &t.metadata {
        let mut inherited = Attributes::new();
        metadata_into(m, &mut inherited);
        for (k, v) in inherited {
            a.entry(k).or_insert(v);
        }
    }

    put(&mut a, "langfuse.observation.id", Some(o.id.clone()));
    put(&mut a, "langfuse.trace.id", Some(trace_id.clone()));
    put(
        &mut a,
        "langfuse.parent_observation.id",
        o.parent_observation_id.clone(),
    );
    put(&mut a, "langfuse.observation.type", o.kind.clone());
    let kind = o.kind.as_deref().and_then(span_kind);
    put(&mut a, "openinference.span.kind", kind);

    let input = o.input.as_ref().and_then(text);
    let output = o.output.as_ref().and_then(text);
    if kind == Some("TOOL") {
        put(&mut a, "tool.name", o.name.clone());
        put(&mut a, "tool.parameters", input.clone());
    }
    put(&mut a, "input.value", input);
    put(&mut a, "output.value", output);

    put(
        &mut a,
        "llm.model_name",
        o.provided_model_name.clone().or(o.model.clone()),
    );
    put(
        &mut a,
        "langfuse.model.id",
        o.internal_model_id.clone().or(o.model_id.clone()),
    );
    if let Some(p) = o.model_parameters.as_ref().filter(|p| !is_empty(p)) {
        put(&mut a, "llm.invocation_parameters", Some(p.to_string()));
    }

    usage_into(&o, &mut a);

    if let Some(name) = o.prompt_name.as_deref().filter(|n| !n.is_empty()) {
        let reference = match o.prompt_version {
            Some(v) => format!("{name}@{v}"),
            None => name.to_string(),
        };
        put(&mut a, "llm.prompt_template.version", Some(reference));
        put(&mut a, "langfuse.prompt.name", Some(name));
    }
    put(&mut a, "langfuse.prompt.version", o.prompt_version);
    put(&mut a, "langfuse.prompt.id", o.prompt_id.clone());

    let version = o.version.clone().or(t.version.clone());
    put(&mut a, "relops.version", version.clone());
    put(&mut a, "langfuse.version", version);
    let release = o.release.clone().or(t.release.clone());
    put(&mut a, "service.version", release.clone());
    put(&mut a, "langfuse.release", release);
    let environment = o.environment.clone().or(t.environment.clone());
    put(&mut a, "deployment.environment.name", environment.clone());
    put(&mut a, "langfuse.environment", environment);
    put(&mut a, "user.id", o.user_id.clone().or(t.user_id.clone()));
    put(
        &mut a,
        "session.id",
        o.session_id.clone().or(t.session_id.clone()),
    );
    put(
        &mut a,
        "langfuse.trace.name",
        o.trace_name.clone().or(t.name.clone()),
    );
    if let Some(tags) = o
        .tags
        .clone()
        .or(t.tags.clone())
        .filter(|tags| !tags.is_empty())
    {
        a.insert("langfuse.trace.tags".into(), Value::from(tags));
    }
    put(
        &mut a,
        "langfuse.completion_start_time",
        o.completion_start_time.clone(),
    );

    let error = o
        .level
        .as_deref()
        .is_some_and(|l| l.eq_ignore_ascii_case("ERROR"));
    put(&mut a, "langfuse.level", o.level.clone());
    let message = o.status_message.clone().filter(|m| !m.is_empty());
    if !error {
        put(&mut a, "langfuse.status_message", message.clone());
    }

    Ok(SpanParts {
        trace_id: hex_id(&trace_id, 32),
        span_id: hex_id(&o.id, 16),
        parent_id: o
            .parent_observation_id
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(|p| hex_id(p, 16)),
        name: o
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .or_else(|| o.kind.as_deref().map(str::to_ascii_lowercase))
            .unwrap_or_else(|| "observation".into()),
        start_ns,
        end_ns,
        error,
        status_message: message.filter(|_| error),
        attributes: a,
        events: Vec::new(),
    })
}

static EMPTY_TRACE: TraceFields = TraceFields {
    name: None,
    release: None,
    version: None,
    tags: None,
    environment: None,
    user_id: None,
    session_id: None,
    metadata: None,
};

fn put(a: &mut Attributes, key: &str, value: Option<impl Into<Value>>) {
    if let Some(v) = value.map(Into::into).filter(|v| !v.is_null()) {
        a.insert(key.to_string(), v);
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// Metadata under `metadata.`: an object flattened to dotted keys (a string holding a
/// JSON object too), anything else kept whole as `metadata`.
fn metadata_into(m: &Value, a: &mut Attributes) {
    let parsed;
    let m = match m {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => {
                parsed = v;
                &parsed
            }
            _ => m,
        },
        _ => m,
    };
    match m {
        Value::Object(_) => flatten_into("metadata", m, a),
        v if !is_empty(v) => {
            a.insert("metadata".into(), v.clone());
        }
        _ => {}
    }
}

/// JSON input or output as the text the importer reads: strings as they are (a JSON
/// string literal unwrapped, as v2 returns raw strings), anything else as JSON.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(
            s.starts_with('"')
                .then(|| serde_json::from_str::<String>(s).ok())
                .flatten()
                .unwrap_or_else(|| s.clone()),
        ),
        other => Some(other.to_string()),
    }
}

/// Tokens and cost. Langfuse reports breakdowns beside the base key and subtracts them
/// from it (`input` plus `input_cached_tokens`, `output` plus
/// `output_reasoning_tokens`), so a side's tokens are its base plus its breakdowns.
fn usage_into(o: &Observation, a: &mut Attributes) {
    let empty = BTreeMap::new();
    let usage = o.usage_details.as_ref().unwrap_or(&empty);
    let legacy = o.usage.as_ref().filter(|u| !is_empty(u));
    let (input, output, total) = if usage.is_empty() {
        let field = |k: &str| legacy.and_then(|u| u.get(k)).and_then(int);
        (field("input"), field("output"), field("total"))
    } else {
        (
            tokens(usage, "input", &["input_tokens", "prompt_tokens"]),
            tokens(usage, "output", &["output_tokens", "completion_tokens"]),
            ["total", "total_tokens"]
                .iter()
                .find_map(|k| usage.get(*k).and_then(int)),
        )
    };
    put(a, "llm.token_count.prompt", input);
    put(a, "llm.token_count.completion", output);
    put(a, "llm.token_count.total", total);
    for (k, v) in usage {
        put(a, &format!("langfuse.usage.{k}"), Some(v.clone()));
    }

    let costs = o.cost_details.as_ref().unwrap_or(&empty);
    let legacy_cost = legacy
        .and_then(|u| u.get("totalCost"))
        .and_then(Value::as_f64);
    let cost = costs
        .get("total")
        .and_then(Value::as_f64)
        .or(o.total_cost)
        .or(o.calculated_total_cost)
        .or(legacy_cost)
        .or_else(|| (!costs.is_empty()).then(|| costs.values().filter_map(Value::as_f64).sum()));
    put(a, "relops.cost_usd", cost);
    for (k, v) in costs {
        put(a, &format!("langfuse.cost.{k}"), Some(v.clone()));
    }
}

/// One side's tokens from `usageDetails`.
fn tokens(usage: &BTreeMap<String, Value>, side: &str, aliases: &[&str]) -> Option<i64> {
    let Some(base) = usage.get(side).and_then(int) else {
        return aliases.iter().find_map(|k| usage.get(*k).and_then(int));
    };
    let prefix = format!("{side}_");
    let breakdown: i64 = usage
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix) && !aliases.contains(&k.as_str()))
        .filter_map(|(_, v)| int(v))
        .sum();
    Some(base + breakdown)
}

fn int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_f64().map(|f| f.round() as i64))
}

/// Milliseconds, as Langfuse stores times.
fn rfc3339(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Source for Langfuse {
    fn config(&self) -> &SourceConfig {
        &self.config
    }

    fn pull<'a>(
        &'a self,
        cursor: Option<&'a str>,
        cx: &'a PullContext,
    ) -> BoxFuture<'a, Result<Page, PullError>> {
        Box::pin(self.pull_page(cursor, cx))
    }

    fn probe(&self) -> BoxFuture<'_, Result<String, PullError>> {
        Box::pin(self.probe_source())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Detection, VersionMapping};
    use crate::ingest::Extractor;
    use crate::model::SpanKind;
    use serde_json::json;

    fn cx() -> PullContext {
        PullContext {
            extractor: Arc::new(Extractor::new(
                &VersionMapping::default(),
                &Detection::default(),
            )),
            now_ns: 0,
        }
    }

    fn map(v: Value, trace: Option<&TraceFields>) -> Result<SpanRecord, String> {
        record(&v.to_string(), trace, &otlp_span::resource(&[]), &cx())
    }

    /// A v2 GENERATION with every field group asked for, as the spec shapes it.
    fn generation() -> Value {
        json!({
            "id": "obs-gen-1", "traceId": "7d3c3a0e-5b1f-4c2a-9d8e-0f1a2b3c4d5e",
            "startTime": "2026-11-20T11:00:00.000Z", "endTime": "2026-11-20T11:00:01.250Z",
            "projectId": "p1", "parentObservationId": "obs-root-1", "type": "GENERATION",
            "name": "answer", "level": "DEFAULT", "statusMessage": null, "version": "v3",
            "environment": "production", "userId": "u-9", "sessionId": "s-1",
            "input": "{\"messages\":[{\"role\":\"user\",\"content\":\"where is my refund\"}]}",
            "output": "\"Your refund is on its way.\"",
            "metadata": {"prompt_hash": "ph-meta", "config_hash": "cfg-7",
                         "nested": {"index_version": "idx-3"}},
            "providedModelName": "gpt-4.1-mini", "internalModelId": "m-123",
            "modelParameters": {"temperature": 0.2},
            "usageDetails": {"input": 900, "input_cached_tokens": 100, "output": 40,
                             "output_reasoning_tokens": 2, "total": 1042},
            "costDetails": {"input": 0.0009, "output": 0.0004, "total": 0.0013},
            "totalCost": 0.0013, "promptId": "pr-1", "promptName": "support",
            "promptVersion": 3, "traceName": "support-request", "tags": ["beta"],
            "release": "2026.11.2", "modelId": null, "inputPrice": null,
            "outputPrice": null, "totalPrice": null
        })
    }

    #[test]
    fn a_generation_maps_model_usage_cost_prompt_and_version() {
        let r = map(generation(), None).unwrap();
        let f = &r.facts;
        assert_eq!(f.kind, SpanKind::Llm);
        assert_eq!(f.model.as_deref(), Some("gpt-4.1-mini"));
        assert_eq!((f.tokens_in, f.tokens_out), (1000, 42));
        assert!((f.cost_usd - 0.0013).abs() < 1e-12);
        assert!(!f.error);
        assert_eq!(f.duration_ms(), 1250.0);
        assert_eq!(f.output.as_deref(), Some("Your refund is on its way."));
        assert!(f.input.as_deref().unwrap().contains("where is my refund"));
        let v = &f.version;
        assert_eq!(v.label.as_deref(), Some("v3"));
        assert_eq!(v.prompt_hash.as_deref(), Some("support@3"));
        assert_eq!(v.config_hash.as_deref(), Some("cfg-7"));
        assert_eq!(v.model.as_deref(), Some("gpt-4.1-mini"));
        assert_eq!(r.trace_id, "7d3c3a0e5b1f4c2a9d8e0f1a2b3c4d5e");
        assert_eq!(f.span_id, hex_id("obs-gen-1", 16));
        assert_eq!(
            f.parent_span_id.as_deref(),
            Some(hex_id("obs-root-1", 16).as_str())
        );
        let attrs: Value = serde_json::from_str(&r.attributes).unwrap();
        assert_eq!(attrs["langfuse.observation.id"], "obs-gen-1");
        assert_eq!(
            attrs["langfuse.trace.id"],
            "7d3c3a0e-5b1f-4c2a-9d8e-0f1a2b3c4d5e"
        );
        assert_eq!(attrs["metadata.nested.index_version"], "idx-3");
        assert_eq!(attrs["metadata.prompt_hash"], "ph-meta");
        assert_eq!(attrs["service.version"], "2026.11.2");
        assert_eq!(attrs["langfuse.trace.tags"], json!(["beta"]));
        assert_eq!(attrs["langfuse.usage.input_cached_tokens"], 100);
        assert_eq!(attrs["llm.invocation_parameters"], "{\"temperature\":0.2}");
        assert_eq!(attrs["deployment.environment.name"], "production");
    }

    #[test]
    fn a_failed_tool_is_an_error_with_its_message() {
        let tool = json!({
            "id": "obs-tool-1", "traceId": "trace-42", "type": "TOOL", "name": "refund",
            "startTime": "2026-11-20T11:00:02Z", "endTime": null,
            "parentObservationId": null, "level": "ERROR",
            "statusMessage": "refund API 503", "input": {"order": 17}
        });
        let f = map(tool, None).unwrap().facts;
        assert_eq!(f.kind, SpanKind::Tool);
        assert!(f.is_tool_error());
        assert_eq!(f.status_message.as_deref(), Some("refund API 503"));
        assert_eq!(f.tool_name.as_deref(), Some("refund"));
        assert_eq!(f.tool_args.as_deref(), Some("{\"order\":17}"));
        assert_eq!(f.start_ns, f.end_ns, "no endTime: a point in time");
        assert_eq!(f.parent_span_id, None);
    }

    #[test]
    fn a_warning_is_no_error_but_keeps_its_message() {
        let span = json!({"id": "a", "traceId": "b", "type": "SPAN",
            "startTime": "2026-11-20T11:00:00Z", "level": "WARNING", "statusMessage": "slow"});
        let r = map(span, None).unwrap();
        assert_eq!((r.facts.kind, r.facts.error), (SpanKind::Chain, false));
        assert_eq!(r.facts.status_message, None);
        let attrs: Value = serde_json::from_str(&r.attributes).unwrap();
        assert_eq!(attrs["langfuse.status_message"], "slow");
    }

    #[test]
    fn kinds_follow_the_observation_type() {
        for (t, kind) in [
            ("RETRIEVER", SpanKind::Retriever),
            ("EMBEDDING", SpanKind::Embedding),
            ("AGENT", SpanKind::Agent),
            ("GUARDRAIL", SpanKind::Guardrail),
            ("EVENT", SpanKind::Span),
            ("EVALUATOR", SpanKind::Span),
            ("CHAIN", SpanKind::Chain),
        ] {
            let o = json!({"id": "a", "traceId": "b", "type": t,
                           "startTime": "2026-11-20T11:00:00Z", "providedModelName": "m"});
            assert_eq!(map(o, None).unwrap().facts.kind, kind, "{t}");
        }
    }

    #[test]
    fn v1_shapes_inherit_the_trace_fields() {
        let obs = json!({
            "id": "o1", "traceId": "t1", "type": "GENERATION", "name": "llm",
            "startTime": "2026-11-20T11:00:00.000Z", "endTime": "2026-11-20T11:00:00.500Z",
            "completionStartTime": null, "model": "claude-sonnet-4",
            "modelParameters": {}, "input": {"question": "hi"}, "version": null,
            "metadata": {"config_hash": "own"}, "output": {"answer": "hello"},
            "usage": {"input": 10, "output": 5, "total": 15, "unit": "TOKENS"},
            "level": "DEFAULT", "statusMessage": null, "parentObservationId": null,
            "promptId": null, "usageDetails": {}, "costDetails": {},
            "environment": "default", "promptName": null, "promptVersion": null,
            "modelId": "m1", "inputPrice": 1e-6, "outputPrice": 2e-6, "totalPrice": null,
            "calculatedInputCost": 1e-5, "calculatedOutputCost": 1e-5,
            "calculatedTotalCost": 2e-5, "latency": 0.5, "timeToFirstToken": null
        });
        let trace = TraceFields {
            name: Some("support".into()),
            release: Some("r-1".into()),
            version: Some("v1.4".into()),
            tags: Some(vec!["prod".into()]),
            metadata: Some(json!({"config_hash": "trace", "prompt_hash": "ph-t"})),
            ..TraceFields::default()
        };
        let r = map(obs, Some(&trace)).unwrap();
        let f = &r.facts;
        assert_eq!(f.model.as_deref(), Some("claude-sonnet-4"));
        assert_eq!((f.tokens_in, f.tokens_out), (10, 5));
        assert!((f.cost_usd - 2e-5).abs() < 1e-15);
        assert_eq!(f.version.label.as_deref(), Some("v1.4"));
        assert_eq!(f.version.config_hash.as_deref(), Some("own"));
        assert_eq!(f.version.prompt_hash.as_deref(), Some("ph-t"));
        assert_eq!(f.output.as_deref(), Some("{\"answer\":\"hello\"}"));
        let attrs: Value = serde_json::from_str(&r.attributes).unwrap();
        assert_eq!(attrs["service.version"], "r-1");
        assert_eq!(attrs["langfuse.trace.name"], "support");
        assert_eq!(attrs["langfuse.model.id"], "m1");
        assert!(attrs.get("llm.invocation_parameters").is_none());
    }

    #[test]
    fn usage_reads_openai_style_keys_and_sums_costs_without_a_total() {
        let o = json!({"id": "a", "traceId": "b", "type": "GENERATION",
            "startTime": "2026-11-20T11:00:00Z",
            "usageDetails": {"prompt_tokens": 30, "completion_tokens": 7},
            "costDetails": {"input": 0.25, "output": 0.5}});
        let f = map(o, None).unwrap().facts;
        assert_eq!((f.tokens_in, f.tokens_out), (30, 7));
        assert!((f.cost_usd - 0.75).abs() < 1e-12);
    }

    #[test]
    fn unmappable_observations_name_themselves_and_the_reason() {
        let bad_time = json!({"id": "o-7", "traceId": "t", "type": "SPAN",
                              "startTime": "yesterday"});
        let e = map(bad_time, None).unwrap_err();
        assert!(
            e.contains("o-7") && e.contains("startTime \"yesterday\""),
            "{e}"
        );
        let no_trace = json!({"id": "o-8", "traceId": null, "type": "SPAN",
                              "startTime": "2026-11-20T11:00:00Z"});
        let e = map(no_trace, None).unwrap_err();
        assert!(e.contains("o-8") && e.contains("traceId"), "{e}");
        let no_start = json!({"id": "o-9", "traceId": "t"});
        let e = map(no_start, None).unwrap_err();
        assert!(e.contains("o-9") && e.contains("startTime"), "{e}");
        let backwards = json!({"id": "o-10", "traceId": "t", "startTime": "2026-11-20T11:00:01Z",
                               "endTime": "2026-11-20T11:00:00Z"});
        assert!(map(backwards, None).unwrap_err().contains("o-10"));
    }

    #[test]
    fn metadata_strings_holding_objects_flatten_and_others_stay_whole() {
        let mut a = Attributes::new();
        metadata_into(&json!("{\"prompt_hash\":\"p\"}"), &mut a);
        assert_eq!(a["metadata.prompt_hash"], "p");
        let mut a = Attributes::new();
        metadata_into(&json!("plain"), &mut a);
        assert_eq!(a["metadata"], "plain");
    }

    #[test]
    fn times_go_out_in_milliseconds_and_come_back_with_or_without_offset() {
        let ns = nanos("2026-11-20T11:00:00.123456Z", "t").unwrap();
        assert_eq!(rfc3339(ns), "2026-11-20T11:00:00.123Z");
        assert_eq!(nanos("2026-11-20T11:00:00.123456", "t").unwrap(), ns);
    }

    #[test]
    fn the_shipped_example_has_a_valid_langfuse_source() {
        let text = include_str!("../../assets/relops.example.toml");
        let c = crate::config::Config::parse(text, std::path::Path::new("relops.example.toml"))
            .unwrap();
        let lf = c
            .sources
            .iter()
            .find(|s| s.kind == crate::sources::SourceKind::Langfuse)
            .expect("a langfuse [[source]] in the example");
        assert_eq!(lf.check(), Ok(()));
        assert_eq!(
            lf.auth.secret_key_env.as_deref(),
            Some("LANGFUSE_SECRET_KEY")
        );
    }
}
