//! The operations that change the world, shared by the console, the command line and
//! the guard: run a procedure (rehearsal or production), roll a rollout back. Each
//! front end decides *whether* (its confirmation, or the guard's plan policy); these
//! decide *how*, so the three never run a procedure two ways.

pub mod procedure;
pub mod rollback;
