//! The console: ratatui on crossterm, driven by tokio.
//!
//! Data flows one way. Terminal events, timers and loader replies become [`Action`]s
//! ([`input`], [`driver`]); [`update`] changes the [`State`] and returns [`Effect`]s as
//! data; the driver hands effects to the [`loader`] threads, whose replies come back as
//! actions; [`views::draw`] reads the state into a frame. [`headless`] runs the same
//! machine without a terminal, for tests.

pub mod action;
mod cases;
pub mod data;
mod driver;
pub mod filter;
#[cfg(test)]
pub(crate) mod fixtures;
mod gate;
pub mod headless;
pub mod input;
pub mod keymap;
pub mod layout;
pub mod list;
mod loader;
pub mod palette;
mod replays;
mod review;
mod rollouts;
pub mod signals;
pub mod state;
mod sync;
mod terminal;
pub mod update;
pub mod views;
pub mod widgets;

pub use action::{Action, Effect, GateDone, GateProgress, Pane, ReviewWrite};
pub use driver::run;
pub use headless::Headless;
pub use state::State;
pub use update::update;
