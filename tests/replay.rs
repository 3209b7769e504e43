//! `relops replay` against real HTTP servers (a local test server that misbehaves on
//! purpose, and the demo workflow server), and `relops diff` on what they stored.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use common::{demo, json, relops};
use predicates::str::contains;
use serde_json::{Value, json};

/// Calls per route, so a route can fail first and succeed after.
#[derive(Clone, Default)]
struct Calls(Arc<[AtomicUsize; 8]>);

impl Calls {
    fn next(&self, route: usize) -> usize {
        self.0[route].fetch_add(1, Ordering::SeqCst)
    }
}

fn answer(version: &str) -> Value {
    json!({"output": format!("answer from {version}"), "tokens_in": 12, "tokens_out": 3,
           "cost_usd": 0.0001})
}

/// Answers only when the configured key arrives as a bearer token.
async fn ok(UrlPath(v): UrlPath<String>, headers: HeaderMap) -> axum::response::Response {
    let auth = headers.get("authorization").and_then(|h| h.to_str().ok());
    if auth != Some("Bearer tok-secret-42") {
        return (StatusCode::UNAUTHORIZED, "no key").into_response();
    }
    axum::Json(answer(&v)).into_response()
}

async fn slow(UrlPath(v): UrlPath<String>) -> impl IntoResponse {
    tokio::time::sleep(Duration::from_secs(3)).await;
    axum::Json(answer(&v))
}

async fn flaky(State(c): State<Calls>, UrlPath(v): UrlPath<String>) -> axum::response::Response {
    if c.next(0) == 0 {
        return (StatusCode::INTERNAL_SERVER_ERROR, "upstream down").into_response();
    }
    axum::Json(answer(&v)).into_response()
}

async fn busy(State(c): State<Calls>, UrlPath(v): UrlPath<String>) -> axum::response::Response {
    if c.next(1) == 0 {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "slow down",
        )
            .into_response();
    }
    axum::Json(answer(&v)).into_response()
}

async fn down() -> impl IntoResponse {
    (StatusCode::SERVICE_UNAVAILABLE, "maintenance")
}

async fn malformed() -> impl IntoResponse {
    "<html>gateway</html>"
}

async fn missing() -> impl IntoResponse {
    axum::Json(json!({"text": "the output is somewhere else"}))
}

/// The misbehaving server, on a thread of its own; its address.
fn test_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let app = Router::new()
                .route("/ok/{v}", post(ok))
                .route("/slow/{v}", post(slow))
                .route("/flaky/{v}", post(flaky))
                .route("/busy/{v}", post(busy))
                .route("/down/{v}", post(down))
                .route("/malformed/{v}", post(malformed))
                .route("/missing/{v}", post(missing))
                .with_state(Calls::default());
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    addr
}

/// One demo workspace for the whole file, with a target per test-server route.
fn workspace() -> &'static (PathBuf, String) {
    static WS: OnceLock<(PathBuf, String)> = OnceLock::new();
    WS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let config = demo(&dir, 200);
        let addr = test_server();
        let mut text = std::fs::read_to_string(&config).unwrap();
        for (name, extra) in [
            (
                "ok",
                "api_key_env = \"RELOPS_TEST_TOKEN\"\n[replay.targets.ok.response]\n\
                 output = \"/output\"\ntokens_in = \"/tokens_in\"\n",
            ),
            ("slow", "timeout_ms = 300\nretries = 1\nbackoff_ms = 10\n"),
            ("flaky", "backoff_ms = 10\n"),
            ("busy", "backoff_ms = 10\n"),
            ("down", "retries = 1\nbackoff_ms = 10\n"),
            ("malformed", ""),
            ("missing", ""),
        ] {
            text.push_str(&format!(
                "\n[replay.targets.{name}]\nkind = \"http\"\nurl = \"http://{addr}/{name}/{{version}}\"\n{extra}"
            ));
        }
        std::fs::write(&config, text).unwrap();
        let trace = first_trace(&config, &[]);
        (config, trace)
    })
}

fn first_trace(config: &Path, filter: &[&str]) -> String {
    let rows = json(
        relops(config)
            .args(["traces", "--json", "--limit", "1"])
            .args(filter),
    );
    rows[0]["id"].as_str().unwrap().to_string()
}

fn replay(target: &str, versions: &[&str]) -> assert_cmd::assert::Assert {
    let (config, trace) = workspace();
    let mut cmd = relops(config);
    cmd.env("RELOPS_TEST_TOKEN", "tok-secret-42")
        .args(["replay", trace, "--json", "--target", target]);
    for v in versions {
        cmd.args(["--on", v]);
    }
    cmd.assert()
}

fn outcomes(a: assert_cmd::assert::Assert) -> Value {
    serde_json::from_slice(&a.get_output().stdout).unwrap()
}

#[test]
fn success_stores_every_version_and_sends_the_key_as_a_bearer_token() {
    let out = outcomes(replay("ok", &["v1", "v2"]).success());
    assert_eq!(out.as_array().unwrap().len(), 2);
    assert_eq!(out[0]["output"], "answer from v1");
    assert_eq!(out[1]["output"], "answer from v2");
    assert_eq!(out[0]["tokens_in"], 12);
    assert_eq!(out[0]["attempts"], 1);
    assert!(out[0]["error"].is_null());
    // The replay is in the cache and diffable against its trace.
    let (config, trace) = workspace();
    let id = out[1]["replay"].as_str().unwrap();
    let d = json(relops(config).args(["diff", trace, id, "--json"]));
    assert_eq!(d["b"]["output"], "answer from v2");
    assert_eq!(d["b"]["kind"], "replay");
    assert_eq!(d["a"]["kind"], "trace");
    // The secret went to the server, and nowhere into the cache.
    let db = std::fs::read(config.parent().unwrap().join("relops.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains("tok-secret-42"));
}

#[test]
fn a_timeout_is_retried_then_stored_as_an_error_with_exit_1() {
    let started = Instant::now();
    let a = replay("slow", &["v2"]).code(1);
    let out = outcomes(a);
    let err = out[0]["error"].as_str().unwrap();
    assert!(err.contains("timed out after 300 ms"), "{err}");
    assert_eq!(out[0]["attempts"], 2);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the timeout cut it short"
    );
}

#[test]
fn a_500_then_success_is_retried() {
    let out = outcomes(replay("flaky", &["v2"]).success());
    assert_eq!(out[0]["attempts"], 2);
    assert_eq!(out[0]["output"], "answer from v2");
}

#[test]
fn a_429_waits_for_retry_after() {
    let started = Instant::now();
    let out = outcomes(replay("busy", &["v2"]).success());
    assert_eq!(out[0]["attempts"], 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 honoured over the 10 ms backoff"
    );
}

#[test]
fn persistent_5xx_reports_the_status_and_body() {
    let a = replay("down", &["v2"])
        .code(1)
        .stderr(contains("HTTP 503: maintenance (after 2 attempts)"));
    assert!(outcomes(a)[0]["output"].is_null());
}

#[test]
fn malformed_and_unmapped_responses_are_errors_that_name_the_problem() {
    let out = outcomes(replay("malformed", &["v2"]).code(1));
    assert!(out[0]["error"].as_str().unwrap().contains("not JSON"));
    let out = outcomes(replay("missing", &["v2"]).code(1));
    let err = out[0]["error"].as_str().unwrap();
    assert!(err.contains("no output at \"/output\""), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    replay("ok", &["v9"])
        .code(2)
        .stderr(contains("no version \"v9\"; known versions: v1, v2, v3"));
    replay("nope", &["v2"])
        .code(2)
        .stderr(contains("no replay target \"nope\""));
    let (config, trace) = workspace();
    relops(config)
        .args(["replay", "0123456789abcdef0123456789abcdef", "--on", "v2"])
        .assert()
        .code(2)
        .stderr(contains("no trace"));
    relops(config)
        .args([
            "--readonly",
            "replay",
            trace,
            "--on",
            "v2",
            "--target",
            "ok",
        ])
        .assert()
        .code(2)
        .stderr(contains("readonly"));
    relops(config)
        .args(["diff", trace, "r:999999"])
        .assert()
        .code(2)
        .stderr(contains("no replay r:999999"));
}

/// The acceptance flow: a v3 refusal replayed on v2 and v3 through the demo server.
#[test]
fn demo_refusal_replayed_on_v2_and_v3_diffs_refusal_against_answer() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo(dir.path(), 3000);
    let (_serving, _addr) = common::serve_demo(dir.path());

    // A refund request that v3's prompt refuses.
    let trace = common::v3_over_refusal(&config);
    let trace = trace.as_str();
    let out = json(relops(&config).args(["replay", trace, "--on", "v2", "--on", "v3", "--json"]));
    let (on_v2, on_v3) = (
        out[0]["replay"].as_str().unwrap(),
        out[1]["replay"].as_str().unwrap(),
    );

    let d = json(relops(&config).args(["diff", on_v3, on_v2, "--json"]));
    assert_eq!(
        d["flags"]["refusal"],
        json!({"a": true, "b": false, "changed": true})
    );
    assert!(d["b"]["output"].as_str().unwrap().contains("refund"));
    assert!(d["a"]["output"].as_str().unwrap().starts_with("I'm sorry"));
    // v2 called the tools v3 never reached.
    let tools: Vec<(&str, &str)> = d["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["change"].as_str().unwrap(),
                t["b"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(tools, [("added", "order_lookup"), ("added", "refund")]);
    let changed = d["fingerprint"]["changed"].as_array().unwrap();
    for field in ["prompt_hash", "tools.refund"] {
        assert!(changed.contains(&json!(field)), "{field} in {changed:?}");
    }
    // The trace against its own version's replay: the same answer, the same version.
    let same = json(relops(&config).args(["diff", trace, on_v3, "--json"]));
    assert_eq!(same["output"]["identical"], true);
    assert_eq!(same["fingerprint"]["same"], true);

    // A v3 refund whose tool failed where v2's succeeds (v2's fails on a few inputs too,
    // and the live feed may have added one of those last; the workflow knows which).
    let v2 = relops::demo::workflow::release("v2").unwrap();
    let v2_refund_succeeds = |input: &str| {
        relops::demo::workflow::execute(v2, input)
            .steps
            .iter()
            .any(|s| {
                matches!(
                    s,
                    relops::demo::workflow::Step::Tool {
                        name: "refund",
                        error: None,
                        ..
                    }
                )
            })
    };
    let failing = json(relops(&config).args([
        "traces",
        "--json",
        "--version",
        "v3",
        "--errors",
        "--search",
        "refund",
        "--limit",
        "200",
    ]));
    let tool_error = failing
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .find(|id| {
            let t = json(relops(&config).args(["trace", "show", id, "--json"]));
            t["spans"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["tool_name"] == "refund" && s["error"] == true)
                && v2_refund_succeeds(t["input"].as_str().unwrap())
        })
        .expect("a v3 trace whose refund tool failed");
    let out = json(relops(&config).args(["replay", &tool_error, "--on", "v2", "--json"]));
    let d = json(relops(&config).args([
        "diff",
        &tool_error,
        out[0]["replay"].as_str().unwrap(),
        "--json",
    ]));
    let refund = d["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["a"]["name"] == "refund")
        .unwrap();
    assert_eq!(refund["change"], "changed");
    assert!(refund["a"]["error"].as_str().unwrap().contains("503"));
    assert!(refund["b"]["error"].is_null());
    assert_eq!(
        (
            d["flags"]["tool_errors"]["a"].as_i64(),
            d["flags"]["tool_errors"]["b"].as_i64()
        ),
        (Some(1), Some(0))
    );
}
