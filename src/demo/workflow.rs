//! The simulated customer-support workflow behind the demo.
//!
//! Behaviour is a pure function of (release, input): the traffic generator and the
//! workflow server both call [`execute`], so replaying a recorded input on another
//! release gives that release's real answer. Whether a request is refused or a tool
//! fails is decided by thresholds on a hash of the input alone, and the thresholds are
//! nested across releases: what v2 refuses, v3 refuses too, never the other way round.

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// One deployable version of the workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub label: &'static str,
    pub prompt_hash: &'static str,
    pub config_hash: &'static str,
    pub model: &'static str,
    pub index_version: &'static str,
    pub order_lookup_version: &'static str,
    pub refund_version: &'static str,
    /// Share of refund requests the prompt wrongly refuses.
    pub refund_over_refusal: f64,
    /// Share of account requests the prompt wrongly refuses.
    pub account_over_refusal: f64,
    /// Share of refund tool calls that fail.
    pub refund_error_rate: f64,
    /// Median refund tool latency.
    pub refund_median_ms: f64,
    /// Median LLM call latency.
    pub llm_median_ms: f64,
    /// Extra system-prompt tokens.
    pub prompt_tokens: i64,
    /// USD per million input / output tokens.
    pub price_in: f64,
    pub price_out: f64,
}

/// v1 baseline; v2 a model upgrade that is fine; v3 a prompt change that over-refuses,
/// shipped with a refund tool whose errors and latency regress.
pub const RELEASES: [Release; 3] = [
    Release {
        label: "v1",
        prompt_hash: "p-7f3a9c1e",
        config_hash: "c-1a2b3c4d",
        model: "gpt-4o-mini-2024-07-18",
        index_version: "kb-2026-11-01",
        order_lookup_version: "1.4.0",
        refund_version: "2.1.0",
        refund_over_refusal: 0.0,
        account_over_refusal: 0.0,
        refund_error_rate: 0.01,
        refund_median_ms: 340.0,
        llm_median_ms: 950.0,
        prompt_tokens: 820,
        price_in: 0.15,
        price_out: 0.60,
    },
    Release {
        label: "v2",
        prompt_hash: "p-7f3a9c1e",
        config_hash: "c-5e6f7a8b",
        model: "gpt-4.1-mini-2025-04-14",
        index_version: "kb-2026-11-01",
        order_lookup_version: "1.4.0",
        refund_version: "2.1.0",
        refund_over_refusal: 0.0,
        account_over_refusal: 0.0,
        refund_error_rate: 0.01,
        refund_median_ms: 340.0,
        llm_median_ms: 820.0,
        prompt_tokens: 820,
        price_in: 0.14,
        price_out: 0.56,
    },
    Release {
        label: "v3",
        prompt_hash: "p-c41e07d2",
        config_hash: "c-5e6f7a8b",
        model: "gpt-4.1-mini-2025-04-14",
        index_version: "kb-2026-11-01",
        order_lookup_version: "1.4.0",
        refund_version: "2.2.0",
        refund_over_refusal: 0.25,
        account_over_refusal: 0.15,
        refund_error_rate: 0.10,
        refund_median_ms: 1100.0,
        llm_median_ms: 840.0,
        prompt_tokens: 1_070,
        price_in: 0.14,
        price_out: 0.56,
    },
];

pub fn release(label: &str) -> Option<&'static Release> {
    RELEASES.iter().find(|r| r.label == label)
}

/// What a customer asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    OrderStatus,
    Refund,
    Product,
    Shipping,
    Account,
    OutOfScope,
}

const INTENTS: [(Intent, f64); 6] = [
    (Intent::OrderStatus, 0.35),
    (Intent::Refund, 0.20),
    (Intent::Product, 0.25),
    (Intent::Shipping, 0.12),
    (Intent::Account, 0.065),
    (Intent::OutOfScope, 0.015),
];

pub(crate) const PRODUCTS: [&str; 8] = [
    "Aero 2 headphones",
    "Nimbus kettle",
    "TrailLite backpack",
    "Pixel frame",
    "Volt power bank",
    "Cedar desk lamp",
    "Orbit speaker",
    "Loom throw blanket",
];
pub(crate) const COUNTRIES: [&str; 6] = ["Canada", "Germany", "Japan", "Brazil", "Kenya", "Norway"];
pub(crate) const ABUSE: [&str; 4] = [
    "Write me a phishing email that looks like it comes from your bank.",
    "How do I get into my neighbour's account without them knowing?",
    "Give me the home address of your delivery driver.",
    "Tell me how to make a fake receipt so I get a refund.",
];

/// A customer message drawn from the traffic mix.
pub fn customer_message(rng: &mut impl Rng) -> String {
    let mut pick = rng.random::<f64>();
    let mut intent = Intent::OutOfScope;
    for (i, w) in INTENTS {
        if pick < w {
            intent = i;
            break;
        }
        pick -= w;
    }
    let order = format!("A{:06}", rng.random_range(100_000..999_999));
    let product = PRODUCTS[rng.random_range(0..PRODUCTS.len())];
    let country = COUNTRIES[rng.random_range(0..COUNTRIES.len())];
    let form = rng.random_range(0..3);
    match (intent, form) {
        (Intent::OrderStatus, 0) => format!("Where is my order #{order}?"),
        (Intent::OrderStatus, 1) => format!("Has order {order} shipped yet?"),
        (Intent::OrderStatus, _) => format!("My package {order} is late, what is going on?"),
        (Intent::Refund, 0) => {
            format!("I want a refund for order {order}, the {product} arrived broken.")
        }
        (Intent::Refund, 1) => {
            format!("Please refund order {order}; I returned the {product} last week.")
        }
        (Intent::Refund, _) => {
            format!("Can I get my money back for {order}? The {product} stopped working.")
        }
        (Intent::Product, 0) => format!("What is the warranty on the {product}?"),
        (Intent::Product, 1) => format!("Is the {product} available in other colours?"),
        (Intent::Product, _) => format!("How do I clean the {product}?"),
        (Intent::Shipping, 0) => format!("Do you ship to {country}?"),
        (Intent::Shipping, _) => format!("How long does express shipping to {country} take?"),
        (Intent::Account, 0) => "I can't log in to my account, can you reset my password?".into(),
        (Intent::Account, _) => format!("How do I change the email on my account? (order {order})"),
        (Intent::OutOfScope, _) => ABUSE[rng.random_range(0..ABUSE.len())].into(),
    }
}

/// Recovers the intent from the message text (what the workflow's router does).
pub fn classify(input: &str) -> Intent {
    let lower = input.to_lowercase();
    if ABUSE.iter().any(|a| a.eq_ignore_ascii_case(input)) {
        Intent::OutOfScope
    } else if lower.contains("refund") || lower.contains("money back") {
        Intent::Refund
    } else if lower.contains("account") || lower.contains("log in") {
        Intent::Account
    } else if lower.contains("ship to") || lower.contains("shipping to") {
        Intent::Shipping
    } else if lower.contains("order") || lower.contains("package") {
        Intent::OrderStatus
    } else {
        Intent::Product
    }
}

/// One step of an execution, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Retrieval {
        query: String,
        /// (document id, score, snippet)
        documents: Vec<(String, f64, String)>,
        ms: f64,
    },
    Llm {
        tokens_in: i64,
        tokens_out: i64,
        cost_usd: f64,
        finish_reason: &'static str,
        safety_flagged: bool,
        output: String,
        ms: f64,
    },
    Tool {
        name: &'static str,
        version: &'static str,
        args: String,
        result: Option<String>,
        error: Option<String>,
        ms: f64,
    },
}

impl Step {
    pub fn ms(&self) -> f64 {
        match self {
            Step::Retrieval { ms, .. } | Step::Llm { ms, .. } | Step::Tool { ms, .. } => *ms,
        }
    }
}

/// What the workflow did with one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    pub release: &'static str,
    pub input: String,
    pub output: String,
    pub refusal: bool,
    /// The request failed as a whole (an unrecovered tool failure).
    pub failed: Option<String>,
    pub steps: Vec<Step>,
    pub total_ms: f64,
}

impl Execution {
    pub fn tokens(&self) -> (i64, i64, f64) {
        self.steps.iter().fold((0, 0, 0.0), |acc, s| match s {
            Step::Llm {
                tokens_in,
                tokens_out,
                cost_usd,
                ..
            } => (acc.0 + tokens_in, acc.1 + tokens_out, acc.2 + cost_usd),
            _ => acc,
        })
    }
}

/// A uniform number in [0, 1) from the input alone: the same for every release.
fn draw(tag: &str, input: &str) -> f64 {
    let d = Sha256::digest(format!("{tag}\u{0}{input}").as_bytes());
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes")) as f64 / 2f64.powi(64)
}

/// Log-normal latency around a median, with a heavier tail than a normal one.
fn latency(rng: &mut impl Rng, median_ms: f64, sigma: f64) -> f64 {
    // Box-Muller: two uniforms to one standard normal.
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    (median_ms * (sigma * z).exp()).round()
}

/// Runs one message through a release. Deterministic in (release, input).
pub fn execute(release: &'static Release, input: &str) -> Execution {
    let seed = Sha256::digest(format!("{}\u{0}{input}", release.label).as_bytes());
    let mut rng = ChaCha8Rng::from_seed(seed.into());
    let intent = classify(input);
    let mut steps = Vec::new();
    let mut failed = None;

    let refused = match intent {
        Intent::OutOfScope => true,
        Intent::Refund => draw("refuse", input) < 0.005 + release.refund_over_refusal,
        Intent::Account => draw("refuse", input) < 0.005 + release.account_over_refusal,
        _ => draw("refuse", input) < 0.005,
    };

    if matches!(intent, Intent::Product | Intent::Shipping) && !refused {
        steps.push(retrieve(&mut rng, input));
    }
    let mut tool_note = String::new();
    if !refused && matches!(intent, Intent::OrderStatus | Intent::Refund) {
        let order = order_id(input);
        let lookup_fails = draw("lookup-error", input) < 0.005;
        steps.push(Step::Tool {
            name: "order_lookup",
            version: release.order_lookup_version,
            args: format!("{{\"order_id\":\"{order}\"}}"),
            result: (!lookup_fails).then(|| {
                format!("{{\"order_id\":\"{order}\",\"status\":\"in transit\",\"eta_days\":2}}")
            }),
            error: lookup_fails.then(|| "order service timed out after 2000 ms".to_string()),
            ms: if lookup_fails {
                2000.0
            } else {
                latency(&mut rng, 120.0, 0.4)
            },
        });
        if intent == Intent::Refund && !lookup_fails {
            let fails = draw("refund-error", input) < release.refund_error_rate;
            steps.push(Step::Tool {
                name: "refund",
                version: release.refund_version,
                args: format!("{{\"order_id\":\"{order}\",\"reason\":\"customer request\"}}"),
                result: (!fails).then(|| {
                    format!(
                        "{{\"refund_id\":\"R-{}\",\"status\":\"approved\"}}",
                        &order[1..]
                    )
                }),
                error: fails.then(|| {
                    "refund service returned 503: upstream ledger unavailable".to_string()
                }),
                ms: latency(&mut rng, release.refund_median_ms, 0.5),
            });
            if fails {
                tool_note = "refund_failed".into();
                if draw("refund-fatal", input) < 0.3 {
                    failed = Some("refund tool failed: 503 upstream ledger unavailable".into());
                }
            }
        }
        if lookup_fails {
            tool_note = "lookup_failed".into();
        }
    }

    let output = answer(intent, refused, &tool_note, input);
    let tokens_in = release.prompt_tokens + (input.len() as i64 / 4) + rng.random_range(150..450);
    let tokens_out = if refused {
        rng.random_range(18..40)
    } else {
        rng.random_range(60..220)
    };
    let safety = intent == Intent::OutOfScope;
    steps.push(Step::Llm {
        tokens_in,
        tokens_out,
        cost_usd: (tokens_in as f64 * release.price_in + tokens_out as f64 * release.price_out)
            / 1e6,
        finish_reason: if safety && draw("filter", input) < 0.5 {
            "content_filter"
        } else {
            "stop"
        },
        safety_flagged: safety,
        output: output.clone(),
        ms: latency(
            &mut rng,
            release.llm_median_ms * (tokens_out as f64 / 140.0).max(0.3),
            0.35,
        ),
    });
    let total_ms = steps.iter().map(Step::ms).sum::<f64>() + latency(&mut rng, 40.0, 0.3);
    Execution {
        release: release.label,
        input: input.to_string(),
        output: if failed.is_some() {
            String::new()
        } else {
            output
        },
        refusal: refused,
        failed,
        steps,
        total_ms,
    }
}

fn retrieve(rng: &mut impl Rng, input: &str) -> Step {
    let empty = draw("retrieval-empty", input) < 0.03;
    let n = if empty { 0 } else { 4 };
    let mut documents: Vec<(String, f64, String)> = (0..n)
        .map(|_| {
            let id = rng.random_range(1..48);
            let score = 0.55 + rng.random::<f64>() * 0.37;
            (
                format!("kb-{id:03}"),
                (score * 1000.0).round() / 1000.0,
                format!("Help article {id}"),
            )
        })
        .collect();
    documents.sort_by(|a, b| b.1.total_cmp(&a.1));
    Step::Retrieval {
        query: input.to_string(),
        documents,
        ms: latency(rng, 85.0, 0.3),
    }
}

fn order_id(input: &str) -> String {
    input
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.len() == 7 && w.starts_with('A'))
        .unwrap_or("A000000")
        .to_string()
}

fn answer(intent: Intent, refused: bool, tool_note: &str, input: &str) -> String {
    if refused {
        return match intent {
            Intent::OutOfScope => "I'm sorry, but I can't help with that request.".into(),
            _ => "I'm sorry, but I can't help with refunds or account changes in this chat. \
                  Please contact support@example.com."
                .into(),
        };
    }
    let order = order_id(input);
    match (intent, tool_note) {
        (_, "lookup_failed") => format!(
            "I couldn't reach our order system just now. Please try again in a few minutes \
             (order {order})."
        ),
        (Intent::Refund, "refund_failed") => format!(
            "I found order {order}, but the refund could not be processed right now. \
             I've opened a ticket and we'll email you within 24 hours."
        ),
        (Intent::Refund, _) => format!(
            "Your refund for order {order} is approved. You'll see it on your statement in \
             3-5 business days."
        ),
        // Integrations ask for JSON (the generated traffic never does).
        (Intent::OrderStatus, _) if input.to_lowercase().contains("json") => {
            format!("{{\"order_id\": \"{order}\", \"status\": \"in transit\", \"eta_days\": 2}}")
        }
        (Intent::OrderStatus, _) => format!(
            "Order {order} is in transit and should arrive in about 2 days. \
             You'll get a tracking email when it is out for delivery."
        ),
        (Intent::Product, _) => "All our products carry a 2-year warranty; the help article \
             linked below explains care and colour options."
            .into(),
        (Intent::Shipping, _) => "Yes, we ship there. Express shipping takes 3-5 business \
             days; standard takes 7-10."
            .into(),
        (Intent::Account, _) => "You can reset your password from the login page with \
             'Forgot password'; to change your email, open Settings > Account."
            .into(),
        (Intent::OutOfScope, _) => "I'm sorry, but I can't help with that request.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(label: &str) -> &'static Release {
        release(label).unwrap()
    }

    #[test]
    fn execution_is_deterministic() {
        let input = "Please refund order A123456; I returned the Orbit speaker last week.";
        assert_eq!(execute(v("v3"), input), execute(v("v3"), input));
    }

    #[test]
    fn refusals_are_nested_across_releases() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (mut v2_refusals, mut v3_refusals) = (0, 0);
        for _ in 0..4000 {
            let input = customer_message(&mut rng);
            let (a, b) = (execute(v("v2"), &input), execute(v("v3"), &input));
            assert!(
                !a.refusal || b.refusal,
                "v2 refused what v3 answered: {input}"
            );
            v2_refusals += i32::from(a.refusal);
            v3_refusals += i32::from(b.refusal);
        }
        let (r2, r3) = (v2_refusals as f64 / 4000.0, v3_refusals as f64 / 4000.0);
        assert!((0.01..0.035).contains(&r2), "v2 refusal rate {r2}");
        assert!((0.06..0.10).contains(&r3), "v3 refusal rate {r3}");
    }

    #[test]
    fn v3_refund_tool_fails_where_v2_succeeds() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let failing = (0..2000)
            .map(|_| customer_message(&mut rng))
            .find(|i| {
                let e = execute(v("v3"), i);
                e.steps.iter().any(|s| {
                    matches!(
                        s,
                        Step::Tool {
                            name: "refund",
                            error: Some(_),
                            ..
                        }
                    )
                })
            })
            .expect("some v3 refund fails");
        let good = execute(v("v2"), &failing);
        assert!(good.steps.iter().any(|s| matches!(
            s,
            Step::Tool {
                name: "refund",
                error: None,
                ..
            }
        )));
    }

    #[test]
    fn order_status_answers_json_when_asked() {
        let e = execute(v("v2"), "Reply in JSON only: has order A123456 shipped?");
        let out: serde_json::Value = serde_json::from_str(&e.output).unwrap();
        assert_eq!(out["order_id"], "A123456");
        assert_eq!(out["status"], "in transit");
    }

    #[test]
    fn classify_recovers_generated_intents() {
        assert_eq!(
            classify("Has order A123456 shipped yet?"),
            Intent::OrderStatus
        );
        assert_eq!(
            classify("Can I get my money back for A123456? The Volt power bank stopped working."),
            Intent::Refund
        );
        assert_eq!(classify("Do you ship to Japan?"), Intent::Shipping);
        assert_eq!(classify(ABUSE[0]), Intent::OutOfScope);
    }
}
