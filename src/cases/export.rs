//! `relops case export --format promptfoo`: the suite as a promptfoo config (`tests`,
//! each with `vars.input` and `assert`), for the assertions promptfoo can check itself.
//! The result is JSON, which is also valid YAML (save it as `promptfooconfig.yaml`).
//!
//! | relops                        | promptfoo                                  |
//! |-------------------------------|--------------------------------------------|
//! | equals                        | equals                                     |
//! | contains / icontains / regex  | same name; `not: true` → `not-` prefix      |
//! | is_json                       | is-json                                    |
//! | max_latency_ms                | latency (`threshold` in ms)                |
//! | max_cost_usd                  | cost (`threshold` in USD)                  |
//! | similar_to_reference          | similar (embedding similarity, not relops' word ratio) |
//!
//! Not exported (listed instead): json_pointer_equals, refusal, not_refusal,
//! tool_called, tool_not_called, no_tool_errors, max_output_tokens.

use serde::Serialize;
use serde_json::{Value, json};

use super::{Assertion, Loaded};

/// An assertion left out, and where.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub case: String,
    pub assertion: String,
}

/// The promptfoo config and what could not be expressed in it.
pub fn promptfoo(cases: &[Loaded]) -> (Value, Vec<Skipped>) {
    let mut skipped = Vec::new();
    let tests: Vec<Value> = cases
        .iter()
        .map(|l| {
            let c = &l.case;
            let asserts: Vec<Value> = c
                .assertions
                .iter()
                .filter_map(|a| {
                    let mapped = map(a, c.reference.as_deref());
                    if mapped.is_none() {
                        skipped.push(Skipped {
                            case: c.id.clone(),
                            assertion: a.describe(),
                        });
                    }
                    mapped
                })
                .collect();
            json!({
                "description": format!("{} {}{}", c.id, c.title,
                    if c.must_pass { " [must-pass]" } else { "" }),
                "vars": {"input": c.input},
                "assert": asserts,
                "metadata": {"relops_case": c.id, "must_pass": c.must_pass,
                             "incident": c.incident, "tags": c.tags},
            })
        })
        .collect();
    let config = json!({
        "description": "relops regression suite (exported by `relops case export`)",
        "prompts": ["{{input}}"],
        "tests": tests,
    });
    (config, skipped)
}

fn map(a: &Assertion, reference: Option<&str>) -> Option<Value> {
    let neg = |not: bool, name: &str| {
        if not {
            format!("not-{name}")
        } else {
            name.to_string()
        }
    };
    Some(match a {
        Assertion::Equals { value } => json!({"type": "equals", "value": value}),
        Assertion::Contains { value, not } => {
            json!({"type": neg(*not, "contains"), "value": value})
        }
        Assertion::Icontains { value, not } => {
            json!({"type": neg(*not, "icontains"), "value": value})
        }
        Assertion::Regex { pattern, not } => json!({"type": neg(*not, "regex"), "value": pattern}),
        Assertion::IsJson => json!({"type": "is-json"}),
        Assertion::MaxLatencyMs { ms } => json!({"type": "latency", "threshold": ms}),
        Assertion::MaxCostUsd { usd } => json!({"type": "cost", "threshold": usd}),
        Assertion::SimilarToReference { threshold } => {
            json!({"type": "similar", "value": reference?, "threshold": threshold})
        }
        Assertion::JsonPointerEquals { .. }
        | Assertion::Refusal
        | Assertion::NotRefusal
        | Assertion::ToolCalled { .. }
        | Assertion::ToolNotCalled { .. }
        | Assertion::NoToolErrors
        | Assertion::MaxOutputTokens { .. } => return None,
    })
}
