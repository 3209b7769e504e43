//! Replay and diff in the console: `r` picks a version and starts a replay (run by the
//! driver on a background task), `d` diffs a trace against its latest replay, and the
//! Diff pane's tabs, scrolling and change jumps.

use std::sync::Arc;

use super::super::action::{Effect, Pane};
use super::super::data::{DiffBox, Request};
use super::super::layout;
use super::super::state::{Overlay, Picker, State};
use super::super::views::diff::{column_width, layout as diff_layout};
use super::Action;
use crate::replay::{ExecRef, Outcome};

/// The trace under the cursor (list or open detail) and its version's label.
pub(super) fn selected(s: &State) -> Option<(String, String)> {
    if s.pane == Pane::Incidents {
        return super::incidents::selected_trace(s).map(|(id, version, _)| (id, version));
    }
    if s.pane == Pane::Review {
        return super::review::selected_trace(s);
    }
    if s.pane != Pane::Traces {
        return None;
    }
    match &s.detail {
        Some(d) => Some((
            d.trace_id.clone(),
            d.data
                .as_ref()
                .map(|t| t.row.version.clone())
                .unwrap_or_default(),
        )),
        None => s
            .list
            .selected_row()
            .map(|r| (r.id.clone(), r.version.clone())),
    }
}

/// `r`: the version picker, preset to the baseline. The baseline is the version that
/// first appeared just before the trace's own (versions ordered by first trace seen):
/// "what ran before this release". A trace of the oldest version defaults to the next.
pub(super) fn pick(s: &mut State) -> Vec<Effect> {
    let Some((trace_id, version)) = selected(s) else {
        s.error(None, "replay: select a trace in the Traces pane first");
        return Vec::new();
    };
    let mut choices: Vec<String> = Vec::new();
    for v in s.versions() {
        if !choices.contains(&v.label) {
            choices.push(v.label.clone());
        }
    }
    if choices.is_empty() {
        s.error(None, "replay: no versions known yet");
        return Vec::new();
    }
    let own = choices.iter().position(|l| *l == version);
    let baseline = match own {
        Some(0) | None => usize::from(choices.len() > 1 && own == Some(0)),
        Some(i) => i - 1,
    };
    s.overlay = Overlay::Versions(Picker {
        trace_id,
        choices,
        baseline,
        choice: baseline,
    });
    Vec::new()
}

/// Enter and Esc in the picker.
pub(super) fn picker(s: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Submit => match std::mem::take(&mut s.overlay) {
            Overlay::Versions(p) => match p.choices.get(p.choice) {
                Some(v) => start(s, p.trace_id, vec![v.clone()]),
                None => Vec::new(),
            },
            other => {
                s.overlay = other;
                Vec::new()
            }
        },
        Action::Cancel => {
            s.overlay = Overlay::None;
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// Asks the driver to replay; the console carries on meanwhile.
pub(super) fn start(s: &mut State, trace_id: String, versions: Vec<String>) -> Vec<Effect> {
    s.replays_running += 1;
    s.info(format!(
        "replaying {} on {}… (the console stays usable; the diff opens when it is done)",
        short(&trace_id),
        versions.join(", ")
    ));
    vec![Effect::Replay { trace_id, versions }]
}

fn short(trace_id: &str) -> String {
    format!("{}…", &trace_id[..trace_id.len().min(8)])
}

/// A replay finished: report it, and open its diff if the operator is still on that trace.
pub(super) fn finished(
    s: &mut State,
    trace_id: &str,
    result: Result<Vec<Outcome>, String>,
) -> Vec<Effect> {
    s.replays_running = s.replays_running.saturating_sub(1);
    let outcomes = match result {
        Ok(o) => o,
        Err(e) => {
            s.error(
                Some("replay"),
                format!("replay of {} failed: {e}", short(trace_id)),
            );
            return Vec::new();
        }
    };
    if let Some(f) = outcomes.iter().find(|o| o.error.is_some()) {
        s.error(
            Some("replay"),
            format!(
                "replay {} on {} failed: {} (stored)",
                f.replay,
                f.version,
                f.error.as_deref().unwrap_or_default()
            ),
        );
        return Vec::new();
    }
    let Some(last) = outcomes.last() else {
        return Vec::new();
    };
    let here = selected(s).is_some_and(|(id, _)| id == trace_id);
    s.info(format!(
        "replayed {} on {}: {} in {}{}",
        short(trace_id),
        last.version,
        last.replay,
        last.latency_ms
            .map_or("-".into(), crate::tui::widgets::millis),
        if here {
            ""
        } else {
            " (d on the trace diffs it)"
        }
    ));
    let Ok(b) = last.replay.parse::<ExecRef>() else {
        return Vec::new();
    };
    if here {
        return open(s, ExecRef::Trace(trace_id.to_string()), b);
    }
    Vec::new()
}

/// `d`: the selected trace against its newest replay.
pub(super) fn diff_latest(s: &mut State) -> Vec<Effect> {
    let Some((trace_id, _)) = selected(s) else {
        s.error(None, "diff: select a trace in the Traces pane first");
        return Vec::new();
    };
    open(
        s,
        ExecRef::Trace(trace_id.clone()),
        ExecRef::LatestReplay(trace_id),
    )
}

/// Shows the Diff pane on two executions; `Esc` there returns to the pane it came from.
pub(super) fn open(s: &mut State, a: ExecRef, b: ExecRef) -> Vec<Effect> {
    if s.pane != Pane::Diff {
        s.diff.from = Some(s.pane);
    }
    s.pane = Pane::Diff;
    s.diff.loading = true;
    s.diff.data = None;
    vec![Effect::Load(Request::Diff {
        a,
        b,
        config: s.config.clone(),
    })]
}

pub(super) fn loaded_diff(s: &mut State, d: DiffBox) -> Vec<Effect> {
    s.loaded_ok("diff");
    s.diff.loading = false;
    s.diff.data = Some(d.0);
    s.diff.scroll = 0;
    relayout(s);
    Vec::new()
}

/// Lays the current tab out again (new diff, tab or width).
pub(super) fn relayout(s: &mut State) {
    let Some(d) = &s.diff.data else { return };
    let width = column_width(layout::inner(layout::areas(s.size).body).width);
    s.diff.layout = Arc::new(diff_layout(d, s.diff.tab, width));
}

/// Rows of the Diff pane that fit on screen.
pub(super) fn page(s: &State) -> usize {
    (layout::inner(layout::areas(s.size).body).height as usize)
        .saturating_sub(2)
        .max(1)
}

/// `n` / `N`: scroll to the next or previous run of changed rows.
pub(super) fn jump(s: &mut State, next: bool) -> Vec<Effect> {
    let at = s.diff.scroll;
    let changes = &s.diff.layout.changes;
    let target = if next {
        changes.iter().find(|c| **c > at).copied()
    } else {
        changes.iter().rev().find(|c| **c < at).copied()
    };
    match target {
        Some(t) => s.diff.scroll = t,
        None => s.info(if next {
            "no further change"
        } else {
            "no earlier change"
        }),
    }
    Vec::new()
}

pub(super) fn tab(s: &mut State, step: isize) -> Vec<Effect> {
    s.diff.tab = s.diff.tab.cycle(step);
    s.diff.scroll = 0;
    relayout(s);
    Vec::new()
}
