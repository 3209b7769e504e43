//! One trace: summary, span waterfall, tool calls, input and output. Built as lines
//! (a pure function of the trace and the width) so `update` can bound the scroll.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::model::SpanKind;
use crate::store::query::{SpanDetail, TraceDetail};
use crate::tui::layout;
use crate::tui::state::DetailState;
use crate::tui::widgets;

/// Columns of the duration bar.
const BAR: usize = 24;

pub fn draw(d: &DetailState, f: &mut Frame, area: Rect) {
    let title = format!(" Trace {} ", d.trace_id);
    let block = Block::bordered().title(Line::styled(title, widgets::title()));
    let Some(detail) = d.data.as_deref() else {
        f.render_widget(Paragraph::new("loading…").block(block), area);
        return;
    };
    let width = layout::inner(area).width as usize;
    let lines = lines(detail, width);
    let scroll = d.scroll.min(lines.len().saturating_sub(1)) as u16;
    f.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), area);
}

/// How many lines the detail has at the current body width.
pub fn line_count(detail: &TraceDetail, width: usize) -> usize {
    lines(detail, width).len()
}

pub fn lines(d: &TraceDetail, width: usize) -> Vec<Line<'static>> {
    let mut out = summary(d);
    out.push(Line::default());
    out.push(Line::styled("Spans", widgets::title()));
    let (t0, total) = extent(&d.spans);
    out.extend(d.spans.iter().map(|s| span_line(s, t0, total, width)));
    tool_calls(d, &mut out);
    text_section("Input", d.input.as_deref(), width, &mut out);
    text_section("Output", d.output.as_deref(), width, &mut out);
    out
}

fn summary(d: &TraceDetail) -> Vec<Line<'static>> {
    let r = &d.row;
    let mut facts = vec![
        Span::raw(format!("{} · ", widgets::millis(r.duration_ms))),
        if r.status == "error" {
            Span::styled("error", widgets::bad())
        } else {
            Span::raw("ok")
        },
    ];
    if r.refusal {
        facts.push(Span::styled(" · refusal", widgets::warn()));
    }
    if r.safety_events > 0 {
        facts.push(Span::styled(
            format!(" · {} safety events", r.safety_events),
            widgets::warn(),
        ));
    }
    facts.push(Span::raw(format!(
        " · tokens {} in / {} out · {} · {} tool calls ({} failed) · {} retrievals ({} empty)",
        r.tokens_in,
        r.tokens_out,
        widgets::dollars(r.cost_usd),
        r.tool_calls,
        r.tool_errors,
        d.retrievals,
        d.retrieval_empty,
    )));
    vec![
        Line::from(vec![
            Span::styled(r.name.clone(), widgets::title()),
            Span::raw(format!(
                "  version {} ({})  started {}",
                r.version, r.version_id, r.started_at
            )),
        ]),
        Line::from(facts),
    ]
}

/// Start of the earliest span and the whole extent, in nanoseconds.
fn extent(spans: &[SpanDetail]) -> (i64, i64) {
    let t0 = spans.iter().map(|s| s.facts.start_ns).min().unwrap_or(0);
    let t1 = spans.iter().map(|s| s.facts.end_ns).max().unwrap_or(t0);
    (t0, (t1 - t0).max(1))
}

fn kind_colour(kind: SpanKind) -> Color {
    match kind {
        SpanKind::Llm => Color::Magenta,
        SpanKind::Tool => Color::Yellow,
        SpanKind::Retriever | SpanKind::Embedding => Color::Blue,
        SpanKind::Guardrail => Color::Red,
        _ => Color::Gray,
    }
}

/// `  ✗ tool      lookup_order     45ms  [   ██      ]`
fn span_line(s: &SpanDetail, t0: i64, total: i64, width: usize) -> Line<'static> {
    let f = &s.facts;
    let mark = if f.error {
        Span::styled("✗ ", widgets::bad())
    } else {
        Span::raw("  ")
    };
    let indent = "  ".repeat(s.depth);
    let mut name = f.name.clone();
    if let Some(m) = f.model.as_ref().filter(|m| !f.name.contains(m.as_str())) {
        name.push_str(&format!(" ({m})"));
    }
    let name_w = width.saturating_sub(BAR + 30).clamp(12, 60);
    let label = widgets::clip(&format!("{indent}{name}"), name_w);
    let start = ((f.start_ns - t0) as f64 / total as f64 * BAR as f64) as usize;
    let len = ((f.end_ns - f.start_ns) as f64 / total as f64 * BAR as f64)
        .ceil()
        .max(1.0) as usize;
    let start = start.min(BAR - 1);
    let len = len.min(BAR - start);
    let bar = format!(
        "{}{}{}",
        " ".repeat(start),
        "█".repeat(len),
        " ".repeat(BAR - start - len)
    );
    let colour = Style::new().fg(kind_colour(f.kind));
    Line::from(vec![
        mark,
        Span::styled(format!("{:<9} ", f.kind.as_str()), colour),
        Span::raw(format!("{label:<name_w$} ")),
        Span::raw(format!("{:>8} ", widgets::millis(s.duration_ms))),
        Span::styled(format!("▕{bar}▏"), colour),
    ])
}

fn tool_calls(d: &TraceDetail, out: &mut Vec<Line<'static>>) {
    let tools: Vec<&SpanDetail> = d
        .spans
        .iter()
        .filter(|s| s.facts.kind == SpanKind::Tool)
        .collect();
    if tools.is_empty() {
        return;
    }
    out.push(Line::default());
    out.push(Line::styled("Tool calls", widgets::title()));
    for s in tools {
        let f = &s.facts;
        let name = f.tool_name.clone().unwrap_or_else(|| f.name.clone());
        let args = widgets::one_line(f.tool_args.as_deref().unwrap_or(""));
        let mut spans = vec![Span::raw(format!("  {name}({})", widgets::clip(&args, 80)))];
        if f.error {
            let why = f.status_message.clone().unwrap_or_else(|| "failed".into());
            spans.push(Span::styled(
                format!("  ✗ {}", widgets::one_line(&why)),
                widgets::bad(),
            ));
        }
        out.push(Line::from(spans));
    }
}

/// A titled block of text, hard-wrapped at `width` (`(none)` when empty).
pub fn text_section(title: &str, text: Option<&str>, width: usize, out: &mut Vec<Line<'static>>) {
    out.push(Line::default());
    out.push(Line::styled(title.to_string(), widgets::title()));
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        out.push(Line::styled("  (none)", widgets::dim()));
        return;
    };
    for line in wrap(text, width.saturating_sub(2).max(10)) {
        out.push(Line::raw(format!("  {line}")));
    }
}

/// Hard-wraps text at `width` characters, keeping its own line breaks.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    for para in text.lines() {
        let chars: Vec<char> = para
            .chars()
            .map(|c| if c == '\t' { ' ' } else { c })
            .collect();
        if chars.is_empty() {
            out.push(String::new());
        }
        out.extend(chars.chunks(width).map(|c| c.iter().collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn wraps_long_lines_and_keeps_breaks() {
        assert_eq!(super::wrap("abcdef\n\ngh", 4), vec!["abcd", "ef", "", "gh"]);
    }
}
