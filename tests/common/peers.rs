//! Real peers (Phoenix, Prometheus) for the tests that need them.
//!
//! `.ci/run` installs them (scripts/peers/install.sh) and sets
//! `RELOPS_REQUIRE_PEERS=1`, which turns a missing peer into a failure; elsewhere
//! those tests skip with a loud message.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether a test that needs `peer` can run; panics in CI when it cannot.
pub fn available(peer: &str, present: bool) -> bool {
    if present {
        return true;
    }
    let why = format!("{peer} is not installed (run scripts/peers/install.sh)");
    if std::env::var("RELOPS_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("RELOPS_REQUIRE_PEERS=1 but {why}");
    }
    eprintln!("\n*** SKIPPED: {why} ***\n");
    false
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
    /// Starts Phoenix on a free loopback port, or `None` (skipped) when absent.
    pub fn start() -> Option<Self> {
        let venv = peers_dir().join("phoenix-venv");
        if !available("Arize Phoenix", venv.join("bin/phoenix").exists()) {
            return None;
        }
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
        Some(Self { url, workdir })
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
