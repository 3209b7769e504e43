//! After a rollback: did the signals come back? Each named signal is read over the
//! traffic served since the rollback finished, all versions together (what users get
//! now), with enough requests behind it, while the rolled-back release serves none of
//! that traffic. A signal has recovered when it is within its plan limit, or, for a
//! rate, when it is no longer significantly above the level the previous version held
//! over the stage window before the rollback (the 95 % interval of the difference
//! reaches zero): back where it was is recovered, even where that sits near the limit.

use rusqlite::{Connection, params};
use serde::Serialize;

use super::plan::Plan;
use crate::drift::arms::{self, Arm, ArmData};
use crate::drift::catalogue::{self, Measure, PER_TOOL_PREFIX};
use crate::drift::stats;

/// One signal since the rollback.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalCheck {
    pub signal: String,
    pub value: Option<f64>,
    pub limit: f64,
    /// Rates: the previous version's level before the rollback.
    pub before: Option<f64>,
    pub recovered: bool,
}

/// Every verify signal since the rollback, and the traffic behind them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub since_ns: i64,
    pub requests: u64,
    /// Requests the rolled-back release still served.
    pub release_requests: u64,
    pub min_requests: u64,
    pub signals: Vec<SignalCheck>,
}

impl Check {
    pub fn recovered(&self) -> bool {
        self.requests >= self.min_requests
            && self.release_requests == 0
            && self.signals.iter().all(|s| s.recovered)
    }

    /// One line for a status bar or a log.
    pub fn describe(&self) -> String {
        let signals: Vec<String> = self
            .signals
            .iter()
            .map(|s| match (s.value, s.before) {
                (Some(v), Some(b)) => {
                    format!("{} {v:.4} (limit {}, before {b:.4})", s.signal, s.limit)
                }
                (Some(v), None) => format!("{} {v:.4} (limit {})", s.signal, s.limit),
                (None, _) => format!("{} no reading", s.signal),
            })
            .collect();
        let mut text = format!(
            "{} since the rollback: {} requests",
            if self.recovered() {
                "recovered"
            } else {
                "waiting"
            },
            self.requests
        );
        if self.requests < self.min_requests {
            text.push_str(&format!(" (needs {})", self.min_requests));
        }
        if self.release_requests > 0 {
            text.push_str(&format!(", {} still on the release", self.release_requests));
        }
        if !signals.is_empty() {
            text.push_str(&format!("; {}", signals.join(", ")));
        }
        text
    }
}

/// Where the rollback stands: the release it took out, the version it went back to,
/// when it finished and the stage window before it (the previous version's level).
#[derive(Debug, Clone, Copy)]
pub struct Since<'a> {
    pub release: &'a str,
    pub previous: Option<&'a str>,
    pub since_ns: i64,
    pub window_ns: i64,
}

/// Reads the plan's verify signals over `[since_ns, until_ns)`.
pub fn check(conn: &Connection, plan: &Plan, at: Since, until_ns: i64) -> rusqlite::Result<Check> {
    let verify = plan.verify.as_ref();
    let since_ns = at.since_ns;
    let mut release_requests = 0;
    let mut merged = ArmData::default();
    for (version, label) in versions_since(conn, since_ns, until_ns)? {
        let data = arms::load(
            conn,
            Arm {
                version,
                start_ns: since_ns,
                end_ns: until_ns,
            },
        )?;
        if label == at.release {
            release_requests += data.requests;
        }
        merge(&mut merged, data);
    }
    let mut before = match at.previous {
        Some(label) => level_before(conn, label, since_ns - at.window_ns, since_ns)?,
        None => ArmData::default(),
    };
    let signals = verify
        .map(|v| v.signals.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|name| judge(plan, name, &mut merged, &mut before))
        .collect();
    Ok(Check {
        since_ns,
        requests: merged.requests,
        release_requests,
        min_requests: verify.map_or(0, |v| v.min_requests),
        signals,
    })
}

fn judge(plan: &Plan, name: &str, after: &mut ArmData, before: &mut ArmData) -> SignalCheck {
    let limit = plan.limit(name).unwrap_or(f64::INFINITY);
    let value = value(after, name);
    let counts = rate_counts(after, name).zip(rate_counts(before, name));
    let level = counts.and_then(|(_, (x, n))| (n > 0).then(|| x as f64 / n as f64));
    // Back to the previous version's level: the difference is not clearly above zero.
    let back = counts.is_some_and(|((x1, n1), (x2, n2))| {
        n1 > 0 && n2 > 0 && stats::newcombe(x1, n1, x2, n2).low <= 0.0
    });
    SignalCheck {
        signal: name.into(),
        value,
        limit,
        before: level,
        recovered: value.is_some_and(|v| v <= limit) || back,
    }
}

/// The previous version's traffic (every fingerprint with its label) before the rollback.
fn level_before(conn: &Connection, label: &str, from: i64, to: i64) -> rusqlite::Result<ArmData> {
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM versions WHERE label = ?1")?
        .query_map([label], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut merged = ArmData::default();
    for version in ids {
        let arm = Arm {
            version,
            start_ns: from,
            end_ns: to,
        };
        merge(&mut merged, arms::load(conn, arm)?);
    }
    Ok(merged)
}

/// Events and trials of a rate signal; `None` for other kinds.
fn rate_counts(data: &ArmData, name: &str) -> Option<(u64, u64)> {
    if let Some(tool) = name.strip_prefix(PER_TOOL_PREFIX) {
        return Some(data.tools.get(tool).copied().unwrap_or((0, 0)));
    }
    match catalogue::find(name)?.measure {
        Measure::Rate { rate, .. } => Some(data.rate(rate)),
        _ => None,
    }
}

fn versions_since(conn: &Connection, from: i64, to: i64) -> rusqlite::Result<Vec<(i64, String)>> {
    conn.prepare(
        "SELECT DISTINCT v.id, v.label FROM traces t JOIN versions v ON v.id = t.version_id
         WHERE t.start_ns >= ?1 AND t.start_ns < ?2",
    )?
    .query_map(params![from, to], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}

/// All versions' traffic as one arm: counts add up, samples join.
fn merge(into: &mut ArmData, from: ArmData) {
    into.requests += from.requests;
    for (rate, (x, n)) in from.rates {
        let e = into.rates.entry(rate).or_default();
        *e = (e.0 + x, e.1 + n);
    }
    for (sample, values) in from.samples {
        into.samples.entry(sample).or_default().extend(values);
    }
    for (tool, (x, n)) in from.tools {
        let e = into.tools.entry(tool).or_default();
        *e = (e.0 + x, e.1 + n);
    }
    for (name, values) in from.series {
        into.series.entry(name).or_default().extend(values);
    }
}

/// A signal's value over the merged arm; `None` without data.
fn value(data: &mut ArmData, name: &str) -> Option<f64> {
    let ratio = |(x, n): (u64, u64)| (n > 0).then(|| x as f64 / n as f64);
    if let Some(tool) = name.strip_prefix(PER_TOOL_PREFIX) {
        return data.tools.get(tool).copied().and_then(ratio);
    }
    if let Some(series) = name.strip_prefix("series.") {
        let v = data.series.get(series)?;
        return (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    }
    match catalogue::find(name)?.measure {
        Measure::Rate { rate, .. } => ratio(data.rate(rate)),
        Measure::Sample {
            sample, statistic, ..
        } => {
            let values = data.samples.get_mut(&sample)?;
            (!values.is_empty()).then(|| statistic.of_unsorted(values))
        }
        Measure::Distribution { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::plan::tests::plan;

    const MIN: i64 = 60_000_000_000;

    /// A cache with `n` traces per (version, minute, refusal) triple.
    fn cache(traffic: &[(&str, i64, u32, bool)]) -> Connection {
        let conn = crate::store::memory();
        for (i, label) in ["v2", "v3"].iter().enumerate() {
            conn.execute(
                "INSERT INTO versions (id, fingerprint, label, created_at) VALUES (?1, ?2, ?3, 0)",
                params![i as i64 + 1, format!("fp-{label}"), label],
            )
            .unwrap();
        }
        let mut k = 0;
        for (label, minute, n, refusal) in traffic {
            let version: i64 = if *label == "v2" { 1 } else { 2 };
            for _ in 0..*n {
                k += 1;
                conn.execute(
                    "INSERT INTO traces (source, trace_id, version_id, name, start_ns, end_ns,
                         duration_ms, error, refusal, safety_events, tool_calls, tool_errors,
                         retrievals, retrieval_empty, tokens_in, tokens_out, cost_usd,
                         output_chars, span_count, imported_at)
                     VALUES ('t', ?1, ?2, 'respond', ?3, ?3, 100, 0, ?4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0)",
                    params![format!("{k:032x}"), version, minute * MIN + k, *refusal],
                )
                .unwrap();
            }
        }
        conn
    }

    fn verifying() -> Plan {
        let mut p = plan();
        p.verify = Some(super::super::plan::Verify {
            signals: vec!["refusal_rate".into()],
            within: crate::period::Period::secs(300),
            min_requests: 30,
        });
        p
    }

    /// Rolled back from v3 to v2 at minute `at`, after a 10-minute stage window.
    fn at(minute: i64) -> Since<'static> {
        Since {
            release: "v3",
            previous: Some("v2"),
            since_ns: minute * MIN,
            window_ns: 10 * MIN,
        }
    }

    #[test]
    fn recovery_needs_the_limit_enough_requests_and_no_release_traffic() {
        // Before minute 10 v3 refuses a lot; after it only v2 serves, refusing 1 in 40.
        let conn = cache(&[
            ("v3", 5, 20, true),
            ("v2", 11, 39, false),
            ("v2", 11, 1, true),
        ]);
        let p = verifying();
        let c = check(&conn, &p, at(10), 20 * MIN).unwrap();
        assert_eq!((c.requests, c.release_requests), (40, 0));
        assert_eq!(c.signals[0].value, Some(0.025));
        assert_eq!(c.signals[0].limit, 0.05, "the lowest of `above` and `max`");
        assert!(c.recovered(), "{}", c.describe());

        // Too few requests yet: still waiting, whatever the value.
        let c = check(&conn, &p, at(10), 11 * MIN + 5).unwrap();
        assert!(!c.recovered());
        assert!(c.describe().contains("needs 30"), "{}", c.describe());

        // The release still serving means the switch did not take.
        let c = check(&conn, &p, at(0), 20 * MIN).unwrap();
        assert_eq!(c.release_requests, 20);
        assert!(!c.recovered());
    }

    #[test]
    fn a_signal_over_its_limit_and_above_its_old_level_is_not_recovered() {
        // v2 refused 1 in 40 before the rollback; after it, 1 in 4.
        let conn = cache(&[
            ("v2", 5, 39, false),
            ("v2", 5, 1, true),
            ("v2", 11, 30, false),
            ("v2", 12, 10, true),
        ]);
        let c = check(&conn, &verifying(), at(10), 20 * MIN).unwrap();
        assert_eq!(c.signals[0].value, Some(0.25));
        assert_eq!(c.signals[0].before, Some(0.025));
        assert!(!c.signals[0].recovered && !c.recovered());
    }

    #[test]
    fn back_at_the_previous_level_is_recovered_even_over_the_limit() {
        // v2 itself refused 6 % before the rollback, over the 5 % limit; so it does after.
        let conn = cache(&[
            ("v2", 2, 94, false),
            ("v2", 2, 6, true),
            ("v2", 11, 47, false),
            ("v2", 11, 3, true),
        ]);
        let c = check(&conn, &verifying(), at(10), 20 * MIN).unwrap();
        assert_eq!(c.signals[0].value, Some(0.06));
        assert!(c.signals[0].recovered, "{}", c.describe());
        assert!(c.describe().contains("before 0.0600"), "{}", c.describe());
    }
}
