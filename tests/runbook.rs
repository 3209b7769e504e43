//! Procedures as an operator uses them: rehearse, see "tested", run with the typed
//! confirmation; untested ones need a second confirmation; a failing step halts; every
//! step lands in the audit chain.

mod common;

use std::path::Path;

use common::scripted::{Reply, Scripted};
use common::{json, relops, workspace};

/// A rollback: switch the active version over HTTP, then record it with a command
/// that writes its argument (hostile or not) to a file.
fn config(config: &Path, server: &str, out: &Path, extra_step: &str) {
    let text = format!(
        r#"[workspace]
cache = "cache.db"

[[procedure]]
name = "rollback"
[[procedure.step]]
name = "switch the active version"
run = {{ kind = "http", method = "POST", url = "{server}/admin/active", body = {{ version = "{{target}}" }} }}
dry_run = {{ kind = "http", method = "GET", url = "{server}/admin/active" }}
remediation = "switch it by hand in the admin UI"
[[procedure.step]]
name = "note it"
run = {{ kind = "run", argv = ["sh", "-c", "printf '%s' \"$1\" > {out}", "note", "{{target}}"] }}
dry_run = {{ kind = "run", argv = ["true"] }}
{extra_step}
"#,
        out = out.display()
    );
    std::fs::write(config, text).unwrap();
}

#[test]
fn rehearsed_runs_confirm_and_hostile_values_stay_literal() {
    let peer = Scripted::start(|_| Reply::Json(200, "{\"active\":\"v3\"}".into()));
    let (dir, cfg) = workspace();
    let out = dir.path().join("noted");
    config(&cfg, &peer.addr, &out, "");

    let listed = json(relops(&cfg).args(["runbook", "list", "--json"]));
    assert_eq!(listed[0]["tested"]["state"], "untested");
    // Untested: refused without --allow-untested, and that needs a second confirmation.
    let refused = relops(&cfg)
        .args([
            "runbook",
            "run",
            "rollback",
            "--target",
            "v2",
            "--confirm",
            "v2",
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("untested"));

    relops(&cfg)
        .args(["runbook", "rehearse", "rollback"])
        .assert()
        .success();
    let listed = json(relops(&cfg).args(["runbook", "list", "--json"]));
    assert_eq!(listed[0]["tested"]["state"], "tested", "{listed}");
    assert!(!out.exists(), "a rehearsal changes nothing");

    // The typed confirmation must match the target.
    let wrong = relops(&cfg)
        .args([
            "runbook",
            "run",
            "rollback",
            "--target",
            "v2",
            "--confirm",
            "v3",
        ])
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2));

    let hostile = "v2'; rm -rf / ; $(id)\n`reboot`";
    let ran = json(relops(&cfg).args([
        "runbook",
        "run",
        "rollback",
        "--target",
        hostile,
        "--confirm",
        hostile,
        "--json",
    ]));
    assert_eq!(ran["outcome"], "ok", "{ran}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), hostile);
    let posted = peer
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.target == "/admin/active")
        .count();
    assert_eq!(posted, 2, "one GET in the rehearsal, one POST in the run");

    let audit = json(relops(&cfg).args(["audit", "--json"]));
    let steps = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "runbook.run.step")
        .count();
    assert_eq!(steps, 2);
    relops(&cfg).args(["audit", "verify"]).assert().success();
}

#[test]
fn a_changed_procedure_is_stale_and_a_failing_step_halts() {
    let peer = Scripted::start(|_| Reply::Json(200, "{}".into()));
    let (dir, cfg) = workspace();
    let out = dir.path().join("noted");
    config(&cfg, &peer.addr, &out, "");
    relops(&cfg)
        .args(["runbook", "rehearse", "rollback"])
        .assert()
        .success();

    let failing = r#"[[procedure.step]]
name = "check health"
run = { kind = "run", argv = ["sh", "-c", "echo unhealthy >&2; exit 7"] }
remediation = "roll forward by hand""#;
    config(&cfg, &peer.addr, &out, failing);
    let listed = json(relops(&cfg).args(["runbook", "list", "--json"]));
    assert_eq!(listed[0]["tested"]["changed"], true, "{listed}");

    let out_run = relops(&cfg)
        .args([
            "runbook",
            "run",
            "rollback",
            "--target",
            "v2",
            "--confirm",
            "v2",
            "--allow-untested",
            "--confirm-untested",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out_run.stdout);
    assert_eq!(out_run.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL 3. check health"), "{text}");
    assert!(
        text.contains("| unhealthy") && text.contains("remediation: roll forward by hand"),
        "{text}"
    );
    relops(&cfg).args(["audit", "verify"]).assert().success();
}

#[test]
fn readonly_refuses_every_runbook_action() {
    let (dir, cfg) = workspace();
    config(&cfg, "http://127.0.0.1:9", &dir.path().join("x"), "");
    for verb in ["rehearse", "run"] {
        let out = relops(&cfg)
            .args([
                "--readonly",
                "runbook",
                verb,
                "rollback",
                "--target",
                "v2",
                "--confirm",
                "v2",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("--readonly"));
    }
}
