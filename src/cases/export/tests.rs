//! The promptfoo export's mapping, one assertion kind at a time, and its providers.

use super::*;
use crate::cases::Case;

fn case(assertions: Vec<Assertion>, input: &str) -> Loaded {
    Loaded {
        path: "c.json".into(),
        case: Case {
            id: "1234abcd".into(),
            title: "t".into(),
            created_at: "2026-11-20T12:00:00Z".into(),
            source: None,
            incident: None,
            input: input.into(),
            reference: Some("the reference answer".into()),
            assertions,
            must_pass: true,
            tags: vec![],
        },
        content_hash: String::new(),
    }
}

fn export(a: Assertion) -> (Value, Vec<Note>) {
    let e = promptfoo(&[case(vec![a], "hello")], None).unwrap();
    (e.config["tests"][0]["assert"][0].clone(), e.notes)
}

/// The data a javascript assert carries.
fn data(v: &Value) -> Value {
    let code = v["value"].as_str().unwrap();
    let b64 = code.split('"').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn native_assertions_keep_their_meaning() {
    let (v, notes) = export(Assertion::Contains {
        value: "refund".into(),
        not: true,
    });
    assert_eq!(v, json!({"type": "not-contains", "value": "refund"}));
    assert!(notes.is_empty());
    let (v, _) = export(Assertion::MaxLatencyMs { ms: 1400.0 });
    assert_eq!(v, json!({"type": "latency", "threshold": 1400.0}));
    let (v, _) = export(Assertion::MaxCostUsd { usd: 0.001 });
    assert_eq!(v, json!({"type": "cost", "threshold": 0.001}));
    let (v, _) = export(Assertion::Regex {
        pattern: "refund of \\$\\d+".into(),
        not: false,
    });
    assert_eq!(v["type"], "regex");
}

#[test]
fn refusals_map_to_promptfoos_detector_and_say_it_differs() {
    let (v, notes) = export(Assertion::NotRefusal);
    assert_eq!(v, json!({"type": "not-is-refusal"}));
    assert_eq!(notes[0].kind, NoteKind::Differs);
    let (v, _) = export(Assertion::Refusal);
    assert_eq!(v, json!({"type": "is-refusal"}));
}

#[test]
fn relops_measures_go_through_javascript_never_embedding_similarity() {
    let (v, notes) = export(Assertion::SimilarToReference { threshold: 0.7 });
    assert_eq!(
        v["type"], "javascript",
        "not promptfoo's embedding `similar`"
    );
    assert_eq!(
        data(&v),
        json!({"kind": "similar", "args": {"reference": "the reference answer", "threshold": 0.7}})
    );
    assert!(notes.is_empty());
    let (v, _) = export(Assertion::ToolCalled {
        name: "refund".into(),
        args: Some(json!({"order_id": "A1"})),
    });
    assert_eq!(
        data(&v)["args"],
        json!({"name": "refund", "args": {"order_id": "A1"}, "not": false})
    );
    for a in [
        Assertion::Equals { value: "4".into() },
        Assertion::NoToolErrors,
        Assertion::MaxOutputTokens { tokens: 10 },
        Assertion::JsonPointerEquals {
            pointer: "/status".into(),
            value: json!("ok"),
        },
    ] {
        assert_eq!(export(a).0["type"], "javascript");
    }
}

#[test]
fn what_promptfoo_cannot_say_is_a_failing_placeholder_and_a_note() {
    let (v, notes) = export(Assertion::Regex {
        pattern: "(?i)refund".into(),
        not: false,
    });
    assert_eq!(data(&v)["kind"], "placeholder");
    assert_eq!(notes[0].kind, NoteKind::Placeholder);
    // An input that looks like JSON: promptfoo's http provider would send an object.
    let e = promptfoo(&[case(vec![Assertion::IsJson], "{\"q\": 1}")], None).unwrap();
    assert_eq!(e.placeholder_cases, 1);
    assert_eq!(
        data(&e.config["tests"][0]["assert"][0])["kind"],
        "placeholder"
    );
    // Template syntax in a value is never rendered: it travels as data.
    let (v, _) = export(Assertion::Contains {
        value: "{{ secret }}".into(),
        not: false,
    });
    assert_eq!(data(&v)["args"]["value"], "{{ secret }}");
}

#[test]
fn providers_come_from_the_replay_target() {
    let target: ReplayTarget = toml::from_str(
        "kind = 'http'\nurl = 'http://127.0.0.1:9/v1/{version}/respond'\n\
         version_header = 'X-Version'\ninput_pointer = '/ask/text'\n\
         [response]\noutput = '/output'\nlatency_ms = '/latency_ms'\ncost_usd = '/cost_usd'\n",
    )
    .unwrap();
    let versions = vec!["v3".to_string(), "a/b".to_string()];
    let p = Providers {
        name: "demo",
        target: &target,
        versions: &versions,
    };
    let e = promptfoo(&[case(vec![Assertion::IsJson], "hi")], Some(&p)).unwrap();
    let providers = e.config["providers"].as_array().unwrap();
    assert_eq!(providers.len(), 2);
    let c = &providers[0]["config"];
    assert_eq!(providers[0]["label"], "v3");
    assert_eq!(c["url"], "http://127.0.0.1:9/v1/v3/respond");
    assert_eq!(c["headers"]["X-Version"], "v3");
    assert_eq!(c["body"], json!({"ask": {"text": "{{prompt}}"}}));
    let transform = c["transformResponse"].as_str().unwrap();
    assert!(
        transform.contains(r#""latency_ms":"/latency_ms""#),
        "{transform}"
    );
    assert!(!transform.contains("{{"), "promptfoo would render it");
    assert_eq!(
        providers[1]["config"]["url"], "http://127.0.0.1:9/v1/a%2Fb/respond",
        "a label is one path segment"
    );
}

#[test]
fn the_checks_carry_no_template_syntax() {
    for js in [CHECKS, TRANSFORM] {
        assert!(!js.contains("{{") && !js.contains("{%") && !js.contains("{#"));
    }
}
