//! The Rollout pane: the checklist view of the rollout in flight.
//!
//! ```text
//! ┌ Rollout 3 · canary · v2 → v3 · TRIGGERED ──────────────────────────────────────┐
//! │ TRIGGERED refusal spike: refusal_rate at 0.0812 for 2 checks · R rolls back     │
//! │ ● canary 5% ━━━ ○ all traffic 100%                                              │
//! │ window 12m 04s left of 30m ━━━━━━━━━━───── · approvals 0/1 · checked 8s ago     │
//! ├ Checklist ────────────────────────────┬ Rollback ───────────────────────────────┤
//! │▶[ ] dashboards reviewed   manual      │ rollback · 1 step · tested 2h ago        │
//! │ [!] refusals hold         drift fails │ ok   1. switch the active version 34 ms  │
//! │ Triggers                              │ | HTTP 200 {"stable":"v2"}               │
//! │ refusal spike  0.0812 > 0.06  2/2     │ rolled back 84 s after the trigger       │
//! │ worst case to a trigger: 60 s         │ recovered since the rollback: …          │
//! └───────────────────────────────────────┴──────────────────────────────────────────┘
//! ```

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, LineGauge, Paragraph, Wrap};

use crate::rollout::machine::{ItemState, State as Phase};
use crate::rollout::plan::{ItemKind, Stage};
use crate::tui::data::rollout::RolloutView;
use crate::tui::state::{Confirm, RunView, State};
use crate::tui::widgets;

pub fn draw(s: &State, f: &mut Frame, area: Rect) {
    let Some(view) = s.rollout.view.as_ref() else {
        let block = Block::bordered().title(Line::styled(" Rollout ", widgets::title()));
        f.render_widget(Paragraph::new("loading…").block(block), area);
        return;
    };
    let Some(v) = view.as_deref() else {
        empty(s, f, area);
        return;
    };
    let block = Block::bordered().title(title(v));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let banner = u16::from(v.rollout.state == Phase::Triggered);
    let [top, stages, window, rest] = Layout::vertical([
        Constraint::Length(banner),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
    ])
    .areas(inner);
    if banner > 0 {
        f.render_widget(Paragraph::new(trigger_banner(s, v)), top);
    }
    f.render_widget(Paragraph::new(stage_line(v)), stages);
    window_line(s, v, f, window);
    // Side by side where the checklist's reasons fit; stacked on a narrow screen, so a
    // row is never cut at its signal or reason.
    let narrow = rest.width < NARROW;
    let halves = [Constraint::Percentage(50), Constraint::Percentage(50)];
    let [left, right] = if narrow {
        Layout::vertical(halves).areas(rest)
    } else {
        Layout::horizontal(halves).areas(rest)
    };
    f.render_widget(
        Paragraph::new(checklist(s, v)).block(
            Block::new()
                .borders(ratatui::widgets::Borders::TOP)
                .title(" Checklist "),
        ),
        left,
    );
    let right_borders = match narrow {
        true => ratatui::widgets::Borders::TOP,
        false => ratatui::widgets::Borders::TOP | ratatui::widgets::Borders::LEFT,
    };
    let right_block = Block::new().borders(right_borders).title(" Procedures ");
    f.render_widget(
        Paragraph::new(procedures(s, v))
            .wrap(Wrap { trim: false })
            .block(right_block),
        right,
    );
}

fn empty(s: &State, f: &mut Frame, area: Rect) {
    let block = Block::bordered().title(Line::styled(" Rollout ", widgets::title()));
    let mut lines = vec![
        Line::raw("No rollout in this cache."),
        Line::raw(""),
        Line::styled(
            "Start one with `relops rollout start PLAN --release V --previous V`;",
            widgets::dim(),
        ),
        Line::styled(
            "plans are the [[rollout]] tables of relops.toml.",
            widgets::dim(),
        ),
    ];
    if s.readonly {
        lines.push(Line::styled(
            "(readonly: actions are hidden)",
            widgets::dim(),
        ));
    }
    f.render_widget(Paragraph::new(lines).block(block), area);
}

fn title(v: &RolloutView) -> Line<'static> {
    let r = &v.rollout;
    let state = r.state.word();
    let style = match r.state {
        Phase::Triggered => Style::new()
            .fg(Color::White)
            .bg(Color::Red)
            .add_modifier(Modifier::BOLD),
        Phase::RolledBack | Phase::Held => widgets::warn(),
        Phase::Completed => Style::new().fg(Color::Green).add_modifier(Modifier::BOLD),
        Phase::Running => widgets::title(),
    };
    Line::from(vec![
        Span::styled(
            format!(
                " Rollout {} · {} · {} → {} · ",
                v.id,
                v.plan.name,
                r.previous.as_deref().unwrap_or("-"),
                r.release
            ),
            widgets::title(),
        ),
        Span::styled(format!(" {state} "), style),
        Span::raw(" "),
    ])
}

/// The loud line a fired trigger puts on top (and, shorter, on every pane's status line).
fn trigger_banner(s: &State, v: &RolloutView) -> Line<'static> {
    let style = Style::new()
        .fg(Color::White)
        .bg(Color::Red)
        .add_modifier(Modifier::BOLD);
    let fired = live_trigger(s, v);
    let offer = match (v.rollback(), s.readonly) {
        (_, true) => "readonly: roll back from a writable console".to_string(),
        (Some(p), false) => format!(
            "R rolls back to {} with {}, {}",
            v.rollout.previous.as_deref().unwrap_or("?"),
            p.name,
            p.tested.describe(s.now_ns)
        ),
        (None, false) => "no rollback procedure configured".into(),
    };
    Line::styled(format!(" TRIGGERED {fired} · {offer} "), style)
}

/// The fired trigger with the same live numbers as its row: `refusal spike:
/// refusal_rate 0.0940 over 0.06 (n 382), fired 12m ago`.
fn live_trigger(s: &State, v: &RolloutView) -> String {
    let r = &v.rollout;
    let fired = r.fired.clone().unwrap_or_default();
    let name = fired.split(':').next().unwrap_or_default();
    let Some(t) = stage(v).triggers.iter().find(|t| t.name == name) else {
        return fired;
    };
    let reading = r.last.signals.get(&t.signal);
    let now = match reading.and_then(|x| x.value) {
        Some(value) => format!("{value:.4}"),
        None => "no reading".into(),
    };
    let limit = t
        .above
        .map_or("a drift FAIL".to_string(), |a| format!("over {a}"));
    let n = reading.map_or(String::new(), |x| format!(" (n {})", x.n));
    let ago = r.fired_ns.map_or(String::new(), |at| {
        format!(", fired {} ago", widgets::age(at, s.now_ns))
    });
    format!("{name}: {} {now} {limit}{n}{ago}", t.signal)
}

/// `● canary 5% ━━ ○ all traffic 100%`: done, current and to come.
fn stage_line(v: &RolloutView) -> Line<'static> {
    let mut spans = Vec::new();
    let current = v.rollout.stage;
    let over = matches!(v.rollout.state, Phase::Completed);
    for (i, st) in v.plan.stages.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" ━━ ", widgets::dim()));
        }
        let (mark, style) = match i.cmp(&current) {
            _ if over => ("✔", Style::new().fg(Color::Green)),
            std::cmp::Ordering::Less => ("✔", Style::new().fg(Color::Green)),
            std::cmp::Ordering::Equal => ("●", widgets::title()),
            std::cmp::Ordering::Greater => ("○", widgets::dim()),
        };
        // Stages are often named for their weight already ("canary 5%").
        let label = match st.name.contains('%') {
            true => st.name.clone(),
            false => format!("{} ({} %)", st.name, st.weight),
        };
        spans.push(Span::styled(format!("{mark} {label}"), style));
    }
    Line::from(spans)
}

fn stage(v: &RolloutView) -> &Stage {
    &v.plan.stages[v.rollout.stage.min(v.plan.stages.len() - 1)]
}

/// The window countdown as a gauge, the approvals and the last check.
fn window_line(s: &State, v: &RolloutView, f: &mut Frame, area: Rect) {
    if !v.active() {
        f.render_widget(Paragraph::new(over_line(s, v)), area);
        return;
    }
    let st = stage(v);
    let total = st.window.as_nanos().max(1);
    let left = v.rollout.window_left_ns(&v.plan, s.now_ns);
    let checked = match v.rollout.last.at_ns {
        0 => "not checked yet".to_string(),
        at => format!("checked {} ago", widgets::age(at, s.now_ns)),
    };
    let checked = match &v.guard {
        Some(g) if g.alive => format!(
            "{checked} by {} (heartbeat {} ago)",
            g.holder,
            widgets::age(g.at_ns, crate::clock::wall_ns())
        ),
        _ => checked,
    };
    // A stopped window says since when and by whom, not "0s left"; a rollback under
    // way (here or on another operator's console) says who runs it.
    let window = match (
        &v.rollback_lease,
        &v.rollout.state,
        &v.rollout.held,
        v.rollout.fired_ns,
    ) {
        (Some(l), ..) => format!(
            "rolling back by {} since {}",
            l.by,
            crate::clock::rfc3339(l.since_ns).get(11..16).unwrap_or("?")
        ),
        (_, Phase::Triggered, _, Some(at)) => {
            format!("triggered {} ago", widgets::age(at, s.now_ns))
        }
        (_, Phase::Held, Some((who, at)), _) => {
            format!("held by {who} {} ago", widgets::age(*at, s.now_ns))
        }
        (_, Phase::Held, None, _) => "held".to_string(),
        _ => format!("window {} left of {}", clock(left), st.window),
    };
    let label = format!(
        "{window} · approvals {}/{}{} · {checked} (every {})",
        v.rollout.approvals.len(),
        st.approvals,
        approvers(&v.rollout),
        v.plan.check_every
    );
    let gauge = LineGauge::default()
        .ratio(((total - left) as f64 / total as f64).clamp(0.0, 1.0))
        .label(label)
        .filled_style(Style::new().fg(Color::Cyan))
        .filled_symbol(symbols::line::THICK_HORIZONTAL)
        .unfilled_symbol(symbols::line::HORIZONTAL);
    f.render_widget(gauge, area);
}

/// ` (bob ·3f2a9c0d)`: each approver with the digest of the evidence they approved on,
/// to match against the audit's copy.
fn approvers(r: &crate::rollout::Rollout) -> String {
    if r.approvals.is_empty() {
        return String::new();
    }
    let names: Vec<String> = r
        .approvals
        .iter()
        .map(|who| match r.approval_evidence.get(who) {
            Some(d) => format!("{who} ·{}", d.get(..8).unwrap_or(d)),
            None => who.clone(),
        })
        .collect();
    format!(" ({})", names.join(", "))
}

/// A finished rollout: when it ended, and the times that matter after a rollback.
fn over_line(s: &State, v: &RolloutView) -> Line<'static> {
    let r = &v.rollout;
    let mut parts = vec![format!(
        "the rollout is over: {}",
        r.state.word().to_lowercase()
    )];
    if let Some(at) = r.rolled_back_ns {
        parts.push(format!("{} ago", widgets::age(at, s.now_ns)));
    }
    if let Some(secs) = r.seconds_to_rollback() {
        parts.push(format!("{secs:.1} s after the trigger"));
    }
    if let (Some(back), Some(ok)) = (r.rolled_back_ns, r.recovered_ns) {
        parts.push(format!("recovered {:.0} s later", (ok - back) as f64 / 1e9));
    }
    Line::styled(parts.join(" · "), widgets::dim())
}

/// `12m 04s`.
fn clock(ns: i64) -> String {
    let secs = ns / 1_000_000_000;
    match secs {
        0 => "0s".into(),
        1..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// Below this many columns the checklist and the procedures stack.
const NARROW: u16 = 120;

fn checklist(s: &State, v: &RolloutView) -> Vec<Line<'static>> {
    let st = stage(v);
    let mut lines = Vec::new();
    for (i, item) in st.items.iter().enumerate() {
        let state = v.rollout.items.get(&item.name);
        let (mark, style, why) = match state {
            Some(ItemState::Pass(w)) => ("[x]", Style::new().fg(Color::Green), w.clone()),
            Some(ItemState::Fail(w)) => (
                "[!]",
                widgets::bad().add_modifier(Modifier::BOLD),
                w.clone(),
            ),
            Some(ItemState::Pending(w)) => ("[ ]", widgets::warn(), w.clone()),
            None => ("[ ]", widgets::dim(), "not checked".into()),
        };
        let cursor = if i == s.rollout.cursor { "▶" } else { " " };
        let kind = match item.kind {
            ItemKind::Manual => "manual".to_string(),
            ItemKind::Gate => "gate".into(),
            ItemKind::Drift | ItemKind::Threshold => item.signal.clone().unwrap_or_default(),
        };
        let row = Line::from(vec![
            Span::raw(cursor),
            Span::styled(format!("{mark} "), style),
            Span::raw(format!("{:<24} ", widgets::clip(&item.name, 24))),
            Span::styled(format!("{:<14} ", widgets::clip(&kind, 14)), widgets::dim()),
            Span::styled(why, style),
        ]);
        lines.push(if i == s.rollout.cursor {
            row.style(widgets::selected())
        } else {
            row
        });
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("Triggers", widgets::title()));
    for t in &st.triggers {
        let reading = v.rollout.last.signals.get(&t.signal);
        let value = reading
            .and_then(|r| r.value)
            .map_or("-".to_string(), |x| format!("{x:.4}"));
        let limit = t.above.map_or("fails".to_string(), |a| format!("> {a}"));
        let streak = v.rollout.streaks.get(&t.name).copied().unwrap_or(0);
        let hot = streak > 0;
        let style = if hot { widgets::bad() } else { Style::new() };
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<16} ", widgets::clip(&t.name, 16)), style),
            Span::raw(format!("{} {value} ", t.signal)),
            Span::styled(format!("(fires {limit}) "), widgets::dim()),
            Span::styled(
                format!("{streak} in a row (fires at {})", t.consecutive),
                style,
            ),
        ]));
    }
    if st.triggers.is_empty() {
        lines.push(Line::styled(" none in this stage", widgets::dim()));
    }
    let watching = matches!(v.rollout.state, Phase::Running | Phase::Held);
    if let Some(ns) = v
        .rollout
        .worst_case_to_trigger_ns(&v.plan)
        .filter(|_| watching)
    {
        lines.push(Line::styled(
            format!(
                " worst case from a breach to the trigger: {} (checks every {})",
                clock(ns),
                v.plan.check_every
            ),
            widgets::dim(),
        ));
    }
    let blockers = v.rollout.blockers(&v.plan, s.now_ns);
    if v.rollout.state == Phase::Running {
        lines.push(Line::raw(""));
        lines.push(match blockers.is_empty() {
            true => Line::styled("Ready: p promotes", Style::new().fg(Color::Green)),
            false => Line::styled(
                format!("Blocks promotion: {}", blockers.join("; ")),
                widgets::dim(),
            ),
        });
    }
    lines
}

fn procedures(s: &State, v: &RolloutView) -> Vec<Line<'static>> {
    let mut lines: Vec<Line> = v
        .procedures
        .iter()
        .map(|p| {
            let style = if p.tested.is_tested() {
                Style::new().fg(Color::Green)
            } else {
                widgets::warn()
            };
            Line::from(vec![
                Span::raw(format!("{} ({}, {}) ", p.name, p.role, steps(p.steps))),
                Span::styled(p.tested.describe(s.now_ns), style),
            ])
        })
        .collect();
    if lines.is_empty() {
        lines.push(Line::styled("the plan names no procedures", widgets::dim()));
    }
    match &s.rollout.run {
        Some(run) => lines.extend(run_lines(run)),
        None => lines.extend(events(s, v)),
    }
    lines
}

fn steps(n: usize) -> String {
    match n {
        1 => "1 step".into(),
        n => format!("{n} steps"),
    }
}

fn run_lines(run: &RunView) -> Vec<Line<'static>> {
    let verb = if run.rollback {
        "Rollback"
    } else {
        "Rehearsal"
    };
    let mut lines = vec![
        Line::raw(""),
        Line::styled(format!("{verb}: {}", run.procedure), widgets::title()),
    ];
    for (i, step) in run.steps.iter().enumerate() {
        let (mark, style) = match step.outcome.as_deref() {
            None => ("… ", widgets::warn()),
            Some("ok") => ("ok ", Style::new().fg(Color::Green)),
            Some("skipped") => ("-- ", widgets::dim()),
            Some(_) => ("FAIL", widgets::bad().add_modifier(Modifier::BOLD)),
        };
        let took = step
            .outcome
            .as_ref()
            .map_or(String::new(), |_| format!(" {} ms", step.millis));
        lines.push(Line::from(vec![
            Span::styled(format!("{mark:<4} "), style),
            Span::raw(format!("{}. {}{took}", i + 1, step.name)),
        ]));
    }
    for line in run
        .lines
        .iter()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        lines.push(Line::styled(
            format!("  | {}", widgets::one_line(line)),
            widgets::dim(),
        ));
    }
    if let Some(fail) = &run.failure {
        if let Some(e) = &fail.error {
            lines.push(Line::styled(format!("  error: {e}"), widgets::bad()));
        }
        if let Some(r) = &fail.remediation {
            lines.push(Line::styled(format!("  remediation: {r}"), widgets::warn()));
        }
    }
    if let Some(after) = run.rolled_back_after {
        lines.push(Line::styled(
            format!("rolled back {after:.1} s after the trigger fired"),
            Style::new().fg(Color::Green),
        ));
    }
    if let Some((text, recovered)) = &run.recovery {
        let style = if *recovered {
            Style::new().fg(Color::Green)
        } else {
            widgets::warn()
        };
        lines.push(Line::styled(text.clone(), style));
    }
    match &run.done {
        Some(Ok(text)) => lines.push(Line::styled(text.clone(), Style::new().fg(Color::Green))),
        Some(Err(e)) => lines.push(Line::styled(e.clone(), widgets::bad())),
        None if run.rolled_back_after.is_some() => lines.push(Line::styled(
            "verifying: waiting for the signals to recover…",
            widgets::dim(),
        )),
        None => lines.push(Line::styled(
            "running… x asks before killing the step",
            widgets::dim(),
        )),
    }
    lines
}

fn events(s: &State, v: &RolloutView) -> Vec<Line<'static>> {
    let mut lines = vec![Line::raw(""), Line::styled("Events", widgets::title())];
    for e in &v.events {
        let item = e
            .item
            .as_deref()
            .map_or(String::new(), |i| format!(" {i:?}"));
        let folded = match e.repeats {
            n if n > 1 => format!(
                " ×{n} (same outcome; last {} ago)",
                widgets::age(e.last_ns, s.now_ns)
            ),
            _ => String::new(),
        };
        lines.push(Line::raw(format!(
            "{:>4} ago  {}{item}{folded} · {}",
            widgets::age(e.at_ns, s.now_ns),
            e.kind,
            e.actor
        )));
    }
    lines
}

/// The typed confirmation, over the body.
pub fn confirm(c: &Confirm, f: &mut Frame, body: Rect) {
    let width = (c.question.chars().count() as u16 + 6).clamp(40, body.width);
    let area = crate::tui::layout::centered(body, width, 6);
    let block = Block::bordered()
        .title(Line::styled(" Confirm ", widgets::warn()))
        .border_style(widgets::warn());
    let lines = vec![
        Line::raw(c.question.clone()),
        Line::raw(""),
        Line::from(vec![
            Span::styled("> ", widgets::title()),
            Span::raw(c.prompt.text.clone()),
        ]),
        Line::styled("Enter confirms · Esc cancels", widgets::dim()),
    ];
    f.render_widget(ratatui::widgets::Clear, area);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
    let x = area.x + 3 + c.prompt.text.chars().count() as u16;
    f.set_cursor_position((x.min(area.right().saturating_sub(2)), area.y + 3));
}

/// The short banner every pane's status line leads with while a trigger has fired.
pub fn status_banner(s: &State) -> Option<Span<'static>> {
    let v = s
        .rollout
        .current()
        .filter(|v| v.rollout.state == Phase::Triggered)?;
    let style = Style::new()
        .fg(Color::White)
        .bg(Color::Red)
        .add_modifier(Modifier::BOLD);
    let fired = live_trigger(s, v);
    Some(Span::styled(
        format!(" TRIGGERED {} · {fired} · 8 Rollout ", v.rollout.release),
        style,
    ))
}
