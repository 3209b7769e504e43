//! Real peers (Phoenix, Prometheus, Alertmanager, promptfoo, tmux) for the tests that
//! need them.
//!
//! `scripts/peers/install.sh` installs them. A missing peer fails its test; a run with
//! `RELOPS_ALLOW_SKIP=1` compiles those tests as ignored instead (see `build.rs`), so
//! each skip shows in `cargo test`'s summary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Fails the test when `peer` is missing: the skip is decided at build time
/// (`RELOPS_ALLOW_SKIP=1` marks the test ignored), never silently here.
pub fn require(peer: &str, present: bool) {
    assert!(
        present,
        "{peer} is not installed: run scripts/peers/install.sh, or RELOPS_ALLOW_SKIP=1 cargo test \
         to mark the tests that need it ignored"
    );
}

fn peers_dir() -> PathBuf {
    std::env::var_os("RELOPS_PEERS_DIR").map_or_else(|| "/opt/relops-peers".into(), PathBuf::from)
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A Phoenix server of this test's own, stopped when dropped.
pub struct Phoenix {
    pub url: String,
    workdir: tempfile::TempDir,
}

impl Phoenix {
    /// Starts Phoenix on a free loopback port.
    pub fn start() -> Self {
        let venv = peers_dir().join("phoenix-venv");
        require("Arize Phoenix", venv.join("bin/phoenix").exists());
        let workdir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let out = Command::new(repo().join("scripts/peers/start-phoenix.sh"))
            .env("PHOENIX_PORT", port.to_string())
            .env("PHOENIX_WORKING_DIR", workdir.path())
            .output()
            .expect("start-phoenix.sh runs");
        assert!(
            out.status.success(),
            "Phoenix did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Self { url, workdir }
    }

    /// Sends the traces in `spans` (the feeder's JSON format) into `project` through
    /// the OpenTelemetry SDK's OTLP exporter; returns when Phoenix shows them all.
    pub fn feed(&self, project: &str, spans: &Path) {
        self.feed_to(project, spans, None);
    }

    /// As [`Phoenix::feed`], or, with `collector`, the same spans through the same SDK
    /// to that OTLP/HTTP traces endpoint instead (returns once they are exported).
    pub fn feed_to(&self, project: &str, spans: &Path, collector: Option<&str>) {
        let python = peers_dir().join("phoenix-venv/bin/python");
        let mut cmd = Command::new(python);
        cmd.arg(repo().join("scripts/peers/phoenix_feed.py"))
            .args(["--project", project, "--base-url", &self.url, "--spans"])
            .arg(spans);
        if let Some(url) = collector {
            cmd.args(["--collector", url]);
        }
        let out = cmd.output().expect("phoenix_feed.py runs");
        assert!(
            out.status.success(),
            "feeding Phoenix failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Phoenix {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.workdir.path().join("phoenix.pid"));
        if let Ok(pid) = pid {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A real Alertmanager (Debian's package) of this test's own on loopback, with one
/// webhook receiver; stopped when dropped.
pub struct Alertmanager {
    pub url: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Starts Alertmanager routing every alert at once to `webhook` (grouping and
    /// repeats kept short for a test).
    pub fn start(webhook: &str) -> Self {
        let bin = Path::new("/usr/bin/prometheus-alertmanager");
        require("Alertmanager", bin.exists());
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                "route:\n  receiver: sink\n  group_by: ['alertname', 'rollout', 'trigger', 'signal']\n  \
                 group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
                 receivers:\n  - name: sink\n    webhook_configs:\n      - url: {webhook}\n        send_resolved: true\n"
            ),
        )
        .expect("write the config");
        let port = free_port();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("alertmanager starts");
        let url = format!("http://127.0.0.1:{port}");
        let ready = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            reqwest::blocking::get(format!("{url}/-/ready")).is_ok_and(|r| r.status().is_success())
        });
        assert!(ready, "Alertmanager did not become ready on {url}");
        Self {
            url,
            child,
            _dir: dir,
        }
    }

    /// The alerts Alertmanager holds now (`GET /api/v2/alerts`).
    pub fn alerts(&self) -> serde_json::Value {
        reqwest::blocking::get(format!("{}/api/v2/alerts", self.url))
            .and_then(|r| r.json())
            .expect("Alertmanager lists its alerts")
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
