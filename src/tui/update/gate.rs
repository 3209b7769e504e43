//! The Gate pane: stored runs, the selected run's cases, `Enter` into the cases and on a
//! case its diff (candidate replay against baseline replay); `g` or `:gate V [B]` runs
//! the gate on a background task whose progress feeds the bar.

use super::super::action::{Effect, GateDone, GateProgress, Pane};
use super::super::data::Request;
use super::super::data::gate::{self as data, RunDetail, RunSummary};
use super::super::layout;
use super::super::state::{Focus, GateRunning, Overlay, State};
use super::super::views;
use super::{Move, moved};
use crate::replay::ExecRef;

pub(super) fn request(_: &State) -> Effect {
    Effect::Load(Request::GateRuns)
}

fn run_if_stale(s: &State) -> Vec<Effect> {
    let Some(row) = s.gate.selected_row() else {
        return Vec::new();
    };
    if s.gate.run.as_ref().is_some_and(|r| r.summary == *row) {
        return Vec::new();
    }
    vec![Effect::Load(Request::GateRun { id: row.id })]
}

pub(super) fn loaded(s: &mut State, rows: Vec<RunSummary>) -> Vec<Effect> {
    s.loaded_ok("gate runs");
    let g = &mut s.gate;
    let keep = g.select_id.take().or(g.selected_row().map(|r| r.id));
    g.selected = keep
        .and_then(|id| rows.iter().position(|r| r.id == id))
        .unwrap_or(g.selected)
        .min(rows.len().saturating_sub(1));
    if rows.is_empty() {
        g.focus = Focus::List;
        g.run = None;
    }
    g.runs = Some(rows);
    run_if_stale(s)
}

pub(super) fn loaded_run(s: &mut State, r: Box<RunDetail>) -> Vec<Effect> {
    s.loaded_ok("gate run");
    let g = &mut s.gate;
    if g.selected_row().map(|row| row.id) != Some(r.summary.id) {
        return Vec::new();
    }
    g.cursor = g.cursor.min(r.results.len().saturating_sub(1));
    g.run = Some(r);
    Vec::new()
}

pub(super) fn navigate(s: &mut State, m: Move) -> Vec<Effect> {
    let page = (layout::inner(layout::areas(s.size).body).height as usize / 2).max(1);
    let g = &mut s.gate;
    match g.focus {
        Focus::List => {
            let n = g.runs.as_ref().map_or(0, Vec::len);
            let before = g.selected;
            g.selected = moved(g.selected, m, 5, n);
            if g.selected != before {
                g.cursor = 0;
            }
            run_if_stale(s)
        }
        Focus::Rows => {
            let n = g.current().map_or(0, |r| r.results.len());
            g.cursor = moved(g.cursor, m, page, n);
            Vec::new()
        }
    }
}

/// `Enter`: into the run's cases; on a case, its diff.
pub(super) fn open(s: &mut State) -> Vec<Effect> {
    let g = &mut s.gate;
    if g.focus == Focus::List {
        if g.selected_row().is_some() {
            g.focus = Focus::Rows;
        }
        return Vec::new();
    }
    let Some(run) = g.current() else {
        return Vec::new();
    };
    let Some(case) = run.results.get(g.cursor) else {
        return Vec::new();
    };
    let candidate = data::replay(&case.candidate_attempts);
    let baseline = data::replay(&case.baseline_attempts);
    match (candidate, baseline) {
        (Some(c), Some(b)) => super::replay::open(s, ExecRef::Replay(b), ExecRef::Replay(c)),
        (Some(_), None) if run.summary.baseline.is_none() => {
            s.error(None, "diff: this run had no baseline to compare with");
            Vec::new()
        }
        _ => {
            let msg = format!(
                "diff: gate run {} kept no replays of case {} (runs stored before replays were kept)",
                run.summary.id, case.case_id
            );
            s.error(None, msg);
            Vec::new()
        }
    }
}

/// A click on a run selects it and on a case moves the cursor there; a click on what is
/// already selected opens it.
pub(super) fn click(s: &mut State, body: ratatui::layout::Rect, col: u16, row: u16) -> Vec<Effect> {
    let g = &s.gate;
    let n = g.runs.as_ref().map_or(0, Vec::len);
    let [list, table] = views::gate::areas(g, body);
    let first = layout::first_visible(g.selected, layout::table_rows(list));
    if let Some(i) = layout::table_hit(list, first, col, row).filter(|i| *i < n) {
        if i == g.selected && g.focus == Focus::List {
            return open(s);
        }
        let g = &mut s.gate;
        if i != g.selected {
            g.cursor = 0;
        }
        g.focus = Focus::List;
        g.selected = i;
        return run_if_stale(s);
    }
    let cases = g.current().map_or(0, |r| r.results.len());
    let first = views::gate::cases_first(g, table);
    if let Some(i) = layout::table_hit(table, first, col, row).filter(|i| *i < cases) {
        if i == g.cursor && g.focus == Focus::Rows {
            return open(s);
        }
        let g = &mut s.gate;
        g.focus = Focus::Rows;
        g.cursor = i;
    }
    Vec::new()
}

pub(super) fn back(s: &mut State) {
    s.gate.focus = Focus::List;
}

/// `g` / `:gate V [BASELINE]`: starts a run unless one is going.
pub(super) fn start(
    s: &mut State,
    candidate: Option<String>,
    baseline: Option<String>,
) -> Vec<Effect> {
    if let Some(r) = &s.gate.running {
        let msg = format!(
            "gate: {} is still running ({}/{})",
            pair(&r.candidate, r.baseline.as_deref()),
            r.progress.done,
            r.progress.total
        );
        s.error(None, msg);
        return Vec::new();
    }
    let (candidate, baseline) = match candidate {
        Some(c) => (c, baseline),
        None => match (s.pane == Pane::Gate)
            .then(|| s.gate.selected_row())
            .flatten()
        {
            Some(row) => (row.candidate.clone(), row.baseline.clone()),
            None => match s.versions().last() {
                Some(v) => (v.label.clone(), None),
                None => {
                    s.error(None, "gate: no versions known yet; `:gate V` names one");
                    return Vec::new();
                }
            },
        },
    };
    s.pane = Pane::Gate;
    s.overlay = Overlay::None;
    s.gate.running = Some(GateRunning {
        candidate: candidate.clone(),
        baseline: baseline.clone(),
        progress: GateProgress::default(),
    });
    s.info(format!(
        "gate: running {}… (the console stays usable)",
        pair(&candidate, baseline.as_deref())
    ));
    vec![Effect::RunGate {
        candidate,
        baseline,
    }]
}

fn pair(candidate: &str, baseline: Option<&str>) -> String {
    match baseline {
        Some(b) => format!("{candidate} vs {b}"),
        None => format!("{candidate} vs its baseline"),
    }
}

pub(super) fn progress(s: &mut State, p: GateProgress) -> Vec<Effect> {
    if let Some(r) = &mut s.gate.running {
        r.progress = p;
    }
    Vec::new()
}

pub(super) fn finished(s: &mut State, result: Result<GateDone, String>) -> Vec<Effect> {
    s.gate.running = None;
    match result {
        Ok(done) => {
            s.info(format!(
                "gate run {}: {} → {}",
                done.run_id,
                pair(&done.candidate, done.baseline.as_deref()),
                done.decision.to_uppercase()
            ));
            s.gate.select_id = Some(done.run_id);
            s.gate.focus = Focus::List;
            vec![request(s)]
        }
        Err(e) => {
            s.error(Some("gate"), format!("gate failed: {e}"));
            Vec::new()
        }
    }
}
