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
#[cfg_attr(
    skip_phoenix,
    ignore = "Arize Phoenix is not installed (RELOPS_ALLOW_SKIP=1)"
)]
fn sync_pulls_what_phoenix_holds_field_by_field() {
    let phoenix = Phoenix::start();
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

/// One trace of the "same client, two paths" test. Its version lives in the resource
/// (`service.version`, which Phoenix's span API drops) and in the OpenInference
/// `metadata` JSON text; the answer sits where real exporters put it: on the root only
/// (v1: content capture off on the LLM span), in `llm.output_messages` (v2) or in
/// GenAI `gen_ai.output.messages` JSON text (v2, the last trace).
fn client_turn(run: u64, i: u64, refusal: bool) -> Value {
    let version = if i < 10 { "v1" } else { "v2" };
    let (trace_id, root, llm) = ids(run, 100 + i);
    let t0 = now_ns() - 3_000_000_000_000 + i as i64 * 30_000_000_000;
    let at = |ms: i64| t0 + ms * 1_000_000;
    let answer = match (refusal, version) {
        (true, "v1") => "I'm sorry, but I can't share another customer's order.".to_string(),
        (true, _) => "I can\u{2019}t help with that request.".to_string(),
        (false, _) => format!("Order {i} ships tomorrow."),
    };
    let metadata = json!({"version": version, "prompt_hash": format!("prompt-{version}")});
    let resource = json!({"service.name": "support-bot", "service.version": version});
    let mut root_attrs = json!({"openinference.span.kind": "CHAIN", "metadata": metadata.to_string(),
        "input.value": format!("where is order {i}?")});
    let mut llm_attrs = json!({"openinference.span.kind": "LLM", "metadata": metadata.to_string(),
        "llm.model_name": "gpt-4o", "llm.token_count.prompt": 40, "llm.token_count.completion": 12});
    if version == "v1" {
        root_attrs["output.value"] = json!(answer);
    } else if i == 19 {
        let messages = json!([{"role": "assistant", "parts": [{"type": "text", "content": answer}],
            "finish_reason": "stop"}]);
        llm_attrs["gen_ai.output.messages"] = json!(messages.to_string());
    } else {
        llm_attrs["llm.output_messages.0.message.role"] = json!("assistant");
        llm_attrs["llm.output_messages.0.message.content"] = json!(answer);
    }
    json!({"trace_id": trace_id, "spans": [
        {"span_id": root, "parent_id": null, "name": "support-turn", "start_ns": at(0),
         "end_ns": at(900), "status": "ok", "attributes": root_attrs, "resource": resource},
        {"span_id": llm, "parent_id": root, "name": "ChatCompletion", "start_ns": at(50),
         "end_ns": at(800), "status": "ok", "attributes": llm_attrs, "resource": resource},
    ]})
}

/// The traces `relops traces --json` lists, by version label: (traces, refusals,
/// fingerprint ids).
fn per_version(config: &Path) -> std::collections::BTreeMap<String, (u64, u64, Vec<String>)> {
    let rows = json(relops(config).args(["traces", "--json", "--limit", "100"]));
    let mut out: std::collections::BTreeMap<String, (u64, u64, Vec<String>)> = Default::default();
    for r in rows.as_array().unwrap() {
        let e = out
            .entry(r["version"].as_str().unwrap().to_string())
            .or_default();
        e.0 += 1;
        e.1 += u64::from(r["refusal"].as_bool().unwrap());
        let id = r["version_id"].as_str().unwrap().to_string();
        if !e.2.contains(&id) {
            e.2.push(id);
        }
    }
    out
}

#[test]
#[cfg_attr(
    skip_phoenix,
    ignore = "Arize Phoenix is not installed (RELOPS_ALLOW_SKIP=1)"
)]
fn one_client_through_collect_and_through_phoenix_shows_the_same_refusals_and_versions() {
    let phoenix = Phoenix::start();
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        & 0x0fff_ffff_ffff_ffff;
    // Sent: v1 1/10 refusals (trace 3, on the root), v2 2/10 (traces 14 and 19).
    let refusing = [3, 14, 19];
    let traces: Vec<Value> = (0..20)
        .map(|i| client_turn(run, i, refusing.contains(&i)))
        .collect();
    let (dir, collected) = workspace();
    let feed = dir.path().join("feed.json");
    std::fs::write(&feed, json!({"traces": traces}).to_string()).unwrap();

    // Path 1: the OpenTelemetry SDK straight into `relops collect`.
    let collector = Collector::start(&collected);
    phoenix.feed_to("relops-both", &feed, Some(&collector.url));
    collector.stop();

    // Path 2: the same SDK into Phoenix, pulled by `relops sync`.
    phoenix.feed("relops-both", &feed);
    let pulled = dir.path().join("pulled.toml");
    std::fs::write(
        &pulled,
        format!(
            "[workspace]\ncache = \"pulled.db\"\n\n[[source]]\nname = \"phoenix\"\nkind = \"phoenix\"\n\
             endpoint = \"{}\"\nproject = \"relops-both\"\n",
            phoenix.url
        ),
    )
    .unwrap();
    let report = json(relops(&pulled).args(["sync", "--once", "--json"]));
    assert_eq!(report[0]["records"], 40, "{report}");

    let (a, b) = (per_version(&collected), per_version(&pulled));
    for (label, want_refusals) in [("v1", 1), ("v2", 2)] {
        let (n, refusals, ids) = &a[label];
        assert_eq!(
            (*n, *refusals),
            (10, want_refusals),
            "collect {label}: {a:?}"
        );
        assert_eq!(ids.len(), 1, "collect {label}: one fingerprint: {a:?}");
    }
    assert_eq!(a, b, "collect and Phoenix agree trace for trace");
    assert_eq!(a.len(), 2, "no unlabelled version: {a:?}");

    // Each refusal says why, the same way on both paths.
    let attribute = |i: u64| match i {
        3 => "output.value",
        14 => "llm.output_messages.0.message.content",
        _ => "gen_ai.output.messages#/0/parts/0/content",
    };
    for i in refusing {
        let id = traces[i as usize]["trace_id"].as_str().unwrap();
        for config in [&collected, &pulled] {
            let got = json(relops(config).args(["trace", "show", id, "--json"]));
            let why = &got["refusal_reason"];
            assert_eq!(why["rule"], "phrase", "{got}");
            assert_eq!(
                why["attribute"],
                attribute(i),
                "trace {i} via {}",
                config.display()
            );
        }
        let text = relops(&collected)
            .args(["trace", "show", id])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        assert!(
            String::from_utf8_lossy(&text).contains("refusal: span"),
            "{}",
            String::from_utf8_lossy(&text)
        );
    }
}

/// `relops collect` on a free loopback port, stopped with SIGTERM (killed if the test
/// fails first).
struct Collector {
    child: Option<std::process::Child>,
    url: String,
}

impl Collector {
    fn start(config: &Path) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_relops"))
            .env("RELOPS_NOW", common::NOW)
            .arg("--config")
            .arg(config)
            .args(["collect", "--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("relops collect starts");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while !line.contains("listening on") {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "collect exited");
        }
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("the bound address is printed")
            .to_string();
        // Keep draining stderr so the receiver never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Self {
            child: Some(child),
            url,
        }
    }

    fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        // SAFETY: signalling a child this test started and has not reaped.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        assert!(child.wait().unwrap().success());
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
