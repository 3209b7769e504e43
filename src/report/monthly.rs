//! The monthly drift report and ratchet plan: drift per signal over the month (each
//! version against the one before it, daily charts), test-set maintenance (cases added
//! and by which incident, never-failing and flaky cases from the gate runs), and the
//! threshold ratchet plan: every rollback trigger and drift margin backtested over the
//! cached month, with a tighter, looser or unchanged value and the numbers behind it.

use std::collections::BTreeMap;
use std::fmt::Write;

use rusqlite::{Connection, params};
use serde::Serialize;

use super::ratchet::{self, Direction, Event, Judged, MarginPlan, Point, Proposal, Track, num};
use super::sections::{self, CaseAttempt, CaseLine, PairVerdict, Traffic, VersionLine};
use super::{
    CHARTS_MARK, Ctx, DAY_NS, HOUR_NS, Recommendation, Rendered, Span, cell, plural, short,
};
use crate::drift::catalogue::{self, Measure, Worse};
use crate::drift::stats::{self, Statistic};
use crate::drift::{self, DriftRequest, Verdict};
use crate::period::Period;

/// Triggers are backtested at one check per hour.
const CHECK_NS: i64 = HOUR_NS;

#[derive(Debug, Clone, Serialize)]
pub struct CaseStat {
    pub id: String,
    pub title: String,
    pub must_pass: bool,
    pub runs: usize,
    pub attempts: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Flaky {
    pub id: String,
    pub title: String,
    pub version: String,
    pub passes: usize,
    pub fails: usize,
    pub runs: Vec<i64>,
}

/// Test-set maintenance over the month.
#[derive(Debug, Clone, Serialize)]
pub struct TestSet {
    /// Cases in the index, not removed.
    pub cases: usize,
    pub must_pass: usize,
    pub added: Vec<CaseLine>,
    /// Cases added per incident (`None`: not from an incident).
    pub added_by_incident: Vec<(Option<i64>, usize)>,
    pub gate_runs: usize,
    pub never_failing: Vec<CaseStat>,
    pub flaky: Vec<Flaky>,
    /// Cases in the suite no gate ran this month.
    pub never_run: Vec<String>,
}

/// One rollback trigger's backtest.
#[derive(Debug, Clone, Serialize)]
pub struct TriggerPlan {
    pub plan: String,
    pub stage: String,
    pub trigger: String,
    pub signal: String,
    pub above: Option<f64>,
    pub consecutive: u32,
    /// The trailing window each check reads (the stage's window).
    pub window: String,
    pub backtest: Option<ratchet::Backtest>,
    pub proposal: Option<Proposal>,
    /// Why it was not backtested.
    pub note: Option<String>,
}

/// One drift margin's backtest.
#[derive(Debug, Clone, Serialize)]
pub struct MarginLine {
    pub signal: String,
    pub label: String,
    /// `margin` (rates, absolute rise) or `ratio` (samples).
    pub setting: &'static str,
    pub plan: MarginPlan,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ratchet {
    pub check_every: String,
    pub events: Vec<Event>,
    pub triggers: Vec<TriggerPlan>,
    pub margins: Vec<MarginLine>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Monthly {
    pub report: &'static str,
    pub workspace: String,
    pub period: Span,
    pub requests: u64,
    pub versions: Vec<VersionLine>,
    pub verdicts: Vec<PairVerdict>,
    pub test_set: TestSet,
    pub ratchet: Ratchet,
    pub recommendations: Vec<Recommendation>,
    pub charts: Vec<&'static str>,
}

pub fn build(ctx: &Ctx) -> Result<(Monthly, Rendered), String> {
    let err = |e: rusqlite::Error| e.to_string();
    let span = &ctx.span;
    let traffic = Traffic::load(ctx.conn, span, span.days.max(1) as usize).map_err(err)?;
    let rollbacks = sections::rollbacks(ctx.conn, span).map_err(err)?;
    let versions = sections::versions(ctx.conn, span, &traffic, &rollbacks).map_err(err)?;
    let cases = sections::cases(ctx.conn).map_err(err)?;
    let incidents = sections::incidents(ctx.conn, span, &cases).map_err(err)?;
    let events = sections::events(&incidents, &rollbacks);
    let attempts = sections::gate_attempts(ctx.conn, span).map_err(err)?;
    let runs = sections::gate_runs(ctx.conn, span).map_err(err)?;
    let test_set = test_set(span, &cases, &attempts, runs.len());
    let triggers = triggers(ctx, &versions, &events).map_err(err)?;
    let margins = margins(ctx, &events);
    let charts = traffic.charts(span, &versions, "daily");
    let mut m = Monthly {
        report: "monthly",
        workspace: ctx.name.clone(),
        period: span.clone(),
        requests: versions.iter().map(|v| v.requests).sum(),
        verdicts: sections::pair_verdicts(ctx, &versions),
        versions,
        test_set,
        ratchet: Ratchet {
            check_every: "1h".into(),
            events,
            triggers,
            margins,
        },
        recommendations: Vec::new(),
        charts: charts.iter().map(|c| c.signal).collect(),
    };
    m.recommendations = recommend(&m, &incidents, &runs);
    let markdown = markdown(&m);
    Ok((m, Rendered { markdown, charts }))
}

fn test_set(span: &Span, cases: &[CaseLine], attempts: &[CaseAttempt], runs: usize) -> TestSet {
    let live: Vec<&CaseLine> = cases.iter().filter(|c| !c.removed).collect();
    let added: Vec<CaseLine> = cases
        .iter()
        .filter(|c| span.contains(c.created_ns))
        .cloned()
        .collect();
    let mut by_incident: BTreeMap<Option<i64>, usize> = BTreeMap::new();
    for c in &added {
        *by_incident.entry(c.incident).or_default() += 1;
    }
    let mut per_case: BTreeMap<&str, Vec<&CaseAttempt>> = BTreeMap::new();
    for a in attempts {
        per_case.entry(a.case_id.as_str()).or_default().push(a);
    }
    let mut never_failing = Vec::new();
    let mut flaky = Vec::new();
    for (id, all) in &per_case {
        let mut run_ids: Vec<i64> = all.iter().map(|a| a.run).collect();
        run_ids.dedup();
        if all.iter().all(|a| a.passed && !a.error) {
            never_failing.push(CaseStat {
                id: id.to_string(),
                title: all[0].title.clone(),
                must_pass: all.iter().any(|a| a.must_pass),
                runs: run_ids.len(),
                attempts: all.len(),
            });
        }
        let mut per_version: BTreeMap<&str, Vec<&&CaseAttempt>> = BTreeMap::new();
        for a in all {
            per_version.entry(a.version.as_str()).or_default().push(a);
        }
        for (version, tries) in per_version {
            let passes = tries.iter().filter(|a| a.passed).count();
            let fails = tries.iter().filter(|a| !a.passed && !a.error).count();
            if passes > 0 && fails > 0 {
                let mut runs: Vec<i64> = tries.iter().map(|a| a.run).collect();
                runs.dedup();
                flaky.push(Flaky {
                    id: id.to_string(),
                    title: tries[0].title.clone(),
                    version: version.to_string(),
                    passes,
                    fails,
                    runs,
                });
            }
        }
    }
    TestSet {
        cases: live.len(),
        must_pass: live.iter().filter(|c| c.must_pass).count(),
        added_by_incident: by_incident.into_iter().collect(),
        added,
        gate_runs: runs,
        never_failing,
        flaky,
        never_run: live
            .iter()
            .filter(|c| !per_case.contains_key(c.id.as_str()))
            .map(|c| c.id.clone())
            .collect(),
    }
}

/// One request, as a trigger's check reads it.
struct Req {
    at: i64,
    latency: f64,
    cost: f64,
    counts: [u64; 8],
}

/// Counts: refusal, requests, safety, requests, tool errors, tool calls, empty
/// retrievals, retrievals: (events, trials) pairs per rate.
fn rate_index(signal: &str) -> Option<usize> {
    match signal {
        "refusal_rate" => Some(0),
        "safety_event_rate" => Some(2),
        "tool_error_rate" => Some(4),
        "retrieval_empty_rate" => Some(6),
        _ => None,
    }
}

fn sample_stat(signal: &str) -> Option<(bool, Statistic)> {
    match signal {
        "latency_p50" => Some((true, Statistic::P50)),
        "latency_p95" => Some((true, Statistic::P95)),
        "latency_p99" => Some((true, Statistic::P99)),
        "cost_per_request" => Some((false, Statistic::Mean)),
        _ => None,
    }
}

/// The value a rollout check would read over these requests: the candidate's current
/// value as drift computes it (`None` with no trials, or too few for the statistic).
/// What a check reads; a rate over fewer than `min_n` trials is no reading, as the
/// rollout machine does not count it either.
fn reading(signal: &str, reqs: &[Req], min_n: u64) -> Option<f64> {
    if let Some(i) = rate_index(signal) {
        let (x, n) = reqs
            .iter()
            .fold((0, 0), |(x, n), r| (x + r.counts[i], n + r.counts[i + 1]));
        return (n > 0 && n >= min_n).then(|| x as f64 / n as f64);
    }
    let (latency, stat) = sample_stat(signal)?;
    if reqs.len() < stat.min_sample() {
        return None;
    }
    let mut values: Vec<f64> = reqs
        .iter()
        .map(|r| if latency { r.latency } else { r.cost })
        .collect();
    values.sort_by(f64::total_cmp);
    Some(stat.of(&values))
}

fn load_requests(
    conn: &Connection,
    version: i64,
    from: i64,
    to: i64,
) -> rusqlite::Result<Vec<Req>> {
    let mut stmt = conn.prepare_cached(
        "SELECT start_ns, duration_ms, cost_usd, refusal, safety_events > 0, tool_errors,
                tool_calls, retrieval_empty, retrievals
         FROM traces WHERE version_id = ?1 AND start_ns >= ?2 AND start_ns < ?3
         ORDER BY start_ns",
    )?;
    stmt.query_map(params![version, from, to], |r| {
        let c = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
        Ok(Req {
            at: r.get(0)?,
            latency: r.get(1)?,
            cost: r.get(2)?,
            counts: [c(3)?, 1, c(4)?, 1, c(5)?, c(6)?, c(7)?, c(8)?],
        })
    })?
    .collect()
}

/// Hourly checks of `signal` on each version over the period, each reading the
/// trailing `window`.
fn tracks(
    ctx: &Ctx,
    versions: &[VersionLine],
    signal: &str,
    window: i64,
    min_n: u64,
    cache: &mut BTreeMap<(i64, i64), Vec<Req>>,
) -> rusqlite::Result<Vec<Track>> {
    let span = &ctx.span;
    let checks = (span.to_ns - span.from_ns) / CHECK_NS;
    let mut out = Vec::new();
    for v in versions {
        let key = (v.row.rowid, window);
        if let std::collections::btree_map::Entry::Vacant(e) = cache.entry(key) {
            e.insert(load_requests(
                ctx.conn,
                v.row.rowid,
                span.from_ns - window,
                span.to_ns,
            )?);
        }
        let reqs = &cache[&key];
        let points = (1..=checks)
            .map(|k| {
                let at = span.from_ns + k * CHECK_NS;
                let lo = reqs.partition_point(|r| r.at < at - window);
                let hi = reqs.partition_point(|r| r.at < at);
                Point {
                    at_ns: at,
                    value: reading(signal, &reqs[lo..hi], min_n),
                }
            })
            .collect();
        out.push(Track {
            version: v.label.clone(),
            points,
        });
    }
    Ok(out)
}

fn triggers(
    ctx: &Ctx,
    versions: &[VersionLine],
    events: &[Event],
) -> rusqlite::Result<Vec<TriggerPlan>> {
    let mut cache = BTreeMap::new();
    let mut out = Vec::new();
    for plan in &ctx.config.rollouts {
        for stage in &plan.stages {
            for t in &stage.triggers {
                let mut p = TriggerPlan {
                    plan: plan.name.clone(),
                    stage: stage.name.clone(),
                    trigger: t.name.clone(),
                    signal: t.signal.clone(),
                    above: t.above,
                    consecutive: t.consecutive,
                    window: stage.window.to_string(),
                    backtest: None,
                    proposal: None,
                    note: None,
                };
                let supported = rate_index(&t.signal).is_some() || sample_stat(&t.signal).is_some();
                match t.above {
                    None => {
                        p.note =
                            Some("fires on the drift verdict: see the drift margins below".into())
                    }
                    Some(_) if !supported => {
                        p.note = Some(format!(
                            "not backtested: {} has no per-request series here",
                            t.signal
                        ))
                    }
                    Some(above) => {
                        let tr = tracks(
                            ctx,
                            versions,
                            &t.signal,
                            stage.window.as_nanos(),
                            t.min_n,
                            &mut cache,
                        )?;
                        let trig = ratchet::Trigger {
                            above,
                            consecutive: t.consecutive,
                        };
                        let bt = ratchet::backtest(&tr, trig, events);
                        p.proposal = Some(ratchet::propose(&tr, trig, events, &bt));
                        p.backtest = Some(bt);
                    }
                }
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// The default drift verdict of each day of the period (days without traffic left out).
fn daily(ctx: &Ctx) -> Vec<(i64, drift::DriftReport)> {
    (0..ctx.span.days)
        .filter_map(|d| {
            let end = ctx.span.from_ns + (d + 1) * DAY_NS;
            let req = DriftRequest {
                window: Some(Period::hours(24)),
                until_ns: Some(end),
                ..Default::default()
            };
            drift::run(ctx.conn, &ctx.config.drift, &req)
                .ok()
                .map(|r| (end - DAY_NS, r))
        })
        .collect()
}

fn margins(ctx: &Ctx, events: &[Event]) -> Vec<MarginLine> {
    let days = daily(ctx);
    let drift_cfg = &ctx.config.drift;
    catalogue::SIGNALS
        .iter()
        .filter_map(|sig| {
            let setting = match sig.measure {
                Measure::Rate { .. } => "margin",
                Measure::Sample {
                    worse: Worse::Higher,
                    ..
                } => "ratio",
                _ => return None,
            };
            let settings = drift_cfg.signal.get(sig.name);
            if settings.and_then(|s| s.enabled) == Some(false) {
                return None;
            }
            let current = settings
                .and_then(|s| {
                    if setting == "margin" {
                        s.margin
                    } else {
                        s.ratio
                    }
                })
                .unwrap_or(sig.threshold);
            let mut judged = Vec::new();
            let mut ns = Vec::new();
            let mut base_rates = Vec::new();
            for (start, r) in &days {
                let Some(s) = r.signals.iter().find(|s| s.name == sig.name) else {
                    continue;
                };
                let j = &s.judgement;
                let (Some(iv), false) = (j.interval, j.verdict == Verdict::Insufficient) else {
                    continue;
                };
                judged.push(Judged {
                    version: r.candidate.label.clone(),
                    start_ns: *start,
                    end_ns: start + DAY_NS,
                    failed: j.verdict == Verdict::Fail,
                    bound: iv.low,
                });
                ns.push(j.n_candidate.min(j.n_baseline));
                base_rates.extend(j.baseline);
            }
            let floor = if setting == "margin" {
                current / 2.0
            } else {
                1.0 + (current - 1.0) / 2.0
            };
            let mut plan = ratchet::margin_plan(&judged, current, floor, events);
            // A tighter rate margin needs more data per verdict: only where the days had it.
            if setting == "margin" && plan.proposal.direction == Direction::Tighter {
                ns.sort_unstable();
                base_rates.sort_by(f64::total_cmp);
                let median_n = ns.get(ns.len() / 2).copied().unwrap_or(0);
                let p = base_rates
                    .get(base_rates.len() / 2)
                    .copied()
                    .unwrap_or(0.01);
                let need = stats::min_sample_rate(
                    p,
                    plan.proposal.value,
                    drift_cfg.alpha,
                    drift_cfg.power,
                );
                if median_n < need {
                    plan.proposal = Proposal {
                        direction: Direction::Keep,
                        value: current,
                        why: format!(
                            "{}; but a {} margin needs about {need} per arm a day and the median \
                             day had {median_n}",
                            plan.proposal.why,
                            num(plan.proposal.value)
                        ),
                        fires_after: None,
                        ..plan.proposal
                    };
                } else {
                    plan.proposal.why = format!(
                        "{}; a day's verdict needs about {need} per arm, the median day had \
                         {median_n}",
                        plan.proposal.why
                    );
                }
            }
            Some(MarginLine {
                signal: sig.name.into(),
                label: sig.label.into(),
                setting,
                plan,
            })
        })
        .collect()
}

fn recommend(
    m: &Monthly,
    incidents: &[sections::IncidentLine],
    runs: &[crate::gate::store::RunSummary],
) -> Vec<Recommendation> {
    let mut recs = Vec::new();
    for t in &m.ratchet.triggers {
        let (Some(p), Some(bt)) = (&t.proposal, &t.backtest) else {
            continue;
        };
        if p.direction == Direction::Keep {
            continue;
        }
        let after = p.fires_after.map_or(String::new(), |(f, r)| {
            format!(
                "; at {} it would have fired {} ({r} real)",
                num(p.value),
                plural(f, "time", "times")
            )
        });
        recs.push(Recommendation {
            area: "threshold",
            action: format!(
                "{} trigger \"{}\" ({} / {}) from {} to {}",
                capital(p.direction.word()),
                t.trigger,
                t.plan,
                t.stage,
                num(p.current),
                num(p.value)
            ),
            evidence: format!(
                "backtest over {} days of hourly checks on the trailing {}: {} ({} real, {} \
                 noise); {}{after}",
                m.period.days,
                t.window,
                plural(bt.fires.len(), "fire", "fires"),
                bt.real,
                bt.noise,
                p.why
            ),
            refs: vec![format!("[[rollout]] {} / stage {}", t.plan, t.stage)],
        });
    }
    for l in &m.ratchet.margins {
        let p = &l.plan.proposal;
        if p.direction == Direction::Keep {
            continue;
        }
        recs.push(Recommendation {
            area: "threshold",
            action: format!(
                "{} the drift {} of {} from {} to {}",
                capital(p.direction.word()),
                l.setting,
                l.label,
                num(p.current),
                num(p.value)
            ),
            evidence: format!(
                "daily verdicts over the month: {} judged, {} ({} real, {} noise); {}",
                plural(l.plan.judged, "day", "days"),
                plural(l.plan.fails, "fail", "fails"),
                l.plan.real,
                l.plan.noise,
                p.why
            ),
            refs: vec![format!(
                "[drift.signal.{}] {} = {}",
                l.signal,
                l.setting,
                num(p.value)
            )],
        });
    }
    let ts = &m.test_set;
    for f in &ts.flaky {
        recs.push(Recommendation {
            area: "test set",
            action: format!("Fix or quarantine flaky case {} ({})", f.id, f.title),
            evidence: format!(
                "on {} it passed {} and failed {} times across gate runs {}",
                f.version,
                f.passes,
                f.fails,
                f.runs
                    .iter()
                    .map(|r| format!("#{r}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            refs: f
                .runs
                .iter()
                .map(|r| format!("relops gate --show {r}"))
                .collect(),
        });
    }
    let plain: Vec<&CaseStat> = ts.never_failing.iter().filter(|c| !c.must_pass).collect();
    if ts.gate_runs >= 2 && !plain.is_empty() {
        recs.push(Recommendation {
            area: "test set",
            action: format!(
                "Sharpen or retire {} cases that never failed (must-pass guards stay)",
                plain.len()
            ),
            evidence: format!(
                "they passed every attempt on every version in {} gate runs; {} must-pass \
                 cases also never failed",
                ts.gate_runs,
                ts.never_failing.len() - plain.len()
            ),
            refs: plain.iter().take(5).map(|c| c.id.clone()).collect(),
        });
    }
    if !ts.never_run.is_empty() && ts.cases > 0 {
        recs.push(Recommendation {
            area: "gate",
            action: format!(
                "Run the gate: {} never ran this month",
                plural(ts.never_run.len(), "case", "cases")
            ),
            evidence: format!(
                "{} of {} cases in the suite appear in none of the month's {}",
                ts.never_run.len(),
                ts.cases,
                plural(runs.len(), "gate run", "gate runs")
            ),
            refs: ts.never_run.iter().take(5).cloned().collect(),
        });
    }
    for i in incidents {
        if let (true, Some(first)) = (i.cases.is_empty(), i.traces.first()) {
            recs.push(Recommendation {
                area: "test set",
                action: format!("Turn incident #{} into a regression case", i.id),
                evidence: format!(
                    "{} traces attached on {}; no case links to it",
                    i.traces.len(),
                    i.versions.join(", ")
                ),
                refs: vec![sections::case_command(first, Some(i.id))],
            });
        }
    }
    recs
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or(String::new(), |f| {
        f.to_uppercase().collect::<String>() + c.as_str()
    })
}

fn markdown(m: &Monthly) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Monthly drift report and ratchet plan: {}\n",
        m.workspace
    );
    let _ = writeln!(
        md,
        "{} → {} · {} requests · {} versions served\n",
        m.period.from,
        m.period.until,
        m.requests,
        m.versions.len()
    );
    let ts = &m.test_set;
    let r = &m.ratchet;
    let count = |d: Direction, props: &mut dyn Iterator<Item = Option<&Proposal>>| {
        props
            .filter(|p| p.is_some_and(|p| p.direction == d))
            .count()
    };
    let _ = writeln!(md, "## In short\n");
    for pv in &m.verdicts {
        let fails: Vec<&str> = pv.with(Verdict::Fail).map(|s| s.label.as_str()).collect();
        let _ = writeln!(
            md,
            "- Drift: {} vs {} **{}**{}.",
            pv.candidate,
            pv.baseline.as_deref().unwrap_or("before"),
            pv.verdict.word(),
            if fails.is_empty() {
                String::new()
            } else {
                format!(" on {}", fails.join(", "))
            }
        );
    }
    let _ = writeln!(
        md,
        "- Test set: {} cases ({} must-pass), {} added; in {} gate runs {} never failed, {} flaky.",
        ts.cases,
        ts.must_pass,
        ts.added.len(),
        ts.gate_runs,
        ts.never_failing.len(),
        ts.flaky.len()
    );
    let _ = writeln!(
        md,
        "- Ratchet: {} triggers ({} to tighten, {} to loosen), {} drift margins ({} to tighten, {} to loosen).",
        r.triggers.len(),
        count(
            Direction::Tighter,
            &mut r.triggers.iter().map(|t| t.proposal.as_ref())
        ),
        count(
            Direction::Looser,
            &mut r.triggers.iter().map(|t| t.proposal.as_ref())
        ),
        r.margins.len(),
        count(
            Direction::Tighter,
            &mut r.margins.iter().map(|l| Some(&l.plan.proposal))
        ),
        count(
            Direction::Looser,
            &mut r.margins.iter().map(|l| Some(&l.plan.proposal))
        ),
    );
    let _ = writeln!(
        md,
        "- {}.\n",
        plural(m.recommendations.len(), "recommendation", "recommendations")
    );

    let _ = writeln!(md, "## Drift per signal\n");
    if m.verdicts.is_empty() {
        md.push_str("No version followed another this month.\n\n");
    } else {
        md.push_str("Each version against the one before it, over the part of the month it served.\n\n| signal |");
        for pv in &m.verdicts {
            let _ = write!(
                md,
                " {} vs {} |",
                pv.candidate,
                pv.baseline.as_deref().unwrap_or("before")
            );
        }
        md.push_str("\n| --- |");
        md.push_str(&" --- |".repeat(m.verdicts.len()));
        md.push('\n');
        let names: Vec<(&str, &str)> = m.verdicts[0]
            .signals
            .iter()
            .map(|s| (s.name.as_str(), s.label.as_str()))
            .chain(m.verdicts.iter().flat_map(|pv| {
                pv.signals
                    .iter()
                    .map(|s| (s.name.as_str(), s.label.as_str()))
            }))
            .fold(Vec::new(), |mut acc, n| {
                if !acc.contains(&n) {
                    acc.push(n);
                }
                acc
            });
        for (name, label) in names {
            let _ = write!(md, "| {} |", cell(label));
            for pv in &m.verdicts {
                match pv.signals.iter().find(|s| s.name == name) {
                    Some(s) if s.delta != "-" => {
                        let _ = write!(md, " {} {} |", s.verdict.word(), s.delta);
                    }
                    Some(s) => {
                        let _ = write!(md, " {} |", s.verdict.word());
                    }
                    None => md.push_str(" - |"),
                }
            }
            md.push('\n');
        }
        md.push('\n');
        for pv in &m.verdicts {
            let _ = writeln!(
                md,
                "- {} vs {}: last {} to {}, {} vs {} requests ({}).",
                pv.candidate,
                pv.baseline.as_deref().unwrap_or("before"),
                pv.window,
                pv.window_end,
                pv.requests_candidate,
                pv.requests_baseline,
                crate::text::code_span(&pv.command())
            );
        }
        md.push('\n');
    }
    let _ = writeln!(md, "## Charts\n");
    md.push_str(CHARTS_MARK);
    md.push('\n');

    let _ = writeln!(md, "## Test set\n");
    let _ = writeln!(
        md,
        "{} cases in the suite index, {} must-pass; {} gate runs this month.\n",
        ts.cases, ts.must_pass, ts.gate_runs
    );
    let _ = writeln!(md, "**Added this month: {}.**", ts.added.len());
    for (incident, n) in &ts.added_by_incident {
        let _ = writeln!(
            md,
            "- {}: {n}",
            incident.map_or("not from an incident".into(), |i| format!("incident #{i}"))
        );
    }
    md.push('\n');
    let must = ts.never_failing.iter().filter(|c| c.must_pass).count();
    let _ = writeln!(
        md,
        "**Never failing: {}** ({must} must-pass): passed every attempt on every version.",
        ts.never_failing.len()
    );
    if !ts.never_failing.is_empty() {
        let ids: Vec<String> = ts
            .never_failing
            .iter()
            .take(8)
            .map(|c| format!("`{}`", c.id))
            .collect();
        let more = ts.never_failing.len().saturating_sub(8);
        let _ = writeln!(
            md,
            "{}{}.",
            ids.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    md.push('\n');
    let _ = writeln!(
        md,
        "**Flaky: {}** (passed and failed on the same version).",
        ts.flaky.len()
    );
    if !ts.flaky.is_empty() {
        md.push_str(
            "\n| case | version | passes | fails | runs |\n| --- | --- | ---: | ---: | --- |\n",
        );
        for f in &ts.flaky {
            let _ = writeln!(
                md,
                "| `{}` {} | {} | {} | {} | {} |",
                f.id,
                cell(&f.title),
                f.version,
                f.passes,
                f.fails,
                f.runs
                    .iter()
                    .map(|r| format!("#{r}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    md.push('\n');
    if !ts.never_run.is_empty() {
        let _ = writeln!(
            md,
            "**Never run by a gate this month: {}.**\n",
            ts.never_run.len()
        );
    }

    let _ = writeln!(md, "## Ratchet plan\n");
    md.push_str(
        "Backtests over the cached month. Triggers: one check an hour per version, reading the \
         stage's trailing window, fired after `consecutive` checks above the threshold (a \
         continuing breach fires once). Drift margins: each day's default verdict. A fire is \
         real when it overlaps a known event on the same version.\n\n",
    );
    if r.events.is_empty() {
        md.push_str("Known events: none (no incidents or rollbacks this month): every fire counts as noise.\n\n");
    } else {
        let events: Vec<String> = r
            .events
            .iter()
            .map(|e| {
                format!(
                    "{} ({}, {} → {})",
                    e.label,
                    if e.versions.is_empty() {
                        "any version".to_string()
                    } else {
                        e.versions.join(", ")
                    },
                    short(e.start_ns),
                    short(e.end_ns.min(m.period.to_ns - 1))
                )
            })
            .collect();
        let _ = writeln!(md, "Known events: {}.\n", events.join("; "));
    }
    let _ = writeln!(md, "### Rollback triggers\n");
    if r.triggers.is_empty() {
        md.push_str("No `[[rollout]]` plan has triggers.\n\n");
    } else {
        md.push_str("| plan / stage | trigger | fires when | fires (real / noise) | checks | median / p99 | proposal |\n");
        md.push_str("| --- | --- | --- | --- | ---: | --- | --- |\n");
        for t in &r.triggers {
            let when = match t.above {
                Some(a) => format!(
                    "{} > {} ×{} ({} window)",
                    t.signal,
                    num(a),
                    t.consecutive,
                    t.window
                ),
                None => format!("{} drift fails ×{}", t.signal, t.consecutive),
            };
            let (fires, checks, levels) = match &t.backtest {
                Some(b) => (
                    format!("{} ({} / {})", b.fires.len(), b.real, b.noise),
                    b.points.to_string(),
                    match (b.median, b.p99) {
                        (Some(md), Some(p)) => format!("{} / {}", num(md), num(p)),
                        _ => "-".into(),
                    },
                ),
                None => ("-".into(), "-".into(), "-".into()),
            };
            let proposal = match &t.proposal {
                Some(p) if p.direction == Direction::Keep => "keep".to_string(),
                Some(p) => format!("**{} to {}**", p.direction.word(), num(p.value)),
                None => "-".into(),
            };
            let _ = writeln!(
                md,
                "| {} / {} | {} | {} | {fires} | {checks} | {levels} | {proposal} |",
                cell(&t.plan),
                cell(&t.stage),
                cell(&t.trigger),
                cell(&when)
            );
        }
        md.push('\n');
        for t in &r.triggers {
            let why = t
                .proposal
                .as_ref()
                .map(|p| p.why.clone())
                .or_else(|| t.note.clone())
                .unwrap_or_default();
            let _ = writeln!(md, "- {}: {why}.", t.trigger);
        }
        md.push('\n');
    }
    let _ = writeln!(md, "### Drift margins\n");
    md.push_str("| signal | setting | now | days judged | fails (real / noise) | highest lower bound on passing days | proposal |\n");
    md.push_str("| --- | --- | ---: | ---: | --- | ---: | --- |\n");
    for l in &r.margins {
        let p = &l.plan.proposal;
        let proposal = if p.direction == Direction::Keep {
            "keep".to_string()
        } else {
            format!("**{} to {}**", p.direction.word(), num(p.value))
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} ({} / {}) | {} | {proposal} |",
            cell(&l.label),
            l.setting,
            num(p.current),
            l.plan.judged,
            l.plan.fails,
            l.plan.real,
            l.plan.noise,
            l.plan
                .max_bound_ok
                .map_or("-".into(), |b| format!("{b:.4}"))
        );
    }
    md.push('\n');
    for l in r
        .margins
        .iter()
        .filter(|l| l.plan.fails > 0 || l.plan.proposal.direction != Direction::Keep)
    {
        let _ = writeln!(md, "- {}: {}.", l.label, l.plan.proposal.why);
    }
    md.push('\n');
    let _ = writeln!(md, "## Recommendations\n");
    super::recommendations_md(&mut md, &m.recommendations);
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(case: &str, version: &str, run: i64, passed: bool) -> CaseAttempt {
        CaseAttempt {
            case_id: case.into(),
            title: format!("case {case}"),
            must_pass: case == "a",
            version: version.into(),
            run,
            passed,
            error: false,
        }
    }

    #[test]
    fn never_failing_flaky_and_never_run_cases() {
        let span = Span::ending(100 * DAY_NS, 30);
        let case = |id: &str, created_ns: i64, incident| CaseLine {
            id: id.into(),
            title: id.into(),
            must_pass: id == "a",
            incident,
            created_at: String::new(),
            removed: false,
            created_ns,
        };
        let cases = [
            case("a", 99 * DAY_NS, Some(1)),
            case("b", 99 * DAY_NS, None),
            case("c", 10 * DAY_NS, None),
            case("d", 10 * DAY_NS, None),
        ];
        let attempts = [
            attempt("a", "v2", 1, true),
            attempt("a", "v3", 1, true),
            attempt("a", "v3", 2, true),
            attempt("b", "v3", 1, true),
            attempt("b", "v3", 2, false),
            attempt("b", "v2", 1, true),
            attempt("c", "v3", 1, false),
            attempt("c", "v3", 2, false),
        ];
        let ts = test_set(&span, &cases, &attempts, 2);
        assert_eq!(ts.added.len(), 2);
        assert_eq!(ts.added_by_incident, [(None, 1), (Some(1), 1)]);
        let never: Vec<&str> = ts.never_failing.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(never, ["a"]);
        assert_eq!(ts.never_failing[0].runs, 2);
        assert_eq!(ts.flaky.len(), 1, "b flips on v3; c fails steadily");
        assert_eq!(
            (ts.flaky[0].id.as_str(), ts.flaky[0].version.as_str()),
            ("b", "v3")
        );
        assert_eq!((ts.flaky[0].passes, ts.flaky[0].fails), (1, 1));
        assert_eq!(ts.never_run, ["d"]);
    }

    #[test]
    fn a_check_reads_what_drift_would() {
        let req = |refusal: u64, latency: f64| Req {
            at: 0,
            latency,
            cost: 0.001,
            counts: [refusal, 1, 0, 1, 0, 2, 0, 0],
        };
        let reqs: Vec<Req> = (0..40)
            .map(|i| req(u64::from(i % 10 == 0), 100.0 + i as f64))
            .collect();
        assert_eq!(reading("refusal_rate", &reqs, 30), Some(0.1));
        assert_eq!(reading("refusal_rate", &reqs, 41), None, "under min_n");
        assert_eq!(reading("tool_error_rate", &reqs, 30), Some(0.0));
        assert_eq!(
            reading("retrieval_empty_rate", &reqs, 0),
            None,
            "no retrievals"
        );
        assert_eq!(reading("latency_p95", &reqs, 0), None, "a p95 needs 200");
        assert!(reading("latency_p50", &reqs, 0).is_some());
        assert_eq!(reading("tool_error_rate.refund", &reqs, 0), None);
    }
}
