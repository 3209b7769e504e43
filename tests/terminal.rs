//! The real binary in a real terminal (tmux): it opens on the Overview, `?` shows the
//! help, `2` the traces, `6` and `7` the (empty) Incidents and Gate panes, and `q` leaves a clean terminal with the cursor back.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::demo;

/// A tmux session that is killed when the test ends, however it ends.
struct Session(String);

impl Session {
    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").args(args).output().expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", &self.0])
    }

    fn keys(&self, keys: &str) {
        self.tmux(&["send-keys", "-t", &self.0, keys]);
    }

    /// Waits until the screen shows `text`; the screen on failure.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never showed {text:?}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

#[test]
#[cfg_attr(skip_tmux, ignore = "tmux is not installed (RELOPS_ALLOW_SKIP=1)")]
fn opens_on_the_overview_shows_help_and_quits_cleanly() {
    let tmux = Command::new("tmux").arg("-V").output().is_ok();
    common::peers::require("tmux", tmux);
    let dir = tempfile::tempdir().unwrap();
    let config = demo(dir.path(), 2000);
    let name = format!("relops-test-{}", std::process::id());
    let command = format!(
        "RELOPS_NOW={} {} --config {}; echo RELOPS_EXIT=$?; sleep 60",
        common::NOW,
        env!("CARGO_BIN_EXE_relops"),
        config.display()
    );
    let status = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            "140",
            "-y",
            "40",
            &command,
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let s = Session(name);

    let overview = s.wait_for("p95 latency");
    assert!(overview.contains("Overview"), "{overview}");
    assert!(overview.contains("v3"), "{overview}");

    s.keys("?");
    s.wait_for("Help · Esc closes");
    s.keys("Escape");
    s.keys("2");
    let traces = s.wait_for("Traces · ");
    assert!(traces.contains("TRACE"), "{traces}");
    // The Incidents and Gate panes load through the background loader too.
    s.keys("6");
    s.wait_for("No incidents yet");
    s.keys("7");
    s.wait_for("No gate runs stored yet");

    s.keys("q");
    let after = s.wait_for("RELOPS_EXIT=0");
    assert!(
        !after.contains("Overview") && !after.contains('┌'),
        "the console's screen was left behind:\n{after}"
    );
    let cursor = s.tmux(&["display-message", "-p", "-t", &s.0, "#{cursor_flag}"]);
    assert_eq!(cursor.trim(), "1", "cursor hidden after exit");
}
