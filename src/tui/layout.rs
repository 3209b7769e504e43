//! The root layout, computed from the terminal size alone so that drawing and mouse
//! hit-testing agree without drawing having to record anything.
//!
//! ```text
//! ┌──────────────────────────────────────────────────────────────────────┐
//! │ 1 Overview │ 2 Traces │              workspace · READONLY · fresh 3m  │ header
//! ├──────────────────────────────────────────────────────────────────────┤
//! │┌ body: the pane (Overview tiles, Traces list or a trace) ───────────┐│
//! ││ header row                                                         ││
//! ││ rows…                                                              ││
//! │└────────────────────────────────────────────────────────────────────┘│
//! ├──────────────────────────────────────────────────────────────────────┤
//! │ status: errors, loading, the / and : prompts                         │ status
//! │ ? help  : palette  Tab next pane  / filter  q quit                   │ footer
//! └──────────────────────────────────────────────────────────────────────┘
//! ```
//! Overlays (help, palette matches) float over the body.

use std::ops::Range;

use ratatui::layout::{Constraint, Layout, Rect};

use super::action::Pane;

/// The regions of the screen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Areas {
    pub header: Rect,
    pub body: Rect,
    pub status: Rect,
    pub footer: Rect,
}

pub fn areas(screen: Rect) -> Areas {
    let [header, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(screen);
    Areas {
        header,
        body,
        status,
        footer,
    }
}

/// How the tab bar spells its tabs, widest first: full names, short names, then
/// numbers with only the active pane named. The widest that leaves [`TITLE_ROOM`]
/// columns for the workspace title and freshness wins, so tabs never run into them.
#[derive(Debug, Clone, Copy, PartialEq)]
enum TabForm {
    Full,
    Short,
    Numbers,
}

/// Columns the header keeps free on the right for `relops · NAME` and freshness (they
/// shorten further on their own when even this is not there).
pub const TITLE_ROOM: u16 = 34;

/// Each tab's pane, its columns in the header and its label, at this screen width with
/// `active` shown: drawing and mouse hit-testing both ask here.
pub fn tabs(width: u16, active: Pane) -> Vec<(Pane, Range<u16>, String)> {
    let mut fitted = Vec::new();
    for form in [TabForm::Full, TabForm::Short, TabForm::Numbers] {
        fitted = tabs_as(form, active);
        let end = fitted.last().map_or(0, |(_, r, _)| r.end);
        if end + 1 + TITLE_ROOM <= width {
            break;
        }
    }
    fitted
}

fn tabs_as(form: TabForm, active: Pane) -> Vec<(Pane, Range<u16>, String)> {
    let mut x = 0u16;
    Pane::ALL
        .iter()
        .enumerate()
        .map(|(i, pane)| {
            let label = match form {
                TabForm::Full => format!(" {} {} ", i + 1, pane.title()),
                TabForm::Short => format!(" {} {} ", i + 1, pane.short_title()),
                TabForm::Numbers if *pane == active => format!(" {} {} ", i + 1, pane.title()),
                TabForm::Numbers => format!(" {} ", i + 1),
            };
            let width = label.chars().count() as u16;
            let range = x..x + width;
            x += width + 1; // a separator column
            (*pane, range, label)
        })
        .collect()
}

/// Inside a bordered body, below its one-line column header: where list rows go.
pub fn list_rows(body: Rect) -> Rect {
    Rect {
        x: body.x + 1,
        y: body.y + 2,
        width: body.width.saturating_sub(2),
        height: body.height.saturating_sub(3),
    }
}

/// Inside a bordered body.
pub fn inner(body: Rect) -> Rect {
    Rect {
        x: body.x + 1,
        y: body.y + 1,
        width: body.width.saturating_sub(2),
        height: body.height.saturating_sub(2),
    }
}

/// A centred rectangle of at most `w` × `h`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// A list above and its selection's rows below (the Incidents and Gate panes): the list
/// as tall as its rows, at most a third of `area`.
pub fn split_list(area: Rect, rows: usize, below_min: u16) -> [Rect; 2] {
    let list_h = (rows as u16)
        .saturating_add(3)
        .clamp(4, (area.height / 3).max(4));
    Layout::vertical([Constraint::Length(list_h), Constraint::Min(below_min)]).areas(area)
}

/// Rows of a bordered table with a header row.
pub fn table_rows(area: Rect) -> usize {
    area.height.saturating_sub(3) as usize
}

/// The first row to draw so that `selected` stays within `visible` rows.
pub fn first_visible(selected: usize, visible: usize) -> usize {
    selected.saturating_sub(visible.saturating_sub(1))
}

/// The row index under `(col, row)` in a bordered table with a header row whose first
/// drawn row is `first`.
pub fn table_hit(area: Rect, first: usize, col: u16, row: u16) -> Option<usize> {
    let rows = list_rows(area);
    contains(rows, col, row).then(|| first + usize::from(row - rows.y))
}

/// True when `(col, row)` lies in `r`.
pub fn contains(r: Rect, col: u16, row: u16) -> bool {
    col >= r.x && col < r.x + r.width && row >= r.y && row < r.y + r.height
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabs_shrink_with_the_width_and_always_leave_the_title_room() {
        let end = |w: u16| tabs(w, Pane::Drift).last().unwrap().1.end;
        let labels = |w: u16| -> Vec<String> {
            tabs(w, Pane::Drift)
                .into_iter()
                .map(|(_, _, l)| l)
                .collect()
        };
        assert!(labels(160).contains(&" 6 Incidents ".to_string()));
        assert!(labels(120).contains(&" 6 Inc ".to_string()));
        let narrow = labels(80);
        assert_eq!(narrow[0], " 1 ");
        assert_eq!(narrow[2], " 3 Drift ", "the active pane keeps its name");
        for w in [80, 100, 120, 160] {
            assert!(end(w) + 1 + TITLE_ROOM <= w, "{w}: tabs end at {}", end(w));
        }
        // Every pane stays in the bar, each reachable by a click on its range.
        for w in [80, 120, 160] {
            assert_eq!(tabs(w, Pane::Drift).len(), Pane::ALL.len());
        }
    }
}
