//! Arize Phoenix: `GET /v1/projects/{project}/spans`, windowed by `start_time` /
//! `end_time` and paged by `cursor` (spec: `shared/reference/phoenix-openapi.json`).

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::otlp_span::{self, SpanParts};
use super::window::{Pass, RepeatGuard, Window, nanos};
use super::{BoxFuture, Fetcher, Page, PullContext, PullError, Records, Source, SourceConfig};
use crate::ingest::Resource;

pub struct Phoenix {
    config: SourceConfig,
    fetch: Fetcher,
    spans_url: String,
    resource: Arc<Resource>,
    repeats: RepeatGuard,
}

#[derive(Deserialize)]
struct SpansPage {
    data: Vec<Box<serde_json::value::RawValue>>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct Span {
    #[serde(default)]
    name: String,
    context: Context,
    #[serde(default)]
    span_kind: Option<String>,
    #[serde(default)]
    parent_id: Option<String>,
    start_time: String,
    end_time: String,
    #[serde(default)]
    status_code: Option<String>,
    #[serde(default)]
    status_message: Option<String>,
    #[serde(default)]
    attributes: Map<String, Value>,
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct Context {
    trace_id: String,
    span_id: String,
}

#[derive(Deserialize)]
struct Event {
    name: String,
    #[serde(default)]
    attributes: Map<String, Value>,
}

impl Phoenix {
    pub fn new(config: &SourceConfig) -> Result<Self, String> {
        let base = config
            .endpoint
            .as_deref()
            .unwrap_or_default()
            .trim_end_matches('/');
        let project = config.project.as_deref().unwrap_or_default();
        if project.contains(['/', '?', '#']) {
            return Err(format!("project {project:?} cannot contain /, ? or #"));
        }
        Ok(Self {
            config: config.clone(),
            fetch: Fetcher::new(config)?,
            spans_url: format!("{base}/v1/projects/{project}/spans"),
            resource: otlp_span::resource(&[("relops.source", &config.name)]),
            repeats: RepeatGuard::default(),
        })
    }

    async fn pull_page(&self, cursor: Option<&str>, cx: &PullContext) -> Result<Page, PullError> {
        let pass = Window::resume(cursor, &self.config, cx.now_ns)?;
        let body = self
            .fetch
            .get(&self.spans_url, &self.query(&pass))
            .await?
            .ok()?;
        let page: SpansPage = serde_json::from_slice(&body)
            .map_err(|e| PullError::Malformed(format!("{}: {e}", self.spans_url)))?;
        let mut spans = Vec::with_capacity(page.data.len());
        let mut rejected = Vec::new();
        for raw in &page.data {
            match self.record(raw.get(), cx) {
                Ok(r) => spans.push(r),
                Err(reason) => rejected.push(reason),
            }
        }
        let next = page
            .next_cursor
            .filter(|c| !c.is_empty() && !page.data.is_empty());
        let checked = pass.check(&spans, next.is_none(), &self.repeats)?;
        let (cursor, more) = pass.advance(next, Some(&checked), &self.config);
        Ok(Page {
            records: Records::Spans(spans),
            rejected,
            cursor,
            high_water_ns: pass.high_water(more),
            more,
        })
    }

    fn query(&self, pass: &Pass) -> Vec<(&'static str, String)> {
        let mut q = vec![
            ("limit", self.config.page_size.to_string()),
            ("start_time", rfc3339(pass.from_ns)),
            ("end_time", rfc3339(pass.until_ns)),
        ];
        if let Some(page) = &pass.page {
            q.push(("cursor", page.clone()));
        }
        q
    }

    fn record(&self, raw: &str, cx: &PullContext) -> Result<crate::ingest::SpanRecord, String> {
        let span: Span = serde_json::from_str(raw).map_err(|e| format!("span: {e}"))?;
        let label = span.context.span_id.clone();
        parts(span)
            .and_then(|p| p.record(&cx.extractor, &self.resource))
            .map_err(|e| format!("span {label}: {e}"))
    }
}

/// Phoenix's span in OTLP terms.
fn parts(span: Span) -> Result<SpanParts, String> {
    let mut attributes = Map::new();
    otlp_span::flatten_into("", &Value::Object(span.attributes), &mut attributes);
    regroup(&mut attributes, "tool.parameters");
    if let Some(kind) = span.span_kind.filter(|k| !k.is_empty() && k != "UNKNOWN") {
        attributes
            .entry("openinference.span.kind")
            .or_insert(Value::String(kind));
    }
    let events = span
        .events
        .into_iter()
        .map(|e| {
            let mut attrs = Map::new();
            otlp_span::flatten_into("", &Value::Object(e.attributes), &mut attrs);
            (e.name, attrs)
        })
        .collect();
    Ok(SpanParts {
        trace_id: span.context.trace_id.trim_start_matches("0x").to_string(),
        span_id: span.context.span_id.trim_start_matches("0x").to_string(),
        parent_id: span.parent_id.filter(|p| !p.is_empty()),
        name: span.name,
        start_ns: nanos(&span.start_time, "start_time")?,
        end_ns: nanos(&span.end_time, "end_time")?,
        error: span.status_code.as_deref() == Some("ERROR"),
        status_message: span.status_message.filter(|m| !m.is_empty()),
        attributes,
        events,
    })
}

/// Phoenix parses JSON-string attributes such as `tool.parameters` and flattens them
/// (`tool.parameters.order_id`); the importer reads the arguments as one JSON text, so
/// the keys are gathered back under their prefix.
fn regroup(attributes: &mut Map<String, Value>, prefix: &str) {
    if attributes.contains_key(prefix) {
        return;
    }
    let dotted = format!("{prefix}.");
    let keys: Vec<String> = attributes
        .keys()
        .filter(|k| k.starts_with(&dotted))
        .cloned()
        .collect();
    if keys.is_empty() {
        return;
    }
    let mut object = Map::new();
    for k in keys {
        let v = attributes.remove(&k).expect("listed above");
        object.insert(k[dotted.len()..].to_string(), v);
    }
    attributes.insert(
        prefix.into(),
        Value::String(Value::Object(object).to_string()),
    );
}

fn rfc3339(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl Source for Phoenix {
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
        Box::pin(async move {
            let body = self
                .fetch
                .get(&self.spans_url, &[("limit", "1".to_string())])
                .await?
                .ok()?;
            let page: SpansPage = serde_json::from_slice(&body)
                .map_err(|e| PullError::Malformed(format!("{}: {e}", self.spans_url)))?;
            Ok(match page.data.is_empty() {
                true => "reachable; the project has no spans yet".to_string(),
                false => "reachable; the project has spans".to_string(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phoenix_span_maps_kind_status_and_times() {
        let raw = r#"{"id":"U3BhbjoxMg==","name":"refund","context":{"trace_id":"0123456789abcdef0123456789abcdef","span_id":"0123456789abcdef"},
            "span_kind":"TOOL","parent_id":"fedcba9876543210","start_time":"2026-11-20T12:00:00+00:00",
            "end_time":"2026-11-20T12:00:01.5+00:00","status_code":"ERROR","status_message":"refund API 503",
            "attributes":{"tool":{"name":"refund"},"metadata.prompt_hash":"p"},"events":[]}"#;
        let p = parts(serde_json::from_str(raw).unwrap()).unwrap();
        assert_eq!(p.attributes["openinference.span.kind"], "TOOL");
        assert_eq!(p.attributes["tool.name"], "refund");
        assert_eq!(p.end_ns - p.start_ns, 1_500_000_000);
        assert!(p.error);
        assert_eq!(p.parent_id.as_deref(), Some("fedcba9876543210"));
    }

    #[test]
    fn a_captured_phoenix_page_maps_tool_arguments_and_errors() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/phoenix/spans_page.json"
        );
        let page: SpansPage =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let tool = parts(serde_json::from_str(page.data[0].get()).unwrap()).unwrap();
        assert_eq!(tool.attributes["tool.parameters"], r#"{"order_id":7}"#);
        assert!(tool.error);
        assert_eq!(tool.events[0].0, "exception");
        let llm = parts(serde_json::from_str(page.data[1].get()).unwrap()).unwrap();
        assert_eq!(llm.attributes["llm.token_count.prompt"], 12);
        assert_eq!(llm.end_ns - llm.start_ns, 1_134_567_000);
        assert_eq!(page.next_cursor.as_deref(), Some("U3Bhbjox"));
    }

    /// Captured from Phoenix 20.26 after feeding an OpenInference client through the OTel
    /// SDK: `metadata` comes back expanded, `llm.output_messages` flat, no resource.
    #[test]
    fn a_captured_refusal_keeps_its_reason_and_version_without_a_resource() {
        use crate::config::{Detection, VersionMapping};
        use crate::ingest::Extractor;
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/phoenix/refusal_page.json"
        );
        let page: SpansPage =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let ex = Extractor::new(&VersionMapping::default(), &Detection::default());
        let resource = otlp_span::resource(&[("relops.source", "px")]);
        let rec = |i: usize| {
            let span = serde_json::from_str(page.data[i].get()).unwrap();
            parts(span).unwrap().record(&ex, &resource).unwrap()
        };
        let (llm, root) = (rec(0), rec(1));
        assert!(llm.facts.refusal && !root.facts.refusal);
        assert!(
            llm.attributes
                .contains(r#""relops.refusal.attribute":"llm.output_messages.0.message.content""#),
            "{}",
            llm.attributes
        );
        for r in [&llm, &root] {
            assert_eq!(r.facts.version.label.as_deref(), Some("v1"));
            assert_eq!(r.facts.version.prompt_hash.as_deref(), Some("prompt-v1"));
        }
    }

    #[test]
    fn a_bad_time_is_named() {
        let raw = r#"{"name":"x","context":{"trace_id":"a","span_id":"b"},"start_time":"yesterday","end_time":"now"}"#;
        let err = parts(serde_json::from_str(raw).unwrap()).err().unwrap();
        assert!(err.contains("start_time \"yesterday\""), "{err}");
    }
}
