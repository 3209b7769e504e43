//! The Gate pane: the run in progress (a bar), stored runs above, the selected run's
//! cases below (must-pass first, the worst on the candidate first), and the reasons of
//! the case under the cursor.
//!
//! ```text
//! ┌ Gate · 3 runs ───────────────────────────────────────────────────────────────────┐
//! │ 12/40 calls · 10 passed · 1 failed · 1 error ━━━━━━━━━━━━━━━━━━━━━──────────────── │
//! │ RUN  STARTED      CANDIDATE  BASELINE  VERDICT  CASES  MUST  CANDIDATE  BASELINE │
//! │▶  3  11-20 11:58  v3         v2        HOLD        20     5  17/3/0     20/0/0   │
//! ├ Run 3 · v3 vs v2 · HOLD ─────────────────────────────────────────────────────────┤
//! │ MUST  CASE      TITLE                       v3     v2     WHY                     │
//! │ ★     3f9c2a1b  refund refused on v3        FAIL   pass   not_refusal: refused    │
//! ├──────────────────────────────────────────────────────────────────────────────────┤
//! │ the case under the cursor: every reason, both versions, replays                  │
//! └──────────────────────────────────────────────────────────────────────────────────┘
//! ```

use chrono::DateTime;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, LineGauge, Paragraph, Row, Table, Wrap};

use crate::gate::Decision;
use crate::gate::verdict::{Attempt, Standing};
use crate::tui::data::gate::{
    self as data, CaseResult, Counts, RunDetail, RunSummary, standing_word, verdict_word,
};
use crate::tui::layout;
use crate::tui::state::{Focus, GateRunning, GateState, State};
use crate::tui::widgets;

pub fn draw(s: &State, f: &mut Frame, area: Rect) {
    let g = &s.gate;
    let rest = match &g.running {
        Some(r) => {
            let [bar, rest] = bar_split(area);
            progress(r, f, bar);
            rest
        }
        None => area,
    };
    let Some(runs) = g.runs.as_deref() else {
        let block = Block::bordered().title(Line::styled(" Gate ", widgets::title()));
        f.render_widget(Paragraph::new("loading…").block(block), rest);
        return;
    };
    if runs.is_empty() {
        empty(s, f, rest);
        return;
    }
    let [top, bottom] = layout::split_list(rest, runs.len(), 6);
    list(g, runs, f, top);
    match g.current() {
        Some(run) => cases(g, run, f, bottom),
        None => {
            let block = Block::bordered().title(" Cases ");
            f.render_widget(Paragraph::new("loading…").block(block), bottom);
        }
    }
}

fn bar_split(area: Rect) -> [Rect; 2] {
    Layout::vertical([Constraint::Length(3), Constraint::Min(4)]).areas(area)
}

/// Where the runs and the cases table are (drawing and mouse hit-testing agree through
/// this).
pub fn areas(g: &GateState, body: Rect) -> [Rect; 2] {
    let rest = if g.running.is_some() {
        bar_split(body)[1]
    } else {
        body
    };
    let [list, below] = layout::split_list(rest, g.runs.as_ref().map_or(0, Vec::len), 6);
    [list, cases_split(g.focus == Focus::Rows, below)[0]]
}

/// The cases table and, while the keys are in it, the case under the cursor.
fn cases_split(focused: bool, area: Rect) -> [Rect; 2] {
    if focused {
        Layout::vertical([Constraint::Min(4), Constraint::Length(7)]).areas(area)
    } else {
        [area, Rect::default()]
    }
}

/// The first case row drawn.
pub fn cases_first(g: &GateState, table: Rect) -> usize {
    if g.focus == Focus::Rows {
        layout::first_visible(g.cursor, layout::table_rows(table))
    } else {
        0
    }
}

/// The bar of the run in progress: calls done of all (case × version × attempt), and
/// how they ended so far.
fn progress(r: &GateRunning, f: &mut Frame, area: Rect) {
    let p = r.progress;
    let ratio = if p.total == 0 {
        0.0
    } else {
        (p.done as f64 / p.total as f64).clamp(0.0, 1.0)
    };
    let vs = r.baseline.as_deref().map_or("its baseline", |b| b);
    let label = Line::from(vec![
        Span::styled(format!("{}/{} calls ", p.done, p.total), widgets::title()),
        Span::styled(
            format!("· {} passed ", p.passed),
            Style::new().fg(Color::Green),
        ),
        Span::styled(format!("· {} failed ", p.failed), widgets::bad()),
        Span::styled(
            format!(
                "· {} error{}",
                p.errors,
                if p.errors == 1 { "" } else { "s" }
            ),
            widgets::warn(),
        ),
    ]);
    let gauge = LineGauge::default()
        .block(Block::bordered().title(Line::styled(
            format!(" Running the gate · {} vs {vs} ", r.candidate),
            widgets::warn(),
        )))
        .filled_style(Style::new().fg(Color::Cyan))
        .unfilled_style(Style::new().fg(Color::DarkGray))
        .filled_symbol(symbols::line::THICK_HORIZONTAL)
        .unfilled_symbol(symbols::line::HORIZONTAL)
        .ratio(ratio)
        .label(label);
    f.render_widget(gauge, area);
}

fn empty(s: &State, f: &mut Frame, area: Rect) {
    let block = Block::bordered().title(Line::styled(" Gate ", widgets::title()));
    let how = if s.readonly {
        "`relops gate --candidate V` runs one (not from a --readonly console)."
    } else {
        "`g` runs the gate on the newest version against the one before; `:gate V [BASELINE]` \
         names them; `relops gate --candidate V` runs one from the command line."
    };
    let text = vec![
        Line::raw("No gate runs stored yet."),
        Line::styled(how, widgets::dim()),
    ];
    f.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: true }).block(block),
        area,
    );
}

pub fn verdict_style(d: Option<Decision>) -> Style {
    match d {
        Some(Decision::Ship) => Style::new().fg(Color::Green).add_modifier(Modifier::BOLD),
        Some(Decision::Hold) => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        None => Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
    }
}

fn standing_style(s: Standing) -> Style {
    match s {
        Standing::Pass => Style::new().fg(Color::Green),
        Standing::Fail => widgets::bad().add_modifier(Modifier::BOLD),
        Standing::Error => widgets::warn(),
        Standing::Absent => widgets::dim(),
    }
}

fn time(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns)
        .format("%m-%d %H:%M")
        .to_string()
}

/// `17/3/0`: passed / failed / errors.
fn counts(t: &Counts) -> String {
    format!("{}/{}/{}", t.pass, t.fail, t.error)
}

/// How long a run took, from its stored start and end.
fn took(r: &RunSummary) -> String {
    let end = r
        .finished_at
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| t.timestamp_nanos_opt());
    end.map_or("-".into(), |e| {
        widgets::millis((e - r.started_ns) as f64 / 1e6)
    })
}

fn list(g: &GateState, runs: &[RunSummary], f: &mut Frame, area: Rect) {
    let title = Line::from(vec![
        Span::styled(" Gate ", widgets::title()),
        Span::raw(format!("· {} stored run(s) ", runs.len())),
    ]);
    let header = Row::new([
        "RUN",
        "STARTED",
        "CANDIDATE",
        "BASELINE",
        "VERDICT",
        "CASES",
        "MUST",
        "CAND P/F/E",
        "BASE P/F/E",
        "TOOK",
        "WHY",
    ])
    .style(widgets::dim());
    let visible = layout::table_rows(area);
    let first = layout::first_visible(g.selected, visible);
    let focused = g.focus == Focus::List;
    let rows = runs
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .map(|(i, r)| {
            let marker = if i == g.selected { "▶" } else { " " };
            let row = Row::new([
                Cell::from(format!("{marker}{:>3}", r.id)),
                Cell::from(time(r.started_ns)),
                Cell::from(widgets::clip(&r.candidate, 10)),
                Cell::from(
                    r.baseline
                        .as_deref()
                        .map_or("-".into(), |b| widgets::clip(b, 10)),
                ),
                Cell::from(verdict_word(r.decision)).style(verdict_style(r.decision)),
                Cell::from(format!("{:>5}", r.cases)),
                Cell::from(format!("{:>4}", r.must_pass)),
                Cell::from(counts(&r.candidate_counts)),
                Cell::from(r.baseline_counts.as_ref().map_or("-".into(), counts)),
                Cell::from(took(r)),
                Cell::from(
                    r.reasons
                        .first()
                        .map_or(String::new(), |w| widgets::one_line(w)),
                )
                .style(widgets::dim()),
            ]);
            match (i == g.selected, focused) {
                (true, true) => row.style(widgets::selected()),
                (true, false) => row.style(Style::new().add_modifier(Modifier::BOLD)),
                _ => row,
            }
        });
    let widths = [
        Constraint::Length(5),
        Constraint::Length(12),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(4),
        Constraint::Length(11),
        Constraint::Length(11),
        Constraint::Length(7),
        Constraint::Min(20),
    ];
    f.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::bordered().title(title)),
        area,
    );
}

/// The title stored with the run (empty for runs stored before titles were).
fn case_title(c: &CaseResult) -> Option<String> {
    (!c.title.trim().is_empty()).then(|| widgets::one_line(&c.title))
}

fn cases(g: &GateState, run: &RunDetail, f: &mut Frame, area: Rect) {
    let focused = g.focus == Focus::Rows;
    let [table, detail] = cases_split(focused, area);
    let r = &run.summary;
    let vs = r.baseline.as_deref().unwrap_or("-");
    let title = Line::from(vec![
        Span::styled(format!(" Run {} ", r.id), widgets::title()),
        Span::raw(format!("· {} vs {vs} · ", r.candidate)),
        Span::styled(verdict_word(r.decision), verdict_style(r.decision)),
        Span::raw(" · cases, must-pass first "),
    ]);
    let header = Row::new([
        " MUST".to_string(),
        "CASE".into(),
        "TITLE".into(),
        widgets::clip(&r.candidate, 8),
        widgets::clip(vs, 8),
        "WHY (candidate)".into(),
    ])
    .style(widgets::dim());
    let visible = layout::table_rows(table);
    let first = cases_first(g, table);
    let rows = run
        .results
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .map(|(i, c)| {
            let here = focused && i == g.cursor;
            let title = match case_title(c) {
                Some(t) => Cell::from(t),
                None => Cell::from("(title not stored)").style(widgets::dim()),
            };
            let row = Row::new([
                Cell::from(Line::from(vec![
                    Span::raw(if here { "▶" } else { " " }),
                    Span::styled(if c.must_pass { "★" } else { "" }, widgets::warn()),
                ])),
                Cell::from(c.case_id.clone()),
                title,
                Cell::from(standing_word(c.candidate)).style(standing_style(c.candidate)),
                Cell::from(standing_word(c.baseline)).style(standing_style(c.baseline)),
                Cell::from(why(c)).style(widgets::dim()),
            ]);
            if here {
                row.style(widgets::selected())
            } else {
                row
            }
        });
    let widths = [
        Constraint::Length(5),
        Constraint::Length(9),
        Constraint::Min(24),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Min(30),
    ];
    let hint = if focused {
        ""
    } else {
        "Enter: into the cases "
    };
    let block = Block::bordered()
        .title(title)
        .title_bottom(Line::styled(hint, widgets::dim()));
    f.render_widget(Table::new(rows, widths).header(header).block(block), table);
    if let Some(c) = run.results.get(g.cursor).filter(|_| focused) {
        case_detail(run, c, f, detail);
    }
}

/// The candidate's first reason, else a word on what changed.
fn why(c: &CaseResult) -> String {
    match data::reasons(&c.candidate_attempts).first() {
        Some(r) => widgets::one_line(r),
        None if data::regression(c) => "regression".into(),
        None => String::new(),
    }
}

/// Every reason of the case under the cursor, per version, with its replay.
fn case_detail(run: &RunDetail, c: &CaseResult, f: &mut Frame, area: Rect) {
    let mut lines = Vec::new();
    let sides: [(&str, Standing, &[Attempt]); 2] = [
        (&run.summary.candidate, c.candidate, &c.candidate_attempts),
        (
            run.summary.baseline.as_deref().unwrap_or("-"),
            c.baseline,
            &c.baseline_attempts,
        ),
    ];
    for (label, standing, attempts) in sides {
        if attempts.is_empty() {
            continue;
        }
        let replay = data::replay(attempts).map_or("no replay kept".into(), |r| format!("r:{r}"));
        let mut latencies: Vec<f64> = attempts.iter().filter_map(|a| a.latency_ms).collect();
        latencies.sort_by(f64::total_cmp);
        let latency = latencies
            .get(latencies.len() / 2)
            .map_or("-".into(), |l| widgets::millis(*l));
        lines.push(Line::from(vec![
            Span::styled(format!("{label}: "), widgets::title()),
            Span::styled(standing_word(standing), standing_style(standing)),
            Span::styled(
                format!(" · {} attempt(s) · {latency} · {replay}", attempts.len()),
                widgets::dim(),
            ),
        ]));
        for r in data::reasons(attempts) {
            lines.push(Line::raw(format!("  ✗ {}", widgets::one_line(&r))));
        }
    }
    let title = Line::styled(
        format!(
            " {} · {} ",
            c.case_id,
            case_title(c).unwrap_or_else(|| "(title not stored)".into())
        ),
        widgets::title(),
    );
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered().title(title).title_bottom(Line::styled(
                "Enter / d: diff baseline ⟷ candidate ",
                widgets::dim(),
            )),
        ),
        area,
    );
}
