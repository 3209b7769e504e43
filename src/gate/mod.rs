//! The release gate (issue 6, item 5). So far: the decision itself, a pure function of
//! the case results on the candidate and the baseline ([`decide`]). Still to come: the
//! runner that replays each case on both versions through the replay targets, stored
//! gate runs, reports (Markdown, JSON, JUnit) and `relops gate`.
//!
//! The rules, in the order the report gives them:
//! - a must-pass case that fails or errors on the candidate holds the release;
//! - so does a candidate pass rate below the baseline's by more than
//!   `[gate] pass_rate_margin` (errors count as not passing);
//! - so does a candidate median latency or mean cost above the baseline's by more than
//!   `[gate] latency_ratio` / `cost_ratio`;
//! - an empty suite holds (no evidence is not a pass);
//! - otherwise the candidate ships. Cases that could not run are listed as risks: an
//!   error is never a pass.

pub mod verdict;

pub use verdict::{Attempt, CaseRun, Decision, Outcome, Verdict, decide};
