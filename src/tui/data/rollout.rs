//! The Rollout pane's data: the newest rollout with its plan, the plan's procedures
//! with their rehearsal state, and the latest events. Read-only, on the loader.

use rusqlite::{Connection, params};

use crate::config::Config;
use crate::rollout::{Plan, Rollout, store};
use crate::runbook::record::{self, Tested};

/// Events shown under the checklist.
const EVENTS: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub struct RolloutView {
    pub id: i64,
    pub rollout: Rollout,
    pub plan: Plan,
    /// The plan's rollback procedure first, then its promote procedure.
    pub procedures: Vec<ProcedureRow>,
    /// Newest first.
    pub events: Vec<EventRow>,
    /// The workspace's guard, when one has run: while alive, it does the checks.
    pub guard: Option<crate::guard::Heartbeat>,
    /// Who is rolling it back right now (another operator, the guard), if anyone.
    pub rollback_lease: Option<crate::rollout::store::RollbackLease>,
}

impl RolloutView {
    /// The rollback procedure's row, when the plan names one that exists.
    pub fn rollback(&self) -> Option<&ProcedureRow> {
        let name = self.plan.rollback_procedure.as_deref()?;
        self.procedures.iter().find(|p| p.name == name)
    }

    /// A live guard checks this rollout; the console shows its results.
    pub fn guarded(&self) -> bool {
        self.guard.as_ref().is_some_and(|g| g.alive)
    }

    /// Still in flight: running, triggered or held.
    pub fn active(&self) -> bool {
        use crate::rollout::State::*;
        matches!(self.rollout.state, Running | Triggered | Held)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProcedureRow {
    pub name: String,
    /// `rollback` or `promote`.
    pub role: &'static str,
    pub steps: usize,
    pub tested: Tested,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub at_ns: i64,
    pub actor: String,
    pub kind: String,
    pub item: Option<String>,
    /// Identical checks folded into this one, and the last one's time.
    pub repeats: i64,
    pub last_ns: i64,
}

/// The newest rollout as the pane shows it; `None` when there is none or its plan is
/// gone from the config.
pub fn load(
    conn: &Connection,
    config: &Config,
    now_ns: i64,
) -> rusqlite::Result<Option<RolloutView>> {
    let Some((id, rollout)) = store::newest(conn)? else {
        return Ok(None);
    };
    let Some(plan) = config
        .rollouts
        .iter()
        .find(|p| p.name == rollout.plan)
        .cloned()
    else {
        return Ok(None);
    };
    let roles = [
        ("rollback", plan.rollback_procedure.as_deref()),
        ("promote", plan.promote_procedure.as_deref()),
    ];
    let mut procedures = Vec::new();
    for (role, name) in roles {
        let Some(p) = name.and_then(|n| config.procedures.iter().find(|p| p.name == n)) else {
            continue;
        };
        procedures.push(ProcedureRow {
            name: p.name.clone(),
            role,
            steps: p.steps.len(),
            tested: record::tested(conn, p, &config.runbook, now_ns)?,
        });
    }
    Ok(Some(RolloutView {
        id,
        events: events(conn, id)?,
        guard: crate::guard::heartbeat(conn, config)?,
        rollback_lease: crate::rollout::store::rollback_lease(conn, id)?,
        rollout,
        plan,
        procedures,
    }))
}

fn events(conn: &Connection, id: i64) -> rusqlite::Result<Vec<EventRow>> {
    conn.prepare(
        "SELECT at, actor, kind, item, repeats, COALESCE(last_at, at) FROM rollout_events
         WHERE rollout_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?
    .query_map(params![id, EVENTS as i64], |r| {
        Ok(EventRow {
            at_ns: r.get(0)?,
            actor: r.get(1)?,
            kind: r.get(2)?,
            item: r.get(3)?,
            repeats: r.get(4)?,
            last_ns: r.get(5)?,
        })
    })?
    .collect()
}
