//! A procedure run as the record keeps it: the run row, each step as it ends, the
//! outcome, all audited, whether the walk finishes, halts on a failure or is killed.
//! The command line and the console both run procedures through here.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::Procedure;
use super::exec::{self, Event, Mode, Operator, StepResult};
use super::record;
use super::vars::Inputs;

/// How a recorded run ended.
#[derive(Debug, Clone)]
pub struct Finished {
    pub run: i64,
    /// `ok`, `failed` (a step failed or was declined) or `killed`.
    pub outcome: &'static str,
    pub steps: Vec<StepResult>,
    pub elapsed: Duration,
}

impl Finished {
    pub fn ok(&self) -> bool {
        self.outcome == "ok"
    }
}

/// Who runs it and how: the procedure, rehearsal or run, its inputs and the actor.
pub struct Job<'a> {
    pub procedure: &'a Procedure,
    pub mode: Mode,
    pub inputs: &'a Inputs,
    pub actor: &'a str,
}

/// Walks the procedure, recording as it goes, until it ends or `stop` resolves (the
/// operator confirmed a kill: the running step's process dies with the dropped walk).
pub async fn run(
    conn: &Connection,
    job: &Job<'_>,
    operator: &dyn Operator,
    stop: impl Future<Output = ()>,
    mut on_event: impl FnMut(Event),
) -> Result<Finished, String> {
    let Job {
        procedure: p,
        mode,
        inputs,
        actor,
    } = *job;
    let now = crate::clock::now_ns;
    let run =
        record::start(conn, p, mode, actor, &inputs.vars, now()).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let steps = RefCell::new(Vec::new());
    let current = Cell::new(None::<(usize, Instant)>);
    let failed_write = RefCell::new(None::<String>);
    let keep = |s: &StepResult| {
        if let Err(e) = record::step(conn, run, p, mode, actor, s, now()) {
            failed_write.borrow_mut().get_or_insert(e.to_string());
        }
        steps.borrow_mut().push(s.clone());
    };
    let walk = exec::walk(p, mode, inputs, operator, |e| {
        match e {
            Event::Started { index, .. } => current.set(Some((index, Instant::now()))),
            Event::Finished(s) => {
                current.set(None);
                keep(s);
            }
            Event::Line { .. } => {}
        }
        on_event(e);
    });
    let finished = tokio::select! {
        _ = walk => true,
        () = stop => false,
    };
    if let (false, Some((index, at))) = (finished, current.get()) {
        let killed = StepResult::killed(index, &p.steps[index], at.elapsed().as_millis() as u64);
        keep(&killed);
        on_event(Event::Finished(&killed));
    }
    let steps = steps.into_inner();
    let outcome = match finished {
        false => "killed",
        true if steps.len() == p.steps.len() && steps.iter().all(StepResult::ok) => "ok",
        true => "failed",
    };
    record::finish(conn, run, p, mode, actor, outcome, now()).map_err(|e| e.to_string())?;
    if let Some(e) = failed_write.into_inner() {
        return Err(format!("recording a step failed: {e}"));
    }
    Ok(Finished {
        run,
        outcome,
        steps,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Yes;
    impl Operator for Yes {
        fn confirm(&self, _: &str) -> bool {
            true
        }
    }

    fn procedure(text: &str) -> Procedure {
        toml::from_str(text).unwrap()
    }

    fn job<'a>(p: &'a Procedure, inputs: &'a Inputs) -> Job<'a> {
        Job {
            procedure: p,
            mode: Mode::Run,
            inputs,
            actor: "ana",
        }
    }

    const SLOW: &str = "name = 'p'\n\
        [[step]]\nname = 'quick'\nrun = { kind = 'run', argv = ['true'] }\n\
        [[step]]\nname = 'slow'\nrun = { kind = 'run', argv = ['sleep', '30'] }\n\
        [[step]]\nname = 'never'\nrun = { kind = 'run', argv = ['true'] }\n";

    #[tokio::test]
    async fn a_kill_stops_the_running_step_and_is_recorded() {
        let conn = crate::store::memory();
        let p = procedure(SLOW);
        let inputs = Inputs::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut tx = Some(tx);
        // The operator confirms the kill once the slow step has started.
        let stop = async {
            let _ = rx.await;
        };
        let started = Instant::now();
        let done = run(&conn, &job(&p, &inputs), &Yes, stop, |e| {
            if let Event::Started { index: 1, .. } = e {
                let _ = tx.take().map(|t| t.send(()));
            }
        })
        .await
        .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "sleep was killed"
        );
        assert_eq!(done.outcome, "killed");
        let outcomes: Vec<&str> = done.steps.iter().map(|s| s.outcome.as_str()).collect();
        assert_eq!(outcomes, ["ok", "killed"]);
        let recorded: Vec<String> = conn
            .prepare("SELECT outcome FROM procedure_steps ORDER BY step_index")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(recorded, ["ok", "killed"]);
        let run_outcome: String = conn
            .query_row("SELECT outcome FROM procedure_runs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(run_outcome, "killed");
    }

    #[tokio::test]
    async fn output_lines_arrive_live_and_secrets_never_reach_the_record() {
        let conn = crate::store::memory();
        let p = procedure(
            "name = 'p'\nsecrets = ['RELOPS_TEST_TOKEN']\n[[step]]\nname = 'talk'\n\
             run = { kind = 'run', argv = ['sh', '-c', 'echo one; echo \"token=$1\" >&2; echo three', 'sh', '{secret.RELOPS_TEST_TOKEN}'] }\n",
        );
        let inputs = Inputs::default()
            .with_secrets(&p.secrets, |_| Some("canary-7f3a9".into()))
            .unwrap();
        let mut lines = Vec::new();
        let done = run(
            &conn,
            &job(&p, &inputs),
            &Yes,
            std::future::pending(),
            |e| {
                if let Event::Line { line, .. } = e {
                    lines.push(line.to_string());
                }
            },
        )
        .await
        .unwrap();
        assert!(done.ok(), "{done:?}");
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines.contains(&"token=***".to_string()), "{lines:?}");
        let everything: String = conn
            .query_row("SELECT group_concat(details, '') FROM audit_log", [], |r| {
                r.get(0)
            })
            .unwrap();
        let steps: String = conn
            .query_row("SELECT stdout FROM procedure_steps", [], |r| r.get(0))
            .unwrap();
        assert!(!everything.contains("canary-7f3a9") && everything.contains("***"));
        assert!(!steps.contains("canary-7f3a9"), "{steps}");
    }
}
