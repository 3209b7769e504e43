//! `relops gate`: run the suite on a candidate and its baseline, decide ship or hold.
//! Exit 0 ship, 1 hold, 2 error (a bad case file, an unknown version, no target).

use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::{Result, eyre};

use crate::cases::Suite;
use crate::gate::store as gate_store;
use crate::gate::{Decision, decide, report, run};
use crate::replay::Replayer;
use crate::store::{self, query};
use crate::workspace::Workspace;

#[derive(Debug, Args)]
pub struct GateArgs {
    /// The version to judge (label, fingerprint id or prefix).
    #[arg(long, value_name = "V")]
    pub candidate: String,
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
    /// Markdown report.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub json: Option<Option<PathBuf>>,
    /// JUnit XML of the candidate's cases, for CI.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

pub fn run(ws: &Workspace, args: &GateArgs) -> Result<u8> {
    if ws.readonly {
        return Err(eyre!(
            "readonly: the gate calls the replay target; run without --readonly"
        ));
    }
    let dir = args.suite.clone().unwrap_or_else(|| ws.suite_dir());
    let suite = Suite::load(&dir);
    if !suite.errors.is_empty() {
        for e in &suite.errors {
            eprintln!("relops: bad case file: {e}");
        }
        return Err(eyre!(
            "{} bad case file(s) in {}: fix them first (a hidden must-pass case would make the \
             verdict meaningless)",
            suite.errors.len(),
            dir.display()
        ));
    }
    let conn = store::open_reader(&ws.db_path)?;
    let candidate = query::resolve_version(&conn, &args.candidate).map_err(|e| eyre!(e))?;
    let baseline = match &args.baseline {
        Some(b) => Some(query::resolve_version(&conn, b).map_err(|e| eyre!(e))?),
        None => {
            let all = query::versions(&conn)?;
            let at = all.iter().position(|v| v.id == candidate.id).unwrap_or(0);
            all[..at]
                .iter()
                .rev()
                .find(|v| v.label != candidate.label)
                .cloned()
        }
    };
    drop(conn);
    let replayer = Replayer::new(ws, args.target.as_deref()).map_err(|e| eyre!(e))?;
    let runtime = tokio::runtime::Runtime::new()?;
    let started_ns = crate::clock::now_ns();
    let runs = runtime.block_on(run::run(
        &replayer,
        &ws.config,
        &suite.cases,
        &candidate.label,
        baseline.as_ref().map(|b| b.label.as_str()),
        args.repeat,
        args.concurrency,
    ));
    let verdict = decide(&runs, baseline.is_some(), &ws.config.gate);
    let versions = report::Versions {
        candidate: candidate.label.clone(),
        candidate_fingerprint: Some(candidate.id.clone()),
        baseline: baseline.as_ref().map(|b| b.label.clone()),
        baseline_fingerprint: baseline.as_ref().map(|b| b.id.clone()),
    };
    let md = report::markdown(&verdict, &runs, &versions);
    let writer = store::open_writer(&ws.db_path)?;
    let gate_run = gate_store::save(
        writer.connection(),
        &gate_store::Finished {
            candidate_pk: candidate.rowid,
            baseline_pk: baseline.as_ref().map(|b| b.rowid),
            started_ns,
            finished_ns: crate::clock::now_ns(),
            verdict: &verdict,
            runs: &runs,
            report: &md,
        },
    )?;
    drop(writer);
    eprintln!("relops: gate run {gate_run} stored");
    let write = |path: &PathBuf, text: &str, what: &str| {
        std::fs::write(path, text)
            .map_err(|e| eyre!("cannot write the {what} to {}: {e}", path.display()))
    };
    if let Some(path) = &args.report {
        write(path, &md, "report")?;
    }
    if let Some(path) = &args.junit {
        write(
            path,
            &report::junit(&verdict, &runs, &versions),
            "JUnit XML",
        )?;
    }
    let json = serde_json::json!({
        "gate_run": gate_run,
        "candidate": candidate.label,
        "candidate_fingerprint": candidate.id,
        "baseline": baseline.as_ref().map(|b| &b.label),
        "baseline_fingerprint": baseline.as_ref().map(|b| &b.id),
        "verdict": verdict,
        "cases": runs,
    });
    match &args.json {
        Some(None) => super::print_json(&json)?,
        Some(Some(path)) => {
            write(path, &serde_json::to_string_pretty(&json)?, "JSON")?;
            print!("{md}");
        }
        None => print!("{md}"),
    }
    Ok(match verdict.decision {
        Decision::Ship => 0,
        Decision::Hold => 1,
    })
}
