//! Rollouts: a release walking its plan's stages, each with a monitoring window,
//! checklist items evaluated from live signals or ticked by the operator, rollback
//! triggers and approvals (see [`machine`] for the states).

pub mod evidence;
pub mod machine;
pub mod ops;
pub mod plan;
pub mod recovery;
pub mod rollback;
pub mod store;

pub use machine::{Evidence, ItemState, Reading, Rollout, State};
pub use plan::Plan;
