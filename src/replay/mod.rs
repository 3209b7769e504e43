//! Replay a trace on other versions, and diff any two executions.
//!
//! A replay sends the trace's recorded input to a target from `relops.toml`
//! ([`target`]: the workflow's own HTTP endpoint, or an OpenAI-compatible chat endpoint
//! whose versions the config defines), with timeouts, retries and a concurrency limit
//! ([`client`]), and stores the answer beside the trace ([`run`]). Any two executions,
//! traces or replays ([`execution`]), can then be compared ([`diff`]).

pub mod client;
pub mod diff;
pub mod execution;
pub mod run;
pub mod target;

pub use diff::{Diff, diff};
pub use execution::{ExecRef, Execution};
pub use run::{Outcome, Replayer};
