//! `relops replay` and `relops diff`.

use clap::Args;
use color_eyre::eyre::{Result, eyre};

use crate::replay::diff::{Change, Delta, Diff, Row};
use crate::replay::{ExecRef, Outcome, Replayer, execution};
use crate::store;
use crate::text::{clip, dollars, millis, one_line};
use crate::workspace::Workspace;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The trace to replay (trace id, or `#<row id>`).
    pub trace: String,
    /// A version to replay it on (label, fingerprint id or prefix); repeat for several.
    #[arg(long = "on", value_name = "V", required = true)]
    pub on: Vec<String>,
    /// The replay target (default: `replay.default_target`, else the only target).
    #[arg(long)]
    pub target: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The first execution (before): a trace id or `r:<replay id>`.
    pub a: ExecRef,
    /// The second execution (after).
    pub b: ExecRef,
    #[arg(long)]
    pub json: bool,
}

/// Some replays ran and some failed: exit code 1 (the failures are stored and printed).
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} replays failed")]
pub struct ReplaysFailed {
    pub failed: usize,
    pub total: usize,
}

pub fn replay(ws: &Workspace, args: &ReplayArgs) -> Result<()> {
    // A replay changes nothing in production, but it calls an outside endpoint (which may
    // bill per token) and writes the cache: readonly refuses it, as the console hides it.
    if ws.readonly {
        return Err(eyre!(
            "readonly: replay calls the replay target and writes the cache; run without --readonly"
        ));
    }
    let replayer = Replayer::new(ws, args.target.as_deref()).map_err(|e| eyre!(e))?;
    let runtime = tokio::runtime::Runtime::new()?;
    let outcomes = replayer
        .replay_blocking(&runtime, &args.trace, &args.on)
        .map_err(|e| eyre!(e))?;
    if args.json {
        super::print_json(&outcomes)?;
    } else {
        print_outcomes(&outcomes);
    }
    let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
    for o in outcomes.iter().filter(|o| o.error.is_some()) {
        note!(
            "relops: replay {} on {} failed: {}",
            o.replay,
            o.version,
            o.error.as_deref().unwrap_or_default()
        );
    }
    if failed > 0 {
        return Err(ReplaysFailed {
            failed,
            total: outcomes.len(),
        }
        .into());
    }
    Ok(())
}

fn print_outcomes(outcomes: &[Outcome]) {
    for o in outcomes {
        let status = match &o.error {
            Some(e) => format!("error: {}", one_line(e)),
            None => format!(
                "ok  {}  tokens {}/{}  {}",
                o.latency_ms.map_or("-".into(), millis),
                o.tokens_in.map_or("-".into(), |n| n.to_string()),
                o.tokens_out.map_or("-".into(), |n| n.to_string()),
                o.cost_usd.map_or("-".into(), dollars),
            ),
        };
        out!("{:<8} {:<10} {status}", o.replay, o.version);
        if let Some(out) = &o.output {
            out!("         output: {}", clip(&one_line(out), 100));
        }
    }
    if let Some(o) = outcomes.first() {
        out!("diff:    relops diff {} {}", o.trace_id, o.replay);
    }
}

pub fn diff(ws: &Workspace, args: &DiffArgs) -> Result<()> {
    let conn = store::open_reader(&ws.db_path)?;
    let a = execution::load(&conn, &ws.config, &args.a).map_err(|e| eyre!(e))?;
    let b = execution::load(&conn, &ws.config, &args.b).map_err(|e| eyre!(e))?;
    let d = crate::replay::diff(a, b);
    if args.json {
        return super::print_json(&d);
    }
    print_diff(&d);
    Ok(())
}

fn print_diff(d: &Diff) {
    for (tag, e) in [("A", &d.a), ("B", &d.b)] {
        let flags = [
            (e.status == "error").then_some("error"),
            e.refusal.then_some("refusal"),
        ];
        let flags: Vec<&str> = flags.into_iter().flatten().collect();
        let case = e
            .case_id
            .as_ref()
            .map_or(String::new(), |c| format!("  case {c}"));
        out!(
            "{tag}  {:<8} {:<34} {} ({})  {}{case}",
            e.kind,
            e.id,
            e.version,
            e.version_id,
            flags.join(" ")
        );
    }
    out!();
    let fp: Vec<String> = d
        .fingerprint
        .fields
        .iter()
        .filter(|f| f.changed)
        .map(|f| format!("{} {} → {}", f.field, opt(&f.a), opt(&f.b)))
        .collect();
    out!(
        "fingerprint  {}",
        if fp.is_empty() {
            "same version".into()
        } else {
            fp.join("; ")
        }
    );
    let f = &d.flags;
    out!(
        "flags        status {} → {}; refusal {} → {}; safety events {} → {}; tool errors {} → {}",
        f.status.a,
        f.status.b,
        yes(f.refusal.a),
        yes(f.refusal.b),
        f.safety_events.a,
        f.safety_events.b,
        f.tool_errors.a,
        f.tool_errors.b
    );
    out!(
        "deltas       latency {}; tokens in {}; tokens out {}; cost {}",
        delta(&d.deltas.latency_ms, millis),
        delta(&d.deltas.tokens_in, |n| format!("{n:.0}")),
        delta(&d.deltas.tokens_out, |n| format!("{n:.0}")),
        delta(&d.deltas.cost_usd, dollars),
    );
    out!("\ntool calls");
    for t in &d.tool_calls {
        let call = |c: &Option<crate::replay::diff::ToolCall>| match c {
            None => "-".to_string(),
            Some(c) => match &c.error {
                Some(e) => format!("✗ {}", one_line(e)),
                None => format!(
                    "ok {}",
                    clip(&one_line(c.result.as_deref().unwrap_or("")), 50)
                ),
            },
        };
        let name =
            t.a.as_ref()
                .or(t.b.as_ref())
                .map_or("", |c| c.name.as_str());
        out!(
            "  {} {name:<14} A {:<58} B {}",
            mark(t.change),
            call(&t.a),
            call(&t.b)
        );
    }
    out!("\nspans");
    for s in &d.spans {
        let side = s.a.as_ref().or(s.b.as_ref()).expect("a pair has a side");
        let fields = if s.fields.is_empty() {
            String::new()
        } else {
            format!("  [{}]", s.fields.join(", "))
        };
        out!(
            "  {} {}{} ({}){fields}",
            mark(s.change),
            "  ".repeat(side.depth),
            side.name,
            side.kind
        );
    }
    out!(
        "\noutput{}",
        if d.output.pretty_json { " (JSON)" } else { "" }
    );
    if d.output.identical() {
        out!("  identical");
    }
    for r in d.output.rows.iter().filter(|r| r.change != Change::Same) {
        print_row(r);
    }
    if let Some(changes) = &d.json {
        out!("\nJSON changes");
        for c in changes {
            out!(
                "  {} {}  {} → {}",
                mark(c.change),
                c.path,
                c.a.as_ref().map_or("-".into(), |v| v.to_string()),
                c.b.as_ref().map_or("-".into(), |v| v.to_string())
            );
        }
    }
}

/// `-` and `+` lines; changed words as `[-old-]` and `{+new+}`.
fn print_row(r: &Row) {
    let words = |cell: &crate::replay::diff::Cell, open: &str, close: &str| -> String {
        cell.parts
            .iter()
            .map(|p| {
                if p.changed && r.change == Change::Changed {
                    format!("{open}{}{close}", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    };
    if let Some(l) = &r.left {
        out!("  -{:>4} {}", l.line, words(l, "[-", "-]"));
    }
    if let Some(rt) = &r.right {
        out!("  +{:>4} {}", rt.line, words(rt, "{+", "+}"));
    }
}

fn mark(c: Change) -> char {
    match c {
        Change::Same => '=',
        Change::Changed => '~',
        Change::Removed => '-',
        Change::Added => '+',
    }
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn delta(d: &Delta, fmt: impl Fn(f64) -> String) -> String {
    match (d.a, d.b) {
        (Some(a), Some(b)) => match d.ratio {
            Some(r) => format!("{} → {} ({:+.0}%)", fmt(a), fmt(b), (r - 1.0) * 100.0),
            None => format!("{} → {}", fmt(a), fmt(b)),
        },
        (a, b) => format!(
            "{} → {}",
            a.map_or("-".into(), &fmt),
            b.map_or("-".into(), &fmt)
        ),
    }
}
