//! `GET /metrics` of the demo workflow server: what it served, per version, in
//! Prometheus' text exposition format (0.0.4), so a real Prometheus can scrape the demo
//! and relops can pull it back as `[[source]] kind = "prometheus"`.
//!
//! Every series exists from the start (at zero), as Prometheus' guidelines ask, so
//! `rate()` sees the first request of each version.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use super::workflow::{Execution, RELEASES, Step};

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 10] = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0];
/// The workflow's tools.
const TOOLS: [&str; 2] = ["order_lookup", "refund"];

/// The exposition's media type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Default, Clone)]
struct Counts {
    requests: u64,
    refusals: u64,
    failures: u64,
    /// Calls and failed calls per tool.
    tools: BTreeMap<&'static str, (u64, u64)>,
    /// Requests per bucket (not cumulative), the last one beyond every bound.
    buckets: [u64; BUCKETS.len() + 1],
    seconds: f64,
}

/// What the server answered, per version label.
#[derive(Debug)]
pub struct Metrics(Mutex<BTreeMap<&'static str, Counts>>);

impl Default for Metrics {
    fn default() -> Self {
        let zero = Counts {
            tools: TOOLS.iter().map(|t| (*t, (0, 0))).collect(),
            ..Counts::default()
        };
        Self(Mutex::new(
            RELEASES.iter().map(|r| (r.label, zero.clone())).collect(),
        ))
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn record(&self, e: &Execution) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let c = all.entry(e.release).or_default();
        c.requests += 1;
        c.refusals += u64::from(e.refusal);
        c.failures += u64::from(e.failed.is_some());
        for step in &e.steps {
            if let Step::Tool { name, error, .. } = step {
                let (calls, errors) = c.tools.entry(name).or_default();
                *calls += 1;
                *errors += u64::from(error.is_some());
            }
        }
        let seconds = e.total_ms / 1000.0;
        let bucket = BUCKETS
            .iter()
            .position(|&le| seconds <= le)
            .unwrap_or(BUCKETS.len());
        c.buckets[bucket] += 1;
        c.seconds += seconds;
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let all = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let per_version = |name: &str, value: fn(&Counts) -> u64| -> Vec<String> {
            all.iter()
                .map(|(v, c)| format!("{name}{{version=\"{v}\"}} {}", value(c)))
                .collect()
        };
        let per_tool = |name: &str, value: fn((u64, u64)) -> u64| -> Vec<String> {
            all.iter()
                .flat_map(|(v, c)| {
                    c.tools.iter().map(move |(t, n)| {
                        format!("{name}{{tool=\"{t}\",version=\"{v}\"}} {}", value(*n))
                    })
                })
                .collect()
        };
        let mut out = String::new();
        family(
            &mut out,
            ("workflow_requests_total", "counter"),
            "Requests the demo workflow answered.",
            per_version("workflow_requests_total", |c| c.requests),
        );
        family(
            &mut out,
            ("workflow_refusals_total", "counter"),
            "Requests the workflow refused.",
            per_version("workflow_refusals_total", |c| c.refusals),
        );
        family(
            &mut out,
            ("workflow_failures_total", "counter"),
            "Requests that failed as a whole (an unrecovered tool failure).",
            per_version("workflow_failures_total", |c| c.failures),
        );
        family(
            &mut out,
            ("workflow_tool_calls_total", "counter"),
            "Tool calls, by tool.",
            per_tool("workflow_tool_calls_total", |(calls, _)| calls),
        );
        family(
            &mut out,
            ("workflow_tool_errors_total", "counter"),
            "Tool calls that failed, by tool.",
            per_tool("workflow_tool_errors_total", |(_, errors)| errors),
        );
        let name = "workflow_request_duration_seconds";
        let histogram = all.iter().flat_map(|(v, c)| {
            let mut cumulative = 0;
            let mut lines: Vec<String> = BUCKETS
                .iter()
                .zip(c.buckets)
                .map(|(le, n)| {
                    cumulative += n;
                    format!("{name}_bucket{{version=\"{v}\",le=\"{le}\"}} {cumulative}")
                })
                .collect();
            lines.push(format!(
                "{name}_bucket{{version=\"{v}\",le=\"+Inf\"}} {}",
                c.requests
            ));
            lines.push(format!("{name}_sum{{version=\"{v}\"}} {}", c.seconds));
            lines.push(format!("{name}_count{{version=\"{v}\"}} {}", c.requests));
            lines
        });
        family(
            &mut out,
            (name, "histogram"),
            "The workflow's own latency per request.",
            histogram.collect(),
        );
        out
    }
}

/// One metric family: its HELP and TYPE lines, then its samples.
fn family(out: &mut String, (name, kind): (&str, &str), help: &str, lines: Vec<String>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::workflow;

    #[test]
    fn every_series_starts_at_zero() {
        let text = Metrics::default().render();
        assert!(text.contains("workflow_requests_total{version=\"v1\"} 0\n"));
        assert!(text.contains("workflow_tool_errors_total{tool=\"refund\",version=\"v3\"} 0\n"));
        assert!(
            text.contains(
                "workflow_request_duration_seconds_bucket{version=\"v2\",le=\"+Inf\"} 0\n"
            )
        );
    }

    #[test]
    fn requests_refusals_tool_errors_and_latency_add_up() {
        let m = Metrics::default();
        let v3 = workflow::release("v3").unwrap();
        let inputs = (0..200).map(|i| {
            format!(
                "Please refund order A{:06}; it arrived broken.",
                100_000 + i
            )
        });
        let executions: Vec<Execution> = inputs.map(|i| workflow::execute(v3, &i)).collect();
        for e in &executions {
            m.record(e);
        }
        let text = m.render();
        let line = |prefix: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("{prefix} in\n{text}"))
                .trim()
                .parse()
                .unwrap()
        };
        let count = |f: fn(&Execution) -> bool| executions.iter().filter(|e| f(e)).count() as f64;
        assert_eq!(line("workflow_requests_total{version=\"v3\"}"), 200.0);
        assert_eq!(
            line("workflow_refusals_total{version=\"v3\"}"),
            count(|e| e.refusal)
        );
        let refund_errors = count(|e| {
            e.steps.iter().any(|s| {
                matches!(
                    s,
                    Step::Tool {
                        name: "refund",
                        error: Some(_),
                        ..
                    }
                )
            })
        });
        assert!(refund_errors > 0.0);
        assert_eq!(
            line("workflow_tool_errors_total{tool=\"refund\",version=\"v3\"}"),
            refund_errors
        );
        assert_eq!(line("workflow_requests_total{version=\"v2\"}"), 0.0);
        let under_a_second = count(|e| e.total_ms <= 1000.0);
        assert_eq!(
            line("workflow_request_duration_seconds_bucket{version=\"v3\",le=\"1\"}"),
            under_a_second
        );
        assert_eq!(
            line("workflow_request_duration_seconds_count{version=\"v3\"}"),
            200.0
        );
    }
}
