//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The pinned clock every end-to-end test runs under.
pub const NOW: &str = "2026-11-20T12:00:00Z";

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `relops` with a workspace config and the pinned clock.
pub fn relops(config: &Path) -> Command {
    let mut cmd = Command::cargo_bin("relops").expect("binary builds");
    cmd.env("RELOPS_NOW", NOW)
        .env_remove("RELOPS_CONFIG")
        .env_remove("RELOPS_DB")
        .arg("--config")
        .arg(config);
    cmd
}

/// A workspace directory with a config whose cache sits beside it.
pub fn workspace() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("relops.toml");
    std::fs::write(&config, "[workspace]\ncache = \"cache.db\"\n").expect("write config");
    (dir, config)
}

/// Runs a command that must succeed and parses its stdout as JSON.
pub fn json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out)
        )
    })
}

/// Builds a small demo workspace with the pinned clock; returns its config path.
pub fn demo(dir: &Path, traces: u64) -> PathBuf {
    Command::cargo_bin("relops")
        .expect("binary builds")
        .env("RELOPS_NOW", NOW)
        .args(["demo", "--no-tui", "--traces", &traces.to_string(), "--dir"])
        .arg(dir)
        .assert()
        .success();
    dir.join("relops.toml")
}

/// A `relops demo --serve` process, killed when dropped however the test ends.
pub struct Serving(std::process::Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the demo's workflow server and live feed on a built demo workspace, and
/// waits until it says it is serving. Returns the process and the server's address.
pub fn serve_demo(dir: &Path) -> (Serving, String) {
    serve_demo_at(dir, NOW)
}

/// As [`serve_demo`], with the server's clock pinned at `now`: its live feed stamps
/// the traces it adds at `now` (a time outside a report's period keeps them out of it).
pub fn serve_demo_at(dir: &Path, now: &str) -> (Serving, String) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let text = std::fs::read_to_string(dir.join("relops.toml")).expect("demo config");
    let addr = text
        .lines()
        .find_map(|l| l.strip_prefix("server = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("server address in the demo config")
        .to_string();
    // Reopening takes the workspace's recorded size: no --traces needed.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_relops"))
        .args(["demo", "--serve", "--dir"])
        .arg(dir)
        .env("RELOPS_NOW", now)
        .stderr(Stdio::piped())
        .spawn()
        .expect("relops demo --serve starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let serving = Serving(child);
    let announced = BufReader::new(stderr)
        .lines()
        .any(|l| l.map(|l| l.contains("Ctrl-C stops")).unwrap_or(false));
    assert!(announced, "relops demo --serve never said it was serving");
    (serving, addr)
}

/// Compares a report with its golden file in tests/golden (`RELOPS_UPDATE_GOLDEN=1`
/// rewrites them). What varies from run to run is normalised first: the workspace's
/// absolute path, and JUnit `time` (a duration). Latencies in the Markdown stay: the
/// demo target reports its simulated latency, the same on every machine.
pub fn golden(name: &str, actual: &str, workspace: &Path) {
    let mut text = actual.replace(&workspace.display().to_string(), "<workspace>");
    let time = regex::Regex::new(r#"time="[0-9.]+""#).unwrap();
    text = time.replace_all(&text, r#"time="<s>""#).into_owned();
    // The audit head's hash covers who acted (user@host): it differs per machine.
    let hash = regex::Regex::new(r"\b[0-9a-f]{64}\b").unwrap();
    text = hash.replace_all(&text, "<hash>").into_owned();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("RELOPS_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (RELOPS_UPDATE_GOLDEN=1 writes it)", path.display()));
    if text != want {
        let diff = similar::TextDiff::from_lines(&want, &text)
            .unified_diff()
            .header("golden", "actual")
            .to_string();
        panic!(
            "{} differs (RELOPS_UPDATE_GOLDEN=1 rewrites it):\n{diff}",
            path.display()
        );
    }
}

pub mod fault_proxy;
pub mod peers;
pub mod scripted;

/// The newest v3 refund request that v3's prompt refuses and v2 answers. The filter
/// alone is not enough: every version refuses a few refunds (and the abusive "fake
/// receipt … refund"), and the live feed may have added one of those last. The demo
/// workflow is a pure function, so v2's answer is known without a server.
pub fn v3_over_refusal(config: &Path) -> String {
    let candidates = json(relops(config).args([
        "traces",
        "--json",
        "--version",
        "v3",
        "--refusals",
        "--search",
        "refund",
        "--limit",
        "50",
    ]));
    let v2 = relops::demo::workflow::release("v2").expect("v2");
    candidates
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| t["id"].as_str().expect("an id").to_string())
        .find(|id| {
            let shown = json(relops(config).args(["trace", "show", id, "--json"]));
            let input = shown["input"].as_str().expect("an input");
            !relops::demo::workflow::execute(v2, input).refusal
        })
        .expect("a v3 refund refusal that v2 answers")
}
