//! Prometheus: one PromQL query per signal, read with `GET /api/v1/query_range`.
//!
//! **Resolution.** A source reads at one fixed `step`: the configured one (default
//! 15 s) raised, when needed, until a `backfill`-long range fits Prometheus' limit of
//! 11,000 points per series. Range starts are aligned to multiples of the step, so a
//! point read again (the overlap) lands on the timestamp it had and the upsert
//! replaces it rather than adding a neighbour.
//!
//! **Passes and pages.** A pass reads each signal from where it stopped up to `until`
//! (now aligned down, fixed when the pass starts so its pages agree). A longer range
//! (a source left behind by an outage) is read in chunks of at most 11,000 points, one
//! chunk per signal per page, with `more` set while chunks remain. When the pass ends,
//! every signal's next pass starts `overlap` before `until`, so late samples are read
//! again.
//!
//! The cursor, in Unix seconds: `{"until": 1795798860, "next": {"refusal_rate": 1795790000}}`
//! (`until` only inside a pass; `next` is the first timestamp each signal still needs).

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use super::fetch::Response;
use super::{BoxFuture, Fetcher, Page, PullContext, PullError, Records, Source, SourceConfig};
use crate::http::snippet;
use crate::period::Period;
use crate::store::sync::Sample;

/// Prometheus refuses a range query that would return more points per series.
pub const MAX_POINTS: i64 = 11_000;
/// The step when none is configured.
const DEFAULT_STEP_S: i64 = 15;
const NS: i64 = 1_000_000_000;

pub struct Prometheus {
    config: SourceConfig,
    fetch: Fetcher,
    /// `{endpoint}/api/v1`.
    api: String,
    step_s: i64,
}

/// The step a source reads at: `floor` (the configured `step`, else 15 s), raised so
/// that a `backfill`-long range stays within [`MAX_POINTS`] per series.
pub fn choose_step(floor: Option<Period>, backfill: Period) -> i64 {
    let floor = floor.map_or(DEFAULT_STEP_S, |p| p.as_secs() as i64).max(1);
    let fit = (backfill.as_secs() as i64 + MAX_POINTS - 2) / (MAX_POINTS - 1);
    floor.max(fit)
}

fn align_down(t: i64, step: i64) -> i64 {
    t.div_euclid(step) * step
}

fn align_up(t: i64, step: i64) -> i64 {
    align_down(t + step - 1, step)
}

/// Where each signal stands (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Cursor {
    /// End of the pass in progress, inclusive; `None` between passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    until: Option<i64>,
    /// Per signal, the first timestamp not yet read in this pass.
    #[serde(default)]
    next: BTreeMap<String, i64>,
}

/// One range query: a signal over `[start, end]`, both multiples of the step.
#[derive(Debug, Clone, PartialEq)]
struct Chunk {
    signal: String,
    start: i64,
    end: i64,
}

/// How far back, how fine and when: what a pass needs besides the cursor.
#[derive(Debug, Clone, Copy)]
struct Span {
    step: i64,
    backfill: i64,
    overlap: i64,
    now: i64,
}

impl Cursor {
    fn read(text: Option<&str>) -> Result<Self, PullError> {
        match text {
            None => Ok(Self::default()),
            Some(c) => serde_json::from_str(c)
                .map_err(|e| PullError::Malformed(format!("saved cursor {c:?}: {e}"))),
        }
    }

    /// This page's queries, and the cursor with the pass's end fixed. Signals new to
    /// the config start `backfill` back; signals gone from it are forgotten.
    fn plan<'a>(
        &self,
        signals: impl IntoIterator<Item = &'a String>,
        s: Span,
    ) -> (Self, Vec<Chunk>) {
        let until = self.until.unwrap_or_else(|| align_down(s.now, s.step));
        let first = align_up(s.now - s.backfill, s.step);
        let next: BTreeMap<String, i64> = signals
            .into_iter()
            .map(|name| (name.clone(), *self.next.get(name).unwrap_or(&first)))
            .collect();
        let chunks = next
            .iter()
            .filter_map(|(signal, &from)| {
                let start = align_up(from, s.step);
                (start <= until).then(|| Chunk {
                    signal: signal.clone(),
                    start,
                    end: until.min(start + (MAX_POINTS - 1) * s.step),
                })
            })
            .collect();
        let planned = Self {
            until: Some(until),
            next,
        };
        (planned, chunks)
    }

    /// The cursor once `chunks` are read, and whether the pass goes on. A finished pass
    /// leaves every signal to start `overlap` before its end.
    fn advance(mut self, chunks: &[Chunk], s: Span) -> (Self, bool) {
        for c in chunks {
            self.next.insert(c.signal.clone(), c.end + s.step);
        }
        let until = self.until.expect("a planned cursor has its end");
        let more = self.next.values().any(|&n| n <= until);
        if !more {
            let restart = align_up(until - s.overlap, s.step);
            for n in self.next.values_mut() {
                *n = (*n).min(restart);
            }
            self.until = None;
        }
        (self, more)
    }
}

/// Prometheus' answer: `{"status": "success", "data": ..., "warnings": [...]}` or
/// `{"status": "error", "errorType": ..., "error": ...}`.
#[derive(Debug, Deserialize)]
struct Envelope<D> {
    status: String,
    data: Option<D>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

/// A query's result, by `resultType`.
#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Matrix(Vec<RangeSeries>),
    Vector(Vec<InstantSeries>),
    Scalar(Point),
    String(serde::de::IgnoredAny),
}

#[derive(Debug, Deserialize)]
struct RangeSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<Point>,
    /// Native histograms (Prometheus 2.40+): not numbers, not read.
    #[serde(default)]
    histograms: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct InstantSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    value: Option<Point>,
    #[serde(default)]
    histogram: Option<serde_json::Value>,
}

/// `[1795798505.5, "0.25"]`: Unix seconds and the value as text (`"NaN"`, `"+Inf"`...).
type Point = (f64, String);

#[derive(Debug, Deserialize)]
struct BuildInfo {
    version: String,
}

/// A successful answer.
struct Answer {
    data: Data,
    warnings: Vec<String>,
}

/// What a result holds in relops' terms.
#[derive(Debug, Default)]
struct Read {
    samples: Vec<Sample>,
    /// What could not be kept, in words (one note per kind of problem).
    notes: Vec<String>,
    series: usize,
    /// Series carrying the version label.
    versioned: usize,
}

/// A sample value as Prometheus writes it.
fn value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        t => t.parse().ok(),
    }
}

/// Unix seconds (millisecond precision) to nanoseconds.
fn nanos(ts: f64) -> i64 {
    (ts * 1e3).round() as i64 * 1_000_000
}

/// The samples of a result. NaN cannot be stored (SQLite turns it into NULL) and is
/// counted; so are values that are not numbers and native histograms.
fn read_result(signal: &str, data: Data, version_label: Option<&str>) -> Result<Read, PullError> {
    let mut skipped_histograms = 0;
    let series: Vec<(BTreeMap<String, String>, Vec<Point>)> = match data {
        Data::Matrix(all) => all
            .into_iter()
            .map(|s| {
                skipped_histograms += s.histograms.len();
                (s.metric, s.values)
            })
            .collect(),
        Data::Vector(all) => all
            .into_iter()
            .map(|s| {
                skipped_histograms += usize::from(s.histogram.is_some());
                (s.metric, s.value.into_iter().collect())
            })
            .collect(),
        Data::Scalar(point) => vec![(BTreeMap::new(), vec![point])],
        Data::String(_) => {
            return Err(PullError::Refused(format!(
                "signal {signal}: the query returns a string, not a number; \
                 fix its PromQL in the source's `signals`"
            )));
        }
    };
    let mut read = Read {
        series: series.len(),
        ..Read::default()
    };
    let (mut nan, mut nan_series) = (0usize, 0usize);
    let mut unreadable: Vec<String> = Vec::new();
    for (metric, points) in series {
        let labels = serde_json::to_string(&metric).expect("labels serialise");
        let version = version_label.and_then(|l| metric.get(l)).cloned();
        read.versioned += usize::from(version.is_some());
        let before = nan;
        for (ts, text) in points {
            match value(&text) {
                Some(v) if v.is_nan() => nan += 1,
                Some(v) => read.samples.push(Sample {
                    signal: signal.to_string(),
                    labels: labels.clone(),
                    version: version.clone(),
                    ts_ns: nanos(ts),
                    value: v,
                }),
                None => unreadable.push(text),
            }
        }
        nan_series += usize::from(nan > before);
    }
    if nan > 0 {
        read.notes.push(format!(
            "signal {signal}: {nan} NaN points in {nan_series} series skipped \
             (not stored; a ratio over no traffic is NaN)"
        ));
    }
    if let Some(first) = unreadable.first() {
        read.notes.push(format!(
            "signal {signal}: {} values are not numbers (first: {first:?})",
            unreadable.len()
        ));
    }
    if skipped_histograms > 0 {
        read.notes.push(format!(
            "signal {signal}: {skipped_histograms} native histogram points skipped; \
             query a number from them, e.g. histogram_quantile(0.95, ...)"
        ));
    }
    Ok(read)
}

/// Prometheus' reply to `query` for `signal`, with its error envelope in words.
fn answer<D: serde::de::DeserializeOwned>(
    signal: Option<&str>,
    query: &str,
    url: &str,
    response: Response,
) -> Result<(D, Vec<String>), PullError> {
    let whose = signal.map_or_else(String::new, |s| format!("signal {s}: "));
    let envelope = serde_json::from_slice::<Envelope<D>>(&response.body);
    if let Ok(e) = &envelope
        && e.status == "error"
    {
        let kind = e.error_type.as_deref().unwrap_or("error");
        let text = e.error.as_deref().unwrap_or("(no message)");
        let code = response.status.as_u16();
        return Err(match kind {
            "timeout" | "canceled" | "unavailable" => PullError::Unavailable(format!(
                "{whose}Prometheus gave up on the query (HTTP {code}, {kind}): {text}"
            )),
            _ => {
                let fix = if text.contains("too many samples") || text.contains("resolution") {
                    "raise the source's `step` or narrow the query"
                } else {
                    "fix the PromQL in the source's `signals`"
                };
                PullError::Refused(format!(
                    "{whose}Prometheus refused the query {query:?} (HTTP {code}, {kind}): \
                     {text}; {fix}"
                ))
            }
        });
    }
    if response.status == StatusCode::NOT_FOUND {
        return Err(PullError::Refused(format!(
            "HTTP 404 from {url}: check `endpoint` (Prometheus' base URL, e.g. \
             http://127.0.0.1:9090, without /api/v1): {}",
            snippet(&response.body)
        )));
    }
    if !response.status.is_success() {
        return Err(match response.ok() {
            Err(PullError::Refused(m)) => PullError::Refused(format!("{whose}{m}")),
            Err(e) => e,
            Ok(_) => unreachable!("a non-2xx response is an error"),
        });
    }
    let e = envelope.map_err(|e| {
        PullError::Malformed(format!("{whose}{url}: {e}: {}", snippet(&response.body)))
    })?;
    let data = e
        .data
        .ok_or_else(|| PullError::Malformed(format!("{whose}{url}: a success without data")))?;
    Ok((data, e.warnings))
}

/// The label a pulled query's answer carries to name the signal it was asked for.
const TAG: &str = "relops_signal";

/// `query` tagged with `signal`: every series of its answer gets `relops_signal`.
fn tagged(query: &str, signal: &str) -> String {
    let value = serde_json::to_string(signal).expect("a string serialises");
    format!("label_replace(({query}), \"{TAG}\", {value}, \"\", \"\")")
}

/// Checks that `data` answers chunk `c`: tagged with its signal when `tag` is set
/// (the tag is then taken off: stored labels are the query's own), never tagged for
/// another signal, and every point on the asked range's step grid.
fn answers(data: &mut Data, c: &Chunk, step: i64, tag: Option<&str>) -> Result<(), PullError> {
    let misdirected = |what: String| {
        PullError::Malformed(format!(
            "signal {}: the answer does not match the query asked ({what}): a repeated or \
             misdirected response; nothing from it was stored",
            c.signal
        ))
    };
    let Data::Matrix(series) = data else {
        return match (data, tag) {
            (Data::Vector(_) | Data::Scalar(_), _) => {
                Err(misdirected("an instant result to a range query".into()))
            }
            _ => Ok(()),
        };
    };
    for s in series.iter_mut() {
        let found = s.metric.remove(TAG);
        if found.as_deref() != tag {
            return Err(misdirected(match found {
                Some(other) => format!("its series are tagged for signal {other}"),
                None => format!("its series lack the `{TAG}` label"),
            }));
        }
        let off_grid = s.values.iter().map(|(ts, _)| *ts).find(|&ts| {
            let t = ts.round() as i64;
            t < c.start || t > c.end || (t - c.start) % step != 0 || ts.fract() != 0.0
        });
        if let Some(ts) = off_grid {
            return Err(misdirected(format!(
                "a point at {ts} outside {}..{} by {step} s",
                c.start, c.end
            )));
        }
    }
    Ok(())
}

impl Prometheus {
    pub fn new(config: &SourceConfig) -> Result<Self, String> {
        let base = config
            .endpoint
            .as_deref()
            .unwrap_or_default()
            .trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "endpoint {base:?} must be an http:// or https:// URL"
            ));
        }
        if config.step.is_some_and(|s| s.as_secs() == 0) {
            return Err("`step` must be at least 1s".into());
        }
        if let Some((name, _)) = config.signals.iter().find(|(_, q)| q.trim().is_empty()) {
            return Err(format!("signal {name} has an empty query"));
        }
        Ok(Self {
            config: config.clone(),
            fetch: Fetcher::new(config)?,
            api: format!("{}/api/v1", base.trim_end_matches("/api/v1")),
            step_s: choose_step(config.step, config.backfill),
        })
    }

    fn span(&self, now_ns: i64) -> Span {
        Span {
            step: self.step_s,
            backfill: self.config.backfill.as_secs() as i64,
            overlap: self.config.overlap.as_secs() as i64,
            now: now_ns.div_euclid(NS),
        }
    }

    async fn ask(
        &self,
        signal: &str,
        endpoint: &str,
        params: &[(&str, String)],
    ) -> Result<Answer, PullError> {
        let url = format!("{}/{endpoint}", self.api);
        let response = self.fetch.get(&url, params).await.map_err(|e| match e {
            PullError::Unavailable(m) => PullError::Unavailable(format!("signal {signal}: {m}")),
            e => e,
        })?;
        let asked = &params[0].1;
        let query = self.config.signals.get(signal).unwrap_or(asked);
        let (data, warnings) = answer(Some(signal), query, &url, response)?;
        Ok(Answer { data, warnings })
    }

    async fn pull_page(&self, cursor: Option<&str>, cx: &PullContext) -> Result<Page, PullError> {
        let span = self.span(cx.now_ns);
        let (planned, chunks) = Cursor::read(cursor)?.plan(self.config.signals.keys(), span);
        let mut samples = Vec::new();
        let mut rejected = Vec::new();
        for c in &chunks {
            let answer = self.range(c, span.step).await?;
            let read = read_result(&c.signal, answer.data, self.config.version_label.as_deref())?;
            samples.extend(read.samples);
            rejected.extend(read.notes);
            rejected.extend(answer.warnings.into_iter().map(|w| {
                format!(
                    "signal {}: Prometheus warns: {w} (the points were kept; they may be partial)",
                    c.signal
                )
            }));
        }
        let until = planned.until.expect("planned");
        let (cursor, more) = planned.advance(&chunks, span);
        Ok(Page {
            records: Records::Samples(samples),
            rejected,
            cursor: serde_json::to_string(&cursor).expect("a cursor serialises"),
            high_water_ns: (!more).then_some(until.saturating_mul(NS)),
            more,
        })
    }

    /// One chunk's range query, checked against what was asked: the query is sent
    /// tagged with its signal ([`tagged`]) and the answer must carry that tag and only
    /// points of the asked range, so a response repeated or misdirected by a proxy is
    /// refused (and asked for again) instead of stored under the wrong signal. A query
    /// Prometheus refuses tagged (a scalar or a string, or bad PromQL) is asked as
    /// written: its error then names the positions the operator wrote.
    async fn range(&self, c: &Chunk, step: i64) -> Result<Answer, PullError> {
        let query = &self.config.signals[&c.signal];
        let params = |q: String| {
            [
                ("query", q),
                ("start", c.start.to_string()),
                ("end", c.end.to_string()),
                ("step", step.to_string()),
            ]
        };
        let (mut answer, tag) = match self
            .ask(&c.signal, "query_range", &params(tagged(query, &c.signal)))
            .await
        {
            Ok(a) => (a, Some(c.signal.as_str())),
            Err(PullError::Refused(_)) => {
                let a = self
                    .ask(&c.signal, "query_range", &params(query.clone()))
                    .await?;
                (a, None)
            }
            Err(e) => return Err(e),
        };
        answers(&mut answer.data, c, step, tag)?;
        Ok(answer)
    }

    /// Prometheus' version, if it tells.
    async fn version(&self) -> Result<String, PullError> {
        let url = format!("{}/status/buildinfo", self.api);
        let response = self.fetch.get(&url, &[]).await?;
        if response.status == StatusCode::NOT_FOUND {
            return Ok("(version unknown: no /api/v1/status/buildinfo)".into());
        }
        let (info, _) = answer::<BuildInfo>(None, "buildinfo", &url, response)?;
        Ok(info.version)
    }

    /// Reaches Prometheus and runs each query once, now; names every query that fails.
    async fn check(&self) -> Result<String, PullError> {
        let version = self.version().await?;
        let label = self.config.version_label.as_deref();
        let mut found = Vec::new();
        let mut failed = Vec::new();
        for (signal, query) in &self.config.signals {
            let asked = self.ask(signal, "query", &[("query", query.clone())]).await;
            match asked.and_then(|a| read_result(signal, a.data, label)) {
                Ok(r) => found.push(match (r.series, label) {
                    (0, _) => format!("{signal}: no series now"),
                    (n, Some(l)) => format!("{signal}: {n} series, {} with `{l}`", r.versioned),
                    (n, None) => format!("{signal}: {n} series"),
                }),
                Err(e @ PullError::Unavailable(_)) => return Err(e),
                Err(e) => failed.push(e.to_string()),
            }
        }
        let head = format!("Prometheus {version}");
        if failed.is_empty() {
            Ok(format!(
                "{head}, step {}s; {}",
                self.step_s,
                found.join("; ")
            ))
        } else {
            Err(PullError::Refused(format!(
                "{head} is reachable, but {} of {} queries fail: {}",
                failed.len(),
                self.config.signals.len(),
                failed.join("; ")
            )))
        }
    }
}

impl Source for Prometheus {
    fn config(&self) -> &SourceConfig {
        &self.config
    }

    fn pull<'a>(
        &'a self,
        cursor: Option<&'a str>,
        cx: &'a PullContext,
    ) -> BoxFuture<'a, Result<Page, PullError>> {
        Box::pin(self.pull_page(cursor, cx))
    }

    fn probe(&self) -> BoxFuture<'_, Result<String, PullError>> {
        Box::pin(self.check())
    }
}

#[cfg(test)]
mod tests;
