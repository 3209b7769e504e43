//! The `R` form, floating over the body:
//!
//! ```text
//! ┌ New case from trace 4bf92f35… (v3) ─────────────────────────────┐
//! │ title  I want a refund for order… refused on v3▏                │
//! │                                                                 │
//! │ [x] not_refusal                  the trace refused              │
//! │ [x] similar_to_reference ≥ 0.6   replay r:12 on v2 answered …   │
//! │                                                                 │
//! │ [x] must-pass                                                   │
//! │ input  I want a refund for order A-1001                         │
//! │ saves  evals/cases/<slug>-3f9c2a1b.json                          │
//! └─────────────────────────────────────────────────────────────────┘
//! ```

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::super::layout;
use super::super::state::CaseForm;
use super::super::widgets::{self, clip, one_line};
use crate::cases;

pub fn draw(form: &CaseForm, f: &mut Frame, body: Rect) {
    let n = form.keep.len();
    let h = (n as u16 + 8).min(body.height);
    let w = body.width.saturating_sub(4).min(100);
    let area = layout::centered(body, w, h);
    let text_w = usize::from(w.saturating_sub(4));
    let style = |focus: bool| {
        if focus {
            widgets::selected()
        } else {
            ratatui::style::Style::new()
        }
    };
    let case = &form.draft.case;
    let mut lines = vec![
        Line::from(vec![
            Span::styled("title  ", widgets::dim()),
            Span::styled(
                format!(
                    "{}{}",
                    clip(&case.title, text_w.saturating_sub(9)),
                    if form.focus == 0 { "▏" } else { "" }
                ),
                style(form.focus == 0),
            ),
        ]),
        Line::raw(""),
    ];
    let desc_w = form
        .draft
        .case
        .assertions
        .iter()
        .map(|a| a.describe().chars().count())
        .max()
        .unwrap_or(0)
        .min(40);
    for (i, (a, why)) in case.assertions.iter().zip(&form.draft.why).enumerate() {
        let mark = if form.keep[i] { "[x]" } else { "[ ]" };
        let desc = clip(&a.describe(), desc_w);
        let line = format!("{mark} {desc:<desc_w$}  ");
        let room = text_w.saturating_sub(line.chars().count());
        lines.push(Line::from(vec![
            Span::styled(line, style(form.focus == i + 1)),
            Span::styled(clip(why, room), widgets::dim()),
        ]));
    }
    lines.push(Line::raw(""));
    let must = if case.must_pass { "[x]" } else { "[ ]" };
    lines.push(Line::styled(
        format!("{must} must-pass (a failure holds the release)"),
        style(form.focus == n + 1),
    ));
    lines.push(Line::from(vec![
        Span::styled("input  ", widgets::dim()),
        Span::raw(clip(&one_line(&case.input), text_w.saturating_sub(7))),
    ]));
    lines.push(Line::from(vec![
        Span::styled("saves  ", widgets::dim()),
        Span::raw(clip(
            &format!("<suite>/{}", cases::file_name(case)),
            text_w.saturating_sub(7),
        )),
    ]));
    let mut title = match &case.source {
        Some(s) => format!(
            " New case from trace {}… ({}) ",
            &s.trace_id[..s.trace_id.len().min(8)],
            s.version
        ),
        None => " New case ".to_string(),
    };
    if let Some(i) = case.incident {
        title.push_str(&format!("· for incident {i} "));
    }
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(Line::styled(title, widgets::title()))),
        area,
    );
}
