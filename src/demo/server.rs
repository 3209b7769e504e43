//! The demo workflow's HTTP endpoint: the replay target of the demo workspace.
//!
//! `POST /v1/{version}/respond` with `{"input": "..."}` runs the message through that
//! release and answers with the output, the tool calls, tokens, cost and the spans as
//! OTLP/JSON. Answers are deterministic per (version, input). `GET /metrics` counts
//! what it answered, per version, in Prometheus' text format ([`super::metrics`]).

use std::sync::Arc;

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

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router()).await
}

pub fn router() -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(exposition))
        .route("/v1/releases", get(releases))
        .route("/v1/{version}/respond", post(respond))
        .with_state(Arc::new(Metrics::default()))
}

async fn exposition(
    State(m): State<Arc<Metrics>>,
) -> ([(header::HeaderName, &'static str); 1], String) {
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], m.render())
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
    State(m): State<Arc<Metrics>>,
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
    m.record(&execution);
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
