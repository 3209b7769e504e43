//! Terminal events to actions: keys through the keymap, typing in prompts, the mouse
//! and resizes. Pure, so the same mapping serves the terminal and the tests.

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEventKind,
};

use super::action::Action;
use super::keymap::Mode;
use super::state::State;

/// Lines per mouse wheel notch.
const WHEEL: i32 = 3;

pub fn action_for(s: &State, ev: &Event) -> Option<Action> {
    match ev {
        Event::Key(k) => key(s, k),
        Event::Mouse(m) => match m.kind {
            MouseEventKind::ScrollDown => Some(Action::Scroll(WHEEL)),
            MouseEventKind::ScrollUp => Some(Action::Scroll(-WHEEL)),
            MouseEventKind::Down(MouseButton::Left) => Some(Action::Click {
                col: m.column,
                row: m.row,
            }),
            _ => None,
        },
        Event::Resize(width, height) => Some(Action::Resize {
            width: *width,
            height: *height,
        }),
        _ => None,
    }
}

fn key(s: &State, k: &KeyEvent) -> Option<Action> {
    let modes = s.modes();
    if let Some(a) = s.keymap.action(&modes, k, s.readonly) {
        return Some(a);
    }
    // Unbound printable keys type into the prompts.
    let typing = (modes.contains(&Mode::Input) || modes.contains(&Mode::Form))
        && k.kind != KeyEventKind::Release
        && !k
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    match k.code {
        KeyCode::Char(c) if typing => Some(Action::Insert(c)),
        _ => None,
    }
}
