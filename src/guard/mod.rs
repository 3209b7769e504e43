//! `relops guard`: the always-on service for one workspace. Each cycle pulls the
//! sources, checks the rollout in flight and production drift ([`cycle`]), turns what
//! holds into alerts ([`alert`]), queues what changed in the outbox ([`outbox`]) and
//! sends it ([`notify`]). One guard per workspace holds a lease with a heartbeat
//! ([`lease`]).
//!
//! Two clocks: the data's (`clock::now_ns`, pinned in demos and tests) judges traces and
//! rollouts; the wall clock (`clock::wall_ns`) times the lease, retries and the
//! `endsAt` Alertmanager compares with its own clock.

pub mod alert;
pub mod cycle;
pub mod lease;
pub mod notify;
pub mod outbox;
pub mod quiet;

use std::time::Instant;

use serde::Serialize;

use self::alert::{Alert, names};
use self::lease::{Lease, Me};
use self::notify::Ready;
use crate::config::guard::Severity;
use crate::store::Writer;
use crate::workspace::Workspace;

/// A guard holding its workspace's lease.
pub struct Guard {
    ws: Workspace,
    me: Me,
    writer: Writer,
    notifiers: Vec<Ready>,
    client: reqwest::Client,
    name: String,
    started_ns: i64,
}

/// One cycle, for the log and `--once`.
#[derive(Debug, Clone, Serialize)]
pub struct CycleReport {
    pub ms: f64,
    pub rollout: Option<String>,
    /// The alert keys that hold now.
    pub firing: Vec<String>,
    pub queued: usize,
    pub sent: usize,
    pub problems: Vec<String>,
}

/// How long a lease outlives its last heartbeat: three missed cycles.
fn ttl_ns(ws: &Workspace) -> i64 {
    ttl(&ws.config)
}

fn ttl(config: &crate::config::Config) -> i64 {
    3 * config.guard.check_every.as_nanos().max(1_000_000_000)
}

/// The guard watching this workspace, as the console shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    pub holder: String,
    /// Wall clock.
    pub at_ns: i64,
    /// Recent enough for a live guard: the console then leaves the checks to it.
    pub alive: bool,
}

pub fn heartbeat(
    conn: &rusqlite::Connection,
    config: &crate::config::Config,
) -> rusqlite::Result<Option<Heartbeat>> {
    let now = crate::clock::wall_ns();
    Ok(lease::read(conn)?.map(|l| Heartbeat {
        alive: now - l.heartbeat_ns < ttl(config),
        holder: l.holder,
        at_ns: l.heartbeat_ns,
    }))
}

/// How long an alert posted to Alertmanager stays firing unrenewed: four cycles, so a
/// guard that dies lets its alerts (and the watchdog) lapse.
fn hold_ns(ws: &Workspace) -> i64 {
    4 * ws.config.guard.check_every.as_nanos().max(15_000_000_000)
}

/// Every notifier with its secrets, or the first that cannot be used, named by file,
/// line and key (shared with `relops doctor`).
pub fn notifiers(ws: &Workspace) -> Result<Vec<Ready>, String> {
    let text = std::fs::read_to_string(&ws.config_path).unwrap_or_default();
    ws.config
        .notify
        .iter()
        .enumerate()
        .map(|(i, n)| {
            Ready::new(n).map_err(|(key, message)| {
                let (line, col) = crate::config::table_key_place(&text, "[[notify]]", i, key);
                format!(
                    "{}:{line}:{col}: notify[{i}].{key} ({}): {message}",
                    ws.config_path.display(),
                    n.name
                )
            })
        })
        .collect()
}

impl Guard {
    /// Checks the notifiers and takes the lease.
    pub fn start(ws: Workspace) -> Result<Self, String> {
        let notifiers = notifiers(&ws)?;
        let writer = crate::store::open_writer(&ws.db_path).map_err(|e| e.to_string())?;
        let me = Me::this_process();
        let started_ns = crate::clock::wall_ns();
        lease::acquire(writer.connection(), &me, ttl_ns(&ws), started_ns)?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("relops-guard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        let name = ws.name();
        Ok(Self {
            ws,
            me,
            writer,
            notifiers,
            client,
            name,
            started_ns,
        })
    }

    pub fn holder(&self) -> &str {
        &self.me.holder
    }

    /// One cycle. Problems (a source down, a notifier failing) are reported, not fatal;
    /// losing the lease is.
    pub async fn cycle(&self) -> Result<CycleReport, String> {
        let started = Instant::now();
        let mut problems = Vec::new();
        if self.ws.config.guard.sync && !self.ws.config.sources.is_empty() {
            problems.extend(self.sync().await);
        }
        let conn = self.writer.connection();
        let cx = cycle::Ctx {
            config: &self.ws.config,
            workspace: &self.name,
            actor: &self.me.holder,
            now_ns: crate::clock::now_ns(),
        };
        let seen = cycle::check(conn, &cx);
        problems.extend(seen.problems);
        let mut rollout = seen.rollout;
        let (mut firing, mut queued, mut sent) = self.deliver(seen.alerts, &mut problems).await?;
        if let Some(id) = seen.rollback {
            // Paged before (the queue above carries RelopsAutoRollback); now run it and
            // page again with what came of it.
            match self.roll_back(id).await {
                Ok(done) => tracing::warn!(rollout = id, outcome = %done, "automatic rollback"),
                Err(e) => problems.push(format!("automatic rollback of rollout {id}: {e}")),
            }
            let cx = cycle::Ctx {
                now_ns: crate::clock::now_ns(),
                ..cx
            };
            let after = cycle::check(conn, &cx);
            problems.extend(after.problems);
            rollout = after.rollout;
            let (f, q, s) = self.deliver(after.alerts, &mut problems).await?;
            (firing, queued, sent) = (f, queued + q, sent + s);
        }
        let ms = started.elapsed().as_secs_f64() * 1e3;
        lease::beat(
            conn,
            &self.me,
            crate::clock::wall_ns(),
            ms,
            problems.first().map(String::as_str),
        )?;
        Ok(CycleReport {
            ms,
            rollout,
            firing,
            queued,
            sent,
            problems,
        })
    }

    /// Reconciles the outbox with the alerts that hold now (and the watchdog) and sends
    /// what is due: the keys firing, how many queued, how many sent.
    async fn deliver(
        &self,
        mut alerts: Vec<Alert>,
        problems: &mut Vec<String>,
    ) -> Result<(Vec<String>, usize, usize), String> {
        alerts.push(self.watchdog());
        let conn = self.writer.connection();
        let queued = outbox::reconcile(
            conn,
            &self.ws.config.notify,
            &alerts,
            crate::clock::wall_ns(),
        )
        .map_err(|e| format!("writing the outbox: {e}"))?;
        let (sent, failed) = self.flush().await;
        problems.extend(failed);
        let firing = alerts
            .iter()
            .filter(|a| !a.is_watchdog())
            .map(|a| a.key.clone())
            .collect();
        Ok((firing, queued, sent))
    }

    /// Runs rollout `id`'s rollback procedure as the guard, on the plan's policy
    /// (`auto_rollback`, rechecked here with the rehearsal's freshness).
    async fn roll_back(&self, id: i64) -> Result<String, String> {
        let conn = self.writer.connection();
        let (at, mut r) = crate::rollout::store::newest(conn)
            .map_err(|e| e.to_string())?
            .filter(|(at, _)| *at == id)
            .ok_or("the rollout is no longer the newest")?;
        let plan = self
            .ws
            .config
            .rollouts
            .iter()
            .find(|p| p.name == r.plan && p.auto_rollback)
            .ok_or("its plan does not set auto_rollback")?;
        let now = crate::clock::now_ns();
        let prepared = crate::services::rollback::prepare(conn, &self.ws.config, &r, plan, now)?;
        if !prepared.tested.is_tested() {
            return Err(format!(
                "{} is {}",
                prepared.procedure.name,
                prepared.tested.describe(now)
            ));
        }
        tracing::warn!(rollout = at, procedure = %prepared.procedure.name, target = prepared.target(), "rolling back on the plan's policy");
        let done = crate::services::rollback::run(
            conn,
            at,
            &mut r,
            prepared,
            &self.me.holder,
            &PlanPolicy,
            std::future::pending::<()>(),
            |e| {
                if let crate::runbook::exec::Event::Finished(s) = e {
                    tracing::info!(step = s.index + 1, name = %s.name, outcome = %s.outcome, ms = s.millis, "rollback step");
                }
            },
        )
        .await?;
        Ok(format!(
            "{} in {:.1} s (run {})",
            done.outcome,
            done.elapsed.as_secs_f64(),
            done.run
        ))
    }

    /// Sends what is due to every notifier; one that fails never stops the others.
    pub async fn flush(&self) -> (usize, Vec<String>) {
        let conn = self.writer.connection();
        let mut sent = 0;
        let mut problems = Vec::new();
        for n in &self.notifiers {
            match notify::flush(conn, &self.client, n, &self.name, hold_ns(&self.ws)).await {
                Ok(k) => sent += k,
                Err(e) => problems.push(format!("notifier {}: {e}", n.notify.name)),
            }
        }
        (sent, problems)
    }

    /// Lets go of the lease (a clean exit).
    pub fn stop(&self) {
        let _ = lease::release(self.writer.connection(), &self.me);
    }

    async fn sync(&self) -> Vec<String> {
        use crate::sync::{Committer, Engine, Sources};
        let committer = match Committer::start(&self.ws.db_path) {
            Ok(c) => c,
            Err(e) => return vec![format!("sync: {e}")],
        };
        let sources = Sources::build(&self.ws.config);
        let engine = Engine::new(&self.ws.config, committer, None);
        engine
            .once(&sources)
            .await
            .into_iter()
            .filter_map(|r| r.error.map(|e| format!("source {}: {e}", r.source)))
            .collect()
    }

    /// The dead-man's switch: fires for as long as the guard is alive.
    fn watchdog(&self) -> Alert {
        let mut a = Alert::new(
            names::WATCHDOG,
            Severity::Info,
            &[("guard", &self.me.holder)],
            self.started_ns,
        );
        a.key = format!("{}/workspace={}", names::WATCHDOG, self.name);
        a.summary = format!("the relops guard of {} is alive", self.name);
        a.description = format!(
            "Fires while {} runs its cycles (every {}). When it stops firing, nothing \
             watches the rollout.",
            self.me.holder, self.ws.config.guard.check_every
        );
        a.next_step = "if this stops, restart the guard: `relops guard status`".into();
        a
    }
}

/// The answer to a procedure's own questions during an automatic rollback: the plan
/// opted in (`auto_rollback = true`), so yes, and the log says what was asked.
struct PlanPolicy;

impl crate::runbook::exec::Operator for PlanPolicy {
    fn confirm(&self, question: &str) -> bool {
        tracing::warn!(question, "answered yes on the plan's auto_rollback policy");
        true
    }
}

/// `relops guard status`: the lease and each notifier's delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub lease: Option<Lease>,
    /// Whether the lease's heartbeat is recent enough for a live guard.
    pub alive: bool,
    pub notifiers: Vec<outbox::Backlog>,
}

pub fn status(ws: &Workspace, conn: &rusqlite::Connection) -> rusqlite::Result<Status> {
    let lease = lease::read(conn)?;
    let now = crate::clock::wall_ns();
    let alive = lease
        .as_ref()
        .is_some_and(|l| now - l.heartbeat_ns < ttl_ns(ws));
    let notifiers = ws
        .config
        .notify
        .iter()
        .map(|n| outbox::backlog(conn, n))
        .collect::<rusqlite::Result<_>>()?;
    Ok(Status {
        lease,
        alive,
        notifiers,
    })
}
