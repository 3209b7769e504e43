//! One guard cycle: pull the sources, check the rollout in flight (the same
//! `rollout::ops` path the console and `relops rollout watch` take, so the three never
//! disagree), judge production drift, note what has gone quiet, and turn all of it into
//! the set of alerts that hold now.

use rusqlite::Connection;

use super::alert::{Alert, VersionTag, names};
use crate::config::Config;
use crate::config::guard::Severity;
use crate::drift::{self, DriftRequest, Verdict};
use crate::rollout::machine::{Rollout, State};
use crate::rollout::ops::{self, Op};
use crate::rollout::plan::{OnFire, Plan, Trigger};
use crate::rollout::{recovery, store};
use crate::store::query::{self, Seek, TraceFilter};

/// What a cycle sees, for the alerts and the log line.
pub struct Seen {
    pub alerts: Vec<Alert>,
    /// The rollout in flight, as one phrase.
    pub rollout: Option<String>,
    /// Things that went wrong but did not stop the cycle (a source that failed, ...).
    pub problems: Vec<String>,
    /// A rollout the guard is to roll back now (its plan's policy allows it).
    pub rollback: Option<i64>,
}

/// Everything a check needs besides the database.
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub workspace: &'a str,
    pub actor: &'a str,
    pub now_ns: i64,
}

/// The rollout and drift part of a cycle (after the sync).
pub fn check(conn: &Connection, cx: &Ctx) -> Seen {
    let mut seen = Seen {
        alerts: Vec::new(),
        rollout: None,
        problems: Vec::new(),
        rollback: None,
    };
    let mut quiet = Vec::new();
    let mut flight = None;
    match store::newest(conn) {
        Ok(Some((id, mut r))) => match cx.config.rollouts.iter().find(|p| p.name == r.plan) {
            Some(plan) => match rollout(conn, cx, id, &mut r, plan, &mut seen, &mut quiet) {
                Ok(()) => flight = Some((id, r, plan)),
                Err(e) => seen.problems.push(format!("rollout {id}: {e}")),
            },
            None => seen.problems.push(format!(
                "rollout {id} follows plan {:?}, which the config no longer has",
                r.plan
            )),
        },
        Ok(None) => {}
        Err(e) => seen.problems.push(format!("reading the rollouts: {e}")),
    }
    if !cx.config.guard.drift_signals.is_empty() {
        production_drift(conn, cx, &mut seen, &mut quiet);
    }
    match super::quiet::track(conn, &quiet, cx.now_ns) {
        Ok(since) => {
            let late = no_data(cx, &quiet, &since);
            if let Some((id, r, plan)) = &mut flight {
                match hold_if_starved(conn, cx, *id, r, plan, &late) {
                    Ok(true) => {
                        let facts = Facts::read(conn, *id, r, plan);
                        seen.alerts.extend(state_alerts(cx, &facts, r, plan));
                    }
                    Ok(false) => {}
                    Err(e) => seen.problems.push(format!("holding rollout {id}: {e}")),
                }
            }
            seen.alerts.extend(late);
        }
        Err(e) => seen.problems.push(format!("tracking quiet checks: {e}")),
    }
    match crate::audit::head(conn) {
        Ok(head) => seen
            .alerts
            .iter_mut()
            .for_each(|a| a.audit_head = head.clone()),
        Err(e) => seen.problems.push(format!("reading the audit head: {e}")),
    }
    seen
}

/// A running rollout whose trigger has gone without data past `no_data_after` is held
/// when the trigger's policy says so: an inconclusive check never lets it promote.
fn hold_if_starved(
    conn: &Connection,
    cx: &Ctx,
    id: i64,
    r: &mut Rollout,
    plan: &Plan,
    late: &[Alert],
) -> Result<bool, String> {
    if r.state != State::Running {
        return Ok(false);
    }
    let rollout = id.to_string();
    let starved = late.iter().any(|a| {
        a.labels.get("rollout") == Some(&rollout)
            && a.labels.get("trigger").is_some_and(|t| {
                stage_of(r, plan)
                    .triggers
                    .iter()
                    .any(|x| &x.name == t && x.on_fire == OnFire::Hold)
            })
    });
    if !starved {
        return Ok(false);
    }
    let ocx = ops::Ctx {
        conn,
        config: cx.config,
        actor: cx.actor,
        now_ns: cx.now_ns,
    };
    ops::apply(&ocx, id, r, plan, &Op::Hold)?;
    Ok(true)
}

/// A check that had too little data, and what it is.
pub struct Quiet {
    pub key: String,
    pub what: String,
    pub labels: Vec<(String, String)>,
    pub next_step: String,
}

fn rollout(
    conn: &Connection,
    cx: &Ctx,
    id: i64,
    r: &mut Rollout,
    plan: &Plan,
    seen: &mut Seen,
    quiet: &mut Vec<Quiet>,
) -> Result<(), String> {
    if r.state == State::Running {
        let ocx = ops::Ctx {
            conn,
            config: cx.config,
            actor: cx.actor,
            now_ns: cx.now_ns,
        };
        ops::apply(&ocx, id, r, plan, &Op::Tick)?;
    }
    if r.state == State::RolledBack {
        watch_recovery(conn, cx, id, r, plan)?;
    }
    seen.rollout = Some(format!(
        "rollout {id} {} {} at {}",
        r.release,
        r.state.word(),
        stage_of(r, plan).name
    ));
    let facts = Facts::read(conn, id, r, plan);
    let auto = automatic(conn, cx, r, plan);
    if auto == Auto::Go {
        seen.rollback = Some(id);
    }
    let stage = stage_of(r, plan);
    for t in &stage.triggers {
        if let Some(mut a) = trigger_alert(cx, &facts, r, plan, t) {
            a.traces = facts.traces(conn, &t.signal);
            if auto == Auto::Go && a.name == names::TRIGGER_FIRED {
                a.next_step = format!(
                    "the guard rolls back to {} now (plan {:?} has auto_rollback); follow it: `relops rollout status`",
                    r.previous.as_deref().unwrap_or("the previous version"),
                    plan.name
                );
            }
            seen.alerts.push(a);
        }
        if matches!(r.state, State::Running | State::Held) && starved(r, t) {
            quiet.push(Quiet {
                key: format!("rollout/{id}/trigger/{}", t.name),
                what: format!("trigger {:?} on {} ({})", t.name, t.signal, r.release),
                labels: vec![
                    ("rollout".into(), id.to_string()),
                    ("trigger".into(), t.name.clone()),
                    ("signal".into(), t.signal.clone()),
                ],
                next_step: format!(
                    "check that {} still receives traffic: `relops sync --status`",
                    r.release
                ),
            });
        }
    }
    seen.alerts.extend(state_alerts(cx, &facts, r, plan));
    seen.alerts
        .extend(rollback_alerts(conn, cx, &facts, r, plan, &auto));
    Ok(())
}

/// Whether the guard rolls back on its own now, and if not, why not.
#[derive(Debug, Clone, PartialEq)]
enum Auto {
    /// No trigger with `on_fire = "rollback"` has fired (or it already ran).
    No,
    Go,
    Blocked(String),
}

/// A fired trigger whose policy is rollback runs the plan's procedure once, and only
/// with `auto_rollback` and a fresh rehearsal; any production run since the trigger
/// fired (the guard's or a human's) means it is not run again.
fn automatic(conn: &Connection, cx: &Ctx, r: &Rollout, plan: &Plan) -> Auto {
    let fired = fired_trigger(r, plan);
    if r.state != State::Triggered || fired.is_none_or(|t| t.on_fire != OnFire::Rollback) {
        return Auto::No;
    }
    if !plan.auto_rollback {
        return Auto::Blocked(format!(
            "plan {:?} does not set auto_rollback = true",
            plan.name
        ));
    }
    let Some(name) = plan.rollback_procedure.as_deref() else {
        return Auto::Blocked(format!("plan {:?} names no rollback_procedure", plan.name));
    };
    match latest_run(conn, name, r) {
        Ok(Some(_)) => return Auto::No,
        Ok(None) => {}
        Err(e) => return Auto::Blocked(format!("reading the procedure runs: {e}")),
    }
    match crate::services::rollback::prepare(conn, cx.config, r, plan, cx.now_ns) {
        Ok(p) if p.tested.is_tested() => Auto::Go,
        Ok(p) => Auto::Blocked(format!(
            "{} is {}; a rollback without a human needs a fresh rehearsal",
            p.procedure.name,
            p.tested.describe(cx.now_ns)
        )),
        Err(e) => Auto::Blocked(e),
    }
}

/// The trigger that fired the rollout, if it is still in the plan's stage.
fn fired_trigger<'p>(r: &Rollout, plan: &'p Plan) -> Option<&'p Trigger> {
    let fired = r.fired.as_deref()?;
    stage_of(r, plan)
        .triggers
        .iter()
        .find(|t| fired.starts_with(&format!("{}:", t.name)))
}

/// The newest production run of the plan's rollback procedure since the trigger fired.
fn latest_run(
    conn: &Connection,
    name: &str,
    r: &Rollout,
) -> rusqlite::Result<Option<crate::runbook::record::RunRecord>> {
    let since = r.fired_ns.unwrap_or(r.stage_started_ns);
    crate::runbook::record::latest_run(conn, name, since)
}

/// The guard rolling back (paged before it runs), a rollback it may not run, and a
/// rollback run that failed (the guard's or a human's), with its failed step.
fn rollback_alerts(
    conn: &Connection,
    cx: &Ctx,
    facts: &Facts,
    r: &Rollout,
    plan: &Plan,
    auto: &Auto,
) -> Vec<Alert> {
    let rollout = facts.id.to_string();
    let labels = [
        ("rollout", rollout.as_str()),
        ("release", r.release.as_str()),
    ];
    let since = r.fired_ns.unwrap_or(cx.now_ns);
    let target = r.previous.as_deref().unwrap_or("the previous version");
    let fired = r.fired.clone().unwrap_or_default();
    let mut out = Vec::new();
    let mut push = |name: &str, summary: String, detail: String, next: String| {
        let mut a = Alert::new(name, Severity::Critical, &labels, since);
        a.description = format!("{summary}. {detail} {}.", versions_phrase(facts));
        a.summary = summary;
        a.next_step = next;
        a.release = facts.release.clone();
        a.previous = facts.previous.clone();
        out.push(a);
    };
    match auto {
        Auto::Go => push(
            names::AUTO_ROLLBACK,
            format!("the guard is rolling {} back to {target}", r.release),
            format!(
                "Trigger fired: {fired}. Plan {:?} sets auto_rollback and {} is rehearsed; the guard runs it as {}.",
                plan.name,
                plan.rollback_procedure.as_deref().unwrap_or(""),
                cx.actor
            ),
            "follow it: `relops rollout status`; the audit: `relops audit`".into(),
        ),
        Auto::Blocked(why) => push(
            names::AUTO_ROLLBACK_BLOCKED,
            format!("{}: the guard did not roll back: {why}", r.release),
            format!("Trigger fired: {fired}."),
            rollback_step(r),
        ),
        Auto::No => {}
    }
    let (Some(name), State::Triggered | State::Held) = (&plan.rollback_procedure, r.state) else {
        return out;
    };
    let Ok(Some(run)) = latest_run(conn, name, r) else {
        return out;
    };
    // A run without an outcome is a human's still going, or the guard's cut short.
    let cut_short = run.outcome.is_none() && run.actor == cx.actor;
    if run.ok() || (run.outcome.is_none() && !cut_short) {
        return out;
    }
    let outcome = run
        .outcome
        .as_deref()
        .unwrap_or("cut short (the guard stopped)");
    let step = run
        .failed_step
        .as_ref()
        .map_or(String::new(), |(i, step, error)| {
            format!(
                " at step {i} ({step}): {}",
                crate::text::clip(&crate::text::one_line(error), 200)
            )
        });
    push(
        names::ROLLBACK_FAILED,
        format!("the rollback of {} {outcome}{step}", r.release),
        format!(
            "Run {} of {name} by {}; production may still serve {}.",
            run.id, run.actor, r.release
        ),
        format!(
            "read the run: `relops audit`; fix the step, then `{}`",
            rollback_step(r)
        ),
    );
    out
}

/// Whether a trigger's latest reading lacks the data to count.
fn starved(r: &Rollout, t: &Trigger) -> bool {
    match r.last.signals.get(&t.signal) {
        None => true,
        Some(reading) if t.above.is_some() => reading.n < t.min_n || reading.value.is_none(),
        Some(reading) => reading.verdict == Verdict::Insufficient,
    }
}

fn stage_of<'p>(r: &Rollout, plan: &'p Plan) -> &'p crate::rollout::plan::Stage {
    &plan.stages[r.stage.min(plan.stages.len() - 1)]
}

/// After a rollback: one recovery check per cycle until the signals came back (saved as
/// the CLI's verify saves it) or the plan's `within` ran out.
fn watch_recovery(
    conn: &Connection,
    cx: &Ctx,
    id: i64,
    r: &mut Rollout,
    plan: &Plan,
) -> Result<(), String> {
    let (Some(verify), Some(since), None) = (&plan.verify, r.rolled_back_ns, r.recovered_ns) else {
        return Ok(());
    };
    if cx.now_ns >= since + verify.within.as_nanos() {
        return Ok(());
    }
    let at = recovery::Since {
        release: &r.release,
        previous: r.previous.as_deref(),
        since_ns: since,
        window_ns: stage_of(r, plan).window.as_nanos(),
    };
    let check = recovery::check(conn, plan, at, cx.now_ns + 1).map_err(|e| e.to_string())?;
    if !check.recovered() {
        return Ok(());
    }
    r.recovered_ns = Some(cx.now_ns);
    let change = store::Change {
        actor: cx.actor,
        kind: "recovered",
        item: None,
        evidence: serde_json::to_value(&check).expect("a check serialises"),
        now_ns: cx.now_ns,
    };
    store::save(conn, id, r, &change).map_err(|e| e.to_string())
}

/// What every rollout alert names: the versions with their fingerprints.
struct Facts {
    id: i64,
    release: Option<VersionTag>,
    previous: Option<VersionTag>,
    release_row: Option<i64>,
    every: String,
}

impl Facts {
    fn read(conn: &Connection, id: i64, r: &Rollout, plan: &Plan) -> Self {
        let versions = query::versions(conn).unwrap_or_default();
        let tag = |label: Option<&str>| {
            let label = label?;
            let v = query::find_version(&versions, label).ok()?;
            Some((
                VersionTag {
                    label: v.label.clone(),
                    fingerprint: v.id.clone(),
                },
                v.rowid,
            ))
        };
        let release = tag(Some(&r.release));
        Self {
            id,
            release_row: release.as_ref().map(|(_, row)| *row),
            release: release.map(|(t, _)| t),
            previous: tag(r.previous.as_deref()).map(|(t, _)| t),
            every: plan.check_every.to_string(),
        }
    }

    /// Up to three of the release's traces behind `signal`, newest first.
    fn traces(&self, conn: &Connection, signal: &str) -> Vec<String> {
        let Some(version) = self.release_row else {
            return Vec::new();
        };
        let filter = TraceFilter {
            version: Some(version),
            refusals: signal.starts_with("refusal") || signal.starts_with("safety"),
            tool_errors: signal.starts_with("tool_error"),
            ..TraceFilter::default()
        };
        query::traces_page(conn, &filter, Seek::Offset(0), 3)
            .map(|rows| rows.into_iter().map(|t| t.id).collect())
            .unwrap_or_default()
    }
}

/// The shell-quoted rollback command an operator can paste.
fn rollback_step(r: &Rollout) -> String {
    match &r.previous {
        Some(p) => format!(
            "relops rollout rollback --confirm {}",
            crate::text::shell_quote(p)
        ),
        None => "relops rollout rollback".into(),
    }
}

fn trigger_alert(cx: &Ctx, facts: &Facts, r: &Rollout, plan: &Plan, t: &Trigger) -> Option<Alert> {
    let fired_here = r
        .fired
        .as_deref()
        .is_some_and(|f| f.starts_with(&format!("{}:", t.name)));
    let reading = r.last.signals.get(&t.signal);
    let value = reading.and_then(|s| s.value);
    let n = reading.map(|s| s.n);
    let still_firing = fired_here
        && match r.state {
            State::Triggered | State::Held => true,
            // Until the signals recovered after the rollback.
            State::RolledBack => plan.verify.is_some() && r.recovered_ns.is_none(),
            State::Running | State::Completed => false,
        };
    let warning = r.state == State::Running
        && t.warn_above.is_some_and(|w| value.is_some_and(|v| v > w))
        && n.is_some_and(|n| n >= t.min_n);
    let (name, severity, threshold, since) = if still_firing {
        (
            names::TRIGGER_FIRED,
            Severity::Critical,
            t.above,
            r.fired_ns.unwrap_or(cx.now_ns),
        )
    } else if warning {
        (
            names::TRIGGER_WARNING,
            Severity::Warning,
            t.warn_above,
            r.last.at_ns,
        )
    } else {
        return None;
    };
    let rollout = facts.id.to_string();
    let mut a = Alert::new(
        name,
        severity,
        &[
            ("rollout", &rollout),
            ("release", &r.release),
            ("trigger", &t.name),
            ("signal", &t.signal),
        ],
        since,
    );
    let shown = value.map_or("no reading".to_string(), |v| format!("{v:.4}"));
    let limit = threshold.map_or("a drift FAIL".to_string(), |l| format!("{l}"));
    let n_text = n.map_or(String::new(), |n| format!(" (n = {n})"));
    a.summary = match name {
        names::TRIGGER_FIRED => format!(
            "{}: trigger {:?} fired: {} {shown} over {limit}{n_text}",
            r.release, t.name, t.signal
        ),
        _ => format!(
            "{}: {} {shown} is over the warning tier {limit}{n_text}; the trigger fires above {}",
            r.release,
            t.signal,
            t.above.map_or("a FAIL".into(), |l| l.to_string())
        ),
    };
    a.description = format!(
        "{} at {shown} against {limit}{n_text}, {} checks in a row needed, checks every {}; \
         since {}. Stage {:?} ({} %) of plan {:?}. {}. Rollout is {}.",
        t.signal,
        t.consecutive,
        facts.every,
        crate::clock::rfc3339(since),
        stage_of(r, plan).name,
        stage_of(r, plan).weight,
        plan.name,
        versions_phrase(facts),
        r.state.word(),
    );
    a.next_step = match (name, r.state) {
        (names::TRIGGER_FIRED, State::RolledBack) => {
            "rolled back; waiting for the verify signals: `relops rollout status`".into()
        }
        (names::TRIGGER_FIRED, _) => rollback_step(r),
        _ => "watch it: `relops rollout status`; hold with `relops rollout hold`".into(),
    };
    a.value = value;
    a.threshold = threshold;
    a.n = n;
    a.release = facts.release.clone();
    a.previous = facts.previous.clone();
    Some(a)
}

fn versions_phrase(facts: &Facts) -> String {
    let tag = |v: &VersionTag| format!("{} ({})", v.label, v.fingerprint);
    match (&facts.release, &facts.previous) {
        (Some(r), Some(p)) => format!("Release {} vs previous {}", tag(r), tag(p)),
        (Some(r), None) => format!("Release {}", tag(r)),
        _ => "The release is not in the cache".into(),
    }
}

/// Held, rolled back (while verifying), recovery failed.
fn state_alerts(cx: &Ctx, facts: &Facts, r: &Rollout, plan: &Plan) -> Vec<Alert> {
    let rollout = facts.id.to_string();
    let labels = [
        ("rollout", rollout.as_str()),
        ("release", r.release.as_str()),
    ];
    let mut out = Vec::new();
    let mut push = |name: &str, severity, since, summary: String, next: String| {
        let mut a = Alert::new(name, severity, &labels, since);
        a.description = format!(
            "{summary}. Stage {:?} of plan {:?}; {}.",
            stage_of(r, plan).name,
            plan.name,
            versions_phrase(facts)
        );
        a.summary = summary;
        a.next_step = next;
        a.release = facts.release.clone();
        a.previous = facts.previous.clone();
        out.push(a);
    };
    match r.state {
        State::Held => push(
            names::ROLLOUT_HELD,
            Severity::Warning,
            r.last.at_ns.max(r.stage_started_ns),
            format!("rollout {} of {} is held", facts.id, r.release),
            format!(
                "resume with `relops rollout resume` or roll back with `{}`",
                rollback_step(r)
            ),
        ),
        State::RolledBack if r.recovered_ns.is_none() => {
            let since = r.rolled_back_ns.unwrap_or(cx.now_ns);
            let deadline = plan.verify.as_ref().map(|v| since + v.within.as_nanos());
            match deadline {
                Some(d) if cx.now_ns >= d => push(
                    names::RECOVERY_FAILED,
                    Severity::Critical,
                    d,
                    format!(
                        "{} was rolled back but its verify signals did not recover within {}",
                        r.release,
                        plan.verify.as_ref().map_or(String::new(), |v| v.within.to_string())
                    ),
                    "read the signals: `relops drift`; the traffic may not have moved: `relops rollout status`".into(),
                ),
                Some(_) => push(
                    names::ROLLED_BACK,
                    Severity::Info,
                    since,
                    format!("{} was rolled back; waiting for its signals to recover", r.release),
                    "`relops rollout status` shows the verify checks".into(),
                ),
                None => {}
            }
        }
        _ => {}
    }
    out
}

/// Production drift: the configured signals that fail, and those without enough data.
fn production_drift(conn: &Connection, cx: &Ctx, seen: &mut Seen, quiet: &mut Vec<Quiet>) {
    let g = &cx.config.guard;
    let request = DriftRequest {
        candidate: g.candidate.clone(),
        baseline: g.baseline.clone(),
        before: false,
        window: g.drift_window,
        until_ns: None,
    };
    let report = match drift::run(conn, &cx.config.drift, &request) {
        Ok(r) => r,
        Err(e) => {
            seen.problems.push(format!("production drift: {e}"));
            return;
        }
    };
    let tag = |v: &crate::drift::VersionRef| VersionTag {
        label: v.label.clone(),
        fingerprint: v.id.clone(),
    };
    for s in report
        .signals
        .iter()
        .filter(|s| g.drift_signals.contains(&s.name))
    {
        let j = &s.judgement;
        if j.verdict == Verdict::Insufficient {
            quiet.push(Quiet {
                key: format!("drift/{}", s.name),
                what: format!(
                    "production drift of {} ({})",
                    s.name, report.candidate.label
                ),
                labels: vec![("signal".into(), s.name.clone())],
                next_step: "`relops drift` shows the sample sizes".into(),
            });
            continue;
        }
        if j.verdict != Verdict::Fail {
            continue;
        }
        let mut a = Alert::new(
            names::DRIFT_FAIL,
            Severity::Critical,
            &[("release", &report.candidate.label), ("signal", &s.name)],
            report.window_start_ns,
        );
        let versus = report
            .baseline
            .as_ref()
            .map_or("its previous window".to_string(), |b| b.label.clone());
        a.summary = format!(
            "{}: {} drifted against {versus}: {} → {} ({})",
            report.candidate.label,
            s.name,
            s.fmt_baseline(),
            s.fmt_current(),
            s.fmt_delta()
        );
        a.description = format!(
            "{} {} vs {} (delta {}, 95 % CI {}, p {}, n {}) over the last {}.",
            s.name,
            s.fmt_current(),
            s.fmt_baseline(),
            s.fmt_delta(),
            s.fmt_interval(),
            s.fmt_p(),
            s.fmt_n(),
            report.window
        );
        a.next_step = format!(
            "relops drift --candidate {}{}",
            crate::text::shell_quote(&report.candidate.label),
            report.baseline.as_ref().map_or(String::new(), |b| format!(
                " --baseline {}",
                crate::text::shell_quote(&b.label)
            ))
        );
        a.value = j.current;
        a.n = Some(j.n_candidate);
        a.release = Some(tag(&report.candidate));
        a.previous = report.baseline.as_ref().map(tag);
        seen.alerts.push(a);
    }
}

/// A check quiet for longer than `no_data_after` pages.
fn no_data(
    cx: &Ctx,
    quiet: &[Quiet],
    since: &std::collections::BTreeMap<String, i64>,
) -> Vec<Alert> {
    let after = cx.config.guard.no_data_after;
    quiet
        .iter()
        .filter_map(|q| {
            let since = *since.get(&q.key)?;
            if cx.now_ns - since < after.as_nanos() {
                return None;
            }
            let labels: Vec<(&str, &str)> =
                q.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let mut a = Alert::new(names::NO_DATA, Severity::Warning, &labels, since);
            a.summary = format!("no data for {} since {}", q.what, crate::clock::rfc3339(since));
            a.description = format!(
                "{} has had too little data to judge for over {} (since {}): silence is not health.",
                q.what,
                after,
                crate::clock::rfc3339(since)
            );
            a.next_step = q.next_step.clone();
            Some(a)
        })
        .collect()
}
