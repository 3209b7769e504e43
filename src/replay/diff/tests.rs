use super::tests_support::execution;
use super::*;
use crate::model::tests::span;
use crate::model::{Fingerprint, SpanKind};

fn tool(id: &str, name: &str, args: &str, error: Option<&str>) -> SpanFacts {
    let mut s = span(id, Some("root"), SpanKind::Tool, 10, 20);
    s.name = format!("tool {name}");
    s.tool_name = Some(name.into());
    s.tool_args = Some(args.into());
    s.error = error.is_some();
    s.status_message = error.map(Into::into);
    s.output = error.is_none().then(|| "{\"ok\":true}".into());
    s
}

#[test]
fn text_diff_pairs_changed_lines_and_marks_words() {
    let t = text_diff(
        "same\nthe refund is approved\ngone\n",
        "same\nthe refund is refused\n",
    );
    let changes: Vec<Change> = t.rows.iter().map(|r| r.change).collect();
    assert_eq!(changes, [Change::Same, Change::Changed, Change::Removed]);
    let row = &t.rows[1];
    let left = row.left.as_ref().unwrap();
    let right = row.right.as_ref().unwrap();
    assert_eq!(left.text(), "the refund is approved");
    assert_eq!(left.changed_words(), ["approved"]);
    assert_eq!(right.changed_words(), ["refused"]);
    assert_eq!((left.line, right.line), (2, 2));
    assert!(!t.identical());
    assert!(text_diff("a\nb", "a\nb").identical());
}

#[test]
fn word_runs_join_and_unrelated_lines_are_wholly_replaced() {
    let t = text_diff(
        "keep this the old words here\n",
        "keep this the new text here\n",
    );
    let left = t.rows[0].left.as_ref().unwrap();
    assert_eq!(left.changed_words(), ["old words"]);
    let t = text_diff(
        "I am sorry, I cannot do that\n",
        "Your refund is approved today\n",
    );
    assert_eq!(
        t.rows[0].right.as_ref().unwrap().changed_words(),
        ["Your refund is approved today"]
    );
}

#[test]
fn text_diff_serialises_only_changes_with_words() {
    let v = serde_json::to_value(text_diff("a\nx y\n", "a\nx z\nnew\n")).unwrap();
    assert_eq!(v["changed"], 1);
    assert_eq!(v["added"], 1);
    assert_eq!(v["lines"][0]["removed_words"], serde_json::json!(["y"]));
    assert_eq!(v["lines"][0]["added_words"], serde_json::json!(["z"]));
    assert_eq!(v["lines"][1]["b"], "new");
}

#[test]
fn json_outputs_get_a_structural_diff() {
    let a = execution(
        "a",
        r#"{"status":"approved","items":[1,2],"id":"R-1"}"#,
        vec![],
    );
    let b = execution(
        "b",
        r#"{"status":"refused","items":[1],"reason":"policy","id":"R-1"}"#,
        vec![],
    );
    let d = diff(a, b);
    let changes = d.json.expect("both outputs are JSON");
    let summary: Vec<(String, Change)> =
        changes.iter().map(|c| (c.path.clone(), c.change)).collect();
    assert_eq!(
        summary,
        [
            ("/items/1".to_string(), Change::Removed),
            ("/status".to_string(), Change::Changed),
            ("/reason".to_string(), Change::Added),
        ]
    );
    assert!(d.output.pretty_json);
    assert_eq!(changes[1].b, Some(serde_json::json!("refused")));
}

#[test]
fn plain_text_has_no_structural_diff() {
    let d = diff(
        execution("a", "hello", vec![]),
        execution("b", "[not json", vec![]),
    );
    assert!(d.json.is_none());
}

#[test]
fn spans_align_by_tree_position_and_report_changed_fields() {
    let root = |id| span(id, None, SpanKind::Chain, 0, 100);
    let mut llm_a = span("l", Some("root"), SpanKind::Llm, 30, 90);
    llm_a.model = Some("small".into());
    let mut llm_b = llm_a.clone();
    llm_b.model = Some("large".into());
    let a = vec![
        (0, root("root")),
        (1, tool("t1", "order_lookup", "{}", None)),
        (1, tool("t2", "refund", "{}", None)),
        (1, llm_a),
    ];
    let b = vec![
        (0, root("root")),
        (1, tool("t1", "order_lookup", "{}", None)),
        (1, llm_b),
        (1, tool("t3", "escalate", "{}", None)),
    ];
    let pairs = span_pairs(&a, &b);
    let summary: Vec<(Change, Option<String>, Option<String>)> = pairs
        .iter()
        .map(|p| {
            (
                p.change,
                p.a.as_ref().map(|s| s.name.clone()),
                p.b.as_ref().map(|s| s.name.clone()),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Change::Same, Some("root".into()), Some("root".into())),
            (
                Change::Same,
                Some("tool order_lookup".into()),
                Some("tool order_lookup".into())
            ),
            (Change::Removed, Some("tool refund".into()), None),
            (Change::Changed, Some("l".into()), Some("l".into())),
            (Change::Added, None, Some("tool escalate".into())),
        ]
    );
    assert_eq!(pairs[3].fields, ["model"]);
}

#[test]
fn tool_calls_side_by_side_show_the_failing_call() {
    let good = vec![(1, tool("t", "refund", "{\"order\":1}", None))];
    let bad = vec![(
        1,
        tool("t", "refund", "{\"order\":1}", Some("503 ledger down")),
    )];
    let pairs = tool_pairs(&good, &bad);
    assert_eq!(pairs.len(), 1);
    assert_eq!(pairs[0].change, Change::Changed);
    assert_eq!(pairs[0].fields, ["result", "error"]);
    assert_eq!(
        pairs[0].b.as_ref().unwrap().error.as_deref(),
        Some("503 ledger down")
    );
    let d = diff(execution("a", "x", good), execution("b", "x", bad));
    assert_eq!((d.flags.tool_errors.a, d.flags.tool_errors.b), (0, 1));
}

#[test]
fn fingerprint_diff_names_changed_fields_and_tools() {
    let mut a = execution("a", "x", vec![]);
    let mut b = execution("b", "x", vec![]);
    a.fingerprint = Fingerprint {
        label: Some("v2".into()),
        prompt_hash: Some("p-1".into()),
        model: Some("m".into()),
        tools: [("refund".to_string(), "2.1.0".to_string())].into(),
        ..Default::default()
    };
    b.fingerprint = Fingerprint {
        label: Some("v3".into()),
        prompt_hash: Some("p-2".into()),
        model: Some("m".into()),
        tools: [("refund".to_string(), "2.2.0".to_string())].into(),
        ..Default::default()
    };
    b.refusal = true;
    b.latency_ms = Some(150.0);
    let d = diff(a, b);
    assert_eq!(
        d.fingerprint.changed,
        ["label", "prompt_hash", "tools.refund"]
    );
    assert!(!d.fingerprint.same);
    assert!(d.flags.refusal.changed);
    assert_eq!(d.deltas.latency_ms.delta, Some(50.0));
    assert_eq!(d.deltas.latency_ms.ratio, Some(1.5));
}
