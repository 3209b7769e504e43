//! The Incidents pane: the list (open first), the selected incident's timeline below it,
//! `Enter` into the timeline and on its rows (a trace opens its detail, a replay its
//! diff, a version its traces), `Esc` back out. `r`, `d` and `R` act on the trace of the
//! timeline row (see [`selected_trace`]); `R` links the case to the incident.

use super::super::action::Effect;
use super::super::data::Request;
use super::super::data::incidents::{EventKind, IncidentRow, Timeline};
use super::super::layout;
use super::super::state::{DetailState, Focus, State};
use super::super::views;
use super::{Move, moved};
use crate::replay::ExecRef;

pub(super) fn request(s: &State) -> Effect {
    Effect::Load(Request::Incidents {
        suite: s.suite_dir.clone(),
    })
}

/// Asks for the selected incident's timeline unless the one held is current (same
/// incident, same counts).
fn timeline_if_stale(s: &State) -> Vec<Effect> {
    let Some(row) = s.incidents.selected_row() else {
        return Vec::new();
    };
    if s.incidents
        .timeline
        .as_ref()
        .is_some_and(|t| t.incident == *row)
    {
        return Vec::new();
    }
    vec![Effect::Load(Request::Timeline {
        incident: row.id,
        suite: s.suite_dir.clone(),
    })]
}

pub(super) fn loaded(s: &mut State, rows: Vec<IncidentRow>) -> Vec<Effect> {
    s.loaded_ok("incidents");
    let inc = &mut s.incidents;
    // Keep the same incident selected when the list reorders (one was closed).
    let keep = inc.selected_row().map(|r| r.id);
    inc.selected = keep
        .and_then(|id| rows.iter().position(|r| r.id == id))
        .unwrap_or(inc.selected)
        .min(rows.len().saturating_sub(1));
    if rows.is_empty() {
        inc.focus = Focus::List;
        inc.timeline = None;
    }
    inc.rows = Some(rows);
    timeline_if_stale(s)
}

pub(super) fn loaded_timeline(s: &mut State, t: Box<Timeline>) -> Vec<Effect> {
    s.loaded_ok("timeline");
    let inc = &mut s.incidents;
    if inc.selected_row().map(|r| r.id) != Some(t.incident.id) {
        return Vec::new(); // the operator moved on
    }
    inc.cursor = inc.cursor.min(t.events.len().saturating_sub(1));
    inc.timeline = Some(t);
    Vec::new()
}

/// Rows of the timeline that fit on screen (for paging).
fn page(s: &State) -> usize {
    (layout::inner(layout::areas(s.size).body).height as usize / 2).max(1)
}

pub(super) fn navigate(s: &mut State, m: Move) -> Vec<Effect> {
    let page = page(s);
    let width = layout::inner(layout::areas(s.size).body).width as usize;
    let inc = &mut s.incidents;
    if let Some(d) = &mut inc.detail {
        let max = d
            .data
            .as_deref()
            .map_or(0, |t| views::detail::line_count(t, width));
        d.scroll = moved(d.scroll, m, 20, max);
        return Vec::new();
    }
    match inc.focus {
        Focus::List => {
            let n = inc.rows.as_ref().map_or(0, Vec::len);
            let before = inc.selected;
            inc.selected = moved(inc.selected, m, 5, n);
            if inc.selected != before {
                inc.cursor = 0;
            }
            timeline_if_stale(s)
        }
        Focus::Rows => {
            let n = inc.current().map_or(0, |t| t.events.len());
            inc.cursor = moved(inc.cursor, m, page, n);
            Vec::new()
        }
    }
}

/// `Enter`: into the timeline; on a row, what it points at.
pub(super) fn open(s: &mut State) -> Vec<Effect> {
    let inc = &mut s.incidents;
    if inc.focus == Focus::List {
        if inc.selected_row().is_some() {
            inc.focus = Focus::Rows;
        }
        return Vec::new();
    }
    let Some(event) = inc.current().and_then(|t| t.events.get(inc.cursor)) else {
        return Vec::new();
    };
    match event.kind.clone() {
        EventKind::Trace { trace_id, .. } => {
            inc.detail = Some(DetailState {
                trace_id: trace_id.clone(),
                data: None,
                scroll: 0,
            });
            vec![Effect::Load(Request::Detail { trace_id })]
        }
        EventKind::Replay { id, trace_id, .. } => {
            super::replay::open(s, ExecRef::Trace(trace_id), ExecRef::Replay(id))
        }
        EventKind::Version { label, fingerprint } => {
            let unique = s.versions().iter().filter(|v| v.label == label).count() == 1;
            let spec = if unique { label } else { fingerprint };
            super::apply_filter(s, &format!("v:{spec}"))
        }
        EventKind::Case(c) => {
            let place = c.path.unwrap_or_else(|| "(indexed, no file here)".into());
            s.info(format!("case {} · {} · {place}", c.id, c.title));
            Vec::new()
        }
        EventKind::Opened { .. } | EventKind::Closed => Vec::new(),
    }
}

/// A click on a list row selects it and on a timeline row moves the cursor there; a
/// click on what is already selected opens it.
pub(super) fn click(s: &mut State, body: ratatui::layout::Rect, col: u16, row: u16) -> Vec<Effect> {
    let inc = &s.incidents;
    if inc.detail.is_some() {
        return Vec::new();
    }
    let n = inc.rows.as_ref().map_or(0, Vec::len);
    let [list, below] = views::incidents::areas(n, body);
    let first = layout::first_visible(inc.selected, layout::table_rows(list));
    if let Some(i) = layout::table_hit(list, first, col, row).filter(|i| *i < n) {
        if i == inc.selected && inc.focus == Focus::List {
            return open(s);
        }
        let inc = &mut s.incidents;
        if i != inc.selected {
            inc.cursor = 0;
        }
        inc.focus = Focus::List;
        inc.selected = i;
        return timeline_if_stale(s);
    }
    let events = inc.current().map_or(0, |t| t.events.len());
    let first = views::incidents::timeline_first(inc, below);
    if let Some(i) = layout::table_hit(below, first, col, row).filter(|i| *i < events) {
        if i == inc.cursor && inc.focus == Focus::Rows {
            return open(s);
        }
        let inc = &mut s.incidents;
        inc.focus = Focus::Rows;
        inc.cursor = i;
    }
    Vec::new()
}

/// `Esc`: out of the trace, then out of the timeline.
pub(super) fn back(s: &mut State) {
    let inc = &mut s.incidents;
    if inc.detail.is_some() {
        inc.detail = None;
    } else {
        inc.focus = Focus::List;
    }
}

/// The trace `r`, `d` and `R` act on: the open one, else the timeline row's (a trace
/// or a replay of one); with its version label and the incident.
pub(super) fn selected_trace(s: &State) -> Option<(String, String, i64)> {
    let inc = &s.incidents;
    let t = inc.current()?;
    let incident = t.incident.id;
    if let Some(d) = &inc.detail {
        let version = d
            .data
            .as_ref()
            .map(|t| t.row.version.clone())
            .unwrap_or_default();
        return Some((d.trace_id.clone(), version, incident));
    }
    if inc.focus != Focus::Rows {
        return None;
    }
    let event = t.events.get(inc.cursor)?;
    let id = event.kind.trace_id()?.to_string();
    // The version the trace ran on (a replay row names the replay's own).
    let version = t
        .events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Trace {
                trace_id, version, ..
            } if *trace_id == id => Some(version.clone()),
            _ => None,
        })
        .unwrap_or_default();
    Some((id, version, incident))
}

/// A trace detail arrived: the incident's open trace may be waiting for it.
pub(super) fn loaded_detail(s: &mut State, d: &super::super::data::DetailBox) {
    if let Some(open) = s
        .incidents
        .detail
        .as_mut()
        .filter(|o| o.trace_id == d.0.row.id)
    {
        open.data = Some(d.0.clone());
    }
}

/// After a replay or a case: the counts and the timeline follow.
pub(super) fn reload(s: &State) -> Vec<Effect> {
    if s.incidents.rows.is_some() {
        vec![request(s)]
    } else {
        Vec::new()
    }
}
