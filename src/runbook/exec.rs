//! Running a procedure: each step's action (or, in a rehearsal, its dry-run form),
//! then its verify check; the first failure halts the walk. Output lines are reported
//! as they come, with every secret cut out.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

use super::vars::Inputs;
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
    /// `ok`, `failed`, `skipped` (nothing to rehearse), `declined`, `killed`.
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

    /// The record of a step stopped by the operator.
    pub fn killed(index: usize, step: &Step, millis: u64) -> Self {
        Self {
            index,
            name: step.name.clone(),
            outcome: "killed".into(),
            exit_code: None,
            command: String::new(),
            output: String::new(),
            error: Some("killed by the operator".into()),
            remediation: step.remediation.clone(),
            millis,
        }
    }
}

/// What a walk reports as it goes.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    Started {
        index: usize,
        name: &'a str,
    },
    /// One line of a running step's output (secrets already cut out).
    Line {
        index: usize,
        line: &'a str,
    },
    Finished(&'a StepResult),
}

/// What one action did.
struct Done {
    ok: bool,
    exit_code: Option<i32>,
    command: String,
    output: String,
    error: Option<String>,
}

/// Walks the steps in order; `on_event` hears each start, output line and end. Stops
/// at the first step that does not succeed.
pub async fn walk(
    procedure: &Procedure,
    mode: Mode,
    inputs: &Inputs,
    operator: &dyn Operator,
    mut on_event: impl FnMut(Event),
) -> Vec<StepResult> {
    let mut results = Vec::new();
    for (index, step) in procedure.steps.iter().enumerate() {
        on_event(Event::Started {
            index,
            name: &step.name,
        });
        let mut on_line = |line: &str| on_event(Event::Line { index, line });
        let result = run_step(index, step, mode, inputs, operator, &mut on_line).await;
        on_event(Event::Finished(&result));
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
    inputs: &Inputs,
    operator: &dyn Operator,
    on_line: &mut dyn FnMut(&str),
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
    // A rehearsal does not run the live form, but it must prove the live form can be
    // filled: a typo'd variable found at the real rollback is found during the incident.
    if mode == Mode::Rehearsal
        && let Err(e) = inputs.with_run_placeholders().fill(&step.run)
    {
        result.outcome = "failed".into();
        result.error = Some(inputs.redact(&format!("the live form cannot run: {e}")));
        result.remediation = step.remediation.clone();
        result.millis = started.elapsed().as_millis() as u64;
        return result;
    }
    let timeout = Duration::from_secs(step.timeout.as_secs().max(1));
    let mut actions: Vec<&Action> = action.into_iter().collect();
    actions.extend(step.verify.as_ref());
    if actions.is_empty() {
        result.outcome = "skipped".into();
        result.output = "no dry-run form and no verify check: not exercised".into();
    }
    let mut redacted_line = |line: &str| on_line(&inputs.redact(line));
    for action in actions {
        let done = match inputs.fill(action) {
            Ok(filled) => perform(&filled, timeout, operator, &mut redacted_line).await,
            Err(e) => Done {
                ok: false,
                exit_code: None,
                command: String::new(),
                output: String::new(),
                error: Some(e),
            },
        };
        result.command = join(&result.command, &inputs.redact(&done.command));
        result.output = join(&result.output, &inputs.redact(&done.output));
        result.exit_code = done.exit_code.or(result.exit_code);
        if !done.ok {
            let declined = matches!(action, Action::Confirm { .. });
            result.outcome = if declined { "declined" } else { "failed" }.into();
            result.error = done.error.map(|e| inputs.redact(&e));
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

async fn perform(
    action: &Action,
    timeout: Duration,
    operator: &dyn Operator,
    on_line: &mut dyn FnMut(&str),
) -> Done {
    match action {
        Action::Run { argv, env, dir } => run(argv, env, dir.as_deref(), timeout, on_line).await,
        Action::Http {
            method,
            url,
            headers,
            body,
            expect_status,
        } => {
            let call = Call {
                method,
                url,
                headers,
                body: body.as_ref(),
                expect: *expect_status,
            };
            let done = http(call, timeout).await;
            done.output.lines().for_each(&mut *on_line);
            done
        }
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
/// Output lines are reported as they arrive.
async fn run(
    argv: &[String],
    env: &BTreeMap<String, String>,
    dir: Option<&std::path::Path>,
    timeout: Duration,
    on_line: &mut dyn FnMut(&str),
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
    let mut out = Tail::default();
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let collect = async {
        read_lines(stdout, stderr, &mut out, on_line).await;
        child.wait().await
    };
    match tokio::time::timeout(timeout, collect).await {
        Err(_) => fail(
            format!("timed out after {} s; killed", timeout.as_secs()),
            out.text(),
            None,
        ),
        Ok(Ok(s)) if s.success() => Done {
            ok: true,
            exit_code: s.code(),
            command,
            output: out.text(),
            error: None,
        },
        Ok(Ok(s)) => fail(format!("exited with {s}"), out.text(), s.code()),
        Ok(Err(e)) => fail(e.to_string(), out.text(), None),
    }
}

/// The last [`TAIL`] bytes of an output.
#[derive(Default)]
struct Tail(Vec<u8>);

impl Tail {
    fn push(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
        if self.0.len() > 2 * TAIL {
            self.0.drain(..self.0.len() - TAIL);
        }
    }

    fn text(&self) -> String {
        let from = self.0.len().saturating_sub(TAIL);
        String::from_utf8_lossy(&self.0[from..]).into_owned()
    }
}

/// Reads stdout and stderr line by line, interleaved as they come, until both close.
async fn read_lines(
    stdout: Option<tokio::process::ChildStdout>,
    stderr: Option<tokio::process::ChildStderr>,
    tail: &mut Tail,
    on_line: &mut dyn FnMut(&str),
) {
    let mut out = stdout.map(BufReader::new);
    let mut err = stderr.map(BufReader::new);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    while out.is_some() || err.is_some() {
        let line = tokio::select! {
            l = next_line(out.as_mut(), &mut a), if out.is_some() => l.or_else(|| { out = None; None }),
            l = next_line(err.as_mut(), &mut b), if err.is_some() => l.or_else(|| { err = None; None }),
        };
        if let Some(bytes) = line {
            tail.push(&bytes);
            on_line(String::from_utf8_lossy(&bytes).trim_end_matches(['\n', '\r']));
        }
    }
}

/// The next line (with its newline, if any) or `None` at the end.
///
/// `buf` lives across calls because `select!` drops the losing read: what it had read
/// stays in `buf` and the next call goes on from there (clearing it lost a last line).
async fn next_line<R: AsyncBufRead + Unpin>(
    r: Option<&mut R>,
    buf: &mut Vec<u8>,
) -> Option<Vec<u8>> {
    match r?.read_until(b'\n', buf).await {
        Ok(0) | Err(_) if buf.is_empty() => None,
        _ => Some(std::mem::take(buf)),
    }
}

/// An HTTP step's call, filled.
struct Call<'a> {
    method: &'a str,
    url: &'a str,
    headers: &'a BTreeMap<String, String>,
    body: Option<&'a serde_json::Value>,
    expect: u16,
}

async fn http(call: Call<'_>, timeout: Duration) -> Done {
    let command = format!("{} {}", call.method, call.url);
    let fail = |error: String, output: String| Done {
        ok: false,
        exit_code: None,
        command: command.clone(),
        output,
        error: Some(error),
    };
    let Ok(method) = reqwest::Method::from_bytes(call.method.as_bytes()) else {
        return fail(
            format!("{:?} is not an HTTP method", call.method),
            String::new(),
        );
    };
    let mut req = reqwest::Client::new()
        .request(method, call.url)
        .timeout(timeout);
    for (k, v) in call.headers {
        req = req.header(k, v);
    }
    if let Some(b) = call.body {
        req = req.json(b);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return fail(crate::http::root_cause(&e), String::new()),
    };
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let mut body = Tail::default();
    body.push(text.as_bytes());
    let output = format!("HTTP {status}: {}", body.text());
    if status == call.expect {
        Done {
            ok: true,
            exit_code: None,
            command,
            output,
            error: None,
        }
    } else {
        fail(
            format!("expected HTTP {}, got {status}", call.expect),
            output,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::vars::Vars;

    struct Says(bool);
    impl Operator for Says {
        fn confirm(&self, _: &str) -> bool {
            self.0
        }
    }

    fn procedure(text: &str) -> Procedure {
        toml::from_str(text).unwrap()
    }

    fn vars() -> Inputs {
        Inputs::new(
            [(
                "previous".to_string(),
                "v2\"; echo pwned $(id)\nx".to_string(),
            )]
            .into(),
        )
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
        let r = walk(&p, Mode::Run, &Inputs::default(), &Says(true), |_| {}).await;
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
        let r = walk(&p, Mode::Run, &Inputs::default(), &Says(true), |_| {}).await;
        assert!(
            r[0].error.as_deref().unwrap().contains("timed out"),
            "{r:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn a_rehearsal_fails_when_the_live_form_names_an_unknown_variable() {
        let p = procedure(
            "name = 'p'\n[[step]]\nname = 'switch'\n\
             run = { kind = 'run', argv = ['deploy', '{targt}'] }\n\
             dry_run = { kind = 'run', argv = ['true'] }\nremediation = 'fix the typo'\n",
        );
        let vars = Vars::from([("target".to_string(), "v2".to_string())]);
        let r = walk(&p, Mode::Rehearsal, &Inputs::new(vars), &Says(true), |_| {}).await;
        assert_eq!(r[0].outcome, "failed", "{r:?}");
        let error = r[0].error.as_deref().unwrap();
        assert!(
            error.contains("live form cannot run") && error.contains("{targt}"),
            "{error}"
        );
        assert_eq!(r[0].command, "", "nothing ran");
    }

    #[tokio::test]
    async fn a_rehearsal_runs_dry_run_forms_and_never_asks() {
        let p = procedure(
            "name = 'p'\n\
             [[step]]\nname = 'ask'\nrun = { kind = 'confirm', question = 'sure?' }\n\
             [[step]]\nname = 'change'\nrun = { kind = 'run', argv = ['false'] }\ndry_run = { kind = 'run', argv = ['true'] }\n",
        );
        let r = walk(
            &p,
            Mode::Rehearsal,
            &Inputs::default(),
            &Says(false),
            |_| {},
        )
        .await;
        let outcomes: Vec<&str> = r.iter().map(|s| s.outcome.as_str()).collect();
        assert_eq!(outcomes, ["skipped", "ok"]);
        let r = walk(&p, Mode::Run, &Inputs::default(), &Says(false), |_| {}).await;
        assert_eq!(r[0].outcome, "declined");
    }
}
