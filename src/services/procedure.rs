//! A procedure run as every front end runs it: found by name, its secrets read from
//! the environment, walked and recorded by `runbook::job`.

use std::future::Future;

use rusqlite::Connection;

use crate::config::Config;
use crate::runbook::Procedure;
use crate::runbook::exec::{Event, Mode, Operator};
use crate::runbook::job::{self, Finished, Job};
use crate::runbook::vars::{Inputs, Vars};

/// The configured procedure `name`, or an error listing the ones there are.
pub fn find<'a>(config: &'a Config, name: &str) -> Result<&'a Procedure, String> {
    config
        .procedures
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            let known: Vec<&str> = config.procedures.iter().map(|p| p.name.as_str()).collect();
            format!(
                "no procedure named {name:?} (configured: {})",
                known.join(", ")
            )
        })
}

/// The procedure's inputs: `vars` and its secrets from the environment. Read before
/// anyone confirms, so a missing secret stops the run before it is asked for.
pub fn inputs(p: &Procedure, vars: Vars) -> Result<Inputs, String> {
    Inputs::new(vars)
        .with_secrets(&p.secrets, |k| std::env::var(k).ok())
        .map_err(|e| format!("{}: {e}", p.name))
}

/// One run: which procedure, how, with what and by whom.
pub struct Request<'a> {
    pub procedure: &'a Procedure,
    pub mode: Mode,
    pub inputs: &'a Inputs,
    pub actor: &'a str,
}

/// Walks the procedure to its end (or until `stop` resolves), every step recorded and
/// audited; `on_event` hears each step start, print and end.
pub async fn run(
    conn: &Connection,
    req: Request<'_>,
    operator: &dyn Operator,
    stop: impl Future<Output = ()>,
    on_event: impl FnMut(Event),
) -> Result<Finished, String> {
    let job = Job {
        procedure: req.procedure,
        mode: req.mode,
        inputs: req.inputs,
        actor: req.actor,
    };
    job::run(conn, &job, operator, stop, on_event).await
}
