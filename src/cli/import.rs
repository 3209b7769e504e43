//! `relops import FILE...`

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::ingest::{ImportSummary, Importer};
use crate::store;
use crate::workspace::Workspace;

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

pub fn run(ws: &Workspace, args: &ImportArgs) -> Result<()> {
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
    for file in &args.files {
        let size = std::fs::metadata(file)?.len();
        let bar = progress_bar(size, &file.display().to_string());
        importer.import_file(file, |read| bar.set_position(read))?;
        bar.finish_and_clear();
    }
    let summary = importer.summary.clone();
    if args.json {
        super::print_json(&summary)
    } else {
        print_summary(&summary);
        Ok(())
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
    println!(
        "imported {} spans ({} new traces), updated {}, skipped {} unchanged, rejected {}",
        s.counts.inserted, s.counts.new_traces, s.counts.updated, s.counts.unchanged, s.rejected
    );
    for p in &s.problems {
        println!("  rejected: {p}");
    }
    if s.rejected as usize > s.problems.len() {
        println!("  ... and {} more", s.rejected as usize - s.problems.len());
    }
}
