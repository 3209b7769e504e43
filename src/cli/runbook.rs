//! `relops runbook list | rehearse NAME | run NAME --target V`.

use std::io::{BufRead, IsTerminal, Write};

use clap::{Args, Subcommand};
use color_eyre::eyre::{Result, bail, eyre};

use crate::runbook::Procedure;
use crate::runbook::exec::{Event, Mode, Operator, StepResult};
use crate::runbook::job;
use crate::runbook::record::{self, Tested};
use crate::runbook::vars::Vars;
use crate::services::procedure::{self, Request};
use crate::workspace::Workspace;

#[derive(Debug, Subcommand)]
pub enum RunbookCommand {
    /// Procedures with their rehearsal state (tested / stale / untested).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Run each step's dry-run form and verify check; record the result (exit 1 on a
    /// failed step).
    Rehearse(RunArgs),
    /// Run the procedure against production: confirm by typing the target version.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    pub name: String,
    /// The version this procedure moves production to (`{target}` in steps).
    #[arg(long)]
    pub target: Option<String>,
    /// More variables: `--var previous=v2`.
    #[arg(long = "var", value_name = "K=V")]
    pub vars: Vec<String>,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
    #[arg(long)]
    pub json: bool,
}

/// How a run is confirmed: shared by `runbook run` and `rollout rollback`.
#[derive(Debug, Clone, Args)]
pub struct ConfirmArgs {
    /// The target version typed in advance (non-interactive runs).
    #[arg(long, value_name = "V")]
    pub confirm: Option<String>,
    /// Run a procedure that is not tested (asks a second, distinct confirmation).
    #[arg(long)]
    pub allow_untested: bool,
    /// The second confirmation for an untested procedure, in advance.
    #[arg(long)]
    pub confirm_untested: bool,
    /// Answer yes to the procedure's own questions (confirm steps).
    #[arg(long)]
    pub yes: bool,
}

pub fn run(ws: &Workspace, cmd: &RunbookCommand) -> Result<u8> {
    match cmd {
        RunbookCommand::List { json } => list(ws, *json),
        RunbookCommand::Rehearse(args) => walk(ws, args, Mode::Rehearsal),
        RunbookCommand::Run(args) => walk(ws, args, Mode::Run),
    }
}

fn list(ws: &Workspace, json: bool) -> Result<u8> {
    let writer = crate::store::open_writer(&ws.db_path)?;
    let now = crate::clock::now_ns();
    let mut rows = Vec::new();
    for p in &ws.config.procedures {
        let t = record::tested(writer.connection(), p, &ws.config.runbook, now)?;
        rows.push(serde_json::json!({
            "name": p.name, "steps": p.steps.len(), "content_hash": p.content_hash(),
            "tested": t, "summary": t.describe(now),
        }));
    }
    if json {
        super::print_json(&rows)?;
    } else {
        for r in &rows {
            out!(
                "{:<20} {:>2} steps  {}",
                r["name"].as_str().unwrap_or(""),
                r["steps"],
                r["summary"].as_str().unwrap_or("")
            );
        }
    }
    Ok(0)
}

fn vars(args: &RunArgs) -> Result<Vars> {
    let mut vars = Vars::new();
    for kv in &args.vars {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| eyre!("--var {kv:?}: expected K=V"))?;
        vars.insert(k.to_string(), v.to_string());
    }
    if let Some(t) = &args.target {
        vars.insert("target".into(), t.clone());
    }
    Ok(vars)
}

fn walk(ws: &Workspace, args: &RunArgs, mode: Mode) -> Result<u8> {
    let done = execute(ws, args, mode)?;
    if args.json {
        let report = serde_json::json!({"procedure": args.name, "mode": mode.as_str(),
            "run": done.run, "outcome": done.outcome, "seconds": done.elapsed.as_secs_f64(),
            "steps": done.steps});
        super::print_json(&report)?;
    } else {
        summarise(&args.name, mode, &done);
    }
    Ok(u8::from(!done.ok()))
}

pub(super) fn summarise(name: &str, mode: Mode, done: &job::Finished) {
    out!(
        "{} of {name}: {} in {:.1} s (run {})",
        mode.as_str(),
        done.outcome,
        done.elapsed.as_secs_f64(),
        done.run
    );
}

/// Confirms (for a run), then walks and records the procedure, printing each step as
/// it ends unless the output is JSON.
fn execute(ws: &Workspace, args: &RunArgs, mode: Mode) -> Result<job::Finished> {
    if ws.readonly {
        bail!("--readonly: runbooks change production and the audit log");
    }
    let p = procedure::find(&ws.config, &args.name).map_err(|e| eyre!(e))?;
    let inputs = procedure::inputs(p, vars(args)?).map_err(|e| eyre!(e))?;
    let writer = crate::store::open_writer(&ws.db_path)?;
    let conn = writer.connection();
    if mode == Mode::Run {
        let state = record::tested(conn, p, &ws.config.runbook, crate::clock::now_ns())?;
        let target = args.target.as_deref().ok_or_else(|| {
            eyre!("`runbook run` needs --target V: the version production moves to")
        })?;
        confirm_run(p, target, &args.confirm, &state)?;
    }
    let actor = crate::audit::actor();
    let req = Request {
        procedure: p,
        mode,
        inputs: &inputs,
        actor: &actor,
    };
    let operator = Prompt::new(&args.confirm);
    let printing = !args.json;
    tokio::runtime::Runtime::new()?
        .block_on(procedure::run(conn, req, &operator, ctrl_c_twice(), |e| {
            print_event(printing, &e)
        }))
        .map_err(|e| eyre!(e))
}

/// Prints a step as it ends, when the output is for people.
pub(super) fn print_event(printing: bool, e: &Event) {
    if let (true, Event::Finished(s)) = (printing, e) {
        print_step(s);
    }
}

/// The operator types the target version; an untested procedure also needs
/// `--allow-untested` and a second, different confirmation.
pub(super) fn confirm_run(
    p: &Procedure,
    target: &str,
    confirm: &ConfirmArgs,
    state: &Tested,
) -> Result<()> {
    let now = crate::clock::now_ns();
    if !state.is_tested() {
        if !confirm.allow_untested {
            bail!(
                "{} is {}; rehearse it (`relops runbook rehearse {}`) or pass --allow-untested",
                p.name,
                state.describe(now),
                p.name
            );
        }
        let second = confirm.confirm_untested
            || ask(&format!(
                "{} is {}. Type RUN UNTESTED to go on: ",
                p.name,
                state.describe(now)
            ))
            .is_some_and(|a| a == "RUN UNTESTED");
        if !second {
            bail!("not confirmed: the untested procedure did not run");
        }
    }
    let typed = match &confirm.confirm {
        Some(c) => Some(c.clone()),
        None => ask(&format!(
            "{} moves production to {target}. Type {target} to proceed: ",
            p.name
        )),
    };
    if typed.as_deref() != Some(target) {
        bail!("not confirmed: type the target version exactly ({target})");
    }
    Ok(())
}

/// A line from the terminal, or `None` when there is none to ask.
fn ask(question: &str) -> Option<String> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    note_part!("{question}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).ok()?;
    Some(line.trim().to_string())
}

pub(super) struct Prompt {
    yes: bool,
}

impl Prompt {
    pub(super) fn new(confirm: &ConfirmArgs) -> Self {
        Self { yes: confirm.yes }
    }
}

impl Operator for Prompt {
    fn confirm(&self, question: &str) -> bool {
        self.yes || ask(&format!("{question} [y/N] ")).is_some_and(|a| a.eq_ignore_ascii_case("y"))
    }
}

/// Resolves when the operator presses Ctrl-C twice within five seconds: the first
/// press warns, the second kills the running step.
pub(super) async fn ctrl_c_twice() {
    loop {
        let _ = tokio::signal::ctrl_c().await;
        note!("\nCtrl-C: press again within 5 s to kill the running step and halt");
        let again =
            tokio::time::timeout(std::time::Duration::from_secs(5), tokio::signal::ctrl_c());
        if again.await.is_ok() {
            return;
        }
        note!("not killed; the step goes on");
    }
}

fn print_step(s: &StepResult) {
    let mark = match s.outcome.as_str() {
        "ok" => "ok  ",
        "skipped" => "skip",
        _ => "FAIL",
    };
    out!("{mark} {}. {} ({} ms)", s.index + 1, s.name, s.millis);
    if !s.ok() {
        if let Some(e) = &s.error {
            out!("     error: {e}");
        }
        for line in s
            .output
            .lines()
            .rev()
            .take(10)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            out!("     | {line}");
        }
        if let Some(r) = &s.remediation {
            out!("     remediation: {r}");
        }
    }
}
