//! The end of a rollback, shared by `relops rollout rollback` and the console: the
//! rollout marked rolled back with the time it took, then the wait for the plan's
//! verify signals to recover. Both are saved as rollout events and audited.

use std::time::Duration;

use rusqlite::Connection;

use super::machine::Rollout;
use super::plan::Plan;
use super::recovery::{self, Check};
use super::store::{self, Change};

/// The variables a rollback procedure gets: where production goes, and from where.
pub fn vars(r: &Rollout) -> Result<crate::runbook::vars::Vars, String> {
    let target = r
        .previous
        .clone()
        .ok_or("the rollout names no previous version to roll back to")?;
    Ok([
        ("target".to_string(), target.clone()),
        ("previous".to_string(), target),
        ("release".to_string(), r.release.clone()),
    ]
    .into())
}

/// Marks the rollout rolled back after its procedure run `run` succeeded.
pub fn finished(
    conn: &Connection,
    id: i64,
    r: &mut Rollout,
    actor: &str,
    procedure: &str,
    run: i64,
) -> Result<(), String> {
    let now = crate::clock::now_ns();
    r.rolled_back(now)?;
    let evidence = serde_json::json!({
        "procedure": procedure, "run": run, "target": r.previous,
        "seconds_to_rollback": r.seconds_to_rollback(),
    });
    let change = Change {
        actor,
        kind: "rollback",
        item: None,
        evidence,
        now_ns: now,
    };
    store::save(conn, id, r, &change).map_err(|e| e.to_string())
}

/// Waits (checking every `poll`) until the verify signals recover or the plan's
/// `within` runs out; `on_check` hears every reading. The result is saved as a
/// `recovered` or `not-recovered` event. `None` when the plan verifies nothing.
pub fn verify(
    conn: &Connection,
    id: i64,
    r: &mut Rollout,
    plan: &Plan,
    actor: &str,
    poll: Duration,
    mut on_check: impl FnMut(&Check),
) -> Result<Option<Check>, String> {
    let (Some(verify), Some(since)) = (&plan.verify, r.rolled_back_ns) else {
        return Ok(None);
    };
    let deadline = since + verify.within.as_nanos();
    let check = loop {
        let now = crate::clock::now_ns();
        let at = recovery::Since {
            release: &r.release,
            previous: r.previous.as_deref(),
            since_ns: since,
            window_ns: plan.stages[r.stage.min(plan.stages.len() - 1)]
                .window
                .as_nanos(),
        };
        let c = recovery::check(conn, plan, at, now + 1).map_err(|e| e.to_string())?;
        on_check(&c);
        if c.recovered() || now >= deadline {
            break c;
        }
        std::thread::sleep(poll.min(Duration::from_nanos((deadline - now) as u64)));
    };
    let now = crate::clock::now_ns();
    let kind = if check.recovered() {
        r.recovered_ns = Some(now);
        "recovered"
    } else {
        "not-recovered"
    };
    let change = Change {
        actor,
        kind,
        item: None,
        evidence: serde_json::to_value(&check).expect("a check serialises"),
        now_ns: now,
    };
    store::save(conn, id, r, &change).map_err(|e| e.to_string())?;
    Ok(Some(check))
}
