//! demo.tape, played: its key presses go to the real binary in a real terminal (tmux)
//! and every `Wait` must reach its screen, so the recorded demo cannot rot. The tape is
//! read with the subset of VHS commands it may use; anything else fails here.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use regex::Regex;

const WIDTH: &str = "160";
const HEIGHT: &str = "45";
/// VHS's own default for a `Wait` without `@`.
const WAIT: Duration = Duration::from_secs(15);
/// Sleeps are for viewers; the player keeps a little of them so the console paces as
/// it does on camera, without spending CI time.
const MAX_SLEEP: Duration = Duration::from_millis(500);

/// One command of the tape, with the line it came from.
#[derive(Debug)]
enum Step {
    /// Text typed as it is.
    Type(String),
    /// A tmux key name, pressed `n` times.
    Key(&'static str, usize),
    Ctrl(char),
    Sleep(Duration),
    /// `Wait+Screen` (the whole screen) or `Wait+Line` (the last non-empty line).
    Wait {
        screen: bool,
        timeout: Duration,
        re: Regex,
    },
    /// Output, Require, Set, Hide, Show: nothing to play.
    Skip,
}

fn duration(text: &str) -> Result<Duration, String> {
    let (n, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((text, "s"), |i| text.split_at(i));
    let n: f64 = n.parse().map_err(|_| format!("bad duration {text:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("bad duration unit in {text:?}")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn key(name: &str) -> Option<&'static str> {
    Some(match name {
        "Enter" => "Enter",
        "Space" => "Space",
        "Tab" => "Tab",
        "Escape" => "Escape",
        "Backspace" => "BSpace",
        "Up" => "Up",
        "Down" => "Down",
        "Left" => "Left",
        "Right" => "Right",
        _ => return None,
    })
}

/// `Type "text"` / `Type@50ms "text"`: the quoted text.
fn quoted(rest: &str) -> Result<String, String> {
    let start = rest.find('"').ok_or("Type needs a quoted string")?;
    let end = rest
        .rfind('"')
        .filter(|e| *e > start)
        .ok_or("unclosed quote")?;
    Ok(rest[start + 1..end].replace("\\\"", "\""))
}

fn wait(word: &str, rest: &str) -> Result<Step, String> {
    let (kind, timeout) = match word.split_once('@') {
        Some((k, t)) => (k, duration(t)?),
        None => (word, WAIT),
    };
    // A plain `Wait` watches the last line, as in VHS.
    let screen = match kind {
        "Wait" | "Wait+Line" => false,
        "Wait+Screen" => true,
        _ => return Err(format!("unknown wait {kind:?}")),
    };
    let pattern = rest
        .trim()
        .strip_prefix('/')
        .and_then(|r| r.strip_suffix('/'))
        .ok_or("Wait needs a /regex/")?;
    let re = Regex::new(pattern).map_err(|e| e.to_string())?;
    Ok(Step::Wait {
        screen,
        timeout,
        re,
    })
}

fn parse_line(line: &str) -> Result<Option<Step>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    let step = match word {
        "Output" | "Require" | "Set" | "Hide" | "Show" => Step::Skip,
        w if w == "Type" || w.starts_with("Type@") => Step::Type(quoted(rest)?),
        "Sleep" => Step::Sleep(duration(rest.trim())?),
        w if w.starts_with("Wait") => wait(w, rest)?,
        w if w.starts_with("Ctrl+") => {
            let c = w["Ctrl+".len()..].to_ascii_lowercase();
            Step::Ctrl(c.chars().next().ok_or("Ctrl+ needs a key")?)
        }
        w => {
            let name = key(w.split('@').next().unwrap_or(w))
                .ok_or_else(|| format!("{w:?} is not a command this player knows"))?;
            let n = rest.trim();
            let n = if n.is_empty() {
                1
            } else {
                n.parse().map_err(|_| "bad count")?
            };
            Step::Key(name, n)
        }
    };
    Ok(Some(step))
}

/// The tape's steps, each with its line number and the scene it belongs to.
fn parse(text: &str) -> Vec<(usize, String, Step)> {
    let mut scene = String::from("setup");
    let mut steps = Vec::new();
    for (i, line) in text.lines().enumerate() {
        // `# Scene 2: incident trace to regression case. ...` names scene "2: incident...".
        if let Some(s) = line.strip_prefix("# Scene ") {
            scene = s.split('.').next().unwrap_or(s).to_string();
        }
        match parse_line(line) {
            Ok(Some(step)) => steps.push((i + 1, scene.clone(), step)),
            Ok(None) => {}
            Err(e) => panic!("demo.tape:{}: {e}", i + 1),
        }
    }
    steps
}

/// A tmux session killed when the test ends, however it ends.
struct Terminal(String);

impl Terminal {
    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").args(args).output().expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", &self.0])
    }

    fn send(&self, args: &[&str]) {
        let mut all = vec!["send-keys", "-t", &self.0];
        all.extend_from_slice(args);
        self.tmux(&all);
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

/// A shell in tmux whose `relops` is the binary under test and whose data directory
/// (where `relops demo` builds its workspace) is `home`.
fn terminal(home: &Path) -> Terminal {
    let bin = Path::new(env!("CARGO_BIN_EXE_relops")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let name = format!("relops-tape-{}", std::process::id());
    let status = Command::new("tmux")
        .args(["new-session", "-d", "-s", &name, "-x", WIDTH, "-y", HEIGHT])
        // The session's command gets its environment here: tmux's own `-e` loses to
        // the server's global PATH.
        .args([
            "env",
            "-u",
            "RELOPS_NOW",
            "-u",
            "RELOPS_CONFIG",
            "-u",
            "RELOPS_DB",
        ])
        .arg(format!("PATH={path}"))
        .arg(format!("HOME={}", home.display()))
        .arg(format!("XDG_DATA_HOME={}", home.join("data").display()))
        .args([
            "PS1=$ ",
            "TERM=xterm-256color",
            "bash",
            "--norc",
            "--noprofile",
        ])
        .status()
        .expect("tmux starts");
    assert!(status.success(), "tmux new-session failed");
    Terminal(name)
}

fn play(t: &Terminal, line: usize, scene: &str, step: &Step) {
    match step {
        Step::Skip => {}
        Step::Type(text) => t.send(&["-l", text]),
        Step::Key(name, n) => (0..*n).for_each(|_| t.send(&[name])),
        Step::Ctrl(c) => t.send(&[&format!("C-{c}")]),
        Step::Sleep(d) => std::thread::sleep((*d).min(MAX_SLEEP)),
        Step::Wait {
            screen,
            timeout,
            re,
        } => {
            let deadline = Instant::now() + *timeout;
            loop {
                let shown = t.screen();
                let target = match screen {
                    true => shown.clone(),
                    false => shown
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("")
                        .to_string(),
                };
                if re.is_match(&target) {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "demo.tape:{line} (scene {scene}): /{re}/ never reached the screen in {timeout:?}:\n{shown}"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

#[test]
fn every_line_of_the_tape_is_a_command_the_player_knows() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("demo.tape"))
        .expect("demo.tape exists");
    let steps = parse(&text);
    let waits = steps
        .iter()
        .filter(|(_, _, s)| matches!(s, Step::Wait { .. }))
        .count();
    let scenes: std::collections::BTreeSet<&str> = steps
        .iter()
        .map(|(_, scene, _)| scene.as_str())
        .filter(|s| *s != "setup")
        .collect();
    assert!(waits >= 10, "the tape checks what it shows ({waits} waits)");
    assert_eq!(scenes.len(), 3, "three scenes: {scenes:?}");
    assert!(
        parse_line("Wiggle 3").is_err(),
        "an unknown command is refused"
    );
}

#[test]
fn the_demo_tape_plays_against_the_real_binary() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "tmux is required in CI (.ci/run installs it)"
        );
        eprintln!("*** SKIPPED ***: tmux is not installed; the tape did not play");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("demo.tape")).expect("demo.tape exists");
    let home = tempfile::tempdir().unwrap();
    let t = terminal(home.path());
    for (line, scene, step) in parse(&text) {
        play(&t, line, &scene, &step);
    }
}
