//! Trace data is data, and secrets never leave (issue 15): labels that try to climb out
//! of a URL path or run a command when pasted, trace text full of terminal escapes, and
//! peers that echo every credential they are sent, in every encoding. Each test goes
//! through the real binary, a real loopback peer and the real cache file.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use common::scripted::{Reply, Scripted};
use common::{demo, json, relops, workspace};
use serde_json::{Value, json};

const CLIMBER: &str = "../../../../tmp/x";
const ESCAPES: &str = "ok\u{1b}]0;pwned\u{7}\u{1b}[2J\r\u{9b}31m\u{202e}done";

/// One OTLP/JSON line: a root span labelled `version`, answering `output`.
fn trace_line(trace: usize, version: &str, input: &str, output: &str) -> String {
    let start = 1_795_000_000_000_000_000u64 + trace as u64 * 1_000_000_000;
    let attr = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
    json!({"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", "agent"), attr("service.version", version)]},
        "scopeSpans": [{"scope": {"name": "t"}, "spans": [{
            "traceId": format!("{trace:032x}"),
            "spanId": format!("{trace:016x}"),
            "name": "answer",
            "kind": 1,
            "startTimeUnixNano": start.to_string(),
            "endTimeUnixNano": (start + 800_000_000).to_string(),
            "attributes": [attr("input.value", input), attr("output.value", output)],
        }]}],
    }]})
    .to_string()
}

/// Imports `lines` into the workspace of `config`.
fn import(config: &Path, lines: &[String]) {
    let file = config.with_file_name("hostile.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    relops(config).arg("import").arg(&file).assert().success();
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn no_request_leaves_the_configured_path() {
    let peer = Scripted::start(|r| match r.target.starts_with("/v1/") {
        true => Reply::Json(200, r#"{"output": "fine"}"#.into()),
        false => Reply::Json(200, r#"{"active": "v2"}"#.into()),
    });
    let (_dir, config) = workspace();
    let addr = &peer.addr;
    let mut cfg = std::fs::read_to_string(&config).unwrap();
    cfg.push_str(&format!(
        r#"
[replay.targets.t]
kind = "http"
url = "{addr}/v1/{{version}}/respond"
[replay.targets.t.response]
output = "/output"

[[procedure]]
name = "rollback"
[[procedure.step]]
name = "switch"
run = {{ kind = "http", method = "POST", url = "{addr}/admin/{{target}}/x" }}
dry_run = {{ kind = "http", method = "GET", url = "{addr}/admin/active" }}
"#
    ));
    std::fs::write(&config, cfg).unwrap();
    import(
        &config,
        &[
            trace_line(1, CLIMBER, "hi", "hello"),
            trace_line(2, "..", "hi", "hello"),
        ],
    );
    let trace = format!("{:032x}", 1);

    // A replay on the climbing label stays in its segment.
    relops(&config)
        .args(["replay", &trace, "--target", "t", "--on", CLIMBER, "--json"])
        .assert()
        .success();
    let sent: Vec<String> = peer.seen("/").iter().map(|r| r.target.clone()).collect();
    assert_eq!(sent, ["/v1/..%2F..%2F..%2F..%2Ftmp%2Fx/respond"]);
    // A whole dot segment is refused before anything is sent.
    let dots = relops(&config)
        .args(["replay", &trace, "--target", "t", "--on", "..", "--json"])
        .output()
        .unwrap();
    assert!(text(&dots).contains("refused"), "{}", text(&dots));
    assert_eq!(peer.count(), 1, "nothing sent for '..'");

    // A procedure's URL gets the label encoded, or refuses it.
    relops(&config)
        .args(["runbook", "rehearse", "rollback"])
        .assert()
        .success();
    relops(&config)
        .args([
            "runbook",
            "run",
            "rollback",
            "--target",
            CLIMBER,
            "--confirm",
            CLIMBER,
        ])
        .assert()
        .success();
    let refused = relops(&config)
        .args([
            "runbook",
            "run",
            "rollback",
            "--target",
            "..",
            "--confirm",
            "..",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(text(&refused).contains("refused"), "{}", text(&refused));
    let sent: Vec<String> = peer.seen("/").iter().map(|r| r.target.clone()).collect();
    assert_eq!(
        sent[1..],
        ["/admin/active", "/admin/..%2F..%2F..%2F..%2Ftmp%2Fx/x"],
        "every request stays under the configured path"
    );
}

#[test]
fn trace_text_reaches_the_terminal_without_escapes() {
    let (_dir, config) = workspace();
    let label = format!("v1{ESCAPES}");
    import(&config, &[trace_line(7, &label, ESCAPES, ESCAPES)]);
    let trace = format!("{:032x}", 7);
    let runs: Vec<Vec<&str>> = vec![
        vec!["traces"],
        vec!["versions"],
        vec!["trace", "show", &trace],
        vec!["case", "from-trace", &trace],
    ];
    for args in runs {
        let out = relops(&config).args(&args).output().unwrap();
        let shown = text(&out);
        assert!(out.status.success(), "{args:?}: {shown}");
        let bad: Vec<char> = shown
            .chars()
            .filter(|c| (c.is_control() && *c != '\n' && *c != '\t') || *c == '\u{202e}')
            .collect();
        assert!(bad.is_empty(), "{args:?} printed {bad:?}: {shown}");
        assert!(
            shown.contains("]0;pwned"),
            "{args:?}: the text itself stays: {shown}"
        );
    }
}

#[test]
fn suggested_commands_run_relops_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo(dir.path(), 3000);
    let mark = dir.path().join("pwned");
    let hostile = format!("v3$(touch {})`touch {}`'\"", mark.display(), mark.display());
    let db = find_db(dir.path());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let renamed = conn
        .execute(
            "UPDATE versions SET label = ?1 WHERE label = 'v3'",
            [&hostile],
        )
        .unwrap();
    assert!(renamed > 0);
    drop(conn);

    let report = json(relops(&config).args(["report", "weekly", "--json"]));
    let mut commands = Vec::new();
    collect_commands(&report, &mut commands);
    let markdown = relops(&config).args(["report", "weekly"]).output().unwrap();
    for span in code_spans(&String::from_utf8_lossy(&markdown.stdout)) {
        if span.starts_with("relops ") {
            commands.push(span);
        }
    }
    let naming: Vec<&String> = commands.iter().filter(|c| c.contains("touch")).collect();
    assert!(
        !naming.is_empty(),
        "a suggestion names the hostile version: {commands:?}"
    );

    // Each pasted into a real shell, with `relops` a stand-in that records its words.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let argv_log = dir.path().join("argv");
    let fake = bin.join("relops");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> '{}'\n",
            argv_log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    for c in &commands {
        let status = std::process::Command::new("sh")
            .args(["-c", c])
            .env("PATH", &path)
            .status()
            .unwrap();
        assert!(status.success(), "{c}");
    }
    assert!(
        !mark.exists(),
        "a pasted suggestion ran a command: {naming:?}"
    );
    let words = std::fs::read_to_string(&argv_log).unwrap();
    assert!(
        words.lines().any(|w| w == hostile),
        "the label reached relops as one word: {words}"
    );
}

/// The code spans of a Markdown text as CommonMark reads them: a run of n backticks
/// up to the next run of exactly n, one leading and trailing space stripped.
fn code_spans(md: &str) -> Vec<String> {
    let b = md.as_bytes();
    let run = |i: usize| b[i..].iter().take_while(|c| **c == b'`').count();
    let (mut spans, mut i) = (Vec::new(), 0);
    while i < b.len() {
        if b[i] != b'`' {
            i += 1;
            continue;
        }
        let n = run(i);
        let start = i + n;
        let mut j = start;
        let end = loop {
            if j >= b.len() {
                break None;
            }
            if b[j] == b'`' {
                let m = run(j);
                if m == n {
                    break Some(j);
                }
                j += m;
            } else {
                j += 1;
            }
        };
        match end {
            Some(e) => {
                let inner = &md[start..e];
                let inner = match inner.len() > 2 && inner.starts_with(' ') && inner.ends_with(' ')
                {
                    true => &inner[1..inner.len() - 1],
                    false => inner,
                };
                spans.push(inner.to_string());
                i = e + n;
            }
            None => i = start,
        }
    }
    spans
}

fn find_db(dir: &Path) -> PathBuf {
    for entry in walk(dir) {
        if entry.extension().is_some_and(|e| e == "db") {
            return entry;
        }
    }
    panic!("no cache under {}", dir.display())
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn collect_commands(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.starts_with("relops ") => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| collect_commands(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect_commands(i, out)),
        _ => {}
    }
}

/// Every form of `secret` a peer might echo back.
fn forms(secret: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(secret);
    let pct: String = secret
        .bytes()
        .map(
            |b| match b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                true => (b as char).to_string(),
                false => format!("%{b:02X}"),
            },
        )
        .collect();
    let json = serde_json::to_string(secret).unwrap();
    vec![
        secret.to_string(),
        pct,
        json.trim_matches('"').to_string(),
        b64,
    ]
}

/// What a request carried: its headers (a Basic pair decoded) and its body.
fn received(r: &common::scripted::Request) -> String {
    let mut all = String::from_utf8_lossy(&r.body).into_owned();
    for (k, v) in &r.headers {
        all.push_str(&format!("\n{k}: {v}"));
        if let Some(pair) = v.strip_prefix("Basic ") {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(pair)
                .unwrap_or_default();
            all.push_str(&format!(" ({})", String::from_utf8_lossy(&raw)));
        }
    }
    all
}

const SOURCE_TOKEN: &str = "canary-src\"tok/1+x";
const LF_PUBLIC: &str = "pk-lf-canary";
const LF_SECRET: &str = "sk-lf-canary/77+q";
const REPLAY_KEY: &str = "sk-replay-canary/5+z\"";
const STEP_SECRET: &str = "deploy-canary/9+w";

#[test]
fn canaries_in_every_secret_kind_never_leave() {
    let canaries = [SOURCE_TOKEN, LF_SECRET, REPLAY_KEY, STEP_SECRET];
    // A peer that refuses every request and echoes what it was sent, in every form.
    let peer = Scripted::start(move |r| {
        let mut echo = vec![received(r)];
        for c in canaries {
            if echo[0].contains(c) {
                echo.extend(forms(c));
            }
        }
        match r.target.as_str() {
            "/admin/active" => Reply::Json(200, "{}".into()),
            _ => Reply::Json(401, json!({"error": "denied", "echo": echo}).to_string()),
        }
    });
    let (dir, config) = workspace();
    let addr = &peer.addr;
    let mut cfg = std::fs::read_to_string(&config).unwrap();
    cfg.push_str(&format!(
        r#"
[[source]]
name = "phoenix"
kind = "phoenix"
endpoint = "{addr}"
project = "p"
retries = 0
auth = {{ token_env = "CANARY_SOURCE_TOKEN" }}

[[source]]
name = "langfuse"
kind = "langfuse"
endpoint = "{addr}"
retries = 0
auth = {{ public_key_env = "CANARY_LF_PUBLIC", secret_key_env = "CANARY_LF_SECRET" }}

[replay.targets.chat]
kind = "openai-chat"
url = "{addr}/v1/chat/completions"
api_key_env = "CANARY_REPLAY_KEY"
retries = 0
[replay.targets.chat.versions.v9]
model = "m-1"

[[procedure]]
name = "rollback"
secrets = ["CANARY_STEP_SECRET"]
[[procedure.step]]
name = "say it"
run = {{ kind = "run", argv = ["sh", "-c", "echo token $1; echo error $1 >&2", "x", "{{secret.CANARY_STEP_SECRET}}"] }}
dry_run = {{ kind = "run", argv = ["true"] }}
[[procedure.step]]
name = "switch"
run = {{ kind = "http", method = "POST", url = "{addr}/admin/switch", headers = {{ Authorization = "Bearer {{secret.CANARY_STEP_SECRET}}" }}, body = {{ token = "{{secret.CANARY_STEP_SECRET}}" }} }}
dry_run = {{ kind = "http", method = "GET", url = "{addr}/admin/active" }}
"#
    ));
    std::fs::write(&config, cfg).unwrap();
    import(&config, &[trace_line(3, "v9", "hello", "world")]);
    let trace = format!("{:032x}", 3);

    let run = |args: &[&str]| {
        let out = relops(&config)
            .env("CANARY_SOURCE_TOKEN", SOURCE_TOKEN)
            .env("CANARY_LF_PUBLIC", LF_PUBLIC)
            .env("CANARY_LF_SECRET", LF_SECRET)
            .env("CANARY_REPLAY_KEY", REPLAY_KEY)
            .env("CANARY_STEP_SECRET", STEP_SECRET)
            .args(args)
            .output()
            .unwrap();
        text(&out)
    };
    let mut printed = vec![
        run(&["sync", "--once"]),
        run(&["sync", "--once", "--json"]),
        run(&["sync", "--status"]),
        run(&["sync", "--status", "--json"]),
        run(&["replay", &trace, "--target", "chat", "--on", "v9"]),
        run(&["replay", &trace, "--target", "chat", "--on", "v9", "--json"]),
        run(&["runbook", "rehearse", "rollback"]),
        run(&[
            "runbook",
            "run",
            "rollback",
            "--target",
            "v2",
            "--confirm",
            "v2",
        ]),
        run(&["runbook", "list", "--json"]),
        run(&["audit", "verify"]),
        run(&["audit"]),
    ];
    // The peer really was sent each secret and echoed it.
    let received: String = peer.seen("/").iter().map(received).collect();
    for c in canaries {
        assert!(
            received.contains(c),
            "the peer never saw {c:?}: the test proves nothing"
        );
    }
    assert!(
        printed[0].contains("***"),
        "echoes were masked: {}",
        printed[0]
    );
    for f in walk(dir.path()) {
        printed.push(String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned());
    }
    for c in canaries {
        for form in forms(c) {
            for (i, p) in printed.iter().enumerate() {
                assert!(
                    !p.contains(&form),
                    "output {i} holds {form:?} (of {c:?}): {p}"
                );
            }
        }
    }
}
