//! `relops gate`: run the suite on a candidate and its baseline, decide ship or hold.
//! Exit 0 ship, 1 hold, 2 no verdict: the cases could not run (no answer came back from
//! the target for some case: down, timing out, HTTP errors), or an error before they
//! ran (a bad case file, an unknown version, no target).
//! `--list` and `--show RUN` read stored gate runs.

use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::{Result, eyre};

use crate::gate::job::{self, Request};
use crate::gate::store as gate_store;
use crate::gate::{Attempt, Decision, Outcome, Standing, report};
use crate::store;
use crate::text::{clip, one_line};
use crate::workspace::Workspace;

#[derive(Debug, Args)]
pub struct GateArgs {
    /// The version to judge (label, fingerprint id or prefix).
    #[arg(long, value_name = "V", required_unless_present_any = ["list", "show"])]
    pub candidate: Option<String>,
    /// What it is compared with (default: the version that appeared just before it).
    #[arg(long, value_name = "V")]
    pub baseline: Option<String>,
    /// The suite directory (default: `[suite] dir`).
    #[arg(long, value_name = "DIR")]
    pub suite: Option<PathBuf>,
    /// Runs per case and version; cases whose runs disagree are reported as flaky.
    #[arg(long, default_value_t = 1, value_name = "K")]
    pub repeat: usize,
    /// The replay target (default: `replay.default_target`, else the only one).
    #[arg(long)]
    pub target: Option<String>,
    /// Calls in flight at once (default and ceiling: the target's `concurrency`).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Also write the Markdown report here.
    #[arg(long, value_name = "FILE.md")]
    pub report: Option<PathBuf>,
    /// The verdict and every case as JSON: into FILE, or alone on stdout instead of the
    /// Markdown report (with --list / --show: their output as JSON).
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub json: Option<Option<PathBuf>>,
    /// JUnit XML of the candidate's cases, for CI.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// List stored gate runs, newest first, instead of running one.
    #[arg(long, conflicts_with_all = ["candidate", "show"])]
    pub list: bool,
    /// How many runs --list shows.
    #[arg(long, default_value_t = 20, value_name = "N", requires = "list")]
    pub limit: usize,
    /// Show a stored gate run: every case on both versions, with its replays (for
    /// `relops diff r:A r:B`).
    #[arg(long, value_name = "RUN", conflicts_with = "candidate")]
    pub show: Option<i64>,
}

pub fn run(ws: &Workspace, args: &GateArgs) -> Result<u8> {
    if args.list {
        return list(ws, args);
    }
    if let Some(id) = args.show {
        return show(ws, id, args);
    }
    let request = Request {
        candidate: args.candidate.clone().unwrap_or_default(),
        baseline: args.baseline.clone(),
        suite: args.suite.clone(),
        repeat: args.repeat,
        target: args.target.clone(),
        concurrency: args.concurrency,
    };
    let prepared = match job::prepare(ws, request) {
        Ok(p) => p,
        Err(e) => {
            if let job::Error::BadFiles { errors, .. } = &e {
                for bad in errors {
                    note!("relops: bad case file: {bad}");
                }
            }
            return Err(eyre!(e));
        }
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let started_ns = crate::clock::now_ns();
    let bar = progress_bar(prepared.total() as u64);
    let ran = runtime.block_on(job::execute(&prepared, |p| {
        if let Some(bar) = &bar {
            bar.set_position(p.done as u64);
        }
    }));
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let outcome = job::finish(&prepared, ran, started_ns).map_err(|e| eyre!(e))?;
    note!("relops: gate run {} stored", outcome.gate_run);
    let write = |path: &PathBuf, text: &str, what: &str| {
        // Reports are CI artefacts, kept and shared: the last place a secret could slip.
        std::fs::write(path, crate::secret::scrub(text).as_bytes())
            .map_err(|e| eyre!("cannot write the {what} to {}: {e}", path.display()))
    };
    let md = &outcome.markdown;
    if let Some(path) = &args.report {
        write(path, md, "report")?;
    }
    if let Some(path) = &args.junit {
        write(
            path,
            &report::junit(&outcome.verdict, &outcome.runs, &outcome.versions),
            "JUnit XML",
        )?;
    }
    let v = &outcome.versions;
    let code = outcome.verdict.exit_code();
    if outcome.verdict.could_not_run {
        note!(
            "relops: the cases could not run: no verdict on {} (exit 2); the target is \
             down or failing, see the report's reasons",
            v.candidate
        );
    }
    let json = serde_json::json!({
        "exit_code": code,
        "gate_run": outcome.gate_run,
        "candidate": v.candidate,
        "candidate_fingerprint": v.candidate_fingerprint,
        "baseline": v.baseline,
        "baseline_fingerprint": v.baseline_fingerprint,
        "audit_head": v.audit_head,
        "verdict": outcome.verdict,
        "cases": outcome.runs,
    });
    match &args.json {
        Some(None) => super::print_json(&json)?,
        Some(Some(path)) => {
            write(path, &serde_json::to_string_pretty(&json)?, "JSON")?;
            out_part!("{md}");
        }
        None => out_part!("{md}"),
    }
    Ok(code)
}

/// A progress bar on stderr when it is a terminal (never in pipelines or tests).
fn progress_bar(total: u64) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("gate {bar:40} {pos}/{len} calls {elapsed}")
    {
        bar.set_style(style);
    }
    Some(bar)
}

/// `--json` for --list / --show: stdout, or the file named.
fn emit(args: &GateArgs, value: &impl serde::Serialize) -> Result<bool> {
    match &args.json {
        None => Ok(false),
        Some(None) => super::print_json(value).map(|()| true),
        Some(Some(path)) => {
            std::fs::write(path, serde_json::to_string_pretty(value)? + "\n")
                .map_err(|e| eyre!("cannot write {}: {e}", path.display()))?;
            Ok(true)
        }
    }
}

fn decision(d: Option<Decision>) -> &'static str {
    match d {
        Some(Decision::Ship) => "SHIP",
        Some(Decision::Hold) => "HOLD",
        None => "-",
    }
}

fn list(ws: &Workspace, args: &GateArgs) -> Result<u8> {
    let conn = store::open_reader(&ws.db_path)?;
    let runs = gate_store::list(&conn, args.limit)?;
    if emit(args, &runs)? {
        return Ok(0);
    }
    if runs.is_empty() {
        out!("no gate runs yet: `relops gate --candidate V` runs one");
        return Ok(0);
    }
    out!(
        "{:>5}  {:<24}  {:<8}  {:<24}  {:>5}  {:>9}  {:<17}  baseline p/f/e",
        "run",
        "started",
        "decision",
        "candidate vs baseline",
        "cases",
        "must-pass",
        "candidate p/f/e",
    );
    for r in &runs {
        let counts = |c: &gate_store::Counts| format!("{}/{}/{}", c.pass, c.fail, c.error);
        out!(
            "{:>5}  {:<24}  {:<8}  {:<24}  {:>5}  {:>9}  {:<17}  {}",
            r.id,
            r.started_at,
            decision(r.decision),
            format!(
                "{} vs {}",
                r.candidate,
                r.baseline.as_deref().unwrap_or("none")
            ),
            r.cases,
            r.must_pass,
            counts(&r.candidate_counts),
            r.baseline_counts.as_ref().map_or("-".into(), counts)
        );
    }
    Ok(0)
}

fn show(ws: &Workspace, id: i64, args: &GateArgs) -> Result<u8> {
    let conn = store::open_reader(&ws.db_path)?;
    let Some(d) = gate_store::show(&conn, id)? else {
        return Err(eyre!("no gate run {id}; `relops gate --list` shows them"));
    };
    if emit(args, &d)? {
        return Ok(0);
    }
    let s = &d.summary;
    out!(
        "gate run {}: {}: candidate {} ({}) vs baseline {}",
        s.id,
        decision(s.decision),
        s.candidate,
        s.candidate_fingerprint,
        match (&s.baseline, &s.baseline_fingerprint) {
            (Some(b), Some(f)) => format!("{b} ({f})"),
            _ => "none".into(),
        }
    );
    out!(
        "started {}  suite {}  target {}  repeat {}",
        s.started_at,
        s.suite.as_deref().unwrap_or("-"),
        s.target.as_deref().unwrap_or("-"),
        s.repeat
    );
    for r in &s.reasons {
        out!("  why: {r}");
    }
    out!();
    let cell = |standing: Standing, attempts: &[Attempt]| {
        let replays: Vec<String> = attempts
            .iter()
            .filter_map(|a| a.replay_id.map(|r| format!("r:{r}")))
            .collect();
        let word = match standing {
            Standing::Pass => "pass",
            Standing::Fail => "FAIL",
            Standing::Error => "ERROR",
            Standing::Absent => "-",
        };
        format!("{word} {}", replays.join(","))
    };
    for c in &d.results {
        out!(
            "{}  {}  {:<48}  candidate {:<16}  baseline {}",
            c.case_id,
            if c.must_pass {
                "must-pass"
            } else {
                "         "
            },
            clip(&c.title, 48),
            cell(c.candidate, &c.candidate_attempts),
            cell(c.baseline, &c.baseline_attempts),
        );
        for f in c.failed_assertions() {
            out!("          ✗ {}", clip(&one_line(&f), 100));
        }
        if let Some(e) = c.candidate_attempts.iter().find_map(|a| match &a.outcome {
            Outcome::Error { error, .. } => Some(error),
            _ => None,
        }) {
            out!("          ! {}", clip(&one_line(e), 100));
        }
        if c.candidate != c.baseline
            && let Some((b, a)) = c.diff_pair()
        {
            out!("          diff: relops diff r:{b} r:{a}");
        }
    }
    Ok(0)
}
