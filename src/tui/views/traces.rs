//! The Traces pane: the visible slice of the list, newest first; rows not loaded yet
//! show as placeholders while their page arrives.

use chrono::DateTime;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Row, Table};

use crate::store::query::TraceRow;
use crate::tui::layout;
use crate::tui::state::State;
use crate::tui::widgets;

const WIDTHS: [Constraint; 8] = [
    Constraint::Length(14),
    Constraint::Length(8),
    Constraint::Length(10),
    Constraint::Length(9),
    Constraint::Length(6),
    Constraint::Length(14),
    Constraint::Length(11),
    Constraint::Min(8),
];

pub fn draw(s: &State, f: &mut Frame, area: Rect) {
    let block = Block::bordered().title(Line::from(title(s)));
    let height = layout::list_rows(area).height as usize;
    let header = Row::new([
        "TIME (UTC)",
        "TRACE",
        "VERSION",
        "DURATION",
        "STATUS",
        "FLAGS",
        "TOKENS",
        "COST",
    ])
    .style(widgets::dim());
    let list = &s.list;
    let end = (list.offset + height).min(list.len());
    let rows = (list.offset..end).map(|i| {
        let row = list.row(i).map_or_else(placeholder, row);
        if i == list.selected {
            row.style(widgets::selected())
        } else {
            row
        }
    });
    f.render_widget(Table::new(rows, WIDTHS).header(header).block(block), area);
}

fn title(s: &State) -> Vec<Span<'static>> {
    let list = &s.list;
    let mut spans = vec![Span::styled(" Traces ", widgets::title())];
    let position = match (list.len(), list.count) {
        (0, _) if list.max_pk.is_none() => "loading…".to_string(),
        (0, _) => "no matching traces".to_string(),
        (_, Some(n)) => format!(
            "{} of {}",
            widgets::thousands(list.selected as u64 + 1),
            widgets::thousands(n as u64)
        ),
        (_, None) => format!("{} of …", widgets::thousands(list.selected as u64 + 1)),
    };
    spans.push(Span::raw(format!("· {position} ")));
    if !list.spec.is_empty() {
        spans.push(Span::styled(
            format!("· filter: {} ", list.spec),
            widgets::warn(),
        ));
    }
    if list.new_rows > 0 {
        spans.push(Span::styled(
            format!("· ↑ {} new (g) ", widgets::thousands(list.new_rows as u64)),
            widgets::warn(),
        ));
    }
    spans
}

fn placeholder() -> Row<'static> {
    Row::new([Cell::from("…"), Cell::from("loading")]).style(widgets::dim())
}

fn row(t: &TraceRow) -> Row<'static> {
    let status = if t.status == "error" {
        Cell::from("error").style(widgets::bad())
    } else {
        Cell::from("ok")
    };
    Row::new([
        Cell::from(time(t.start_ns)),
        Cell::from(t.id.chars().take(8).collect::<String>()),
        Cell::from(widgets::clip(&t.version, 10)),
        Cell::from(widgets::millis(t.duration_ms)),
        status,
        Cell::from(flags(t)).style(widgets::warn()),
        Cell::from(format!("{}/{}", t.tokens_in, t.tokens_out)),
        Cell::from(widgets::dollars(t.cost_usd)),
    ])
}

/// `MM-DD HH:MM:SS` in UTC.
fn time(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns)
        .format("%m-%d %H:%M:%S")
        .to_string()
}

fn flags(t: &TraceRow) -> String {
    let mut out = Vec::new();
    if t.refusal {
        out.push("refusal");
    }
    if t.tool_errors > 0 {
        out.push("tool-err");
    }
    if t.safety_events > 0 {
        out.push("safety");
    }
    out.join(" ")
}
