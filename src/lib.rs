//! relops: a terminal console for operating LLM workflows in production.

pub mod audit;
pub mod cases;
pub mod cli;
pub mod clock;
pub mod collect;
pub mod config;
pub mod demo;
pub mod drift;
pub mod gate;
pub mod http;
pub mod incident;
pub mod ingest;
pub mod model;
pub mod otlp;
pub mod period;
pub mod replay;
pub mod report;
pub mod review;
pub mod rollout;
pub mod runbook;
pub mod sources;
pub mod store;
pub mod sync;
pub mod tui;
pub mod workspace;
