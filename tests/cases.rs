//! Incidents and regression cases end to end: `relops incident`, `relops case list` on a
//! suite with bad files, and `relops case from-trace` on the demo (with a replay on the
//! previous version through the demo workflow server).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::OnceLock;

use common::{NOW, demo, json, relops};
use predicates::str::contains;
use serde_json::{Value, json};

/// One demo workspace for the whole file.
fn demo_ws() -> &'static PathBuf {
    static WS: OnceLock<PathBuf> = OnceLock::new();
    WS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        demo(&dir, 3000)
    })
}

fn first(config: &Path, filter: &[&str]) -> String {
    let rows = json(
        relops(config)
            .args(["traces", "--json", "--limit", "1"])
            .args(filter),
    );
    rows[0]["id"]
        .as_str()
        .expect("a matching trace")
        .to_string()
}

fn audit(config: &Path) -> Vec<(String, String, String)> {
    let db = config.parent().unwrap().join("relops.db");
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT actor, action, subject FROM audit_log ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn incident_open_attach_list_close_with_audit() {
    let config = demo_ws();
    let a = first(config, &["--version", "v3", "--refusals"]);
    let b = first(config, &["--version", "v3", "--errors"]);
    let opened = json(relops(config).env("RELOPS_OPERATOR", "alice").args([
        "incident",
        "open",
        "Refund refusals on v3",
        "--severity",
        "sev2",
        "--json",
    ]));
    let id = opened["id"].as_i64().unwrap();
    assert_eq!(opened["status"], "open");
    assert_eq!(opened["severity"], "sev2");
    assert_eq!(opened["opened_by"], "alice");
    assert_eq!(opened["opened_at"], "2026-11-20T12:00:00.000Z");
    let id_s = id.to_string();

    let attached = json(
        relops(config)
            .env("RELOPS_OPERATOR", "alice")
            .args(["incident", "attach", &id_s, &a, &b, "--json"]),
    );
    assert_eq!(attached["traces"], json!([a, b]));
    // Attaching again is harmless and says so.
    relops(config)
        .args(["incident", "attach", &id_s, &a])
        .assert()
        .success()
        .stdout(contains("attached 0 trace(s)"))
        .stdout(contains("1 already attached"));
    relops(config)
        .args([
            "incident",
            "attach",
            &id_s,
            "ffffffffffffffffffffffffffffffff",
        ])
        .assert()
        .code(2)
        .stderr(contains("no trace"));

    let list = json(relops(config).args(["incident", "list", "--json"]));
    let mine = list
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap();
    assert_eq!(mine["traces"].as_array().unwrap().len(), 2);

    let closed = json(
        relops(config)
            .env("RELOPS_OPERATOR", "bob")
            .args(["incident", "close", &id_s, "--json"]),
    );
    assert_eq!(closed["status"], "closed");
    relops(config)
        .args(["incident", "close", &id_s])
        .assert()
        .code(2)
        .stderr(contains("already closed"));
    relops(config)
        .args(["incident", "close", "999999"])
        .assert()
        .code(2)
        .stderr(contains("no incident 999999"));
    relops(config)
        .args(["--readonly", "incident", "open", "nope"])
        .assert()
        .code(2)
        .stderr(contains("readonly"));
    // Listing reads only: fine in readonly.
    relops(config)
        .args(["--readonly", "incident", "list"])
        .assert()
        .success()
        .stdout(contains("Refund refusals on v3"));

    let subject = format!("incident:{id}");
    let trail: Vec<(String, String)> = audit(config)
        .into_iter()
        .filter(|(_, _, s)| *s == subject)
        .map(|(actor, action, _)| (actor, action))
        .collect();
    let want = [
        ("alice", "incident.open"),
        ("alice", "incident.attach"),
        ("bob", "incident.close"),
    ];
    assert_eq!(
        trail,
        want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec()
    );
}

#[test]
fn case_list_reports_every_bad_file_and_keeps_the_good_ones() {
    let (dir, config) = common::workspace();
    let suite = dir.path().join("evals/cases");
    std::fs::create_dir_all(&suite).unwrap();
    let w = |name: &str, text: &str| std::fs::write(suite.join(name), text).unwrap();
    w(
        "good-1234abcd.json",
        r#"{"id": "1234abcd", "title": "good one", "created_at": "2026-11-20T12:00:00Z",
            "input": "hello", "assertions": [{"type": "not_refusal"},
            {"type": "contains", "value": "hi", "not": true}], "must_pass": true}"#,
    );
    w("broken.json", "{ \"id\": \"x\", ");
    w(
        "missing-name.json",
        r#"{"id": "4444abcd", "title": "t", "created_at": "2026-11-20T12:00:00Z",
            "input": "i", "assertions": [{"type": "tool_called"}]}"#,
    );
    w(
        "bad-regex.json",
        r#"{"id": "5678abcd", "title": "t", "created_at": "2026-11-20T12:00:00Z",
            "input": "i", "assertions": [{"type": "regex", "pattern": "[a-"}]}"#,
    );
    w(
        "bad-type.json",
        r#"{"id": "9999abcd", "title": "t", "created_at": "2026-11-20T12:00:00Z",
            "input": "i", "assertions": [{"type": "max_latency_ms", "ms": "fast"}]}"#,
    );
    let out = relops(&config)
        .args(["case", "list", "--json"])
        .assert()
        .code(1)
        .stderr(contains(
            "bad-regex.json: assertions[0].pattern: invalid regex",
        ))
        .stderr(contains("broken.json: (syntax)"))
        .stderr(contains(
            "missing-name.json: assertions[0].name: missing field `name`",
        ))
        .stderr(contains("bad-type.json: assertions[0]"))
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["cases"].as_array().unwrap().len(), 1);
    assert_eq!(v["cases"][0]["id"], "1234abcd");
    assert_eq!(
        v["cases"][0]["assertions"],
        json!(["not_refusal", "not contains \"hi\""])
    );
    assert_eq!(v["errors"].as_array().unwrap().len(), 4);
    // Text mode: the summary, then the good case.
    relops(&config)
        .args(["case", "list"])
        .assert()
        .code(1)
        .stdout(contains("1 case(s), 1 must-pass, 4 bad file(s)"))
        .stdout(contains("1234abcd  must-pass  good one"));
    // A clean suite exits 0 (below); an absent one is empty.
    let keep = suite.join("good-1234abcd.json");
    let good = std::fs::read(&keep).unwrap();
    for f in [
        "broken.json",
        "bad-regex.json",
        "bad-type.json",
        "missing-name.json",
    ] {
        std::fs::remove_file(suite.join(f)).unwrap();
    }
    // Export for promptfoo: every assertion maps; a measure of promptfoo's own is named.
    let out = relops(&config)
        .args(["case", "export", "--format", "promptfoo"])
        .assert()
        .success()
        .stderr(contains(
            "case 1234abcd: `not_refusal`: exported with promptfoo's own measure",
        ))
        .stderr(contains(
            "exported 1 case(s) for no provider (add --version V): 1 fully expressible",
        ))
        .get_output()
        .stdout
        .clone();
    let pf: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(pf["tests"][0]["vars"]["input"], "hello");
    assert_eq!(
        pf["tests"][0]["assert"],
        json!([{"type": "not-is-refusal"}, {"type": "not-contains", "value": "hi"}])
    );
    std::fs::write(&keep, good).unwrap();
    relops(&config).args(["case", "list"]).assert().success();
    // A bad file stops the export (a partial suite would mislead).
    std::fs::write(suite.join("broken.json"), "{").unwrap();
    relops(&config)
        .args(["case", "export"])
        .assert()
        .code(2)
        .stderr(contains("broken.json: (syntax)"));
    std::fs::remove_dir_all(&suite).unwrap();
    relops(&config)
        .args(["case", "list"])
        .assert()
        .success()
        .stdout(contains("0 case(s)"));
}

/// Kills the child when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kinds(case: &Value) -> Vec<String> {
    case["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["type"].as_str().unwrap().to_string())
        .collect()
}

/// The acceptance flow's first half: a v3 refusal, replayed well on v2, becomes a
/// must-pass case linked to its incident; a tool error and a slow trace get their own
/// suggestions.
#[test]
fn from_trace_suggests_from_what_went_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo(dir.path(), 3000);
    let mut child = Process::new(env!("CARGO_BIN_EXE_relops"))
        .args(["demo", "--serve", "--dir"])
        .arg(dir.path())
        .env("RELOPS_NOW", NOW)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _running = Running(child);
    assert!(
        BufReader::new(stderr)
            .lines()
            .any(|l| l.unwrap().contains("Ctrl-C stops")),
        "server announced itself"
    );

    let refusal = common::v3_over_refusal(&config);
    // Before any replay: not_refusal, and no reference to compare with.
    let before = json(relops(&config).args(["case", "from-trace", &refusal, "--json"]));
    assert_eq!(kinds(&before["case"])[0], "not_refusal");
    assert!(!kinds(&before["case"]).contains(&"similar_to_reference".to_string()));
    assert_eq!(before["case"]["must_pass"], false);
    std::fs::remove_file(before["path"].as_str().unwrap()).unwrap();

    let replayed = json(relops(&config).args(["replay", &refusal, "--on", "v2", "--json"]));
    let on_v2 = replayed[0]["replay"].as_str().unwrap().to_string();
    let inc = json(relops(&config).args(["incident", "open", "v3 refuses refunds", "--json"]));
    let inc_id = inc["id"].as_i64().unwrap().to_string();
    let made = json(relops(&config).args([
        "case",
        "from-trace",
        &refusal,
        "--incident",
        &inc_id,
        "--must-pass",
        "--json",
    ]));
    let case = &made["case"];
    assert_eq!(
        kinds(case)[..2],
        [
            "not_refusal".to_string(),
            "similar_to_reference".to_string()
        ]
    );
    assert_eq!(case["must_pass"], true);
    assert_eq!(case["incident"], inc["id"]);
    assert_eq!(case["source"]["trace_id"], refusal.as_str());
    assert_eq!(case["source"]["version"], "v3");
    let shown = json(relops(&config).args(["trace", "show", &refusal, "--json"]));
    assert_eq!(case["input"], shown["input"]);
    let reference = case["reference"].as_str().unwrap();
    assert!(
        !reference.is_empty() && !reference.starts_with("I'm sorry"),
        "{reference}"
    );
    assert!(made["why"][1].as_str().unwrap().contains("on v2"));
    // The file: in the suite dir, named slug-id, pretty-printed, loadable.
    let path = PathBuf::from(made["path"].as_str().unwrap());
    let id = case["id"].as_str().unwrap();
    assert!(path.starts_with(dir.path().canonicalize().unwrap().join("evals/cases")));
    assert!(
        path.file_name()
            .unwrap()
            .to_string_lossy()
            .ends_with(&format!("-{id}.json")),
        "{path:?}"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\n  \"assertions\": [\n"), "{text}");
    let listed = json(relops(&config).args(["case", "list", "--json"]));
    let mine = listed["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .expect("the new case is listed");
    assert_eq!(mine["must_pass"], true);
    // The cache indexes it, linked to its incident and trace, for the panes to join.
    let db = rusqlite::Connection::open(dir.path().join("relops.db")).unwrap();
    let (title, must_pass, incident, traced, removed): (
        String,
        bool,
        Option<i64>,
        bool,
        Option<i64>,
    ) = db
        .query_row(
            "SELECT title, must_pass, incident_id, trace_pk IS NOT NULL, removed_at
             FROM cases WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(title, case["title"].as_str().unwrap());
    assert!(must_pass && traced && removed.is_none());
    assert_eq!(incident, inc["id"].as_i64());

    // The case judges executions: the refusal fails it, the v2 replay passes it.
    relops(&config)
        .args(["case", "eval", id, &refusal])
        .assert()
        .code(1)
        .stdout(contains("FAIL not_refusal"));
    let v2 = relops(&config)
        .args(["case", "eval", id, &on_v2, "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v2: Value = serde_json::from_slice(&v2).unwrap();
    assert_eq!(v2["pass"], true, "{v2}");
    // Live, through the demo server: the gate's inner loop on one case.
    relops(&config)
        .args(["case", "eval", id, "--on", "v2"])
        .assert()
        .success()
        .stdout(contains("on live:demo (v2)"))
        .stdout(contains("PASS not_refusal"));
    relops(&config)
        .args(["case", "eval", id, "--on", "v3"])
        .assert()
        .code(1)
        .stdout(contains("FAIL not_refusal"));
    relops(&config)
        .args(["--readonly", "case", "eval", id, "--on", "v2"])
        .assert()
        .code(2)
        .stderr(contains("readonly"));
    relops(&config).args(["case", "eval", id]).assert().code(2);

    // The gate on a suite of that one must-pass case: v3 holds because of it, v2 ships.
    let suite = tempfile::tempdir().unwrap();
    std::fs::copy(&path, suite.path().join(path.file_name().unwrap())).unwrap();
    let report = suite.path().join("gate.md");
    relops(&config)
        .args(["gate", "--candidate", "v3", "--baseline", "v2", "--suite"])
        .arg(suite.path())
        .arg("--report")
        .arg(&report)
        .assert()
        .code(1)
        .stdout(contains("# Gate: HOLD: candidate v3"))
        .stdout(contains(format!("must-pass case {id} ")));
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(md.contains("## Regressions"), "{md}");
    // The same gate for CI: JSON and JUnit files beside the Markdown on stdout.
    let outdir = tempfile::tempdir().unwrap();
    let (jfile, xfile) = (
        outdir.path().join("gate.json"),
        outdir.path().join("gate.xml"),
    );
    relops(&config)
        .args(["gate", "--candidate", "v3", "--baseline", "v2", "--json"])
        .arg(&jfile)
        .arg("--junit")
        .arg(&xfile)
        .arg("--suite")
        .arg(suite.path())
        .assert()
        .code(1)
        .stdout(contains("# Gate: HOLD"));
    let j: Value = serde_json::from_str(&std::fs::read_to_string(&jfile).unwrap()).unwrap();
    assert_eq!(j["verdict"]["decision"], "hold");
    assert_eq!(j["verdict"]["regressions"], json!([id]));
    let x = std::fs::read_to_string(&xfile).unwrap();
    assert!(x.contains("failures=\"1\""), "{x}");
    assert!(
        x.contains("<failure message=\"not_refusal: the workflow refused"),
        "{x}"
    );
    let ship = json(
        relops(&config)
            .args([
                "gate",
                "--candidate",
                "v2",
                "--baseline",
                "v1",
                "--repeat",
                "2",
                "--concurrency",
                "2",
                "--json",
                "--suite",
            ])
            .arg(suite.path()),
    );
    assert_eq!(ship["verdict"]["decision"], "ship", "{ship}");
    // Gate runs are stored with every attempt.
    let db = rusqlite::Connection::open(dir.path().join("relops.db")).unwrap();
    let (decision, results): (String, i64) = db
        .query_row(
            "SELECT g.decision, (SELECT count(*) FROM gate_results r WHERE r.gate_run_id = g.id)
             FROM gate_runs g WHERE g.id = ?1",
            [ship["gate_run"].as_i64().unwrap()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (decision.as_str(), results),
        ("ship", 4),
        "2 versions × 2 attempts"
    );
    // The target down: the must-pass case could not run, which is never a pass, and
    // no verdict on the candidate either (exit 2, not 1).
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        "\n[replay.targets.dead]\nkind = \"http\"\nurl = \"http://127.0.0.1:9/{version}\"\n\
         retries = 0\ntimeout_ms = 500\n",
    );
    std::fs::write(&config, text).unwrap();
    relops(&config)
        .args(["gate", "--candidate", "v2", "--target", "dead", "--suite"])
        .arg(suite.path())
        .assert()
        .code(2)
        .stdout(contains("could not run on the candidate"))
        .stdout(contains("## Risks"));
    // A bad case file is an error (exit 2), not a verdict.
    std::fs::write(suite.path().join("bad.json"), "{").unwrap();
    relops(&config)
        .args(["gate", "--candidate", "v3", "--suite"])
        .arg(suite.path())
        .assert()
        .code(2)
        .stderr(contains("bad.json: (syntax)"));

    // A v3 refund whose tool failed: no tool errors, and the tool must still be called.
    let db = rusqlite::Connection::open(dir.path().join("relops.db")).unwrap();
    let v3_trace = |order: &str| -> String {
        db.query_row(
            &format!(
                "SELECT t.trace_id FROM traces t JOIN versions v ON v.id = t.version_id
                 WHERE v.label = 'v3' AND t.input IS NOT NULL {order} LIMIT 1"
            ),
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let tool_trace = &v3_trace("AND t.tool_errors > 0 ORDER BY t.start_ns DESC");
    let made = json(relops(&config).args(["case", "from-trace", tool_trace, "--json"]));
    let k = kinds(&made["case"]);
    assert!(k.contains(&"no_tool_errors".to_string()), "{k:?}");
    let called = made["case"]["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "tool_called")
        .expect("tool_called suggested");
    let tool = called["name"].as_str().unwrap();
    let shown = json(relops(&config).args(["trace", "show", tool_trace, "--json"]));
    assert!(
        shown["spans"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["tool_name"] == tool && s["error"] == true),
        "{tool} failed in the trace"
    );

    // The slowest v3 trace: a latency budget at v2's p95.
    let slow = v3_trace("ORDER BY t.duration_ms DESC");
    let made = json(relops(&config).args(["case", "from-trace", &slow, "--json"]));
    let budget = made["case"]["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "max_latency_ms")
        .expect("max_latency_ms suggested");
    let p95 = budget["ms"].as_f64().unwrap();
    assert!(p95 > 0.0);
    let why = made["why"].as_array().unwrap();
    assert!(
        why.iter()
            .any(|w| w.as_str().unwrap().contains("above v2's p95")),
        "{why:?}"
    );

    // Usage errors.
    relops(&config)
        .args(["case", "from-trace", &refusal, "--incident", "4242"])
        .assert()
        .code(2)
        .stderr(contains("no incident 4242"));
    relops(&config)
        .args(["--readonly", "case", "from-trace", &refusal])
        .assert()
        .code(2)
        .stderr(contains("readonly"));
    relops(&config)
        .args(["case", "from-trace", "ffffffffffffffffffffffffffffffff"])
        .assert()
        .code(2)
        .stderr(contains("no trace"));
}
