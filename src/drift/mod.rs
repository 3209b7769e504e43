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

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use rusqlite::Connection;
use serde::Serialize;

use crate::clock::rfc3339;
use crate::config::{Compare, Drift, SignalSettings};
use crate::period::Period;
use crate::store::query::{self, Buckets, VersionRow};
use arms::{Arm, ArmData};
use catalogue::{Measure, Sample, Signal, Worse};
pub use judge::{Exclusion, Judgement, Verdict};
pub use onset::Onset;
use stats::{Pairwise, Statistic};

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

/// How the CLI and the pane print a signal's numbers (never `inf` or `NaN`).
impl SignalReport {
    pub fn fmt_value(&self, v: f64) -> String {
        if !v.is_finite() {
            return "-".into();
        }
        match (self.kind, self.name.as_str()) {
            ("rate", _) => format!("{:.2}%", v * 100.0),
            (_, "cost_per_request") => format!("${v:.6}"),
            (_, n) if n.contains("latency") && v.abs() < 10.0 => format!("{v:.2} ms"),
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

    fn not_applicable(&self) -> bool {
        self.judgement
            .excluded
            .as_ref()
            .is_some_and(|e| e.why == "not_applicable")
    }

    pub fn fmt_delta(&self) -> String {
        match (self.kind, self.judgement.delta) {
            _ if self.not_applicable() => "-".into(),
            ("rate", Some(d)) => format!("{:+.2} pp", d * 100.0),
            ("sample", Some(d)) => judge::times(d),
            ("sample", None) if self.judgement.baseline == Some(0.0) => "0 baseline".into(),
            ("distribution", Some(d)) => format!("PSI {d:.3}"),
            _ => "-".into(),
        }
    }

    pub fn fmt_interval(&self) -> String {
        match (self.kind, self.judgement.interval) {
            _ if self.not_applicable() => "not applicable".into(),
            ("rate", Some(i)) => format!("{:+.2}..{:+.2} pp", i.low * 100.0, i.high * 100.0),
            ("sample", Some(i)) => format!("{}..{}", judge::times(i.low), judge::times(i.high)),
            _ => "-".into(),
        }
    }

    /// The Holm-adjusted p; `n/a` for a signal that does not apply, `same` for one
    /// asking an earlier signal's question (its p is that signal's).
    pub fn fmt_p(&self) -> String {
        match (&self.judgement.excluded, self.judgement.p_holm) {
            (Some(e), _) if e.why == "not_applicable" => "n/a".into(),
            (Some(_), _) => "same".into(),
            (None, Some(p)) if p < 0.001 => "<0.001".into(),
            (None, Some(p)) => format!("{p:.3}"),
            (None, None) => "-".into(),
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

/// How many signals ended each way. The four verdicts count the verdict's questions
/// only; signals that do not apply and repeats of another signal's question are counted
/// apart and never decide the overall verdict.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub ok: usize,
    pub warn: usize,
    pub fail: usize,
    pub insufficient: usize,
    pub not_applicable: usize,
    pub same_as: usize,
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
        levels: levels(config),
        label: &candidate.label,
        candidate: Some(&candidate),
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
        pairwise: RefCell::default(),
    };
    let Judged {
        mut signals,
        summary,
        verdict,
    } = ctx.judge();
    for s in &mut signals {
        s.onset = ctx.onset(s);
    }
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
        verdict,
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
        match &sig.judgement.excluded {
            Some(e) if e.why == "not_applicable" => s.not_applicable += 1,
            Some(_) => s.same_as += 1,
            None => match sig.judgement.verdict {
                Verdict::Ok => s.ok += 1,
                Verdict::Warn => s.warn += 1,
                Verdict::Fail => s.fail += 1,
                Verdict::Insufficient => s.insufficient += 1,
            },
        }
    }
    s
}

/// The overall verdict from the verdict's questions; with none to ask (every signal
/// excluded), there is not enough data: no data is not a pass.
fn overall(s: &Summary) -> Verdict {
    if s.fail > 0 {
        Verdict::Fail
    } else if s.insufficient > 0 || s.ok + s.warn == 0 {
        Verdict::Insufficient
    } else if s.warn > 0 {
        Verdict::Warn
    } else {
        Verdict::Ok
    }
}

/// The test levels of a `[drift]` config.
pub fn levels(config: &Drift) -> judge::Levels {
    judge::Levels {
        alpha: config.alpha,
        power: config.power,
        resamples: config.resamples,
        seed: config.seed,
        min_delta_ms: config.min_delta_ms,
    }
}

/// Every signal judged on two arms already loaded, the version's baseline against the
/// candidate: what [`run`] does once the arms are read, without windows, series or
/// onsets. Tests and the benchmark call it on arms built in memory.
pub fn judge_arms(config: &Drift, cand: &ArmData, base: &ArmData) -> Judged {
    judge_arms_with(config, levels(config), cand, base)
}

/// [`judge_arms`] with explicit test levels (another seed, another floor).
pub fn judge_arms_with(
    config: &Drift,
    levels: judge::Levels,
    cand: &ArmData,
    base: &ArmData,
) -> Judged {
    let empty = ArmData::default();
    Context {
        config,
        levels,
        label: "candidate",
        candidate: None,
        cand,
        versus: Some(base),
        before: &empty,
        force_before: false,
        cand_buckets: None,
        versus_buckets: None,
        before_buckets: None,
        start: 0,
        bucket_ns: 1,
        pairwise: RefCell::default(),
    }
    .judge()
}

/// The signals of one verdict, with their summary and the overall verdict.
#[derive(Debug, Clone)]
pub struct Judged {
    pub signals: Vec<SignalReport>,
    pub summary: Summary,
    pub verdict: Verdict,
}

/// What a signal asks of the data, to find one asked twice: a rate's four counts (the
/// test of a difference does not depend on the margin), or a sample's statistic and
/// limit on the same values.
#[derive(Debug, PartialEq)]
enum Question<'a> {
    Rate([u64; 4]),
    Sample {
        stat: Statistic,
        limit: [u64; 2],
        cand: &'a [f64],
        base: &'a [f64],
    },
}

/// Everything one verdict's signals are judged with.
struct Context<'a> {
    config: &'a Drift,
    levels: judge::Levels,
    /// The candidate's label (for drills) and version (for onsets, when known).
    label: &'a str,
    candidate: Option<&'a VersionRef>,
    cand: &'a ArmData,
    versus: Option<&'a ArmData>,
    before: &'a ArmData,
    force_before: bool,
    cand_buckets: Option<&'a Buckets>,
    versus_buckets: Option<&'a Buckets>,
    before_buckets: Option<&'a Buckets>,
    start: i64,
    bucket_ns: i64,
    /// Mann–Whitney and Hodges–Lehmann per pair of arms, shared by the statistics of
    /// one sample (latency p50, p95 and p99 ask once).
    pairwise: RefCell<HashMap<(Sample, bool), Pairwise>>,
}

impl<'a> Context<'a> {
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

    fn base(&self, compare: Compare) -> &'a ArmData {
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

    /// Every signal judged; repeats of an earlier signal's question and signals that
    /// do not apply set aside; Holm across the rest; the summary and overall verdict.
    fn judge(&self) -> Judged {
        let mut judged: Vec<(SignalReport, Option<Question<'a>>)> = catalogue::SIGNALS
            .iter()
            .filter_map(|s| self.judge_builtin(s))
            .collect();
        judged.extend(self.judge_tools());
        judged.extend(self.judge_series());
        // The first signal to ask a question keeps it; a later one on the same counts
        // or values says whose it is and leaves the family.
        let mut twins: Vec<(usize, usize)> = Vec::new();
        for i in 0..judged.len() {
            let Some(q) = &judged[i].1 else { continue };
            if judged[i].0.judgement.is_excluded() {
                continue;
            }
            let first = (0..i)
                .find(|&k| judged[k].1.as_ref() == Some(q) && !judged[k].0.judgement.is_excluded());
            if let Some(k) = first {
                let (name, label) = (judged[k].0.name.clone(), judged[k].0.label.clone());
                judged[i].0.judgement.same_as(&name, &label);
                twins.push((i, k));
            }
        }
        let mut signals: Vec<SignalReport> = judged.into_iter().map(|(s, _)| s).collect();
        {
            let mut refs: Vec<&mut Judgement> =
                signals.iter_mut().map(|s| &mut s.judgement).collect();
            judge::apply_holm(&mut refs, self.config.alpha);
        }
        for (i, k) in twins {
            if let (Some(p), Some(_)) = (signals[k].judgement.p_holm, signals[i].judgement.p_value)
            {
                judge::holm_adjusted(&mut signals[i].judgement, p, self.config.alpha);
            }
        }
        let summary = summarise(&signals);
        let verdict = overall(&summary);
        Judged {
            signals,
            summary,
            verdict,
        }
    }

    fn pairwise(&self, key: (Sample, Compare), cand: &[f64], base: &[f64]) -> Pairwise {
        let key = (key.0, key.1 == Compare::Before);
        *self
            .pairwise
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| Pairwise::of_sorted(cand, base, self.levels.seed))
    }

    fn judge_builtin(&self, signal: &Signal) -> Option<(SignalReport, Option<Question<'a>>)> {
        let settings = self.settings(signal.name);
        if settings.enabled == Some(false) {
            return None;
        }
        let compare = self.compare(&settings);
        let base = self.base(compare);
        let lv = self.levels;
        let (kind, judgement, question) = match signal.measure {
            Measure::Rate {
                rate,
                events,
                trials,
            } => {
                let margin = settings.margin.unwrap_or(signal.threshold);
                let (c, b) = (self.cand.rate(rate), base.rate(rate));
                (
                    "rate",
                    judge::rate(c, b, margin, (events, trials), lv),
                    Some(Question::Rate([c.0, c.1, b.0, b.1])),
                )
            }
            Measure::Sample {
                sample,
                statistic,
                worse,
            } => {
                let ratio = settings.ratio.unwrap_or(signal.threshold);
                let floor = sample.is_latency().then_some(lv.min_delta_ms);
                let (c, b) = (self.cand.sample(sample), base.sample(sample));
                let rule = judge::SampleRule {
                    stat: statistic,
                    worse,
                    ratio,
                    floor,
                    noun: sample.noun(),
                };
                let j = judge::sample(c, b, rule, lv, |c, b| {
                    self.pairwise((sample, compare), c, b)
                });
                let question = Question::Sample {
                    stat: statistic,
                    limit: [ratio.to_bits(), floor.unwrap_or(0.0).to_bits()],
                    cand: c,
                    base: b,
                };
                ("sample", j, Some(question))
            }
            Measure::Distribution { sample } => {
                let warn = settings.psi_warn.unwrap_or(signal.threshold);
                let fail = settings.psi_fail.unwrap_or(catalogue::PSI_FAIL);
                let (c, b) = (self.cand.sample(sample), base.sample(sample));
                (
                    "distribution",
                    judge::distribution(c, b, warn, fail, sample.noun()),
                    None,
                )
            }
        };
        let report = SignalReport {
            name: signal.name.into(),
            label: signal.label.into(),
            kind,
            compare,
            series: self.series(signal, compare),
            drill: drill(self.label, signal.drill),
            judgement,
            onset: None,
        };
        Some((report, question))
    }

    /// One error rate per tool seen in either arm.
    fn judge_tools(&self) -> Vec<(SignalReport, Option<Question<'a>>)> {
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
                let (c, b) = (counts(self.cand), counts(self.base(compare)));
                let j = judge::rate(c, b, margin, ("errors", "calls"), self.levels);
                let report = SignalReport {
                    label: format!("{tool} errors"),
                    name,
                    kind: "rate",
                    compare,
                    judgement: j,
                    onset: None,
                    series: None,
                    drill: drill(self.label, "tool"),
                };
                Some((report, Some(Question::Rate([c.0, c.1, b.0, b.1]))))
            })
            .collect()
    }

    /// Pulled time series (Prometheus): the mean per request window, higher is worse.
    fn judge_series(&self) -> Vec<(SignalReport, Option<Question<'a>>)> {
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
                let rule = judge::SampleRule {
                    stat: Statistic::Mean,
                    worse: Worse::Higher,
                    ratio,
                    floor: None,
                    noun: "points",
                };
                let seed = self.levels.seed;
                let j = judge::sample(values, base, rule, self.levels, |c, b| {
                    Pairwise::of_sorted(c, b, seed)
                });
                let question = Question::Sample {
                    stat: Statistic::Mean,
                    limit: [ratio.to_bits(), 0],
                    cand: values.as_slice(),
                    base,
                };
                let report = SignalReport {
                    label: signal.clone(),
                    name,
                    kind: "sample",
                    compare,
                    judgement: j,
                    onset: None,
                    series: None,
                    drill: drill(self.label, ""),
                };
                Some((report, Some(question)))
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
            self.candidate?,
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

/// A `[drift]` setting out of range: the dotted key (`drift.alpha`,
/// `drift.signal.refusal_rate.margin`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub message: String,
}

/// Resamples a `[drift]` config may ask for: fewer leave the bootstrap's Monte Carlo
/// error larger than its interval is worth; more cost time without changing a verdict
/// (the bootstrap grows on its own, up to [`judge::MAX_RESAMPLES`], where it must).
pub const RESAMPLES: std::ops::RangeInclusive<usize> = 100..=100_000;

/// Checks the ranges of `[drift]`: alpha and power in (0, 1), resamples in
/// [`RESAMPLES`], buckets 1..=10 000, and per signal margins, ratios and PSI bands that
/// can be met (margins ≥ 0, ratios ≥ 1, 0 ≤ psi_warn ≤ psi_fail).
pub fn check_config(d: &Drift) -> Result<(), ConfigProblem> {
    let problem = |key: &str, message: String| ConfigProblem {
        key: format!("drift.{key}"),
        message,
    };
    let open_unit = |v: f64| v > 0.0 && v < 1.0;
    if !open_unit(d.alpha) {
        return Err(problem(
            "alpha",
            format!("must lie between 0 and 1 (e.g. 0.05), not {}", d.alpha),
        ));
    }
    if !open_unit(d.power) {
        return Err(problem(
            "power",
            format!("must lie between 0 and 1 (e.g. 0.8), not {}", d.power),
        ));
    }
    if !RESAMPLES.contains(&d.resamples) {
        return Err(problem(
            "resamples",
            format!(
                "must be between {} and {} (e.g. 1000), not {}",
                RESAMPLES.start(),
                RESAMPLES.end(),
                d.resamples
            ),
        ));
    }
    check_min_delta_ms(d.min_delta_ms)?;
    if !(1..=10_000).contains(&d.buckets) {
        return Err(problem(
            "buckets",
            format!("must be between 1 and 10000, not {}", d.buckets),
        ));
    }
    for (name, s) in &d.signal {
        let key = |field: &str| format!("signal.{name}.{field}");
        let finite_at_least =
            |v: Option<f64>, min: f64| v.is_none_or(|v| v.is_finite() && v >= min);
        if !finite_at_least(s.margin, 0.0) || s.margin.is_some_and(|m| m > 1.0) {
            return Err(problem(
                &key("margin"),
                format!(
                    "a rate's margin lies between 0 and 1 (0.01 = one percentage point), not {}",
                    s.margin.unwrap_or_default()
                ),
            ));
        }
        if !finite_at_least(s.ratio, 1.0) {
            return Err(problem(
                &key("ratio"),
                format!(
                    "must be at least 1 (1.2 allows a 20 % change), not {}",
                    s.ratio.unwrap_or_default()
                ),
            ));
        }
        for (field, v) in [("psi_warn", s.psi_warn), ("psi_fail", s.psi_fail)] {
            if !finite_at_least(v, 0.0) {
                return Err(problem(
                    &key(field),
                    format!("must be 0 or more, not {}", v.unwrap_or_default()),
                ));
            }
        }
        let warn = s.psi_warn.unwrap_or(0.0);
        let fail = s.psi_fail.unwrap_or(catalogue::PSI_FAIL);
        if s.psi_warn.is_some() && warn > fail {
            return Err(problem(
                &key("psi_warn"),
                format!("{warn} lies above psi_fail ({fail}): the warn band must come first"),
            ));
        }
    }
    Ok(())
}

/// Checks the absolute floor beside latency ratios (`[drift] min_delta_ms`).
pub fn check_min_delta_ms(v: f64) -> Result<(), ConfigProblem> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(ConfigProblem {
            key: "drift.min_delta_ms".into(),
            message: format!("must be 0 or more milliseconds (e.g. 1), not {v}"),
        })
    }
}

/// [`check_config`] as a config error naming the file, the line and column of the key
/// (its table's line when the key cannot be found) and the key.
pub fn validate_config(
    d: &Drift,
    text: &str,
    path: &std::path::Path,
) -> Result<(), crate::config::ConfigError> {
    check_config(d).map_err(|p| {
        let (line, column) = locate(text, &p.key);
        crate::config::ConfigError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            key: p.key,
            message: p.message,
        }
    })
}

/// 1-based line and column of a dotted `[drift]` key in config text: the key's line
/// inside its table (`[drift]`, `[drift.signal.NAME]`, `[drift.signal."NAME"]`), else
/// the table's header, else the first line.
fn locate(text: &str, key: &str) -> (usize, usize) {
    let (table, leaf) = key.rsplit_once('.').unwrap_or(("drift", key));
    let headers: Vec<String> = match table.strip_prefix("drift.signal.") {
        Some(name) => vec![
            format!("[drift.signal.{name}]"),
            format!("[drift.signal.\"{name}\"]"),
        ],
        None => vec![format!("[{table}]")],
    };
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|l| headers.iter().any(|h| l.trim() == h.as_str()));
    let Some(h) = header else {
        return (1, 1);
    };
    let is_key = |l: &str| {
        l.trim_start()
            .strip_prefix(leaf)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    for (i, l) in lines.iter().enumerate().skip(h + 1) {
        if l.trim_start().starts_with('[') {
            break;
        }
        if is_key(l) {
            let column = l.len() - l.trim_start().len() + 1;
            return (i + 1, column);
        }
    }
    (h + 1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> Option<(String, usize, usize, String)> {
        let config: crate::config::Config = toml::from_str(text).unwrap();
        match validate_config(&config.drift, text, std::path::Path::new("relops.toml")) {
            Ok(()) => None,
            Err(crate::config::ConfigError::Invalid {
                key,
                line,
                column,
                message,
                ..
            }) => Some((key, line, column, message)),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn drift_settings_out_of_range_name_their_key_and_line() {
        assert_eq!(problem("[drift]\nalpha = 0.01\nresamples = 2000\n"), None);
        for (text, key, line) in [
            ("[drift]\nalpha = 2\n", "drift.alpha", 2),
            ("[drift]\nwindow = \"1d\"\nalpha = -1\n", "drift.alpha", 3),
            ("[drift]\n\n  power = 5\n", "drift.power", 3),
            ("[drift]\nresamples = 100000000\n", "drift.resamples", 2),
            ("[drift]\nresamples = 10\n", "drift.resamples", 2),
            ("[drift]\nmin_delta_ms = -1.0\n", "drift.min_delta_ms", 2),
            (
                "[drift]\nalpha = 0.05\n\n[drift.signal.refusal_rate]\nmargin = -0.01\n",
                "drift.signal.refusal_rate.margin",
                5,
            ),
            (
                "[drift.signal.\"tool_error_rate.refund\"]\nratio = 0.5\n",
                "drift.signal.tool_error_rate.refund.ratio",
                2,
            ),
            (
                "[drift.signal.output_length]\npsi_warn = 0.3\npsi_fail = 0.2\n",
                "drift.signal.output_length.psi_warn",
                2,
            ),
        ] {
            let (k, l, _, message) = problem(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!((k.as_str(), l), (key, line), "{text}: {message}");
        }
        let (_, _, column, message) = problem("[drift]\n  power = 5\n").unwrap();
        assert_eq!(column, 3);
        assert!(message.contains("between 0 and 1"), "{message}");
        assert!(check_min_delta_ms(-0.5).is_err() && check_min_delta_ms(0.0).is_ok());
    }

    #[test]
    fn every_number_printed_is_finite() {
        let mut report = SignalReport {
            name: "cost_per_request".into(),
            label: "cost / request".into(),
            kind: "sample",
            compare: Compare::Version,
            judgement: judge::sample(
                &[0.001; 50],
                &[0.0; 50],
                judge::SampleRule {
                    stat: Statistic::Mean,
                    worse: Worse::Higher,
                    ratio: 1.1,
                    floor: None,
                    noun: "requests",
                },
                levels(&Drift::default()),
                |c, b| Pairwise::of_sorted(c, b, 7),
            ),
            onset: None,
            series: None,
            drill: String::new(),
        };
        assert_eq!(report.fmt_delta(), "0 baseline");
        assert_eq!(report.fmt_value(f64::INFINITY), "-");
        report.judgement.interval = None;
        assert_eq!(report.fmt_interval(), "-");
    }
}
