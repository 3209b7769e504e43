//! `relops rollout start | status | tick | check | approve | promote | hold | resume |
//! rollback`: the rollout state machine, headless. Every change is audited.

use clap::Subcommand;
use color_eyre::eyre::{Result, bail, eyre};

use crate::rollout::machine::{ItemState, Rollout, State};
use crate::rollout::{Plan, evidence, store};
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
    /// rollout is rolled back.
    Rollback(super::runbook::ConfirmArgs),
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
        let r = Rollout::start(
            plan,
            &release_row.label,
            previous_row.as_ref().map(|v| v.label.as_str()),
            now,
        );
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
        store::save(conn, id, &r, &change)?;
        println!(
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
    let (kind, item, evidence) = match cmd {
        RolloutCommand::Status { json } => return status(id, &r, plan, now, *json),
        RolloutCommand::Tick => {
            let e = evidence::gather(conn, &ws.config, plan, &r);
            r.tick(plan, &e);
            ("tick", None, serde_json::to_value(&e)?)
        }
        RolloutCommand::Check { item } => {
            r.check(plan, item).map_err(|e| eyre!(e))?;
            ("check", Some(item.as_str()), serde_json::json!({}))
        }
        RolloutCommand::Approve => {
            r.approve(&actor).map_err(|e| eyre!(e))?;
            ("approve", None, serde_json::json!({}))
        }
        RolloutCommand::Promote => {
            let e = evidence::gather(conn, &ws.config, plan, &r);
            r.tick(plan, &e);
            r.promote(plan, now).map_err(|e| eyre!(e))?;
            ("promote", None, serde_json::to_value(&e)?)
        }
        RolloutCommand::Hold => {
            r.hold().map_err(|e| eyre!(e))?;
            ("hold", None, serde_json::json!({}))
        }
        RolloutCommand::Resume => {
            r.resume().map_err(|e| eyre!(e))?;
            ("resume", None, serde_json::json!({}))
        }
        RolloutCommand::Rollback(args) => {
            let procedure = plan
                .rollback_procedure
                .clone()
                .ok_or_else(|| eyre!("plan {} names no rollback_procedure", plan.name))?;
            let target = r
                .previous
                .clone()
                .ok_or_else(|| eyre!("the rollout names no previous version to roll back to"))?;
            let code = super::runbook::rollback(ws, &procedure, &target, args)?;
            if code != 0 {
                bail!(
                    "the rollback procedure did not finish; the rollout stays {:?}",
                    r.state
                );
            }
            r.rolled_back().map_err(|e| eyre!(e))?;
            (
                "rollback",
                None,
                serde_json::json!({"procedure": procedure, "target": target}),
            )
        }
        RolloutCommand::Start { .. } => unreachable!("handled above"),
    };
    let change = store::Change {
        actor: &actor,
        kind,
        item,
        evidence,
        now_ns: now,
    };
    store::save(conn, id, &r, &change)?;
    status(id, &r, plan, now, false)?;
    Ok(u8::from(r.state == State::Triggered))
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
            "window_left_secs": r.window_left_ns(plan, now) / 1_000_000_000, "blockers": blockers});
        super::print_json(&value)?;
        return Ok(0);
    }
    let stage = &plan.stages[r.stage.min(plan.stages.len() - 1)];
    println!(
        "rollout {id}: {} ({} → {}) · {:?} · stage {} of {}: {} ({} %)",
        plan.name,
        r.previous.as_deref().unwrap_or("-"),
        r.release,
        r.state,
        r.stage + 1,
        plan.stages.len(),
        stage.name,
        stage.weight
    );
    if let Some(f) = &r.fired {
        println!("TRIGGERED: {f} — roll back with `relops rollout rollback`");
    }
    for (name, s) in &r.items {
        let (mark, why) = match s {
            ItemState::Pass(w) => ("[x]", w),
            ItemState::Fail(w) => ("[!]", w),
            ItemState::Pending(w) => ("[ ]", w),
        };
        println!("  {mark} {name}: {why}");
    }
    for b in blockers {
        println!("  blocks promotion: {b}");
    }
    Ok(0)
}
