//! Running a procedure: each step's action (or, in a rehearsal, its dry-run form),
//! then its verify check; the first failure halts the walk.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::AsyncReadExt;

use super::vars::{Vars, fill_action};
use super::{Action, Procedure, Step};

/// Bytes of output kept per step: the tail is what explains a failure.
const TAIL: usize = 4096;

/// Rehearsal (dry-run forms and verify checks) or the real thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Rehearsal,
    Run,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Rehearsal => "rehearsal",
            Mode::Run => "run",
        }
    }
}

/// Answers a step's question (a terminal prompt, the console's dialog, a test).
pub trait Operator: Sync {
    fn confirm(&self, question: &str) -> bool;
}

/// How one step went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepResult {
    pub index: usize,
    pub name: String,
    /// `ok`, `failed`, `skipped` (nothing to rehearse), `declined`.
    pub outcome: String,
    pub exit_code: Option<i32>,
    /// The command or call as run, for the audit.
    pub command: String,
    pub output: String,
    pub error: Option<String>,
    pub remediation: Option<String>,
    pub millis: u64,
}

impl StepResult {
    pub fn ok(&self) -> bool {
        matches!(self.outcome.as_str(), "ok" | "skipped")
    }
}

/// What one action did.
struct Done {
    ok: bool,
    exit_code: Option<i32>,
    command: String,
    output: String,
    error: Option<String>,
}

/// Walks the steps in order; `on_step` hears each as it finishes. Stops at the first
/// step that does not succeed.
pub async fn walk(
    procedure: &Procedure,
    mode: Mode,
    vars: &Vars,
    operator: &dyn Operator,
    mut on_step: impl FnMut(&StepResult),
) -> Vec<StepResult> {
    let mut results = Vec::new();
    for (index, step) in procedure.steps.iter().enumerate() {
        let result = run_step(index, step, mode, vars, operator).await;
        on_step(&result);
        let ok = result.ok();
        results.push(result);
        if !ok {
            break;
        }
    }
    results
}

async fn run_step(
    index: usize,
    step: &Step,
    mode: Mode,
    vars: &Vars,
    operator: &dyn Operator,
) -> StepResult {
    let started = Instant::now();
    let mut result = StepResult {
        index,
        name: step.name.clone(),
        outcome: "ok".into(),
        exit_code: None,
        command: String::new(),
        output: String::new(),
        error: None,
        remediation: None,
        millis: 0,
    };
    let action = match mode {
        Mode::Run => Some(&step.run),
        // A question is not asked in a rehearsal: nothing changes.
        Mode::Rehearsal => step.dry_run.as_ref(),
    };
    let timeout = Duration::from_secs(step.timeout.as_secs().max(1));
    let mut actions: Vec<&Action> = action.into_iter().collect();
    actions.extend(step.verify.as_ref());
    if actions.is_empty() {
        result.outcome = "skipped".into();
        result.output = "no dry-run form and no verify check: not exercised".into();
    }
    for action in actions {
        let done = match fill_action(action, vars) {
            Ok(filled) => perform(&filled, timeout, operator).await,
            Err(e) => Done {
                ok: false,
                exit_code: None,
                command: String::new(),
                output: String::new(),
                error: Some(e),
            },
        };
        result.command = join(&result.command, &done.command);
        result.output = join(&result.output, &done.output);
        result.exit_code = done.exit_code.or(result.exit_code);
        if !done.ok {
            let declined = matches!(action, Action::Confirm { .. });
            result.outcome = if declined { "declined" } else { "failed" }.into();
            result.error = done.error;
            result.remediation = step.remediation.clone();
            break;
        }
    }
    result.millis = started.elapsed().as_millis() as u64;
    result
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}\n{b}"),
    }
}

async fn perform(action: &Action, timeout: Duration, operator: &dyn Operator) -> Done {
    match action {
        Action::Run { argv, env, dir } => run(argv, env, dir.as_deref(), timeout).await,
        Action::Http {
            method,
            url,
            body,
            expect_status,
        } => http(method, url, body.as_ref(), *expect_status, timeout).await,
        Action::Confirm { question } => {
            let yes = operator.confirm(question);
            Done {
                ok: yes,
                exit_code: None,
                command: format!("confirm: {question}"),
                output: if yes { "yes" } else { "no" }.into(),
                error: (!yes).then(|| "the operator declined".into()),
            }
        }
    }
}

/// A process with a timeout; killed (with its output so far kept) when it runs over.
async fn run(
    argv: &[String],
    env: &std::collections::BTreeMap<String, String>,
    dir: Option<&std::path::Path>,
    timeout: Duration,
) -> Done {
    let command = serde_json::to_string(argv).unwrap_or_default();
    let fail = |error: String, output: String, code: Option<i32>| Done {
        ok: false,
        exit_code: code,
        command: command.clone(),
        output,
        error: Some(error),
    };
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return fail(
                format!("cannot start {}: {e}", argv[0]),
                String::new(),
                None,
            );
        }
    };
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let collect = async {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut a).await;
        }
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut b).await;
        }
        let status = child.wait().await;
        (status, a, b)
    };
    match tokio::time::timeout(timeout, collect).await {
        Err(_) => fail(
            format!("timed out after {} s; killed", timeout.as_secs()),
            String::new(),
            None,
        ),
        Ok((status, stdout, stderr)) => {
            let output = tail(&[stdout, stderr].concat());
            match status {
                Ok(s) if s.success() => Done {
                    ok: true,
                    exit_code: s.code(),
                    command,
                    output,
                    error: None,
                },
                Ok(s) => fail(format!("exited with {s}"), output, s.code()),
                Err(e) => fail(e.to_string(), output, None),
            }
        }
    }
}

async fn http(
    method: &str,
    url: &str,
    body: Option<&serde_json::Value>,
    expect: u16,
    timeout: Duration,
) -> Done {
    let command = format!("{method} {url}");
    let fail = |error: String, output: String| Done {
        ok: false,
        exit_code: None,
        command: command.clone(),
        output,
        error: Some(error),
    };
    let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
        return fail(format!("{method:?} is not an HTTP method"), String::new());
    };
    let mut req = reqwest::Client::new().request(method, url).timeout(timeout);
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return fail(crate::http::root_cause(&e), String::new()),
    };
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let output = format!("HTTP {status}: {}", tail(text.as_bytes()));
    if status == expect {
        Done {
            ok: true,
            exit_code: None,
            command,
            output,
            error: None,
        }
    } else {
        fail(format!("expected HTTP {expect}, got {status}"), output)
    }
}

/// The last bytes of an output, as text.
fn tail(bytes: &[u8]) -> String {
    let from = bytes.len().saturating_sub(TAIL);
    String::from_utf8_lossy(&bytes[from..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Says(bool);
    impl Operator for Says {
        fn confirm(&self, _: &str) -> bool {
            self.0
        }
    }

    fn procedure(text: &str) -> Procedure {
        toml::from_str(text).unwrap()
    }

    fn vars() -> Vars {
        [(
            "previous".to_string(),
            "v2\"; echo pwned $(id)\nx".to_string(),
        )]
        .into()
    }

    #[tokio::test]
    async fn hostile_variables_arrive_as_one_literal_argument() {
        let p = procedure(
            "name = 'p'\n[[step]]\nname = 'echo'\nrun = { kind = 'run', argv = ['printf', '%s|', '{previous}', 'end'] }\n",
        );
        let r = walk(&p, Mode::Run, &vars(), &Says(true), |_| {}).await;
        assert_eq!(r[0].outcome, "ok", "{r:?}");
        assert_eq!(r[0].output, "v2\"; echo pwned $(id)\nx|end|");
    }

    #[tokio::test]
    async fn the_first_failure_halts_with_its_remediation() {
        let p = procedure(
            "name = 'p'\n\
             [[step]]\nname = 'fails'\nrun = { kind = 'run', argv = ['sh', '-c', 'echo boom >&2; exit 3'] }\nremediation = 'page the owner'\n\
             [[step]]\nname = 'never'\nrun = { kind = 'run', argv = ['true'] }\n",
        );
        let r = walk(&p, Mode::Run, &Vars::new(), &Says(true), |_| {}).await;
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].outcome.as_str(), r[0].exit_code), ("failed", Some(3)));
        assert_eq!(r[0].output.trim(), "boom");
        assert_eq!(r[0].remediation.as_deref(), Some("page the owner"));
    }

    #[tokio::test]
    async fn a_step_over_its_timeout_is_killed() {
        let p = procedure(
            "name = 'p'\n[[step]]\nname = 'slow'\nrun = { kind = 'run', argv = ['sleep', '30'] }\ntimeout = '1s'\n",
        );
        let started = Instant::now();
        let r = walk(&p, Mode::Run, &Vars::new(), &Says(true), |_| {}).await;
        assert!(
            r[0].error.as_deref().unwrap().contains("timed out"),
            "{r:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn a_rehearsal_runs_dry_run_forms_and_never_asks() {
        let p = procedure(
            "name = 'p'\n\
             [[step]]\nname = 'ask'\nrun = { kind = 'confirm', question = 'sure?' }\n\
             [[step]]\nname = 'change'\nrun = { kind = 'run', argv = ['false'] }\ndry_run = { kind = 'run', argv = ['true'] }\n",
        );
        let r = walk(&p, Mode::Rehearsal, &Vars::new(), &Says(false), |_| {}).await;
        let outcomes: Vec<&str> = r.iter().map(|s| s.outcome.as_str()).collect();
        assert_eq!(outcomes, ["skipped", "ok"]);
        let r = walk(&p, Mode::Run, &Vars::new(), &Says(false), |_| {}).await;
        assert_eq!(r[0].outcome, "declined");
    }
}
