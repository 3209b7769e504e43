//! The Review pane: the round on the left; the selected trace and the rubric on the right.
//!
//! ```text
//! ┌ Review · round 1 · 3/12 scored · ana ───┐┌ Trace 4bf92f35… · v3 · refusal ─────────────┐
//! │  VERSION  TRACE     STARTED      FLAGS  ││ Input                                        │
//! │▶ v1       4bf92f35  11-19 10:02         ││   I want a refund for order A-1001           │
//! │  v3       0a1b2c3d  11-20 09:12  refusal││ Output                                       │
//! │                                          ││   I'm sorry, but I can't help with refunds.  │
//! │                                          │└──────────────────────────────────────────────┘
//! │                                          │┌ Rubric · 1-5 scores grounded ───────────────┐
//! │                                          ││▶ grounded  ●●●○○ 3/5  every claim is …       │
//! │                                          ││  tone      ○○○   -/3  polite, concise …      │
//! │                                          ││  note      cites the wrong order             │
//! └ v1 4 · v2 5 · v3 3 · 5 reserved ─────────┘└──────────────────────────────────────────────┘
//! ```

use chrono::DateTime;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Wrap};

use crate::review::sample::{Item, Sample};
use crate::review::{Criterion, Rubric};
use crate::tui::layout;
use crate::tui::state::{ReviewState, State};
use crate::tui::widgets;

/// The round's list and the right-hand column, for a screen of `size`.
pub fn areas(size: Rect) -> [Rect; 2] {
    split(layout::areas(size).body)
}

fn split(body: Rect) -> [Rect; 2] {
    Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(body)
}

pub fn draw(s: &State, f: &mut Frame, area: Rect) {
    let r = &s.review;
    let rubric = &s.config.0.rubric;
    let Some(sample) = r.sample.as_deref() else {
        let block = Block::bordered().title(Line::styled(" Review ", widgets::title()));
        f.render_widget(Paragraph::new("drawing a round…").block(block), area);
        return;
    };
    if sample.items.is_empty() {
        empty(sample, rubric, f, area);
        return;
    }
    let [left, right] = split(area);
    list(r, sample, rubric.criteria.len(), f, left);
    let Some(item) = r.selected_item() else {
        return;
    };
    let rubric_h = rubric.criteria.len().max(1) as u16 + 3;
    let [top, bottom] =
        Layout::vertical([Constraint::Min(5), Constraint::Length(rubric_h)]).areas(right);
    trace(r, item, f, top);
    scores(s, rubric, item.trace.pk, f, bottom);
}

fn empty(sample: &Sample, rubric: &Rubric, f: &mut Frame, area: Rect) {
    let block = Block::bordered().title(Line::styled(
        format!(" Review · round {} ", sample.round),
        widgets::title(),
    ));
    let text = vec![
        Line::raw(format!(
            "Nothing to review: no trace of the last {} that {} has not scored.",
            rubric.window, sample.reviewer
        )),
        Line::styled(
            "N draws again; `relops review list` shows the scores stored.",
            widgets::dim(),
        ),
    ];
    f.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: true }).block(block),
        area,
    );
}

fn time(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns)
        .format("%m-%d %H:%M")
        .to_string()
}

/// `4/4` (every criterion), `2/4`, or `-`; `✎` when a note is written or waiting.
fn scored(r: &ReviewState, pk: i64, criteria: usize) -> (String, Style) {
    let review = r.reviews.get(&pk);
    let done = review.map_or(0, |x| x.scores.len());
    let noted = review.is_some_and(|x| x.note.is_some()) || r.pending_notes.contains_key(&pk);
    let pen = if noted { " ✎" } else { "" };
    match done {
        0 => (format!("-{pen}"), widgets::dim()),
        d if d >= criteria => (
            format!("{d}/{criteria}{pen}"),
            Style::new().fg(Color::Green),
        ),
        d => (format!("{d}/{criteria}{pen}"), widgets::warn()),
    }
}

fn list(r: &ReviewState, sample: &Sample, criteria: usize, f: &mut Frame, area: Rect) {
    let done = sample
        .items
        .iter()
        .filter(|i| {
            r.reviews
                .get(&i.trace.pk)
                .is_some_and(|x| !x.scores.is_empty())
        })
        .count();
    let title = Line::from(vec![
        Span::styled(" Review ", widgets::title()),
        Span::raw(format!(
            "· round {} · {done}/{} scored · {} ",
            sample.round,
            sample.items.len(),
            sample.reviewer
        )),
    ]);
    let header =
        Row::new(["  VERSION", "TRACE", "STARTED", "FLAGS", "SCORED"]).style(widgets::dim());
    let visible = layout::table_rows(area);
    let first = layout::first_visible(r.selected, visible);
    let rows = sample
        .items
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .map(|(i, it)| {
            let (mark, mark_style) = scored(r, it.trace.pk, criteria);
            let row = Row::new([
                Cell::from(format!(
                    "{}{}",
                    if i == r.selected { "▶ " } else { "  " },
                    widgets::clip(&it.trace.version, 8)
                )),
                Cell::from(it.trace.id.chars().take(8).collect::<String>()),
                Cell::from(time(it.trace.start_ns)),
                Cell::from(it.flags.join(", ")).style(widgets::warn()),
                Cell::from(mark).style(mark_style),
            ]);
            if i == r.selected {
                row.style(widgets::selected())
            } else {
                row
            }
        });
    let widths = [
        Constraint::Length(10),
        Constraint::Length(8),
        Constraint::Length(11),
        Constraint::Min(10),
        Constraint::Length(7),
    ];
    let block = Block::bordered()
        .title(title)
        .title_bottom(Line::styled(strata(sample), widgets::dim()));
    f.render_widget(Table::new(rows, widths).header(header).block(block), area);
}

/// `v1 4 · v2 5 · v3 3 · 5 reserved for refusals/errors`.
fn strata(sample: &Sample) -> String {
    let mut parts: Vec<String> = sample
        .strata
        .iter()
        .filter(|s| s.slots > 0)
        .map(|s| format!("{} {}", s.version, s.slots))
        .collect();
    let reserved: usize = sample.strata.iter().map(|s| s.reserved).sum();
    parts.push(format!("{reserved} reserved for refusals/errors"));
    format!(" {} ", parts.join(" · "))
}

fn trace(r: &ReviewState, item: &Item, f: &mut Frame, area: Rect) {
    let t = &item.trace;
    let mut title = format!(
        " Trace {}… · {} · {}",
        t.id.chars().take(8).collect::<String>(),
        t.version,
        t.started_at
    );
    if !item.flags.is_empty() {
        title.push_str(&format!(" · {}", item.flags.join(", ")));
    }
    title.push(' ');
    let block = Block::bordered().title(Line::styled(title, widgets::title()));
    let Some(detail) = r.current() else {
        f.render_widget(Paragraph::new("loading…").block(block), area);
        return;
    };
    let width = layout::inner(area).width as usize;
    let mut lines = Vec::new();
    super::detail::text_section("Input", detail.input.as_deref(), width, &mut lines);
    super::detail::text_section("Output", detail.output.as_deref(), width, &mut lines);
    lines.remove(0); // the blank line before the first section
    f.render_widget(Paragraph::new(lines).block(block), area);
}

/// `●●●○○ 3/5` or `○○○○○ -/5`.
fn dots(score: Option<u8>, scale: u8) -> (String, String) {
    let n = score.unwrap_or(0).min(scale) as usize;
    let filled = format!("{}{}", "●".repeat(n), "○".repeat(scale as usize - n));
    let of = score.map_or(format!("-/{scale}"), |s| format!("{s}/{scale}"));
    (filled, of)
}

fn scores(s: &State, rubric: &Rubric, pk: i64, f: &mut Frame, area: Rect) {
    let r = &s.review;
    let selected = rubric.criteria.get(r.criterion);
    let title = match (s.readonly, selected) {
        (false, Some(c)) => format!(
            " Rubric · 1-{} scores {} · ←→ criterion · n note ",
            c.scale, c.name
        ),
        (true, _) => " Rubric (readonly) ".into(),
        (false, None) => " Rubric ".into(),
    };
    let block = Block::bordered().title(Line::styled(title, widgets::title()));
    if rubric.criteria.is_empty() {
        let text = "No [[rubric.criterion]] in relops.toml: assets/relops.example.toml shows how.";
        f.render_widget(Paragraph::new(text).block(block), area);
        return;
    }
    let review = r.reviews.get(&pk);
    let name_w = rubric
        .criteria
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    let width = layout::inner(area).width as usize;
    let mut lines: Vec<Line> = rubric
        .criteria
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let here = i == r.criterion && !s.readonly;
            criterion_line(
                c,
                review.and_then(|x| x.scores.get(&c.name).copied()),
                here,
                name_w,
                width,
            )
        })
        .collect();
    let note = match (
        r.pending_notes.get(&pk),
        review.and_then(|x| x.note.as_ref()),
    ) {
        (Some(n), _) => Line::from(vec![
            Span::styled(format!("  {:<name_w$}  ", "note"), widgets::dim()),
            Span::raw(widgets::one_line(n)),
            Span::styled("  (stored with the first score)", widgets::dim()),
        ]),
        (None, Some(n)) => Line::from(vec![
            Span::styled(format!("  {:<name_w$}  ", "note"), widgets::dim()),
            Span::raw(widgets::one_line(n)),
        ]),
        (None, None) if s.readonly => Line::default(),
        (None, None) => Line::styled(format!("  {:<name_w$}  n adds one", "note"), widgets::dim()),
    };
    lines.push(note);
    f.render_widget(Paragraph::new(lines).block(block), area);
}

fn criterion_line(
    c: &Criterion,
    score: Option<u8>,
    here: bool,
    name_w: usize,
    width: usize,
) -> Line<'static> {
    let (filled, of) = dots(score, c.scale);
    let head = format!("{}{:<name_w$}  ", if here { "▶ " } else { "  " }, c.name);
    let marks = format!("{filled:<9} {of:>3}  ");
    let room = width.saturating_sub(head.chars().count() + marks.chars().count());
    let style = if here {
        widgets::selected()
    } else {
        Style::new()
    };
    let score_style = match score {
        Some(_) => Style::new().fg(Color::Cyan),
        None => widgets::dim(),
    };
    Line::from(vec![
        Span::styled(head, style),
        Span::styled(marks, score_style),
        Span::styled(widgets::clip(&c.description, room), widgets::dim()),
    ])
}
