//! `relops sync [--once | --watch | --status]` and `relops doctor`.

use clap::Args;
use color_eyre::eyre::{Result, bail};
use tokio_util::sync::CancellationToken;

use crate::clock::age;
use crate::sources::SourceKind;
use crate::sync::status::{self, SourceStatus};
use crate::sync::{Committer, Engine, SourceReport, Sources};
use crate::workspace::Workspace;

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Pull every source until it is caught up, then exit (the default): 0 when every
    /// source synced, 1 when any failed.
    #[arg(long, conflicts_with_all = ["watch", "status"])]
    pub once: bool,
    /// Keep pulling, each source at its poll interval, until Ctrl-C.
    #[arg(long, conflicts_with = "status")]
    pub watch: bool,
    /// Show each source's state from the cache, without pulling.
    #[arg(long)]
    pub status: bool,
    /// Only this source.
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(ws: &Workspace, args: &SyncArgs) -> Result<u8> {
    let mut config = ws.config.clone();
    if let Some(name) = &args.source {
        config.sources.retain(|s| &s.name == name);
        if config.sources.is_empty() {
            bail!("no source named {name:?} in {}", ws.config_path.display());
        }
    }
    if args.status {
        return show_status(ws, &config, args.json);
    }
    if ws.readonly {
        bail!("--readonly: sync writes to the cache; `relops sync --status` only reads");
    }
    if config.sources.is_empty() {
        bail!(
            "{}: no [[source]] configured; see assets/relops.example.toml",
            ws.config_path.display()
        );
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let sources = Sources::build(&config);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = Engine::new(&config, Committer::start(&ws.db_path)?, Some(tx));
    let printer = std::thread::spawn(move || {
        while let Some(e) = rx.blocking_recv() {
            note!("{e}");
        }
    });
    let code = if args.watch {
        runtime.block_on(watch(&engine, &sources));
        0
    } else {
        let reports = runtime.block_on(engine.once(&sources));
        print_reports(&reports, args.json)?;
        u8::from(reports.iter().any(|r| !r.ok))
    };
    drop(engine);
    drop(runtime);
    let _ = printer.join();
    Ok(code)
}

async fn watch(engine: &Engine, sources: &Sources) {
    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_signal.cancel();
    });
    engine.watch(sources, stop).await;
}

fn print_reports(reports: &[SourceReport], json: bool) -> Result<()> {
    if json {
        return super::print_json(&reports);
    }
    for r in reports {
        let head = format!("{:<16} {:<11}", r.source, r.kind);
        match (&r.error, &r.skipped) {
            (Some(e), _) => out!("{head} FAILED  {e}"),
            (None, Some(why)) => out!("{head} skipped {why}"),
            (None, None) => out!(
                "{head} ok      {} pages, {} records, {} new or changed, {} rejected",
                r.pages,
                r.records,
                r.rows,
                r.rejected
            ),
        }
        for reason in &r.rejections {
            out!("    rejected: {reason}");
        }
    }
    Ok(())
}

fn show_status(ws: &Workspace, config: &crate::config::Config, json: bool) -> Result<u8> {
    let conn = crate::store::open_reader(&ws.db_path)?;
    let now = crate::clock::now_ns();
    let rows = status::statuses(config, &conn, now)?;
    if json {
        super::print_json(&rows)?;
    } else {
        print_status(&rows, now);
    }
    Ok(0)
}

fn print_status(rows: &[SourceStatus], now: i64) {
    let age = |t: Option<i64>| t.map_or_else(|| "-".to_string(), |t| age(t, now));
    out!(
        "{:<16} {:<11} {:<14} {:>8} {:>8} {:>10}  LAST ERROR",
        "SOURCE",
        "KIND",
        "STATE",
        "SUCCESS",
        "LAG",
        "ROWS"
    );
    for r in rows {
        out!(
            "{:<16} {:<11} {:<14} {:>8} {:>8} {:>10}  {}",
            r.source,
            r.kind,
            r.health.as_str(),
            age(r.state.last_success_ns),
            age(r.state.high_water_ns),
            r.state.rows_total,
            r.state.last_error.as_deref().unwrap_or("")
        );
    }
}

/// `relops doctor`: checks the config, the cache and every source, in words an
/// operator can act on. Exit 0 when all is well, 1 otherwise.
pub fn doctor(ws: &Workspace) -> Result<u8> {
    let mut problems = 0;
    let mut say = |ok: bool, what: &str, detail: String| {
        problems += usize::from(!ok);
        let mark = if ok { "ok  " } else { "FAIL" };
        out!("{mark} {what}: {detail}");
    };
    say(
        true,
        "config",
        format!("{} parsed", ws.config_path.display()),
    );
    match crate::store::open_reader(&ws.db_path) {
        Ok(conn) => {
            let traces = crate::store::query::trace_count(&conn, &Default::default()).unwrap_or(0);
            say(
                true,
                "cache",
                format!("{} ({traces} traces)", ws.db_path.display()),
            );
        }
        Err(crate::store::StoreError::Missing { path }) => say(
            true,
            "cache",
            format!(
                "{} does not exist yet; `relops sync` creates it",
                path.display()
            ),
        ),
        Err(e) => say(false, "cache", e.to_string()),
    }
    if ws.config.sources.is_empty() {
        say(
            false,
            "sources",
            "none configured: add a [[source]] table".into(),
        );
    }
    let runtime = tokio::runtime::Runtime::new()?;
    for c in &ws.config.sources {
        let what = format!("source {} ({})", c.name, c.kind.as_str());
        match crate::sources::build(c) {
            Err(e) => say(false, &what, e),
            Ok(None) => say(true, &what, receiver_check(c)),
            Ok(Some(s)) => match runtime.block_on(s.probe()) {
                Ok(found) => say(true, &what, found),
                Err(e) => say(false, &what, e.to_string()),
            },
        }
    }
    if !ws.config.notify.is_empty() {
        match crate::guard::notifiers(ws) {
            Ok(ready) => say(true, "notify", format!("{} notifiers ready", ready.len())),
            Err(e) => say(false, "notify", e),
        }
    }
    let conn = crate::store::open_reader(&ws.db_path).ok();
    if let Some(g) = conn.and_then(|c| crate::guard::status(ws, &c).ok()) {
        match (&g.lease, g.alive) {
            (Some(l), alive) => say(
                alive || ws.config.notify.is_empty(),
                "guard",
                l.describe(crate::clock::wall_ns()),
            ),
            (None, _) => say(true, "guard", "not running".into()),
        }
        for n in g.notifiers.iter().filter(|n| n.pending > 0 || n.failed > 0) {
            say(
                false,
                &format!("notify {}", n.notifier),
                format!(
                    "{} pending, {} failed; last error: {}",
                    n.pending,
                    n.failed,
                    n.last_error.as_deref().unwrap_or("-")
                ),
            );
        }
    }
    Ok(u8::from(problems > 0))
}

/// A receiver cannot be probed from outside; say where it will listen.
fn receiver_check(c: &crate::sources::SourceConfig) -> String {
    debug_assert_eq!(c.kind, SourceKind::OtlpHttp);
    let listen = c.listen.as_deref().unwrap_or("127.0.0.1:4318");
    format!("a receiver; `relops collect` listens on {listen}")
}
