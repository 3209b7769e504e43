//! The demo's rollback walk, headless against the real binary: `relops demo --serve`
//! rehearses the `rollback` procedure against its server and starts v3 at canary 5 %;
//! two checks fire the refusal trigger; the tested procedure rolls back through the
//! server's admin endpoint after the typed confirmation; the live feed then posts v2
//! only; the audit chain holds every step.

mod common;

use std::path::Path;

use common::{json, relops};
use serde_json::{Value, json};

fn active(addr: &str) -> Value {
    reqwest::blocking::get(format!("http://{addr}/admin/active"))
        .unwrap()
        .json()
        .unwrap()
}

/// Cached traces per version label.
fn traces(config: &Path, label: &str) -> i64 {
    let versions = json(relops(config).args(["versions", "--json"]));
    versions
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["label"] == label)
        .map_or(0, |v| v["traces"].as_i64().unwrap())
}

/// Polls (a bounded number of times, not against a clock) until v2 has more than
/// `more` traces beyond `from`; returns the count.
fn v2_grows(config: &Path, from: i64, more: i64) -> i64 {
    for _ in 0..600 {
        let now = traces(config, "v2");
        if now > from + more {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the live feed added no v2 traffic");
}

fn status(config: &Path) -> Value {
    json(relops(config).args(["rollout", "status", "--json"]))
}

fn audit_actions(config: &Path) -> Vec<String> {
    json(relops(config).args(["audit", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_canary_fires_rolls_back_with_the_tested_procedure_and_traffic_follows() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::demo(dir.path(), 3000);
    let (serving, addr) = common::serve_demo(dir.path());

    // Opening the demo started v3's canary and rehearsed the rollback.
    let s = status(&config);
    assert_eq!(
        (
            &s["rollout"]["release"],
            &s["rollout"]["previous"],
            &s["rollout"]["state"],
            &s["stage_name"]
        ),
        (
            &json!("v3"),
            &json!("v2"),
            &json!("running"),
            &json!("canary 5%")
        ),
        "{s}"
    );
    assert_eq!(
        active(&addr),
        json!({"stable": "v2", "canary": {"version": "v3", "weight": 5}})
    );

    // Reopening changes neither: the same rollout, one rehearsal.
    drop(serving);
    let (_serving, addr) = common::serve_demo(dir.path());
    assert_eq!(status(&config)["id"], s["id"]);
    let rehearsals = audit_actions(&config)
        .iter()
        .filter(|a| *a == "runbook.rehearsal.start")
        .count();
    assert_eq!(rehearsals, 1);

    // The trigger needs two checks over 4 % in a row.
    relops(&config).args(["rollout", "tick"]).assert().code(0);
    let fired = relops(&config).args(["rollout", "tick"]).output().unwrap();
    let text = String::from_utf8_lossy(&fired.stdout);
    assert_eq!(fired.status.code(), Some(1), "{text}");
    assert!(
        text.contains("TRIGGERED: refusal spike: refusal_rate at"),
        "{text}"
    );
    assert_eq!(status(&config)["rollout"]["state"], "triggered");

    let procedures = json(relops(&config).args(["runbook", "list", "--json"]));
    let rollback = procedures
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "rollback")
        .expect("the demo's rollback procedure");
    assert_eq!(rollback["tested"]["state"], "tested", "{rollback}");

    // Without the typed target nothing runs.
    relops(&config)
        .args(["rollout", "rollback", "--confirm", "v3"])
        .assert()
        .code(2);
    assert_eq!(active(&addr)["canary"]["version"], "v3");

    relops(&config)
        .args(["rollout", "rollback", "--confirm", "v2", "--yes"])
        .assert()
        .success();
    assert_eq!(status(&config)["rollout"]["state"], "rolled-back");
    assert_eq!(active(&addr), json!({"stable": "v2", "canary": null}));

    // A feed tick that read the routing before the switch may still land: once two
    // more have (a tick posts at most five), every later one routes v2 only.
    let settled = v2_grows(&config, traces(&config, "v2"), 5);
    let v3 = traces(&config, "v3");
    v2_grows(&config, settled, 20);
    assert_eq!(
        traces(&config, "v3"),
        v3,
        "v3 took traffic after the rollback"
    );

    let actions = audit_actions(&config);
    for expected in [
        "rollout.start",
        "rollout.tick",
        "runbook.rehearsal.step",
        "runbook.run.step",
        "rollout.rollback",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} missing from {actions:?}"
        );
    }
    relops(&config).args(["audit", "verify"]).assert().success();
}
