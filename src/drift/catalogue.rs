//! The signals relops judges, with their default thresholds.

use super::stats::Statistic;

/// Which way is worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Worse {
    Higher,
    Lower,
}

/// How a signal is measured on an arm of traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    /// Events over trials, both counted in SQL; `events` and `trials` name them in text.
    Rate {
        rate: Rate,
        events: &'static str,
        trials: &'static str,
    },
    /// One value per request (or span); judged by a statistic's ratio.
    Sample {
        sample: Sample,
        statistic: Statistic,
        worse: Worse,
    },
    /// The shape of a per-request value, judged by PSI.
    Distribution { sample: Sample },
}

/// The rates the traces table can count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rate {
    Refusal,
    Safety,
    ToolError,
    RetrievalEmpty,
}

/// The per-request values an arm loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sample {
    Latency,
    Cost,
    TokensIn,
    TokensOut,
    OutputChars,
    RetrievalScore,
    /// Span durations of one kind (`llm`, `tool`, `retriever`).
    SpanLatency(&'static str),
}

impl Sample {
    /// What one observation is, in text ("not applicable: no retrieval spans").
    pub fn noun(self) -> &'static str {
        match self {
            Sample::Latency
            | Sample::Cost
            | Sample::TokensIn
            | Sample::TokensOut
            | Sample::OutputChars => "requests",
            Sample::RetrievalScore => "retrieval scores",
            Sample::SpanLatency("llm") => "LLM spans",
            Sample::SpanLatency("tool") => "tool spans",
            Sample::SpanLatency("retriever") => "retrieval spans",
            Sample::SpanLatency(_) => "spans",
        }
    }

    /// Durations in milliseconds: judged with the `min_delta_ms` floor beside the ratio.
    pub fn is_latency(self) -> bool {
        matches!(self, Sample::Latency | Sample::SpanLatency(_))
    }
}

/// A built-in signal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signal {
    pub name: &'static str,
    pub label: &'static str,
    pub measure: Measure,
    /// Rates: the margin; samples: the ratio; distributions: the PSI warn band.
    pub threshold: f64,
    /// A Traces filter showing the requests behind the signal (the version is added).
    pub drill: &'static str,
}

const fn rate(
    name: &'static str,
    label: &'static str,
    rate: Rate,
    (events, trials): (&'static str, &'static str),
    margin: f64,
    drill: &'static str,
) -> Signal {
    Signal {
        name,
        label,
        measure: Measure::Rate {
            rate,
            events,
            trials,
        },
        threshold: margin,
        drill,
    }
}

const fn sample(
    name: &'static str,
    label: &'static str,
    sample: Sample,
    statistic: Statistic,
    ratio: f64,
) -> Signal {
    Signal {
        name,
        label,
        measure: Measure::Sample {
            sample,
            statistic,
            worse: Worse::Higher,
        },
        threshold: ratio,
        drill: "",
    }
}

/// Every built-in signal, in display order.
pub const SIGNALS: &[Signal] = &[
    rate(
        "refusal_rate",
        "refusal rate",
        Rate::Refusal,
        ("refusals", "requests"),
        0.01,
        "refusal",
    ),
    rate(
        "tool_error_rate",
        "tool error rate",
        Rate::ToolError,
        ("tool errors", "tool calls"),
        0.01,
        "tool",
    ),
    rate(
        "safety_event_rate",
        "safety event rate",
        Rate::Safety,
        ("safety events", "requests"),
        0.01,
        "",
    ),
    rate(
        "retrieval_empty_rate",
        "retrieval empty rate",
        Rate::RetrievalEmpty,
        ("empty retrievals", "retrievals"),
        0.02,
        "",
    ),
    sample(
        "latency_p50",
        "latency p50",
        Sample::Latency,
        Statistic::P50,
        1.2,
    ),
    sample(
        "latency_p95",
        "latency p95",
        Sample::Latency,
        Statistic::P95,
        1.2,
    ),
    sample(
        "latency_p99",
        "latency p99",
        Sample::Latency,
        Statistic::P99,
        1.3,
    ),
    sample(
        "llm_latency_p95",
        "LLM span p95",
        Sample::SpanLatency("llm"),
        Statistic::P95,
        1.2,
    ),
    sample(
        "tool_latency_p95",
        "tool span p95",
        Sample::SpanLatency("tool"),
        Statistic::P95,
        1.2,
    ),
    sample(
        "retrieval_latency_p95",
        "retrieval span p95",
        Sample::SpanLatency("retriever"),
        Statistic::P95,
        1.2,
    ),
    sample(
        "cost_per_request",
        "cost / request",
        Sample::Cost,
        Statistic::Mean,
        1.1,
    ),
    sample(
        "tokens_in",
        "tokens in / request",
        Sample::TokensIn,
        Statistic::Mean,
        1.2,
    ),
    sample(
        "tokens_out",
        "tokens out / request",
        Sample::TokensOut,
        Statistic::Mean,
        1.2,
    ),
    Signal {
        name: "retrieval_top_score",
        label: "retrieval top score",
        measure: Measure::Sample {
            sample: Sample::RetrievalScore,
            statistic: Statistic::Mean,
            worse: Worse::Lower,
        },
        threshold: 1.05,
        drill: "",
    },
    Signal {
        name: "output_length",
        label: "output length",
        measure: Measure::Distribution {
            sample: Sample::OutputChars,
        },
        threshold: 0.1,
        drill: "",
    },
];

/// Per-tool error rates are named `tool_error_rate.<tool>` and configured like
/// `tool_error_rate`.
pub const PER_TOOL_PREFIX: &str = "tool_error_rate.";

/// PSI above which a distribution has shifted enough to fail.
pub const PSI_FAIL: f64 = 0.25;

pub fn find(name: &str) -> Option<&'static Signal> {
    SIGNALS.iter().find(|s| s.name == name)
}

/// True for a name the config may set: a built-in or a per-tool error rate.
pub fn is_known(name: &str) -> bool {
    find(name).is_some()
        || name
            .strip_prefix(PER_TOOL_PREFIX)
            .is_some_and(|t| !t.is_empty())
}
