//! The Drift pane: one row per signal with the numbers behind its verdict, and the
//! selected signal over time, baseline against candidate.
//!
//! ```text
//! ┌ Drift · v3 vs v2 · 1d to 11-27 14:37 · 2,191 vs 4,952 requests · FAIL ──────────┐
//! │ VERDICT  SIGNAL         BASELINE  CURRENT  DELTA  95% INTERVAL  N (C/B)  P HOLM  │
//! │▶FAIL     refusal rate   1.70%     8.17%    ...                                   │
//! ├ refusal rate per 30m: v2 ─ v3 ───────────────────────────────────────────────────┤
//! │ chart                                                                            │
//! │ reason · onset                                                                   │
//! └──────────────────────────────────────────────────────────────────────────────────┘
//! ```

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Cell, Chart, Dataset, GraphType, Paragraph, Row, Table, Wrap};

use super::super::state::State;
use super::super::widgets;
use crate::drift::{DriftReport, SignalReport};

pub fn draw(s: &State, f: &mut Frame, area: Rect) {
    let Some(report) = s.drift.report.as_deref() else {
        let text = "Judging drift… (needs traces of at least one version in the window)";
        f.render_widget(
            Paragraph::new(text).block(Block::bordered().title(" Drift ")),
            area,
        );
        return;
    };
    let block = Block::bordered().title(title(report));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let rows = report.signals.len() as u16 + 1;
    let [table, detail] = Layout::vertical([
        Constraint::Length(rows.min(inner.height / 2).max(3)),
        Constraint::Min(6),
    ])
    .areas(inner);
    signals(report, s.drift.selected, f, table);
    if let Some(sig) = report.signals.get(s.drift.selected) {
        selected(report, sig, f, detail);
    }
}

fn title(r: &DriftReport) -> Line<'static> {
    let versus = match &r.baseline {
        Some(b) => b.label.clone(),
        None => format!("{} before", r.candidate.label),
    };
    Line::from(vec![
        Span::raw(format!(
            " Drift · {} vs {versus} · {} to {} · {} vs {} requests · ",
            r.candidate.label,
            r.window,
            short_time(&r.window_end),
            widgets::thousands(r.requests_candidate),
            widgets::thousands(r.requests_baseline),
        )),
        Span::styled(r.verdict.word(), widgets::verdict(r.verdict)),
        Span::raw(" "),
    ])
}

/// `2026-11-27T14:37:10.226Z` → `11-27 14:37`.
fn short_time(rfc3339: &str) -> String {
    rfc3339
        .get(5..16)
        .map_or_else(|| rfc3339.to_string(), |t| t.replace('T', " "))
}

/// The signal table's columns in reading order: heading, width, and the rank in which
/// a narrow screen keeps them (verdict, signal, delta and interval first; the sample
/// sizes go first).
const COLUMNS: [(&str, u16, u8); 8] = [
    ("VERDICT", 14, 0),
    ("SIGNAL", 22, 1),
    ("BASELINE", 11, 6),
    ("CURRENT", 11, 5),
    ("DELTA", 10, 2),
    ("95% INTERVAL", 18, 3),
    ("N (C/B)", 13, 7),
    ("P HOLM", 7, 4),
];

/// The columns that fit in `width`, by rank, in reading order.
fn fitting_columns(width: u16) -> Vec<usize> {
    let mut by_rank: Vec<usize> = (0..COLUMNS.len()).collect();
    by_rank.sort_by_key(|&i| COLUMNS[i].2);
    let mut kept = Vec::new();
    let mut used = 0u16;
    for i in by_rank {
        let need = COLUMNS[i].1 + u16::from(!kept.is_empty());
        if used + need > width && kept.len() >= 2 {
            break;
        }
        used += need;
        kept.push(i);
    }
    kept.sort_unstable();
    kept
}

fn signals(r: &DriftReport, selected: usize, f: &mut Frame, area: Rect) {
    let kept = fitting_columns(area.width);
    let header = Row::new(kept.iter().map(|&i| COLUMNS[i].0)).style(widgets::dim());
    // Keep the selection in view: scroll the rows, not the header.
    let visible = area.height.saturating_sub(1) as usize;
    let first = selected.saturating_sub(visible.saturating_sub(1));
    let rows = r
        .signals
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .map(|(i, sig)| {
            let marker = if i == selected { "▶ " } else { "  " };
            let style = if i == selected {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            };
            let text = |c: usize| match c {
                1 => sig.label.clone(),
                2 => sig.fmt_baseline(),
                3 => sig.fmt_current(),
                4 => sig.fmt_delta(),
                5 => sig.fmt_interval(),
                6 => sig.fmt_n(),
                _ => sig.fmt_p(),
            };
            let cells = kept.iter().map(|&c| match c {
                0 => Cell::from(Span::styled(
                    format!("{marker}{}", sig.judgement.verdict.word()),
                    widgets::verdict(sig.judgement.verdict),
                )),
                c => Cell::from(crate::text::clip(&text(c), usize::from(COLUMNS[c].1))),
            });
            Row::new(cells.collect::<Vec<_>>()).style(style)
        });
    let widths: Vec<Constraint> = kept
        .iter()
        .map(|&i| Constraint::Length(COLUMNS[i].1))
        .collect();
    f.render_widget(Table::new(rows, widths).header(header), area);
}

fn selected(r: &DriftReport, sig: &SignalReport, f: &mut Frame, area: Rect) {
    let [chart, text] = Layout::vertical([Constraint::Min(4), Constraint::Length(3)]).areas(area);
    let mut lines = vec![Line::from(sig.judgement.reason.clone())];
    if let Some(o) = &sig.onset {
        lines.push(Line::from(Span::styled(
            format!("onset {}", o.text),
            widgets::warn(),
        )));
    }
    lines.push(Line::from(Span::styled(
        format!("Enter: the traces behind it ({})", sig.drill),
        widgets::dim(),
    )));
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), text);
    match &sig.series {
        Some(series) if !series.candidate.is_empty() => series_chart(r, sig, series, f, chart),
        _ => f.render_widget(
            Paragraph::new(Span::styled(
                "no per-bucket series for this signal",
                widgets::dim(),
            ))
            .block(Block::bordered().title(format!(" {} ", sig.label))),
            chart,
        ),
    }
}

fn points(values: &[Option<f64>]) -> Vec<(f64, f64)> {
    values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i as f64, v)))
        .collect()
}

fn series_chart(
    r: &DriftReport,
    sig: &SignalReport,
    series: &crate::drift::Series,
    f: &mut Frame,
    area: Rect,
) {
    let base = points(&series.baseline);
    let cand = points(&series.candidate);
    let max = base
        .iter()
        .chain(&cand)
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(1e-9);
    let n = series.candidate.len().max(1) as f64;
    let baseline_label = r
        .baseline
        .as_ref()
        .map_or("before".to_string(), |b| b.label.clone());
    let datasets = vec![
        Dataset::default()
            .name(baseline_label)
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(Color::Blue))
            .data(&base),
        Dataset::default()
            .name(r.candidate.label.clone())
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(Color::Magenta))
            .data(&cand),
    ];
    let bucket_min = r.bucket_seconds / 60;
    let title = format!(" {} per {bucket_min} min ({}) ", sig.label, series.what);
    let y_labels = [0.0, max / 2.0, max].map(|v| Span::raw(sig.fmt_value(v)));
    let chart = Chart::new(datasets)
        .block(Block::bordered().title(title))
        .x_axis(Axis::default().bounds([0.0, n - 1.0]).labels([
            Span::raw(short_time(&r.window_start)),
            Span::raw(short_time(&r.window_end)),
        ]))
        .y_axis(Axis::default().bounds([0.0, max * 1.05]).labels(y_labels));
    f.render_widget(chart, area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_screens_keep_verdict_signal_delta_and_interval() {
        let names =
            |w: u16| -> Vec<&str> { fitting_columns(w).iter().map(|&i| COLUMNS[i].0).collect() };
        assert_eq!(
            names(78),
            ["VERDICT", "SIGNAL", "DELTA", "95% INTERVAL", "P HOLM"]
        );
        assert_eq!(
            names(98),
            [
                "VERDICT",
                "SIGNAL",
                "CURRENT",
                "DELTA",
                "95% INTERVAL",
                "P HOLM"
            ]
        );
        assert_eq!(names(158).len(), COLUMNS.len());
    }
}
