//! The Overview's signals, computed from per-version buckets: a value per bucket for the
//! sparkline, and the value over the whole window with its sample size.

use crate::store::query::Buckets;

/// Samples a value should rest on; fewer are shown as uncertain.
pub const MIN_SAMPLE: u64 = 30;

/// How a signal's values read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    Millis,
    Dollars,
    Rate,
}

/// A signal: a numerator and a denominator per bucket, or a direct value.
#[derive(Debug, Clone, Copy)]
pub struct Signal {
    pub name: &'static str,
    /// The drift signal whose verdict colours the tile.
    pub drift: &'static str,
    pub unit: Unit,
    /// `(value, sample size)` for bucket `i`; `None` when the bucket has no sample.
    at: fn(&Buckets, usize) -> Option<(f64, u64)>,
}

fn ratio(num: f64, den: u64) -> Option<(f64, u64)> {
    (den > 0).then(|| (num / den as f64, den))
}

pub const SIGNALS: [Signal; 6] = [
    Signal {
        name: "p95 latency",
        drift: "latency_p95",
        unit: Unit::Millis,
        at: |b, i| (b.requests[i] > 0).then(|| (b.p95_ms[i], b.requests[i])),
    },
    Signal {
        name: "cost / request",
        drift: "cost_per_request",
        unit: Unit::Dollars,
        at: |b, i| ratio(b.cost[i], b.requests[i]),
    },
    Signal {
        name: "refusal rate",
        drift: "refusal_rate",
        unit: Unit::Rate,
        at: |b, i| ratio(b.refusals[i] as f64, b.requests[i]),
    },
    Signal {
        name: "tool error rate",
        drift: "tool_error_rate",
        unit: Unit::Rate,
        at: |b, i| ratio(b.tool_errors[i] as f64, b.tool_calls[i]),
    },
    Signal {
        name: "safety events",
        drift: "safety_event_rate",
        unit: Unit::Rate,
        at: |b, i| ratio(b.safety[i] as f64, b.requests[i]),
    },
    Signal {
        name: "retrieval empty",
        drift: "retrieval_empty_rate",
        unit: Unit::Rate,
        at: |b, i| ratio(b.retrieval_empty[i] as f64, b.retrievals[i]),
    },
];

impl Signal {
    /// One value per bucket.
    pub fn series(&self, b: &Buckets) -> Vec<Option<f64>> {
        (0..b.requests.len())
            .map(|i| (self.at)(b, i).map(|(v, _)| v).filter(|v| v.is_finite()))
            .collect()
    }

    /// The value over the whole window as `(value, sample size)`: ratios sum their
    /// numerators and denominators; the p95 is over every request of the window. A
    /// window's worth of samples, not the last few minutes', so the number is stable.
    pub fn window_value(&self, b: &Buckets) -> Option<(f64, u64)> {
        if self.unit == Unit::Millis {
            let n: u64 = b.requests.iter().sum();
            return (n > 0 && b.window_p95_ms.is_finite()).then_some((b.window_p95_ms, n));
        }
        let (mut sum, mut n) = (0.0, 0u64);
        for i in 0..b.requests.len() {
            if let Some((v, k)) = (self.at)(b, i).filter(|(v, _)| v.is_finite()) {
                sum += v * k as f64;
                n += k;
            }
        }
        (n > 0).then(|| (sum / n as f64, n))
    }
}

/// Requests per version over the window and in the last bucket, as shares of all.
pub fn traffic_share(mine: &Buckets, all: &[&Buckets]) -> (f64, f64) {
    let total = |f: &dyn Fn(&Buckets) -> u64| all.iter().map(|b| f(b)).sum::<u64>();
    let sum = |b: &Buckets| b.requests.iter().sum::<u64>();
    let last = |b: &Buckets| b.requests.last().copied().unwrap_or(0);
    let share = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    (
        share(sum(mine), total(&sum)),
        share(last(mine), total(&last)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(requests: &[u64], refusals: &[u64]) -> Buckets {
        Buckets {
            requests: requests.to_vec(),
            refusals: refusals.to_vec(),
            ..Buckets::default()
        }
    }

    #[test]
    fn rate_per_bucket_and_over_the_window() {
        let b = buckets(&[10, 0, 4], &[1, 0, 2]);
        let refusal = SIGNALS[2];
        assert_eq!(refusal.series(&b), vec![Some(0.1), None, Some(0.5)]);
        assert_eq!(refusal.window_value(&b), Some((3.0 / 14.0, 14)));
        assert_eq!(refusal.window_value(&buckets(&[0, 0], &[0, 0])), None);
    }

    #[test]
    fn p95_over_the_window_is_not_an_average_of_buckets() {
        let b = Buckets {
            requests: vec![1, 9],
            p95_ms: vec![100.0, 10.0],
            window_p95_ms: 100.0,
            ..Buckets::default()
        };
        assert_eq!(SIGNALS[0].window_value(&b), Some((100.0, 10)));
    }

    #[test]
    fn shares_over_window_and_last_bucket() {
        let a = buckets(&[30, 0], &[0, 0]);
        let b = buckets(&[5, 5], &[0, 0]);
        assert_eq!(traffic_share(&a, &[&a, &b]), (0.75, 0.0));
        assert_eq!(traffic_share(&b, &[&a, &b]), (0.25, 1.0));
    }
}
