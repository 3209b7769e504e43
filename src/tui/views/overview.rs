//! The Overview pane: which versions serve traffic (with their fingerprints and shares)
//! and how each signal moved per version across the window.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Sparkline, Table};

use crate::clock::rfc3339;
use crate::drift::{DriftReport, SignalReport};
use crate::store::query::{self, Buckets, VersionRow};
use crate::sync::status::{Health, SourceStatus};
use crate::tui::data::OverviewData;
use crate::tui::signals::{MIN_SAMPLE, SIGNALS, Signal, Unit, traffic_share};
use crate::tui::state::State;
use crate::tui::widgets::{self, version_colour};

pub fn draw(s: &State, f: &mut Frame, area: Rect) {
    let block = Block::bordered().title(Line::styled(title(s), widgets::title()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(data) = s.overview.data.as_ref() else {
        f.render_widget(Paragraph::new("loading…"), inner);
        return;
    };
    let active = data.active();
    if active.is_empty() {
        f.render_widget(Paragraph::new(empty_text(data)), inner);
        return;
    }
    let tile_h = active.len() as u16 + 2;
    let [fresh, table, _, tiles] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(active.len() as u16 + 1),
        Constraint::Length(1),
        Constraint::Min(tile_h),
    ])
    .areas(inner);
    f.render_widget(Paragraph::new(freshness_line(s, data)), fresh);
    versions_table(s, data, &active, f, table);
    // Tiles take verdict colours only while the judged candidate is on screen.
    let drift = s
        .drift
        .report
        .as_deref()
        .filter(|r| active.iter().any(|v| v.rowid == r.candidate.rowid));
    signal_tiles(data, &active, drift, f, tiles, tile_h);
}

fn title(s: &State) -> String {
    match &s.overview.data {
        Some(d) if d.newest_ns.is_some() => format!(
            " Overview · last {} to {} · {} buckets ",
            s.window,
            &rfc3339(d.window_end_ns)[..16].replace('T', " "),
            d.buckets
        ),
        _ => " Overview ".into(),
    }
}

fn empty_text(data: &OverviewData) -> Vec<Line<'static>> {
    let mut lines = if data.total == 0 {
        vec![
            Line::raw("No traces in the cache yet."),
            Line::raw("Import some with `relops import FILE`, or try `relops demo`."),
        ]
    } else {
        vec![Line::raw("No version served traffic in the window.")]
    };
    lines.extend(sources_summary(&data.sources).map(Line::from));
    lines
}

/// `newest trace 3m ago · imported 3m ago · 12,345 traces` (stale in the warning colour).
fn freshness_line(s: &State, data: &OverviewData) -> Line<'static> {
    let mut spans = super::freshness(s);
    if let Some(imported) = data.imported_ns {
        spans.push(Span::styled(
            format!("· imported {} ago ", widgets::age(imported, s.now_ns)),
            widgets::dim(),
        ));
    }
    spans.push(Span::styled(
        format!(
            "· {} traces in the cache",
            widgets::thousands(data.total.max(0) as u64)
        ),
        widgets::dim(),
    ));
    spans.extend(sources_summary(&data.sources));
    Line::from(spans)
}

/// ` · sources ok (2)`, or the failing ones by name, loud: the operator should know
/// when what they read has stopped arriving.
fn sources_summary(sources: &[SourceStatus]) -> Option<Span<'static>> {
    if sources.is_empty() {
        return None;
    }
    let failing: Vec<&str> = sources
        .iter()
        .filter(|s| s.health == Health::Failing)
        .map(|s| s.source.as_str())
        .collect();
    Some(match failing.is_empty() {
        true => Span::styled(format!(" · sources ok ({})", sources.len()), widgets::dim()),
        false => Span::styled(
            format!(" · sources failing: {} (5 shows why)", failing.join(", ")),
            widgets::bad(),
        ),
    })
}

fn versions_table(
    s: &State,
    data: &OverviewData,
    active: &[&VersionRow],
    f: &mut Frame,
    area: Rect,
) {
    let all: Vec<&Buckets> = active
        .iter()
        .filter_map(|v| data.series.get(&v.rowid))
        .collect();
    let header = Row::new([
        "  VERSION",
        "ID",
        "MODEL",
        "PROMPT",
        "CONFIG",
        "INDEX",
        "TOOLS",
        "SHARE",
        "NOW",
    ])
    .style(widgets::dim());
    let rows = active.iter().enumerate().map(|(i, v)| {
        let (window, now) = data
            .series
            .get(&v.rowid)
            .map_or((0.0, 0.0), |b| traffic_share(b, &all));
        let marker = if i == s.overview.selected {
            "▶ "
        } else {
            "  "
        };
        // A label that names two fingerprints may be spoofed traffic: say so, not only
        // in colour; commands refuse it until one is named as `label@id`.
        let label = match query::is_ambiguous(&data.versions, &v.label) {
            true => Cell::from(format!("{marker}{} ⚠2fp", v.label)).style(widgets::bad()),
            false => {
                Cell::from(format!("{marker}{}", v.label)).style(Style::new().fg(version_colour(i)))
            }
        };
        let row = Row::new([
            label,
            Cell::from(v.id.clone()),
            Cell::from(or_dash(&v.model)),
            Cell::from(or_dash(&v.prompt_hash)),
            Cell::from(or_dash(&v.config_hash)),
            Cell::from(or_dash(&v.index_version)),
            Cell::from(tools(v)),
            Cell::from(widgets::percent(window)),
            Cell::from(widgets::percent(now)),
        ]);
        if i == s.overview.selected {
            row.style(widgets::selected())
        } else {
            row
        }
    });
    let widths = [
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Min(12),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Min(12),
        Constraint::Length(6),
        Constraint::Length(6),
    ];
    f.render_widget(Table::new(rows, widths).header(header), area);
}

fn or_dash(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

fn tools(v: &VersionRow) -> String {
    if v.tools.is_empty() {
        return "-".into();
    }
    v.tools
        .iter()
        .map(|(t, ver)| format!("{t}@{ver}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Six tiles, three a row (two a row on narrow screens), sharing the height left.
fn signal_tiles(
    data: &OverviewData,
    active: &[&VersionRow],
    drift: Option<&DriftReport>,
    f: &mut Frame,
    area: Rect,
    tile_h: u16,
) {
    let per_row = if area.width >= 120 { 3 } else { 2 };
    let rows = SIGNALS.len().div_ceil(per_row);
    let height = (area.height / rows as u16).max(tile_h);
    let row_areas = Layout::vertical(vec![Constraint::Length(height); rows]).split(area);
    for (r, chunk) in SIGNALS.chunks(per_row).enumerate() {
        let cols = Layout::horizontal(vec![Constraint::Ratio(1, per_row as u32); per_row])
            .split(row_areas[r]);
        for (c, signal) in chunk.iter().enumerate() {
            let verdict = drift.and_then(|r| r.signals.iter().find(|d| d.name == signal.drift));
            tile(signal, data, active, verdict, f, cols[c]);
        }
    }
}

/// One signal: per version a label line with the current value, and a sparkline over
/// the window, tall when there is room. One scale per tile, so versions compare. The
/// border takes the colour of the signal's drift verdict, which the title names.
fn tile(
    signal: &Signal,
    data: &OverviewData,
    active: &[&VersionRow],
    drift: Option<&SignalReport>,
    f: &mut Frame,
    area: Rect,
) {
    let mut block = Block::bordered().title(format!(" {} ", signal.name));
    if let Some(d) = drift {
        let style = widgets::verdict(d.judgement.verdict);
        block = block.border_style(style).title(
            Line::styled(format!(" drift: {} ", d.judgement.verdict.word()), style).right_aligned(),
        );
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    let series: Vec<Vec<Option<f64>>> = active
        .iter()
        .map(|v| {
            data.series
                .get(&v.rowid)
                .map_or_else(Vec::new, |b| signal.series(b))
        })
        .collect();
    let max = series
        .iter()
        .flatten()
        .flatten()
        .copied()
        .fold(0.0, f64::max);
    let label_w = active
        .iter()
        .map(|v| v.label.chars().count())
        .max()
        .unwrap_or(2)
        .min(10);
    let slots = Layout::vertical(vec![
        Constraint::Ratio(1, active.len() as u32);
        active.len()
    ])
    .split(inner);
    for (i, (v, values)) in active.iter().zip(&series).enumerate() {
        let current = data
            .series
            .get(&v.rowid)
            .and_then(|b| signal.window_value(b));
        let colour = Style::new().fg(version_colour(i));
        let slot = slots[i];
        let head = Line::from(vec![
            Span::styled(
                format!("{:<label_w$} ", widgets::clip(&v.label, label_w)),
                colour,
            ),
            Span::raw(format!(
                "{:>9}",
                current.map_or("-".into(), |(x, _)| fmt(signal.unit, x))
            )),
            sample(current.map_or(0, |(_, n)| n)),
        ]);
        if slot.height >= 3 {
            let [top, chart] =
                Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(slot);
            f.render_widget(Paragraph::new(head), top);
            sparkline(values, max, colour, f, chart);
        } else {
            // Cramped: the label line with a one-row sparkline after it.
            let width = (slot.width as usize)
                .saturating_sub(head.width() + 1)
                .min(values.len());
            let recent = &values[values.len() - width..];
            let mut line = head;
            line.spans.push(Span::styled(
                format!(" {}", widgets::spark(recent, max)),
                colour,
            ));
            f.render_widget(Paragraph::new(line), slot);
        }
    }
}

/// A multi-row sparkline of the most recent buckets that fit; gaps stay empty.
fn sparkline(values: &[Option<f64>], max: f64, style: Style, f: &mut Frame, area: Rect) {
    let recent = &values[values.len().saturating_sub(area.width as usize)..];
    let scale = |x: f64| {
        if max > 0.0 {
            (x / max * 1000.0).round() as u64
        } else {
            0
        }
    };
    let bars: Vec<Option<u64>> = recent.iter().map(|v| v.map(scale)).collect();
    let chart = Sparkline::default().data(&bars).max(1000).style(style);
    f.render_widget(chart, area);
}

/// The sample size, in the warning colour when too small to trust.
fn sample(n: u64) -> Span<'static> {
    let style = if n < MIN_SAMPLE {
        widgets::warn()
    } else {
        widgets::dim()
    };
    Span::styled(format!(" n={n:<6}"), style)
}

fn fmt(unit: Unit, x: f64) -> String {
    match unit {
        Unit::Millis => widgets::millis(x),
        Unit::Dollars => widgets::dollars(x),
        Unit::Rate => widgets::percent(x),
    }
}
