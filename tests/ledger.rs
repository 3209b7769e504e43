//! The ledger with several operators: changes raced by two processes land once, an
//! approval needs a second pair of eyes, and a signature from a key the team does not
//! know is refused.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
item = [ { name = "dashboards reviewed", kind = "manual" } ]
trigger = [ { name = "refusal spike", signal = "refusal_rate", above = 0.05, consecutive = 2 } ]

[[rollout.stage]]
name = "all traffic"
weight = 100
window = "1d"
"#;

/// A small demo workspace with the plan and a rollback procedure against `admin`.
fn workspace(dir: &Path, admin: &Scripted, extra: &str) -> PathBuf {
    let config = common::demo(dir, 2_000);
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
    text = format!("{extra}\n{text}{PLAN}{procedure}");
    std::fs::write(&config, text).unwrap();
    config
}

fn as_op(config: &Path, who: &str, args: &[&str]) -> Command {
    // A plain process, so two can run at once (`relops()` gives assert_cmd's).
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("relops"));
    cmd.env("RELOPS_NOW", common::NOW)
        .env_remove("RELOPS_CONFIG")
        .env_remove("RELOPS_DB")
        .env("RELOPS_OPERATOR", who)
        .arg("--config")
        .arg(config)
        .args(args);
    cmd
}

fn start(config: &Path, who: &str) {
    let out = as_op(
        config,
        who,
        &[
            "rollout",
            "start",
            "standard",
            "--release",
            "v3",
            "--previous",
            "v2",
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the same command as two operators at the same moment.
fn race(config: &Path, args: &[&str]) -> [Output; 2] {
    let a = as_op(config, "alice", args).spawn_piped();
    let b = as_op(config, "bob", args).spawn_piped();
    [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()]
}

trait SpawnPiped {
    fn spawn_piped(&mut self) -> std::process::Child;
}

impl SpawnPiped for Command {
    fn spawn_piped(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

fn actions(config: &Path) -> Vec<String> {
    json(relops(config).args(["audit", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn two_operators_racing_hold_and_rollback_make_one_change_each_time() {
    let admin = Scripted::start(|_| Reply::Json(200, "{}".into()));
    let dir = tempfile::tempdir().unwrap();
    let config = workspace(dir.path(), &admin, "");
    start(&config, "carol");
    const RACES: usize = 50;
    let mut stale = 0;
    for i in 0..RACES {
        let outs = race(&config, &["rollout", "hold"]);
        let won: Vec<&Output> = outs.iter().filter(|o| o.status.success()).collect();
        assert_eq!(won.len(), 1, "race {i}: exactly one hold lands: {outs:?}");
        let lost = outs.iter().find(|o| !o.status.success()).unwrap();
        let why = String::from_utf8_lossy(&lost.stderr);
        // The loser either read after the winner (the machine refuses: already held)
        // or before it (the ledger refuses: changed since it looked).
        assert!(
            why.contains("changed since you looked: held by") || why.contains("held"),
            "race {i}: {why}"
        );
        stale += usize::from(why.contains("changed since you looked"));
        as_op(&config, "carol", &["rollout", "resume"])
            .output()
            .unwrap();
    }
    let audited = actions(&config);
    let holds = audited.iter().filter(|a| *a == "rollout.hold").count();
    assert_eq!(holds, RACES, "one audit row per race");
    assert_eq!(
        audited.iter().filter(|a| *a == "rollout.resume").count(),
        RACES
    );
    eprintln!("{stale} of {RACES} losers were refused as stale, the rest by the machine");

    // The rollback: rehearsed, then pressed by both at once. The procedure runs once.
    as_op(&config, "carol", &["runbook", "rehearse", "switch back"])
        .output()
        .unwrap();
    as_op(&config, "carol", &["rollout", "hold"])
        .output()
        .unwrap();
    let outs = race(&config, &["rollout", "rollback", "--confirm", "v2"]);
    assert_eq!(
        outs.iter().filter(|o| o.status.success()).count(),
        1,
        "{outs:?}"
    );
    let posts = admin
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| !r.body.is_empty())
        .count();
    assert_eq!(posts, 1, "the rollback procedure ran once");
    let audited = actions(&config);
    assert_eq!(
        audited.iter().filter(|a| *a == "rollout.rollback").count(),
        1
    );
    assert_eq!(
        audited.iter().filter(|a| *a == "runbook.run.start").count(),
        1
    );
    relops(&config).args(["audit", "verify"]).assert().success();
}

#[test]
fn the_initiator_cannot_approve_and_the_approval_names_its_evidence() {
    let admin = Scripted::start(|_| Reply::Json(200, "{}".into()));
    let dir = tempfile::tempdir().unwrap();
    let config = workspace(dir.path(), &admin, "");
    start(&config, "alice");
    let own = as_op(&config, "alice", &["rollout", "approve"])
        .output()
        .unwrap();
    assert_eq!(own.status.code(), Some(2));
    let why = String::from_utf8_lossy(&own.stderr);
    assert!(
        why.contains("alice started this rollout") && why.contains("four eyes"),
        "{why}"
    );
    as_op(&config, "bob", &["rollout", "tick"])
        .output()
        .unwrap();
    let bob = as_op(&config, "bob", &["rollout", "approve"])
        .output()
        .unwrap();
    assert!(
        bob.status.success(),
        "{}",
        String::from_utf8_lossy(&bob.stderr)
    );
    let status = json(relops(&config).args(["rollout", "status", "--json"]));
    let digest = status["rollout"]["approval_evidence"]["bob"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(digest.len(), 12, "{status}");
    let audit = json(relops(&config).args(["audit", "--json"]));
    let approval = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "rollout.approve")
        .unwrap();
    assert_eq!(approval["actor"], "bob");
    assert_eq!(approval["details"]["evidence"]["digest"], digest.as_str());
    assert!(
        approval["details"]["evidence"]["readings"]["signals"].is_object(),
        "{approval}"
    );
}

/// A fresh ed25519 key for `principal`; its allowed-signers line.
fn keypair(dir: &Path, name: &str, principal: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", principal, "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen (openssh-client) is installed");
    assert!(ok.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    (key, format!("{principal} {public}"))
}

#[test]
fn approvals_are_signed_and_a_key_the_team_does_not_know_is_refused() {
    let admin = Scripted::start(|_| Reply::Json(200, "{}".into()));
    let dir = tempfile::tempdir().unwrap();
    let (bob_key, bob_line) = keypair(dir.path(), "bob", "bob");
    let (mallory_key, _) = keypair(dir.path(), "mallory", "carol");
    std::fs::write(dir.path().join("allowed_signers"), bob_line).unwrap();
    let config = workspace(
        dir.path(),
        &admin,
        "[identity]\nallowed_signers = \"allowed_signers\"\n",
    );
    start(&config, "alice");
    // carol's name, someone else's key: refused, and nothing changes.
    let forged = as_op(&config, "carol", &["rollout", "approve"])
        .env("RELOPS_SIGNING_KEY", &mallory_key)
        .output()
        .unwrap();
    assert!(!forged.status.success());
    let why = String::from_utf8_lossy(&forged.stderr);
    assert!(
        why.contains("carol's signature does not verify against")
            && why.contains("allowed_signers"),
        "{why}"
    );
    let status = json(relops(&config).args(["rollout", "status", "--json"]));
    assert_eq!(
        status["rollout"]["approvals"],
        serde_json::json!([]),
        "{status}"
    );

    let signed = as_op(&config, "bob", &["rollout", "approve"])
        .env("RELOPS_SIGNING_KEY", &bob_key)
        .output()
        .unwrap();
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let out = relops(&config).args(["audit", "verify"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 signatures verified"),
        "{text}"
    );
}
