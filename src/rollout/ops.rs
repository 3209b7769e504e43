//! The operator's changes to a rollout in flight, shared by `relops rollout` and the
//! console: applied to the machine, then saved with their evidence and audited.

use rusqlite::Connection;

use super::machine::Rollout;
use super::plan::Plan;
use super::{evidence, store};
use crate::config::Config;

/// One change. A check and a promotion read the live signals first.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Tick,
    Check(String),
    Approve,
    Promote,
    Hold,
    Resume,
}

/// Who applies it, when, and where the rollout is stored.
pub struct Ctx<'a> {
    pub conn: &'a Connection,
    pub config: &'a Config,
    pub actor: &'a str,
    pub now_ns: i64,
}

/// Applies `op` to rollout `id` and saves it; the machine's refusal or the store's
/// error says why not.
pub fn apply(cx: &Ctx, id: i64, r: &mut Rollout, plan: &Plan, op: &Op) -> Result<(), String> {
    let mut evidence = serde_json::json!({});
    let mut read = |r: &mut Rollout| {
        let e = evidence::gather(cx.conn, cx.config, plan, r, cx.now_ns);
        r.tick(plan, &e);
        evidence = serde_json::to_value(&e).expect("evidence serialises");
    };
    let (kind, item) = match op {
        Op::Tick => {
            read(r);
            ("tick", None)
        }
        Op::Check(item) => {
            r.check(plan, item)?;
            ("check", Some(item.as_str()))
        }
        Op::Approve => {
            let digest = r.approve(plan, cx.actor)?;
            // The approval's audit row keeps what the approver saw.
            evidence = serde_json::json!({"digest": digest, "readings": r.last});
            ("approve", None)
        }
        Op::Promote => {
            read(r);
            r.promote(plan, cx.now_ns)?;
            ("promote", None)
        }
        Op::Hold => {
            r.hold(cx.actor, cx.now_ns)?;
            ("hold", None)
        }
        Op::Resume => {
            r.resume()?;
            ("resume", None)
        }
    };
    let change = store::Change {
        actor: cx.actor,
        kind,
        item,
        evidence,
        now_ns: cx.now_ns,
    };
    store::save(cx.conn, id, r, &change).map_err(|e| e.to_string())
}
