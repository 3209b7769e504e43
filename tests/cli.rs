//! The headless verbs end to end: import, versions, traces, trace show, and their errors.

mod common;

use common::{fixture, json, relops, workspace};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use serde_json::Value;

const T1: &str = "0af7651916cd43dd8448eb211c80319c";

/// Imports the two fixtures: genai.jsonl has two bad lines, so the import exits 1.
fn imported() -> (tempfile::TempDir, std::path::PathBuf, Value) {
    let (dir, config) = workspace();
    let summary = import_json(&config, 1);
    (dir, config, summary)
}

/// `relops import --json` of both fixtures, exiting `code`; its JSON summary.
fn import_json(config: &std::path::Path, code: i32) -> Value {
    let out = relops(config)
        .args(["import", "--json"])
        .arg(fixture("openinference.json"))
        .arg(fixture("genai.jsonl"))
        .assert()
        .code(code)
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("a JSON summary on stdout")
}

#[test]
fn import_reports_counts_and_each_rejection_with_its_line() {
    let (_dir, _config, s) = imported();
    assert_eq!(s["files"], 2);
    assert_eq!(s["inserted"], 9);
    assert_eq!(s["new_traces"], 4);
    assert_eq!(s["rejected"], 2);
    let problems: Vec<String> = s["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}:{} {}", p["file"], p["line"], p["reason"]))
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("genai.jsonl") && p.contains(":1 ") && p.contains("traceId")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains(":2 ") && p.contains("not an OTLP/JSON")),
        "{problems:?}"
    );
}

#[test]
fn importing_the_same_data_twice_changes_nothing() {
    let (_dir, config, _) = imported();
    let before = json(relops(&config).args(["traces", "--json", "--limit", "100"]));
    let again = import_json(&config, 1);
    assert_eq!(again["inserted"], 0);
    assert_eq!(again["updated"], 0);
    assert_eq!(again["unchanged"], 9);
    let after = json(relops(&config).args(["traces", "--json", "--limit", "100"]));
    assert_eq!(before, after);
}

#[test]
fn import_text_summary_names_rejections() {
    let (_dir, config) = workspace();
    relops(&config)
        .arg("import")
        .arg(fixture("genai.jsonl"))
        .assert()
        .code(1)
        .stdout(contains("imported 5 spans (3 new traces)"))
        .stdout(contains("rejected 2"))
        .stdout(contains("genai.jsonl").not())
        .stderr(contains("relops: rejected 2 line(s) or span(s):"))
        .stderr(contains("genai.jsonl:2: not an OTLP/JSON trace export"));
}

/// Issue 15: a bad byte on line 3 of 5 costs line 3 only; every rejection is counted
/// and named on stderr; a file with nothing recognisable is an error that says so.
#[test]
fn import_goes_on_after_a_bad_line_and_fails_on_a_file_it_cannot_read() {
    let (dir, config) = workspace();
    let line = |n: u8| {
        format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"{n:032x}","spanId":"{n:016x}","name":"s{n}","startTimeUnixNano":"1","endTimeUnixNano":"2"}}]}}]}}]}}"#
        )
    };
    let mut five = Vec::new();
    for n in 1..=5u8 {
        if n == 3 {
            five.extend_from_slice(b"{\"resourceSpans\": \"\xff\"}");
        } else {
            five.extend_from_slice(line(n).as_bytes());
        }
        five.push(b'\n');
    }
    let five_path = dir.path().join("five.jsonl");
    std::fs::write(&five_path, &five).unwrap();
    let out = relops(&config)
        .args(["import", "--json"])
        .arg(&five_path)
        .assert()
        .code(1)
        .stderr(contains("relops: rejected 1 line(s) or span(s):"))
        .stderr(contains("five.jsonl:3: not UTF-8 text"))
        .get_output()
        .clone();
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (s["inserted"].as_u64(), s["rejected"].as_u64()),
        (Some(4), Some(1))
    );

    // 1 MiB of binary garbage (a fixed xorshift stream) and valid JSON that is not OTLP.
    let mut garbage = Vec::with_capacity(1 << 20);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while garbage.len() < 1 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        garbage.extend_from_slice(&x.to_le_bytes());
    }
    let garbage_path = dir.path().join("garbage.bin");
    std::fs::write(&garbage_path, &garbage).unwrap();
    // Every line that is not blank is one rejection.
    let lines = garbage
        .split(|&b| b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
        .count();
    let foreign = dir.path().join("users.json");
    std::fs::write(&foreign, "{\"users\": [{\"id\": 1}], \"next\": null}\n").unwrap();
    for (path, rejected) in [(&garbage_path, lines), (&foreign, 1)] {
        let name = path.file_name().unwrap().to_str().unwrap();
        relops(&config)
            .arg("import")
            .arg(path)
            .assert()
            .code(2)
            .stdout(contains(format!("rejected {rejected}")))
            .stderr(contains("nothing was imported"))
            .stderr(contains(format!(
                "{name}: nothing in it is OTLP/JSON trace data ({rejected} rejected)"
            )));
    }
    relops(&config)
        .arg("import")
        .arg(&foreign)
        .assert()
        .stderr(contains(
            "users.json:1: not an OTLP/JSON trace export: no \"resourceSpans\"",
        ));
    // A good file beside a bad one: some imported, so 1, and the bad one is named.
    relops(&config)
        .arg("import")
        .arg(&five_path)
        .arg(&foreign)
        .assert()
        .code(1)
        .stderr(contains(
            "users.json: nothing in it is OTLP/JSON trace data",
        ))
        .stderr(contains("five.jsonl: nothing").not());
}

#[test]
fn versions_carry_fingerprints_and_unknown_is_counted() {
    let (_dir, config, _) = imported();
    let versions = json(relops(&config).args(["versions", "--json"]));
    let by_label = |l: &str| {
        versions
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["label"] == l)
            .unwrap_or_else(|| panic!("no version {l} in {versions}"))
            .clone()
    };
    let rag = by_label("2.3.1");
    assert_eq!(rag["model"], "gpt-4o");
    assert_eq!(rag["prompt_hash"], "ph-01");
    assert_eq!(rag["index_version"], "idx-42");
    assert_eq!(rag["tools"]["search"], "0.9");
    assert_eq!(rag["traces"], 1);
    assert_eq!(rag["id"].as_str().unwrap().len(), 12);
    let canary = by_label("canary-7");
    assert_eq!(canary["model"], "claude-sonnet-4");
    assert_eq!(canary["config_hash"], "cc-3");
    assert_eq!(canary["traces"], 2);
    let unknown = by_label("unknown");
    assert_eq!(unknown["id"], "unknown");
    assert_eq!(unknown["traces"], 1);
    for v in versions.as_array().unwrap() {
        for key in ["first_seen", "last_seen"] {
            assert!(v[key].as_str().unwrap().ends_with('Z'), "{key} in {v}");
        }
    }
}

#[test]
fn traces_have_the_documented_fields_and_filters_work() {
    let (_dir, config, _) = imported();
    let all = json(relops(&config).args(["traces", "--json", "--limit", "3"]));
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 3);
    for key in [
        "id",
        "version",
        "started_at",
        "duration_ms",
        "status",
        "refusal",
        "tokens_in",
        "tokens_out",
        "cost_usd",
    ] {
        assert!(all[0].get(key).is_some(), "missing {key}");
    }
    let ids = |args: &[&str]| -> Vec<String> {
        let mut cmd = relops(&config);
        cmd.args(["traces", "--json"]).args(args);
        json(&mut cmd)
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&["--refusals"]).len(), 2);
    assert_eq!(ids(&["--errors"]).len(), 2);
    assert_eq!(ids(&["--version", "canary-7"]).len(), 2);
    assert_eq!(
        ids(&["--search", "rotate"]),
        vec!["5b8efff798038103d269b633813fc60c"]
    );
    // The pinned clock is 2026-11-20T12:00Z; the fixtures are from 2026-11-18.
    assert_eq!(ids(&["--since", "1h"]).len(), 0);
    assert_eq!(ids(&["--since", "7d"]).len(), 4);
}

#[test]
fn a_trace_split_across_lines_is_one_trace_with_its_tool_error() {
    let (_dir, config, _) = imported();
    let t = json(relops(&config).args(["trace", "show", T1, "--json"]));
    assert_eq!(t["version"], "canary-7");
    assert_eq!(t["input"], "refund my order");
    assert_eq!(t["tool_errors"], 1);
    assert_eq!(t["tokens_in"], 1000);
    let spans = t["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 3);
    assert_eq!(spans[0]["depth"], 0);
    let tool = spans.iter().find(|s| s["kind"] == "tool").unwrap();
    assert_eq!(tool["tool_name"], "refund");
    assert_eq!(tool["error"], true);
    assert_eq!(tool["status_message"], "TimeoutError");
}

#[test]
fn trace_show_text_and_unknown_id() {
    let (_dir, config, _) = imported();
    relops(&config)
        .args(["trace", "show", T1])
        .assert()
        .success()
        .stdout(contains("execute_tool refund [tool]"));
    relops(&config)
        .args(["trace", "show", "ffffffffffffffffffffffffffffffff"])
        .assert()
        .code(2)
        .stderr(contains("no trace"));
}

#[test]
fn unknown_version_lists_the_known_ones() {
    let (_dir, config, _) = imported();
    relops(&config)
        .args(["traces", "--version", "v9"])
        .assert()
        .code(2)
        .stderr(contains("known versions: 2.3.1, canary-7, unknown"));
}

#[test]
fn bad_config_names_file_line_column_and_key() {
    let (dir, config) = workspace();
    std::fs::write(&config, "[overview]\nbuckets = \"many\"\n").unwrap();
    relops(&config)
        .args(["versions"])
        .assert()
        .code(2)
        .stderr(contains(format!(
            "{}:2:11: overview.buckets",
            config.display()
        )));
    std::fs::write(&config, "[workspace]\ncahce = \"x.db\"\n").unwrap();
    relops(&config)
        .args(["versions"])
        .assert()
        .code(2)
        .stderr(contains(":2:1: workspace"))
        .stderr(contains("unknown field `cahce`"));
    drop(dir);
}

#[test]
fn missing_files_are_clear_errors() {
    let (dir, config) = workspace();
    relops(&dir.path().join("nope.toml"))
        .arg("versions")
        .assert()
        .code(2)
        .stderr(contains("nope.toml: cannot read config"));
    relops(&config)
        .args(["versions", "--json"])
        .assert()
        .code(2)
        .stderr(contains("no cache here yet"));
    relops(&config)
        .args(["import", "missing.jsonl"])
        .assert()
        .code(2)
        .stderr(contains("missing.jsonl: no such file"));
}

#[test]
fn readonly_refuses_to_import() {
    let (_dir, config) = workspace();
    relops(&config)
        .args(["--readonly", "import"])
        .arg(fixture("genai.jsonl"))
        .assert()
        .code(2)
        .stderr(contains("--readonly"));
}

#[test]
fn db_flag_overrides_the_config() {
    let (dir, config) = workspace();
    let db = dir.path().join("elsewhere.sqlite");
    relops(&config)
        .arg("--db")
        .arg(&db)
        .arg("import")
        .arg(fixture("openinference.json"))
        .assert()
        .success();
    assert!(db.exists());
    assert!(!dir.path().join("cache.db").exists());
}
