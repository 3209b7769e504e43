//! The rollout state machine, pure: readings in, state and events out. Persisting it,
//! reading live signals and running procedures happen around it.
//!
//! ```text
//!            tick (trigger streak reached)
//!  Running ───────────────────────────────▶ Triggered ──rollback──▶ RolledBack
//!   │  ▲ promote (items pass, window over,     │ hold
//!   │  │          approvals given)             ▼
//!   │  └─ next stage ◀── resume ─────────────  Held ──rollback──▶ RolledBack
//!   └─ promote at the last stage ──▶ Completed
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::plan::{ItemKind, Plan, Stage};
use crate::drift::Verdict;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Running,
    Triggered,
    Held,
    RolledBack,
    Completed,
}

impl State {
    /// `RUNNING`, `ROLLED BACK`...: the word the console, the CLI and pages show.
    pub fn word(self) -> &'static str {
        match self {
            State::Running => "RUNNING",
            State::Triggered => "TRIGGERED",
            State::Held => "HELD",
            State::RolledBack => "ROLLED BACK",
            State::Completed => "COMPLETED",
        }
    }
}

/// A signal as the latest check read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub verdict: Verdict,
    /// The release's current value, when there is one.
    pub value: Option<f64>,
    /// The release's observations behind `value` (requests, tool calls...).
    #[serde(default)]
    pub n: u64,
}

/// What a check knows: signal readings and whether the release's gate ships.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub signals: BTreeMap<String, Reading>,
    pub gate_ships: Option<bool>,
    /// When it was read (0: never).
    #[serde(default)]
    pub at_ns: i64,
}

impl Evidence {
    /// The first 12 hex digits of the SHA-256 of the readings: short enough to show
    /// beside a name, long enough to match against the audit's copy.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let json = serde_json::to_string(self).expect("evidence serialises");
        hex::encode(Sha256::digest(json.as_bytes()))[..12].to_string()
    }
}

/// An item's state after a check. Too little data keeps an item pending: it never
/// passes for want of evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", content = "why", rename_all = "lowercase")]
pub enum ItemState {
    Pending(String),
    Pass(String),
    Fail(String),
}

impl ItemState {
    /// `pending`, `pass` or `fail`, without the reason.
    pub fn word(&self) -> &'static str {
        match self {
            ItemState::Pending(_) => "pending",
            ItemState::Pass(_) => "pass",
            ItemState::Fail(_) => "fail",
        }
    }
}

/// A rollout in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub plan: String,
    pub release: String,
    pub previous: Option<String>,
    pub state: State,
    pub stage: usize,
    pub stage_started_ns: i64,
    /// Manual items ticked in this stage.
    pub ticked: BTreeSet<String>,
    /// Who approved this stage.
    pub approvals: BTreeSet<String>,
    /// Consecutive failing checks per trigger.
    pub streaks: BTreeMap<String, u32>,
    pub items: BTreeMap<String, ItemState>,
    /// The trigger that fired, with the value that fired it.
    pub fired: Option<String>,
    /// The latest check's readings (what the checklist view shows for the triggers).
    #[serde(default)]
    pub last: Evidence,
    /// When a trigger fired, the rollback finished and the signals recovered: the time
    /// to roll back is measured from the first.
    #[serde(default)]
    pub fired_ns: Option<i64>,
    #[serde(default)]
    pub rolled_back_ns: Option<i64>,
    #[serde(default)]
    pub recovered_ns: Option<i64>,
    /// Who held the rollout, and when (while it is held).
    #[serde(default)]
    pub held: Option<(String, i64)>,
    /// Who started the rollout: their approval does not count (four eyes) unless the
    /// plan says `allow_self_approval = true`.
    #[serde(default)]
    pub started_by: Option<String>,
    /// Each approver's digest of the evidence they approved on (the readings shown and
    /// the gate's verdict): the console shows it beside the name, the audit keeps the
    /// evidence itself.
    #[serde(default)]
    pub approval_evidence: BTreeMap<String, String>,
    /// The stored revision this state was read at: a change saved on an older one is
    /// refused (see [`super::store::save`]). Not part of the snapshot.
    #[serde(skip)]
    pub revision: i64,
}

/// Why an operator action was refused.
pub type Refusal = String;

impl Rollout {
    pub fn start(plan: &Plan, release: &str, previous: Option<&str>, now_ns: i64) -> Self {
        let mut r = Self {
            plan: plan.name.clone(),
            release: release.into(),
            previous: previous.map(Into::into),
            state: State::Running,
            stage: 0,
            stage_started_ns: now_ns,
            ticked: BTreeSet::new(),
            approvals: BTreeSet::new(),
            streaks: BTreeMap::new(),
            items: BTreeMap::new(),
            fired: None,
            last: Evidence::default(),
            fired_ns: None,
            rolled_back_ns: None,
            recovered_ns: None,
            held: None,
            started_by: None,
            approval_evidence: BTreeMap::new(),
            revision: 0,
        };
        r.evaluate(plan, &Evidence::default());
        r
    }

    fn current<'p>(&self, plan: &'p Plan) -> &'p Stage {
        &plan.stages[self.stage.min(plan.stages.len() - 1)]
    }

    /// Nanoseconds left in the stage's window (0 when it has passed).
    pub fn window_left_ns(&self, plan: &Plan, now_ns: i64) -> i64 {
        let end = self.stage_started_ns + self.current(plan).window.as_nanos();
        (end - now_ns).max(0)
    }

    /// A check: items re-evaluated, trigger streaks counted; a streak that reaches its
    /// count turns the rollout Triggered (also while it waits for approvals or is held).
    pub fn tick(&mut self, plan: &Plan, evidence: &Evidence) {
        if matches!(self.state, State::RolledBack | State::Completed) {
            return;
        }
        self.evaluate(plan, evidence);
        self.last = evidence.clone();
        for t in &self.current(plan).triggers {
            let reading = evidence.signals.get(&t.signal);
            // A threshold read off a handful of requests is no evidence either way:
            // the streak waits.
            if t.above.is_some() && reading.is_some_and(|r| r.n < t.min_n) {
                continue;
            }
            let failing = reading.is_some_and(|r| match t.above {
                Some(limit) => r.value.is_some_and(|v| v > limit),
                None => r.verdict == Verdict::Fail,
            });
            let streak = self.streaks.entry(t.name.clone()).or_default();
            *streak = if failing { *streak + 1 } else { 0 };
            if *streak >= t.consecutive && self.state != State::Triggered {
                let value = evidence.signals.get(&t.signal).and_then(|r| r.value);
                self.fired = Some(format!(
                    "{}: {} {} for {} checks",
                    t.name,
                    t.signal,
                    value.map_or("failed".to_string(), |v| format!("at {v:.4}")),
                    streak
                ));
                self.state = State::Triggered;
                self.fired_ns = Some(evidence.at_ns);
            }
        }
    }

    fn evaluate(&mut self, plan: &Plan, evidence: &Evidence) {
        let stage = self.current(plan);
        self.items = stage
            .items
            .iter()
            .map(|i| {
                let reading = i.signal.as_ref().and_then(|s| evidence.signals.get(s));
                let state = match (i.kind, reading) {
                    (ItemKind::Manual, _) if self.ticked.contains(&i.name) => {
                        ItemState::Pass("ticked".into())
                    }
                    (ItemKind::Manual, _) => ItemState::Pending("waits for a tick".into()),
                    (ItemKind::Gate, _) => match evidence.gate_ships {
                        Some(true) => ItemState::Pass("the latest gate ships".into()),
                        Some(false) => ItemState::Fail("the latest gate holds".into()),
                        None => ItemState::Pending("no gate run for the release".into()),
                    },
                    (_, None) => ItemState::Pending("no reading yet".into()),
                    (ItemKind::Drift, Some(r)) => match r.verdict {
                        Verdict::Ok => ItemState::Pass("drift ok".into()),
                        Verdict::Fail => ItemState::Fail("drift fails".into()),
                        Verdict::Warn => ItemState::Pending("drift inconclusive".into()),
                        Verdict::Insufficient => ItemState::Pending("not enough data".into()),
                    },
                    (ItemKind::Threshold, Some(r)) => {
                        let max = i.max.unwrap_or(f64::INFINITY);
                        match r.value {
                            // One request under the limit is no evidence it holds.
                            _ if r.n < i.min_n => ItemState::Pending(format!(
                                "not enough data ({} of {} observations)",
                                r.n, i.min_n
                            )),
                            None => ItemState::Pending("not enough data".into()),
                            Some(v) if v <= max => ItemState::Pass(format!("{v:.4} ≤ {max}")),
                            Some(v) => ItemState::Fail(format!("{v:.4} > {max}")),
                        }
                    }
                };
                (i.name.clone(), state)
            })
            .collect();
    }

    /// Ticks a manual item of the current stage.
    pub fn check(&mut self, plan: &Plan, item: &str) -> Result<(), Refusal> {
        let stage = self.current(plan);
        match stage.items.iter().find(|i| i.name == item) {
            Some(i) if i.kind == ItemKind::Manual => {
                self.ticked.insert(item.into());
                self.items
                    .insert(item.into(), ItemState::Pass("ticked".into()));
                Ok(())
            }
            Some(_) => Err(format!("{item:?} is evaluated from signals, not ticked")),
            None => Err(format!("stage {:?} has no item {item:?}", stage.name)),
        }
    }

    /// Records `actor`'s approval of the current stage on the evidence shown now; the
    /// evidence's digest. The one who started the rollout cannot approve it unless the
    /// plan allows it, and an approval is given once.
    pub fn approve(&mut self, plan: &Plan, actor: &str) -> Result<String, Refusal> {
        self.must_be(&[State::Running, State::Held])?;
        if self.started_by.as_deref() == Some(actor) && !plan.allow_self_approval {
            return Err(format!(
                "{actor} started this rollout: its approval must come from someone else \
                 (four eyes; `allow_self_approval = true` in plan {:?} allows it)",
                plan.name
            ));
        }
        if self.approvals.contains(actor) {
            return Err(format!("{actor} has already approved this stage"));
        }
        let digest = self.last.digest();
        self.approvals.insert(actor.into());
        self.approval_evidence.insert(actor.into(), digest.clone());
        Ok(digest)
    }

    /// What still stands between the stage and its promotion.
    pub fn blockers(&self, plan: &Plan, now_ns: i64) -> Vec<String> {
        let stage = self.current(plan);
        let mut out: Vec<String> = self
            .items
            .iter()
            .filter(|(_, s)| !matches!(s, ItemState::Pass(_)))
            .map(|(name, s)| format!("{name}: {}", describe(s)))
            .collect();
        let left = self.window_left_ns(plan, now_ns);
        if left > 0 {
            out.push(format!("window: {} s left", left / 1_000_000_000));
        }
        if (self.approvals.len() as u32) < stage.approvals {
            out.push(format!(
                "approvals: {} of {}",
                self.approvals.len(),
                stage.approvals
            ));
        }
        out
    }

    /// Moves to the next stage, or completes at the last one.
    pub fn promote(&mut self, plan: &Plan, now_ns: i64) -> Result<(), Refusal> {
        self.must_be(&[State::Running])?;
        let blockers = self.blockers(plan, now_ns);
        if !blockers.is_empty() {
            return Err(format!("not yet: {}", blockers.join("; ")));
        }
        if self.stage + 1 >= plan.stages.len() {
            self.state = State::Completed;
            return Ok(());
        }
        self.stage += 1;
        self.stage_started_ns = now_ns;
        self.ticked.clear();
        self.approvals.clear();
        self.approval_evidence.clear();
        self.streaks.clear();
        self.evaluate(plan, &Evidence::default());
        Ok(())
    }

    pub fn hold(&mut self, actor: &str, now_ns: i64) -> Result<(), Refusal> {
        self.must_be(&[State::Running])?;
        self.state = State::Held;
        self.held = Some((actor.to_string(), now_ns));
        Ok(())
    }

    pub fn resume(&mut self) -> Result<(), Refusal> {
        self.must_be(&[State::Held])?;
        self.state = State::Running;
        self.held = None;
        Ok(())
    }

    /// Records that the rollback procedure ran to the end.
    pub fn rolled_back(&mut self, now_ns: i64) -> Result<(), Refusal> {
        self.must_be(&[State::Running, State::Triggered, State::Held])?;
        self.state = State::RolledBack;
        self.rolled_back_ns = Some(now_ns);
        Ok(())
    }

    /// Seconds from the trigger to the end of the rollback, once both happened.
    pub fn seconds_to_rollback(&self) -> Option<f64> {
        let (fired, done) = (self.fired_ns?, self.rolled_back_ns?);
        Some((done - fired).max(0) as f64 / 1e9)
    }

    /// The worst case from a sustained breach starting now to the trigger firing: the
    /// checks each trigger still needs, one `check_every` apart. `None` without triggers.
    pub fn worst_case_to_trigger_ns(&self, plan: &Plan) -> Option<i64> {
        let every = plan.check_every.as_nanos();
        self.current(plan)
            .triggers
            .iter()
            .map(|t| {
                let streak = self.streaks.get(&t.name).copied().unwrap_or(0);
                i64::from(t.consecutive.saturating_sub(streak).max(1)) * every
            })
            .max()
    }

    fn must_be(&self, states: &[State]) -> Result<(), Refusal> {
        if states.contains(&self.state) {
            Ok(())
        } else {
            Err(format!("the rollout is {:?}", self.state).to_lowercase())
        }
    }
}

fn describe(s: &ItemState) -> &str {
    match s {
        ItemState::Pending(w) | ItemState::Pass(w) | ItemState::Fail(w) => w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::plan::tests::plan;

    const MIN: i64 = 60_000_000_000;

    fn reading(verdict: Verdict, value: f64) -> Evidence {
        let mut e = Evidence::default();
        e.signals.insert(
            "refusal_rate".into(),
            Reading {
                verdict,
                value: Some(value),
                n: if verdict == Verdict::Insufficient {
                    5
                } else {
                    500
                },
            },
        );
        e
    }

    fn ready(r: &mut Rollout) {
        r.check(&plan(), "dashboards reviewed").unwrap();
        r.approve(&plan(), "ana").unwrap();
        r.tick(&plan(), &reading(Verdict::Ok, 0.02));
    }

    #[test]
    fn a_threshold_item_on_one_request_neither_passes_nor_promotes() {
        let p = plan();
        let mut r = Rollout::start(&p, "v3", Some("v2"), 0);
        r.check(&p, "dashboards reviewed").unwrap();
        r.approve(&p, "ana").unwrap();
        let mut one = reading(Verdict::Ok, 0.0);
        one.signals.get_mut("refusal_rate").unwrap().n = 1;
        r.tick(&p, &one);
        assert_eq!(
            r.items["refusals under 5 %"],
            ItemState::Pending("not enough data (1 of 30 observations)".into())
        );
        let err = r.promote(&p, 31 * MIN).unwrap_err();
        assert!(err.contains("refusals under 5 %: not enough data"), "{err}");
        r.tick(&p, &reading(Verdict::Ok, 0.02));
        assert!(matches!(r.items["refusals under 5 %"], ItemState::Pass(_)));
    }

    #[test]
    fn insufficient_data_keeps_items_pending_and_blocks_promotion() {
        let p = plan();
        let mut r = Rollout::start(&p, "v3", Some("v2"), 0);
        r.tick(&p, &reading(Verdict::Insufficient, 0.02));
        assert_eq!(
            r.items["refusals hold"],
            ItemState::Pending("not enough data".into())
        );
        let err = r.promote(&p, 31 * MIN).unwrap_err();
        assert!(err.contains("refusals hold: not enough data"), "{err}");
        // Nor does a handful of requests over a trigger's limit count towards it.
        r.tick(&p, &reading(Verdict::Fail, 0.5));
        r.tick(&p, &reading(Verdict::Insufficient, 0.5));
        assert_eq!(
            r.streaks["refusal spike"], 1,
            "five requests: the streak waits"
        );
        r.tick(&p, &reading(Verdict::Fail, 0.5));
        assert_eq!(r.state, State::Triggered);
        assert!(
            err.contains("dashboards reviewed: waits for a tick"),
            "{err}"
        );
    }

    #[test]
    fn promotion_needs_items_window_and_approvals_then_advances() {
        let p = plan();
        let mut r = Rollout::start(&p, "v3", Some("v2"), 0);
        ready(&mut r);
        let early = r.promote(&p, 10 * MIN).unwrap_err();
        assert!(early.contains("window: 1200 s left"), "{early}");
        r.promote(&p, 31 * MIN).unwrap();
        assert_eq!(
            (r.stage, r.state, r.stage_started_ns),
            (1, State::Running, 31 * MIN)
        );
        assert!(r.approvals.is_empty() && r.ticked.is_empty());
        r.promote(&p, 92 * MIN).unwrap();
        assert_eq!(r.state, State::Completed);
        assert!(r.hold("ana", 1).is_err(), "nothing to hold once completed");
    }

    #[test]
    fn a_trigger_fires_after_its_streak_even_while_approvals_wait() {
        let p = plan();
        let mut r = Rollout::start(&p, "v3", Some("v2"), 0);
        assert_eq!(r.worst_case_to_trigger_ns(&p), Some(60_000_000_000));
        r.check(&p, "dashboards reviewed").unwrap();
        r.tick(&p, &reading(Verdict::Fail, 0.08));
        assert_eq!(r.state, State::Running, "one check is not a streak");
        r.tick(&p, &reading(Verdict::Ok, 0.02));
        r.tick(&p, &reading(Verdict::Fail, 0.08));
        assert_eq!(r.state, State::Running, "the streak restarted");
        r.tick(&p, &reading(Verdict::Fail, 0.09));
        assert_eq!(r.state, State::Triggered);
        assert!(
            r.fired
                .as_deref()
                .unwrap()
                .contains("refusal spike: refusal_rate at 0.0900 for 2 checks")
        );
        assert!(r.promote(&p, 40 * MIN).is_err());
        let mut fired = reading(Verdict::Fail, 0.09);
        fired.at_ns = 100 * 1_000_000_000;
        let mut timed = Rollout::start(&p, "v3", Some("v2"), 0);
        timed.tick(&p, &fired);
        timed.tick(&p, &fired);
        assert_eq!(timed.fired_ns, Some(fired.at_ns));
        r.fired_ns = Some(fired.at_ns);
        r.rolled_back(142 * 1_000_000_000).unwrap();
        assert_eq!(r.seconds_to_rollback(), Some(42.0));
        assert_eq!(r.state, State::RolledBack);
        r.tick(&p, &reading(Verdict::Fail, 0.5));
        assert_eq!(
            r.state,
            State::RolledBack,
            "a finished rollout does not tick"
        );
    }

    #[test]
    fn a_held_rollout_still_triggers_and_resumes() {
        let p = plan();
        let mut r = Rollout::start(&p, "v3", None, 0);
        r.hold("ana", 1).unwrap();
        assert!(r.promote(&p, 40 * MIN).is_err());
        r.resume().unwrap();
        r.hold("ana", 1).unwrap();
        for _ in 0..2 {
            r.tick(&p, &reading(Verdict::Fail, 0.07));
        }
        assert_eq!(r.state, State::Triggered);
    }

    #[test]
    fn only_manual_items_are_ticked() {
        let p = plan();
        let mut r = Rollout::start(&p, "v3", None, 0);
        assert!(
            r.check(&p, "refusals hold")
                .unwrap_err()
                .contains("evaluated from signals")
        );
        assert!(r.check(&p, "nope").unwrap_err().contains("no item"));
    }

    #[test]
    fn the_initiator_cannot_approve_and_each_approval_keeps_its_evidence_digest() {
        let mut p = plan();
        let mut r = Rollout::start(&p, "v3", Some("v2"), 0);
        r.started_by = Some("ana".into());
        let err = r.approve(&p, "ana").unwrap_err();
        assert!(
            err.contains("ana started this rollout") && err.contains("allow_self_approval"),
            "{err}"
        );
        assert!(r.approvals.is_empty());
        r.tick(&p, &reading(Verdict::Ok, 0.02));
        let digest = r.approve(&p, "bob").unwrap();
        assert_eq!(digest.len(), 12);
        assert_eq!(r.approval_evidence["bob"], digest);
        assert_eq!(digest, r.last.digest(), "the digest of what bob saw");
        assert!(
            r.approve(&p, "bob")
                .unwrap_err()
                .contains("already approved")
        );
        // Other readings, another digest.
        r.tick(&p, &reading(Verdict::Ok, 0.03));
        assert_ne!(r.last.digest(), digest);
        // A team of one says so in its plan.
        p.allow_self_approval = true;
        r.approve(&p, "ana").unwrap();
        assert_eq!(r.approvals.len(), 2);
    }
}
