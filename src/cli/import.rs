//! `relops import FILE...`
//!
//! Exit 0 when every line and span was imported, 1 when some were rejected, 2 when
//! all were (nothing imported) or the import could not run. The summary goes to
//! stdout; the rejections (their count, the first few as `file:line: reason`) and any
//! file that held nothing recognisable as OTLP/JSON go to stderr.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::ingest::{ImportSummary, Importer};
use crate::store;
use crate::text::one_line;
use crate::workspace::Workspace;

/// Rejections named one by one on stderr; the rest are counted.
const SHOWN: usize = 10;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// OTLP/JSON files: one export per line, or one document per file.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Source name the traces are keyed under; re-importing under the same name is
    /// idempotent.
    #[arg(long, default_value = "import")]
    pub source: String,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ws: &Workspace, args: &ImportArgs) -> Result<u8> {
    if ws.readonly {
        bail!("--readonly: import writes to the cache");
    }
    for f in &args.files {
        if !f.is_file() {
            bail!("{}: no such file", f.display());
        }
    }
    let mut writer = store::open_writer(&ws.db_path)?;
    let mut importer = Importer::new(&mut writer, &ws.config, &args.source);
    let mut unrecognised = Vec::new();
    for file in &args.files {
        let size = std::fs::metadata(file)?.len();
        let bar = progress_bar(size, &file.display().to_string());
        let before = importer.summary.clone();
        importer.import_file(file, |read| bar.set_position(read))?;
        bar.finish_and_clear();
        let rejected = importer.summary.rejected - before.rejected;
        if accepted(&importer.summary) == accepted(&before) && rejected > 0 {
            unrecognised.push((file.display().to_string(), rejected));
        }
    }
    let summary = importer.summary.clone();
    if args.json {
        super::print_json(&summary)?;
    } else {
        print_summary(&summary);
    }
    report_rejections(&summary, &unrecognised);
    Ok(exit_code(&summary))
}

/// Spans the cache took (new, changed or already there).
fn accepted(s: &ImportSummary) -> u64 {
    s.counts.inserted + s.counts.updated + s.counts.unchanged
}

fn exit_code(s: &ImportSummary) -> u8 {
    match (s.rejected, accepted(s)) {
        (0, _) => 0,
        (_, 0) => 2,
        _ => 1,
    }
}

/// The count and the first few rejections, then each file nothing could be read of.
fn report_rejections(s: &ImportSummary, unrecognised: &[(String, u64)]) {
    if s.rejected == 0 {
        return;
    }
    note!(
        "relops: rejected {} line(s) or span(s){}:",
        s.rejected,
        if accepted(s) == 0 {
            "; nothing was imported"
        } else {
            ""
        }
    );
    for p in s.problems.iter().take(SHOWN) {
        note!("  {}", one_line(&p.to_string()));
    }
    let shown = s.problems.len().min(SHOWN) as u64;
    if s.rejected > shown {
        note!("  ... and {} more", s.rejected - shown);
    }
    for (file, rejected) in unrecognised {
        note!(
            "relops: {}: nothing in it is OTLP/JSON trace data ({rejected} rejected)",
            one_line(file)
        );
    }
}

fn progress_bar(len: u64, name: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len).with_message(name.to_string());
    bar.set_style(
        ProgressStyle::with_template("{msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("valid template"),
    );
    bar
}

fn print_summary(s: &ImportSummary) {
    out!(
        "imported {} spans ({} new traces), updated {}, skipped {} unchanged, rejected {}",
        s.counts.inserted,
        s.counts.new_traces,
        s.counts.updated,
        s.counts.unchanged,
        s.rejected
    );
}
