//! Procedures: named, ordered steps that change production (a rollback, a promotion),
//! rehearsed through their dry-run forms before they are trusted, and executed with
//! confirmation, timeouts and an audit trail.
//!
//! A step is an argv command (never a shell), an HTTP call, or a question to the
//! operator. Variables (`{release}`, `{previous}`, fingerprint fields, `--var`) are
//! substituted inside argv elements and JSON string values only, so trace data can
//! never become code.

pub mod exec;
pub mod job;
pub mod record;
pub mod vars;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::period::Period;

/// `[runbook]`: how fresh a rehearsal must be for a procedure to count as tested.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub fresh: Period,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            fresh: Period::secs(14 * 86_400),
        }
    }
}

/// One `[[procedure]]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Procedure {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Environment variables the steps use as `{secret.NAME}`: read at run time,
    /// redacted from output and the audit log, never stored.
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

/// One step: what it does, how to rehearse it, how to check it worked.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    pub run: Action,
    /// What a rehearsal runs instead (e.g. `--dry-run=server`, a GET of the admin API).
    #[serde(default)]
    pub dry_run: Option<Action>,
    /// A read-only check after the step (and in rehearsals).
    #[serde(default)]
    pub verify: Option<Action>,
    /// What the operator should do when the step fails.
    #[serde(default)]
    pub remediation: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout: Period,
}

fn default_timeout() -> Period {
    Period::secs(60)
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Action {
    /// A process: `argv[0]` with the rest as arguments; no shell.
    Run {
        argv: Vec<String>,
        #[serde(default)]
        env: BTreeMap<String, String>,
        #[serde(default)]
        dir: Option<PathBuf>,
    },
    /// An HTTP call whose status must be `expect_status`.
    Http {
        #[serde(default = "default_method")]
        method: String,
        url: String,
        /// Header values may use variables and secrets (`Bearer {secret.TOKEN}`).
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default)]
        body: Option<serde_json::Value>,
        #[serde(default = "default_status")]
        expect_status: u16,
    },
    /// A question the operator must answer yes to.
    Confirm { question: String },
}

fn default_method() -> String {
    "POST".into()
}
fn default_status() -> u16 {
    200
}

impl Procedure {
    /// Identifies this exact content: a rehearsal counts only for the content it ran.
    pub fn content_hash(&self) -> String {
        let text = serde_json::to_string(self).expect("a procedure serialises");
        hex::encode(Sha256::digest(text.as_bytes()))[..16].to_string()
    }

    /// Checks what serde cannot: steps exist, argv is not empty, variables are known
    /// by name shape. The message names the step.
    pub fn check(&self) -> Result<(), String> {
        if self.steps.is_empty() {
            return Err("a procedure needs at least one step".into());
        }
        for (i, step) in self.steps.iter().enumerate() {
            let actions = [Some(&step.run), step.dry_run.as_ref(), step.verify.as_ref()];
            for action in actions.into_iter().flatten() {
                if let Action::Run { argv, .. } = action
                    && argv.first().is_none_or(|a| a.is_empty())
                {
                    return Err(format!("step {} ({}): argv is empty", i + 1, step.name));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn procedure(text: &str) -> Procedure {
        toml::from_str(text).expect("parses")
    }

    const ROLLBACK: &str = r#"
name = "rollback"
[[step]]
name = "switch"
run = { kind = "http", url = "http://h/admin/active", body = { version = "{previous}" } }
dry_run = { kind = "http", method = "GET", url = "http://h/admin/active" }
remediation = "switch by hand"
[[step]]
name = "restart"
run = { kind = "run", argv = ["systemctl", "restart", "bot@{previous}"] }
timeout = "30s"
"#;

    #[test]
    fn a_procedure_reads_with_defaults() {
        let p = procedure(ROLLBACK);
        assert_eq!(p.steps.len(), 2);
        assert!(
            matches!(&p.steps[0].run, Action::Http { method, expect_status: 200, .. } if method == "POST")
        );
        assert_eq!(p.steps[1].timeout, Period::secs(30));
        assert_eq!(p.steps[0].timeout, Period::secs(60));
        assert_eq!(p.check(), Ok(()));
    }

    #[test]
    fn the_content_hash_follows_any_change() {
        let a = procedure(ROLLBACK);
        let mut b = a.clone();
        assert_eq!(a.content_hash(), b.content_hash());
        b.steps[1].timeout = Period::secs(31);
        assert_ne!(a.content_hash(), b.content_hash());
    }

    #[test]
    fn an_unknown_key_or_kind_is_refused() {
        let bad = ROLLBACK.replace("kind = \"run\"", "kind = \"shell\"");
        assert!(toml::from_str::<Procedure>(&bad).is_err());
        let bad = ROLLBACK.replace("timeout = \"30s\"", "timeout = \"30s\"\nretries = 3");
        assert!(toml::from_str::<Procedure>(&bad).is_err());
    }

    #[test]
    fn an_empty_argv_names_its_step() {
        let p = procedure(&ROLLBACK.replace(r#"["systemctl", "restart", "bot@{previous}"]"#, "[]"));
        assert_eq!(p.check(), Err("step 2 (restart): argv is empty".into()));
    }
}
