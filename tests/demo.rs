//! The embedded demo: deterministic, idempotent, and its workflow server answers.

mod common;

use std::time::Duration;

use common::{demo, json, relops};
use predicates::str::contains;

#[test]
fn same_seed_and_clock_give_the_same_week() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ca, cb) = (demo(a.path(), 1500), demo(b.path(), 1500));
    let versions = |c| json(relops(c).args(["versions", "--json"]));
    let first = |c| json(relops(c).args(["traces", "--json", "--limit", "1"]));
    assert_eq!(versions(&ca), versions(&cb));
    assert_eq!(first(&ca), first(&cb));
    let labels: Vec<String> = versions(&ca)
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["label"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(labels, ["v1", "v2", "v3"]);
    let total: i64 = versions(&ca)
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["traces"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 1500);
}

#[test]
fn rerunning_the_demo_changes_nothing_and_other_seeds_need_another_dir() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo(dir.path(), 800);
    let before = json(relops(&config).args(["traces", "--json", "--limit", "1000"]));
    let config_text = std::fs::read_to_string(&config).unwrap();
    demo(dir.path(), 800);
    assert_eq!(
        before,
        json(relops(&config).args(["traces", "--json", "--limit", "1000"]))
    );
    assert_eq!(config_text, std::fs::read_to_string(&config).unwrap());
    assert_cmd::Command::cargo_bin("relops")
        .unwrap()
        .args([
            "demo", "--no-tui", "--seed", "7", "--traces", "800", "--dir",
        ])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(contains("already holds a demo with seed 42"));
}

#[test]
fn v3_refuses_more_and_its_refund_tool_fails_more() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo(dir.path(), 6000);
    let count = |args: &[&str]| {
        let mut cmd = relops(&config);
        cmd.args(["traces", "--json", "--limit", "100000"])
            .args(args);
        json(&mut cmd).as_array().unwrap().len() as f64
    };
    let rate = |v: &str, filter: &str| count(&["--version", v, filter]) / count(&["--version", v]);
    let (v2, v3) = (rate("v2", "--refusals"), rate("v3", "--refusals"));
    assert!((0.005..0.04).contains(&v2), "v2 refusal rate {v2}");
    // About 240 v3 traces: the bounds are the binomial 95 % range around 8 %.
    assert!((0.04..0.13).contains(&v3), "v3 refusal rate {v3}");
    assert!(rate("v3", "--errors") > 2.0 * rate("v2", "--errors"));
}

#[test]
fn serve_runs_the_workflow_server_and_the_live_feed() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo(dir.path(), 300);
    let (_serving, addr) = common::serve_demo(dir.path());

    let client = reqwest::blocking::Client::new();
    let ask = |version: &str, input: &str| -> serde_json::Value {
        client
            .post(format!("http://{addr}/v1/{version}/respond"))
            .json(&serde_json::json!({ "input": input }))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let input = "Please refund order A262626; I returned the Orbit speaker last week.";
    assert_eq!(
        ask("v2", input),
        ask("v2", input),
        "deterministic per version"
    );
    let unknown = client
        .post(format!("http://{addr}/v1/v9/respond"))
        .json(&serde_json::json!({ "input": input }))
        .send()
        .unwrap();
    assert_eq!(unknown.status(), 404);
    // What it answered, for Prometheus to scrape: two v2 requests, the 404 not counted.
    let metrics = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("workflow_requests_total{version=\"v2\"} 2\n")
            && metrics.contains("workflow_requests_total{version=\"v3\"} 0\n"),
        "{metrics}"
    );

    // The routing: v2 stable, v3 in canary at 5 %; a switch answers the new state,
    // bad ones are refused with a JSON error that names the problem.
    let admin = format!("http://{addr}/admin/active");
    let post = |body: &str| {
        let r = client
            .post(&admin)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        (r.status().as_u16(), r.json::<serde_json::Value>().unwrap())
    };
    let active: serde_json::Value = client.get(&admin).send().unwrap().json().unwrap();
    assert_eq!(
        active,
        serde_json::json!({"stable": "v2", "canary": {"version": "v3", "weight": 5}})
    );
    let (code, err) = post(r#"{"version": "v9"}"#);
    assert_eq!(code, 400);
    assert!(err["error"].as_str().unwrap().contains("\"v9\""), "{err}");
    let (code, err) = post("{not json");
    assert_eq!(code, 400);
    assert!(
        err["error"].as_str().unwrap().starts_with("expected"),
        "{err}"
    );
    assert_eq!(post(r#"{"version": "v3", "canary_weight": 0}"#).0, 400);
    let (code, now) = post(r#"{"version": "v3", "canary_weight": 25}"#);
    assert_eq!(
        (code, &now["canary"]["weight"]),
        (200, &serde_json::json!(25))
    );
    let (code, now) = post(r#"{"version": "v2"}"#);
    assert_eq!(
        (code, now),
        (200, serde_json::json!({"stable": "v2", "canary": null}))
    );

    // The live feed adds traces while serving (the pinned clock stamps them at NOW),
    // beyond the half hour it posted on start.
    let cached = || {
        json(relops(&config).args(["traces", "--json", "--limit", "100000"]))
            .as_array()
            .unwrap()
            .len()
    };
    let started = cached();
    assert!(started > 300 + 5000, "the backfill is cached: {started}");
    for _ in 0..200 {
        if cached() > started {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("live feed added no trace");
}
