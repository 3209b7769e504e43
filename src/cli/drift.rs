//! `relops drift`: per-signal verdicts, candidate vs baseline.

use clap::Args;
use color_eyre::eyre::{Result, eyre};

use crate::drift::{self, DriftReport, DriftRequest, SignalReport, Verdict, catalogue};
use crate::period::Period;
use crate::store;
use crate::workspace::Workspace;

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// The version judged (default: the newest serving in the window).
    #[arg(long, value_name = "V")]
    pub candidate: Option<String>,
    /// The version compared with, over the same window (default: the other version
    /// that served most).
    #[arg(long, value_name = "V", conflicts_with = "before")]
    pub baseline: Option<String>,
    /// Compare the candidate with itself over the previous window.
    #[arg(long)]
    pub before: bool,
    /// Window length, ending at the newest trace (default: `drift.window`).
    #[arg(long, value_name = "PERIOD")]
    pub window: Option<Period>,
    #[arg(long)]
    pub json: bool,
    /// List the signals and their default thresholds.
    #[arg(long)]
    pub list: bool,
}

/// Exit 0 all ok, 1 any failure, 3 inconclusive or insufficient.
pub fn run(ws: &Workspace, args: &DriftArgs) -> Result<u8> {
    if args.list {
        list();
        return Ok(0);
    }
    let conn = store::open_reader(&ws.db_path)?;
    let request = DriftRequest {
        candidate: args.candidate.clone(),
        baseline: args.baseline.clone(),
        before: args.before,
        window: args.window,
        until_ns: None,
    };
    let report = drift::run(&conn, &ws.config.drift, &request).map_err(|e| eyre!(e))?;
    if args.json {
        super::print_json(&report)?;
    } else {
        print(&report);
    }
    Ok(report.exit_code())
}

fn list() {
    out!("{:<24} {:<13} THRESHOLD", "SIGNAL", "KIND");
    for s in catalogue::SIGNALS {
        let kind = match s.measure {
            catalogue::Measure::Rate { .. } => "rate (margin)",
            catalogue::Measure::Sample { .. } => "sample (ratio)",
            catalogue::Measure::Distribution { .. } => "psi (warn)",
        };
        out!("{:<24} {kind:<13} {}", s.name, s.threshold);
    }
    out!(
        "{:<24} {:<13} 0.01",
        "tool_error_rate.<tool>",
        "rate (margin)"
    );
    out!("{:<24} {:<13} 1.2", "series.<prometheus>", "sample (ratio)");
}

fn print(r: &DriftReport) {
    let baseline = match &r.baseline {
        Some(b) => format!("{} ({})", b.label, b.id),
        None => format!("{} over the previous {}", r.candidate.label, r.window),
    };
    out!(
        "drift {} ({}) vs {baseline} · {} window to {} · {} vs {} requests · {}",
        r.candidate.label,
        r.candidate.id,
        r.window,
        r.window_end,
        r.requests_candidate,
        r.requests_baseline,
        r.verdict.word()
    );
    if r.baseline_window_end != r.window_end {
        out!(
            "note: the baseline no longer serves; it is judged over its last {} of service, {} to {}",
            r.window,
            r.baseline_window_start,
            r.baseline_window_end
        );
    }
    if r.data_age_seconds > 3600 {
        out!(
            "note: the newest trace is {} h old; the window ends there",
            r.data_age_seconds / 3600
        );
    }
    out!(
        "{:<13} {:<22} {:>10} {:>10} {:>11} {:>22} {:>13} {:>8}",
        "VERDICT",
        "SIGNAL",
        "BASELINE",
        "CURRENT",
        "DELTA",
        "95% INTERVAL",
        "N (C/B)",
        "P HOLM"
    );
    for s in &r.signals {
        print_signal(s);
    }
}

fn print_signal(s: &SignalReport) {
    let j = &s.judgement;
    out!(
        "{:<13} {:<22} {:>10} {:>10} {:>11} {:>22} {:>13} {:>8}",
        j.verdict.word(),
        s.label,
        s.fmt_baseline(),
        s.fmt_current(),
        s.fmt_delta(),
        s.fmt_interval(),
        s.fmt_n(),
        s.fmt_p()
    );
    if j.verdict != Verdict::Ok {
        out!("{:<13} {}", "", j.reason);
    }
    if let Some(o) = &s.onset {
        out!("{:<13} onset {}", "", o.text);
    }
}
