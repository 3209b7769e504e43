//! `{name}` substitution inside argv elements, URLs, env values and JSON string values.
//!
//! A value is inserted as text into one element; it can never split into several
//! arguments, reach a shell or change the JSON's structure. An unknown name is an
//! error before anything runs.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Action;

pub type Vars = BTreeMap<String, String>;

/// The variables a rollback or promotion run always has (see `rollout::rollback::vars`).
const RUN_VARS: [&str; 3] = ["target", "previous", "release"];

/// A run's inputs: the variables it records, and the secrets it never records.
///
/// Secrets come from the environment (the names a procedure lists in `secrets`), fill
/// `{secret.NAME}`, and are cut out of every command, output line and error before any
/// of it is shown or stored.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub vars: Vars,
    secrets: Vars,
}

impl Inputs {
    pub fn new(vars: Vars) -> Self {
        Self {
            vars,
            secrets: Vars::new(),
        }
    }

    /// Reads each named secret through `lookup` (the environment); a missing one is an
    /// error naming it, before anything runs.
    pub fn with_secrets(
        mut self,
        names: &[String],
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        for name in names {
            let value = lookup(name).filter(|v| !v.is_empty()).ok_or_else(|| {
                format!("the secret {name} is not set: export {name}=... before running")
            })?;
            crate::secret::register(&value);
            self.secrets.insert(format!("secret.{name}"), value);
        }
        Ok(self)
    }

    /// Variables and secrets together, for filling an action.
    fn all(&self) -> Vars {
        let mut all = self.vars.clone();
        all.extend(self.secrets.clone());
        all
    }

    /// These inputs with a stand-in for each variable every real run brings (the
    /// rollback target, the release) that a rehearsal was not given: enough to prove
    /// the live form fills without knowing the values.
    pub fn with_run_placeholders(&self) -> Self {
        let mut inputs = self.clone();
        for name in RUN_VARS {
            inputs
                .vars
                .entry(name.to_string())
                .or_insert_with(|| format!("<{name}>"));
        }
        inputs
    }

    /// The action with everything filled.
    pub fn fill(&self, action: &Action) -> Result<Action, String> {
        fill_action(action, &self.all())
    }

    /// `text` with every secret (these among them, in any echoed form) replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        crate::secret::scrub(text).into_owned()
    }
}

/// `text` with every `{name}` replaced; `{{` and `}}` stand for literal braces.
pub fn fill(text: &str, vars: &Vars) -> Result<String, String> {
    fill_with(text, vars, |_, _, value| Ok(value.to_string()))
}

/// A URL template filled so that no value can leave its place: every value is
/// percent-encoded (`../` or `?` in a label stays inside its segment) and a value that
/// is a whole dot segment is refused. Only a configured variable that starts the
/// template (the base, `{admin}/rollback`) goes in as written: it is the operator's.
pub fn fill_url(url: &str, vars: &Vars) -> Result<String, String> {
    fill_with(url, vars, |at, name, value| {
        if at == 0 && !RUN_VARS.contains(&name) && !name.starts_with("secret.") {
            return Ok(value.to_string());
        }
        if value == "." || value == ".." {
            return Err(format!(
                "{{{name}}} is {value:?}, which would climb out of the URL's path; refused"
            ));
        }
        Ok(crate::text::url_component(value))
    })
}

/// [`fill`] with each value passed through `place(offset in the template, name, value)`.
fn fill_with(
    text: &str,
    vars: &Vars,
    place: impl Fn(usize, &str, &str) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            return Err(format!("a lone '}}' in {text:?} (write '}}}}')"));
        }
        let end = tail
            .find('}')
            .ok_or_else(|| format!("an unclosed '{{' in {text:?}"))?;
        let name = &tail[1..end];
        let value = vars
            .get(name)
            .ok_or_else(|| format!("unknown variable {{{name}}} (known: {})", known(vars)))?;
        out.push_str(&place(text.len() - tail.len(), name, value)?);
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn known(vars: &Vars) -> String {
    vars.keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// JSON with variables filled in string values (and object keys) only.
pub fn fill_json(value: &Value, vars: &Vars) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(fill(s, vars)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| fill_json(v, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                out.insert(fill(k, vars)?, fill_json(v, vars)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// The action with every variable filled, or the first unknown one.
pub fn fill_action(action: &Action, vars: &Vars) -> Result<Action, String> {
    Ok(match action {
        Action::Run { argv, env, dir } => Action::Run {
            argv: argv
                .iter()
                .map(|a| fill(a, vars))
                .collect::<Result<_, _>>()?,
            env: env
                .iter()
                .map(|(k, v)| Ok((k.clone(), fill(v, vars)?)))
                .collect::<Result<_, String>>()?,
            dir: dir.clone(),
        },
        Action::Http {
            method,
            url,
            headers,
            body,
            expect_status,
        } => Action::Http {
            method: method.clone(),
            url: fill_url(url, vars)?,
            headers: headers
                .iter()
                .map(|(k, v)| Ok((k.clone(), fill(v, vars)?)))
                .collect::<Result<_, String>>()?,
            body: body.as_ref().map(|b| fill_json(b, vars)).transpose()?,
            expect_status: *expect_status,
        },
        Action::Confirm { question } => Action::Confirm {
            question: fill(question, vars)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_fill_and_braces_escape() {
        let v = vars(&[("previous", "v2")]);
        assert_eq!(fill("bot@{previous}", &v).unwrap(), "bot@v2");
        assert_eq!(fill("{{literal}}", &v).unwrap(), "{literal}");
        assert!(
            fill("{nope}", &v)
                .unwrap_err()
                .contains("unknown variable {nope}")
        );
        assert!(fill("{open", &v).is_err());
    }

    #[test]
    fn hostile_values_stay_one_literal_argument() {
        let hostile = "v2\"; rm -rf / ; echo $(id)\n`reboot`";
        let v = vars(&[("previous", hostile)]);
        let action = Action::Run {
            argv: vec!["deploy".into(), "--to={previous}".into()],
            env: Default::default(),
            dir: None,
        };
        let Action::Run { argv, .. } = fill_action(&action, &v).unwrap() else {
            unreachable!()
        };
        assert_eq!(argv, ["deploy".to_string(), format!("--to={hostile}")]);
    }

    #[test]
    fn secrets_fill_but_are_redacted_and_never_recorded_as_vars() {
        let env = |name: &str| (name == "DEPLOY_TOKEN").then(|| "tok-5ecret".to_string());
        let inputs = Inputs::new(vars(&[("target", "v2")]))
            .with_secrets(&["DEPLOY_TOKEN".into()], env)
            .unwrap();
        let action = Action::Run {
            argv: vec!["deploy".into(), "--token={secret.DEPLOY_TOKEN}".into()],
            env: Default::default(),
            dir: None,
        };
        let Action::Run { argv, .. } = inputs.fill(&action).unwrap() else {
            unreachable!()
        };
        assert_eq!(argv[1], "--token=tok-5ecret");
        assert_eq!(inputs.redact("echo tok-5ecret done"), "echo *** done");
        assert_eq!(
            inputs.vars.len(),
            1,
            "secrets stay out of the recorded vars"
        );
        let missing = Inputs::new(Vars::new()).with_secrets(&["NOPE".into()], env);
        assert!(missing.unwrap_err().contains("NOPE is not set"));
    }

    #[test]
    fn url_values_stay_inside_their_segment() {
        let v = vars(&[
            ("release", "../../../../tmp/x"),
            ("admin", "http://h:1/api"),
            ("q", "a&b=c d"),
        ]);
        let url = fill_url("{admin}/admin/{release}/x?who={q}", &v).unwrap();
        assert_eq!(
            url,
            "http://h:1/api/admin/..%2F..%2F..%2F..%2Ftmp%2Fx/x?who=a%26b%3Dc%20d"
        );
        let parsed = reqwest::Url::parse(&url).unwrap();
        assert_eq!(parsed.path(), "/api/admin/..%2F..%2F..%2F..%2Ftmp%2Fx/x");
        // A run variable is traffic's even at the start; a dot segment is refused.
        assert_eq!(
            fill_url("{release}", &v).unwrap(),
            "..%2F..%2F..%2F..%2Ftmp%2Fx"
        );
        for dots in [".", ".."] {
            let err = fill_url("http://h/{release}/x", &vars(&[("release", dots)])).unwrap_err();
            assert!(
                err.contains("{release}") && err.contains("refused"),
                "{err}"
            );
        }
    }

    #[test]
    fn json_values_cannot_change_the_structure() {
        let v = vars(&[("previous", "\", \"admin\": true, \"x\": \"")]);
        let body = json!({"version": "{previous}", "n": 1});
        let filled = fill_json(&body, &v).unwrap();
        assert_eq!(filled["version"], v["previous"]);
        assert_eq!(filled.as_object().unwrap().len(), 2, "{filled}");
    }
}
