//! The release gate (issue 6, item 5): the decision, a pure function of the case results
//! on the candidate and the baseline ([`decide`]); the runner that runs each case's input
//! on both versions through a replay target, reporting progress ([`run::run`]); the
//! Markdown, JSON and JUnit reports; stored gate runs with every attempt and its replay,
//! and the reads of them ([`store`]); one gate from request to stored run for the CLI
//! and the console ([`job`]).
//!
//! The rules, in the order the report gives them:
//! - a must-pass case that fails or errors on the candidate holds the release;
//! - so does a candidate pass rate below the baseline's by more than
//!   `[gate] pass_rate_margin` (errors count as not passing);
//! - so does a candidate median latency or mean cost above the baseline's by more than
//!   `[gate] latency_ratio` / `cost_ratio`;
//! - an empty suite holds (no evidence is not a pass);
//! - a case that could not run on either version (no answer came back: target down,
//!   timeout, HTTP error) holds too, but says nothing of the candidate: when nothing
//!   else holds, the verdict is "could not run" (`relops gate` exits 2, not 1), and the
//!   pass-rate rule compares only cases that got an answer on both versions;
//! - otherwise the candidate ships. Cases that could not run are listed as risks: an
//!   error is never a pass.

pub mod job;
pub mod report;
pub mod run;
pub mod store;
pub mod verdict;

pub use verdict::{Attempt, CaseRun, Cause, Decision, Outcome, Standing, Verdict, decide};
