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

// ---------------------------------------------------------------------------------------
// Whole verdicts against the reference: `scripts/drift_reference.py` drew arms with known
// properties (a clear regression, identical arms, 0 vs 0, a workflow without retrieval,
// tiny arms) and wrote scipy's, statsmodels' and numpy's figures and the verdicts the
// rules give them to `tests/fixtures/drift_verdicts.json`.
// ---------------------------------------------------------------------------------------

use relops::drift::arms::ArmData;
use relops::drift::catalogue::{Rate, Sample};
use relops::drift::{self as drift_lib, Judged, judge::Levels};

fn verdict_fixture() -> &'static Value {
    static FX: OnceLock<Value> = OnceLock::new();
    FX.get_or_init(|| {
        let text = std::fs::read_to_string(common::fixture("drift_verdicts.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    })
}

fn arm_data(v: &Value) -> ArmData {
    let counts = |v: &Value| (v[0].as_u64().unwrap(), v[1].as_u64().unwrap());
    let mut a = ArmData {
        requests: v["requests"].as_u64().unwrap(),
        ..ArmData::default()
    };
    for (key, rate) in [
        ("refusal", Rate::Refusal),
        ("safety", Rate::Safety),
        ("tool_error", Rate::ToolError),
        ("retrieval_empty", Rate::RetrievalEmpty),
    ] {
        a.rates.insert(rate, counts(&v["rates"][key]));
    }
    for (key, sample) in [
        ("latency", Sample::Latency),
        ("cost", Sample::Cost),
        ("tokens_in", Sample::TokensIn),
        ("tokens_out", Sample::TokensOut),
        ("output_chars", Sample::OutputChars),
        ("retrieval_score", Sample::RetrievalScore),
        ("llm", Sample::SpanLatency("llm")),
        ("tool", Sample::SpanLatency("tool")),
        ("retriever", Sample::SpanLatency("retriever")),
    ] {
        let values = v["samples"][key].as_array().unwrap();
        a.samples
            .insert(sample, values.iter().map(|x| x.as_f64().unwrap()).collect());
    }
    for (tool, c) in v["tools"].as_object().unwrap() {
        a.tools.insert(tool.clone(), counts(c));
    }
    a.sort();
    a
}

fn cases() -> Vec<(String, ArmData, ArmData, &'static Value)> {
    verdict_fixture()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                arm_data(&c["candidate"]),
                arm_data(&c["baseline"]),
                &c["expected"],
            )
        })
        .collect()
}

fn judged(cand: &ArmData, base: &ArmData, seed: u64, resamples: usize) -> Judged {
    let config = relops::config::Drift {
        seed,
        resamples,
        ..Default::default()
    };
    let levels = Levels {
        seed,
        resamples,
        ..drift_lib::levels(&config)
    };
    drift_lib::judge_arms_with(&config, levels, cand, base)
}

/// "same_as:<name>", "not_applicable" or "" as the fixture writes it.
fn exclusion(s: &drift_lib::SignalReport) -> String {
    match &s.judgement.excluded {
        Some(e) if e.why == "same_as" => format!("same_as:{}", e.same_as.as_deref().unwrap()),
        Some(e) => e.why.to_string(),
        None => String::new(),
    }
}

fn verdicts_of(j: &Judged) -> Vec<(String, String, String)> {
    j.signals
        .iter()
        .map(|s| {
            let v = serde_json::to_value(s.judgement.verdict).unwrap();
            (
                s.name.clone(),
                v.as_str().unwrap().to_string(),
                exclusion(s),
            )
        })
        .collect()
}

fn expected_verdicts(e: &Value) -> Vec<(String, String, String)> {
    e["signals"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, j)| {
            (
                name.clone(),
                j["verdict"].as_str().unwrap().to_string(),
                j["excluded"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn verdicts_match_the_reference_on_data_with_known_properties() {
    for (name, cand, base, expected) in cases() {
        let j = judged(&cand, &base, 7, 1000);
        let got = serde_json::to_value(j.verdict).unwrap();
        assert_eq!(got, expected["verdict"], "{name}: overall");
        let summary = serde_json::to_value(&j.summary).unwrap();
        assert_eq!(summary, expected["summary"], "{name}: summary");
        let mut want = expected_verdicts(expected);
        let mut have = verdicts_of(&j);
        want.sort();
        have.sort();
        assert_eq!(have, want, "{name}: per-signal verdicts");
    }
    // What the cases are for, in words.
    let by_name = |case: &str, signal: &str| {
        let (_, c, b, _) = cases().into_iter().find(|c| c.0 == case).unwrap();
        let j = judged(&c, &b, 7, 1000);
        j.signals.into_iter().find(|s| s.name == signal).unwrap()
    };
    let p95 = by_name("regression", "latency_p95");
    assert_eq!(
        p95.judgement.verdict,
        drift_lib::Verdict::Fail,
        "{}",
        p95.judgement.reason
    );
    let safety = by_name("regression", "safety_event_rate");
    assert!(safety.judgement.reason.starts_with("same as refusal rate"));
    assert_eq!(safety.fmt_p(), "same");
    let cost = by_name("zero_vs_zero", "cost_per_request");
    assert!(
        cost.judgement.reason.starts_with("not applicable"),
        "{}",
        cost.judgement.reason
    );
    assert_eq!(cost.fmt_interval(), "not applicable");
    let retrieval = by_name("no_retrieval", "retrieval_latency_p95");
    assert_eq!(
        retrieval.judgement.reason,
        "not applicable: no retrieval spans in either arm"
    );
}

fn close(what: &str, actual: Option<f64>, expected: &Value, tol: f64) {
    let Some(e) = expected.as_f64() else {
        assert!(actual.is_none(), "{what}: {actual:?}, reference has none");
        return;
    };
    let a = actual.unwrap_or_else(|| panic!("{what}: none, reference {e}"));
    let err = (a - e).abs();
    assert!(
        err <= tol * e.abs().max(1e-12) || err < 1e-15,
        "{what}: {a} vs reference {e}"
    );
}

#[test]
fn figures_match_scipy_statsmodels_and_numpy() {
    let tol = &verdict_fixture()["tolerance"];
    let exact = tol["exact"].as_f64().unwrap();
    let width_share = tol["bootstrap_interval_share_of_width"].as_f64().unwrap();
    let resamples = tol["bootstrap_resamples"].as_u64().unwrap() as usize;
    for (case, cand, base, expected) in cases() {
        let j = judged(&cand, &base, 7, resamples);
        for s in &j.signals {
            let e = &expected["signals"][&s.name];
            let what = |f: &str| format!("{case} {} {f}", s.name);
            let g = &s.judgement;
            if e["verdict"] == "insufficient" || e["excluded"] == "not_applicable" {
                continue;
            }
            close(&what("baseline"), g.baseline, &e["baseline"], exact);
            close(&what("current"), g.current, &e["current"], exact);
            close(&what("delta"), g.delta, &e["delta"], exact);
            if s.kind == "distribution" {
                continue;
            }
            let iv = g.interval.unwrap();
            let (lo, hi) = (&e["interval"][0], &e["interval"][1]);
            if g.method == Some("bootstrap") {
                // Monte Carlo against Monte Carlo: within a share of the interval's width.
                let width = hi.as_f64().unwrap() - lo.as_f64().unwrap();
                for (a, b, end) in [(iv.low, lo, "low"), (iv.high, hi, "high")] {
                    let b = b.as_f64().unwrap();
                    assert!(
                        (a - b).abs() <= width_share * width,
                        "{}: {a} vs scipy {b} (width {width})",
                        what(end)
                    );
                }
                let (p, pe) = (g.p_value.unwrap(), e["p_value"].as_f64().unwrap());
                let b = g.resamples.unwrap() as f64;
                let se = (pe * (1.0 - pe) / b).sqrt() + (pe * (1.0 - pe) / 9999.0).sqrt();
                assert!(
                    (p - pe).abs() <= 4.0 * se + 2.0 / (b + 1.0) + 2.0 / 10_000.0,
                    "{}: {p} vs scipy {pe}",
                    what("p")
                );
            } else {
                close(&what("low"), Some(iv.low), lo, exact);
                close(&what("high"), Some(iv.high), hi, exact);
                close(&what("p"), g.p_value, &e["p_value"], exact);
            }
            if s.kind == "sample" {
                close(&what("shift"), g.shift, &e["shift"], exact);
                close(&what("MWU p"), g.mann_whitney_p, &e["mann_whitney_p"], 1e-6);
                close(&what("effect"), g.effect, &e["effect"], exact);
            } else {
                close(
                    &what("min_n_ok"),
                    g.min_n_ok.map(|n| n as f64),
                    &e["min_n_ok"],
                    0.0,
                );
            }
        }
    }
}

#[test]
fn the_verdict_does_not_depend_on_the_seed() {
    for (name, cand, base, expected) in cases() {
        let want = expected_verdicts(expected);
        let mut same = 0;
        for seed in 0..20 {
            let j = judged(&cand, &base, seed, 1000);
            let mut have = verdicts_of(&j);
            let mut w = want.clone();
            have.sort();
            w.sort();
            if have == w && serde_json::to_value(j.verdict).unwrap() == expected["verdict"] {
                same += 1;
            }
        }
        assert!(
            same >= 19,
            "{name}: the reference verdict for {same} of 20 seeds"
        );
    }
}

#[test]
fn no_inf_or_nan_in_text_or_json() {
    for (name, cand, base, _) in cases() {
        let j = judged(&cand, &base, 7, 1000);
        for s in &j.signals {
            let text = format!(
                "{} {} {} {} {} {} {}",
                s.judgement.reason,
                s.fmt_baseline(),
                s.fmt_current(),
                s.fmt_delta(),
                s.fmt_interval(),
                s.fmt_p(),
                serde_json::to_string(s).unwrap()
            );
            for bad in ["inf", "NaN"] {
                assert!(!text.contains(bad), "{name} {}: {text}", s.name);
            }
        }
    }
}
