//! Every assertion type, passing and failing, from its JSON form.

use serde_json::json;

use super::*;

fn observed() -> Observed {
    Observed {
        output: Some(
            r#"{"status": "approved", "amount": 42, "note": "Refund of $42 issued"}"#.into(),
        ),
        refusal: false,
        tool_calls: vec![
            ToolCall {
                name: "order_lookup".into(),
                args: Some(r#"{"order_id": "A-1001", "verbose": true}"#.into()),
                error: false,
            },
            ToolCall {
                name: "refund".into(),
                args: Some(r#"{"order_id": "A-1001"}"#.into()),
                error: true,
            },
        ],
        latency_ms: Some(1200.0),
        cost_usd: Some(0.004),
        tokens_out: Some(180),
    }
}

/// Parses an assertion from case-file JSON and evaluates it on [`observed`].
fn check(a: serde_json::Value) -> Verdict {
    check_on(a, &observed(), None)
}

fn check_on(a: serde_json::Value, o: &Observed, reference: Option<&str>) -> Verdict {
    let a: Assertion = serde_json::from_value(a.clone()).unwrap_or_else(|e| panic!("{a}: {e}"));
    // Round trip: what relops writes, it reads back.
    let back: Assertion = serde_json::from_value(serde_json::to_value(&a).unwrap()).unwrap();
    assert_eq!(a, back);
    a.evaluate(o, reference)
}

fn pass(a: serde_json::Value) {
    let v = check(a.clone());
    assert!(v.pass, "{a} should pass: {}", v.reason);
}

fn fail(a: serde_json::Value, reason: &str) {
    let v = check(a.clone());
    assert!(!v.pass, "{a} should fail: {}", v.reason);
    assert!(
        v.reason.contains(reason),
        "{a}: {:?} lacks {reason:?}",
        v.reason
    );
}

#[test]
fn equals() {
    let o = Observed {
        output: Some("  4\n".into()),
        ..Default::default()
    };
    assert!(check_on(json!({"type": "equals", "value": "4"}), &o, None).pass);
    let v = check_on(json!({"type": "equals", "value": "5"}), &o, None);
    assert!(!v.pass && v.reason.contains("is not \"5\""), "{}", v.reason);
}

#[test]
fn contains_and_not() {
    pass(json!({"type": "contains", "value": "Refund of"}));
    fail(json!({"type": "contains", "value": "refund of"}), "lacks");
    pass(json!({"type": "contains", "value": "sorry", "not": true}));
    fail(
        json!({"type": "contains", "value": "Refund", "not": true}),
        "must not",
    );
}

#[test]
fn icontains_and_not() {
    pass(json!({"type": "icontains", "value": "REFUND OF"}));
    fail(json!({"type": "icontains", "value": "declined"}), "lacks");
    pass(json!({"type": "icontains", "value": "SORRY", "not": true}));
    fail(
        json!({"type": "icontains", "value": "APPROVED", "not": true}),
        "must not",
    );
}

#[test]
fn regex_and_not() {
    pass(json!({"type": "regex", "pattern": r"Refund of \$\d+"}));
    fail(
        json!({"type": "regex", "pattern": r"^I'm sorry"}),
        "no match",
    );
    pass(json!({"type": "regex", "pattern": r"(?i)sorry", "not": true}));
    fail(
        json!({"type": "regex", "pattern": r"\$\d+", "not": true}),
        "matched \"$42\"",
    );
}

#[test]
fn is_json_and_pointer() {
    pass(json!({"type": "is_json"}));
    let text = Observed {
        output: Some("plain words".into()),
        ..Default::default()
    };
    assert!(!check_on(json!({"type": "is_json"}), &text, None).pass);
    pass(json!({"type": "json_pointer_equals", "pointer": "/status", "value": "approved"}));
    pass(json!({"type": "json_pointer_equals", "pointer": "/amount", "value": 42}));
    fail(
        json!({"type": "json_pointer_equals", "pointer": "/status", "value": "denied"}),
        "is \"approved\", expected \"denied\"",
    );
    fail(
        json!({"type": "json_pointer_equals", "pointer": "/missing", "value": 1}),
        "nothing at /missing",
    );
}

#[test]
fn refusal_and_not_refusal() {
    pass(json!({"type": "not_refusal"}));
    fail(json!({"type": "refusal"}), "did not refuse");
    let refused = Observed {
        output: Some("I'm sorry, but I can't help with refunds.".into()),
        refusal: true,
        ..Default::default()
    };
    assert!(check_on(json!({"type": "refusal"}), &refused, None).pass);
    let v = check_on(json!({"type": "not_refusal"}), &refused, None);
    assert!(!v.pass && v.reason.contains("refused"));
}

#[test]
fn tool_called_with_and_without_args() {
    pass(json!({"type": "tool_called", "name": "refund"}));
    pass(json!({"type": "tool_called", "name": "order_lookup", "args": {"order_id": "A-1001"}}));
    fail(
        json!({"type": "tool_called", "name": "escalate"}),
        "escalate was not called",
    );
    fail(
        json!({"type": "tool_called", "name": "order_lookup", "args": {"order_id": "B-2"}}),
        "no call of order_lookup with arguments",
    );
}

#[test]
fn tool_not_called() {
    pass(json!({"type": "tool_not_called", "name": "escalate"}));
    pass(json!({"type": "tool_not_called", "name": "refund", "args": {"order_id": "Z"}}));
    fail(
        json!({"type": "tool_not_called", "name": "refund"}),
        "must not be",
    );
}

#[test]
fn no_tool_errors() {
    fail(
        json!({"type": "no_tool_errors"}),
        "failed tool calls: refund",
    );
    let mut o = observed();
    o.tool_calls[1].error = false;
    assert!(check_on(json!({"type": "no_tool_errors"}), &o, None).pass);
}

#[test]
fn budgets() {
    pass(json!({"type": "max_latency_ms", "ms": 1200}));
    fail(
        json!({"type": "max_latency_ms", "ms": 800}),
        "latency 1200 ms > 800 ms",
    );
    pass(json!({"type": "max_cost_usd", "usd": 0.01}));
    fail(json!({"type": "max_cost_usd", "usd": 0.001}), "cost");
    pass(json!({"type": "max_output_tokens", "tokens": 200}));
    fail(
        json!({"type": "max_output_tokens", "tokens": 100}),
        "output tokens 180 > 100",
    );
    // Missing numbers never pass.
    let none = Observed::default();
    let v = check_on(json!({"type": "max_latency_ms", "ms": 1e9}), &none, None);
    assert!(!v.pass && v.reason.contains("no latency recorded"));
}

#[test]
fn similar_to_reference() {
    let o = Observed {
        output: Some("Your refund of $42 for order A-1001 was issued today.".into()),
        ..Default::default()
    };
    let reference = "Your refund of $42 for order A-1001 has been issued.";
    let v = check_on(
        json!({"type": "similar_to_reference", "threshold": 0.6}),
        &o,
        Some(reference),
    );
    assert!(v.pass, "{}", v.reason);
    let far = "I'm sorry, but I can't help with refunds.";
    let v = check_on(json!({"type": "similar_to_reference"}), &o, Some(far));
    assert!(
        !v.pass && v.reason.contains("threshold 0.6"),
        "{}",
        v.reason
    );
    let v = check_on(json!({"type": "similar_to_reference"}), &o, None);
    assert!(!v.pass && v.reason.contains("no reference"));
    // Case and spacing do not count.
    assert_eq!(similarity("A  b\nC", "a b c"), 1.0);
}

#[test]
fn missing_output_fails_output_assertions() {
    let none = Observed::default();
    for a in [
        json!({"type": "contains", "value": "x", "not": true}),
        json!({"type": "is_json"}),
        json!({"type": "equals", "value": ""}),
    ] {
        let v = check_on(a.clone(), &none, None);
        assert!(!v.pass && v.reason == "no output to check", "{a}");
    }
}

#[test]
fn unknown_fields_and_types_are_rejected() {
    let e = serde_json::from_value::<Assertion>(json!({"type": "contains", "valeu": "x"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("valeu"), "{e}");
    let e = serde_json::from_value::<Assertion>(json!({"type": "contain", "value": "x"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("contain"), "{e}");
}

#[test]
fn validation_names_the_field() {
    let bad = Assertion::Regex {
        pattern: "(".into(),
        not: false,
    };
    assert_eq!(bad.validate(false).unwrap_err().0, "pattern");
    let sim = Assertion::SimilarToReference { threshold: 1.5 };
    assert_eq!(sim.validate(true).unwrap_err().0, "threshold");
    let sim = Assertion::SimilarToReference { threshold: 0.5 };
    assert!(sim.validate(false).is_err());
    assert!(sim.validate(true).is_ok());
}
