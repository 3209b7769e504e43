//! Drawing: `draw(&State, &mut Frame)` reads the state and writes only to the frame.
//! The screen's regions come from [`super::layout`], which sketches them.

pub mod case_form;
pub mod detail;
pub mod diff;
pub mod drift;
pub mod gate;
pub mod help;
pub mod incidents;
pub mod overview;
pub mod palette;
pub mod review;
pub mod rollout;
pub mod sources;
pub mod traces;

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::action::Pane;
use super::layout::{self, Areas};
use super::state::{Overlay, State};
use super::widgets;

/// Freshness older than this is shown as a warning.
pub const STALE_NS: i64 = 15 * 60 * 1_000_000_000;

pub fn draw(s: &State, f: &mut Frame) {
    let areas = layout::areas(f.area());
    header(s, f, areas.header);
    match (s.pane, &s.detail) {
        (Pane::Overview, _) => overview::draw(s, f, areas.body),
        (Pane::Traces, None) => traces::draw(s, f, areas.body),
        (Pane::Traces, Some(d)) => detail::draw(d, f, areas.body),
        (Pane::Drift, _) => drift::draw(s, f, areas.body),
        (Pane::Diff, _) => diff::draw(s, f, areas.body),
        (Pane::Sources, _) => sources::draw(s, f, areas.body),
        (Pane::Incidents, _) => incidents::draw(s, f, areas.body),
        (Pane::Gate, _) => gate::draw(s, f, areas.body),
        (Pane::Rollout, _) => rollout::draw(s, f, areas.body),
        (Pane::Review, _) => review::draw(s, f, areas.body),
    }
    status(s, f, areas.status);
    footer(s, f, areas.footer);
    overlays(s, f, areas);
}

fn overlays(s: &State, f: &mut Frame, areas: Areas) {
    match &s.overlay {
        Overlay::Help { scroll } => help::draw(s, *scroll, f, areas.body),
        Overlay::Palette(p) => palette::draw(s, p, f, areas.body),
        Overlay::Versions(p) => diff::picker(p, f, areas.body),
        Overlay::CaseForm(form) => case_form::draw(form, f, areas.body),
        Overlay::Confirm(c) => rollout::confirm(c, f, areas.body),
        Overlay::Filter(_) | Overlay::Note { .. } | Overlay::None => {}
    }
}

/// Tabs on the left; workspace, READONLY badge and freshness on the right, in the room
/// the tabs leave (the title goes first, then the freshness shortens; the badge stays).
fn header(s: &State, f: &mut Frame, area: Rect) {
    let tabs = layout::tabs(area.width, s.pane);
    let mut spans = Vec::new();
    for (pane, _, label) in &tabs {
        spans.push(Span::styled(label.clone(), widgets::tab(*pane == s.pane)));
        spans.push(Span::styled("│", widgets::dim()));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);

    let used = tabs.last().map_or(0, |(_, r, _)| r.end + 1);
    let room = usize::from(area.width.saturating_sub(used + 1));
    let title = Span::styled(format!("relops · {} ", s.name), widgets::title());
    let badge = s.readonly.then(|| {
        let style = Style::new()
            .fg(Color::White)
            .bg(Color::Red)
            .add_modifier(Modifier::BOLD);
        vec![Span::styled(" READONLY ", style), Span::raw(" ")]
    });
    let badge = badge.unwrap_or_default();
    let candidates = [
        [vec![title], badge.clone(), freshness(s)].concat(),
        [badge.clone(), freshness(s)].concat(),
        [badge.clone(), short_freshness(s)].concat(),
        badge,
    ];
    let width = |line: &[Span]| {
        line.iter()
            .map(|sp| sp.content.chars().count())
            .sum::<usize>()
    };
    let right = candidates
        .into_iter()
        .find(|c| width(c) <= room)
        .unwrap_or_default();
    f.render_widget(
        Paragraph::new(Line::from(right)).alignment(Alignment::Right),
        area,
    );
}

/// `newest trace 3m ago`, in the warning colour once stale.
pub fn freshness(s: &State) -> Vec<Span<'static>> {
    freshness_as(s, "newest trace ")
}

/// `3m ago`: the freshness when the header is narrow.
fn short_freshness(s: &State) -> Vec<Span<'static>> {
    freshness_as(s, "")
}

fn freshness_as(s: &State, lead: &str) -> Vec<Span<'static>> {
    let Some(newest) = s.overview.data.as_ref().and_then(|d| d.newest_ns) else {
        return vec![Span::styled("no traces yet ", widgets::warn())];
    };
    let stale = s.now_ns - newest > STALE_NS;
    let style = if stale {
        widgets::warn()
    } else {
        widgets::dim()
    };
    let mut text = format!("{lead}{} ago", widgets::age(newest, s.now_ns));
    if stale {
        text.push_str(" (stale)");
    }
    vec![Span::styled(text, style), Span::raw(" ")]
}

/// The prompt being typed into: its sigil, text and placeholder.
fn prompt(s: &State) -> Option<(&'static str, &str, &'static str)> {
    match &s.overlay {
        Overlay::Filter(p) => Some((
            "/",
            &p.text,
            "filter: v:v3 refusal error tool status:ok since:1h words",
        )),
        Overlay::Palette(p) => Some((":", &p.text, "command (Tab completes)")),
        Overlay::Note { prompt, .. } => Some((
            "note: ",
            &prompt.text,
            "a note on this trace (Enter keeps it, Esc cancels)",
        )),
        _ => None,
    }
}

/// Prompts while typing; otherwise the latest message.
fn status(s: &State, f: &mut Frame, area: Rect) {
    let message = match &s.status {
        Some(st) if st.error => Span::styled(st.text.clone(), widgets::bad()),
        Some(st) => Span::raw(st.text.clone()),
        None => Span::raw(""),
    };
    // A fired trigger leads the line on every pane but its own; the message follows.
    let banner = rollout::status_banner(s).filter(|_| s.pane != Pane::Rollout);
    let line = match (prompt(s), banner) {
        (Some((sigil, text, placeholder)), _) => prompt_line(sigil, text, placeholder),
        (None, Some(banner)) => Line::from(vec![banner, Span::raw(" "), message]),
        (None, None) => Line::from(message),
    };
    f.render_widget(Paragraph::new(line), area);
    if let Some((sigil, text, _)) = prompt(s) {
        let x = area.x + (sigil.chars().count() + text.chars().count()) as u16;
        f.set_cursor_position((x.min(area.right().saturating_sub(1)), area.y));
    }
}

fn prompt_line(sigil: &str, text: &str, placeholder: &str) -> Line<'static> {
    let body = if text.is_empty() {
        Span::styled(placeholder.to_string(), widgets::dim())
    } else {
        Span::raw(text.to_string())
    };
    Line::from(vec![
        Span::styled(sigil.to_string(), widgets::title()),
        body,
    ])
}

/// Hints generated from the keymap for the current mode.
fn footer(s: &State, f: &mut Frame, area: Rect) {
    let mut spans = Vec::new();
    for (key, help) in s.keymap.hints(&s.modes(), s.readonly) {
        spans.push(Span::styled(
            format!(" {key} "),
            Style::new().fg(Color::Black).bg(Color::Gray),
        ));
        spans.push(Span::raw(format!(" {help}  ")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
