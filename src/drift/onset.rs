//! When did a drift start? CUSUM over the candidate's bucketed series against the
//! baseline's level, related to when the candidate was first seen.

use serde::Serialize;

use super::catalogue::Signal;
use super::judge::Judgement;
use super::stats::cusum_onset;
use super::{Series, VersionRef};
use crate::clock::rfc3339;
use crate::store::query::Buckets;

/// Alarm threshold of the CUSUM, in standard deviations of a bucket's value.
const H: f64 = 4.0;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Onset {
    pub at: String,
    /// Seconds from the candidate's first trace to the onset (negative: before it).
    pub after_first_seen_seconds: Option<i64>,
    pub text: String,
    #[serde(skip)]
    pub at_ns: i64,
}

/// Reads one value per bucket (None where a bucket has no data).
pub type PerBucket = fn(&Buckets) -> Vec<Option<f64>>;

/// A signal's per-bucket form.
pub struct Bucketed {
    pub what: &'static str,
    pub value: PerBucket,
}

fn ratio(num: &[u64], den: &[u64]) -> Vec<Option<f64>> {
    num.iter()
        .zip(den)
        .map(|(n, d)| (*d > 0).then(|| *n as f64 / *d as f64))
        .collect()
}

/// The bucketed series of a built-in signal, where the Overview's buckets hold one.
pub fn bucketed(signal: &Signal) -> Option<Bucketed> {
    let (what, value): (&'static str, PerBucket) = match signal.name {
        "refusal_rate" => ("rate", |b| ratio(&b.refusals, &b.requests)),
        "tool_error_rate" => ("rate", |b| ratio(&b.tool_errors, &b.tool_calls)),
        "safety_event_rate" => ("rate", |b| ratio(&b.safety, &b.requests)),
        "retrieval_empty_rate" => ("rate", |b| ratio(&b.retrieval_empty, &b.retrievals)),
        // Buckets hold the p95 only; p50 and p99 have no per-bucket form to compare.
        "latency_p95" => ("p95 ms", |b| {
            b.p95_ms
                .iter()
                .map(|v| v.is_finite().then_some(*v))
                .collect()
        }),
        "cost_per_request" => ("usd", |b| {
            b.cost
                .iter()
                .zip(&b.requests)
                .map(|(c, n)| (*n > 0).then(|| c / *n as f64))
                .collect()
        }),
        _ => return None,
    };
    Some(Bucketed { what, value })
}

/// The onset of a drift in `series.candidate`, if the CUSUM finds one.
pub fn find(
    j: &Judgement,
    series: &Series,
    start_ns: i64,
    bucket_ns: i64,
    candidate: &VersionRef,
) -> Option<Onset> {
    let mu0 = j.baseline?;
    let values = &series.candidate;
    let filled = values.iter().flatten().count();
    if filled == 0 {
        return None;
    }
    let (k, threshold) = if series.what == "rate" {
        let mean_n = j.n_candidate as f64 / filled as f64;
        let sigma = (mu0.max(1e-4) * (1.0 - mu0) / mean_n.max(1.0)).sqrt();
        (j.threshold / 2.0, H * sigma)
    } else {
        let base: Vec<f64> = series.baseline.iter().flatten().copied().collect();
        let sigma = if base.len() >= 3 {
            sd(&base)
        } else {
            0.1 * mu0
        };
        ((j.threshold - 1.0) / 2.0 * mu0, H * sigma.max(1e-9))
    };
    let index = cusum_onset(values, mu0, k, threshold)?;
    // A version's drift cannot start before its first request.
    let at_ns =
        (start_ns + index as i64 * bucket_ns).max(candidate.first_seen_ns.unwrap_or(i64::MIN));
    let after = candidate.first_seen_ns.map(|f| (at_ns - f) / 1_000_000_000);
    Some(Onset {
        at: rfc3339(at_ns),
        after_first_seen_seconds: after,
        text: describe(at_ns, after, &candidate.label),
        at_ns,
    })
}

fn sd(v: &[f64]) -> f64 {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

/// "from 14:02 UTC, 3 min after v3 was first seen"
fn describe(at_ns: i64, after: Option<i64>, label: &str) -> String {
    let when = chrono::DateTime::from_timestamp_nanos(at_ns).format("%m-%d %H:%M UTC");
    match after {
        Some(0) => format!("from {when}, as soon as {label} was first seen"),
        Some(s) if s >= 0 => format!("from {when}, {} after {label} was first seen", human(s)),
        Some(s) => format!("from {when}, {} before {label} was first seen", human(-s)),
        None => format!("from {when}"),
    }
}

fn human(secs: i64) -> String {
    match secs {
        s if s < 90 => format!("{s} s"),
        s if s < 90 * 60 => format!("{} min", s / 60),
        s if s < 48 * 3600 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_relative_to_first_seen() {
        let t = 1_795_000_000_000_000_000;
        assert!(describe(t, Some(180), "v3").ends_with("3 min after v3 was first seen"));
        assert!(describe(t, Some(-7200), "v3").contains("2 h before"));
        assert!(describe(t, None, "v3").starts_with("from "));
    }
}
