//! Drift detection: per-signal verdicts comparing a candidate version with a baseline.
//!
//! The baseline is another version over the same window (concurrent traffic, the
//! default when two versions serve) or the candidate itself over the window before.
//! Each signal gets ok / warn / fail / insufficient with the numbers behind it; failing
//! signals get an onset, related to when the candidate was first seen.

pub mod arms;
pub mod catalogue;
pub mod judge;
mod onset;
pub mod stats;

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::Serialize;

use crate::clock::rfc3339;
use crate::config::{Compare, Drift, SignalSettings};
use crate::period::Period;
use crate::store::query::{self, Buckets, VersionRow};
use arms::{Arm, ArmData};
use catalogue::{Measure, Signal, Worse};
pub use judge::{Judgement, Verdict};
pub use onset::Onset;
use stats::Statistic;

/// What to compare; `None` picks the defaults described on [`run`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DriftRequest {
    pub candidate: Option<String>,
    pub baseline: Option<String>,
    /// Compare every signal with the candidate's own previous window.
    pub before: bool,
    pub window: Option<Period>,
    /// Where the window ends (Unix ns, exclusive); `None`: just after the newest trace.
    /// Reports pin it to judge a past week or day.
    pub until_ns: Option<i64>,
}

/// A version as a report names it.
#[derive(Debug, Clone, Serialize)]
pub struct VersionRef {
    pub id: String,
    pub label: String,
    pub first_seen: Option<String>,
    #[serde(skip)]
    pub rowid: i64,
    #[serde(skip)]
    pub first_seen_ns: Option<i64>,
    #[serde(skip)]
    pub last_seen_ns: Option<i64>,
}

impl From<&VersionRow> for VersionRef {
    fn from(v: &VersionRow) -> Self {
        Self {
            id: v.id.clone(),
            label: v.label.clone(),
            first_seen: v.first_seen.clone(),
            rowid: v.rowid,
            first_seen_ns: v.first_seen_ns,
            last_seen_ns: v.last_seen_ns,
        }
    }
}

/// One signal's verdict with what the pane draws.
#[derive(Debug, Clone, Serialize)]
pub struct SignalReport {
    pub name: String,
    pub label: String,
    pub kind: &'static str,
    pub compare: Compare,
    #[serde(flatten)]
    pub judgement: Judgement,
    pub onset: Option<Onset>,
    /// Per bucket of the window: the baseline's and the candidate's value, where the
    /// signal has a bucketed form (rates, latency p95, cost).
    pub series: Option<Series>,
    /// A Traces filter that shows the requests behind the signal.
    pub drill: String,
}

/// How the CLI and the pane print a signal's numbers.
impl SignalReport {
    pub fn fmt_value(&self, v: f64) -> String {
        match (self.kind, self.name.as_str()) {
            ("rate", _) => format!("{:.2}%", v * 100.0),
            (_, "cost_per_request") => format!("${v:.6}"),
            (_, n) if n.contains("latency") => format!("{v:.0} ms"),
            _ => format!("{v:.2}"),
        }
    }

    pub fn fmt_baseline(&self) -> String {
        self.judgement
            .baseline
            .map_or("-".into(), |v| self.fmt_value(v))
    }

    pub fn fmt_current(&self) -> String {
        self.judgement
            .current
            .map_or("-".into(), |v| self.fmt_value(v))
    }

    pub fn fmt_delta(&self) -> String {
        match (self.kind, self.judgement.delta) {
            ("rate", Some(d)) => format!("{:+.2} pp", d * 100.0),
            ("sample", Some(d)) => format!("×{d:.2}"),
            ("distribution", Some(d)) => format!("PSI {d:.3}"),
            _ => "-".into(),
        }
    }

    pub fn fmt_interval(&self) -> String {
        match (self.kind, self.judgement.interval) {
            ("rate", Some(i)) => format!("{:+.2}..{:+.2} pp", i.low * 100.0, i.high * 100.0),
            ("sample", Some(i)) => format!("×{:.2}..×{:.2}", i.low, i.high),
            _ => "-".into(),
        }
    }

    pub fn fmt_p(&self) -> String {
        match self.judgement.p_holm {
            Some(p) if p < 0.001 => "<0.001".into(),
            Some(p) => format!("{p:.3}"),
            None => "-".into(),
        }
    }

    pub fn fmt_n(&self) -> String {
        format!(
            "{}/{}",
            self.judgement.n_candidate, self.judgement.n_baseline
        )
    }
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
            Verdict::Insufficient => "insufficient",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub what: &'static str,
    pub baseline: Vec<Option<f64>>,
    pub candidate: Vec<Option<f64>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub ok: usize,
    pub warn: usize,
    pub fail: usize,
    pub insufficient: usize,
}

/// A whole drift verdict.
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    pub candidate: VersionRef,
    /// The other version, when any signal compares versions.
    pub baseline: Option<VersionRef>,
    pub window_start: String,
    pub window_end: String,
    /// The baseline version's window: the same as the candidate's while both serve,
    /// else the baseline's last window of service.
    pub baseline_window_start: String,
    pub baseline_window_end: String,
    pub window: String,
    pub bucket_seconds: i64,
    /// Seconds between the newest cached trace and now: the window ends at that trace.
    pub data_age_seconds: i64,
    pub requests_candidate: u64,
    pub requests_baseline: u64,
    pub verdict: Verdict,
    pub summary: Summary,
    pub signals: Vec<SignalReport>,
    #[serde(skip)]
    pub window_start_ns: i64,
    #[serde(skip)]
    pub bucket_ns: i64,
}

impl DriftReport {
    /// 0 all ok, 1 any failure, 3 nothing failed but something was inconclusive or had
    /// too little data.
    pub fn exit_code(&self) -> u8 {
        match self.verdict {
            Verdict::Ok => 0,
            Verdict::Fail => 1,
            Verdict::Warn | Verdict::Insufficient => 3,
        }
    }
}

/// Compares a candidate with a baseline over the window ending at the newest trace (or
/// at `until_ns`).
/// Defaults: the candidate is the newest version serving in the window; the baseline is
/// the other version that served most in it, or else the candidate's previous window.
pub fn run(conn: &Connection, config: &Drift, req: &DriftRequest) -> Result<DriftReport, String> {
    let err = |e: rusqlite::Error| e.to_string();
    let (newest, _, _) = query::freshness(conn).map_err(err)?;
    let newest = newest.ok_or("the cache holds no traces yet")?;
    let window = req.window.unwrap_or(config.window);
    let end = req.until_ns.unwrap_or(newest + 1);
    let start = end - window.as_nanos();
    let buckets = config.buckets.max(4) as usize;
    let current = query::window_buckets(conn, start, end, buckets).map_err(err)?;
    let versions = query::versions(conn).map_err(err)?;
    let (candidate, baseline) = pick_versions(conn, &versions, &current, req)?;

    let arm = |version: i64, s: i64, e: i64| Arm {
        version,
        start_ns: s,
        end_ns: e,
    };
    let cand = arms::load(conn, arm(candidate.rowid, start, end)).map_err(err)?;
    // A baseline that no longer serves is judged over its own last window of service.
    let (versus_start, versus_end) = match &baseline {
        Some(b) if !current.contains_key(&b.rowid) => {
            let last = b
                .last_seen_ns
                .ok_or_else(|| format!("{} has no traces", b.label))?
                + 1;
            (last - window.as_nanos(), last)
        }
        _ => (start, end),
    };
    let versus = match &baseline {
        Some(b) => Some(arms::load(conn, arm(b.rowid, versus_start, versus_end)).map_err(err)?),
        None => None,
    };
    let versus_buckets = if versus_start == start {
        None
    } else {
        Some(query::window_buckets(conn, versus_start, versus_end, buckets).map_err(err)?)
    };
    // The candidate's previous window, only when some signal compares with it.
    let force_before = req.before || baseline.is_none();
    let needs_before = force_before
        || config
            .signal
            .values()
            .any(|s| s.compare == Some(Compare::Before));
    let prev_start = start - window.as_nanos();
    let (before, before_buckets) = if needs_before {
        (
            arms::load(conn, arm(candidate.rowid, prev_start, start)).map_err(err)?,
            query::window_buckets(conn, prev_start, start, buckets).map_err(err)?,
        )
    } else {
        (ArmData::default(), BTreeMap::new())
    };

    let ctx = Context {
        config,
        levels: judge::Levels {
            alpha: config.alpha,
            power: config.power,
            resamples: config.resamples,
            seed: config.seed,
        },
        candidate: &candidate,
        cand: &cand,
        versus: versus.as_ref(),
        before: &before,
        force_before,
        cand_buckets: current.get(&candidate.rowid),
        versus_buckets: baseline
            .as_ref()
            .and_then(|b| versus_buckets.as_ref().unwrap_or(&current).get(&b.rowid)),
        before_buckets: before_buckets.get(&candidate.rowid),
        start,
        bucket_ns: (end - start) / buckets as i64,
    };
    let mut signals = ctx.judge_all();
    {
        let mut refs: Vec<&mut Judgement> = signals.iter_mut().map(|s| &mut s.judgement).collect();
        judge::apply_holm(&mut refs, config.alpha);
    }
    for s in &mut signals {
        s.onset = ctx.onset(s);
    }
    let summary = summarise(&signals);
    let bucket_ns = ctx.bucket_ns;
    Ok(DriftReport {
        requests_candidate: cand.requests,
        requests_baseline: versus.as_ref().map_or(before.requests, |v| v.requests),
        candidate,
        baseline,
        window_start: rfc3339(start),
        window_end: rfc3339(end),
        baseline_window_start: rfc3339(versus_start),
        baseline_window_end: rfc3339(versus_end),
        window: window.to_string(),
        bucket_seconds: bucket_ns / 1_000_000_000,
        data_age_seconds: (crate::clock::now_ns() - newest) / 1_000_000_000,
        verdict: overall(&summary),
        summary,
        signals,
        window_start_ns: start,
        bucket_ns,
    })
}

fn pick_versions(
    conn: &Connection,
    versions: &[VersionRow],
    current: &BTreeMap<i64, Buckets>,
    req: &DriftRequest,
) -> Result<(VersionRef, Option<VersionRef>), String> {
    let traffic = |v: &VersionRow| {
        current
            .get(&v.rowid)
            .map_or(0, |b| b.requests.iter().sum::<u64>())
    };
    let candidate = match &req.candidate {
        Some(spec) => VersionRef::from(&query::resolve_version(conn, spec)?),
        None => versions
            .iter()
            .filter(|v| traffic(v) > 0)
            .max_by_key(|v| v.first_seen_ns)
            .map(VersionRef::from)
            .ok_or("no version served in the window")?,
    };
    if req.before {
        return Ok((candidate, None));
    }
    let baseline = match &req.baseline {
        Some(spec) => Some(VersionRef::from(&query::resolve_version(conn, spec)?)),
        None => versions
            .iter()
            .filter(|v| v.rowid != candidate.rowid && traffic(v) > 0)
            .max_by_key(|v| traffic(v))
            .map(VersionRef::from),
    };
    if baseline
        .as_ref()
        .is_some_and(|b| b.rowid == candidate.rowid)
    {
        return Err("candidate and baseline are the same version; use --before to compare it with its previous window".into());
    }
    Ok((candidate, baseline))
}

fn summarise(signals: &[SignalReport]) -> Summary {
    let mut s = Summary::default();
    for sig in signals {
        match sig.judgement.verdict {
            Verdict::Ok => s.ok += 1,
            Verdict::Warn => s.warn += 1,
            Verdict::Fail => s.fail += 1,
            Verdict::Insufficient => s.insufficient += 1,
        }
    }
    s
}

fn overall(s: &Summary) -> Verdict {
    if s.fail > 0 {
        Verdict::Fail
    } else if s.insufficient > 0 {
        Verdict::Insufficient
    } else if s.warn > 0 {
        Verdict::Warn
    } else {
        Verdict::Ok
    }
}

/// Everything one verdict's signals are judged with.
struct Context<'a> {
    config: &'a Drift,
    levels: judge::Levels,
    candidate: &'a VersionRef,
    cand: &'a ArmData,
    versus: Option<&'a ArmData>,
    before: &'a ArmData,
    force_before: bool,
    cand_buckets: Option<&'a Buckets>,
    versus_buckets: Option<&'a Buckets>,
    before_buckets: Option<&'a Buckets>,
    start: i64,
    bucket_ns: i64,
}

impl Context<'_> {
    fn settings(&self, name: &str) -> SignalSettings {
        let own = self.config.signal.get(name);
        let family = name
            .strip_prefix(catalogue::PER_TOOL_PREFIX)
            .and_then(|_| self.config.signal.get("tool_error_rate"));
        own.or(family).cloned().unwrap_or_default()
    }

    fn compare(&self, settings: &SignalSettings) -> Compare {
        if self.force_before {
            Compare::Before
        } else {
            settings.compare.unwrap_or(Compare::Version)
        }
    }

    fn base(&self, compare: Compare) -> &ArmData {
        match (compare, self.versus) {
            (Compare::Version, Some(v)) => v,
            _ => self.before,
        }
    }

    fn base_buckets(&self, compare: Compare) -> Option<&Buckets> {
        match compare {
            Compare::Version => self.versus_buckets,
            Compare::Before => self.before_buckets,
        }
    }

    fn judge_all(&self) -> Vec<SignalReport> {
        let mut out: Vec<SignalReport> = catalogue::SIGNALS
            .iter()
            .filter_map(|s| self.judge_builtin(s))
            .collect();
        out.extend(self.judge_tools());
        out.extend(self.judge_series());
        out
    }

    fn judge_builtin(&self, signal: &Signal) -> Option<SignalReport> {
        let settings = self.settings(signal.name);
        if settings.enabled == Some(false) {
            return None;
        }
        let compare = self.compare(&settings);
        let base = self.base(compare);
        let lv = self.levels;
        let (kind, judgement) = match signal.measure {
            Measure::Rate { rate, trials } => {
                let margin = settings.margin.unwrap_or(signal.threshold);
                (
                    "rate",
                    judge::rate(self.cand.rate(rate), base.rate(rate), margin, trials, lv),
                )
            }
            Measure::Sample {
                sample,
                statistic,
                worse,
            } => {
                let ratio = settings.ratio.unwrap_or(signal.threshold);
                let j = judge::sample(
                    self.cand.sample(sample),
                    base.sample(sample),
                    statistic,
                    worse,
                    ratio,
                    lv,
                );
                ("sample", j)
            }
            Measure::Distribution { sample } => {
                let warn = settings.psi_warn.unwrap_or(signal.threshold);
                let fail = settings.psi_fail.unwrap_or(catalogue::PSI_FAIL);
                (
                    "distribution",
                    judge::distribution(self.cand.sample(sample), base.sample(sample), warn, fail),
                )
            }
        };
        Some(SignalReport {
            name: signal.name.into(),
            label: signal.label.into(),
            kind,
            compare,
            series: self.series(signal, compare),
            drill: drill(&self.candidate.label, signal.drill),
            judgement,
            onset: None,
        })
    }

    /// One error rate per tool seen in either arm.
    fn judge_tools(&self) -> Vec<SignalReport> {
        let mut tools: Vec<&String> = self
            .cand
            .tools
            .keys()
            .chain(self.versus.map_or(self.before, |v| v).tools.keys())
            .collect();
        tools.sort();
        tools.dedup();
        tools
            .into_iter()
            .filter_map(|tool| {
                let name = format!("{}{tool}", catalogue::PER_TOOL_PREFIX);
                let settings = self.settings(&name);
                if settings.enabled == Some(false) {
                    return None;
                }
                let compare = self.compare(&settings);
                let counts = |a: &ArmData| a.tools.get(tool).copied().unwrap_or((0, 0));
                let margin = settings.margin.unwrap_or(0.01);
                let j = judge::rate(
                    counts(self.cand),
                    counts(self.base(compare)),
                    margin,
                    "calls",
                    self.levels,
                );
                Some(SignalReport {
                    label: format!("{tool} errors"),
                    name,
                    kind: "rate",
                    compare,
                    judgement: j,
                    onset: None,
                    series: None,
                    drill: drill(&self.candidate.label, "tool"),
                })
            })
            .collect()
    }

    /// Pulled time series (Prometheus): the mean per request window, higher is worse.
    fn judge_series(&self) -> Vec<SignalReport> {
        self.cand
            .series
            .iter()
            .filter_map(|(signal, values)| {
                let name = format!("series.{signal}");
                let settings = self.settings(&name);
                if settings.enabled == Some(false) {
                    return None;
                }
                let compare = self.compare(&settings);
                let base = self
                    .base(compare)
                    .series
                    .get(signal)
                    .map_or(&[][..], Vec::as_slice);
                let ratio = settings.ratio.unwrap_or(1.2);
                let j = judge::sample(
                    values,
                    base,
                    Statistic::Mean,
                    Worse::Higher,
                    ratio,
                    self.levels,
                );
                Some(SignalReport {
                    label: signal.clone(),
                    name,
                    kind: "sample",
                    compare,
                    judgement: j,
                    onset: None,
                    series: None,
                    drill: drill(&self.candidate.label, ""),
                })
            })
            .collect()
    }

    fn series(&self, signal: &Signal, compare: Compare) -> Option<Series> {
        let pick = onset::bucketed(signal)?;
        Some(Series {
            what: pick.what,
            baseline: self
                .base_buckets(compare)
                .map_or_else(Vec::new, |b| (pick.value)(b)),
            candidate: self.cand_buckets.map_or_else(Vec::new, |b| (pick.value)(b)),
        })
    }

    fn onset(&self, s: &SignalReport) -> Option<Onset> {
        if !matches!(s.judgement.verdict, Verdict::Fail | Verdict::Warn) {
            return None;
        }
        let series = s.series.as_ref()?;
        onset::find(
            &s.judgement,
            series,
            self.start,
            self.bucket_ns,
            self.candidate,
        )
    }
}

/// The Traces filter behind a signal.
fn drill(label: &str, terms: &str) -> String {
    if terms.is_empty() {
        format!("v:{label}")
    } else {
        format!("v:{label} {terms}")
    }
}
