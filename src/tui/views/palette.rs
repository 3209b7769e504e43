//! The `:` palette's matches, floating just above the prompt.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::tui::palette::{self, Prompt};
use crate::tui::state::State;
use crate::tui::widgets;

const MAX_SHOWN: usize = 8;

pub fn draw(s: &State, p: &Prompt, f: &mut Frame, body: Rect) {
    let found = palette::matches(p.split().0, s.readonly);
    let h = (found.len().clamp(1, MAX_SHOWN) + 2) as u16;
    let area = Rect {
        x: body.x,
        y: body.bottom().saturating_sub(h),
        width: body.width.min(70),
        height: h.min(body.height),
    };
    let choice = p.choice.min(found.len().saturating_sub(1));
    let first = choice.saturating_sub(MAX_SHOWN - 1);
    let lines: Vec<Line> = if found.is_empty() {
        vec![Line::styled("no matching command", widgets::dim())]
    } else {
        found
            .iter()
            .enumerate()
            .skip(first)
            .take(MAX_SHOWN)
            .map(|(i, c)| {
                let line = Line::from(vec![
                    Span::styled(format!(" {:<14}", c.name), widgets::title()),
                    Span::raw(c.about),
                ]);
                if i == choice {
                    line.style(widgets::selected())
                } else {
                    line
                }
            })
            .collect()
    };
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Commands ")),
        area,
    );
}
