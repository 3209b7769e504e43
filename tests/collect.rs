//! `relops collect`: the OTLP/HTTP receiver end to end, protobuf and JSON, over loopback.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{NOW, json, relops, workspace};
use predicates::str::contains;
use relops::collect::proto::{self, Message, any_value::Value};

/// A `relops collect` process on a free loopback port; killed if the test fails.
struct Collector {
    child: Option<Child>,
    url: String,
    stderr: mpsc::Receiver<String>,
}

impl Collector {
    fn start(config: &Path, args: &[&str]) -> Self {
        Self::start_with(config, args, &[])
    }

    fn start_with(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_relops"))
            .env("RELOPS_NOW", NOW)
            .envs(env.iter().copied())
            .arg("--config")
            .arg(config)
            .args(["collect", "--listen", "127.0.0.1:0", "--interval", "1"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("relops collect starts");
        let (tx, stderr) = mpsc::channel();
        let pipe = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut collector = Self {
            child: Some(child),
            url: String::new(),
            stderr,
        };
        let first = collector.line_containing("listening on");
        collector.url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("the bound address is printed")
            .to_string();
        collector
    }

    fn line_containing(&self, text: &str) -> String {
        loop {
            let line = self
                .stderr
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("relops collect never printed {text:?}"));
            if line.contains(text) {
                return line;
            }
        }
    }

    fn post(&self, content_type: &str, gzip: bool, body: Vec<u8>) -> reqwest::blocking::Response {
        self.post_as(None, content_type, gzip, body)
    }

    fn post_as(
        &self,
        token: Option<&str>,
        content_type: &str,
        gzip: bool,
        body: Vec<u8>,
    ) -> reqwest::blocking::Response {
        let client = reqwest::blocking::Client::new();
        let mut req = client.post(&self.url).header("content-type", content_type);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if gzip {
            req = req.header("content-encoding", "gzip");
        }
        req.body(body).send().expect("the receiver answers")
    }

    /// SIGTERM, then the exit status and stdout.
    fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        // SAFETY: signalling a child this test started and has not reaped.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        (child.wait().unwrap(), out)
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn now_ns() -> u64 {
    chrono::DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap() as u64
}

fn string(key: &str, v: &str) -> proto::KeyValue {
    proto::KeyValue {
        key: key.into(),
        value: Some(proto::AnyValue {
            value: Some(Value::StringValue(v.into())),
        }),
    }
}

fn span(trace: &[u8], id: u8, parent: Option<u8>, attrs: Vec<proto::KeyValue>) -> proto::Span {
    let start = now_ns() - 60_000_000_000 + u64::from(id) * 1_000_000;
    proto::Span {
        trace_id: trace.to_vec(),
        span_id: vec![id; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        name: format!("step {id}"),
        kind: 1,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 40_000_000,
        attributes: attrs,
        ..Default::default()
    }
}

fn request(spans: Vec<proto::Span>) -> Vec<u8> {
    proto::ExportTraceServiceRequest {
        resource_spans: vec![proto::ResourceSpans {
            resource: Some(proto::Resource {
                attributes: vec![string("service.version", "edge-1")],
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![proto::ScopeSpans {
                spans,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
    .encode_to_vec()
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body).unwrap();
    gz.finish().unwrap()
}

const A: [u8; 16] = [0xa1; 16];
const C: [u8; 16] = [0xc3; 16];
const B_ID: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";

fn json_request() -> Vec<u8> {
    let start = now_ns() - 30_000_000_000;
    let span = |trace: &str, id: &str| {
        serde_json::json!({
            "traceId": trace, "spanId": id, "name": "answer",
            "startTimeUnixNano": start.to_string(), "endTimeUnixNano": (start + 5_000_000).to_string(),
            "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                           {"key": "gen_ai.request.model", "value": {"stringValue": "m-2"}}],
        })
    };
    serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.version", "value": {"stringValue": "edge-1"}}]},
        "scopeSpans": [{"spans": [span(B_ID, "b2b2b2b2b2b2b2b2"), span("b2b2", "0000000000000001")]}],
    }]})
    .to_string()
    .into_bytes()
}

#[test]
fn protobuf_and_json_arrive_once_with_partial_success_and_spec_errors() {
    let (_dir, config) = workspace();
    let c = Collector::start(&config, &["--json"]);

    // Protobuf, twice: the second copy changes nothing.
    let a = request(vec![
        span(
            &A,
            1,
            None,
            vec![string("openinference.span.kind", "CHAIN")],
        ),
        span(&A, 2, Some(1), vec![string("llm.model_name", "m-1")]),
    ]);
    for _ in 0..2 {
        let ok = c.post("application/x-protobuf", false, a.clone());
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.headers()["content-type"], "application/x-protobuf");
        let answer = proto::ExportTraceServiceResponse::decode(ok.bytes().unwrap()).unwrap();
        assert_eq!(answer.partial_success, None);
    }

    // JSON, gzipped, with one span whose trace id is too short.
    let b = c.post("application/json", true, gzip(&json_request()));
    assert_eq!(b.status(), 200);
    assert_eq!(b.headers()["content-type"], "application/json");
    let answer: serde_json::Value = b.json().unwrap();
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], "1");
    assert_eq!(
        answer["partialSuccess"]["errorMessage"],
        "span #1: traceId is not 32 hex digits"
    );

    // Protobuf, gzipped, one good span and one with a 3-byte trace id.
    let mixed = request(vec![
        span(&[1, 2, 3], 7, None, vec![]),
        span(&C, 8, None, vec![]),
    ]);
    let partial = c.post("application/x-protobuf", true, gzip(&mixed));
    assert_eq!(partial.status(), 200);
    let p = proto::ExportTraceServiceResponse::decode(partial.bytes().unwrap())
        .unwrap()
        .partial_success
        .expect("partial success");
    assert_eq!(p.rejected_spans, 1);
    assert_eq!(
        p.error_message,
        "span #0 (0707070707070707): traceId is 3 bytes, not 16"
    );

    // Refusals: unsupported type, unreadable bodies in either encoding.
    let plain = c.post("text/plain", false, b"hello".to_vec());
    assert_eq!(plain.status(), 415);
    let bad_pb = c.post("application/x-protobuf", false, b"\x0a\x05ab".to_vec());
    assert_eq!(bad_pb.status(), 400);
    assert_eq!(bad_pb.headers()["content-type"], "application/x-protobuf");
    let status = proto::RpcStatus::decode(bad_pb.bytes().unwrap()).unwrap();
    assert_eq!(status.code, 3);
    let bad_json = c.post("application/json", false, b"{\"resourceSpans\": [".to_vec());
    assert_eq!(bad_json.status(), 400);
    let status: serde_json::Value = bad_json.json().unwrap();
    assert_eq!(status["code"], 3);
    assert!(status["message"].as_str().unwrap().contains("OTLP/JSON"));

    let progress = c.line_containing("spans/s");
    assert!(progress.contains("rejected"), "{progress}");
    let (exit, out) = c.terminate();
    assert!(exit.success(), "exit {exit:?}");
    let totals: serde_json::Value = serde_json::from_str(&out).expect("totals as JSON");
    assert_eq!(totals["spans_accepted"], 6);
    assert_eq!(totals["spans_rejected"], 2);
    assert_eq!(totals["invalid"], 3);
    assert_eq!(totals["inserted"], 4);
    assert_eq!(totals["unchanged"], 2);
    assert_eq!(totals["new_traces"], 3);

    let traces = json(relops(&config).args(["traces", "--json"]));
    let mut ids: Vec<&str> = traces
        .as_array()
        .unwrap()
        .iter()
        .inspect(|t| assert_eq!(t["source"], "otlp-http"))
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let (a_id, c_id) = (hex(&A), hex(&C));
    assert_eq!(ids, [a_id.as_str(), B_ID, c_id.as_str()]);
    let a = json(relops(&config).args(["trace", "show", &a_id, "--json"]));
    let spans = a["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2, "posted twice, stored once");
    assert_eq!(spans[1]["kind"], "llm");
    assert_eq!(a["version"], "edge-1");
    let b = json(relops(&config).args(["trace", "show", B_ID, "--json"]));
    assert_eq!(b["spans"][0]["model"], "m-2");
}

#[test]
fn source_name_and_readonly() {
    let (_dir, config) = workspace();
    relops(&config)
        .args(["--readonly", "collect", "--listen", "127.0.0.1:0"])
        .assert()
        .code(2)
        .stderr(contains("--readonly"));

    let c = Collector::start(&config, &["--source", "edge"]);
    let ok = c.post(
        "application/x-protobuf",
        false,
        request(vec![span(&C, 1, None, vec![])]),
    );
    assert_eq!(ok.status(), 200);
    let (exit, out) = c.terminate();
    assert!(exit.success());
    assert!(out.contains("received 1 spans in 1 requests"), "{out}");
    let traces = json(relops(&config).args(["traces", "--json"]));
    assert_eq!(traces[0]["source"], "edge");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const TOKEN_VAR: &str = "RELOPS_TEST_COLLECT_TOKEN";

#[test]
fn a_token_guards_the_receiver_and_a_minted_label_is_ambiguous() {
    let (dir, config) = workspace();
    std::fs::write(
        &config,
        format!("[workspace]\ncache = \"cache.db\"\n[collect]\ntoken_env = \"{TOKEN_VAR}\"\n"),
    )
    .unwrap();
    let token = "tok-3f9a71c2";
    let c = Collector::start_with(&config, &[], &[(TOKEN_VAR, token)]);
    let release = |trace: &[u8; 16], model: &str| {
        request(vec![
            span(
                trace,
                1,
                None,
                vec![string("openinference.span.kind", "CHAIN")],
            ),
            span(trace, 2, Some(1), vec![string("llm.model_name", model)]),
        ])
    };
    let pb = "application/x-protobuf";
    let open = c.post(pb, false, release(&A, "m-1"));
    assert_eq!(open.status(), 401);
    assert_eq!(open.headers()["www-authenticate"], "Bearer");
    let wrong = c.post_as(Some("tok-3f9a71c3"), pb, false, release(&A, "m-1"));
    assert_eq!(wrong.status(), 401);
    let status = proto::RpcStatus::decode(wrong.bytes().unwrap()).unwrap();
    assert!(
        status.message.contains("bearer token"),
        "{}",
        status.message
    );
    assert!(!status.message.contains(token));
    assert_eq!(
        c.post_as(Some(token), pb, false, release(&A, "m-1"))
            .status(),
        200
    );
    // Someone with the token (or an open receiver) posts the same label, another model.
    assert_eq!(
        c.post_as(Some(token), pb, false, release(&C, "m-evil"))
            .status(),
        200
    );
    let (exit, _) = c.terminate();
    assert!(exit.success());

    let versions = json(relops(&config).args(["versions", "--json"]));
    let ids: Vec<&str> = versions
        .as_array()
        .unwrap()
        .iter()
        .inspect(|v| assert_eq!(v["label"], "edge-1"))
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{versions}");
    let out = relops(&config)
        .args(["traces", "--version", "edge-1"])
        .assert()
        .failure()
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"edge-1\" is ambiguous"), "{stderr}");
    for id in &ids {
        assert!(stderr.contains(&format!("edge-1@{}", &id[..8])), "{stderr}");
    }
    let picked = format!("edge-1@{}", &ids[0][..8]);
    let traces = json(relops(&config).args(["traces", "--version", &picked, "--json"]));
    assert_eq!(traces.as_array().unwrap().len(), 1, "{traces}");
    drop(dir);
}

#[test]
fn listening_beyond_loopback_needs_a_token() {
    let (_dir, config) = workspace();
    relops(&config)
        .args(["collect", "--listen", "0.0.0.0:0"])
        .timeout(Duration::from_secs(20))
        .assert()
        .failure()
        .stderr(contains("beyond loopback, needs a bearer token"));
    std::fs::write(
        &config,
        format!("[workspace]\ncache = \"cache.db\"\n[collect]\ntoken_env = \"{TOKEN_VAR}\"\n"),
    )
    .unwrap();
    relops(&config)
        .env_remove(TOKEN_VAR)
        .args(["collect", "--listen", "127.0.0.1:0"])
        .timeout(Duration::from_secs(20))
        .assert()
        .failure()
        .stderr(contains(format!(
            "[collect] token_env: environment variable {TOKEN_VAR} is not set"
        )));
}
