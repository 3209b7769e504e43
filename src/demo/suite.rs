//! The demo's regression suite: twenty case files in `evals/cases/`, chosen by running
//! candidate inputs through the simulated workflow ([`super::workflow::execute`], the
//! same function the demo server answers with) so that the gate tells the demo's story:
//!
//! - `relops gate --candidate v3 --baseline v2` holds: v3's prompt refuses refund
//!   requests that v2 answers (three must-pass cases) and its refund tool 2.2.0 fails
//!   where 2.1.0 worked (one must-pass case); an account question and a refund latency
//!   budget regress too (not must-pass), which drops the pass rate;
//! - `relops gate --candidate v2 --baseline v1` ships: v2 passes everything v1 passes,
//!   and one latency budget that v1 misses is a fix.
//!
//! The rest pass everywhere: order lookups with latency and cost budgets, a JSON answer,
//! answers similar to a reference, refusals of abusive requests (must-pass).
//!
//! Inputs are searched in a fixed order, so the suite is the same on every machine.
//! Reopening a demo writes only the files that are missing: an edited case is kept.

use std::path::Path;

use serde_json::json;

use super::workflow::{self, ABUSE, COUNTRIES, Execution, PRODUCTS, Step};
use crate::cases::{self, Assertion, Case, Suite};

/// The three releases' answers to one input.
struct Runs {
    input: String,
    v1: Execution,
    v2: Execution,
    v3: Execution,
}

impl Runs {
    fn new(input: String) -> Self {
        let on = |label| workflow::execute(workflow::release(label).expect("demo release"), &input);
        Self {
            v1: on("v1"),
            v2: on("v2"),
            v3: on("v3"),
            input,
        }
    }

    fn all(&self) -> [&Execution; 3] {
        [&self.v1, &self.v2, &self.v3]
    }

    fn max_ms(&self, of: &[&Execution]) -> f64 {
        of.iter().map(|e| e.total_ms).fold(0.0, f64::max)
    }
}

/// Answered without refusal, workflow failure or failed tool call.
fn clean(e: &Execution) -> bool {
    !e.refusal && e.failed.is_none() && !tool_failed(e, None)
}

fn tool_failed(e: &Execution, tool: Option<&str>) -> bool {
    e.steps.iter().any(
        |s| matches!(s, Step::Tool { name, error: Some(_), .. } if tool.is_none_or(|t| t == *name)),
    )
}

fn cost(e: &Execution) -> f64 {
    e.tokens().2
}

/// Rounded up to a multiple of `step`.
fn ceil_to(x: f64, step: f64) -> f64 {
    (x / step).ceil() * step
}

/// Deterministic order numbers: A100003, A107922, ...
fn order(n: usize) -> String {
    format!("A{:06}", 100_000 + (n * 7_919 + 3) % 900_000)
}

fn refund_input(n: usize) -> String {
    let (o, p) = (order(n), PRODUCTS[n % PRODUCTS.len()]);
    match n % 3 {
        0 => format!("I want a refund for order {o}, the {p} arrived broken."),
        1 => format!("Please refund order {o}; I returned the {p} last week."),
        _ => format!("Can I get my money back for {o}? The {p} stopped working."),
    }
}

fn order_input(n: usize) -> String {
    let o = order(n);
    match n % 3 {
        0 => format!("Where is my order #{o}?"),
        1 => format!("Has order {o} shipped yet?"),
        _ => format!("My package {o} is late, what is going on?"),
    }
}

/// The first `count` inputs (from `make(0..)`, in order) whose runs satisfy `keep`,
/// skipping inputs already used.
fn find(
    used: &mut Vec<String>,
    count: usize,
    make: impl Fn(usize) -> String,
    keep: impl Fn(&Runs) -> bool,
) -> Vec<Runs> {
    let mut out = Vec::new();
    for n in 0..20_000 {
        if out.len() == count {
            break;
        }
        let input = make(n);
        if used.contains(&input) {
            continue;
        }
        let runs = Runs::new(input);
        if keep(&runs) {
            used.push(runs.input.clone());
            out.push(runs);
        }
    }
    assert_eq!(out.len(), count, "the demo workflow offers enough inputs");
    out
}

/// The order number an input names (as the workflow reads it).
fn order_of(input: &str) -> &str {
    input
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.len() == 7 && w.starts_with('A'))
        .unwrap_or("A000000")
}

fn tool_with_order(name: &str, input: &str) -> Assertion {
    Assertion::ToolCalled {
        name: name.into(),
        args: Some(json!({ "order_id": order_of(input) })),
    }
}

/// A case before its id and date.
struct Draft {
    /// Stable across versions of this file: the case id derives from it.
    key: String,
    title: String,
    input: String,
    reference: Option<String>,
    assertions: Vec<Assertion>,
    must_pass: bool,
    tags: &'static [&'static str],
}

/// The suite's cases, dated `created_at` (RFC 3339).
pub fn cases(created_at: &str) -> Vec<Case> {
    let mut used = Vec::new();
    let mut drafts: Vec<Draft> = Vec::new();
    let keys = |prefix: &str, i: usize| format!("{prefix}-{}", i + 1);

    // v3's prompt refuses refunds v2 handles: the incident the demo is about.
    for (i, r) in find(&mut used, 3, refund_input, |r| {
        clean(&r.v1) && clean(&r.v2) && r.v3.refusal
    })
    .into_iter()
    .enumerate()
    {
        drafts.push(Draft {
            key: keys("refund-not-refused", i),
            title: format!(
                "Refund for order {} is handled, not refused",
                order_of(&r.input)
            ),
            assertions: vec![Assertion::NotRefusal, tool_with_order("refund", &r.input)],
            input: r.input,
            reference: None,
            must_pass: true,
            tags: &["demo", "refund", "refusal"],
        });
    }
    // v3's refund tool 2.2.0 fails where 2.1.0 worked (and the workflow still answers).
    for r in find(&mut used, 1, refund_input, |r| {
        clean(&r.v1)
            && clean(&r.v2)
            && !r.v3.refusal
            && r.v3.failed.is_none()
            && tool_failed(&r.v3, Some("refund"))
    }) {
        drafts.push(Draft {
            key: "refund-tool-no-errors".into(),
            title: format!(
                "Refund for order {} runs the refund tool without errors",
                order_of(&r.input)
            ),
            assertions: vec![
                tool_with_order("refund", &r.input),
                Assertion::NoToolErrors,
                Assertion::Icontains {
                    value: "is approved".into(),
                    not: false,
                },
            ],
            input: r.input,
            reference: None,
            must_pass: true,
            tags: &["demo", "refund", "tool-error"],
        });
    }
    // A refund within a latency budget v1 and v2 meet and v3's slower tool misses.
    for r in find(&mut used, 1, refund_input, |r| {
        r.all().iter().all(|e| clean(e))
            && r.v3.total_ms > ceil_to(r.max_ms(&[&r.v1, &r.v2]) * 1.2, 100.0)
    }) {
        let ms = ceil_to(r.max_ms(&[&r.v1, &r.v2]) * 1.2, 100.0);
        drafts.push(Draft {
            key: "refund-latency".into(),
            title: format!(
                "Refund for order {} is approved within {ms:.0} ms",
                order_of(&r.input)
            ),
            assertions: vec![
                tool_with_order("refund", &r.input),
                Assertion::Contains {
                    value: "is approved".into(),
                    not: false,
                },
                Assertion::MaxLatencyMs { ms },
            ],
            input: r.input,
            reference: None,
            must_pass: false,
            tags: &["demo", "refund", "latency"],
        });
    }
    // Refunds every version handles.
    for (i, r) in find(&mut used, 2, refund_input, |r| {
        r.all().iter().all(|e| clean(e))
    })
    .into_iter()
    .enumerate()
    {
        drafts.push(Draft {
            key: keys("refund-approved", i),
            title: format!("Refund for order {} is approved", order_of(&r.input)),
            assertions: vec![
                tool_with_order("refund", &r.input),
                Assertion::NoToolErrors,
                Assertion::Regex {
                    pattern: r"refund for order A\d{6} is approved".into(),
                    not: false,
                },
            ],
            input: r.input,
            reference: None,
            must_pass: false,
            tags: &["demo", "refund"],
        });
    }
    // Order lookups with latency and cost budgets (a quarter above the slowest and
    // dearest version).
    for (i, r) in find(&mut used, 3, order_input, |r| {
        r.all().iter().all(|e| clean(e))
    })
    .into_iter()
    .enumerate()
    {
        let ms = ceil_to(r.max_ms(&r.all()) * 1.25, 100.0);
        let usd = ceil_to(
            r.all().iter().map(|e| cost(e)).fold(0.0, f64::max) * 1.25,
            1e-5,
        );
        let usd = (usd * 1e5).round() / 1e5;
        drafts.push(Draft {
            key: keys("order-lookup", i),
            title: format!(
                "Order {} is looked up within {ms:.0} ms and ${usd}",
                order_of(&r.input)
            ),
            assertions: vec![
                tool_with_order("order_lookup", &r.input),
                Assertion::ToolNotCalled {
                    name: "refund".into(),
                    args: None,
                },
                Assertion::Regex {
                    pattern: r"arrive in about \d+ days".into(),
                    not: false,
                },
                Assertion::MaxLatencyMs { ms },
                Assertion::MaxCostUsd { usd },
            ],
            input: r.input,
            reference: None,
            must_pass: i == 0,
            tags: &["demo", "order", "budget"],
        });
    }
    // An integration that wants JSON.
    for r in find(
        &mut used,
        1,
        |n| format!("Reply in JSON only: has order {} shipped?", order(n)),
        |r| r.all().iter().all(|e| clean(e)),
    ) {
        let order = order_of(&r.input).to_string();
        drafts.push(Draft {
            key: "order-json".into(),
            title: format!("Order {order} status as JSON for an integration"),
            assertions: vec![
                Assertion::IsJson,
                Assertion::JsonPointerEquals {
                    pointer: "/status".into(),
                    value: json!("in transit"),
                },
                Assertion::JsonPointerEquals {
                    pointer: "/order_id".into(),
                    value: json!(order),
                },
            ],
            input: r.input,
            reference: None,
            must_pass: false,
            tags: &["demo", "order", "json"],
        });
    }
    // Abuse is refused, whatever the version (safety: must-pass).
    for (i, (what, abuse)) in [("Phishing email", ABUSE[0]), ("Fake receipt", ABUSE[3])]
        .into_iter()
        .enumerate()
    {
        drafts.push(Draft {
            key: keys("abuse-refused", i),
            title: format!("{what} request is refused"),
            input: abuse.to_string(),
            reference: None,
            assertions: vec![
                Assertion::Refusal,
                Assertion::ToolNotCalled {
                    name: "refund".into(),
                    args: None,
                },
                Assertion::MaxOutputTokens { tokens: 60 },
            ],
            must_pass: true,
            tags: &["demo", "safety"],
        });
    }
    // Product questions answered like the known good answer (v2's).
    for (i, r) in find(
        &mut used,
        2,
        |n| {
            let p = PRODUCTS[n % PRODUCTS.len()];
            if n % 2 == 0 {
                format!("What is the warranty on the {p}?")
            } else {
                format!("Is the {p} available in other colours?")
            }
        },
        |r| r.all().iter().all(|e| clean(e)),
    )
    .into_iter()
    .enumerate()
    {
        drafts.push(Draft {
            key: keys("product-reference", i),
            title: format!(
                "Question on the {} answered as before",
                product_of(&r.input)
            ),
            assertions: vec![
                Assertion::NotRefusal,
                Assertion::SimilarToReference { threshold: 0.8 },
                Assertion::ToolNotCalled {
                    name: "order_lookup".into(),
                    args: None,
                },
            ],
            reference: Some(r.v2.output.clone()),
            input: r.input,
            must_pass: false,
            tags: &["demo", "product", "reference"],
        });
    }
    // v2's faster model meets a budget v1 missed: a fix in the v2 gate.
    for r in find(
        &mut used,
        1,
        |n| {
            let p = PRODUCTS[n % PRODUCTS.len()];
            match (n / PRODUCTS.len()) % 5 {
                0 => format!("How do I clean the {p}?"),
                1 => format!("How should I store the {p} in winter?"),
                2 => format!("Does the {p} come with a manual?"),
                3 => format!("What is the {p} made of?"),
                _ => format!("Can I use the {p} outdoors?"),
            }
        },
        |r| {
            let ms = ceil_to(r.max_ms(&[&r.v2, &r.v3]), 100.0);
            r.all().iter().all(|e| clean(e)) && r.v1.total_ms > ms
        },
    ) {
        let ms = ceil_to(r.max_ms(&[&r.v2, &r.v3]), 100.0);
        drafts.push(Draft {
            key: "product-latency".into(),
            title: format!(
                "Question on the {} answered within {ms:.0} ms",
                product_of(&r.input)
            ),
            assertions: vec![
                Assertion::NotRefusal,
                Assertion::Icontains {
                    value: "warranty".into(),
                    not: false,
                },
                Assertion::MaxLatencyMs { ms },
            ],
            input: r.input,
            reference: None,
            must_pass: false,
            tags: &["demo", "product", "latency"],
        });
    }
    // Shipping questions.
    for (i, r) in find(
        &mut used,
        2,
        |n| {
            let c = COUNTRIES[n % COUNTRIES.len()];
            if n % 2 == 0 {
                format!("Do you ship to {c}?")
            } else {
                format!("How long does express shipping to {c} take?")
            }
        },
        |r| r.all().iter().all(|e| clean(e)),
    )
    .into_iter()
    .enumerate()
    {
        drafts.push(Draft {
            key: keys("shipping", i),
            title: format!("Shipping to {} question is answered", country_of(&r.input)),
            assertions: vec![
                Assertion::NotRefusal,
                Assertion::Icontains {
                    value: "business days".into(),
                    not: false,
                },
                Assertion::Contains {
                    value: "support@example.com".into(),
                    not: true,
                },
            ],
            input: r.input,
            reference: None,
            must_pass: false,
            tags: &["demo", "shipping"],
        });
    }
    // Account questions: one v3 over-refuses (a regression, not must-pass), one it
    // answers.
    let account = |n: usize| {
        format!(
            "How do I change the email on my account? (order {})",
            order(n)
        )
    };
    for (i, v3_refuses) in [true, false].into_iter().enumerate() {
        for r in find(&mut used, 1, account, |r| {
            clean(&r.v1) && clean(&r.v2) && r.v3.refusal == v3_refuses
        }) {
            drafts.push(Draft {
                key: keys("account-email", i),
                title: format!(
                    "Email change on the account answered (order {})",
                    order_of(&r.input)
                ),
                assertions: vec![
                    Assertion::NotRefusal,
                    Assertion::Contains {
                        value: "Settings > Account".into(),
                        not: false,
                    },
                ],
                input: r.input,
                reference: None,
                must_pass: false,
                tags: &["demo", "account"],
            });
        }
    }

    drafts
        .into_iter()
        .map(|d| {
            let mut tags: Vec<String> = d.tags.iter().map(|t| t.to_string()).collect();
            if d.must_pass {
                tags.push("must-pass".into());
            }
            Case {
                id: cases::short_id(&format!("relops-demo-suite:{}", d.key)),
                title: d.title,
                created_at: created_at.to_string(),
                source: None,
                incident: None,
                input: d.input,
                reference: d.reference,
                assertions: d.assertions,
                must_pass: d.must_pass,
                tags,
            }
        })
        .collect()
}

/// The product an input names.
fn product_of(input: &str) -> &'static str {
    PRODUCTS
        .iter()
        .find(|p| input.contains(*p))
        .copied()
        .unwrap_or("product")
}

/// The country an input names.
fn country_of(input: &str) -> &'static str {
    COUNTRIES
        .iter()
        .find(|c| input.contains(*c))
        .copied()
        .unwrap_or("abroad")
}

/// Writes the suite's cases that are missing from `dir`: a case whose id a file already
/// holds, or whose file name exists (even unreadable, perhaps mid-edit), is left alone.
/// How many files were written.
pub fn write_missing(dir: &Path, created_at: &str) -> std::io::Result<usize> {
    let existing = Suite::load(dir);
    let mut written = 0;
    for case in cases(created_at) {
        let taken = existing.cases.iter().any(|l| l.case.id == case.id)
            || dir.join(cases::file_name(&case)).exists();
        if !taken {
            cases::save(dir, &case)?;
            written += 1;
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suite_is_stable_and_valid() {
        let a = cases("2026-11-20T12:00:00Z");
        assert_eq!(a, cases("2026-11-20T12:00:00Z"), "deterministic");
        assert_eq!(a.len(), 20);
        let must: Vec<&str> = a
            .iter()
            .filter(|c| c.must_pass)
            .map(|c| c.title.as_str())
            .collect();
        assert_eq!(must.len(), 7, "{must:?}");
        let mut ids: Vec<&str> = a.iter().map(|c| c.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 20);
        for c in &a {
            cases::validate(c).unwrap_or_else(|e| panic!("{}: {e:?}", c.title));
        }
    }

    #[test]
    fn only_missing_files_are_written() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            write_missing(dir.path(), "2026-11-20T12:00:00Z").unwrap(),
            20
        );
        let suite = Suite::load(dir.path());
        assert_eq!((suite.cases.len(), suite.errors.len()), (20, 0));
        // An edited case (title changed, file renamed) and a deleted one.
        let edited = &suite.cases[0];
        let mut case = edited.case.clone();
        case.title = "my own words".into();
        std::fs::remove_file(&edited.path).unwrap();
        cases::save(dir.path(), &case).unwrap();
        std::fs::remove_file(&suite.cases[1].path).unwrap();
        assert_eq!(
            write_missing(dir.path(), "2026-11-20T12:00:00Z").unwrap(),
            1
        );
        let again = Suite::load(dir.path());
        assert_eq!(again.cases.len(), 20);
        assert!(again.cases.iter().any(|l| l.case.title == "my own words"));
    }
}
