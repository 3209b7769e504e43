//! The operating cadence reports on the demo with the pinned clock: a week in which v3
//! shipped as a canary, caused an incident that became a case, fired its rollout
//! trigger, was rolled back and failed its gate. The weekly memo and the monthly report are
//! compared with golden files; their charts are SVG files next to the Markdown; `--json`
//! carries the same recommendations.

mod common;

use std::path::Path;

use common::{demo, golden, json, relops, serve_demo_at};
use serde_json::Value;

const PLAN: &str = r#"
[[rollout]]
name = "standard"
rollback_procedure = "switch back"

[[rollout.stage]]
name = "canary"
weight = 30
window = "1d"
trigger = [
  { name = "refusal spike", signal = "refusal_rate", above = 0.05, consecutive = 2 },
  { name = "slow answers", signal = "latency_p95", above = 12000, consecutive = 3 },
  { name = "tool errors", signal = "tool_error_rate", above = 0.004, consecutive = 1 },
]

[[rollout.stage]]
name = "all traffic"
weight = 100
window = "1d"

[[procedure]]
name = "switch back"
[[procedure.step]]
name = "switch the active version"
run = { kind = "run", argv = ["true"] }
dry_run = { kind = "run", argv = ["true"] }
"#;

/// The demo server's clock while the gates run.
const FEED_CLOCK: &str = "2027-01-01T00:00:00Z";

const MAIN: [&str; 4] = [
    "refusal_rate",
    "latency_p95",
    "cost_per_request",
    "tool_error_rate",
];

/// The demo's week of operations, all stamped at the pinned clock.
fn operate(dir: &Path) -> std::path::PathBuf {
    let config = demo(dir, 8000);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(PLAN);
    std::fs::write(&config, text).unwrap();
    let refusals = json(relops(&config).args([
        "traces",
        "--json",
        "--version",
        "v3",
        "--refusals",
        "--search",
        "refund",
        "--limit",
        "3",
    ]));
    let ids: Vec<String> = refusals
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    relops(&config)
        .args([
            "incident",
            "open",
            "v3 refuses refunds",
            "--severity",
            "sev2",
        ])
        .assert()
        .success();
    relops(&config)
        .args(["incident", "attach", "1"])
        .args(&ids)
        .assert()
        .success();
    relops(&config)
        .args([
            "case",
            "from-trace",
            &ids[0],
            "--incident",
            "1",
            "--must-pass",
        ])
        .assert()
        .success();
    relops(&config)
        .args([
            "rollout",
            "start",
            "standard",
            "--release",
            "v3",
            "--previous",
            "v2",
        ])
        .assert()
        .success();
    // The tool error trigger fires on the first check, the refusal spike on the second.
    relops(&config).args(["rollout", "tick"]).assert().code(1);
    relops(&config).args(["rollout", "tick"]).assert().code(1);
    relops(&config)
        .args(["runbook", "rehearse", "switch back"])
        .assert()
        .success();
    relops(&config)
        .args(["rollout", "rollback", "--confirm", "v2"])
        .assert()
        .success();
    // The gates replay the suite on the demo server; its live feed stamps what it adds
    // at a time outside the reports' periods, so that the reports stay the same.
    {
        let (_serving, _addr) = serve_demo_at(dir, FEED_CLOCK);
        relops(&config)
            .args(["gate", "--candidate", "v3", "--baseline", "v2"])
            .assert()
            .code(1);
        relops(&config)
            .args(["gate", "--candidate", "v2", "--baseline", "v1"])
            .assert()
            .success();
    }
    config
}

fn svg_checks(dir: &Path, stem: &str, versions: usize) {
    for signal in MAIN {
        let path = dir.join(format!("{stem}-{signal}.svg"));
        let svg =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<path ").count(), versions, "{signal}: {svg}");
        assert_eq!(svg.matches('<').count(), svg.matches('>').count());
    }
}

fn actions(v: &Value) -> Vec<String> {
    v["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(!r["evidence"].as_str().unwrap().is_empty(), "{r}");
            r["action"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn weekly_memo_and_monthly_report_on_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let config = operate(dir.path());
    let out = tempfile::tempdir().unwrap();

    let weekly = out.path().join("weekly.md");
    relops(&config)
        .args(["report", "weekly", "--out"])
        .arg(&weekly)
        .assert()
        .success();
    let md = std::fs::read_to_string(&weekly).unwrap();
    golden("report_weekly.md", &md, dir.path());
    for signal in MAIN {
        assert!(md.contains(&format!("(weekly-{signal}.svg)")), "{signal}");
    }
    svg_checks(out.path(), "weekly", 3);
    let w = json(relops(&config).args(["report", "weekly", "--json"]));
    let recs = actions(&w);
    assert!(!recs.is_empty());
    for a in &recs {
        assert!(md.contains(a.as_str()), "{a} is not in the memo");
    }
    assert_eq!(w["rollbacks"][0]["release"], "v3");
    assert_eq!(w["incidents"][0]["cases"].as_array().unwrap().len(), 1);

    // Without --out: the same memo on stdout, no charts, and a line that says so.
    let printed = relops(&config)
        .args(["report", "weekly", "--until", "2026-11-20T12:00:00Z"])
        .output()
        .unwrap();
    let printed = String::from_utf8(printed.stdout).unwrap();
    assert!(printed.contains("<!-- charts are written only with --out"));
    assert_eq!(
        printed.lines().filter(|l| l.starts_with("## ")).count(),
        md.lines().filter(|l| l.starts_with("## ")).count()
    );

    let monthly = out.path().join("monthly.md");
    relops(&config)
        .args(["report", "monthly", "--out"])
        .arg(&monthly)
        .assert()
        .success();
    let md = std::fs::read_to_string(&monthly).unwrap();
    golden("report_monthly.md", &md, dir.path());
    svg_checks(out.path(), "monthly", 3);
    let m = json(relops(&config).args(["report", "monthly", "--json"]));
    for a in actions(&m) {
        assert!(md.contains(a.as_str()), "{a} is not in the report");
    }
    let triggers = m["ratchet"]["triggers"].as_array().unwrap();
    // The demo's own canary plan and the one added here.
    assert_eq!(triggers.len(), 4);
    // The refusal trigger fired on v3 during the incident: a real fire.
    let refusal = &triggers[1]["backtest"];
    assert!(refusal["real"].as_u64().unwrap() >= 1, "{refusal}");
    assert!(
        refusal["fires"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["version"] == "v3" && !f["events"].as_array().unwrap().is_empty())
    );
    assert_eq!(m["test_set"]["gate_runs"], 2);
}

#[test]
fn an_empty_period_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo(dir.path(), 300);
    let out = relops(&config)
        .args(["report", "weekly", "--until", "2026-01-01"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.contains("0 requests · 0 versions served"), "{md}");
    assert!(md.contains("No rubric scores this week"), "{md}");
    relops(&config)
        .args(["report", "weekly", "--until", "soon"])
        .assert()
        .code(2);
}
