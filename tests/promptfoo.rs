//! The promptfoo export runs as written: promptfoo (from npm, run offline) evaluates the
//! exported demo suite against the demo workflow server on v3 and v2, and agrees case
//! by case with `relops gate`: the same pass or fail for every case on both versions,
//! so v3 holds in promptfoo too (its must-pass cases fail there).
//!
//! promptfoo is a real peer: scripts/peers/install-promptfoo.sh installs it; a missing
//! one fails the test (ignored under RELOPS_ALLOW_SKIP=1, see build.rs).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{demo, peers, relops, serve_demo};
use serde_json::Value;

fn promptfoo_bin() -> PathBuf {
    let dir = std::env::var_os("RELOPS_PEERS_DIR")
        .map_or_else(|| "/opt/relops-peers".into(), PathBuf::from);
    dir.join("promptfoo/node_modules/.bin/promptfoo")
}

/// relops' verdict per case on each side: (must-pass, candidate passed, baseline passed).
fn gate_cases(gate: &Value) -> BTreeMap<String, (bool, bool, bool)> {
    let passed = |attempts: &Value| {
        attempts
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["outcome"]["status"] == "pass")
    };
    gate["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                (
                    c["must_pass"].as_bool().unwrap(),
                    passed(&c["candidate"]),
                    passed(&c["baseline"]),
                ),
            )
        })
        .collect()
}

#[test]
#[cfg_attr(
    skip_promptfoo,
    ignore = "promptfoo is not installed (RELOPS_ALLOW_SKIP=1)"
)]
fn promptfoo_runs_the_exported_suite_and_agrees_with_the_gate_case_by_case() {
    let bin = promptfoo_bin();
    peers::require("promptfoo", bin.exists());
    let dir = tempfile::tempdir().unwrap();
    let config = demo(dir.path(), 1500);
    let (_serving, _addr) = serve_demo(dir.path());

    let out = relops(&config)
        .args(["gate", "--candidate", "v3", "--baseline", "v2", "--json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let gate: Value = serde_json::from_slice(&out).unwrap();
    let want = gate_cases(&gate);
    assert_eq!(want.len(), 20);

    let exported = dir.path().join("promptfooconfig.json");
    let export = relops(&config)
        .args([
            "case",
            "export",
            "--format",
            "promptfoo",
            "--version",
            "v3",
            "--version",
            "v2",
            "--out",
        ])
        .arg(&exported)
        .assert()
        .success()
        .get_output()
        .stderr
        .clone();
    let summary = String::from_utf8_lossy(&export);
    assert!(
        summary.contains("exported 20 case(s) for provider(s) v3, v2: 20 fully expressible, 0 with a failing placeholder"),
        "{summary}"
    );

    // Offline and private: no telemetry, no update check, no cache, its own config dir.
    let results = dir.path().join("promptfoo-results.json");
    let home = dir.path().join("promptfoo-home");
    let run = std::process::Command::new(&bin)
        .args(["eval", "--config"])
        .arg(&exported)
        .arg("--output")
        .arg(&results)
        .args([
            "--no-cache",
            "--no-progress-bar",
            "--no-table",
            "--max-concurrency",
            "4",
        ])
        .env("PROMPTFOO_DISABLE_TELEMETRY", "1")
        .env("PROMPTFOO_DISABLE_UPDATE", "1")
        .env("PROMPTFOO_DISABLE_SHARING", "1")
        .env("PROMPTFOO_CONFIG_DIR", &home)
        .env("HOME", &home)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .expect("promptfoo runs");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&results)
        .unwrap_or_else(|e| panic!("promptfoo wrote no results ({e}): {log}"));
    let doc: Value = serde_json::from_str(&text).unwrap();
    let rows = doc["results"]["results"].as_array().expect("results");
    assert_eq!(rows.len(), 40, "20 cases on 2 versions: {log}");

    let mut seen: BTreeMap<(String, String), bool> = BTreeMap::new();
    for r in rows {
        let case = r["testCase"]["metadata"]["relops_case"]
            .as_str()
            .or_else(|| r["metadata"]["relops_case"].as_str())
            .expect("each result names its relops case")
            .to_string();
        let version = r["provider"]["label"]
            .as_str()
            .expect("a provider label")
            .to_string();
        assert!(
            r["error"].is_null() || r["success"] == false,
            "an error never passes: {r}"
        );
        seen.insert((case, version), r["success"].as_bool().unwrap());
    }
    let mut disagree = Vec::new();
    for (id, (_, v3, v2)) in &want {
        for (version, relops_pass) in [("v3", v3), ("v2", v2)] {
            let promptfoo_pass = seen.get(&(id.clone(), version.to_string()));
            if promptfoo_pass != Some(relops_pass) {
                disagree.push(format!(
                    "{id} on {version}: relops {relops_pass}, promptfoo {promptfoo_pass:?}"
                ));
            }
        }
    }
    assert!(
        disagree.is_empty(),
        "case-by-case disagreement:\n{}\n{log}",
        disagree.join("\n")
    );
    // Hold on v3 in promptfoo too: a must-pass case fails there, none on v2.
    let must_fail_v3 = want
        .iter()
        .filter(|(id, (must, _, _))| *must && !seen[&((*id).clone(), "v3".to_string())])
        .count();
    assert_eq!(must_fail_v3, 4, "the four must-pass regressions of v3");
    assert!(want.keys().all(|id| seen[&(id.clone(), "v2".to_string())]));
}
