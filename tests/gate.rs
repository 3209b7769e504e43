//! The release gate end to end on the demo: its suite of twenty cases, the two gates the
//! demo tells (v3 vs v2 holds for the right reasons, v2 vs v1 ships), stored runs with
//! their replays (list, show, diff), and the report's golden files.

mod common;

use std::path::{Path, PathBuf};

use common::{demo, golden, json, relops, serve_demo};
use predicates::str::contains;
use serde_json::Value;

fn suite_ids(config: &Path) -> Vec<(String, bool, String)> {
    let listed = json(relops(config).args(["case", "list", "--json"]));
    listed["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["must_pass"].as_bool().unwrap(),
                c["title"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_demo_suite_holds_v3_for_the_right_reasons_and_ships_v2() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo(dir.path(), 1500);
    let cases = suite_ids(&config);
    assert_eq!(cases.len(), 20, "{cases:?}");
    assert_eq!(cases.iter().filter(|c| c.1).count(), 7);
    let (_serving, _addr) = serve_demo(dir.path());

    let out = tempfile::tempdir().unwrap();
    let (md, xml, js) = (
        out.path().join("gate.md"),
        out.path().join("gate.xml"),
        out.path().join("gate.json"),
    );
    relops(&config)
        .args(["gate", "--candidate", "v3", "--baseline", "v2", "--report"])
        .arg(&md)
        .arg("--junit")
        .arg(&xml)
        .arg("--json")
        .arg(&js)
        .assert()
        .code(1)
        .stdout(contains("# Gate: HOLD: candidate v3"));
    let hold: Value = serde_json::from_str(&std::fs::read_to_string(&js).unwrap()).unwrap();
    let reasons: Vec<&str> = hold["verdict"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    // Why: v3 refuses refunds v2 handles, and its refund tool fails; both must-pass.
    let refusals = reasons
        .iter()
        .filter(|r| {
            r.starts_with("must-pass case") && r.ends_with("not_refusal: the workflow refused")
        })
        .count();
    assert_eq!(refusals, 3, "{reasons:#?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("runs the refund tool without errors")
                && r.contains("no_tool_errors: failed tool calls: refund")),
        "{reasons:#?}"
    );
    assert!(
        reasons.iter().any(|r| r.starts_with("pass rate 70.0%")),
        "{reasons:#?}"
    );
    // Nothing else holds it, and no case failed for want of running.
    assert_eq!(reasons.len(), 5, "{reasons:#?}");
    assert_eq!(hold["verdict"]["candidate"]["error"], 0);
    assert_eq!(hold["verdict"]["regressions"].as_array().unwrap().len(), 6);
    let report = std::fs::read_to_string(&md).unwrap();
    assert!(
        report.contains("## Why") && report.contains("## Regressions"),
        "{report}"
    );
    // Which versions: both fingerprints, what changed between them.
    assert!(
        report.contains("Changed: prompt_hash, tools.refund."),
        "{report}"
    );
    golden("gate_v3_v2.md", &report, dir.path());
    golden(
        "gate_v3_v2.xml",
        &std::fs::read_to_string(&xml).unwrap(),
        dir.path(),
    );

    let ship =
        json(relops(&config).args(["gate", "--candidate", "v2", "--baseline", "v1", "--json"]));
    assert_eq!(ship["verdict"]["decision"], "ship", "{ship}");
    assert_eq!(ship["verdict"]["candidate"]["pass"], 20);
    assert_eq!(ship["verdict"]["fixes"].as_array().unwrap().len(), 1);

    // Stored: both runs listed, newest first, with their counts.
    let runs = json(relops(&config).args(["gate", "--list", "--json"]));
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["id"], ship["gate_run"]);
    assert_eq!(runs[0]["decision"], "ship");
    assert_eq!(runs[1]["decision"], "hold");
    assert_eq!(runs[1]["candidate"], "v3");
    assert_eq!(runs[1]["baseline"], "v2");
    assert_eq!(runs[1]["candidate_counts"]["fail"], 6);
    assert_eq!(runs[1]["must_pass"], 7);
    relops(&config)
        .args(["gate", "--list"])
        .assert()
        .success()
        .stdout(contains("HOLD      v3 vs v2"));

    // One run's cases, each with its replays: a regression drills into its diff.
    let run = hold["gate_run"].as_i64().unwrap().to_string();
    let shown = json(relops(&config).args(["gate", "--show", &run, "--json"]));
    let results = shown["results"].as_array().unwrap();
    assert_eq!(results.len(), 20);
    assert_eq!(
        results[0]["case_id"].as_str().unwrap(),
        cases[0].0,
        "suite order"
    );
    let refused = results
        .iter()
        .find(|r| {
            r["must_pass"] == true
                && r["candidate"] == "fail"
                && r["title"]
                    .as_str()
                    .unwrap()
                    .ends_with("is handled, not refused")
        })
        .expect("a must-pass refusal case");
    let replay = |side: &str| {
        format!(
            "r:{}",
            refused[side][0]["replay_id"]
                .as_i64()
                .expect("a stored replay")
        )
    };
    let (a, b) = (replay("baseline_attempts"), replay("candidate_attempts"));
    let diff = json(relops(&config).args(["diff", &a, &b, "--json"]));
    assert_eq!(diff["a"]["version"], "v2");
    assert_eq!(diff["b"]["version"], "v3");
    assert_eq!(diff["a"]["case_id"], refused["case_id"]);
    assert_eq!(diff["a"]["trace_id"], Value::Null);
    assert_eq!(diff["flags"]["refusal"]["changed"], true);
    assert_eq!(diff["a"]["input"], diff["b"]["input"]);
    relops(&config)
        .args(["gate", "--show", &run])
        .assert()
        .success()
        .stdout(contains(format!("diff: relops diff {a} {b}")));
    relops(&config)
        .args(["gate", "--show", "999"])
        .assert()
        .code(2)
        .stderr(contains("no gate run 999"));

    // Reopening the demo keeps an edited case and restores a deleted one.
    let suite = dir.path().join("evals/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&suite)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let edited = std::fs::read_to_string(&files[0])
        .unwrap()
        .replace("\"must_pass\": true", "\"must_pass\": false");
    std::fs::write(&files[0], &edited).unwrap();
    std::fs::remove_file(&files[1]).unwrap();
    demo(dir.path(), 1500);
    assert_eq!(std::fs::read_to_string(&files[0]).unwrap(), edited);
    assert!(files[1].exists());
}
