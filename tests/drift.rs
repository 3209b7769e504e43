//! `relops drift` end to end on the demo: v3's regressions fail with intervals and an
//! onset, v2 against v1 passes, and thin data is insufficient rather than ok.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::{relops, workspace};
use serde_json::Value;

/// One full-size demo shared by the tests of this file (building it takes seconds).
fn demo_config() -> &'static PathBuf {
    static DEMO: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DEMO
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let config = common::demo(dir.path(), 50_000);
            (dir, config)
        })
        .1
}

fn drift(args: &[&str]) -> (i32, Value) {
    let out = relops(demo_config())
        .args(["drift", "--json"])
        .args(args)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), report)
}

fn signal<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["signals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no signal {name}"))
}

#[test]
fn v3_against_v2_fails_on_refusals_and_the_refund_tool() {
    let (code, r) = drift(&["--candidate", "v3", "--baseline", "v2"]);
    assert_eq!(code, 1, "exit 1 on failure");
    assert_eq!(r["verdict"], "fail");
    assert_eq!(r["candidate"]["label"], "v3");
    assert_eq!(r["baseline"]["label"], "v2");

    let refusal = signal(&r, "refusal_rate");
    assert_eq!(refusal["verdict"], "fail", "{refusal}");
    let (base, cur) = (
        refusal["baseline"].as_f64().unwrap(),
        refusal["current"].as_f64().unwrap(),
    );
    assert!(
        (0.01..0.03).contains(&base) && (0.06..0.11).contains(&cur),
        "{refusal}"
    );
    assert!(refusal["interval"]["low"].as_f64().unwrap() > 0.01);
    assert!(refusal["p_holm"].as_f64().unwrap() < 0.001);
    assert!(
        refusal["onset"]["text"]
            .as_str()
            .unwrap()
            .contains("after v3 was first seen"),
        "{refusal}"
    );
    assert_eq!(refusal["drill"], "v:v3 refusal");
    assert_eq!(refusal["series"]["candidate"].as_array().unwrap().len(), 48);

    let refund = signal(&r, "tool_error_rate.refund");
    assert_eq!(refund["verdict"], "fail", "{refund}");
    let lookup = signal(&r, "tool_error_rate.order_lookup");
    assert_ne!(
        lookup["verdict"], "fail",
        "the unchanged tool is not blamed: {lookup}"
    );
    assert_eq!(signal(&r, "tool_latency_p95")["verdict"], "fail");
}

#[test]
fn defaults_pick_the_newest_version_against_the_busiest_other() {
    let (_, r) = drift(&[]);
    assert_eq!(r["candidate"]["label"], "v3");
    assert_eq!(r["baseline"]["label"], "v2");
}

#[test]
fn v2_against_v1_passes() {
    let (code, r) = drift(&["--candidate", "v2", "--baseline", "v1", "--window", "3d"]);
    let not_ok: Vec<String> = r["signals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["verdict"] != "ok")
        .map(|s| format!("{} {}: {}", s["name"], s["verdict"], s["reason"]))
        .collect();
    assert_eq!(code, 0, "{not_ok:#?}");
    // v1 no longer serves: it is judged over its own last window of service.
    assert_ne!(r["baseline_window_end"], r["window_end"]);
}

#[test]
fn a_short_window_is_insufficient_not_ok() {
    let (code, r) = drift(&["--candidate", "v3", "--baseline", "v2", "--window", "20m"]);
    assert_eq!(code, 3, "{}", r["summary"]);
    let refusal = signal(&r, "refusal_rate");
    assert_ne!(refusal["verdict"], "ok");
    assert_eq!(signal(&r, "latency_p99")["verdict"], "insufficient");
}

#[test]
fn no_data_is_an_error_and_unknown_versions_are_named() {
    let (_dir, config) = workspace();
    relops(&config)
        .arg("import")
        .arg(common::fixture("openinference.json"))
        .assert()
        .success();
    // One trace of one version: nothing to compare it with but itself before.
    let out = relops(&config).args(["drift", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r["baseline"].is_null());
    assert!(
        r["signals"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["verdict"] == "insufficient"),
        "{r}"
    );
    relops(demo_config())
        .args(["drift", "--candidate", "v9"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("known versions"));
}

#[test]
fn text_output_shows_verdicts_and_onset() {
    let out = json_free_text(&["--candidate", "v3", "--baseline", "v2"]);
    assert!(out.contains("FAIL"), "{out}");
    assert!(out.contains("refusal rate"), "{out}");
    assert!(out.contains("onset from"), "{out}");
}

fn json_free_text(args: &[&str]) -> String {
    let out = relops(demo_config())
        .arg("drift")
        .args(args)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn list_names_every_signal() {
    let out = relops(demo_config())
        .args(["drift", "--list"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for name in [
        "refusal_rate",
        "latency_p95",
        "output_length",
        "tool_error_rate.<tool>",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
}

#[test]
fn pulled_series_are_judged_too() {
    let (_dir, config) = workspace();
    relops(&config)
        .arg("import")
        .arg(common::fixture("genai.jsonl"))
        .arg(common::fixture("openinference.json"))
        .assert()
        .code(1); // genai.jsonl's two bad lines are rejected, the rest imported

    // Samples a Prometheus source would have pulled: v canary-7 twice as slow.
    let ws = relops::workspace::Workspace::open(Some(&config), None, false).unwrap();
    let writer = relops::store::open_writer(&ws.db_path).unwrap();
    let conn = writer.connection();
    let newest: i64 = conn
        .query_row("SELECT max(start_ns) FROM traces", [], |r| r.get(0))
        .unwrap();
    // A second fingerprint under the same label (say a pushed span with other fields):
    // a series knows the label only, so its points count for the label's versions.
    conn.execute(
        "INSERT INTO versions (fingerprint, label, created_at) VALUES ('other-canary', 'canary-7', 1)",
        [],
    )
    .unwrap();
    for (label, scale) in [("canary-7", 2.0), ("2.3.1", 1.0)] {
        let ids: Vec<i64> = conn
            .prepare("SELECT id FROM versions WHERE label = ?1 ORDER BY id")
            .unwrap()
            .query_map([label], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for i in 0..300i64 {
            let version = ids[i as usize % ids.len()];
            conn.execute(
                "INSERT INTO signal_samples (source, signal, labels, version_id, ts_ns, value)
                 VALUES ('prom', 'http_p95_seconds', ?1, ?2, ?3, ?4)",
                rusqlite::params![
                    format!("{{\"version\":\"{label}\"}}"),
                    version,
                    newest - i * 1_000_000_000,
                    scale * (1.0 + (i % 7) as f64 / 10.0)
                ],
            )
            .unwrap();
        }
    }
    drop(writer);
    let out = relops(&config)
        .args([
            "drift",
            "--json",
            "--candidate",
            "canary-7",
            "--baseline",
            "2.3.1",
        ])
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let series = signal(&r, "series.http_p95_seconds");
    assert_eq!(series["verdict"], "fail", "{series}");
    assert_eq!(series["n_candidate"], 300);
}
