//! What was rehearsed and run: `procedure_runs`, `procedure_steps`, the audit log, and
//! from them whether a procedure is *tested*.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::exec::{Mode, StepResult};
use super::vars::Vars;
use super::{Procedure, Settings};

/// Starts a run row; its id.
pub fn start(
    conn: &Connection,
    p: &Procedure,
    mode: Mode,
    actor: &str,
    vars: &Vars,
    now_ns: i64,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO procedure_runs (procedure, content_hash, mode, actor, started_at, vars)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            p.name,
            p.content_hash(),
            mode.as_str(),
            actor,
            now_ns,
            serde_json::to_string(vars).expect("vars serialise")
        ],
    )?;
    let run = conn.last_insert_rowid();
    let details = serde_json::json!({"run": run, "content_hash": p.content_hash(), "vars": vars});
    crate::audit::record(
        conn,
        now_ns,
        actor,
        &format!("runbook.{}.start", mode.as_str()),
        &p.name,
        &details,
    )?;
    Ok(run)
}

/// Records a finished step, in the table and the audit log.
pub fn step(
    conn: &Connection,
    run: i64,
    p: &Procedure,
    mode: Mode,
    actor: &str,
    s: &StepResult,
    now_ns: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO procedure_steps (run_id, step_index, name, started_at, finished_at,
                                      exit_code, stdout, stderr, outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            run,
            s.index as i64,
            s.name,
            now_ns - s.millis as i64 * 1_000_000,
            now_ns,
            s.exit_code,
            s.output,
            s.error,
            s.outcome
        ],
    )?;
    let details = serde_json::to_value(s).expect("a step serialises");
    let action = format!("runbook.{}.step", mode.as_str());
    crate::audit::record(conn, now_ns, actor, &action, &p.name, &details)
}

/// Closes a run with its outcome.
pub fn finish(
    conn: &Connection,
    run: i64,
    p: &Procedure,
    mode: Mode,
    actor: &str,
    outcome: &str,
    now_ns: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE procedure_runs SET finished_at = ?2, outcome = ?3 WHERE id = ?1",
        params![run, now_ns, outcome],
    )?;
    let details = serde_json::json!({"run": run, "outcome": outcome});
    crate::audit::record(
        conn,
        now_ns,
        actor,
        &format!("runbook.{}.finish", mode.as_str()),
        &p.name,
        &details,
    )
}

/// Whether a procedure may be trusted, with the dates behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Tested {
    /// Rehearsed successfully, as it is now, within the freshness window.
    Tested {
        rehearsed_ns: i64,
    },
    /// Rehearsed, but changed since (`changed`) or too long ago.
    Stale {
        rehearsed_ns: i64,
        changed: bool,
    },
    Untested,
}

impl Tested {
    pub fn is_tested(&self) -> bool {
        matches!(self, Tested::Tested { .. })
    }

    /// `tested 2d ago (11-25 14:02 UTC)`, `stale: changed since its rehearsal 3d ago
    /// (…)`, `untested: never rehearsed successfully`.
    pub fn describe(&self, now_ns: i64) -> String {
        let when = |t: i64| {
            let date = chrono::DateTime::from_timestamp_nanos(t).format("%m-%d %H:%M UTC");
            format!("{} ago ({date})", crate::clock::age(t, now_ns))
        };
        match self {
            Tested::Tested { rehearsed_ns } => format!("tested {}", when(*rehearsed_ns)),
            Tested::Stale {
                rehearsed_ns,
                changed: true,
            } => format!("stale: changed since its rehearsal {}", when(*rehearsed_ns)),
            Tested::Stale { rehearsed_ns, .. } => {
                format!("stale: last rehearsed {}", when(*rehearsed_ns))
            }
            Tested::Untested => "untested: never rehearsed successfully".into(),
        }
    }
}

/// A production run as the record keeps it, with its first failed step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub actor: String,
    pub started_ns: i64,
    /// `ok`, `failed`, `killed`; `None` while running (or when its runner died).
    pub outcome: Option<String>,
    /// The failed step: its number (from 1), name and error.
    pub failed_step: Option<(i64, String, String)>,
}

impl RunRecord {
    pub fn ok(&self) -> bool {
        self.outcome.as_deref() == Some("ok")
    }
}

/// The newest production run of `procedure` started at or after `since_ns`.
pub fn latest_run(
    conn: &Connection,
    procedure: &str,
    since_ns: i64,
) -> rusqlite::Result<Option<RunRecord>> {
    let run = conn
        .query_row(
            "SELECT id, actor, started_at, outcome FROM procedure_runs
             WHERE procedure = ?1 AND mode = 'run' AND started_at >= ?2
             ORDER BY started_at DESC, id DESC LIMIT 1",
            params![procedure, since_ns],
            |r| {
                Ok(RunRecord {
                    id: r.get(0)?,
                    actor: r.get(1)?,
                    started_ns: r.get(2)?,
                    outcome: r.get(3)?,
                    failed_step: None,
                })
            },
        )
        .optional()?;
    let Some(mut run) = run else {
        return Ok(None);
    };
    run.failed_step = conn
        .query_row(
            "SELECT step_index + 1, name, COALESCE(stderr, outcome) FROM procedure_steps
             WHERE run_id = ?1 AND outcome NOT IN ('ok', 'skipped')
             ORDER BY step_index LIMIT 1",
            [run.id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(Some(run))
}

/// The procedure's state from its last successful rehearsal.
pub fn tested(
    conn: &Connection,
    p: &Procedure,
    settings: &Settings,
    now_ns: i64,
) -> rusqlite::Result<Tested> {
    let last: Option<(i64, String)> = conn
        .query_row(
            "SELECT finished_at, content_hash FROM procedure_runs
             WHERE procedure = ?1 AND mode = 'rehearsal' AND outcome = 'ok'
             ORDER BY finished_at DESC LIMIT 1",
            [&p.name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(match last {
        None => Tested::Untested,
        Some((at, hash)) if hash != p.content_hash() => Tested::Stale {
            rehearsed_ns: at,
            changed: true,
        },
        Some((at, _)) if now_ns - at > settings.fresh.as_nanos() => Tested::Stale {
            rehearsed_ns: at,
            changed: false,
        },
        Some((at, _)) => Tested::Tested { rehearsed_ns: at },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::period::Period;

    fn procedure(timeout: &str) -> Procedure {
        toml::from_str(&format!(
            "name = 'rollback'\n[[step]]\nname = 's'\nrun = {{ kind = 'run', argv = ['true'] }}\ntimeout = '{timeout}'\n"
        ))
        .unwrap()
    }

    const DAY: i64 = 86_400_000_000_000;

    fn rehearse(conn: &Connection, p: &Procedure, at: i64, outcome: &str) {
        let run = start(conn, p, Mode::Rehearsal, "ana", &Vars::new(), at).unwrap();
        finish(conn, run, p, Mode::Rehearsal, "ana", outcome, at).unwrap();
    }

    #[test]
    fn freshness_and_content_decide_tested() {
        let conn = crate::store::memory();
        let settings = Settings {
            fresh: Period::secs(14 * 86_400),
        };
        let p = procedure("30s");
        assert_eq!(tested(&conn, &p, &settings, 0).unwrap(), Tested::Untested);
        rehearse(&conn, &p, DAY, "failed");
        assert_eq!(
            tested(&conn, &p, &settings, 2 * DAY).unwrap(),
            Tested::Untested
        );
        rehearse(&conn, &p, 2 * DAY, "ok");
        assert!(tested(&conn, &p, &settings, 3 * DAY).unwrap().is_tested());
        let late = tested(&conn, &p, &settings, 17 * DAY).unwrap();
        assert_eq!(
            late,
            Tested::Stale {
                rehearsed_ns: 2 * DAY,
                changed: false
            }
        );
        let edited = tested(&conn, &procedure("31s"), &settings, 3 * DAY).unwrap();
        assert_eq!(
            edited,
            Tested::Stale {
                rehearsed_ns: 2 * DAY,
                changed: true
            }
        );
        assert!(
            edited
                .describe(3 * DAY)
                .contains("changed since its rehearsal 1d ago (01-03 00:00 UTC)")
        );
    }

    #[test]
    fn every_run_and_step_is_audited_in_the_chain() {
        let conn = crate::store::memory();
        rehearse(&conn, &procedure("30s"), DAY, "ok");
        let v = crate::audit::verify(&conn, &Default::default()).unwrap();
        assert_eq!((v.rows, v.ok()), (2, true));
    }

    #[test]
    fn the_latest_production_run_names_its_failed_step() {
        let conn = crate::store::memory();
        let p = procedure("30s");
        assert_eq!(latest_run(&conn, "rollback", 0).unwrap(), None);
        rehearse(&conn, &p, DAY, "failed");
        assert_eq!(
            latest_run(&conn, "rollback", 0).unwrap(),
            None,
            "a rehearsal is not a run"
        );
        let run = start(&conn, &p, Mode::Run, "guard@h", &Vars::new(), 2 * DAY).unwrap();
        let failed = StepResult {
            index: 0,
            name: "s".into(),
            outcome: "failed".into(),
            exit_code: Some(3),
            command: "true".into(),
            output: String::new(),
            error: Some("exit status 3".into()),
            remediation: None,
            millis: 5,
        };
        step(&conn, run, &p, Mode::Run, "guard@h", &failed, 2 * DAY).unwrap();
        let seen = latest_run(&conn, "rollback", DAY).unwrap().unwrap();
        assert_eq!(
            (seen.id, seen.outcome.as_deref(), seen.ok()),
            (run, None, false)
        );
        assert_eq!(
            seen.failed_step,
            Some((1, "s".into(), "exit status 3".into()))
        );
        finish(&conn, run, &p, Mode::Run, "guard@h", "failed", 2 * DAY).unwrap();
        let seen = latest_run(&conn, "rollback", DAY).unwrap().unwrap();
        assert_eq!(
            (seen.outcome.as_deref(), seen.actor.as_str()),
            (Some("failed"), "guard@h")
        );
        assert_eq!(
            latest_run(&conn, "rollback", 3 * DAY).unwrap(),
            None,
            "older than since"
        );
    }
}
