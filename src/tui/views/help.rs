//! The `?` overlay, generated from the keymap (so it cannot drift from the keys), plus
//! the filter language and the palette's commands.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::tui::action::{COMMANDS, offered};
use crate::tui::filter;
use crate::tui::keymap::{Keymap, Mode};
use crate::tui::layout;
use crate::tui::state::State;
use crate::tui::widgets;

pub fn draw(s: &State, scroll: usize, f: &mut Frame, body: Rect) {
    let area = layout::centered(body, 76, body.height);
    let lines = lines(&s.keymap, s.readonly);
    let block = Block::bordered().title(Line::styled(" Help · Esc closes ", widgets::title()));
    let scroll = scroll.min(lines.len().saturating_sub(1)) as u16;
    f.render_widget(Clear, area);
    f.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), area);
}

pub fn line_count(keymap: &Keymap, readonly: bool) -> usize {
    lines(keymap, readonly).len()
}

fn entry(keys: &str, text: &str) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("  {keys:<22}"), widgets::title()),
        Span::raw(text.to_string()),
    ])
}

pub fn lines(keymap: &Keymap, readonly: bool) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for mode in Mode::ALL {
        let bindings: Vec<_> = keymap.bindings(mode, readonly).collect();
        if bindings.is_empty() {
            continue;
        }
        out.push(Line::styled(mode.title().to_string(), widgets::warn()));
        out.extend(bindings.iter().map(|b| entry(&b.keys_label(), &b.help)));
        out.push(Line::default());
    }
    out.push(Line::styled(
        "Filter language (/), all terms must hold",
        widgets::warn(),
    ));
    out.extend(filter::HELP.iter().map(|(k, v)| entry(k, v)));
    out.push(Line::default());
    out.push(Line::styled(
        "Commands (:), prefix or fuzzy match",
        widgets::warn(),
    ));
    out.extend(
        COMMANDS
            .iter()
            .filter(|c| c.palette && offered(c, readonly))
            .map(|c| entry(c.name, c.about)),
    );
    out.push(Line::default());
    out.push(Line::styled(
        "Mouse: wheel scrolls; click a tab or a row; click the selected row to open it.",
        widgets::dim(),
    ));
    out
}
