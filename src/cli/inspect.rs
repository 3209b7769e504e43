//! Read-only verbs: `versions`, `traces`, `trace show`.

use clap::{Args, Subcommand};
use color_eyre::eyre::{Result, eyre};

use crate::period::Period;
use crate::store::{self, query};
use crate::workspace::Workspace;

#[derive(Debug, Args)]
pub struct VersionsArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TracesArgs {
    #[arg(long)]
    pub json: bool,
    /// Only this version (label, label@id, fingerprint id or id prefix).
    #[arg(long, value_name = "V")]
    pub version: Option<String>,
    /// Only traces that started within this period before now (e.g. 1h, 7d).
    #[arg(long, value_name = "PERIOD")]
    pub since: Option<Period>,
    /// Only refusals.
    #[arg(long)]
    pub refusals: bool,
    /// Only failed requests or requests with failed tool calls.
    #[arg(long)]
    pub errors: bool,
    /// Only traces whose input, output or name contains TEXT, or whose id is TEXT.
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

#[derive(Debug, Subcommand)]
pub enum TraceCommand {
    /// A trace with its spans.
    Show {
        /// Trace id (32 hex digits).
        id: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn versions(ws: &Workspace, args: &VersionsArgs) -> Result<()> {
    let conn = store::open_reader(&ws.db_path)?;
    let rows = query::versions(&conn)?;
    if args.json {
        return super::print_json(&rows);
    }
    out!(
        "{:<14} {:<12} {:>8}  {:<24} {:<12} {:<12}",
        "LABEL",
        "ID",
        "TRACES",
        "MODEL",
        "PROMPT",
        "INDEX"
    );
    for v in rows {
        out!(
            "{:<14} {:<12} {:>8}  {:<24} {:<12} {:<12}",
            v.label,
            v.id,
            v.traces,
            v.model.as_deref().unwrap_or("-"),
            v.prompt_hash.as_deref().unwrap_or("-"),
            v.index_version.as_deref().unwrap_or("-"),
        );
    }
    Ok(())
}

pub fn traces(ws: &Workspace, args: &TracesArgs) -> Result<()> {
    let conn = store::open_reader(&ws.db_path)?;
    let version = match &args.version {
        Some(spec) => Some(
            query::resolve_version(&conn, spec)
                .map_err(|e| eyre!(e))?
                .rowid,
        ),
        None => None,
    };
    let filter = query::TraceFilter {
        version,
        since_ns: args.since.map(|p| crate::clock::now_ns() - p.as_nanos()),
        refusals: args.refusals,
        errors: args.errors,
        search: args.search.clone(),
        ..Default::default()
    };
    let rows = query::traces_page(&conn, &filter, query::Seek::Offset(0), args.limit)?;
    if args.json {
        return super::print_json(&rows);
    }
    for t in rows {
        out!(
            "{}  {}  {:<10} {:>8.0}ms  {:<5} {}{}",
            t.started_at,
            t.id,
            t.version,
            t.duration_ms,
            t.status,
            if t.refusal { "refusal " } else { "" },
            if t.tool_errors > 0 { "tool-error" } else { "" },
        );
    }
    Ok(())
}

pub fn trace(ws: &Workspace, cmd: &TraceCommand) -> Result<()> {
    let TraceCommand::Show { id, json } = cmd;
    let conn = store::open_reader(&ws.db_path)?;
    let detail =
        query::trace_detail(&conn, id)?.ok_or_else(|| eyre!("no trace {id:?} in the cache"))?;
    if *json {
        return super::print_json(&detail);
    }
    let r = &detail.row;
    out!("trace {}  version {} ({})", r.id, r.version, r.version_id);
    out!(
        "started {}  {:.0} ms  {}  tokens {}/{}  ${:.5}",
        r.started_at,
        r.duration_ms,
        r.status,
        r.tokens_in,
        r.tokens_out,
        r.cost_usd
    );
    out!("input:  {}", detail.input.as_deref().unwrap_or("-"));
    out!("output: {}", detail.output.as_deref().unwrap_or("-"));
    if let Some(why) = &detail.refusal_reason {
        out!(
            "refusal: span {:?} ({}) · {:?} · {} {:?}",
            why.span,
            why.span_id,
            why.attribute,
            why.rule,
            why.pattern
        );
    }
    for s in &detail.spans {
        out!(
            "{}{} [{}] {:.0} ms{}",
            "  ".repeat(s.depth + 1),
            s.facts.name,
            s.facts.kind.as_str(),
            s.duration_ms,
            if s.facts.error { "  ERROR" } else { "" }
        );
    }
    Ok(())
}
