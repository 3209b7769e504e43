//! One gate from request to stored run, for `relops gate` and the console alike:
//! [`prepare`] (load the suite, resolve the versions and the target: SQLite and files,
//! synchronous), [`execute`] (the calls, async, reporting [`Progress`]), [`finish`]
//! (decide, store, render: synchronous). [`run`] chains the three on a tokio runtime
//! without blocking its workers on SQLite: what a console task awaits.

use std::path::PathBuf;

use super::report::{self, FingerprintField, Versions};
use super::run::{self, Options, Progress, Ran};
use super::store as gate_store;
use super::verdict::{CaseRun, Verdict, decide};
use crate::cases::{BadFile, Suite};
use crate::replay::Replayer;
use crate::store::query::{self, VersionRow};
use crate::store::{self};
use crate::workspace::Workspace;

/// What to gate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// The version to judge (label, fingerprint id or prefix).
    pub candidate: String,
    /// What it is compared with (default: the version that appeared just before it).
    pub baseline: Option<String>,
    /// The suite directory (default: `[suite] dir`).
    pub suite: Option<PathBuf>,
    /// Attempts per case and version (at least 1).
    pub repeat: usize,
    /// The replay target (default: `replay.default_target`, else the only one).
    pub target: Option<String>,
    /// Calls in flight at once (default and ceiling: the target's `concurrency`).
    pub concurrency: Option<usize>,
}

/// Why a gate could not give a verdict (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{} bad case file(s) in {}: fix them first (a hidden must-pass case would make the \
         verdict meaningless)",
        .errors.len(),
        .dir.display()
    )]
    BadFiles { dir: PathBuf, errors: Vec<BadFile> },
    #[error("{0}")]
    Other(String),
}

fn other(e: impl ToString) -> Error {
    Error::Other(e.to_string())
}

/// A gate ready to run: its suite, its versions, its target.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub request: Request,
    pub suite: Suite,
    pub candidate: VersionRow,
    pub baseline: Option<VersionRow>,
    pub replayer: Replayer,
    ws: Workspace,
}

impl Prepared {
    pub fn options(&self) -> Options<'_> {
        Options {
            candidate: &self.candidate.label,
            baseline: self.baseline.as_ref().map(|b| b.label.as_str()),
            repeat: self.request.repeat.max(1),
            concurrency: self.request.concurrency,
        }
    }

    /// Calls the run will make: the progress bar's end.
    pub fn total(&self) -> usize {
        self.options().total(self.suite.cases.len())
    }

    pub fn versions(&self) -> Versions {
        Versions {
            candidate: self.candidate.label.clone(),
            candidate_fingerprint: Some(self.candidate.id.clone()),
            baseline: self.baseline.as_ref().map(|b| b.label.clone()),
            baseline_fingerprint: self.baseline.as_ref().map(|b| b.id.clone()),
            fields: fingerprint_fields(&self.candidate, self.baseline.as_ref()),
            audit_head: None,
        }
    }
}

/// What each version's fingerprint is made of, side by side: the report's table.
pub fn fingerprint_fields(
    candidate: &VersionRow,
    baseline: Option<&VersionRow>,
) -> Vec<FingerprintField> {
    type Get = fn(&VersionRow) -> Option<String>;
    let fixed: [(&str, Get); 4] = [
        ("prompt_hash", |v| v.prompt_hash.clone()),
        ("config_hash", |v| v.config_hash.clone()),
        ("model", |v| v.model.clone()),
        ("index_version", |v| v.index_version.clone()),
    ];
    let mut fields: Vec<FingerprintField> = fixed
        .iter()
        .map(|(name, get)| FingerprintField {
            name: name.to_string(),
            candidate: get(candidate),
            baseline: baseline.and_then(get),
        })
        .collect();
    let mut tools: Vec<&String> = candidate.tools.keys().collect();
    if let Some(b) = baseline {
        tools.extend(b.tools.keys());
    }
    tools.sort();
    tools.dedup();
    fields.extend(tools.into_iter().map(|t| FingerprintField {
        name: format!("tools.{t}"),
        candidate: candidate.tools.get(t).cloned(),
        baseline: baseline.and_then(|b| b.tools.get(t).cloned()),
    }));
    fields
}

/// A stored gate run and its evidence.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub gate_run: i64,
    pub verdict: Verdict,
    /// Per case, in suite order; every attempt names its stored replay.
    pub runs: Vec<CaseRun>,
    pub versions: Versions,
    pub markdown: String,
}

/// Loads the suite (every file must be good), resolves the versions (and the baseline
/// when none is given) and the replay target, and indexes the suite's cases.
pub fn prepare(ws: &Workspace, request: Request) -> Result<Prepared, Error> {
    if ws.readonly {
        return Err(other(
            "readonly: the gate calls the replay target; run without --readonly",
        ));
    }
    let dir = request.suite.clone().unwrap_or_else(|| ws.suite_dir());
    let suite = Suite::load(&dir);
    if !suite.errors.is_empty() {
        return Err(Error::BadFiles {
            dir,
            errors: suite.errors,
        });
    }
    let conn = store::open_reader(&ws.db_path).map_err(other)?;
    let candidate = query::resolve_version(&conn, &request.candidate).map_err(other)?;
    let baseline = match &request.baseline {
        Some(b) => Some(query::resolve_version(&conn, b).map_err(other)?),
        None => {
            let all = query::versions(&conn).map_err(other)?;
            let at = all.iter().position(|v| v.id == candidate.id).unwrap_or(0);
            all[..at]
                .iter()
                .rev()
                .find(|v| v.label != candidate.label)
                .cloned()
        }
    };
    drop(conn);
    if baseline
        .as_ref()
        .is_some_and(|b| b.rowid == candidate.rowid)
    {
        return Err(other(format!(
            "candidate and baseline are the same version ({} {}): nothing to compare",
            candidate.label, candidate.id
        )));
    }
    let replayer = Replayer::new(ws, request.target.as_deref()).map_err(other)?;
    Ok(Prepared {
        request,
        suite,
        candidate,
        baseline,
        replayer,
        ws: ws.clone(),
    })
}

/// Runs every case on both versions, reporting each call as it ends.
pub async fn execute(p: &Prepared, on_progress: impl Fn(Progress) + Send + Sync) -> Ran {
    run::run(
        &p.replayer,
        &p.ws.config,
        &p.suite.cases,
        &p.options(),
        on_progress,
    )
    .await
}

/// Decides, stores the run with its replays, renders the report.
pub fn finish(p: &Prepared, ran: Ran, started_ns: i64) -> Result<Outcome, Error> {
    let Ran { mut runs, replays } = ran;
    let verdict = decide(&runs, p.baseline.is_some(), &p.ws.config.gate);
    let mut versions = p.versions();
    let suite = p.suite.dir.display().to_string();
    let writer = store::open_writer(&p.ws.db_path).map_err(other)?;
    versions.audit_head = crate::audit::head(writer.connection()).map_err(other)?;
    // The panes join results to case titles through the index: bring it up to date.
    crate::cases::index::index(writer.connection(), &p.suite, crate::clock::now_ns())
        .map_err(other)?;
    let mut markdown = String::new();
    let gate_run = gate_store::save(
        writer.connection(),
        &gate_store::Finished {
            candidate_pk: p.candidate.rowid,
            baseline_pk: p.baseline.as_ref().map(|b| b.rowid),
            started_ns,
            finished_ns: crate::clock::now_ns(),
            suite: &suite,
            target: p.replayer.target_name(),
            repeat: p.request.repeat.max(1),
            verdict: &verdict,
            replays: &replays,
        },
        &mut runs,
        |runs| {
            markdown = report::markdown(&verdict, runs, &versions);
            markdown.clone()
        },
    )
    .map_err(other)?;
    Ok(Outcome {
        gate_run,
        verdict,
        runs,
        versions,
        markdown,
    })
}

/// Prepare, execute and finish; SQLite work runs on blocking threads.
pub async fn run(
    ws: Workspace,
    request: Request,
    on_progress: impl Fn(Progress) + Send + Sync + 'static,
) -> Result<Outcome, Error> {
    let joined = |e: tokio::task::JoinError| other(format!("the gate task failed: {e}"));
    let prepared = tokio::task::spawn_blocking(move || prepare(&ws, request))
        .await
        .map_err(joined)??;
    let started_ns = crate::clock::now_ns();
    let ran = execute(&prepared, on_progress).await;
    tokio::task::spawn_blocking(move || finish(&prepared, ran, started_ns))
        .await
        .map_err(joined)?
}
