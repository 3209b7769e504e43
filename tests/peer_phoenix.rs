//! A real Arize Phoenix: spans go in through the OpenTelemetry SDK's OTLP exporter,
//! `relops sync --once` pulls them through Phoenix's REST API, and every field the
//! console shows is compared with what was sent.

mod common;

use std::path::Path;

use common::peers::Phoenix;
use common::{json, relops, workspace};
use serde_json::{Value, json};

/// The pinned clock (common::NOW) in Unix nanoseconds.
fn now_ns() -> i64 {
    chrono::DateTime::parse_from_rfc3339(common::NOW)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap()
}

/// Ids unique to this run: Phoenix keeps span ids unique across projects.
fn ids(run: u64, trace: u64) -> (String, String, String) {
    (
        format!("{run:016x}{trace:016x}"),
        format!("{:016x}", run.wrapping_add(trace * 2)),
        format!("{:016x}", run.wrapping_add(trace * 2 + 1)),
    )
}

/// One support turn: a chain root, an LLM call and a tool call that may fail.
fn turn(run: u64, i: u64, version: &str) -> Value {
    let (trace_id, root, tool) = ids(run, i);
    let llm = format!("{:016x}", run.wrapping_add(1000 + i));
    let t0 = now_ns() - 3_600_000_000_000 + i as i64 * 60_000_000_000;
    let us = |ms: i64| t0 + ms * 1_000_000;
    let fail = i % 2 == 1;
    let attrs = |extra: Value| {
        let mut base = json!({"service.version": version, "metadata.prompt_hash": format!("prompt-{version}")});
        base.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        base
    };
    json!({"trace_id": trace_id, "spans": [
        {"span_id": root, "parent_id": null, "name": "support-turn", "start_ns": us(0), "end_ns": us(2500),
         "status": "ok", "attributes": attrs(json!({"openinference.span.kind": "CHAIN",
            "input.value": format!("where is order {i}?"), "output.value": format!("Order {i} ships tomorrow.")}))},
        {"span_id": llm, "parent_id": root, "name": "ChatCompletion", "start_ns": us(100), "end_ns": us(1234),
         "status": "ok", "attributes": attrs(json!({"openinference.span.kind": "LLM",
            "llm.model_name": format!("gpt-4o-{version}"), "llm.token_count.prompt": 12 + i,
            "llm.token_count.completion": 30, "output.value": format!("Order {i} ships tomorrow.")}))},
        {"span_id": tool, "parent_id": root, "name": "lookup_order", "start_ns": us(1300), "end_ns": us(1400),
         "status": if fail { "error" } else { "ok" },
         "status_message": if fail { "TimeoutError: orders API took > 5s" } else { "" },
         "attributes": attrs(json!({"openinference.span.kind": "TOOL", "tool.name": "lookup_order",
            "tool.parameters": format!("{{\"order_id\": {i}}}")}))}
    ]})
}

#[test]
fn sync_pulls_what_phoenix_holds_field_by_field() {
    let Some(phoenix) = Phoenix::start() else {
        return;
    };
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        & 0x0fff_ffff_ffff_ffff;
    let traces: Vec<Value> = (0..6)
        .map(|i| turn(run, i, if i < 3 { "v1" } else { "v2" }))
        .collect();
    let (dir, config) = workspace();
    let feed = dir.path().join("feed.json");
    std::fs::write(&feed, json!({"traces": traces}).to_string()).unwrap();
    phoenix.feed("relops-peer", &feed);

    std::fs::write(
        &config,
        format!(
            "[workspace]\ncache = \"cache.db\"\n\n[[source]]\nname = \"phoenix\"\nkind = \"phoenix\"\n\
             endpoint = \"{}\"\nproject = \"relops-peer\"\npage_size = 5\n",
            phoenix.url
        ),
    )
    .unwrap();
    let report = json(relops(&config).args(["sync", "--once", "--json"]));
    assert_eq!(report[0]["ok"], true, "{report}");
    assert_eq!(report[0]["records"], 18, "{report}");
    assert!(
        report[0]["pages"].as_u64().unwrap() >= 4,
        "page_size 5 pages: {report}"
    );

    for sent in &traces {
        compare_trace(&config, sent);
    }
    let versions = json(relops(&config).args(["versions", "--json"]));
    let mut labels: Vec<&str> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["label"].as_str().unwrap())
        .collect();
    labels.sort();
    assert_eq!(labels, ["v1", "v2"], "{versions}");

    // Pulling again re-reads the overlap and doubles nothing.
    let again = json(relops(&config).args(["sync", "--once", "--json"]));
    assert_eq!(again[0]["rows"], 0, "{again}");
    assert_eq!(
        json(relops(&config).args(["traces", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        6
    );
}

fn compare_trace(config: &Path, sent: &Value) {
    let id = sent["trace_id"].as_str().unwrap();
    let got = json(relops(config).args(["trace", "show", id, "--json"]));
    let spans = got["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 3, "{got}");
    for s in sent["spans"].as_array().unwrap() {
        let span_id = s["span_id"].as_str().unwrap();
        let g = spans
            .iter()
            .find(|g| g["span_id"] == span_id)
            .unwrap_or_else(|| panic!("span {span_id} missing: {got}"));
        let a = &s["attributes"];
        assert_eq!(g["name"], s["name"]);
        assert_eq!(g["parent_span_id"], s["parent_id"]);
        assert_eq!(g["start_ns"], s["start_ns"], "{span_id}");
        assert_eq!(g["end_ns"], s["end_ns"], "{span_id}");
        assert_eq!(g["error"], s["status"] == "error");
        let expected_kind = a["openinference.span.kind"]
            .as_str()
            .unwrap()
            .to_lowercase();
        assert_eq!(
            g["kind"].as_str().unwrap(),
            if expected_kind == "chain" {
                "chain"
            } else {
                &expected_kind
            }
        );
        assert_eq!(g["version"]["label"], a["service.version"]);
        assert_eq!(g["version"]["prompt_hash"], a["metadata.prompt_hash"]);
        match expected_kind.as_str() {
            "llm" => {
                assert_eq!(g["model"], a["llm.model_name"]);
                assert_eq!(g["tokens_in"], a["llm.token_count.prompt"]);
                assert_eq!(g["tokens_out"], a["llm.token_count.completion"]);
                assert_eq!(g["output"], a["output.value"]);
            }
            "tool" => {
                assert_eq!(g["tool_name"], "lookup_order");
                let args: Value = serde_json::from_str(g["tool_args"].as_str().unwrap()).unwrap();
                let sent_args: Value =
                    serde_json::from_str(a["tool.parameters"].as_str().unwrap()).unwrap();
                assert_eq!(args, sent_args);
                if s["status"] == "error" {
                    assert_eq!(g["status_message"], s["status_message"]);
                }
            }
            _ => assert_eq!(g["input"], a["input.value"]),
        }
    }
}
