//! Replaying a trace: plan (read the trace, resolve versions), run (the HTTP calls, in
//! parallel up to the target's limit), store (one transaction). Planning and storing
//! touch SQLite and are synchronous; running is async so that the console's driver can
//! run it on a task and the CLI can block on it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::client::{self, Policy};
use super::target::Target;
use crate::model::Fingerprint;
use crate::store::replays::{self, NewReplay};
use crate::store::{self, query};
use crate::workspace::Workspace;

/// A configured replay target plus the connection pool that calls it.
#[derive(Debug, Clone)]
pub struct Replayer {
    target: Arc<Target>,
    policy: Policy,
    client: reqwest::Client,
    db: PathBuf,
}

/// One replay to make.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The trace whose input runs; `None` for a regression case's input.
    pub trace_pk: Option<i64>,
    pub trace_id: String,
    pub input: String,
    pub label: String,
    /// The cached version (http targets).
    version_pk: Option<i64>,
    /// What the config says the version is (openai-chat targets).
    fingerprint: Option<Fingerprint>,
}

/// A replay that ran (or failed), before it is stored.
#[derive(Debug, Clone)]
pub struct Ran {
    plan: Planned,
    record: NewReplay,
    attempts: u32,
}

/// A stored replay: what `relops replay` prints and the console reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// `r:<id>`.
    pub replay: String,
    pub trace_id: String,
    pub version: String,
    pub target: String,
    pub attempts: u32,
    pub latency_ms: Option<f64>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub cost_usd: Option<f64>,
    pub output: Option<String>,
    pub error: Option<String>,
}

impl Replayer {
    /// The workspace's target `name` (or its default target).
    pub fn new(ws: &Workspace, name: Option<&str>) -> Result<Self, String> {
        let dir = ws.config_path.parent().unwrap_or(Path::new("."));
        let target = Target::resolve(&ws.config, dir, name)?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("relops/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot start the HTTP client: {e}"))?;
        Ok(Self {
            policy: Policy::from_config(&target.config),
            target: Arc::new(target),
            client,
            db: ws.db_path.clone(),
        })
    }

    pub fn target_name(&self) -> &str {
        &self.target.name
    }

    /// Reads the trace and resolves every version; nothing is sent yet.
    pub fn plan(&self, trace_id: &str, labels: &[String]) -> Result<Vec<Planned>, String> {
        let conn = store::open_reader(&self.db).map_err(|e| e.to_string())?;
        let trace = query::trace_detail(&conn, trace_id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no trace {trace_id:?} in the cache"))?;
        let input = trace
            .input
            .clone()
            .ok_or_else(|| format!("trace {} has no recorded input to replay", trace.row.id))?;
        labels
            .iter()
            .map(|label| {
                let fingerprint = self.target.fingerprint(label)?;
                let version_pk = match fingerprint {
                    Some(_) => None,
                    None => Some(query::resolve_version(&conn, label)?.rowid),
                };
                Ok(Planned {
                    trace_pk: Some(trace.row.pk),
                    trace_id: trace.row.id.clone(),
                    input: input.clone(),
                    label: label.clone(),
                    version_pk,
                    fingerprint,
                })
            })
            .collect()
    }

    /// Runs every planned replay, at most the target's concurrency at once.
    pub async fn run(&self, plans: Vec<Planned>) -> Vec<Ran> {
        futures::future::join_all(plans.into_iter().map(|p| self.run_one(p))).await
    }

    async fn run_one(&self, plan: Planned) -> Ran {
        let started_ns = crate::clock::now_ns();
        let mut record = NewReplay {
            trace_pk: plan.trace_pk,
            case_id: None,
            input: plan.trace_pk.is_none().then(|| plan.input.clone()),
            version_pk: plan.version_pk.unwrap_or(0),
            target: self.target.name.clone(),
            started_ns,
            latency_ms: None,
            output: None,
            spans: None,
            tokens_in: None,
            tokens_out: None,
            cost_usd: None,
            error: None,
        };
        let call = match self.target.call(&plan.label, &plan.input) {
            Ok(c) => c,
            Err(e) => {
                record.error = Some(e);
                return Ran {
                    plan,
                    record,
                    attempts: 0,
                };
            }
        };
        let sent = client::send(&self.client, &call, self.target.api_key(), &self.policy).await;
        let attempts = match &sent {
            Ok(r) => r.attempts,
            Err(f) => f.attempts,
        };
        match sent {
            Ok(reply) => match self.target.answer(&plan.label, &reply.body) {
                Ok(a) => {
                    record.latency_ms = a.latency_ms.or(Some(reply.elapsed.as_secs_f64() * 1000.0));
                    record.output = a.output;
                    record.spans = a.spans;
                    record.tokens_in = a.tokens_in;
                    record.tokens_out = a.tokens_out;
                    record.cost_usd = a.cost_usd;
                }
                Err(e) => {
                    record.latency_ms = Some(reply.elapsed.as_secs_f64() * 1000.0);
                    record.error = Some(e);
                }
            },
            Err(f) => record.error = Some(f.error),
        }
        Ran {
            plan,
            record,
            attempts,
        }
    }

    /// Runs an input that belongs to no trace (a regression case's) on a version, and
    /// returns what came back without storing it: the record has no trace, carries the
    /// input, and its `version_pk` is 0 (the caller knows the version). `Err` when the
    /// target cannot run that version at all; the record's error, when it did not run
    /// to an answer.
    pub async fn run_input(&self, label: &str, input: &str) -> Result<NewReplay, String> {
        let fingerprint = self.target.fingerprint(label)?;
        let plan = Planned {
            trace_pk: None,
            trace_id: String::new(),
            input: input.to_string(),
            label: label.to_string(),
            version_pk: None,
            fingerprint,
        };
        Ok(self.run_one(plan).await.record)
    }

    /// Stores what ran, in one transaction.
    pub fn store(&self, ran: Vec<Ran>) -> Result<Vec<Outcome>, String> {
        let writer = store::open_writer(&self.db).map_err(|e| e.to_string())?;
        let conn = writer.connection();
        let now = crate::clock::now_ns();
        let mut records = Vec::with_capacity(ran.len());
        for r in &ran {
            let mut rec = r.record.clone();
            if let Some(f) = &r.plan.fingerprint {
                rec.version_pk = crate::store::versions::ensure_version(conn, f, now)
                    .map_err(|e| e.to_string())?;
            }
            records.push(rec);
        }
        let ids = replays::insert(conn, &records).map_err(|e| e.to_string())?;
        Ok(ran
            .into_iter()
            .zip(records)
            .zip(ids)
            .map(|((r, rec), id)| Outcome {
                replay: format!("r:{id}"),
                trace_id: r.plan.trace_id,
                version: r.plan.label,
                target: self.target.name.clone(),
                attempts: r.attempts,
                latency_ms: rec.latency_ms,
                tokens_in: rec.tokens_in,
                tokens_out: rec.tokens_out,
                cost_usd: rec.cost_usd,
                output: rec.output,
                error: rec.error,
            })
            .collect())
    }

    /// Plan, run and store, for callers that may block (the CLI, the headless console).
    pub fn replay_blocking(
        &self,
        runtime: &tokio::runtime::Runtime,
        trace_id: &str,
        labels: &[String],
    ) -> Result<Vec<Outcome>, String> {
        let plans = self.plan(trace_id, labels)?;
        let ran = runtime.block_on(self.run(plans));
        self.store(ran)
    }

    /// Plan, run and store without blocking the runtime's workers on SQLite.
    pub async fn replay(
        &self,
        trace_id: String,
        labels: Vec<String>,
    ) -> Result<Vec<Outcome>, String> {
        let me = self.clone();
        let plans = tokio::task::spawn_blocking(move || me.plan(&trace_id, &labels))
            .await
            .map_err(|e| e.to_string())??;
        let ran = self.run(plans).await;
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.store(ran))
            .await
            .map_err(|e| e.to_string())?
    }
}
