//! Rolling a rollout back: its plan's procedure run against production with the
//! rollout's versions, then the rollout marked rolled back. Waiting for recovery is
//! the caller's (the CLI and the console wait; the guard checks once per cycle).

use std::future::Future;

use rusqlite::Connection;

use super::procedure::{self, Request};
use crate::config::Config;
use crate::rollout::machine::Rollout;
use crate::rollout::plan::Plan;
use crate::rollout::{rollback, store};
use crate::runbook::Procedure;
use crate::runbook::exec::{Event, Mode, Operator};
use crate::runbook::job::Finished;
use crate::runbook::record::{self, Tested};
use crate::runbook::vars::Inputs;

/// What a rollback would run, known before anyone confirms it.
pub struct Prepared<'a> {
    pub procedure: &'a Procedure,
    /// `target` (the previous version), `previous`, `release` and the secrets.
    pub inputs: Inputs,
    /// Whether a fresh rehearsal stands behind it.
    pub tested: Tested,
}

impl Prepared<'_> {
    /// The version production moves to.
    pub fn target(&self) -> &str {
        self.inputs.vars.get("target").map_or("", String::as_str)
    }
}

/// The rollback `plan` offers for `r`, with its rehearsal state at `now_ns`.
pub fn prepare<'a>(
    conn: &Connection,
    config: &'a Config,
    r: &Rollout,
    plan: &Plan,
    now_ns: i64,
) -> Result<Prepared<'a>, String> {
    let name = plan
        .rollback_procedure
        .as_deref()
        .ok_or_else(|| format!("plan {} names no rollback_procedure", plan.name))?;
    let procedure = procedure::find(config, name)?;
    let inputs = procedure::inputs(procedure, rollback::vars(r)?)?;
    let tested =
        record::tested(conn, procedure, &config.runbook, now_ns).map_err(|e| e.to_string())?;
    Ok(Prepared {
        procedure,
        inputs,
        tested,
    })
}

/// Runs the prepared procedure as `actor` while holding rollout `id`'s rollback lease
/// (a second operator, or the guard, is told who is rolling back since when instead of
/// running it twice); when it succeeds, the rollout is marked rolled back. The run's
/// record either way.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    conn: &Connection,
    id: i64,
    r: &mut Rollout,
    prepared: Prepared<'_>,
    actor: &str,
    operator: &dyn Operator,
    stop: impl Future<Output = ()>,
    on_event: impl FnMut(Event),
) -> Result<Finished, String> {
    let name = prepared.procedure.name.clone();
    store::claim_rollback(
        conn,
        id,
        actor,
        crate::clock::now_ns(),
        lease_term(prepared.procedure),
    )?;
    let req = Request {
        procedure: prepared.procedure,
        mode: Mode::Run,
        inputs: &prepared.inputs,
        actor,
    };
    let done = procedure::run(conn, req, operator, stop, on_event).await;
    let finished = match &done {
        Ok(done) if done.ok() => rollback::finished(conn, id, r, actor, &name, done.run),
        _ => Ok(()),
    };
    store::release_rollback(conn, id, actor).map_err(|e| e.to_string())?;
    finished?;
    done
}

/// How long a rollback lease holds without its holder: every step's timeout and a
/// minute, so a run that died mid-way does not block the next one for good.
fn lease_term(p: &Procedure) -> i64 {
    let steps: i64 = p.steps.iter().map(|s| s.timeout.as_nanos()).sum();
    steps.saturating_add(60 * 1_000_000_000)
}
