//! What opening the demo prepares once its server is up: the `rollback` procedure
//! rehearsed against that server (so it is *tested*), and v3's rollout on the `canary`
//! plan. Both go through the functions `relops runbook rehearse` and `relops rollout
//! start` run, so they are recorded and audited the same way. Reopening repeats
//! neither while the rehearsal is fresh and the rollout in flight.

use color_eyre::eyre::{Result, bail};

use crate::cli::rollout::RolloutCommand;
use crate::cli::runbook::{ConfirmArgs, RunArgs, RunbookCommand};
use crate::runbook::record;
use crate::workspace::Workspace;

/// The demo config's plan and procedure, and the release it walks.
pub const PLAN: &str = "canary";
pub const PROCEDURE: &str = "rollback";
pub const RELEASE: &str = "v3";
pub const PREVIOUS: &str = "v2";

/// Rehearses the rollback if it is not tested, then starts the rollout if none is in
/// flight. A workspace whose config lacks the plan or the procedure (edited, or built
/// before they existed) is left alone.
pub fn prepare(ws: &Workspace) -> Result<()> {
    let config = &ws.config;
    let has_plan = config.rollouts.iter().any(|p| p.name == PLAN);
    let Some(procedure) = config.procedures.iter().find(|p| p.name == PROCEDURE) else {
        bail!("the config has no [[procedure]] named {PROCEDURE:?}");
    };
    if !has_plan {
        bail!("the config has no [[rollout]] plan named {PLAN:?}");
    }
    let conn = crate::store::open_reader(&ws.db_path)?;
    let now = crate::clock::now_ns();
    if !record::tested(&conn, procedure, &config.runbook, now)?.is_tested() {
        eprintln!("relops demo: rehearsing the {PROCEDURE} procedure against the demo server");
        let code = crate::cli::runbook::run(ws, &RunbookCommand::Rehearse(rehearsal()))?;
        if code != 0 {
            eprintln!(
                "relops demo: the rehearsal failed; `relops runbook rehearse {PROCEDURE}` retries it"
            );
        }
    }
    if crate::rollout::store::active(&conn)?.is_none() {
        let start = RolloutCommand::Start {
            plan: PLAN.into(),
            release: RELEASE.into(),
            previous: Some(PREVIOUS.into()),
        };
        crate::cli::rollout::run(ws, &start)?;
    }
    Ok(())
}

fn rehearsal() -> RunArgs {
    RunArgs {
        name: PROCEDURE.into(),
        target: None,
        vars: Vec::new(),
        confirm: ConfirmArgs {
            confirm: None,
            allow_untested: false,
            confirm_untested: false,
            yes: false,
        },
        json: false,
    }
}
