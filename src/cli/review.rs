//! `relops review sample | score | list`: quality sampling against the `[rubric]`.

use clap::Subcommand;
use color_eyre::eyre::{Result, eyre};
use serde::Serialize;

use crate::period::Period;
use crate::review::store::{self as scores, Score, TraceReview};
use crate::review::{Rubric, sample};
use crate::store::{self, query};
use crate::text::clip;
use crate::workspace::Workspace;

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// This round's traces: every version with traffic, refusals and errors
    /// over-represented, none you already scored.
    Sample {
        /// The round of the day (from 1): another round draws other traces.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        round: u32,
        #[arg(long)]
        json: bool,
    },
    /// Score a trace on rubric criteria; scoring a criterion again replaces your score.
    Score {
        /// The trace (trace id, or `#<row id>`).
        trace: String,
        /// A criterion and its score, e.g. `grounded=4` (repeat for more).
        #[arg(
            long = "criterion",
            value_name = "NAME=N",
            required_unless_present = "note"
        )]
        criteria: Vec<String>,
        /// Your note on the trace, kept with your scores (an empty note clears it).
        #[arg(long)]
        note: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Stored scores, newest first, and their averages per version and criterion.
    List {
        /// How far back (default: the rubric's window).
        #[arg(long, value_name = "PERIOD")]
        since: Option<Period>,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(ws: &Workspace, cmd: &ReviewCommand) -> Result<()> {
    match cmd {
        ReviewCommand::Sample { round, json } => sample(ws, *round, *json),
        ReviewCommand::Score {
            trace,
            criteria,
            note,
            json,
        } => score(ws, trace, criteria, note.as_deref(), *json),
        ReviewCommand::List { since, json } => list(ws, *since, *json),
    }
}

fn sample(ws: &Workspace, round: u32, json: bool) -> Result<()> {
    let conn = store::open_reader(&ws.db_path)?;
    let rubric = &ws.config.rubric;
    let reviewer = crate::audit::actor();
    let s = sample::draw(&conn, rubric, &reviewer, round, crate::clock::now_ns())?;
    if rubric.criteria.is_empty() {
        note!("relops: no [[rubric.criterion]] in the config: nothing to score them on yet");
    }
    if json {
        return super::print_json(&s);
    }
    out!(
        "round {} for {} · {} of {} trace(s) · {} .. {} · {} already scored, left out",
        s.round,
        s.reviewer,
        s.items.len(),
        s.requested,
        s.window_start.as_deref().unwrap_or("-"),
        s.window_end.as_deref().unwrap_or("-"),
        s.skipped
    );
    for st in &s.strata {
        out!(
            "  {:<10} {:>3} slot(s), {} for refusals/errors · of {} trace(s), {} flagged",
            st.version,
            st.slots,
            st.reserved,
            st.traffic,
            st.flagged
        );
    }
    out!();
    for it in &s.items {
        let t = &it.trace;
        out!(
            "{}  {:<10} {}  {}",
            t.id,
            clip(&t.version, 10),
            t.started_at,
            it.flags.join(", ")
        );
    }
    if let (Some(first), false) = (s.items.first(), rubric.criteria.is_empty()) {
        let example: Vec<String> = rubric
            .criteria
            .iter()
            .map(|c| format!("--criterion {}=1..{}", c.name, c.scale))
            .collect();
        out!(
            "\nscore: relops review score {} {}",
            first.trace.id,
            example.join(" ")
        );
    }
    Ok(())
}

/// `NAME=N` arguments checked against the rubric; errors name the criterion and range.
fn parse_scores(rubric: &Rubric, args: &[String]) -> Result<Vec<Score>> {
    let mut out: Vec<Score> = Vec::new();
    for arg in args {
        let (name, value) = arg
            .split_once('=')
            .ok_or_else(|| eyre!("--criterion {arg:?}: expected NAME=N, e.g. grounded=4"))?;
        let (name, value) = (name.trim(), value.trim());
        let n: i64 = value.parse().map_err(|_| {
            let range = rubric
                .criterion(name)
                .map_or(String::new(), |c| format!(" (1..={})", c.scale));
            eyre!("criterion {name:?}: {value:?} is not a score{range}")
        })?;
        let c = rubric.checked(name, n).map_err(|e| eyre!(e))?;
        if out.iter().any(|s| s.criterion == c.name) {
            return Err(eyre!("criterion {name:?} is given twice"));
        }
        out.push(Score {
            criterion: c.name.clone(),
            score: n as u8,
            scale: c.scale,
        });
    }
    Ok(out)
}

#[derive(Serialize)]
struct Scored<'a> {
    trace_id: &'a str,
    version: &'a str,
    reviewer: &'a str,
    #[serde(flatten)]
    review: &'a TraceReview,
    /// Criteria of the rubric this reviewer has not scored on the trace.
    unscored: Vec<&'a str>,
}

fn score(
    ws: &Workspace,
    trace: &str,
    criteria: &[String],
    note: Option<&str>,
    json: bool,
) -> Result<()> {
    if ws.readonly {
        return Err(eyre!(
            "readonly: scoring writes the cache; run without --readonly"
        ));
    }
    let rubric = &ws.config.rubric;
    let parsed = parse_scores(rubric, criteria)?;
    let writer = store::open_writer(&ws.db_path)?;
    let conn = writer.connection();
    let t = query::trace_detail(conn, trace)?
        .ok_or_else(|| eyre!("no trace {trace:?} in the cache"))?;
    let reviewer = crate::audit::actor();
    let review = scores::record(
        conn,
        t.row.pk,
        &reviewer,
        crate::clock::now_ns(),
        &parsed,
        note,
    )
    .map_err(|e| eyre!(e))?;
    let out = Scored {
        trace_id: &t.row.id,
        version: &t.row.version,
        reviewer: &reviewer,
        review: &review,
        unscored: rubric
            .criteria
            .iter()
            .map(|c| c.name.as_str())
            .filter(|n| !review.scores.contains_key(*n))
            .collect(),
    };
    if json {
        return super::print_json(&out);
    }
    let given: Vec<String> = review
        .scores
        .iter()
        .map(|(c, n)| {
            let scale = rubric
                .criterion(c)
                .map_or("?".into(), |c| c.scale.to_string());
            format!("{c} {n}/{scale}")
        })
        .collect();
    out!(
        "{} ({}) by {}: {}",
        out.trace_id,
        out.version,
        reviewer,
        given.join(", ")
    );
    if let Some(n) = &review.note {
        out!("note: {n}");
    }
    if !out.unscored.is_empty() {
        out!("not scored yet: {}", out.unscored.join(", "));
    }
    Ok(())
}

#[derive(Serialize)]
struct Listing {
    scores: Vec<scores::ScoreRow>,
    averages: Vec<scores::Average>,
}

fn list(ws: &Workspace, since: Option<Period>, json: bool) -> Result<()> {
    let conn = store::open_reader(&ws.db_path)?;
    let since = since.unwrap_or(ws.config.rubric.window);
    let now = crate::clock::now_ns();
    let (from, to) = (now - since.as_nanos(), i64::MAX);
    let out = Listing {
        scores: scores::list(&conn, from, to)?,
        averages: scores::averages(&conn, from, to)?,
    };
    if json {
        return super::print_json(&out);
    }
    if out.scores.is_empty() {
        out!("no scores in the last {since}; `relops review sample` serves traces to score");
        return Ok(());
    }
    for r in &out.scores {
        out!(
            "{}  {}  {:<10} {:<12} {}/{}  {:<10} {}",
            r.scored_at,
            r.trace_id,
            clip(&r.version, 10),
            clip(&r.criterion, 12),
            r.score,
            r.scale,
            clip(&r.reviewer, 10),
            r.note.as_deref().map_or(String::new(), |n| clip(n, 60))
        );
    }
    out!("\naverages over the last {since}:");
    for a in &out.averages {
        out!(
            "  {:<10} {:<12} {:.2}/{} over {} score(s), {} trace(s)",
            clip(&a.version, 10),
            clip(&a.criterion, 12),
            a.mean,
            a.scale,
            a.scores,
            a.traces
        );
    }
    Ok(())
}
