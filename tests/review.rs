//! `relops review`: a round drawn from the demo, scores stored and replaced, bad input
//! named, and the averages the weekly memo reads.

mod common;

use common::{demo, json, relops};
use predicates::str::contains;

fn review(config: &std::path::Path, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = relops(config);
    cmd.env("RELOPS_OPERATOR", "ana").arg("review").args(args);
    cmd
}

#[test]
fn sample_score_and_list_on_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo(dir.path(), 1500);
    let sample = json(&mut review(&config, &["sample", "--json"]));
    let items = sample["items"].as_array().unwrap();
    assert_eq!(items.len(), 12, "{sample:#}");
    let slots: Vec<(String, u64)> = sample["strata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["version"].as_str().unwrap().into(),
                s["slots"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(slots.len(), 3, "{slots:?}");
    assert!(
        slots.iter().all(|(_, n)| *n >= 1),
        "every version: {slots:?}"
    );
    let flagged = items
        .iter()
        .filter(|i| !i["flags"].as_array().unwrap().is_empty());
    assert!(
        flagged.count() >= 5,
        "40 % of 12 reserved for refusals and errors"
    );
    assert_eq!(
        sample,
        json(&mut review(&config, &["sample", "--json"])),
        "seeded"
    );
    let next = json(&mut review(&config, &["sample", "--json", "--round", "2"]));
    assert_ne!(
        sample["items"], next["items"],
        "another round, other traces"
    );

    let id = items[0]["id"].as_str().unwrap();
    let scored = json(&mut review(
        &config,
        &[
            "score",
            id,
            "--criterion",
            "grounded=4",
            "--criterion",
            "tone=3",
            "--note",
            "fine",
            "--json",
        ],
    ));
    assert_eq!(scored["scores"]["grounded"], 4);
    assert_eq!(scored["note"], "fine");
    assert_eq!(
        scored["unscored"],
        serde_json::json!(["resolved", "policy"])
    );
    // Scoring again replaces; the note stays.
    let again = json(&mut review(
        &config,
        &["score", id, "--criterion", "grounded=2", "--json"],
    ));
    assert_eq!(
        (again["scores"]["grounded"].as_i64(), again["note"].as_str()),
        (Some(2), Some("fine"))
    );

    // The next draw leaves the scored trace out.
    let after = json(&mut review(&config, &["sample", "--json"]));
    assert_eq!(after["skipped"], 1);
    assert!(
        after["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["id"] != id)
    );

    let list = json(&mut review(&config, &["list", "--json"]));
    assert_eq!(list["scores"].as_array().unwrap().len(), 2, "{list:#}");
    let grounded = list["averages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["criterion"] == "grounded")
        .expect("an average for grounded");
    assert_eq!(
        (grounded["mean"].as_f64(), grounded["scale"].as_u64()),
        (Some(2.0), Some(5))
    );
    assert_eq!(grounded["version"], items[0]["version"]);
}

#[test]
fn bad_scores_are_named_and_readonly_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo(dir.path(), 300);
    let sample = json(&mut review(&config, &["sample", "--json"]));
    let id = sample["items"][0]["id"].as_str().unwrap().to_string();
    let fails = |args: &[&str], message: &str| {
        review(&config, args)
            .assert()
            .code(2)
            .stderr(contains(message.to_string()));
    };
    fails(
        &["score", &id, "--criterion", "grounded=9"],
        "criterion \"grounded\": score 9 is outside 1..=5",
    );
    fails(
        &["score", &id, "--criterion", "tone=0"],
        "criterion \"tone\": score 0 is outside 1..=3",
    );
    fails(
        &["score", &id, "--criterion", "grounded=high"],
        "\"high\" is not a score (1..=5)",
    );
    fails(
        &["score", &id, "--criterion", "nope=1"],
        "no criterion \"nope\" in [rubric]; known: grounded, resolved, tone, policy",
    );
    fails(
        &["score", &id, "--criterion", "grounded"],
        "expected NAME=N",
    );
    fails(&["score", &id, "--note", "first a score"], "has not scored");
    fails(
        &["score", "0000", "--criterion", "grounded=1"],
        "no trace \"0000\"",
    );
    relops(&config)
        .args([
            "--readonly",
            "review",
            "score",
            &id,
            "--criterion",
            "grounded=1",
        ])
        .assert()
        .code(2)
        .stderr(contains("readonly"));
    let list = json(&mut review(&config, &["list", "--json"]));
    assert!(
        list["scores"].as_array().unwrap().is_empty(),
        "nothing stored"
    );
}
