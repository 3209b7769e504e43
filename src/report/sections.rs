//! What both reports read from the cache: versions over the period with their traffic
//! and status, rollbacks, incidents with their traces and cases, cases, gate runs and
//! their results, rubric scores, drift verdicts per version pair (the drift engine), and
//! the main signals per version per bucket (for tables and charts).

use std::collections::BTreeMap;

use rusqlite::{Connection, params};
use serde::Serialize;

use super::chart::{Chart, Line};
use super::{ChartFile, Ctx, DAY_NS, Span, ratchet::Event, short};
use crate::drift::{self, DriftRequest, SignalReport, Verdict};
use crate::period::Period;
use crate::store::query::{self, Buckets, VersionRow};

/// A bucket's value is drawn only on this many requests (tool calls for the tool
/// error rate): fewer make a rate jump about.
pub const MIN_BUCKET_REQUESTS: u64 = 20;

/// A main signal: what the tables and charts show per version.
pub struct Main {
    pub name: &'static str,
    pub label: &'static str,
    pub fmt: fn(f64) -> String,
    value: fn(&Buckets, usize) -> Option<f64>,
}

/// The gate command a recommendation suggests, its words shell-quoted.
pub fn gate_command(candidate: &str, baseline: &str) -> String {
    crate::text::command(&["gate", "--candidate", candidate, "--baseline", baseline])
}

/// The command that turns `trace` into a must-pass case, linked to `incident` if given.
pub fn case_command(trace: &str, incident: Option<i64>) -> String {
    let id = incident.map(|i| i.to_string());
    let mut words = vec!["case", "from-trace", trace];
    if let Some(id) = &id {
        words.extend(["--incident", id]);
    }
    words.push("--must-pass");
    crate::text::command(&words)
}

pub fn pct(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

fn pct_axis(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

pub fn ms(v: f64) -> String {
    format!("{v:.0} ms")
}

pub fn usd(v: f64) -> String {
    format!("${v:.4}")
}

fn ratio(num: f64, den: u64) -> Option<f64> {
    (den >= MIN_BUCKET_REQUESTS).then(|| num / den as f64)
}

/// The four signals people look at first, in display order.
pub const MAIN: [Main; 4] = [
    Main {
        name: "refusal_rate",
        label: "refusal rate",
        fmt: pct_axis,
        value: |b, i| ratio(b.refusals[i] as f64, b.requests[i]),
    },
    Main {
        name: "latency_p95",
        label: "latency p95",
        fmt: ms,
        value: |b, i| {
            (b.requests[i] >= MIN_BUCKET_REQUESTS && b.p95_ms[i].is_finite()).then(|| b.p95_ms[i])
        },
    },
    Main {
        name: "cost_per_request",
        label: "cost per request",
        fmt: usd,
        value: |b, i| ratio(b.cost[i], b.requests[i]),
    },
    Main {
        name: "tool_error_rate",
        label: "tool error rate",
        fmt: pct_axis,
        value: |b, i| ratio(b.tool_errors[i] as f64, b.tool_calls[i]),
    },
];

/// A main signal's value over a version's whole traffic in the period.
pub fn overall(m: &Main, b: &Buckets) -> Option<f64> {
    let sum = |v: &[u64]| v.iter().sum::<u64>();
    let requests = sum(&b.requests);
    match m.name {
        "refusal_rate" => (requests > 0).then(|| sum(&b.refusals) as f64 / requests as f64),
        "latency_p95" => b.window_p95_ms.is_finite().then_some(b.window_p95_ms),
        "cost_per_request" => (requests > 0).then(|| b.cost.iter().sum::<f64>() / requests as f64),
        _ => {
            let calls = sum(&b.tool_calls);
            (calls > 0).then(|| sum(&b.tool_errors) as f64 / calls as f64)
        }
    }
}

/// Per version, the period in `n` buckets.
pub struct Traffic {
    pub n: usize,
    pub bucket_ns: i64,
    pub by_version: BTreeMap<i64, Buckets>,
}

impl Traffic {
    pub fn load(conn: &Connection, span: &Span, n: usize) -> rusqlite::Result<Self> {
        Ok(Self {
            n,
            bucket_ns: (span.to_ns - span.from_ns) / n as i64,
            by_version: query::window_buckets(conn, span.from_ns, span.to_ns, n)?,
        })
    }

    pub fn requests(&self, rowid: i64) -> u64 {
        self.by_version
            .get(&rowid)
            .map_or(0, |b| b.requests.iter().sum())
    }

    /// Requests per version in the buckets that cover the period's last day.
    fn last_day(&self, rowid: i64) -> u64 {
        let k = ((DAY_NS + self.bucket_ns - 1) / self.bucket_ns.max(1)).max(1) as usize;
        self.by_version
            .get(&rowid)
            .map_or(0, |b| b.requests.iter().rev().take(k).sum())
    }

    /// One chart per main signal, one line per version.
    pub fn charts(&self, span: &Span, versions: &[VersionLine], what: &str) -> Vec<ChartFile> {
        let labels = [
            short(span.from_ns),
            short(span.from_ns + (span.to_ns - span.from_ns) / 2),
            short(span.to_ns - 1),
        ];
        MAIN.iter()
            .map(|m| {
                let lines = versions
                    .iter()
                    .filter_map(|v| {
                        let b = self.by_version.get(&v.row.rowid)?;
                        Some(Line {
                            name: v.label.clone(),
                            points: (0..self.n).map(|i| (m.value)(b, i)).collect(),
                        })
                    })
                    .collect();
                let chart = Chart {
                    title: format!("{} per version, {what}", m.label),
                    x_labels: labels.clone(),
                    lines,
                    fmt: m.fmt,
                };
                ChartFile {
                    signal: m.name,
                    alt: format!("{} per version", m.label),
                    svg: chart.svg(),
                }
            })
            .collect()
    }
}

/// A rollback recorded by `relops rollout rollback`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rollback {
    pub at: String,
    pub release: String,
    pub to: Option<String>,
    pub plan: String,
    pub actor: String,
    #[serde(skip)]
    pub at_ns: i64,
    /// When the rollout started, or the release's first trace if that came earlier:
    /// a release bad enough to roll back was bad all the while it served.
    #[serde(skip)]
    pub started_ns: i64,
}

pub fn rollbacks(conn: &Connection, span: &Span) -> rusqlite::Result<Vec<Rollback>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.at, v.label, p.label, r.plan, e.actor,
                min(r.created_at, coalesce((SELECT min(t.start_ns) FROM traces t
                                            WHERE t.version_id = r.release_version_id),
                                           r.created_at))
         FROM rollout_events e JOIN rollouts r ON r.id = e.rollout_id
         JOIN versions v ON v.id = r.release_version_id
         LEFT JOIN versions p ON p.id = r.previous_version_id
         WHERE e.kind = 'rollback' AND e.at >= ?1 AND e.at < ?2 ORDER BY e.at, e.id",
    )?;
    stmt.query_map(params![span.from_ns, span.to_ns], |r| {
        let at_ns: i64 = r.get(0)?;
        Ok(Rollback {
            at: super::minute(at_ns),
            release: r.get(1)?,
            to: r.get(2)?,
            plan: r.get(3)?,
            actor: r.get(4)?,
            at_ns,
            started_ns: r.get(5)?,
        })
    })?
    .collect()
}

/// A version that served in the period.
#[derive(Debug, Clone, Serialize)]
pub struct VersionLine {
    pub label: String,
    pub id: String,
    pub first_seen: String,
    pub last_seen: String,
    pub requests: u64,
    /// Its share of the period's last day of traffic.
    pub last_day_share: f64,
    pub status: String,
    /// The version it followed (by first trace), and what changed in the fingerprint.
    pub previous: Option<String>,
    pub changed: Vec<String>,
    #[serde(skip)]
    pub row: VersionRow,
    #[serde(skip)]
    pub previous_row: Option<VersionRow>,
    #[serde(skip)]
    pub shipped: bool,
}

impl VersionLine {
    pub fn serving(&self) -> bool {
        self.last_day_share > 0.0
    }
}

/// The versions with traffic in the period, oldest first.
pub fn versions(
    conn: &Connection,
    span: &Span,
    traffic: &Traffic,
    rollbacks: &[Rollback],
) -> rusqlite::Result<Vec<VersionLine>> {
    let all = query::versions(conn)?;
    let last_day_total: u64 = all.iter().map(|v| traffic.last_day(v.rowid)).sum();
    let mut out = Vec::new();
    for (i, v) in all.iter().enumerate() {
        let requests = traffic.requests(v.rowid);
        if requests == 0 {
            continue;
        }
        let previous = i.checked_sub(1).map(|p| &all[p]);
        let changed = previous.map_or_else(Vec::new, |p| {
            crate::gate::job::fingerprint_fields(v, Some(p))
                .into_iter()
                .filter(|f| f.changed())
                .map(|f| f.name)
                .collect()
        });
        let share = if last_day_total > 0 {
            traffic.last_day(v.rowid) as f64 / last_day_total as f64
        } else {
            0.0
        };
        let shipped = v.first_seen_ns.is_some_and(|t| span.contains(t));
        let first = v.first_seen_ns.unwrap_or_default();
        let last = v.last_seen_ns.unwrap_or_default();
        let rolled = rollbacks.iter().rev().find(|r| r.release == v.label);
        let status = match rolled {
            Some(r) => format!(
                "rolled back{} {}",
                r.to.as_ref().map_or(String::new(), |t| format!(" to {t}")),
                short(r.at_ns)
            ),
            None if share > 0.0 && shipped => {
                format!("shipped {}, serving {:.0}%", short(first), share * 100.0)
            }
            None if share > 0.0 => format!("serving {:.0}%", share * 100.0),
            None => format!("stopped {}", short(last)),
        };
        out.push(VersionLine {
            label: v.label.clone(),
            id: v.id.clone(),
            first_seen: super::minute(first),
            last_seen: super::minute(last),
            requests,
            last_day_share: share,
            status,
            previous: previous.map(|p| p.label.clone()),
            changed,
            row: v.clone(),
            previous_row: previous.cloned(),
            shipped,
        });
    }
    Ok(out)
}

/// A case from the cache's index of case files.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseLine {
    pub id: String,
    pub title: String,
    pub must_pass: bool,
    pub incident: Option<i64>,
    pub created_at: String,
    pub removed: bool,
    #[serde(skip)]
    pub created_ns: i64,
}

pub fn cases(conn: &Connection) -> rusqlite::Result<Vec<CaseLine>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, title, must_pass, incident_id, created_at, removed_at IS NOT NULL
         FROM cases ORDER BY created_at, id",
    )?;
    stmt.query_map([], |r| {
        let created_ns: i64 = r.get(4)?;
        Ok(CaseLine {
            id: r.get(0)?,
            title: r.get(1)?,
            must_pass: r.get(2)?,
            incident: r.get(3)?,
            created_at: super::minute(created_ns),
            removed: r.get(5)?,
            created_ns,
        })
    })?
    .collect()
}

/// An incident open at some time in the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentLine {
    pub id: i64,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub opened_at: String,
    pub closed_at: Option<String>,
    pub traces: Vec<String>,
    /// Versions of its traces.
    pub versions: Vec<String>,
    pub refusal_traces: usize,
    pub tool_error_traces: usize,
    pub cases: Vec<CaseLine>,
    /// From its first trace (or its opening) to its closing (or the period's end).
    #[serde(skip)]
    pub start_ns: i64,
    #[serde(skip)]
    pub end_ns: i64,
}

impl IncidentLine {
    pub fn event(&self) -> Event {
        Event {
            label: format!("incident #{}", self.id),
            start_ns: self.start_ns,
            end_ns: self.end_ns,
            versions: self.versions.clone(),
        }
    }
}

pub fn incidents(
    conn: &Connection,
    span: &Span,
    cases: &[CaseLine],
) -> rusqlite::Result<Vec<IncidentLine>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, title, severity, status, opened_at, closed_at FROM incidents
         WHERE opened_at < ?2 AND (closed_at IS NULL OR closed_at >= ?1) ORDER BY id",
    )?;
    let rows = stmt
        .query_map(params![span.from_ns, span.to_ns], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<i64>>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut traces = conn.prepare_cached(
        "SELECT t.trace_id, v.label, t.start_ns, t.refusal, t.tool_errors
         FROM incident_traces i JOIN traces t ON t.id = i.trace_pk
         JOIN versions v ON v.id = t.version_id
         WHERE i.incident_id = ?1 ORDER BY t.start_ns, t.trace_id",
    )?;
    let mut out = Vec::new();
    for (id, title, severity, status, opened, closed) in rows {
        let linked = traces
            .query_map([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut versions: Vec<String> = linked.iter().map(|t| t.1.clone()).collect();
        versions.sort();
        versions.dedup();
        let first = linked.iter().map(|t| t.2).min().unwrap_or(opened);
        out.push(IncidentLine {
            id,
            title,
            severity,
            status,
            opened_at: super::minute(opened),
            closed_at: closed.map(super::minute),
            refusal_traces: linked.iter().filter(|t| t.3).count(),
            tool_error_traces: linked.iter().filter(|t| t.4 > 0).count(),
            traces: linked.into_iter().map(|t| t.0).collect(),
            versions,
            cases: cases
                .iter()
                .filter(|c| c.incident == Some(id))
                .cloned()
                .collect(),
            start_ns: first.min(opened),
            end_ns: closed.unwrap_or(span.to_ns),
        });
    }
    Ok(out)
}

/// Known events of the period for the backtests: incidents and rollbacks.
pub fn events(incidents: &[IncidentLine], rollbacks: &[Rollback]) -> Vec<Event> {
    incidents
        .iter()
        .map(IncidentLine::event)
        .chain(rollbacks.iter().map(|r| Event {
            label: format!("rollback of {}", r.release),
            start_ns: r.started_ns,
            end_ns: r.at_ns,
            versions: vec![r.release.clone()],
        }))
        .collect()
}

/// Gate runs started in the period, oldest first.
pub fn gate_runs(
    conn: &Connection,
    span: &Span,
) -> rusqlite::Result<Vec<crate::gate::store::RunSummary>> {
    let mut runs = crate::gate::store::list(conn, 100_000)?;
    runs.retain(|r| span.contains(r.started_ns));
    runs.reverse();
    Ok(runs)
}

/// One attempt of one case on one version in a gate run.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseAttempt {
    pub case_id: String,
    pub title: String,
    pub must_pass: bool,
    pub version: String,
    pub run: i64,
    pub passed: bool,
    pub error: bool,
}

/// Every attempt of the gate runs started in the period.
pub fn gate_attempts(conn: &Connection, span: &Span) -> rusqlite::Result<Vec<CaseAttempt>> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.case_id, coalesce(r.title, c.title, ''), r.must_pass, v.label, r.gate_run_id,
                r.passed,
                coalesce(json_extract(r.details, '$.outcome.status') = 'error', 0)
         FROM gate_results r JOIN gate_runs g ON g.id = r.gate_run_id
         JOIN versions v ON v.id = r.version_id
         LEFT JOIN cases c ON c.id = r.case_id
         WHERE g.started_at >= ?1 AND g.started_at < ?2
         ORDER BY r.case_id, v.label, r.gate_run_id, r.attempt",
    )?;
    stmt.query_map(params![span.from_ns, span.to_ns], |r| {
        Ok(CaseAttempt {
            case_id: r.get(0)?,
            title: r.get(1)?,
            must_pass: r.get(2)?,
            version: r.get(3)?,
            run: r.get(4)?,
            passed: r.get(5)?,
            error: r.get(6)?,
        })
    })?
    .collect()
}

/// Average rubric score of one criterion on one version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RubricAverage {
    pub version: String,
    pub criterion: String,
    pub mean: f64,
    pub scale: i64,
    pub n: u64,
}

/// Rubric scores given in `[from_ns, to_ns)`, averaged per version and criterion (the
/// Review pane's store does the averaging).
pub fn rubric_averages(
    conn: &Connection,
    from_ns: i64,
    to_ns: i64,
) -> rusqlite::Result<Vec<RubricAverage>> {
    Ok(crate::review::store::averages(conn, from_ns, to_ns)?
        .into_iter()
        .map(|a| RubricAverage {
            version: a.version,
            criterion: a.criterion,
            mean: a.mean,
            scale: i64::from(a.scale),
            n: a.scores as u64,
        })
        .collect())
}

/// One signal of a drift verdict, as the reports print it.
#[derive(Debug, Clone, Serialize)]
pub struct SignalLine {
    pub name: String,
    pub label: String,
    pub verdict: Verdict,
    pub baseline: String,
    pub current: String,
    pub delta: String,
    pub interval: String,
    pub p_holm: String,
    pub n: String,
    pub reason: String,
    #[serde(skip)]
    pub report: SignalReport,
}

impl SignalLine {
    fn of(s: &SignalReport) -> Self {
        Self {
            name: s.name.clone(),
            label: s.label.clone(),
            verdict: s.judgement.verdict,
            baseline: s.fmt_baseline(),
            current: s.fmt_current(),
            delta: s.fmt_delta(),
            interval: s.fmt_interval(),
            p_holm: s.fmt_p(),
            n: s.fmt_n(),
            reason: s.judgement.reason.clone(),
            report: s.clone(),
        }
    }

    /// `1.10% → 8.05% (+6.95 pp, 95% CI +5.10..+8.90 pp, n=1234/5678, p<0.001)`.
    pub fn evidence(&self) -> String {
        let p = match self.p_holm.as_str() {
            "-" => String::new(),
            p if p.starts_with('<') => format!(", p{p}"),
            p => format!(", p={p}"),
        };
        let ci = if self.interval == "-" {
            String::new()
        } else {
            format!(", 95% CI {}", self.interval)
        };
        format!(
            "{} {} → {} ({}{ci}, n={}{p})",
            self.label, self.baseline, self.current, self.delta, self.n
        )
    }
}

/// A drift verdict of one version against another (or its own window before).
#[derive(Debug, Clone, Serialize)]
pub struct PairVerdict {
    pub candidate: String,
    pub baseline: Option<String>,
    pub window: String,
    pub window_end: String,
    pub requests_candidate: u64,
    pub requests_baseline: u64,
    pub verdict: Verdict,
    pub signals: Vec<SignalLine>,
}

impl PairVerdict {
    pub fn of(r: &drift::DriftReport) -> Self {
        Self {
            candidate: r.candidate.label.clone(),
            baseline: r.baseline.as_ref().map(|b| b.label.clone()),
            window: r.window.clone(),
            window_end: r.window_end.clone(),
            requests_candidate: r.requests_candidate,
            requests_baseline: r.requests_baseline,
            verdict: r.verdict,
            signals: r.signals.iter().map(SignalLine::of).collect(),
        }
    }

    pub fn with(&self, verdict: Verdict) -> impl Iterator<Item = &SignalLine> {
        self.signals.iter().filter(move |s| s.verdict == verdict)
    }

    /// The command that shows this verdict in full.
    pub fn command(&self) -> String {
        match &self.baseline {
            Some(b) => crate::text::command(&[
                "drift",
                "--candidate",
                &self.candidate,
                "--baseline",
                b,
                "--window",
                &self.window,
            ]),
            None => crate::text::command(&[
                "drift",
                "--candidate",
                &self.candidate,
                "--before",
                "--window",
                &self.window,
            ]),
        }
    }
}

/// Whole hours covering `ns`, at least one.
fn hours_covering(ns: i64) -> Period {
    let h = (ns + super::HOUR_NS - 1) / super::HOUR_NS;
    Period::hours(h.max(1) as u64)
}

/// Each version that served in the period against the version before it, over the
/// part of the period it served in (ending with the period).
pub fn pair_verdicts(ctx: &Ctx, lines: &[VersionLine]) -> Vec<PairVerdict> {
    lines
        .iter()
        .filter_map(|v| {
            let prev = v.previous_row.as_ref()?;
            let mut start = v.row.first_seen_ns?.max(ctx.span.from_ns);
            // A previous version that stopped serving is judged over its own last
            // window of service: the candidate's window starts after it left.
            let prev_last = prev.last_seen_ns.unwrap_or(0);
            let mut hours: fn(i64) -> Period = hours_covering;
            if prev_last < ctx.span.to_ns - DAY_NS && prev_last >= start {
                start = prev_last + 1;
                // Whole hours inside the gap, so that none of its traffic is concurrent.
                hours = |ns: i64| Period::hours((ns / super::HOUR_NS).max(1) as u64);
            }
            let req = DriftRequest {
                candidate: Some(v.id.clone()),
                baseline: Some(prev.id.clone()),
                before: false,
                window: Some(hours(ctx.span.to_ns - start)),
                until_ns: Some(ctx.span.to_ns),
            };
            drift::run(ctx.conn, &ctx.config.drift, &req)
                .ok()
                .map(|r| PairVerdict::of(&r))
        })
        .collect()
}

/// Within a version: its last day against the day before, for every version that still
/// serves and served both days.
pub fn trends(ctx: &Ctx, lines: &[VersionLine]) -> Vec<PairVerdict> {
    lines
        .iter()
        .filter(|v| v.serving())
        .filter(|v| {
            v.row
                .first_seen_ns
                .is_some_and(|t| ctx.span.to_ns - t >= 2 * DAY_NS)
        })
        .filter_map(|v| {
            let req = DriftRequest {
                candidate: Some(v.id.clone()),
                baseline: None,
                before: true,
                window: Some(Period::hours(24)),
                until_ns: Some(ctx.span.to_ns),
            };
            drift::run(ctx.conn, &ctx.config.drift, &req)
                .ok()
                .map(|r| PairVerdict::of(&r))
        })
        .collect()
}

/// Traces of a version in the period with a refusal (or a failed tool call), oldest
/// first, at most `limit`: examples to cite.
pub fn example_traces(
    conn: &Connection,
    span: &Span,
    version: i64,
    tool_errors: bool,
    limit: usize,
) -> rusqlite::Result<Vec<String>> {
    let sql = if tool_errors {
        "SELECT trace_id FROM traces WHERE version_id = ?1 AND start_ns >= ?2
         AND start_ns < ?3 AND tool_errors > 0 ORDER BY start_ns, trace_id LIMIT ?4"
    } else {
        "SELECT trace_id FROM traces WHERE version_id = ?1 AND start_ns >= ?2
         AND start_ns < ?3 AND refusal = 1 ORDER BY start_ns, trace_id LIMIT ?4"
    };
    conn.prepare_cached(sql)?
        .query_map(
            params![version, span.from_ns, span.to_ns, limit as i64],
            |r| r.get(0),
        )?
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rubric_averages_are_per_version_and_criterion_within_the_period() {
        let conn = crate::store::memory();
        assert!(rubric_averages(&conn, 0, 100).unwrap().is_empty());
        // Scores without their traces: the averaging is what is tested here.
        conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
        conn.execute_batch(
            "INSERT INTO versions (id, fingerprint, label, created_at) VALUES (1, 'f', 'v3', 0);
             INSERT INTO review_scores (trace_id, version_id, criterion, score, scale, note,
                                        reviewer, scored_at)
             VALUES (1, 1, 'helpful', 4, 5, NULL, 'ana', 10),
                    (2, 1, 'helpful', 2, 5, NULL, 'ana', 20),
                    (3, 1, 'helpful', 5, 5, NULL, 'ana', 500);",
        )
        .unwrap();
        let got = rubric_averages(&conn, 0, 100).unwrap();
        assert_eq!(
            got,
            [RubricAverage {
                version: "v3".into(),
                criterion: "helpful".into(),
                mean: 3.0,
                scale: 5,
                n: 2
            }]
        );
    }

    #[test]
    fn main_signals_skip_thin_buckets() {
        let mut b = Buckets {
            requests: vec![100, 5],
            refusals: vec![3, 5],
            tool_calls: vec![50, 0],
            tool_errors: vec![1, 0],
            cost: vec![0.2, 0.01],
            p95_ms: vec![900.0, 800.0],
            window_p95_ms: 880.0,
            ..Default::default()
        };
        b.safety = vec![0, 0];
        let refusal = &MAIN[0];
        assert_eq!((refusal.value)(&b, 0), Some(0.03));
        assert_eq!((refusal.value)(&b, 1), None, "5 requests are too few");
        assert_eq!(overall(refusal, &b), Some(8.0 / 105.0));
        assert_eq!((MAIN[3].value)(&b, 0), Some(0.02));
        assert_eq!(overall(&MAIN[1], &b), Some(880.0));
    }
}
