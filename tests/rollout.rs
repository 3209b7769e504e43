//! A rollout on the demo: v3 at canary, its refusal trigger fires on consecutive
//! checks, the rehearsed rollback runs after the typed confirmation, and the audit
//! chain holds every step.

mod common;

use common::scripted::{Reply, Scripted};
use common::{json, relops};

const PLAN: &str = r#"
[[rollout]]
name = "standard"
rollback_procedure = "switch back"

[[rollout.stage]]
name = "canary 5%"
weight = 5
window = "1d"
approvals = 1
item = [
  { name = "dashboards reviewed", kind = "manual" },
  { name = "refusals hold", kind = "drift", signal = "refusal_rate" },
]
trigger = [ { name = "refusal spike", signal = "refusal_rate", above = 0.05, consecutive = 2 } ]

[[rollout.stage]]
name = "all traffic"
weight = 100
window = "1d"
"#;

#[test]
fn a_trigger_fires_and_the_rehearsed_rollback_runs() {
    let admin = Scripted::start(|_| Reply::Json(200, "{}".into()));
    let dir = tempfile::tempdir().unwrap();
    let config = common::demo(dir.path(), 20_000);
    let procedure = format!(
        r#"
[[procedure]]
name = "switch back"
[[procedure.step]]
name = "switch the active version"
run = {{ kind = "http", method = "POST", url = "{0}/admin/active", body = {{ version = "{{target}}" }} }}
dry_run = {{ kind = "http", method = "GET", url = "{0}/admin/active" }}
"#,
        admin.addr
    );
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(PLAN);
    text.push_str(&procedure);
    std::fs::write(&config, text).unwrap();

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
    let status = json(relops(&config).args(["rollout", "status", "--json"]));
    assert_eq!(status["rollout"]["state"], "running", "{status}");
    assert_eq!(
        status["rollout"]["items"]["dashboards reviewed"]["state"],
        "pending"
    );

    // One check over the limit is not a streak; the second fires the trigger.
    relops(&config).args(["rollout", "tick"]).assert().success();
    let fired = relops(&config).args(["rollout", "tick"]).output().unwrap();
    let text = String::from_utf8_lossy(&fired.stdout);
    assert_eq!(fired.status.code(), Some(1), "{text}");
    assert!(
        text.contains("TRIGGERED: refusal spike: refusal_rate at"),
        "{text}"
    );
    let promote = relops(&config)
        .args(["rollout", "promote"])
        .output()
        .unwrap();
    assert_eq!(
        promote.status.code(),
        Some(2),
        "no promotion while triggered"
    );

    relops(&config)
        .args(["runbook", "rehearse", "switch back"])
        .assert()
        .success();
    relops(&config)
        .args(["rollout", "rollback", "--confirm", "v2"])
        .assert()
        .success();
    let status = json(relops(&config).args(["rollout", "status", "--json"]));
    assert_eq!(status["rollout"]["state"], "rolled-back", "{status}");
    let posts: Vec<String> = admin
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.target.clone())
        .collect();
    assert_eq!(
        posts.len(),
        2,
        "a rehearsal GET and the rollback POST: {posts:?}"
    );

    let audit = json(relops(&config).args(["audit", "--json"]));
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "rollout.start",
        "rollout.tick",
        "runbook.rehearsal.step",
        "runbook.run.step",
        "rollout.rollback",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    relops(&config).args(["audit", "verify"]).assert().success();
}
