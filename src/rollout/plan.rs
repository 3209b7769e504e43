//! `[[rollout]]` plans: stages with a traffic weight, a monitoring window, checklist
//! items, rollback triggers and the approvals promotion needs.

use serde::{Deserialize, Serialize};

use crate::period::Period;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub name: String,
    #[serde(rename = "stage")]
    pub stages: Vec<Stage>,
    /// The procedure a trigger offers (and `rollback` runs).
    #[serde(default)]
    pub rollback_procedure: Option<String>,
    /// The procedure run on promotion, if any.
    #[serde(default)]
    pub promote_procedure: Option<String>,
    /// How often the console (or `relops rollout watch`) checks the live signals.
    #[serde(default = "thirty_seconds")]
    pub check_every: Period,
    /// After a rollback: the signals to wait for, and how long.
    #[serde(default)]
    pub verify: Option<Verify>,
    /// Lets the guard run `rollback_procedure` without a human when a trigger with
    /// `on_fire = "rollback"` fires, and only while its rehearsal is fresh.
    #[serde(default)]
    pub auto_rollback: bool,
    /// Lets the operator who started a rollout approve its stages (a team of one).
    /// Off by default: `approvals = N` counts N approvers other than the initiator.
    #[serde(default)]
    pub allow_self_approval: bool,
}

/// Post-rollback verification: each signal, read over the traffic served since the
/// rollback finished, must come back within the limit its stage's trigger (`above`) or
/// threshold item (`max`) sets, with the release no longer served.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    pub signals: Vec<String>,
    #[serde(default = "five_minutes")]
    pub within: Period,
    /// Requests needed since the rollback before a signal can count as recovered.
    #[serde(default = "thirty")]
    pub min_requests: u64,
}

fn thirty_seconds() -> Period {
    Period::secs(30)
}

fn five_minutes() -> Period {
    Period::secs(300)
}

fn thirty() -> u64 {
    30
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub name: String,
    /// Share of traffic in percent (shadow is 0).
    pub weight: u8,
    /// How long the stage is watched before it may be promoted.
    pub window: Period,
    /// Distinct approvers needed to promote.
    #[serde(default)]
    pub approvals: u32,
    #[serde(default, rename = "item")]
    pub items: Vec<Item>,
    #[serde(default, rename = "trigger")]
    pub triggers: Vec<Trigger>,
}

/// A checklist item: ticked by the operator, or evaluated from live signals.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub name: String,
    pub kind: ItemKind,
    /// drift, threshold: the signal (a drift signal name, or `series.<name>`).
    #[serde(default)]
    pub signal: Option<String>,
    /// threshold: the largest value that passes.
    #[serde(default)]
    pub max: Option<f64>,
    /// threshold: the observations a reading needs before it can pass or fail; fewer
    /// read "not enough data", as a trigger's streak waits.
    #[serde(default = "thirty")]
    pub min_n: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    /// The operator ticks it.
    Manual,
    /// Passes when the signal's drift verdict (release vs previous) is ok.
    Drift,
    /// Passes when the signal's current value is at most `max`.
    Threshold,
    /// Passes when the latest gate run of the release ships.
    Gate,
}

/// Fires when its signal fails (drift verdict, or above `above` over at least `min_n`
/// observations) for `consecutive` checks in a row.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    pub name: String,
    pub signal: String,
    #[serde(default)]
    pub above: Option<f64>,
    #[serde(default = "one")]
    pub consecutive: u32,
    /// With `above`: the observations a reading needs before it counts (fewer keep
    /// the streak where it is).
    #[serde(default = "thirty")]
    pub min_n: u64,
    /// A warning tier below `above`: the guard pages at warning severity while the
    /// value is over it (the trigger itself pages critical).
    #[serde(default)]
    pub warn_above: Option<f64>,
    /// What the guard does when the trigger fires.
    #[serde(default)]
    pub on_fire: OnFire,
}

/// The guard's policy for a trigger. Every choice pages; a fired trigger always stops
/// promotion (the machine's Triggered state) until a human rolls back or resumes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFire {
    /// Page only; the rollout stays triggered for a human.
    Notify,
    /// Page, and hold the rollout when the trigger's check stays without enough data
    /// past `[guard] no_data_after`: an inconclusive check never lets it promote.
    #[default]
    Hold,
    /// Page, run the plan's rollback procedure (`auto_rollback = true` and a fresh
    /// rehearsal required), page again with the outcome.
    Rollback,
}

fn one() -> u32 {
    1
}

impl Plan {
    /// What serde cannot check; the message names the stage and item.
    pub fn check(&self) -> Result<(), String> {
        if self.stages.is_empty() {
            return Err("a rollout plan needs at least one stage".into());
        }
        for s in &self.stages {
            if s.weight > 100 {
                return Err(format!(
                    "stage {:?}: weight {} is over 100",
                    s.name, s.weight
                ));
            }
            for i in &s.items {
                let needs_signal = matches!(i.kind, ItemKind::Drift | ItemKind::Threshold);
                if needs_signal && i.signal.is_none() {
                    return Err(format!(
                        "stage {:?}, item {:?}: needs `signal`",
                        s.name, i.name
                    ));
                }
                if i.kind == ItemKind::Threshold && i.max.is_none() {
                    return Err(format!(
                        "stage {:?}, item {:?}: needs `max`",
                        s.name, i.name
                    ));
                }
            }
            if let Some(t) = s.triggers.iter().find(|t| t.consecutive == 0) {
                return Err(format!(
                    "stage {:?}, trigger {:?}: consecutive must be at least 1",
                    s.name, t.name
                ));
            }
            let automatic = s.triggers.iter().find(|t| t.on_fire == OnFire::Rollback);
            if let Some(t) = automatic.filter(|_| !self.auto_rollback) {
                return Err(format!(
                    "stage {:?}, trigger {:?}: on_fire = \"rollback\" needs `auto_rollback = true` on the plan (a rollback without a human is opted into once, per plan)",
                    s.name, t.name
                ));
            }
            if let Some(t) = automatic.filter(|_| self.rollback_procedure.is_none()) {
                return Err(format!(
                    "stage {:?}, trigger {:?}: on_fire = \"rollback\" needs the plan's `rollback_procedure`",
                    s.name, t.name
                ));
            }
        }
        for signal in self.verify.iter().flat_map(|v| &v.signals) {
            if self.limit(signal).is_none() {
                return Err(format!(
                    "verify: {signal:?} has no limit to recover under; give a stage a trigger with `above` or a threshold item with `max` on it"
                ));
            }
        }
        if self.check_every.as_nanos() <= 0 {
            return Err("check_every must be longer than zero".into());
        }
        Ok(())
    }

    /// The value a signal must come back under: the lowest `above` or `max` any stage
    /// sets for it.
    pub fn limit(&self, signal: &str) -> Option<f64> {
        let triggers = self.stages.iter().flat_map(|s| &s.triggers);
        let items = self.stages.iter().flat_map(|s| &s.items);
        triggers
            .filter(|t| t.signal == signal)
            .filter_map(|t| t.above)
            .chain(
                items
                    .filter(|i| i.signal.as_deref() == Some(signal))
                    .filter_map(|i| i.max),
            )
            .reduce(f64::min)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const CANARY: &str = r#"
name = "standard"
rollback_procedure = "rollback"
[[stage]]
name = "canary 5%"
weight = 5
window = "30m"
approvals = 1
item = [
  { name = "dashboards reviewed", kind = "manual" },
  { name = "refusals hold", kind = "drift", signal = "refusal_rate" },
  { name = "refusals under 5 %", kind = "threshold", signal = "refusal_rate", max = 0.05 },
]
trigger = [ { name = "refusal spike", signal = "refusal_rate", above = 0.06, consecutive = 2 } ]
[[stage]]
name = "all traffic"
weight = 100
window = "1h"
"#;

    pub fn plan() -> Plan {
        toml::from_str(CANARY).unwrap()
    }

    #[test]
    fn a_plan_reads_and_checks() {
        let p = plan();
        assert_eq!(p.stages[0].items.len(), 3);
        assert_eq!(p.stages[0].triggers[0].consecutive, 2);
        assert_eq!(p.check(), Ok(()));
    }

    #[test]
    fn a_threshold_without_max_is_named() {
        let bad = CANARY.replace(", max = 0.05", "");
        let err = toml::from_str::<Plan>(&bad).unwrap().check().unwrap_err();
        assert_eq!(
            err,
            "stage \"canary 5%\", item \"refusals under 5 %\": needs `max`"
        );
    }

    #[test]
    fn a_rollback_without_a_human_is_opted_into_per_plan() {
        let automatic = CANARY.replace(
            "consecutive = 2 }",
            "consecutive = 2, on_fire = \"rollback\" }",
        );
        let err = toml::from_str::<Plan>(&automatic)
            .unwrap()
            .check()
            .unwrap_err();
        assert!(err.contains("needs `auto_rollback = true`"), "{err}");
        let opted = automatic.replace(
            "rollback_procedure = \"rollback\"",
            "auto_rollback = true\nrollback_procedure = \"rollback\"",
        );
        let p = toml::from_str::<Plan>(&opted).unwrap();
        assert_eq!(p.check(), Ok(()));
        let unnamed = opted.replace("rollback_procedure = \"rollback\"", "");
        let err = toml::from_str::<Plan>(&unnamed)
            .unwrap()
            .check()
            .unwrap_err();
        assert!(
            err.contains("needs the plan's `rollback_procedure`"),
            "{err}"
        );
        assert_eq!(p.stages[0].triggers[0].on_fire, OnFire::Rollback);
    }
}
