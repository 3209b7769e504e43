//! `relops rollout start | status | tick | check | approve | promote | hold | resume |
//! rollback`: the rollout state machine, headless. Every change is audited.

use clap::Subcommand;
use color_eyre::eyre::{Result, bail, eyre};

use super::runbook;
use crate::rollout::machine::{ItemState, Rollout, State};
use crate::rollout::ops::{self, Op};
use crate::rollout::{Plan, store};
use crate::runbook::exec::Mode;
use crate::services;
use crate::workspace::Workspace;

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Start a release on a plan's first stage.
    Start {
        plan: String,
        #[arg(long)]
        release: String,
        /// The version it replaces (drift baseline, rollback target).
        #[arg(long)]
        previous: Option<String>,
    },
    /// The rollout in flight: stage, window, items, triggers, blockers.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Re-evaluate the automatic items and triggers from live signals now.
    Tick,
    /// Tick a manual checklist item.
    Check {
        item: String,
    },
    /// Approve the current stage (as the OS user).
    Approve,
    /// Move to the next stage (items pass, window over, approvals given).
    Promote,
    Hold,
    Resume,
    /// Run the plan's rollback procedure (confirmed, audited); on success the
    /// rollout is rolled back and the plan's verify signals are waited for.
    Rollback(runbook::ConfirmArgs),
    /// Check the live signals every `check_every` until the rollout triggers, is
    /// rolled back or completes (Ctrl-C stops watching; nothing else changes).
    Watch,
}

pub fn run(ws: &Workspace, cmd: &RolloutCommand) -> Result<u8> {
    let writes = !matches!(cmd, RolloutCommand::Status { .. });
    if writes && ws.readonly {
        bail!("--readonly: rollout actions change the rollout and the audit log");
    }
    let writer = crate::store::open_writer(&ws.db_path)?;
    let conn = writer.connection();
    let now = crate::clock::now_ns();
    let actor = crate::audit::actor();
    if let RolloutCommand::Start {
        plan,
        release,
        previous,
    } = cmd
    {
        let plan = find_plan(ws, plan)?;
        let release_row =
            crate::store::query::resolve_version(conn, release).map_err(|e| eyre!(e))?;
        let previous_row = previous
            .as_deref()
            .map(|p| crate::store::query::resolve_version(conn, p).map_err(|e| eyre!(e)))
            .transpose()?;
        let mut r = Rollout::start(
            plan,
            &release_row.label,
            previous_row.as_ref().map(|v| v.label.as_str()),
            now,
        );
        r.started_by = Some(actor.clone());
        let id = store::create(
            conn,
            &r,
            release_row.rowid,
            previous_row.map(|v| v.rowid),
            now,
        )
        .map_err(|e| eyre!(e))?;
        let change = store::Change {
            actor: &actor,
            kind: "start",
            item: None,
            evidence: serde_json::json!({}),
            now_ns: now,
        };
        store::save(conn, id, &mut r, &change)?;
        out!(
            "rollout {id}: {} on {} · stage 1 of {}",
            r.release,
            plan.name,
            plan.stages.len()
        );
        return Ok(0);
    }
    let (id, mut r) = match cmd {
        RolloutCommand::Status { .. } => store::newest(conn)?,
        _ => store::active(conn)?,
    }
    .ok_or_else(|| eyre!("no rollout in flight: `relops rollout start PLAN --release V`"))?;
    let plan = find_plan(ws, &r.plan)?;
    let op = match cmd {
        RolloutCommand::Status { json } => return status(id, &r, plan, now, *json),
        RolloutCommand::Rollback(args) => return rollback(ws, conn, id, &mut r, plan, args),
        RolloutCommand::Watch => return watch(ws, conn, id, r, plan),
        RolloutCommand::Start { .. } => unreachable!("handled above"),
        RolloutCommand::Tick => Op::Tick,
        RolloutCommand::Check { item } => Op::Check(item.clone()),
        RolloutCommand::Approve => Op::Approve,
        RolloutCommand::Promote => Op::Promote,
        RolloutCommand::Hold => Op::Hold,
        RolloutCommand::Resume => Op::Resume,
    };
    let cx = ops::Ctx {
        conn,
        config: &ws.config,
        actor: &actor,
        now_ns: now,
    };
    ops::apply(&cx, id, &mut r, plan, &op).map_err(|e| eyre!(e))?;
    status(id, &r, plan, now, false)?;
    Ok(u8::from(r.state == State::Triggered))
}

/// Runs the plan's rollback procedure, marks the rollout rolled back and waits for the
/// verify signals; exit 0 only when the rollback ran and (if asked) they recovered.
fn rollback(
    ws: &Workspace,
    conn: &rusqlite::Connection,
    id: i64,
    r: &mut Rollout,
    plan: &Plan,
    args: &runbook::ConfirmArgs,
) -> Result<u8> {
    if ws.readonly {
        bail!("--readonly: a rollback changes production and the audit log");
    }
    let now = crate::clock::now_ns();
    let prepared =
        services::rollback::prepare(conn, &ws.config, r, plan, now).map_err(|e| eyre!(e))?;
    runbook::confirm_run(
        prepared.procedure,
        prepared.target(),
        args,
        &prepared.tested,
    )?;
    let name = prepared.procedure.name.clone();
    let actor = crate::audit::actor();
    let operator = runbook::Prompt::new(args);
    let done = tokio::runtime::Runtime::new()?
        .block_on(services::rollback::run(
            conn,
            id,
            r,
            prepared,
            &actor,
            &operator,
            runbook::ctrl_c_twice(),
            |e| runbook::print_event(true, &e),
        ))
        .map_err(|e| eyre!(e))?;
    runbook::summarise(&name, Mode::Run, &done);
    if !done.ok() {
        bail!(
            "the rollback procedure {}; the rollout stays {}",
            done.outcome,
            r.state.word()
        );
    }
    if let Some(s) = r.seconds_to_rollback() {
        out!("rolled back {s:.1} s after the trigger fired");
    }
    let poll = std::time::Duration::from_secs(2);
    let check = crate::rollout::rollback::verify(conn, id, r, plan, &actor, poll, |c| {
        note!("verify: {}", c.describe());
    })
    .map_err(|e| eyre!(e))?;
    status(id, r, plan, crate::clock::now_ns(), false)?;
    Ok(u8::from(check.is_some_and(|c| !c.recovered())))
}

/// Ticks every `check_every` until the rollout leaves Running; exit 1 when it
/// triggered. Each tick is saved and audited like `rollout tick`.
fn watch(
    ws: &Workspace,
    conn: &rusqlite::Connection,
    id: i64,
    mut r: Rollout,
    plan: &Plan,
) -> Result<u8> {
    let actor = crate::audit::actor();
    let every = std::time::Duration::from_nanos(plan.check_every.as_nanos() as u64);
    let runtime = tokio::runtime::Runtime::new()?;
    loop {
        let now = crate::clock::now_ns();
        let cx = ops::Ctx {
            conn,
            config: &ws.config,
            actor: &actor,
            now_ns: now,
        };
        ops::apply(&cx, id, &mut r, plan, &Op::Tick).map_err(|e| eyre!(e))?;
        note!("{}", one_line(&r, plan, now));
        if r.state != State::Running {
            break;
        }
        let stopped = runtime.block_on(async {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => true,
                () = tokio::time::sleep(every) => false,
            }
        });
        if stopped {
            break;
        }
    }
    status(id, &r, plan, crate::clock::now_ns(), false)?;
    Ok(u8::from(r.state == State::Triggered))
}

/// A check as one line: state, stage, window left and the triggers' readings.
fn one_line(r: &Rollout, plan: &Plan, now: i64) -> String {
    let stage = &plan.stages[r.stage.min(plan.stages.len() - 1)];
    let triggers: Vec<String> = stage
        .triggers
        .iter()
        .map(|t| {
            let value = r.last.signals.get(&t.signal).and_then(|s| s.value);
            let streak = r.streaks.get(&t.name).copied().unwrap_or(0);
            format!(
                "{} {} ({}/{})",
                t.signal,
                value.map_or("-".into(), |v| format!("{v:.4}")),
                streak,
                t.consecutive
            )
        })
        .collect();
    format!(
        "{} {:?} · {} · window {} s left · {}",
        crate::clock::rfc3339(now),
        r.state,
        stage.name,
        r.window_left_ns(plan, now) / 1_000_000_000,
        triggers.join(", ")
    )
}

fn find_plan<'a>(ws: &'a Workspace, name: &str) -> Result<&'a Plan> {
    ws.config
        .rollouts
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| eyre!("no [[rollout]] plan named {name:?}"))
}

fn status(id: i64, r: &Rollout, plan: &Plan, now: i64, json: bool) -> Result<u8> {
    let blockers = r.blockers(plan, now);
    if json {
        let value = serde_json::json!({"id": id, "rollout": r, "stage_name": plan.stages[r.stage].name,
            "window_left_secs": r.window_left_ns(plan, now) / 1_000_000_000, "blockers": blockers,
            "worst_case_to_trigger_secs": r.worst_case_to_trigger_ns(plan).map(|n| n / 1_000_000_000),
            "seconds_to_rollback": r.seconds_to_rollback()});
        super::print_json(&value)?;
        return Ok(0);
    }
    let stage = &plan.stages[r.stage.min(plan.stages.len() - 1)];
    out!(
        "rollout {id}: {} ({} → {}) · {} · stage {} of {}: {} ({} %)",
        plan.name,
        r.previous.as_deref().unwrap_or("-"),
        r.release,
        r.state.word(),
        r.stage + 1,
        plan.stages.len(),
        stage.name,
        stage.weight
    );
    match (&r.fired, r.state) {
        (Some(f), State::Triggered) => {
            out!("TRIGGERED: {f} — roll back with `relops rollout rollback`")
        }
        (Some(f), _) => out!("  fired: {f}"),
        _ => {}
    }
    for (name, s) in &r.items {
        let (mark, why) = match s {
            ItemState::Pass(w) => ("[x]", w),
            ItemState::Fail(w) => ("[!]", w),
            ItemState::Pending(w) => ("[ ]", w),
        };
        out!("  {mark} {name}: {why}");
    }
    if matches!(r.state, State::Running | State::Held) {
        for b in blockers {
            out!("  blocks promotion: {b}");
        }
    }
    if r.state == State::Running || r.state == State::Held {
        out!("  {}", one_line(r, plan, now));
        if let Some(ns) = r.worst_case_to_trigger_ns(plan) {
            out!(
                "  worst case from a breach to the trigger: {} s (checks every {})",
                ns / 1_000_000_000,
                plan.check_every
            );
        }
    }
    if let Some(s) = r.seconds_to_rollback() {
        out!("  rolled back {s:.1} s after the trigger fired");
    }
    if let (Some(done), Some(ok)) = (r.rolled_back_ns, r.recovered_ns) {
        out!(
            "  signals recovered {:.1} s after the rollback",
            (ok - done) as f64 / 1e9
        );
    }
    Ok(0)
}
