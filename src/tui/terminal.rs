//! Entering and leaving the terminal's raw, alternate-screen, mouse-capturing mode.
//! Leaving happens on every exit path: the guard's `Drop`, and a panic hook that restores
//! the terminal before the panic report (color-eyre's) is printed.

use std::io::{self, Stdout, stdout};

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Restores the terminal when dropped.
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// Takes over the terminal; keep the guard alive while drawing.
pub fn enter() -> io::Result<(Term, Guard)> {
    install_panic_hook();
    enable_raw_mode()?;
    let guard = Guard;
    execute!(stdout(), EnterAlternateScreen, EnableMouseCapture)?;
    let term = Terminal::new(CrosstermBackend::new(stdout()))?;
    Ok((term, guard))
}

/// Best effort: every step is attempted even if one fails.
pub fn restore() {
    let _ = execute!(
        stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = disable_raw_mode();
}

/// Sets the window title (OSC 2) and rings the bell. The title carries trace data
/// (labels, trigger names), so every control character goes first: no label can end
/// the sequence and start another.
pub fn attention(title: &str, bell: bool) {
    use std::io::Write;
    let mut out = stdout();
    let _ = write!(out, "\x1b]2;{}\x07", crate::text::one_line(title));
    if bell {
        let _ = out.write_all(b"\x07");
    }
    let _ = out.flush();
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}
