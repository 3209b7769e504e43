//! The embedded demo: a customer-support RAG workflow with tools, three releases and a
//! week of traffic, a workflow server to replay against, and a live feed.
//!
//! `relops demo` builds the workspace (idempotent), starts the server and the feed,
//! rehearses the rollback and starts v3's canary rollout ([`setup`]), and opens the
//! console on it.

mod feed;
mod metrics;
pub mod routing;
mod server;
pub mod setup;
pub mod suite;
pub mod traffic;
pub mod workflow;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use color_eyre::eyre::{Result, WrapErr, bail};
use serde::Serialize;

use crate::config::Config;
use crate::ingest::Importer;
use crate::store;
use crate::workspace::{Workspace, data_dir};

pub use feed::LiveFeed;
pub use routing::Routing;
pub use server::{serve, serve_routed};

/// Source name the demo's traces are cached under.
pub const SOURCE: &str = "demo";

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Workspace directory (default: `demo` in the data directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Build the workspace, print where it is and exit.
    #[arg(long, conflicts_with = "serve")]
    pub no_tui: bool,
    /// Run the workflow server and the live feed until interrupted, without the console.
    #[arg(long)]
    pub serve: bool,
    /// Seed of the generated traffic (default 42, or what the workspace was built with).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Traces in the generated week (default 50000, or what the workspace was built
    /// with; 1000000 makes the benchmark's scale set).
    #[arg(long)]
    pub traces: Option<u64>,
}

const DEFAULT_SEED: u64 = 42;
const DEFAULT_TRACES: u64 = 50_000;

/// What to build.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub dir: PathBuf,
    pub seed: u64,
    pub traces: u64,
    /// End of the generated week; recorded so that rebuilding gives the same data.
    pub now: DateTime<Utc>,
}

/// What was built.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub db_path: PathBuf,
    pub server: String,
    pub traces: i64,
    pub versions: usize,
    /// False when the workspace already held this demo and nothing was regenerated.
    pub generated: bool,
    /// The demo suite's directory and how many of its case files were written now
    /// (only missing ones are: edited cases are kept).
    pub suite: PathBuf,
    pub cases_written: usize,
}

const CONFIG_FILE: &str = "relops.toml";
const CACHE_FILE: &str = "relops.db";
const TRACES_FILE: &str = "traces/demo-week.otlp.jsonl";

/// Builds (or finds) the demo workspace in `opts.dir`.
pub fn build(opts: &DemoOptions) -> Result<DemoReport> {
    std::fs::create_dir_all(&opts.dir)
        .wrap_err_with(|| format!("cannot create {}", opts.dir.display()))?;
    let config_path = opts.dir.join(CONFIG_FILE);
    let demo = existing_demo(&config_path)?;
    if let Some(d) = demo
        .as_ref()
        .filter(|d| d.seed != opts.seed || d.traces != opts.traces)
    {
        bail!(
            "{} already holds a demo with seed {} and {} traces; choose another --dir",
            opts.dir.display(),
            d.seed,
            d.traces
        );
    }
    let (server, anchor) = match &demo {
        Some(d) => (d.server.clone(), d.anchor.clone()),
        None => (
            free_loopback_addr()?,
            opts.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
    };
    if demo.is_none() {
        std::fs::write(
            &config_path,
            config_text(&server, opts.seed, opts.traces, &anchor),
        )?;
    }
    let ws = Workspace::open(Some(&config_path), None, false)?;
    let anchor_ns = DateTime::parse_from_rfc3339(&anchor)
        .wrap_err_with(|| format!("{}: demo.anchor is not RFC 3339", config_path.display()))?
        .timestamp_nanos_opt()
        .unwrap_or_default();

    let cached = cached_demo_traces(&ws.db_path)?;
    let generated = cached < opts.traces as i64;
    if generated {
        let file = opts.dir.join(TRACES_FILE);
        generate(&file, opts.seed, opts.traces, anchor_ns)?;
        import(&ws, &file)?;
    }
    let suite = ws.suite_dir();
    let cases_written = suite::write_missing(&suite, &anchor)
        .wrap_err_with(|| format!("cannot write the demo suite into {}", suite.display()))?;
    let conn = store::open_reader(&ws.db_path)?;
    Ok(DemoReport {
        dir: opts.dir.clone(),
        config_path,
        db_path: ws.db_path.clone(),
        server,
        traces: store::query::freshness(&conn)?.2,
        versions: store::query::versions(&conn)?.len(),
        generated,
        suite,
        cases_written,
    })
}

/// The `[demo]` section of an existing demo config, if there is one.
fn existing_demo(config_path: &Path) -> Result<Option<crate::config::Demo>> {
    if !config_path.exists() {
        return Ok(None);
    }
    let config = Config::load(config_path)?;
    match config.demo {
        Some(d) => Ok(Some(d)),
        None => bail!(
            "{} exists and is not a demo workspace; choose another --dir",
            config_path.display()
        ),
    }
}

fn cached_demo_traces(db: &Path) -> Result<i64> {
    if !db.exists() {
        return Ok(0);
    }
    let conn = store::open_reader(db)?;
    Ok(conn.query_row(
        "SELECT count(*) FROM traces WHERE source = ?1",
        [SOURCE],
        |r| r.get(0),
    )?)
}

fn generate(file: &Path, seed: u64, traces: u64, anchor_ns: i64) -> Result<()> {
    std::fs::create_dir_all(file.parent().expect("traces file has a parent"))?;
    let tmp = file.with_extension("tmp");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    traffic::write_week(&mut out, seed, traces as usize, anchor_ns)?;
    out.flush()?;
    drop(out);
    std::fs::rename(&tmp, file)?;
    Ok(())
}

fn import(ws: &Workspace, file: &Path) -> Result<()> {
    let mut writer = store::open_writer(&ws.db_path)?;
    let mut importer = Importer::new(&mut writer, &ws.config, SOURCE);
    importer.import_file(file, |_| {})?;
    if importer.summary.rejected > 0 {
        bail!(
            "demo import rejected {} spans: {:?}",
            importer.summary.rejected,
            importer.summary.problems
        );
    }
    Ok(())
}

/// A loopback address with a port free right now, recorded in the demo config.
fn free_loopback_addr() -> Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.to_string())
}

fn config_text(server: &str, seed: u64, traces: u64, anchor: &str) -> String {
    let canary_weight = routing::CANARY_WEIGHT;
    format!(
        r#"# relops demo workspace, written by `relops demo`. Edit freely; the reference of every
# key is assets/relops.example.toml in the relops repository.

[workspace]
name = "demo: support-bot"
cache = "{CACHE_FILE}"

[overview]
window = "24h"
buckets = 48

[demo]
server = "{server}"
seed = {seed}
traces = {traces}
anchor = "{anchor}"

# `relops replay TRACE --on v2` (or `r` on a trace) runs the trace's input on the demo
# workflow server; `relops diff` (or `d`) compares the answers.
[replay]
default_target = "demo"

[replay.targets.demo]
kind = "http"
url = "http://{server}/v1/{{version}}/respond"
timeout_ms = 5000
concurrency = 8

[replay.targets.demo.response]
output = "/output"
spans = "/spans"
latency_ms = "/latency_ms"
tokens_in = "/tokens_in"
tokens_out = "/tokens_out"
cost_usd = "/cost_usd"

# Rolling back: `relops demo` rehearses this procedure against the demo server (so it is
# *tested*) and starts v3's rollout on the `canary` plan below, beside v2. The server's
# routing (GET /admin/active) sends v3 {canary_weight} % of the live traffic; v3's refusal
# rate trips the trigger; `relops rollout rollback --confirm v2` (or the Rollout pane)
# runs the procedure, which makes v2 stable again, and the live traffic is v2's alone.
[runbook]
fresh = "14d"

[[procedure]]
name = "rollback"
description = "switch the demo workflow back to the target version: stable, no canary"

[[procedure.step]]
name = "switch the active version"
run = {{ kind = "http", method = "POST", url = "http://{server}/admin/active", body = {{ version = "{{target}}" }} }}
dry_run = {{ kind = "http", method = "GET", url = "http://{server}/admin/active" }}
verify = {{ kind = "http", method = "GET", url = "http://{server}/healthz" }}
remediation = "is the demo server up (`relops demo --serve`)? Switch by hand: curl -X POST http://{server}/admin/active -H 'content-type: application/json' -d '{{\"version\":\"v2\"}}'"
timeout = "10s"

# v2's refusal rate over the week is 1.8 %, v3's 8.2 %: the trigger sits between them,
# where the two are equally many standard errors away at a canary's sample sizes.
[[rollout]]
name = "canary"
rollback_procedure = "rollback"
# The console checks the live signals this often (the demo is impatient).
check_every = "10s"
# After a rollback, the refusal rate of the traffic served since (at least 60 requests,
# none on v3) must come back under the trigger's 4 % or to v2's level before it.
verify = {{ signals = ["refusal_rate"], within = "3m", min_requests = 60 }}

[[rollout.stage]]
name = "canary {canary_weight}%"
weight = {canary_weight}
window = "30m"
approvals = 1
item = [
  {{ name = "dashboards reviewed", kind = "manual" }},
  {{ name = "refusals hold", kind = "drift", signal = "refusal_rate" }},
  {{ name = "gate ships", kind = "gate" }},
]
trigger = [ {{ name = "refusal spike", signal = "refusal_rate", above = 0.04, consecutive = 2 }} ]

[[rollout.stage]]
name = "all traffic"
weight = 100
window = "2h"
approvals = 1

# The regression suite: one JSON file per case in evals/cases/ (written by `relops demo`,
# yours to edit; reopening the demo only adds missing files). With the server running,
# `relops gate --candidate v3 --baseline v2` holds and `--candidate v2 --baseline v1` ships.

# Quality sampling: `relops review sample | score | list`, the Review pane (8). Each
# round serves twelve traces of the last week, every version represented and refusals
# and errors over-represented; digits score the selected criterion.
[rubric]
sample = 12
window = "7d"
flagged_share = 0.4

[[rubric.criterion]]
name = "grounded"
scale = 5
description = "every claim is supported by the retrieved documents or a tool result"

[[rubric.criterion]]
name = "resolved"
scale = 5
description = "the customer's request is resolved, or the next step is clear"

[[rubric.criterion]]
name = "tone"
scale = 3
description = "polite, concise and on brand"

[[rubric.criterion]]
name = "policy"
scale = 2
description = "follows the refund and privacy policy: 1 breach, 2 compliant"

# Live sources: `relops sync --once | --watch`, the Sources pane (5), `relops doctor`.
# Uncomment one to try it; assets/relops.example.toml explains every key. Secrets are
# only ever named by their environment variable.
#
# The demo server's Prometheus metrics (a Prometheus scraping http://{server}/metrics):
# [[source]]
# name = "prometheus"
# kind = "prometheus"
# endpoint = "http://127.0.0.1:9090"
# version_label = "version"
# signals = {{ refusal_rate = 'sum by (version) (rate(workflow_refusals_total[5m])) / sum by (version) (rate(workflow_requests_total[5m]))' }}
#
# [[source]]
# name = "phoenix"
# kind = "phoenix"
# endpoint = "http://127.0.0.1:6006"
# project = "default"
#
# [[source]]
# name = "langfuse"
# kind = "langfuse"
# endpoint = "https://cloud.langfuse.com"
# auth = {{ public_key_env = "LANGFUSE_PUBLIC_KEY", secret_key_env = "LANGFUSE_SECRET_KEY" }}
#
# [[source]]
# name = "otlp"
# kind = "otlp-http"
# listen = "127.0.0.1:4318"
#
# [[source]]
# name = "collector-files"
# kind = "otlp-file"
# path = "otel/traces.jsonl"
"#
    )
}

/// `relops demo`.
pub fn run(args: &DemoArgs, readonly: bool) -> Result<()> {
    let dir = args.dir.clone().unwrap_or_else(|| data_dir().join("demo"));
    // Reopening a workspace takes its recorded size unless told otherwise.
    let recorded = existing_demo(&dir.join(CONFIG_FILE))?;
    let opts = DemoOptions {
        seed: args
            .seed
            .or(recorded.as_ref().map(|d| d.seed))
            .unwrap_or(DEFAULT_SEED),
        traces: args
            .traces
            .or(recorded.as_ref().map(|d| d.traces))
            .unwrap_or(DEFAULT_TRACES),
        dir,
        now: crate::clock::now(),
    };
    eprintln!("relops demo: preparing {} ...", opts.dir.display());
    let report = build(&opts)?;
    if args.no_tui {
        print_report(&report);
        return Ok(());
    }
    let ws = Workspace::open(Some(&report.config_path), None, readonly)?;
    let runtime = tokio::runtime::Runtime::new()?;
    // The server changes the routing (`POST /admin/active`), the feed follows it.
    let routing = Routing::default().shared();
    let server = match runtime.block_on(server::bind(&report.server)) {
        Ok(listener) => Some(runtime.spawn(server::serve_routed(listener, routing.clone()))),
        Err(e) => {
            eprintln!(
                "relops demo: workflow server not started on {}: {e}",
                report.server
            );
            None
        }
    };
    if ws.readonly {
        eprintln!("relops demo: --readonly: no rehearsal and no rollout started");
    } else if let Err(e) = setup::prepare(&ws) {
        eprintln!("relops demo: the canary rollout is not set up: {e}");
    }
    let feed = LiveFeed::start(&runtime, &ws, opts.seed, routing)?;
    let outcome = if args.serve {
        eprintln!(
            "relops demo: workflow server on http://{0} (routing: GET/POST \
             http://{0}/admin/active), live feed posting to the OTLP/HTTP receiver on {1}; \
             Ctrl-C stops",
            report.server,
            feed.endpoint()
        );
        runtime
            .block_on(tokio::signal::ctrl_c())
            .map_err(Into::into)
    } else {
        crate::tui::run(ws)
    };
    feed.stop(&runtime);
    if let Some(s) = server {
        s.abort();
    }
    outcome
}

fn print_report(r: &DemoReport) {
    println!("workspace: {}", r.dir.display());
    println!("config:    {}", r.config_path.display());
    println!("cache:     {}", r.db_path.display());
    println!("traces:    {}", r.traces);
    println!("versions:  {}", r.versions);
    println!(
        "suite:     {}{}",
        r.suite.display(),
        if r.cases_written > 0 {
            format!(" ({} case files written)", r.cases_written)
        } else {
            String::new()
        }
    );
    println!(
        "server:    http://{} (run `relops demo --dir {} --serve`)",
        r.server,
        r.dir.display()
    );
    println!(
        "next:      relops --config {} gate --candidate v3 --baseline v2 (with the server running)",
        r.config_path.display()
    );
}
