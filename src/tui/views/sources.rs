//! The Sources pane: per source its state, last success, lag, rows pulled and last
//! error, from the cache (so it reads offline too); below, what the background sync
//! engine said lately.
//!
//! ```text
//! ┌ Sources ───────────────────────────────────────────────────────┐
//! │ SOURCE   KIND      STATE    SUCCESS  LAG  ROWS  ERRORS  LAST ERROR │
//! │ phoenix  phoenix   ok       12s      40s  1,204      0          │
//! ├ sync log ──────────────────────────────────────────────────────┤
//! │ phoenix: +200 records (200 new or changed, 0 rejected)         │
//! └────────────────────────────────────────────────────────────────┘
//! ```

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Wrap};

use crate::sync::status::{Health, SourceStatus};
use crate::tui::state::State;
use crate::tui::widgets;

pub fn draw(s: &State, f: &mut Frame, area: Rect) {
    let sources = s.overview.data.as_ref().map_or(&[][..], |d| &d.sources[..]);
    let rows = sources.len().max(1) as u16 + 3;
    let [table, log] = Layout::vertical([Constraint::Length(rows), Constraint::Min(3)]).areas(area);
    let block = Block::bordered().title(Line::styled(" Sources ", widgets::title()));
    if sources.is_empty() {
        let text = vec![
            Line::raw("No [[source]] configured: this console reads the cache only."),
            Line::styled(
                "Add Phoenix, Langfuse, Prometheus or OTLP sources to relops.toml \
                 (see assets/relops.example.toml), then `relops doctor`.",
                widgets::dim(),
            ),
        ];
        f.render_widget(Paragraph::new(text).block(block), table);
    } else {
        f.render_widget(source_table(s, sources).block(block), table);
    }
    sync_log(s, f, log);
}

fn source_table<'a>(s: &State, sources: &'a [SourceStatus]) -> Table<'a> {
    let header = Row::new([
        "SOURCE",
        "KIND",
        "STATE",
        "SUCCESS",
        "LAG",
        "ROWS",
        "ERRORS",
        "LAST ERROR",
    ])
    .style(widgets::dim());
    let age = |t: Option<i64>| t.map_or_else(|| "-".into(), |t| widgets::age(t, s.now_ns));
    let rows = sources.iter().map(|r| {
        let style = match r.health {
            Health::Ok => widgets::dim(),
            Health::Failing => widgets::bad(),
            Health::Never | Health::Removed => widgets::warn(),
        };
        Row::new([
            Cell::from(r.source.clone()),
            Cell::from(r.kind.clone()),
            Cell::from(r.health.as_str()).style(style),
            Cell::from(age(r.state.last_success_ns)),
            Cell::from(age(r.state.high_water_ns)),
            Cell::from(widgets::thousands(r.state.rows_total.max(0) as u64)),
            Cell::from(r.state.errors_total.to_string()),
            Cell::from(widgets::one_line(
                r.state.last_error.as_deref().unwrap_or(""),
            ))
            .style(style),
        ])
    });
    Table::new(
        rows,
        [
            Constraint::Length(16),
            Constraint::Length(11),
            Constraint::Length(14),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Length(10),
            Constraint::Length(7),
            Constraint::Min(20),
        ],
    )
    .header(header)
}

fn sync_log(s: &State, f: &mut Frame, area: Rect) {
    let block = Block::bordered().title(Line::styled(" sync log ", widgets::title()));
    let height = area.height.saturating_sub(2) as usize;
    let lines: Vec<Line> = if s.sync_log.is_empty() {
        let why = if s.readonly {
            "--readonly: the console does not sync; `relops sync --watch` does"
        } else {
            "nothing yet: the console syncs configured sources in the background"
        };
        vec![Line::styled(why, widgets::dim())]
    } else {
        let skip = s.sync_log.len().saturating_sub(height);
        s.sync_log
            .iter()
            .skip(skip)
            .map(|l| Line::raw(l.clone()))
            .collect()
    };
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}
