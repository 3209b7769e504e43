//! The Diff pane: two executions side by side, one scroll for both columns.
//!
//! ```text
//! ┌ Diff  A trace 4bf9… (v3)  ⟷  B r:12 (v2) ───────────────────────────────────┐
//! │ Output │ Spans │ Tool calls │ Meta      refusal yes → no · tool errors 1 → 0 │
//! │ A  v3 · refusal · 285ms               │ B  v2 · ok · 1.21s                  │
//! │    1 I'm sorry, but I can't help…      │    1 Your refund for order A1… is   │
//! └──────────────────────────────────────────────────────────────────────────────┘
//! ```
//! The rows of a tab are laid out once per (diff, tab, width) by [`layout`], which
//! `update` calls, so drawing and `n`/`N` read the same rows and drawing stays cheap.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::replay::diff::{Change, Diff, Part, Row, SpanSide, ToolCall};
use crate::replay::execution::Execution;
use crate::tui::layout;
use crate::tui::state::{Picker, State};
use crate::tui::widgets::{self, clip, dollars, millis, one_line};

/// The tabs of the pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiffTab {
    #[default]
    Output,
    Spans,
    Tools,
    Meta,
}

impl DiffTab {
    pub const ALL: [DiffTab; 4] = [
        DiffTab::Output,
        DiffTab::Spans,
        DiffTab::Tools,
        DiffTab::Meta,
    ];

    pub fn title(self) -> &'static str {
        match self {
            DiffTab::Output => "Output",
            DiffTab::Spans => "Spans",
            DiffTab::Tools => "Tool calls",
            DiffTab::Meta => "Meta",
        }
    }

    pub fn cycle(self, step: isize) -> DiffTab {
        let i = Self::ALL.iter().position(|t| *t == self).unwrap_or(0) as isize;
        Self::ALL[(i + step).rem_euclid(Self::ALL.len() as isize) as usize]
    }
}

/// A tab's rows, left and right, and where each change starts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiffLayout {
    pub rows: Vec<[Line<'static>; 2]>,
    /// Row indices where a run of changed rows begins (`n` / `N` stops).
    pub changes: Vec<usize>,
}

/// The rows being built, with whether the previous row was a change.
struct Builder {
    out: DiffLayout,
    last_changed: bool,
}

/// Columns of one side, given the pane's inner width.
pub fn column_width(inner_width: u16) -> usize {
    (inner_width.saturating_sub(1) / 2) as usize
}

/// Lays out one tab of a diff for columns `width` characters wide.
pub fn layout(d: &Diff, tab: DiffTab, width: usize) -> DiffLayout {
    let mut b = Builder {
        out: DiffLayout::default(),
        last_changed: false,
    };
    match tab {
        DiffTab::Output => output(d, width, &mut b),
        DiffTab::Spans => spans(d, width, &mut b),
        DiffTab::Tools => tools(d, width, &mut b),
        DiffTab::Meta => meta(d, width, &mut b),
    }
    b.out
}

impl Builder {
    fn push(&mut self, changed: bool, left: Vec<Line<'static>>, right: Vec<Line<'static>>) {
        let n = left.len().max(right.len()).max(1);
        if changed && !self.last_changed {
            self.out.changes.push(self.out.rows.len());
        }
        let mut l = left.into_iter();
        let mut r = right.into_iter();
        for _ in 0..n {
            self.out
                .rows
                .push([l.next().unwrap_or_default(), r.next().unwrap_or_default()]);
        }
        self.last_changed = changed;
    }
}

fn removed() -> Style {
    Style::new().fg(Color::Red)
}

fn added() -> Style {
    Style::new().fg(Color::Green)
}

fn emphasis(base: Style) -> Style {
    base.add_modifier(Modifier::BOLD | Modifier::REVERSED)
}

fn output(d: &Diff, width: usize, b: &mut Builder) {
    if d.output.rows.is_empty() {
        b.push(false, vec![none()], vec![none()]);
    }
    for r in &d.output.rows {
        let (l, rt) = output_row(r, width);
        b.push(r.change != Change::Same, l, rt);
    }
}

fn none() -> Line<'static> {
    Line::styled("  (none)", widgets::dim())
}

fn output_row(r: &Row, width: usize) -> (Vec<Line<'static>>, Vec<Line<'static>>) {
    let side = |cell: &Option<crate::replay::diff::Cell>, colour: Style| -> Vec<Line<'static>> {
        let Some(c) = cell else { return Vec::new() };
        let base = match r.change {
            Change::Same => Style::new(),
            Change::Changed => Style::new(),
            Change::Removed | Change::Added => colour,
        };
        let parts: Vec<(String, Style)> = c
            .parts
            .iter()
            .map(|Part { text, changed }| {
                let style = if *changed && r.change == Change::Changed {
                    emphasis(colour)
                } else {
                    base
                };
                (text.clone(), style)
            })
            .collect();
        let gutter = format!("{:>4} ", c.line);
        wrap_parts(&gutter, &parts, width)
    };
    (side(&r.left, removed()), side(&r.right, added()))
}

/// Wraps styled runs at `width` columns; the first line starts with `gutter`, the rest
/// with as many spaces.
fn wrap_parts(gutter: &str, parts: &[(String, Style)], width: usize) -> Vec<Line<'static>> {
    let room = width.saturating_sub(gutter.chars().count()).max(8);
    let pad = " ".repeat(gutter.chars().count());
    let mut lines = Vec::new();
    let mut spans = vec![Span::styled(gutter.to_string(), widgets::dim())];
    let mut used = 0;
    for (text, style) in parts {
        let mut run = String::new();
        for ch in text.chars() {
            let ch = if ch.is_control() { ' ' } else { ch };
            if used == room {
                if !run.is_empty() {
                    spans.push(Span::styled(std::mem::take(&mut run), *style));
                }
                lines.push(Line::from(std::mem::take(&mut spans)));
                spans.push(Span::raw(pad.clone()));
                used = 0;
            }
            run.push(ch);
            used += 1;
        }
        if !run.is_empty() {
            spans.push(Span::styled(run, *style));
        }
    }
    lines.push(Line::from(spans));
    lines
}

fn change_style(c: Change) -> Style {
    match c {
        Change::Same => Style::new(),
        Change::Changed => Style::new().fg(Color::Yellow),
        Change::Removed => removed(),
        Change::Added => added(),
    }
}

fn spans(d: &Diff, width: usize, b: &mut Builder) {
    if d.spans.is_empty() {
        b.push(false, vec![none()], vec![none()]);
    }
    for p in &d.spans {
        let style = change_style(p.change);
        let line = |s: &Option<SpanSide>| -> Vec<Line<'static>> {
            let Some(s) = s else { return Vec::new() };
            let mut spans = vec![
                Span::raw(if s.error { "✗ " } else { "  " }),
                Span::styled(
                    clip(
                        &format!("{}{} ", "  ".repeat(s.depth), s.name),
                        width.saturating_sub(18),
                    ),
                    style,
                ),
                Span::styled(
                    format!("{} {}", s.kind, millis(s.duration_ms)),
                    widgets::dim(),
                ),
            ];
            if s.refusal {
                spans.push(Span::styled(" refusal", widgets::warn()));
            }
            vec![Line::from(spans)]
        };
        let mut right = line(&p.b);
        if !p.fields.is_empty() {
            right.push(Line::styled(
                clip(&format!("    changed: {}", p.fields.join(", ")), width),
                widgets::dim(),
            ));
        }
        b.push(p.change != Change::Same, line(&p.a), right);
    }
}

fn tools(d: &Diff, width: usize, b: &mut Builder) {
    if d.tool_calls.is_empty() {
        b.push(false, vec![none()], vec![none()]);
    }
    for p in &d.tool_calls {
        let style = change_style(p.change);
        let call = |c: &Option<ToolCall>| -> Vec<Line<'static>> {
            let Some(c) = c else {
                return vec![Line::styled("  (not called)", widgets::dim())];
            };
            let args = one_line(c.arguments.as_deref().unwrap_or(""));
            let mut lines = vec![Line::styled(
                clip(&format!("{}({args})", c.name), width),
                style.add_modifier(Modifier::BOLD),
            )];
            match &c.error {
                Some(e) => lines.push(Line::styled(
                    clip(&format!("  ✗ {}", one_line(e)), width),
                    widgets::bad(),
                )),
                None => lines.push(Line::raw(clip(
                    &format!("  → {}", one_line(c.result.as_deref().unwrap_or("-"))),
                    width,
                ))),
            }
            lines.push(Line::styled(
                format!("  {}", millis(c.latency_ms)),
                widgets::dim(),
            ));
            lines
        };
        b.push(p.change != Change::Same, call(&p.a), call(&p.b));
        b.push(false, vec![Line::default()], vec![Line::default()]);
    }
}

fn meta(d: &Diff, width: usize, b: &mut Builder) {
    let f = &d.flags;
    let num = |v: Option<f64>, fmt: &dyn Fn(f64) -> String| v.map_or("-".into(), fmt);
    let whole = |n: f64| format!("{n:.0}");
    let rows: Vec<(&str, String, String)> = vec![
        ("execution", describe(&d.a), describe(&d.b)),
        ("version", version(&d.a), version(&d.b)),
        ("status", f.status.a.to_string(), f.status.b.to_string()),
        ("refusal", yes(f.refusal.a), yes(f.refusal.b)),
        (
            "safety events",
            f.safety_events.a.to_string(),
            f.safety_events.b.to_string(),
        ),
        (
            "tool errors",
            f.tool_errors.a.to_string(),
            f.tool_errors.b.to_string(),
        ),
        (
            "latency",
            num(d.deltas.latency_ms.a, &millis),
            num(d.deltas.latency_ms.b, &millis),
        ),
        (
            "tokens in",
            num(d.deltas.tokens_in.a, &whole),
            num(d.deltas.tokens_in.b, &whole),
        ),
        (
            "tokens out",
            num(d.deltas.tokens_out.a, &whole),
            num(d.deltas.tokens_out.b, &whole),
        ),
        (
            "cost",
            num(d.deltas.cost_usd.a, &dollars),
            num(d.deltas.cost_usd.b, &dollars),
        ),
        ("error", opt(&d.a.error), opt(&d.b.error)),
    ];
    for (name, a, bv) in rows {
        let changed = a != bv && !matches!(name, "execution");
        field_row(b, name, &a, &bv, changed, width);
    }
    b.push(
        false,
        vec![
            Line::default(),
            Line::styled("Fingerprint", widgets::title()),
        ],
        vec![
            Line::default(),
            Line::styled(d.fingerprint.b.clone(), widgets::dim()),
        ],
    );
    for fr in &d.fingerprint.fields {
        field_row(b, &fr.field, &opt(&fr.a), &opt(&fr.b), fr.changed, width);
    }
}

fn field_row(b: &mut Builder, name: &str, a: &str, bv: &str, changed: bool, width: usize) {
    let style = if changed {
        widgets::warn()
    } else {
        Style::new()
    };
    let line = |v: &str| {
        Line::from(vec![
            Span::styled(format!("{name:<14} "), widgets::dim()),
            Span::styled(clip(&one_line(v), width.saturating_sub(15)), style),
        ])
    };
    b.push(changed, vec![line(a)], vec![line(bv)]);
}

fn describe(e: &Execution) -> String {
    match &e.target {
        Some(t) => format!("{} on {t}", e.id),
        None => format!("trace {}", e.id),
    }
}

fn version(e: &Execution) -> String {
    format!("{} ({})", e.version, e.version_id)
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

/// The one-line verdict above the columns: what an operator looks at first.
fn verdict(d: &Diff) -> Vec<Span<'static>> {
    let f = &d.flags;
    let mut parts = Vec::new();
    if f.refusal.changed {
        let word = |r: bool| if r { "refusal" } else { "answer" };
        parts.push(format!("{} → {}", word(f.refusal.a), word(f.refusal.b)));
    }
    if f.status.changed {
        parts.push(format!("status {} → {}", f.status.a, f.status.b));
    }
    if f.tool_errors.changed {
        parts.push(format!(
            "tool errors {} → {}",
            f.tool_errors.a, f.tool_errors.b
        ));
    }
    if !d.fingerprint.changed.is_empty() {
        parts.push(format!("changed: {}", d.fingerprint.changed.join(", ")));
    }
    if d.output.identical() {
        parts.push("same output".into());
    }
    vec![Span::styled(parts.join(" · "), widgets::warn())]
}

pub fn draw(s: &State, f: &mut Frame, area: Rect) {
    let d = &s.diff;
    let title = match &d.data {
        Some(x) => format!(" Diff  A {}  ⟷  B {} ", short(&x.a), short(&x.b)),
        None => " Diff ".into(),
    };
    let block = Block::bordered().title(Line::styled(title, widgets::title()));
    let Some(data) = &d.data else {
        let text = if d.loading {
            "loading the diff…"
        } else {
            "No diff yet. On a trace (Traces pane) press r to replay it on another version, \
             then d to diff it against its latest replay; or run `relops diff A B`."
        };
        f.render_widget(
            Paragraph::new(text)
                .wrap(ratatui::widgets::Wrap { trim: true })
                .block(block),
            area,
        );
        return;
    };
    let inner = layout::inner(area);
    f.render_widget(block, area);
    if inner.height < 3 {
        return;
    }
    let mut tabs = Vec::new();
    for t in DiffTab::ALL {
        tabs.push(Span::styled(
            format!(" {} ", t.title()),
            widgets::tab(t == d.tab),
        ));
        tabs.push(Span::styled("│", widgets::dim()));
    }
    tabs.push(Span::raw("  "));
    tabs.extend(verdict(data));
    let row = |y: u16| Rect {
        y: inner.y + y,
        height: 1,
        ..inner
    };
    f.render_widget(Paragraph::new(Line::from(tabs)), row(0));
    let w = column_width(inner.width) as u16;
    let left = Rect {
        x: inner.x,
        y: inner.y + 1,
        width: w,
        height: inner.height - 1,
    };
    let right = Rect {
        x: inner.x + w + 1,
        width: inner.width.saturating_sub(w + 1),
        ..left
    };
    let heads = [head("A", &data.a), head("B", &data.b)];
    let body = (inner.height - 2) as usize;
    let rows = &d.layout.rows;
    let start = d.scroll.min(rows.len().saturating_sub(1));
    let visible = &rows[start.min(rows.len())..(start + body).min(rows.len())];
    for (side, (col, head)) in [left, right].into_iter().zip(heads).enumerate() {
        let mut lines = vec![head];
        lines.extend(visible.iter().map(|r| r[side].clone()));
        f.render_widget(Paragraph::new(lines), col);
    }
    for y in left.y..left.y + left.height {
        f.render_widget(
            Paragraph::new(Span::styled("│", widgets::dim())),
            Rect {
                x: inner.x + w,
                y,
                width: 1,
                height: 1,
            },
        );
    }
}

/// The `r` version list, floating over the body.
pub fn picker(p: &Picker, f: &mut Frame, body: Rect) {
    let h = (p.choices.len() as u16 + 2).min(body.height);
    let area = layout::centered(body, 44, h);
    let items: Vec<Line> = p
        .choices
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let text = if i == p.baseline {
                format!(" {label}  (baseline)")
            } else {
                format!(" {label}")
            };
            if i == p.choice {
                Line::styled(text, widgets::selected())
            } else {
                Line::raw(text)
            }
        })
        .collect();
    let title = format!(" Replay {}… on ", &p.trace_id[..p.trace_id.len().min(8)]);
    f.render_widget(ratatui::widgets::Clear, area);
    f.render_widget(
        Paragraph::new(items).block(Block::bordered().title(Line::styled(title, widgets::title()))),
        area,
    );
}

fn short(e: &Execution) -> String {
    match e.kind {
        "replay" => format!("{} ({})", e.id, e.version),
        _ => format!("trace {}… ({})", &e.id[..e.id.len().min(8)], e.version),
    }
}

fn head(tag: &str, e: &Execution) -> Line<'static> {
    let mut spans = vec![
        Span::styled(format!("{tag}  "), widgets::title()),
        Span::raw(format!("{} · ", e.version)),
    ];
    if e.status == "error" {
        spans.push(Span::styled("error", widgets::bad()));
    } else {
        spans.push(Span::raw("ok"));
    }
    if e.refusal {
        spans.push(Span::styled(" · refusal", widgets::warn()));
    }
    spans.push(Span::styled(
        format!(" · {}", e.latency_ms.map_or("-".into(), millis)),
        widgets::dim(),
    ));
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::diff::text_diff;

    #[test]
    fn long_lines_wrap_and_changes_are_marked_once_per_run() {
        let a = "same\nold line\nold two\nsame again\n";
        let b = format!("same\nnew line\nnew two\nsame again\n{}\n", "x".repeat(50));
        let mut d = crate::replay::diff::tests_support::empty();
        d.output = text_diff(a, &b);
        let l = layout(&d, DiffTab::Output, 30);
        assert_eq!(l.changes, vec![1, 4]);
        // 50 characters in 25 columns (30 less the gutter): two rows.
        assert_eq!(l.rows.len(), 6);
    }

    #[test]
    fn tabs_cycle() {
        assert_eq!(DiffTab::Output.cycle(-1), DiffTab::Meta);
        assert_eq!(DiffTab::Meta.cycle(1), DiffTab::Output);
    }
}
