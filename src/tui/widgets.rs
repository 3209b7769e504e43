//! Small text helpers shared by the views: numbers, ages, sparklines, colours.

use ratatui::style::{Color, Modifier, Style};

/// Colours that tell versions apart, by their position among the active versions.
const VERSION_COLOURS: [Color; 6] = [
    Color::Cyan,
    Color::Magenta,
    Color::Yellow,
    Color::Green,
    Color::Blue,
    Color::LightRed,
];

pub fn version_colour(index: usize) -> Color {
    VERSION_COLOURS[index % VERSION_COLOURS.len()]
}

pub fn title() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub fn warn() -> Style {
    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
}

/// A tab label's style: the current one stands out.
pub fn tab(active: bool) -> Style {
    if active {
        Style::new()
            .fg(Color::Black)
            .bg(Color::Cyan)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::new()
    }
}

/// Verdict colours, shared by the Drift pane and the Overview tiles.
pub fn verdict(v: crate::drift::Verdict) -> Style {
    use crate::drift::Verdict;
    match v {
        Verdict::Ok => Style::new().fg(Color::Green),
        Verdict::Warn => Style::new().fg(Color::Yellow),
        Verdict::Insufficient => Style::new().fg(Color::DarkGray),
        Verdict::Fail => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
    }
}

pub fn bad() -> Style {
    Style::new().fg(Color::Red)
}

pub fn selected() -> Style {
    Style::new()
        .bg(Color::DarkGray)
        .add_modifier(Modifier::BOLD)
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One character per value scaled to `max`; gaps (no data) are blank.
pub fn spark(values: &[Option<f64>], max: f64) -> String {
    values
        .iter()
        .map(|v| match v {
            None => ' ',
            Some(x) if max <= 0.0 || !x.is_finite() => BARS[0],
            Some(x) => {
                let level = (x / max * (BARS.len() - 1) as f64).round();
                BARS[(level.max(0.0) as usize).min(BARS.len() - 1)]
            }
        })
        .collect()
}

pub use crate::text::{dollars, millis};

pub fn percent(x: f64) -> String {
    if x >= 0.1 || x == 0.0 {
        format!("{:.1}%", x * 100.0)
    } else {
        format!("{:.2}%", x * 100.0)
    }
}

/// `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub use crate::clock::age;
pub use crate::text::{clip, one_line};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(millis(840.4), "840ms");
        assert_eq!(millis(1240.0), "1.24s");
        assert_eq!(millis(125_000.0), "2m05s");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(age(0, 180 * 1_000_000_000), "3m");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(percent(0.041), "4.10%");
        assert_eq!(percent(0.25), "25.0%");
    }

    #[test]
    fn spark_scales_and_keeps_gaps() {
        assert_eq!(spark(&[Some(0.0), None, Some(1.0)], 1.0), "▁ █");
    }
}
