//! Rollout changes and procedure runs from the console, off the UI thread.
//!
//! A change (a timed check, a tick, an approval...) runs on a blocking task with its own
//! writer and answers [`Action::RolloutDone`]. A procedure runs on a thread of its own
//! (its steps are processes and HTTP calls with their own timeouts) and reports each
//! step, output line, question, the rollback and the recovery as [`Action::Procedure`].
//! The operator answers questions and confirms kills through [`Rollouts::answer`] and
//! [`Rollouts::kill`].

use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

use super::action::{Action, ProcEvent, RolloutOp};
use crate::rollout::machine::State as Phase;
use crate::rollout::ops::{self, Op};
use crate::rollout::{rollback, store};
use crate::runbook::exec::{Event, Mode, Operator};
use crate::runbook::job::Finished;
use crate::runbook::vars::Vars;
use crate::services::{self, procedure, procedure::Request};
use crate::workspace::Workspace;

/// How often the verification reads the signals after a rollback.
const VERIFY_POLL: Duration = Duration::from_secs(2);

pub struct Rollouts {
    ws: Arc<Workspace>,
    tx: UnboundedSender<Action>,
    live: Arc<Mutex<Live>>,
}

/// How to reach the running procedure: its kill switch and its question's answer.
#[derive(Default)]
struct Live {
    stop: Option<oneshot::Sender<()>>,
    answer: Option<mpsc::Sender<bool>>,
}

impl Rollouts {
    pub fn new(ws: &Workspace, tx: UnboundedSender<Action>) -> Self {
        Self {
            ws: Arc::new(ws.clone()),
            tx,
            live: Arc::default(),
        }
    }

    /// Must be called within the runtime.
    pub fn apply(&self, op: RolloutOp) {
        let (ws, tx) = (Arc::clone(&self.ws), self.tx.clone());
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(Action::RolloutDone(apply(&ws, &op)));
        });
    }

    pub fn run(&self, name: String, rollback: bool, allow_untested: bool) {
        let (ws, tx) = (Arc::clone(&self.ws), self.tx.clone());
        let (stop_tx, stop_rx) = oneshot::channel();
        let (answer_tx, answer_rx) = mpsc::channel();
        *self.lock() = Live {
            stop: Some(stop_tx),
            answer: Some(answer_tx),
        };
        let spawned = std::thread::Builder::new()
            .name("relops-procedure".into())
            .spawn(move || {
                let emit = |e: ProcEvent| {
                    let _ = tx.send(Action::Procedure(e));
                };
                let asker = Asker {
                    tx: tx.clone(),
                    answers: Mutex::new(answer_rx),
                };
                let stop = async {
                    let _ = stop_rx.await;
                };
                let run = Run {
                    name: &name,
                    rollback,
                    allow_untested,
                    now_ns: crate::clock::now_ns(),
                };
                let result = run_procedure(&ws, &run, &asker, stop, &emit);
                emit(ProcEvent::Done(result));
            });
        if let Err(e) = spawned {
            let _ = self
                .tx
                .send(Action::Procedure(ProcEvent::Done(Err(e.to_string()))));
        }
    }

    /// The operator's answer to the running procedure's question.
    pub fn answer(&self, yes: bool) {
        if let Some(a) = &self.lock().answer {
            let _ = a.send(yes);
        }
    }

    /// Kills the running step (the operator confirmed).
    pub fn kill(&self) {
        if let Some(stop) = self.lock().stop.take() {
            let _ = stop.send(());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Asks the console and waits for its answer; no answer (the console quit) is a no.
struct Asker {
    tx: UnboundedSender<Action>,
    answers: Mutex<mpsc::Receiver<bool>>,
}

impl Operator for Asker {
    fn confirm(&self, question: &str) -> bool {
        let ask = Action::Procedure(ProcEvent::Ask(question.to_string()));
        if self.tx.send(ask).is_err() {
            return false;
        }
        let answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        answers.recv().unwrap_or(false)
    }
}

/// Applies one change to the rollout in flight, saved and audited as the command
/// line's `relops rollout` would; the status line's text.
pub fn apply(ws: &Workspace, op: &RolloutOp) -> Result<String, String> {
    let writer = crate::store::open_writer(&ws.db_path).map_err(|e| e.to_string())?;
    let conn = writer.connection();
    let (id, mut r) = store::active(conn)
        .map_err(|e| e.to_string())?
        .ok_or("no rollout in flight")?;
    let plan = ws
        .config
        .rollouts
        .iter()
        .find(|p| p.name == r.plan)
        .ok_or_else(|| format!("no [[rollout]] plan named {:?} in the config", r.plan))?;
    let actor = crate::audit::actor();
    let op = match op {
        RolloutOp::Tick => Op::Tick,
        RolloutOp::Check(item) => Op::Check(item.clone()),
        RolloutOp::Approve => Op::Approve,
        RolloutOp::Promote => Op::Promote,
        RolloutOp::HoldResume if r.state == Phase::Held => Op::Resume,
        RolloutOp::HoldResume => Op::Hold,
    };
    let cx = ops::Ctx {
        conn,
        config: &ws.config,
        actor: &actor,
        now_ns: crate::clock::now_ns(),
    };
    ops::apply(&cx, id, &mut r, plan, &op)?;
    Ok(match op {
        Op::Tick => checked(&r),
        Op::Check(item) => format!("ticked {item:?}"),
        Op::Approve => format!("approved by {actor}"),
        Op::Promote => promoted(&r, plan),
        Op::Hold => "held: no promotion until resumed".into(),
        Op::Resume => "resumed".into(),
    })
}

fn checked(r: &crate::rollout::Rollout) -> String {
    match &r.fired {
        Some(f) if r.state == Phase::Triggered => format!("TRIGGERED: {f}"),
        _ => "checked the live signals".into(),
    }
}

fn promoted(r: &crate::rollout::Rollout, plan: &crate::rollout::Plan) -> String {
    if r.state == Phase::Completed {
        return format!("{} completed: all stages passed", r.release);
    }
    format!("promoted to {}", plan.stages[r.stage].name)
}

/// What to run: a rehearsal of the procedure, or the rollout's rollback.
pub struct Run<'a> {
    pub name: &'a str,
    pub rollback: bool,
    pub allow_untested: bool,
    /// When the operator pressed the key: a rehearsal's freshness is judged then.
    pub now_ns: i64,
}

/// Runs a procedure to its end, reporting through `emit`; for a rollback, then marks
/// the rollout rolled back and waits for its verify signals. The summary, or why not.
pub fn run_procedure(
    ws: &Workspace,
    run: &Run,
    operator: &dyn Operator,
    stop: impl std::future::Future<Output = ()>,
    emit: &dyn Fn(ProcEvent),
) -> Result<String, String> {
    if ws.readonly {
        return Err("readonly: procedures change production".into());
    }
    let writer = crate::store::open_writer(&ws.db_path).map_err(|e| e.to_string())?;
    let conn = writer.connection();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let active = store::active(conn).map_err(|e| e.to_string())?;
    let actor = crate::audit::actor();
    if !run.rollback {
        let p = procedure::find(&ws.config, run.name)?;
        let vars = match &active {
            Some((_, r)) if r.previous.is_some() => rollback::vars(r)?,
            _ => Vars::new(),
        };
        let inputs = procedure::inputs(p, vars)?;
        let req = Request {
            procedure: p,
            mode: Mode::Rehearsal,
            inputs: &inputs,
            actor: &actor,
        };
        let done = runtime.block_on(procedure::run(conn, req, operator, stop, |e| {
            emit(event(e))
        }))?;
        let summary = summary(&p.name, Mode::Rehearsal, &done);
        return if done.ok() { Ok(summary) } else { Err(summary) };
    }
    let (id, mut r) = active.ok_or("no rollout in flight to roll back")?;
    let plan = ws
        .config
        .rollouts
        .iter()
        .find(|pl| pl.name == r.plan)
        .ok_or_else(|| format!("no [[rollout]] plan named {:?} in the config", r.plan))?;
    let now = run.now_ns;
    let prepared = services::rollback::prepare(conn, &ws.config, &r, plan, now)?;
    if !prepared.tested.is_tested() && !run.allow_untested {
        let name = &prepared.procedure.name;
        return Err(format!(
            "{name} is {}: not run",
            prepared.tested.describe(now)
        ));
    }
    let name = prepared.procedure.name.clone();
    let done = runtime.block_on(services::rollback::run(
        conn,
        id,
        &mut r,
        prepared,
        &actor,
        operator,
        stop,
        |e| emit(event(e)),
    ))?;
    let summary = summary(&name, Mode::Run, &done);
    if !done.ok() {
        return Err(summary);
    }
    emit(ProcEvent::RolledBack(r.seconds_to_rollback()));
    if plan.verify.is_none() {
        return Ok(summary);
    }
    let check = rollback::verify(conn, id, &mut r, plan, &actor, VERIFY_POLL, |c| {
        emit(ProcEvent::Recovery {
            text: c.describe(),
            recovered: c.recovered(),
        })
    })?;
    let after = match (r.recovered_ns, r.rolled_back_ns) {
        (Some(ok), Some(back)) => format!(" {:.0} s after the rollback", (ok - back) as f64 / 1e9),
        _ => String::new(),
    };
    match check {
        Some(c) if !c.recovered() => Err(format!("{summary}; NOT recovered: {}", c.describe())),
        _ => Ok(format!("{summary}; the signals recovered{after}")),
    }
}

fn summary(name: &str, mode: Mode, done: &Finished) -> String {
    format!(
        "{name} {}: {} in {:.1} s",
        mode.as_str(),
        done.outcome,
        done.elapsed.as_secs_f64()
    )
}

fn event(e: Event) -> ProcEvent {
    match e {
        Event::Started { index, name } => ProcEvent::Started {
            index,
            name: name.into(),
        },
        Event::Line { line, .. } => ProcEvent::Line(line.into()),
        Event::Finished(s) => ProcEvent::Finished(Box::new(s.clone())),
    }
}
