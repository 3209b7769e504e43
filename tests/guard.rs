//! `relops guard` end to end against the real binary: pages through loopback sinks
//! (webhook with its signature, Slack, PagerDuty) and a real Alertmanager, durable
//! delivery across kill -9 and a sink that fails first, one guard per workspace, and
//! notifier mistakes reported at start with the file, line and key.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::peers::{Alertmanager, free_port};
use common::relops;
use common::scripted::{Reply, Request, Scripted};
use serde_json::Value;

const KEY: &str = "whsec-canary-0123456789";
const ROUTING: &str = "pd-routing-canary-9876";

/// A demo workspace whose guard judges production drift of v3 against v2, where the
/// demo's v3 refuses more: `RelopsDriftFail` on the refusal rate.
fn drifting(dir: &Path, notify: &str) -> std::path::PathBuf {
    let config = common::demo(dir, 3000);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&config)
        .unwrap();
    write!(
        f,
        "\n[guard]\ncheck_every = \"1s\"\nsync = false\ndrift_signals = [\"refusal_rate\"]\ndrift_window = \"7d\"\n\
         candidate = \"v3\"\nbaseline = \"v2\"\n{notify}"
    )
    .unwrap();
    config
}

fn ok(_: &Request) -> Reply {
    Reply::Json(202, "{}".into())
}

fn guard_once(config: &Path) -> std::process::Output {
    relops(config)
        .args(["guard", "--once"])
        .env("HOOK_KEY", KEY)
        .env("PD_KEY", ROUTING)
        .output()
        .unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn hmac_hex(key: &str, body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[test]
fn a_drift_fail_pages_each_kind_once_with_its_numbers_in_the_documented_shape() {
    let sink = Scripted::start(ok);
    let dir = tempfile::tempdir().unwrap();
    let notify = format!(
        "[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{0}/hook\"\nsecret_env = \"HOOK_KEY\"\n\
         [[notify]]\nname = \"chat\"\nkind = \"slack\"\nurl_env = \"SLACK_URL\"\n\
         [[notify]]\nname = \"pager\"\nkind = \"pagerduty\"\nurl = \"{0}/pd\"\nsecret_env = \"PD_KEY\"\nmin_severity = \"critical\"\n",
        sink.addr
    );
    let config = drifting(dir.path(), &notify);
    let run = || {
        relops(&config)
            .args(["guard", "--once"])
            .env("HOOK_KEY", KEY)
            .env("PD_KEY", ROUTING)
            .env("SLACK_URL", format!("{}/slack", sink.addr))
            .output()
            .unwrap()
    };
    let out = run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The webhook: the versioned schema, signed over the exact body.
    let hooks = sink.seen("/hook");
    assert_eq!(hooks.len(), 1, "{hooks:?} {}", stderr(&out));
    let sig = hooks[0].header("x-relops-signature").expect("signed");
    assert_eq!(sig, format!("sha256={}", hmac_hex(KEY, &hooks[0].body)));
    let body = hooks[0].json();
    assert_eq!(body["schema"], "relops.notification/v1");
    assert_eq!(body["action"], "fire");
    let alert = &body["alert"];
    assert_eq!(alert["name"], "RelopsDriftFail");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["labels"]["signal"], "refusal_rate");
    assert_eq!(alert["release"]["label"], "v3");
    assert_eq!(alert["previous"]["label"], "v2");
    assert_eq!(
        alert["release"]["fingerprint"].as_str().unwrap().len(),
        12,
        "{alert}"
    );
    assert!(alert["n"].as_u64().unwrap() > 100, "{alert}");
    let description = alert["description"].as_str().unwrap();
    for part in ["95 % CI", "p ", "n "] {
        assert!(description.contains(part), "{description}");
    }
    assert_eq!(
        alert["next_step"],
        "relops drift --candidate v3 --baseline v2"
    );

    // Slack: Block Kit, the numbers in a field.
    let slack = sink.seen("/slack");
    assert_eq!(slack.len(), 1);
    let blocks = &slack[0].json()["blocks"];
    assert_eq!(blocks[0]["type"], "header");
    assert!(
        blocks[0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("RelopsDriftFail")
    );

    // PagerDuty: Events API v2 with a stable dedup key and the routing key.
    let pd = sink.seen("/pd");
    assert_eq!(pd.len(), 1);
    let event = pd[0].json();
    assert_eq!(event["routing_key"], ROUTING);
    assert_eq!(event["event_action"], "trigger");
    assert_eq!(event["payload"]["severity"], "critical");
    assert_eq!(event["payload"]["class"], "RelopsDriftFail");
    let dedup = event["dedup_key"].clone();

    // Still failing: no second page (repeat_every is 4h), the watchdog goes nowhere here.
    let again = run();
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(sink.seen("/hook").len(), 1);
    assert_eq!(sink.seen("/pd").len(), 1);

    // The drift watch switched off: the condition is gone, each notifier resolves it.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("drift_signals = [\"refusal_rate\"]", "drift_signals = []"),
    )
    .unwrap();
    let resolved = run();
    assert_eq!(resolved.status.code(), Some(0), "{}", stderr(&resolved));
    let hooks = sink.seen("/hook");
    assert_eq!(hooks.len(), 2);
    assert_eq!(hooks[1].json()["action"], "resolve");
    let pd = sink.seen("/pd");
    assert_eq!(pd.len(), 2);
    assert_eq!(pd[1].json()["event_action"], "resolve");
    assert_eq!(pd[1].json()["dedup_key"], dedup);

    // `guard status` shows each notifier's delivery; no secret appears anywhere.
    let status = relops(&config)
        .args(["guard", "status", "--json"])
        .output()
        .unwrap();
    let status_text = String::from_utf8_lossy(&status.stdout).into_owned();
    let s: Value = serde_json::from_str(&status_text).unwrap();
    let hook = s["notifiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["notifier"] == "hook")
        .unwrap();
    assert_eq!(
        (hook["sent"].as_i64(), hook["pending"].as_i64()),
        (Some(2), Some(0))
    );
    let db = std::fs::read(dir.path().join("cache.db")).unwrap_or_default();
    let db_text = String::from_utf8_lossy(&db);
    for secret in [KEY, ROUTING] {
        assert!(!status_text.contains(secret) && !stderr(&resolved).contains(secret));
        assert!(!db_text.contains(secret), "{secret} reached the cache");
    }
}

#[test]
fn a_sink_that_fails_then_throttles_gets_the_page_once_later() {
    let sink = Scripted::start(|r: &Request| match r.n {
        0 => Reply::Json(503, "{\"error\":\"down\"}".into()),
        1 => Reply::Throttle(1),
        _ => Reply::Json(200, "{}".into()),
    });
    let dir = tempfile::tempdir().unwrap();
    let notify = format!(
        "[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}/hook\"\nsecret_env = \"HOOK_KEY\"\n",
        sink.addr
    );
    let config = drifting(dir.path(), &notify);
    let first = guard_once(&config);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(sink.count(), 1, "one attempt, then a backoff");
    let status = common::json(relops(&config).args(["guard", "status", "--json"]));
    let hook = &status["notifiers"][0];
    assert_eq!(hook["pending"], 1);
    assert!(
        hook["last_error"].as_str().unwrap().contains("503"),
        "{hook}"
    );

    // The backoff (5 s) runs out; the next cycles try again until it lands.
    let mut delivered = false;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(500));
        guard_once(&config);
        if sink.seen("/hook").iter().filter(|r| r.n >= 2).count() == 1 {
            delivered = true;
            break;
        }
    }
    assert!(delivered, "never delivered: {} attempts", sink.count());
    for _ in 0..3 {
        guard_once(&config);
    }
    let fires = sink.seen("/hook");
    assert_eq!(fires.len(), 3, "503, 429, then exactly one delivery");
    assert!(fires.iter().all(|r| r.json()["action"] == "fire"));
    let ids: std::collections::BTreeSet<String> =
        fires.iter().map(|r| r.json()["id"].to_string()).collect();
    assert_eq!(ids.len(), 1, "the same notification each time");
}

/// `relops guard` in the foreground, looping every second.
fn spawn_guard(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_relops"))
        .args(["--config"])
        .arg(config)
        .args(["guard"])
        .env("RELOPS_NOW", common::NOW)
        .env("HOOK_KEY", KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn status(config: &Path) -> Value {
    common::json(relops(config).args(["guard", "status", "--json"]))
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn a_guard_killed_before_it_could_send_delivers_exactly_once_after_restart() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let notify = format!(
        "[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret_env = \"HOOK_KEY\"\n"
    );
    let config = drifting(dir.path(), &notify);
    // Nobody listens yet: the page is written to the outbox, and the send fails.
    let mut guard = spawn_guard(&config);
    wait_for("a cycle with the page owed", || {
        let s = status(&config);
        s["lease"]["cycles"].as_i64().unwrap_or(0) >= 1 && s["notifiers"][0]["pending"] == 1
    });
    guard.kill().unwrap();
    guard.wait().unwrap();

    let sink = Scripted::start_at(port, ok);
    // The dead guard's lease lapses after three missed cycles; then a new one takes it.
    wait_for("the lease to lapse", || {
        guard_once(&config).status.code() == Some(0)
    });
    // The failed send backs off (5 s); cycles go on until it is due and delivered.
    wait_for("the owed page", || {
        guard_once(&config);
        !sink.seen("/hook").is_empty()
    });
    for _ in 0..3 {
        guard_once(&config);
    }
    let hooks = sink.seen("/hook");
    assert_eq!(hooks.len(), 1, "exactly one delivery: {hooks:?}");
    assert_eq!(hooks[0].json()["alert"]["name"], "RelopsDriftFail");
}

#[test]
fn a_second_guard_is_refused_naming_the_holder_and_sigterm_lets_go() {
    let dir = tempfile::tempdir().unwrap();
    let config = drifting(dir.path(), "");
    let mut first = spawn_guard(&config);
    wait_for("the first guard's lease", || {
        status(&config)["lease"]["cycles"].as_i64().unwrap_or(0) >= 1
    });
    let second = guard_once(&config);
    assert_eq!(second.status.code(), Some(1));
    let why = stderr(&second);
    assert!(
        why.contains("another guard holds this workspace: guard@"),
        "{why}"
    );
    assert!(why.contains(&format!("(pid {})", first.id())), "{why}");

    // SIGTERM: the cycle finishes, the guard exits 0 and lets go of the lease.
    let _ = Command::new("kill").arg(first.id().to_string()).status();
    let exit = first.wait().unwrap();
    assert_eq!(exit.code(), Some(0));
    assert_eq!(status(&config)["lease"], Value::Null);
    assert_eq!(guard_once(&config).status.code(), Some(0));
}

#[test]
fn notifier_mistakes_are_named_by_file_line_and_key_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = drifting(
        dir.path(),
        "[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/x\"\nsecret_env = \"NOT_SET_ANYWHERE\"\n",
    );
    let out = relops(&config).args(["guard", "--once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let why = stderr(&out);
    assert!(why.contains("relops.toml:"), "{why}");
    assert!(
        why.contains(
            "notify[0].secret_env (hook): the environment variable NOT_SET_ANYWHERE is not set"
        ),
        "{why}"
    );
    let doctor = relops(&config).arg("doctor").output().unwrap();
    assert_eq!(doctor.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&doctor.stdout).contains("NOT_SET_ANYWHERE"));

    // A kind relops does not know fails the config load itself, with its place.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("kind = \"webhook\"", "kind = \"carrier-pigeon\""),
    )
    .unwrap();
    let out = relops(&config).args(["guard", "--once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let why = stderr(&out);
    assert!(
        why.contains("notify") && why.contains("carrier-pigeon"),
        "{why}"
    );
}

#[test]
#[cfg_attr(
    skip_alertmanager,
    ignore = "Alertmanager is not installed (RELOPS_ALLOW_SKIP=1)"
)]
fn the_canary_trigger_reaches_alertmanager_and_resolves_after_the_rollback() {
    let sink = Scripted::start(|_: &Request| Reply::Json(200, "{}".into()));
    let am = Alertmanager::start(&format!("{}/am", sink.addr));
    let dir = tempfile::tempdir().unwrap();
    let config = common::demo(dir.path(), 3000);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&config)
        .unwrap();
    write!(
        f,
        "\n[guard]\ncheck_every = \"2s\"\nsync = false\n\
         [[notify]]\nname = \"am\"\nkind = \"alertmanager\"\nurl = \"{}\"\n",
        am.url
    )
    .unwrap();
    let (_serving, _addr) = common::serve_demo(dir.path());
    let am_alerts = |status: &str| -> Vec<(String, String)> {
        sink.seen("/am")
            .iter()
            .flat_map(|r| r.json()["alerts"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["status"] == status)
            .map(|a| {
                (
                    a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                    a["annotations"]["summary"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect()
    };

    // Two checks over the limit fire the demo's refusal trigger (as `rollout tick` does).
    assert_eq!(guard_once(&config).status.code(), Some(0));
    let fired = guard_once(&config);
    assert_eq!(fired.status.code(), Some(0), "{}", stderr(&fired));
    assert_eq!(
        common::json(relops(&config).args(["rollout", "status", "--json"]))["rollout"]["state"],
        "triggered"
    );
    wait_for("Alertmanager to deliver the trigger", || {
        am_alerts("firing")
            .iter()
            .any(|(name, _)| name == "RelopsTriggerFired")
    });
    let (_, summary) = am_alerts("firing")
        .into_iter()
        .find(|(name, _)| name == "RelopsTriggerFired")
        .unwrap();
    assert!(
        summary.contains("v3: trigger \"refusal spike\" fired: refusal_rate"),
        "{summary}"
    );
    wait_for("Alertmanager to deliver the watchdog", || {
        guard_once(&config);
        am_alerts("firing")
            .iter()
            .any(|(name, _)| name == "RelopsGuardWatchdog")
    });
    let held = am.alerts();
    let trigger = held
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "RelopsTriggerFired")
        .expect("Alertmanager holds the trigger");
    assert_eq!(trigger["labels"]["severity"], "critical");
    assert_eq!(trigger["labels"]["trigger"], "refusal spike");
    assert!(
        trigger["annotations"]["runbook"]
            .as_str()
            .unwrap()
            .contains("relops rollout rollback --confirm v2"),
        "{trigger}"
    );
    assert_eq!(
        trigger["annotations"]["traces"]
            .as_str()
            .unwrap()
            .split(", ")
            .count(),
        3,
        "{trigger}"
    );

    // The tested rollback, then the signals recover: the trigger resolves.
    relops(&config)
        .args(["rollout", "rollback", "--confirm", "v2", "--yes"])
        .assert()
        .success();
    wait_for("Alertmanager to deliver the resolve", || {
        guard_once(&config);
        am_alerts("resolved")
            .iter()
            .any(|(name, _)| name == "RelopsTriggerFired")
    });
    // The watchdog still fires while the guard runs.
    guard_once(&config);
    let live = am.alerts();
    assert!(
        live.as_array()
            .unwrap()
            .iter()
            .any(|a| a["labels"]["alertname"] == "RelopsGuardWatchdog"
                && a["status"]["state"] == "active"),
        "{live}"
    );
}

/// The demo with its live canary, its refusal trigger set to roll back on its own, and
/// a webhook to `sink`.
fn automatic(dir: &Path, sink: &str) -> std::path::PathBuf {
    let config = common::demo(dir, 3000);
    let text = std::fs::read_to_string(&config).unwrap();
    let mut text = text
        .replace(
            "name = \"canary\"\nrollback_procedure = \"rollback\"",
            "name = \"canary\"\nrollback_procedure = \"rollback\"\nauto_rollback = true",
        )
        .replace(
            "consecutive = 2 }",
            "consecutive = 2, on_fire = \"rollback\" }",
        );
    text.push_str(&format!(
        "\n[guard]\ncheck_every = \"2s\"\nsync = false\n\
         [[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{sink}/hook\"\nsecret_env = \"HOOK_KEY\"\n"
    ));
    std::fs::write(&config, text).unwrap();
    config
}

fn fired_names(sink: &Scripted) -> Vec<(String, String)> {
    sink.seen("/hook")
        .iter()
        .map(|r| {
            let b = r.json();
            (
                b["action"].as_str().unwrap_or("").to_string(),
                b["alert"]["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_trigger_whose_plan_allows_it_is_rolled_back_by_the_guard_paging_before_and_after() {
    let sink = Scripted::start(ok);
    let dir = tempfile::tempdir().unwrap();
    let config = automatic(dir.path(), &sink.addr);
    let (_serving, _addr) = common::serve_demo(dir.path());
    let rollout = || common::json(relops(&config).args(["rollout", "status", "--json"]));
    wait_for("the guard to roll back", || {
        let out = guard_once(&config);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        rollout()["rollout"]["state"] == "rolled-back"
    });
    let seen = fired_names(&sink);
    let at = |action: &str, name: &str| seen.iter().position(|(a, n)| a == action && n == name);
    let before = at("fire", "RelopsAutoRollback").expect("paged before it ran");
    assert!(
        at("fire", "RelopsTriggerFired").is_some_and(|t| t <= before),
        "{seen:?}"
    );
    let after = at("resolve", "RelopsAutoRollback").expect("paged when it was done");
    assert!(before < after, "{seen:?}");
    assert!(at("fire", "RelopsRollbackFailed").is_none(), "{seen:?}");

    // The audit names the guard as the actor of the run and of the rollback.
    let audit = relops(&config).args(["audit", "--json"]).output().unwrap();
    let rows: Value = serde_json::from_slice(&audit.stdout).unwrap();
    let by_guard = |action: &str| {
        rows.as_array().unwrap().iter().any(|r| {
            r["action"] == action && r["actor"].as_str().unwrap_or("").starts_with("guard@")
        })
    };
    assert!(
        by_guard("runbook.run.start") && by_guard("rollout.rollback"),
        "{rows}"
    );
    // Once per firing: more cycles run nothing again.
    guard_once(&config);
    let runs = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "runbook.run.start")
        .count();
    let audit = relops(&config).args(["audit", "--json"]).output().unwrap();
    let again: Value = serde_json::from_slice(&audit.stdout).unwrap();
    let runs_after = again
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "runbook.run.start")
        .count();
    assert_eq!((runs, runs_after), (1, 1));
}

#[test]
fn a_stale_rehearsal_blocks_the_automatic_rollback_and_says_why() {
    let sink = Scripted::start(ok);
    let dir = tempfile::tempdir().unwrap();
    let config = automatic(dir.path(), &sink.addr);
    // The demo rehearses as it starts serving; any edit after that makes it stale.
    let (_serving, _addr) = common::serve_demo(dir.path());
    let text = std::fs::read_to_string(&config).unwrap();
    let edited = text.replace(
        "description = \"switch the demo",
        "description = \"(edited) switch the demo",
    );
    assert_ne!(text, edited);
    std::fs::write(&config, edited).unwrap();
    wait_for("the blocked page", || {
        guard_once(&config);
        fired_names(&sink)
            .iter()
            .any(|(a, n)| a == "fire" && n == "RelopsAutoRollbackBlocked")
    });
    let page = sink
        .seen("/hook")
        .into_iter()
        .map(|r| r.json())
        .find(|b| b["alert"]["name"] == "RelopsAutoRollbackBlocked")
        .unwrap();
    let summary = page["alert"]["summary"].as_str().unwrap();
    assert!(summary.contains("changed since its rehearsal"), "{summary}");
    assert_eq!(
        page["alert"]["next_step"],
        "relops rollout rollback --confirm v2"
    );
    let state = common::json(relops(&config).args(["rollout", "status", "--json"]));
    assert_eq!(state["rollout"]["state"], "triggered", "a human decides");
}
