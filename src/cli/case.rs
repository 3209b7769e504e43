//! `relops case list` and `relops case from-trace`.

use clap::{Args, Subcommand};
use color_eyre::eyre::{Result, eyre};
use serde::Serialize;

use crate::cases::{self, Observed, Suite, suggest};
use crate::replay::{ExecRef, Replayer, execution};
use crate::store;
use crate::text::clip;
use crate::workspace::Workspace;

#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// List the suite's cases and report bad files (exit 1 if any file is bad).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Make a case from a trace, with assertions suggested from what went wrong.
    FromTrace(FromTraceArgs),
    /// Check a case's assertions against a stored execution, or run its input live on a
    /// version with `--on` (exit 1 if an assertion fails, 2 if it could not run).
    Eval(EvalArgs),
    /// Export the suite for another tool; assertions it cannot check are listed on stderr.
    Export {
        /// Only `promptfoo` so far.
        #[arg(long, default_value = "promptfoo")]
        format: String,
        /// Write here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
        /// A version to run the suite on: one promptfoo provider each, built from the
        /// replay target (repeatable; none: tests only, promptfoo then needs providers).
        #[arg(long = "version", value_name = "V")]
        versions: Vec<String>,
        /// The replay target the providers call (default: `replay.default_target`, else
        /// the only one).
        #[arg(long)]
        target: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The case: its id in the suite, or a case file.
    pub case: String,
    /// A stored execution: a trace id or `r:<replay id>`.
    #[arg(required_unless_present = "on", conflicts_with = "on")]
    pub exec: Option<ExecRef>,
    /// Run the case's input on this version through the replay target (nothing stored).
    #[arg(long, value_name = "V")]
    pub on: Option<String>,
    /// The replay target for `--on` (default: `replay.default_target`, else the only one).
    #[arg(long, requires = "on")]
    pub target: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FromTraceArgs {
    /// The trace (trace id, or `#<row id>`).
    pub trace: String,
    /// The incident the case guards against.
    #[arg(long, value_name = "ID")]
    pub incident: Option<i64>,
    /// A failure of this case holds the release.
    #[arg(long)]
    pub must_pass: bool,
    /// The case's title (default: the input's first words, what went wrong, the version).
    #[arg(long)]
    pub title: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// The exit code: 1 when a case file is bad.
pub fn run(ws: &Workspace, cmd: &CaseCommand) -> Result<u8> {
    match cmd {
        CaseCommand::List { json } => list(ws, *json),
        CaseCommand::FromTrace(args) => from_trace(ws, args).map(|()| 0),
        CaseCommand::Eval(args) => eval(ws, args),
        CaseCommand::Export {
            format,
            out,
            versions,
            target,
        } => export(ws, format, out.as_deref(), versions, target.as_deref()),
    }
}

fn eval(ws: &Workspace, args: &EvalArgs) -> Result<u8> {
    let spec = args.case.as_str();
    let path = std::path::Path::new(spec);
    let case = if spec.ends_with(".json") && path.is_file() {
        cases::read_case(path).map_err(|e| eyre!("{e}"))?
    } else {
        let suite = Suite::load(&ws.suite_dir());
        match suite.cases.into_iter().find(|l| l.case.id == spec) {
            Some(l) => l.case,
            None => {
                let bad = suite
                    .errors
                    .iter()
                    .map(|e| format!("\n  {e}"))
                    .collect::<String>();
                return Err(eyre!(
                    "no case {spec:?} in {}{}",
                    suite.dir.display(),
                    if bad.is_empty() {
                        String::new()
                    } else {
                        format!(" (bad files:{bad})")
                    }
                ));
            }
        }
    };
    let (exec_id, version, observed) = match (&args.exec, &args.on) {
        (Some(exec), _) => {
            let conn = store::open_reader(&ws.db_path)?;
            let e = execution::load(&conn, &ws.config, exec).map_err(|e| eyre!(e))?;
            (e.id.clone(), e.version.clone(), Observed::from(&e))
        }
        (None, Some(label)) => {
            if ws.readonly {
                return Err(eyre!(
                    "readonly: --on calls the replay target; run without --readonly"
                ));
            }
            let replayer = Replayer::new(ws, args.target.as_deref()).map_err(|e| eyre!(e))?;
            let runtime = tokio::runtime::Runtime::new()?;
            let rec = runtime
                .block_on(replayer.run_input(label, &case.input))
                .map_err(|e| eyre!(e))?;
            let observed = cases::live::observed(&ws.config, &rec).map_err(|e| {
                eyre!(
                    "case {} could not run on {label}: {e} (an error is never a pass)",
                    case.id
                )
            })?;
            (
                format!("live:{}", replayer.target_name()),
                label.clone(),
                observed,
            )
        }
        (None, None) => return Err(eyre!("name an execution or --on VERSION")),
    };
    let results = cases::live::evaluate(&case, &observed);
    let pass = results.iter().all(|(_, v)| v.pass);
    if args.json {
        super::print_json(&serde_json::json!({
            "case": case.id,
            "execution": exec_id,
            "version": version,
            "pass": pass,
            "results": results.iter().map(|(a, v)| serde_json::json!({
                "assertion": a, "pass": v.pass, "reason": v.reason,
            })).collect::<Vec<_>>(),
        }))?;
    } else {
        out!(
            "case {} \"{}\" on {exec_id} ({version})",
            case.id,
            case.title
        );
        for (a, v) in &results {
            out!(
                "  {} {:<40} {}",
                if v.pass { "PASS" } else { "FAIL" },
                a,
                v.reason
            );
        }
        out!("{}", if pass { "pass" } else { "fail" });
    }
    Ok(u8::from(!pass))
}

#[derive(Serialize)]
struct Listed<'a> {
    id: &'a str,
    title: &'a str,
    path: String,
    must_pass: bool,
    incident: Option<i64>,
    trace_id: Option<&'a str>,
    version: Option<&'a str>,
    assertions: Vec<String>,
    tags: &'a [String],
}

/// Brings the cache's case index up to date with the suite (not in readonly, and not
/// when there is no cache yet: listing files should not create one). A failure is a
/// warning: the files are what counts.
fn index(ws: &Workspace, suite: &Suite) {
    if ws.readonly || !ws.db_path.exists() {
        return;
    }
    let done = store::open_writer(&ws.db_path)
        .map_err(|e| e.to_string())
        .and_then(|w| {
            cases::index::index(w.connection(), suite, crate::clock::now_ns())
                .map_err(|e| e.to_string())
        });
    if let Err(e) = done {
        note!("relops: warning: the case index in the cache is not updated: {e}");
    }
}

fn list(ws: &Workspace, json: bool) -> Result<u8> {
    let suite = Suite::load(&ws.suite_dir());
    index(ws, &suite);
    let rows: Vec<Listed> = suite
        .cases
        .iter()
        .map(|l| Listed {
            id: &l.case.id,
            title: &l.case.title,
            path: l.path.display().to_string(),
            must_pass: l.case.must_pass,
            incident: l.case.incident,
            trace_id: l.case.source.as_ref().map(|s| s.trace_id.as_str()),
            version: l.case.source.as_ref().map(|s| s.version.as_str()),
            assertions: l.case.assertions.iter().map(|a| a.describe()).collect(),
            tags: &l.case.tags,
        })
        .collect();
    if json {
        super::print_json(&serde_json::json!({
            "dir": suite.dir,
            "cases": rows,
            "errors": suite.errors,
        }))?;
    } else {
        out!(
            "{}: {} case(s), {} must-pass{}",
            suite.dir.display(),
            rows.len(),
            suite.must_pass(),
            if suite.errors.is_empty() {
                String::new()
            } else {
                format!(", {} bad file(s)", suite.errors.len())
            }
        );
        for r in &rows {
            out!(
                "  {}  {}  {:<50}  {}",
                r.id,
                if r.must_pass {
                    "must-pass"
                } else {
                    "         "
                },
                clip(r.title, 50),
                r.assertions.join("; ")
            );
        }
    }
    for e in &suite.errors {
        note!("relops: bad case file: {e}");
    }
    Ok(u8::from(!suite.errors.is_empty()))
}

fn export(
    ws: &Workspace,
    format: &str,
    out: Option<&std::path::Path>,
    versions: &[String],
    target: Option<&str>,
) -> Result<u8> {
    if format != "promptfoo" {
        return Err(eyre!("unknown export format {format:?}; known: promptfoo"));
    }
    let suite = Suite::load(&ws.suite_dir());
    if !suite.errors.is_empty() {
        for e in &suite.errors {
            note!("relops: bad case file: {e}");
        }
        return Err(eyre!(
            "{} bad case file(s): fix them first",
            suite.errors.len()
        ));
    }
    let chosen = match versions.is_empty() {
        true => None,
        false => Some(export_target(ws, target)?),
    };
    let providers = chosen.as_ref().map(|(name, t)| cases::export::Providers {
        name,
        target: t,
        versions,
    });
    let e = cases::export::promptfoo(&suite.cases, providers.as_ref()).map_err(|e| eyre!(e))?;
    let text = serde_json::to_string_pretty(&e.config)? + "\n";
    match out {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| eyre!("cannot write {}: {e}", path.display()))?
        }
        None => out_part!("{text}"),
    }
    export_summary(&e, suite.cases.len(), versions);
    Ok(0)
}

/// The replay target the export's providers call, by name or default.
fn export_target(
    ws: &Workspace,
    name: Option<&str>,
) -> Result<(String, crate::config::ReplayTarget)> {
    let targets = &ws.config.replay.targets;
    let name = match name.or(ws.config.replay.default_target.as_deref()) {
        Some(n) => n.to_string(),
        None if targets.len() == 1 => targets.keys().next().cloned().unwrap_or_default(),
        None => {
            return Err(eyre!(
                "--version needs a replay target: configure one, or choose with --target"
            ));
        }
    };
    let t = targets
        .get(&name)
        .ok_or_else(|| eyre!("no replay target {name:?}"))?;
    Ok((name, t.clone()))
}

/// What the operator must know about the export, on stderr: what promptfoo measures
/// its own way, and what it cannot check at all (a failing placeholder).
fn export_summary(e: &cases::export::Export, count: usize, versions: &[String]) {
    use cases::export::NoteKind;
    for n in &e.notes {
        let what = match n.kind {
            NoteKind::Placeholder => {
                "not expressible in promptfoo; exported as a failing placeholder"
            }
            NoteKind::Differs => "exported with promptfoo's own measure",
        };
        note!(
            "relops: case {}: `{}`: {what}: {}",
            n.case,
            n.assertion,
            n.why
        );
    }
    let differs = e
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::Differs)
        .count();
    note!(
        "relops: exported {count} case(s) for {}: {} fully expressible, {} with a failing \
         placeholder, {differs} assertion(s) measured by promptfoo's own rules",
        if versions.is_empty() {
            "no provider (add --version V)".to_string()
        } else {
            format!("provider(s) {}", versions.join(", "))
        },
        count - e.placeholder_cases,
        e.placeholder_cases,
    );
}

fn from_trace(ws: &Workspace, args: &FromTraceArgs) -> Result<()> {
    if ws.readonly {
        return Err(eyre!(
            "readonly: from-trace writes a case file into the suite; run without --readonly"
        ));
    }
    let conn = store::open_reader(&ws.db_path)?;
    if let Some(id) = args.incident
        && !crate::incident::exists(&conn, id).map_err(|e| eyre!(e))?
    {
        return Err(eyre!("no incident {id}; `relops incident list` shows them"));
    }
    let opts = suggest::Options {
        title: args.title.clone(),
        incident: args.incident,
        must_pass: args.must_pass,
        now: crate::clock::rfc3339(crate::clock::now_ns()),
    };
    let draft = suggest::from_trace(&conn, &ws.config, &args.trace, &opts).map_err(|e| eyre!(e))?;
    let dir = ws.suite_dir();
    let path = cases::save(&dir, &draft.case)
        .map_err(|e| eyre!("cannot write the case into {}: {e}", dir.display()))?;
    drop(conn);
    index(ws, &Suite::load(&dir));
    if args.json {
        return super::print_json(&serde_json::json!({
            "path": path,
            "case": draft.case,
            "why": draft.why,
        }));
    }
    out!("{}", path.display());
    note!(
        "case {} \"{}\"{}:",
        draft.case.id,
        draft.case.title,
        if draft.case.must_pass {
            " (must-pass)"
        } else {
            ""
        }
    );
    for (a, why) in draft.case.assertions.iter().zip(&draft.why) {
        note!("  {:<40} {why}", a.describe());
    }
    Ok(())
}
