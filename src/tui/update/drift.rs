//! The Drift pane's part of the state machine: what to judge, when to recompute, and
//! the drill from a signal to the traces behind it.

use super::super::action::Effect;
use super::super::data::{DriftBox, Request};
use super::super::state::State;
use crate::drift::DriftRequest;
use crate::period::Period;

/// Window lengths `w` steps through.
const WINDOWS: [Period; 5] = [
    Period::hours(1),
    Period::hours(6),
    Period::hours(24),
    Period::hours(72),
    Period::hours(168),
];

/// Auto-refreshes between drift recomputations while the pane is hidden (it scans more
/// than the Overview does); while shown, every refresh recomputes.
const HIDDEN_REFRESH_EVERY: u32 = 5;

pub fn request(s: &mut State) -> Effect {
    s.drift.since_refresh = 0;
    Effect::Load(Request::Drift {
        config: Box::new(s.config.0.drift.clone()),
        request: DriftRequest {
            candidate: s.drift.candidate.clone(),
            baseline: s.drift.baseline.clone(),
            before: false,
            window: s.drift.window,
            until_ns: None,
        },
    })
}

/// Whether an auto-refresh should recompute the verdict.
pub fn due(s: &mut State, shown: bool) -> bool {
    s.drift.since_refresh += 1;
    shown || s.drift.since_refresh >= HIDDEN_REFRESH_EVERY
}

pub fn loaded(s: &mut State, report: DriftBox) -> Vec<Effect> {
    s.loaded_ok("drift");
    let n = report.0.signals.len();
    s.drift.selected = s.drift.selected.min(n.saturating_sub(1));
    // Remember the pair judged, so cycling starts from what is on screen.
    s.drift.report = Some(report.0);
    Vec::new()
}

pub fn cycle_window(s: &mut State) -> Vec<Effect> {
    let current = s.drift.window.unwrap_or(s.config.0.drift.window);
    let next = WINDOWS
        .iter()
        .position(|w| *w > current)
        .map_or(WINDOWS[0], |i| WINDOWS[i]);
    s.drift.window = Some(next);
    s.info(format!("drift window {next}"));
    vec![request(s)]
}

/// Moves the candidate (or the baseline) to the next version, skipping the other
/// side's: a version is not compared with itself. Starts from the pair on screen.
pub fn cycle_version(s: &mut State, baseline: bool) -> Vec<Effect> {
    let labels: Vec<String> = s.versions().iter().map(|v| v.label.clone()).collect();
    let Some(report) = s.drift.report.as_deref() else {
        return Vec::new();
    };
    let candidate = report.candidate.label.clone();
    let versus = report.baseline.as_ref().map(|b| b.label.clone());
    let (moving, fixed) = if baseline {
        (versus.clone(), Some(candidate.clone()))
    } else {
        (Some(candidate.clone()), versus.clone())
    };
    let start = moving
        .and_then(|l| labels.iter().position(|x| *x == l))
        .map_or(0, |i| i + 1);
    let Some(next) = (0..labels.len())
        .map(|k| labels[(start + k) % labels.len()].clone())
        .find(|l| Some(l) != fixed.as_ref())
    else {
        return Vec::new();
    };
    // Pin both sides to what the operator sees, then move one.
    s.drift.candidate = Some(candidate);
    s.drift.baseline = versus;
    let side = if baseline { "baseline" } else { "candidate" };
    if baseline {
        s.drift.baseline = Some(next.clone());
    } else {
        s.drift.candidate = Some(next.clone());
    }
    s.info(format!("drift {side} {next}"));
    vec![request(s)]
}

/// The traces filter behind the selected signal.
pub fn drill(s: &State) -> Option<String> {
    let report = s.drift.report.as_deref()?;
    report
        .signals
        .get(s.drift.selected)
        .map(|sig| sig.drill.clone())
}

pub fn count(s: &State) -> usize {
    s.drift.report.as_deref().map_or(0, |r| r.signals.len())
}
