//! The Incidents pane: incidents (open first) above, the selected one's timeline below:
//! version changes, attached traces, replays, cases, opened and closed, in time order,
//! each with the time since the row before. A trace opened from the timeline takes the
//! whole body (the Traces pane's detail view).
//!
//! ```text
//! ┌ Incidents · 1 open of 2 ────────────────────────────────────────────────────────┐
//! │ ID  SEV   STATUS  TITLE                    OPENED       CLOSED  TRACES REPLAYS CASES│
//! │▶ 1  sev1  open    v3 refuses refunds       11-20 10:05  -            3       1     1│
//! ├ Timeline · incident 1 ──────────────────────────────────────────────────────────┤
//! │ TIME (UTC)      SINCE  WHAT     DETAIL                                           │
//! │ 11-19 09:12:00         version  v3 first seen (a1b2c3d4e5f6)                     │
//! │ 11-19 09:40:11  +28m   trace    4bf92f35 on v3 · refusal · 1.24s                 │
//! │ 11-20 10:05:00  +1d    opened   by alice                                         │
//! │ 11-20 10:20:00  +15m   case     3f9c2a1b must-pass · refund refused on v3        │
//! └──────────────────────────────────────────────────────────────────────────────────┘
//! ```

use chrono::DateTime;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Wrap};

use super::detail;
use crate::tui::data::incidents::{Event, EventKind, IncidentRow, Timeline};
use crate::tui::layout;
use crate::tui::state::{Focus, IncidentsState, State};
use crate::tui::widgets;

pub fn draw(s: &State, f: &mut Frame, area: Rect) {
    let inc = &s.incidents;
    if let Some(d) = &inc.detail {
        detail::draw(d, f, area);
        return;
    }
    let Some(rows) = inc.rows.as_deref() else {
        let block = Block::bordered().title(Line::styled(" Incidents ", widgets::title()));
        f.render_widget(Paragraph::new("loading…").block(block), area);
        return;
    };
    if rows.is_empty() {
        empty(f, area);
        return;
    }
    let [top, bottom] = areas(rows.len(), area);
    list(inc, rows, f, top);
    match inc.current() {
        Some(t) => timeline(inc, t, f, bottom),
        None => {
            let block = Block::bordered().title(" Timeline ");
            f.render_widget(Paragraph::new("loading…").block(block), bottom);
        }
    }
}

fn empty(f: &mut Frame, area: Rect) {
    let block = Block::bordered().title(Line::styled(" Incidents ", widgets::title()));
    let text = vec![
        Line::raw("No incidents yet."),
        Line::styled(
            "`relops incident open \"TITLE\" --severity sev2` opens one; \
             `relops incident attach ID TRACE…` links the traces that show the problem.",
            widgets::dim(),
        ),
    ];
    f.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: true }).block(block),
        area,
    );
}

/// `MM-DD HH:MM` (list) or `MM-DD HH:MM:SS` (timeline), UTC.
fn time(ns: i64, seconds: bool) -> String {
    let fmt = if seconds {
        "%m-%d %H:%M:%S"
    } else {
        "%m-%d %H:%M"
    };
    DateTime::from_timestamp_nanos(ns).format(fmt).to_string()
}

pub fn severity_style(severity: &str) -> Style {
    match severity.to_ascii_lowercase().as_str() {
        "sev1" | "critical" => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        "sev2" | "high" => Style::new().fg(Color::Red),
        "sev3" | "medium" => Style::new().fg(Color::Yellow),
        _ => Style::new(),
    }
}

/// The list and the timeline (drawing and mouse hit-testing agree through this).
pub fn areas(incidents: usize, body: Rect) -> [Rect; 2] {
    layout::split_list(body, incidents, 4)
}

/// The first timeline row drawn.
pub fn timeline_first(inc: &IncidentsState, area: Rect) -> usize {
    if inc.focus == Focus::Rows {
        layout::first_visible(inc.cursor, layout::table_rows(area))
    } else {
        0
    }
}

fn list(inc: &IncidentsState, rows: &[IncidentRow], f: &mut Frame, area: Rect) {
    let open = rows.iter().filter(|r| r.is_open()).count();
    let title = Line::from(vec![
        Span::styled(" Incidents ", widgets::title()),
        Span::raw(format!("· {open} open of {} ", rows.len())),
    ]);
    let header = Row::new([
        "ID", "SEV", "STATUS", "TITLE", "OPENED", "CLOSED", "TRACES", "REPLAYS", "CASES",
    ])
    .style(widgets::dim());
    let visible = layout::table_rows(area);
    let first = layout::first_visible(inc.selected, visible);
    let focused = inc.focus == Focus::List;
    let body = rows
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .map(|(i, r)| {
            let status = if r.is_open() {
                Cell::from("open").style(widgets::warn())
            } else {
                Cell::from("closed").style(widgets::dim())
            };
            let marker = if i == inc.selected { "▶" } else { " " };
            let row = Row::new([
                Cell::from(format!("{marker}{:>3}", r.id)),
                Cell::from(r.severity.clone()).style(severity_style(&r.severity)),
                status,
                Cell::from(widgets::one_line(&r.title)),
                Cell::from(time(r.opened_ns, false)),
                Cell::from(r.closed_ns.map_or("-".into(), |t| time(t, false))),
                Cell::from(format!("{:>6}", r.traces)),
                Cell::from(format!("{:>7}", r.replays)),
                Cell::from(format!("{:>5}", r.cases)),
            ]);
            match (i == inc.selected, focused) {
                (true, true) => row.style(widgets::selected()),
                (true, false) => row.style(Style::new().add_modifier(Modifier::BOLD)),
                _ => row,
            }
        });
    let widths = [
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Min(20),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Length(5),
    ];
    f.render_widget(
        Table::new(body, widths)
            .header(header)
            .block(Block::bordered().title(title)),
        area,
    );
}

fn timeline(inc: &IncidentsState, t: &Timeline, f: &mut Frame, area: Rect) {
    let i = &t.incident;
    let mut title = vec![
        Span::styled(format!(" Timeline · incident {} ", i.id), widgets::title()),
        Span::raw(format!("· {} ", widgets::one_line(&i.title))),
    ];
    if t.bad_case_files > 0 {
        title.push(Span::styled(
            format!("· {} unreadable case file(s) ", t.bad_case_files),
            widgets::warn(),
        ));
    }
    let header = Row::new([" TIME (UTC)", "SINCE", "WHAT", "DETAIL"]).style(widgets::dim());
    let visible = layout::table_rows(area);
    let focused = inc.focus == Focus::Rows;
    let first = timeline_first(inc, area);
    let rows = t
        .events
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .map(|(n, e)| {
            let since = n
                .checked_sub(1)
                .and_then(|p| t.events.get(p))
                .map_or(String::new(), |p| {
                    format!("+{}", widgets::age(p.at_ns, e.at_ns))
                });
            let (what, style, detail) = describe(e);
            let here = focused && n == inc.cursor;
            let row = Row::new([
                Cell::from(format!(
                    "{}{}",
                    if here { "▶" } else { " " },
                    time(e.at_ns, true)
                )),
                Cell::from(since).style(widgets::dim()),
                Cell::from(what).style(style),
                Cell::from(Line::from(detail)),
            ]);
            if here {
                row.style(widgets::selected())
            } else {
                row
            }
        });
    let widths = [
        Constraint::Length(16),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Min(20),
    ];
    let hint = if focused {
        ""
    } else {
        "Enter: into the timeline "
    };
    let block = Block::bordered()
        .title(Line::from(title))
        .title_bottom(Line::styled(hint, widgets::dim()));
    f.render_widget(Table::new(rows, widths).header(header).block(block), area);
}

/// The kind column, its style, and the detail spans of one event.
fn describe(e: &Event) -> (&'static str, Style, Vec<Span<'static>>) {
    let short = |id: &str| id.chars().take(8).collect::<String>();
    match &e.kind {
        EventKind::Version { label, fingerprint } => (
            "version",
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            vec![
                Span::styled(format!("{label} first seen"), widgets::title()),
                Span::styled(format!(" ({fingerprint})"), widgets::dim()),
            ],
        ),
        EventKind::Opened { by } => (
            "opened",
            widgets::warn(),
            vec![Span::raw(format!("incident opened by {by}"))],
        ),
        EventKind::Closed => (
            "closed",
            Style::new().fg(Color::Green),
            vec![Span::raw("incident closed")],
        ),
        EventKind::Trace {
            trace_id,
            version,
            error,
            refusal,
            tool_errors,
            safety_events,
            duration_ms,
        } => {
            let mut spans = vec![Span::raw(format!("{} on {version}", short(trace_id)))];
            let mut flag = |text: String, style: Style| {
                spans.push(Span::raw(" · "));
                spans.push(Span::styled(text, style));
            };
            if *refusal {
                flag("refusal".into(), widgets::warn());
            }
            if *tool_errors > 0 {
                flag(format!("{tool_errors} tool error(s)"), widgets::bad());
            }
            if *safety_events > 0 {
                flag(format!("{safety_events} safety event(s)"), widgets::warn());
            }
            if *error {
                flag("error".into(), widgets::bad());
            }
            spans.push(Span::styled(
                format!(" · {}", widgets::millis(*duration_ms)),
                widgets::dim(),
            ));
            ("trace", Style::new(), spans)
        }
        EventKind::Replay {
            id,
            trace_id,
            version,
            error,
            latency_ms,
        } => {
            let mut spans = vec![Span::raw(format!(
                "r:{id} of {} on {version}",
                short(trace_id)
            ))];
            match error {
                Some(e) => spans.push(Span::styled(
                    format!(" · failed: {}", widgets::clip(&widgets::one_line(e), 60)),
                    widgets::bad(),
                )),
                None => spans.push(Span::styled(
                    format!(
                        " · answered in {}",
                        latency_ms.map_or("-".into(), widgets::millis)
                    ),
                    widgets::dim(),
                )),
            }
            ("replay", Style::new().fg(Color::Blue), spans)
        }
        EventKind::Case(c) => {
            let mut spans = vec![Span::raw(format!("{} ", c.id))];
            if c.must_pass {
                spans.push(Span::styled("must-pass ", widgets::warn()));
            }
            spans.push(Span::raw(format!("· {}", widgets::one_line(&c.title))));
            ("case", Style::new().fg(Color::Green), spans)
        }
    }
}
