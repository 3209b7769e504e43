//! The demo workflow's HTTP endpoint: the replay target of the demo workspace.
//!
//! `POST /v1/{version}/respond` with `{"input": "..."}` runs the message through that
//! release and answers with the output, the tool calls, tokens, cost and the spans as
//! OTLP/JSON. Answers are deterministic per (version, input). `GET /metrics` counts
//! what it answered, per version, in Prometheus' text format ([`super::metrics`]).
//!
//! `GET /admin/active` answers the routing (`{"stable":"v2","canary":{"version":"v3",
//! "weight":5}}`); `POST /admin/active` changes it ([`super::routing::Switch`]): what
//! the demo's rollback procedure calls and what the live feed follows.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::metrics::{self, Metrics};
use super::routing::{self, Routing, Switch};
use super::traffic::{self, Request};
use super::workflow::{self, Execution, RELEASES, Step};

#[derive(Debug, Deserialize)]
pub struct Ask {
    pub input: String,
}

/// Binds the server's address.
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves until the task is dropped, with routing of its own (v2 stable, v3 canary).
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    serve_routed(listener, Routing::default().shared()).await
}

/// Serves with `routing` shared with whoever else follows it (the live feed).
pub async fn serve_routed(listener: TcpListener, routing: routing::Shared) -> std::io::Result<()> {
    axum::serve(listener, router(routing)).await
}

/// What the handlers share.
struct App {
    metrics: Metrics,
    routing: routing::Shared,
}

fn router(routing: routing::Shared) -> Router {
    let app = App {
        metrics: Metrics::default(),
        routing,
    };
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(exposition))
        .route("/admin/active", get(active).post(switch))
        .route("/v1/releases", get(releases))
        .route("/v1/{version}/respond", post(respond))
        .with_state(Arc::new(app))
}

async fn exposition(
    State(app): State<Arc<App>>,
) -> ([(header::HeaderName, &'static str); 1], String) {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        app.metrics.render(),
    )
}

async fn active(State(app): State<Arc<App>>) -> Json<Routing> {
    Json(routing::current(&app.routing))
}

/// Changes the routing; answers the new one, or 400 with a JSON error naming the
/// problem. The body is parsed here so that bad JSON gets a JSON error too.
async fn switch(
    State(app): State<Arc<App>>,
    body: Bytes,
) -> Result<Json<Routing>, (StatusCode, Json<Value>)> {
    let bad = |e: String| (StatusCode::BAD_REQUEST, Json(json!({ "error": e })));
    let s: Switch = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("expected {{\"version\": ...}}: {e}")))?;
    let mut routing = app.routing.write().unwrap_or_else(|p| p.into_inner());
    routing.apply(&s).map_err(bad)?;
    Ok(Json(*routing))
}

async fn releases() -> Json<Value> {
    Json(Value::Array(
        RELEASES
            .iter()
            .map(|r| {
                json!({
                    "label": r.label, "model": r.model, "prompt_hash": r.prompt_hash,
                    "config_hash": r.config_hash, "index_version": r.index_version,
                    "tools": {"order_lookup": r.order_lookup_version, "refund": r.refund_version},
                })
            })
            .collect(),
    ))
}

async fn respond(
    State(app): State<Arc<App>>,
    Path(version): Path<String>,
    Json(ask): Json<Ask>,
) -> (StatusCode, Json<Value>) {
    let Some(release) = workflow::release(&version) else {
        let known: Vec<&str> = RELEASES.iter().map(|r| r.label).collect();
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("unknown version {version:?}; known: {known:?}")})),
        );
    };
    let execution = workflow::execute(release, &ask.input);
    app.metrics.record(&execution);
    (StatusCode::OK, Json(reply(release, execution)))
}

/// The response body for one message on one release.
fn reply(release: &'static workflow::Release, execution: Execution) -> Value {
    let input = execution.input.clone();
    let (tokens_in, tokens_out, cost_usd) = execution.tokens();
    let tool_calls: Vec<Value> = execution
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Tool {
                name,
                args,
                result,
                error,
                ms,
                ..
            } => Some(json!({
                "name": name, "arguments": args, "result": result, "error": error, "latency_ms": ms,
            })),
            _ => None,
        })
        .collect();
    // Span ids derive from the input so the same question always yields the same trace.
    let seed = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(
        input.as_bytes(),
    ));
    let mut rng = ChaCha8Rng::from_seed(seed.into());
    let request = Request {
        start_ns: crate::clock::now_ns(),
        trace_id: hex::encode(&seed[..16]),
        execution,
    };
    let spans = traffic::trace_spans(&mut rng, &request);
    let e = request.execution;
    json!({
        "version": release.label,
        "output": e.output,
        "refusal": e.refusal,
        "error": e.failed,
        "latency_ms": e.total_ms,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cost_usd": cost_usd,
        "tool_calls": tool_calls,
        "spans": {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_deterministic_per_version() {
        let v2 = workflow::release("v2").unwrap();
        let answer = |input: &str| reply(v2, workflow::execute(v2, input));
        let a = answer("Do you ship to Japan?");
        let b = answer("Do you ship to Japan?");
        assert_eq!(a["output"], b["output"]);
        assert_eq!(
            a["spans"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"],
            b["spans"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
        );
    }
}
