//! Small line charts as hand-written SVG: one line per version, a y axis from zero with
//! three labelled ticks, the period's dates under the x axis, a legend on the right.
//! Output is deterministic (fixed decimals, fixed colours in version order).

use std::fmt::Write;

/// One line: a version's value per bucket (`None` leaves a gap).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: String,
    pub points: Vec<Option<f64>>,
}

/// A chart of one signal.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    /// Labels under the x axis: first, middle, last bucket.
    pub x_labels: [String; 3],
    pub lines: Vec<Line>,
    /// How a y value is written (`1.2%`, `850 ms`, `$0.0021`).
    pub fmt: fn(f64) -> String,
}

const W: f64 = 560.0;
const H: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 96.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 32.0;
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The smallest of 1, 2, 2.5, 5 × 10^k at or above `x` (1 for nothing to show).
pub fn nice_ceil(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|v| *v >= x * (1.0 - 1e-9))
        .unwrap_or(10.0 * p)
}

impl Chart {
    pub fn svg(&self) -> String {
        let max = self
            .lines
            .iter()
            .flat_map(|l| l.points.iter().flatten())
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0_f64, f64::max);
        let top = nice_ceil(max);
        let n = self.lines.iter().map(|l| l.points.len()).max().unwrap_or(0);
        let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
        let x = |i: usize| {
            LEFT + if n > 1 {
                pw * i as f64 / (n - 1) as f64
            } else {
                0.0
            }
        };
        let y = |v: f64| TOP + ph * (1.0 - (v / top).clamp(0.0, 1.0));
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">"#
        );
        let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{}</text>"#,
            esc(&self.title)
        );
        // Grid and y ticks: 0, half, top.
        for (k, v) in [0.0, top / 2.0, top].into_iter().enumerate() {
            let yy = y(v);
            let stroke = if k == 0 { "#444" } else { "#ddd" };
            let _ = writeln!(
                s,
                r#"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="{stroke}"/>"#,
                LEFT + pw
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LEFT - 6.0,
                yy + 4.0,
                esc(&(self.fmt)(v))
            );
        }
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="#444"/>"##,
            TOP + ph
        );
        for (label, (xx, anchor)) in self.x_labels.iter().zip([
            (LEFT, "start"),
            (LEFT + pw / 2.0, "middle"),
            (LEFT + pw, "end"),
        ]) {
            let _ = writeln!(
                s,
                r#"<text x="{xx:.1}" y="{:.1}" text-anchor="{anchor}">{}</text>"#,
                H - 10.0,
                esc(label)
            );
        }
        for (i, line) in self.lines.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let mut d = String::new();
            let mut pen_down = false;
            for (j, p) in line.points.iter().enumerate() {
                match p.filter(|v| v.is_finite()) {
                    Some(v) => {
                        let _ = write!(
                            d,
                            "{}{:.1} {:.1} ",
                            if pen_down { "L" } else { "M" },
                            x(j),
                            y(v)
                        );
                        pen_down = true;
                    }
                    None => pen_down = false,
                }
            }
            let _ = writeln!(
                s,
                r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="1.8"><title>{}</title></path>"#,
                d.trim_end(),
                esc(&line.name)
            );
            let ly = TOP + 8.0 + 16.0 * i as f64;
            let lx = W - RIGHT + 12.0;
            let _ = writeln!(
                s,
                r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="3" fill="{colour}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
                ly - 4.0,
                lx + 18.0,
                ly,
                esc(&line.name)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pct(v: f64) -> String {
        format!("{:.1}%", v * 100.0)
    }

    fn chart() -> Chart {
        Chart {
            title: "refusal rate <per version>".into(),
            x_labels: ["11-13".into(), "11-16".into(), "11-20".into()],
            lines: vec![
                Line {
                    name: "v1".into(),
                    points: vec![Some(0.01), Some(0.012), None, None],
                },
                Line {
                    name: "v2".into(),
                    points: vec![None, Some(0.011), Some(0.0), Some(0.08)],
                },
            ],
            fmt: pct,
        }
    }

    #[test]
    fn one_path_per_line_with_gaps_legend_and_axes() {
        let svg = chart().svg();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<path ").count(), 2);
        assert!(svg.contains("&lt;per version&gt;"), "title escaped");
        // The top tick is a nice number above the largest value (8 % → 10 %).
        assert!(svg.contains(">10.0%</text>") && svg.contains(">0.0%</text>"));
        assert!(svg.contains(">v1</text>") && svg.contains(">v2</text>"));
        assert!(svg.contains(">11-13</text>") && svg.contains(">11-20</text>"));
        // v1: two points then a gap; v2 starts after a gap with a move.
        assert!(svg.contains(r#"<path d="M64.0 "#));
        assert_eq!(chart().svg(), svg, "deterministic");
        let opens = svg.matches('<').count();
        let closes = svg.matches('>').count();
        assert_eq!(opens, closes, "balanced tags");
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceil(0.08), 0.1);
        assert_eq!(nice_ceil(0.021), 0.025);
        assert_eq!(nice_ceil(3400.0), 5000.0);
        assert_eq!(nice_ceil(2000.0), 2000.0);
        assert_eq!(nice_ceil(0.0), 1.0);
    }
}
