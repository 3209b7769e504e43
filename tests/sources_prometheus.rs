//! The Prometheus source end to end: against a real Prometheus that scrapes a
//! `/metrics` this test serves (and the demo workflow server's), and against a
//! misbehaving Prometheus-shaped server.
//!
//! Without the `prometheus` binary the real-peer tests fail (ignored under
//! RELOPS_ALLOW_SKIP=1, see build.rs).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::json;
use serde_json::Value;

/// What the test's exporter serves: a gauge per version, and one without a version.
const EXPOSITION: &str = "\
# TYPE relops_refusal_ratio gauge
relops_refusal_ratio{version=\"v1\"} 0.02
relops_refusal_ratio{version=\"v2\"} 0.05
relops_refusal_ratio{version=\"v3\"} 0.125
# TYPE relops_queue_depth gauge
relops_queue_depth 7
";

/// `relops` on the real clock: Prometheus stamps samples with it.
fn relops(config: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("relops").expect("binary builds");
    cmd.env_remove("RELOPS_NOW")
        .env_remove("RELOPS_CONFIG")
        .env_remove("RELOPS_DB")
        .arg("--config")
        .arg(config);
    cmd
}

// ── a loopback HTTP peer ────────────────────────────────────────────────────────────

/// Serves every request with `reply(n, target)`, the raw HTTP response; one connection
/// per request, closed after the reply.
struct Peer {
    addr: String,
}

impl Peer {
    fn start(reply: impl Fn(usize, &str) -> Vec<u8> + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().flatten().enumerate() {
                if let Some(target) = read_target(&stream) {
                    let mut stream = stream;
                    let _ = stream.write_all(&reply(n, &target));
                    let _ = stream.flush();
                }
            }
        });
        Self { addr }
    }
}

fn read_target(stream: &TcpStream) -> Option<String> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split_whitespace().nth(1)?.to_string();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h.trim().is_empty() {
            return Some(target);
        }
    }
}

fn http(status: u16, content_type: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Promises the whole body in `Content-Length`, sends half of it.
fn cut_short(body: &str) -> Vec<u8> {
    let mut r = http(200, "application/json", "", body);
    r.truncate(r.len() - body.len() / 2);
    r
}

/// The signal a pulled query is tagged with (`label_replace(..., "relops_signal",
/// "ratio", "", "")`): a Prometheus-shaped fake echoes it as Prometheus would.
fn tag(target: &str) -> Option<String> {
    let url = reqwest::Url::parse(&format!("http://fake{target}")).ok()?;
    let query = url
        .query_pairs()
        .find(|(k, _)| k == "query")?
        .1
        .into_owned();
    let rest = query.split_once("\"relops_signal\", \"")?.1;
    Some(rest.split_once('"')?.0.to_string())
}

fn param(target: &str, name: &str) -> Option<i64> {
    let query = target.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.parse().ok())?
    })
}

// ── a real Prometheus ───────────────────────────────────────────────────────────────

fn prometheus_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .map(|d| d.join("prometheus"))
        .chain([PathBuf::from("/usr/bin/prometheus")])
        .find(|p| p.is_file());
    common::peers::require("Prometheus", found.is_some());
    found.unwrap_or_default()
}

/// A `prometheus` process on a free loopback port with its own TSDB; killed on drop.
struct Prometheus {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Prometheus {
    fn start(binary: &Path, dir: &Path, targets: &[&str]) -> Self {
        let config = dir.join("prometheus.yml");
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: relops-test\n    static_configs:\n      \
                 - targets: [{}]\n",
                targets.join(", ")
            ),
        )
        .unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join("prometheus.log");
        let child = std::process::Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("prometheus starts");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Waits (at most 60 s) until `query` returns `series` series.
    fn wait_for(&self, query: &str, series: usize) {
        let client = reqwest::blocking::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found = client
                .get(format!("{}/api/v1/query", self.url))
                .query(&[("query", query)])
                .send()
                .and_then(|r| r.json::<Value>())
                .ok()
                .and_then(|v| v["data"]["result"].as_array().map(Vec::len));
            if found == Some(series) {
                return;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                panic!(
                    "Prometheus never had {series} series for {query} (found {found:?}); log:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The demo workflow server in this process, on a free port.
fn demo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            relops::demo::serve(l).await.unwrap();
        });
    });
    addr
}

/// One trace per version, so the cache knows v1, v2 and v3.
fn versions_file(dir: &Path) -> PathBuf {
    let resource = |i: usize, v: &str| {
        serde_json::json!({
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "support"}},
                {"key": "relops.version", "value": {"stringValue": v}}]},
            "scopeSpans": [{"spans": [{
                "traceId": format!("{i:032x}"), "spanId": format!("{i:016x}"), "name": "answer",
                "startTimeUnixNano": "1795000000000000000", "endTimeUnixNano": "1795000001000000000"}]}]
        })
    };
    let doc = serde_json::json!({"resourceSpans": [resource(1, "v1"), resource(2, "v2"), resource(3, "v3")]});
    let path = dir.join("versions.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

fn signals(config: &Path) -> Vec<Value> {
    json(relops(config).args(["signals", "--json"]))
        .as_array()
        .unwrap()
        .clone()
}

/// The series of `signal`, by their `version` label ("-" without one).
fn by_version<'a>(all: &'a [Value], signal: &str) -> BTreeMap<String, &'a Value> {
    all.iter()
        .filter(|s| s["signal"] == signal)
        .map(|s| {
            let v = s["labels"]["version"].as_str().unwrap_or("-").to_string();
            (v, s)
        })
        .collect()
}

/// Every step from the first point to the last is there exactly once.
fn assert_dense(s: &Value, step_s: i64) {
    let (first, last) = (
        s["first_ns"].as_i64().unwrap(),
        s["last_ns"].as_i64().unwrap(),
    );
    let points = s["points"].as_i64().unwrap();
    assert_eq!(points, (last - first) / (step_s * 1_000_000_000) + 1, "{s}");
    assert_eq!(
        first % (step_s * 1_000_000_000),
        0,
        "aligned to the step: {s}"
    );
}

fn sync_report(config: &Path, code: i32) -> Vec<Value> {
    let out = relops(config)
        .args(["sync", "--once", "--json"])
        .assert()
        .code(code)
        .get_output()
        .clone();
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap_or_else(|e| {
            panic!(
                "sync printed no JSON ({e}): {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .as_array()
        .unwrap()
        .clone()
}

fn report<'a>(reports: &'a [Value], source: &str) -> &'a Value {
    reports
        .iter()
        .find(|r| r["source"] == source)
        .unwrap_or_else(|| panic!("no report for {source}: {reports:?}"))
}

#[test]
#[cfg_attr(
    skip_prometheus,
    ignore = "Prometheus is not installed (RELOPS_ALLOW_SKIP=1)"
)]
fn a_real_prometheus_is_pulled_per_version_without_doubling() {
    let binary = prometheus_binary();
    let started = Instant::now();
    let exporter = Peer::start(|_, _| http(200, "text/plain; version=0.0.4", "", EXPOSITION));
    // The demo server answers 2, 3 and 5 requests of v1, v2, v3 before it is scraped.
    let demo = demo_server();
    let client = reqwest::blocking::Client::new();
    for (version, n) in [("v1", 2), ("v2", 3), ("v3", 5)] {
        for i in 0..n {
            let answered = client
                .post(format!("http://{demo}/v1/{version}/respond"))
                .json(&serde_json::json!({"input": format!("Where is order A{i:06}?")}))
                .send()
                .unwrap();
            assert!(answered.status().is_success());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let prometheus = Prometheus::start(&binary, dir.path(), &[&exporter.addr, &demo]);
    prometheus.wait_for("relops_refusal_ratio", 3);
    prometheus.wait_for("workflow_requests_total", 3);
    let scraped = started.elapsed();
    // The pull ends at a whole second: let one pass after the first scrape.
    std::thread::sleep(Duration::from_millis(1100));

    let config = dir.path().join("relops.toml");
    let good = format!(
        "[workspace]\ncache = \"cache.db\"\n\n\
         [[source]]\nname = \"prom\"\nkind = \"prometheus\"\nendpoint = \"{}\"\n\
         version_label = \"version\"\nstep = \"1s\"\nbackfill = \"10m\"\noverlap = \"5s\"\n\
         retries = 1\nbackoff_ms = 100\n\n\
         [source.signals]\nrefusal_ratio = \"relops_refusal_ratio\"\n\
         queue_depth = \"relops_queue_depth\"\n\
         requests = \"sum by (version) (workflow_requests_total)\"\n",
        prometheus.url
    );
    std::fs::write(&config, &good).unwrap();
    relops(&config)
        .arg("import")
        .arg(versions_file(dir.path()))
        .assert()
        .success();

    let reports = sync_report(&config, 0);
    let prom = report(&reports, "prom");
    assert_eq!(prom["ok"], true, "{prom}");
    assert!(prom["records"].as_u64().unwrap() >= 7, "{prom}");

    let first = signals(&config);
    let ratio = by_version(&first, "refusal_ratio");
    assert_eq!(ratio.keys().collect::<Vec<_>>(), ["v1", "v2", "v3"]);
    for (v, served) in [("v1", 0.02), ("v2", 0.05), ("v3", 0.125)] {
        let s = ratio[v];
        assert_eq!(s["version"], v, "the cache's version {v}: {s}");
        assert_eq!(
            (s["min"].as_f64(), s["max"].as_f64()),
            (Some(served), Some(served))
        );
        assert_eq!(s["source"], "prom");
        assert_dense(s, 1);
    }
    let depth = by_version(&first, "queue_depth");
    let depth = depth["-"];
    assert_eq!(depth["version"], Value::Null, "no version label: {depth}");
    assert_eq!(depth["last"], 7.0);
    assert_eq!(depth["labels"]["job"], "relops-test");
    let requests = by_version(&first, "requests");
    for (v, n) in [("v1", 2.0), ("v2", 3.0), ("v3", 5.0)] {
        assert_eq!(requests[v]["last"], n, "demo requests of {v}");
        assert_eq!(requests[v]["labels"], serde_json::json!({ "version": v }));
    }

    // A second pull re-reads the overlap: every point stays single, and new ones come.
    std::thread::sleep(Duration::from_millis(2100));
    // A bad query in another source names its signal and fails that source only.
    std::fs::write(
        &config,
        format!(
            "{good}\n[[source]]\nname = \"prom-bad\"\nkind = \"prometheus\"\nendpoint = \"{}\"\n\
             [source.signals]\nbroken = \"sum(rate(relops_queue_depth[1m]\"\n",
            prometheus.url
        ),
    )
    .unwrap();
    let reports = sync_report(&config, 1);
    assert_eq!(report(&reports, "prom")["ok"], true, "{reports:?}");
    let bad = report(&reports, "prom-bad");
    let error = bad["error"].as_str().unwrap();
    assert!(
        error.contains("signal broken") && error.contains("parse error"),
        "{error}"
    );
    let second = signals(&config);
    assert_eq!(second.len(), first.len(), "no series added or split");
    for (a, b) in first.iter().zip(&second) {
        assert_eq!((&a["signal"], &a["labels"]), (&b["signal"], &b["labels"]));
        assert_eq!(a["first_ns"], b["first_ns"]);
        assert!(b["points"].as_i64() > a["points"].as_i64(), "{a} then {b}");
        assert_dense(b, 1);
    }

    let doctor = relops(&config).arg("doctor").assert().code(1);
    let out = String::from_utf8_lossy(&doctor.get_output().stdout).to_string();
    assert!(
        out.contains("Prometheus 2.") && out.contains("refusal_ratio: 3 series, 3 with `version`"),
        "{out}"
    );
    assert!(out.contains("1 of 1 queries fail: signal broken"), "{out}");
    eprintln!(
        "real Prometheus: scraped after {:.1} s, whole test {:.1} s",
        scraped.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// A Prometheus-shaped answer for a range query: series v1 and v2, values a function
/// of the timestamp; v2 is NaN on whole minutes. Records what it served.
fn matrix(target: &str, served: &Mutex<BTreeSet<(String, i64)>>) -> Vec<u8> {
    let (start, end, step) = (
        param(target, "start").unwrap(),
        param(target, "end").unwrap(),
        param(target, "step").unwrap(),
    );
    let mut result = Vec::new();
    for version in ["v1", "v2"] {
        let mut values = Vec::new();
        let mut t = start;
        while t <= end {
            let value = if version == "v2" && t % 60 == 0 {
                "NaN".to_string()
            } else {
                served.lock().unwrap().insert((version.to_string(), t));
                format!("{}", value_at(version, t))
            };
            values.push(serde_json::json!([t, value]));
            t += step;
        }
        let mut metric = serde_json::json!({"job": "fake", "version": version});
        if let Some(signal) = tag(target) {
            metric["relops_signal"] = signal.into();
        }
        result.push(serde_json::json!({"metric": metric, "values": values}));
    }
    let body = serde_json::json!({
        "status": "success",
        "warnings": ["remote read: one store did not answer"],
        "data": {"resultType": "matrix", "result": result},
    });
    http(200, "application/json", "", &body.to_string())
}

fn value_at(version: &str, t: i64) -> f64 {
    (t % 1000) as f64 / 8.0 + if version == "v2" { 1000.0 } else { 0.0 }
}

#[test]
fn faults_are_retried_and_every_sample_lands_once() {
    let served = Arc::new(Mutex::new(BTreeSet::new()));
    let log = Arc::clone(&served);
    let peer = Peer::start(move |n, target| match n {
        0 => http(500, "text/plain", "", "internal error"),
        1 => http(429, "text/plain", "Retry-After: 1\r\n", "slow down"),
        2 => cut_short(&String::from_utf8(matrix(target, &Mutex::default())).unwrap()),
        // A whole response whose JSON stops half-way: unreadable, nothing committed.
        3 => http(
            200,
            "application/json",
            "",
            r#"{"status":"success","data":{"resultType":"matr"#,
        ),
        _ => matrix(target, &log),
    });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("relops.toml");
    std::fs::write(
        &config,
        format!(
            "[workspace]\ncache = \"cache.db\"\n\n\
             [[source]]\nname = \"fake\"\nkind = \"prometheus\"\nendpoint = \"http://{}\"\n\
             version_label = \"version\"\nstep = \"10s\"\nbackfill = \"10m\"\noverlap = \"1m\"\n\
             retries = 3\nbackoff_ms = 50\n\
             signals = {{ ratio = \"fake_ratio\" }}\n",
            peer.addr
        ),
    )
    .unwrap();

    // 500, 429 (Retry-After 1 s) and a cut body are retried by the request; the cut
    // JSON (a whole response, unreadable) by asking for the page again: one run
    // completes. (Until issue 15 the cut JSON failed the run.)
    let reports = sync_report(&config, 0);
    let fake = report(&reports, "fake");
    assert_eq!(
        (&fake["ok"], &fake["retried"]),
        (&Value::Bool(true), &Value::from(1)),
        "{fake}"
    );
    let rejections = fake["rejections"].to_string();
    assert!(rejections.contains("NaN points"), "{rejections}");
    assert!(
        rejections.contains("Prometheus warns: remote read"),
        "{rejections}"
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(report(&sync_report(&config, 0), "fake")["ok"], true);

    let cached = signals(&config);
    let series = by_version(&cached, "ratio");
    let served = served.lock().unwrap().clone();
    for version in ["v1", "v2"] {
        let s = series[version];
        let times: Vec<i64> = served
            .iter()
            .filter(|(v, _)| v == version)
            .map(|(_, t)| *t)
            .collect();
        assert_eq!(s["points"], times.len(), "each served sample once: {s}");
        assert_eq!(s["first_ns"], times[0] * 1_000_000_000);
        let last = *times.last().unwrap();
        assert_eq!(s["last_ns"], last * 1_000_000_000);
        assert_eq!(s["last"], value_at(version, last));
    }
    assert_dense(series["v1"], 10);
}

/// Every stored sample of a cache, in order.
fn samples(config: &Path) -> Vec<(String, String, i64, f64)> {
    let conn = rusqlite::Connection::open(config.parent().unwrap().join("cache.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT signal, labels, ts_ns, value FROM signal_samples ORDER BY 1, 2, 3")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
#[cfg_attr(
    skip_prometheus,
    ignore = "Prometheus is not installed (RELOPS_ALLOW_SKIP=1)"
)]
fn a_real_prometheus_behind_a_faulty_proxy_gives_the_clean_samples_in_one_run() {
    use common::fault_proxy::{Fault, FaultProxy};
    let binary = prometheus_binary();
    let started = Instant::now();
    let exporter = Peer::start(|_, _| http(200, "text/plain; version=0.0.4", "", EXPOSITION));
    let dir = tempfile::tempdir().unwrap();
    let prometheus = Prometheus::start(&binary, dir.path(), &[&exporter.addr]);
    prometheus.wait_for("relops_refusal_ratio", 3);
    prometheus.wait_for("relops_queue_depth", 1);
    std::thread::sleep(Duration::from_secs(4));
    // Both syncs read the same past range: the clock is pinned two seconds back.
    let now = chrono::Utc::now() - chrono::Duration::seconds(2);
    let now = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();

    // The first repeat serves queue_depth's answer to the query for refusal_ratio: the
    // misdirected response issue 15 saw stored under the wrong signal.
    let proxy = FaultProxy::start(&prometheus.url, 0x9e37_79b9, 0.3, Duration::from_secs(2));
    proxy.force(&[
        Fault::None,
        Fault::Repeat,
        Fault::Error,
        Fault::CutWithoutLength,
        Fault::Throttle,
        Fault::Stall(Duration::from_secs(2)),
        Fault::CutWithLength,
        Fault::Repeat,
    ]);
    let mut runs = Vec::new();
    for (name, endpoint) in [("clean", &prometheus.url), ("faulty", &proxy.addr)] {
        let ws = dir.path().join(name);
        std::fs::create_dir(&ws).unwrap();
        let config = ws.join("relops.toml");
        std::fs::write(
            &config,
            format!(
                "[workspace]\ncache = \"cache.db\"\n\n\
                 [[source]]\nname = \"prom\"\nkind = \"prometheus\"\nendpoint = \"{endpoint}\"\n\
                 version_label = \"version\"\nstep = \"1s\"\nbackfill = \"2m\"\noverlap = \"5s\"\n\
                 timeout_ms = 1500\nretries = 5\nbackoff_ms = 50\n\n\
                 [source.signals]\nqueue_depth = \"relops_queue_depth\"\n\
                 refusal_ratio = \"relops_refusal_ratio\"\n\
                 depth_scalar = \"scalar(relops_queue_depth)\"\n"
            ),
        )
        .unwrap();
        let out = relops(&config)
            .env("RELOPS_NOW", &now)
            .args(["sync", "--once", "--json"])
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap();
        let reports: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: one run completes: {reports}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        runs.push((reports[0].clone(), samples(&config)));
    }
    let (clean, faulty) = (&runs[0], &runs[1]);
    assert!(faulty.0["retried"].as_u64() > Some(0), "{}", faulty.0);
    let by_signal = |signal: &str| clean.1.iter().filter(|s| s.0 == signal).count();
    assert!(
        // However few scrapes Prometheus has made so far, every signal has some.
        by_signal("queue_depth") >= 2
            && by_signal("refusal_ratio") >= 2
            && by_signal("depth_scalar") >= 2,
        "each signal has its points: {:?}",
        clean.1
    );
    let wrong = faulty
        .1
        .iter()
        .find(|s| s.0 == "refusal_ratio" && s.3 == 7.0);
    assert!(
        wrong.is_none(),
        "queue_depth stored as refusal_ratio: {wrong:?}"
    );
    assert_eq!(faulty.1, clean.1, "exactly the clean samples");
    let seen = proxy.seen();
    eprintln!(
        "Prometheus behind the fault proxy: {} samples, {} requests, {} faults, {:.1} s",
        faulty.1.len(),
        seen.len(),
        seen.iter().filter(|s| s.fault != Fault::None).count(),
        started.elapsed().as_secs_f64()
    );
}
