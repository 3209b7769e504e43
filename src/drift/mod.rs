//! Drift detection: per-signal verdicts comparing a candidate version with a baseline.

pub mod stats;
