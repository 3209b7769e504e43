//! The gate's decision rules, one at a time.

use super::*;

fn attempt(outcome: Outcome, latency: f64, cost: f64) -> Attempt {
    Attempt {
        outcome,
        latency_ms: Some(latency),
        cost_usd: Some(cost),
        replay_id: None,
    }
}

fn pass() -> Attempt {
    attempt(Outcome::Pass, 100.0, 0.001)
}

fn fail(why: &str) -> Attempt {
    attempt(
        Outcome::Fail {
            reasons: vec![why.into()],
        },
        100.0,
        0.001,
    )
}

fn error(why: &str) -> Attempt {
    Attempt {
        outcome: Outcome::Error {
            error: why.into(),
            cause: Cause::Unreached,
        },
        latency_ms: None,
        cost_usd: None,
        replay_id: None,
    }
}

fn case(id: &str, must_pass: bool, candidate: Vec<Attempt>, baseline: Vec<Attempt>) -> CaseRun {
    CaseRun {
        id: id.into(),
        title: format!("case {id}"),
        must_pass,
        candidate,
        baseline,
    }
}

fn budgets() -> Budgets {
    Budgets::default()
}

/// Twenty passing cases: the base every test changes one thing of.
fn healthy() -> Vec<CaseRun> {
    (0..20)
        .map(|i| case(&format!("c{i:02}"), i < 3, vec![pass()], vec![pass()]))
        .collect()
}

#[test]
fn all_passing_ships() {
    let v = decide(&healthy(), true, &budgets());
    assert_eq!(v.decision, Decision::Ship, "{:?}", v.reasons);
    assert_eq!((v.cases, v.must_pass), (20, 3));
    assert_eq!(v.candidate.pass, 20);
    assert!(v.regressions.is_empty() && v.risks.is_empty());
}

#[test]
fn a_failing_must_pass_case_holds_and_says_why() {
    let mut runs = healthy();
    runs[0].candidate = vec![fail("the workflow refused")];
    let v = decide(&runs, true, &budgets());
    assert_eq!(v.decision, Decision::Hold);
    assert_eq!(
        v.reasons,
        ["must-pass case c00 \"case c00\" fails on the candidate: the workflow refused"]
    );
    assert_eq!(v.regressions, ["c00"]);
}

#[test]
fn an_error_is_never_a_pass() {
    // A must-pass case that could not run holds.
    let mut runs = healthy();
    runs[1].candidate = vec![error("timed out after 30000 ms")];
    let v = decide(&runs, true, &budgets());
    assert_eq!(v.decision, Decision::Hold);
    assert!(v.reasons[0].contains("could not run on the candidate: timed out"));
    assert!(
        v.could_not_run,
        "nothing else holds: the gate could not judge"
    );
    assert_eq!(v.exit_code(), 2);
    assert_eq!(v.candidate.error, 1);
    assert_eq!(v.candidate.pass, 19);
    // A broad case that errors once in three attempts is an error, and a risk.
    let mut runs = healthy();
    runs[10].candidate = vec![pass(), error("HTTP 503"), pass()];
    let v = decide(&runs, true, &budgets());
    assert_eq!(v.candidate.error, 1);
    assert!(
        v.risks
            .iter()
            .any(|r| r.contains("c10") && r.contains("HTTP 503"))
    );
    assert_eq!(v.regressions, ["c10"]);
    // One error in twenty is within the 5-point margin: ships, with the risk listed.
    assert_eq!(v.decision, Decision::Ship);
    assert_eq!(v.exit_code(), 0);
}

fn answer_error(why: &str) -> Attempt {
    Attempt {
        outcome: Outcome::Error {
            error: why.into(),
            cause: Cause::Answer,
        },
        latency_ms: Some(90.0),
        cost_usd: None,
        replay_id: None,
    }
}

#[test]
fn a_target_that_is_down_is_not_a_bad_candidate() {
    let down = "cannot reach http://127.0.0.1:9/run/v3: connection refused (after 3 attempts)";
    let mut runs = healthy();
    for r in &mut runs {
        r.candidate = vec![error(down)];
    }
    let v = decide(&runs, true, &budgets());
    assert_eq!(
        (v.decision, v.could_not_run, v.exit_code()),
        (Decision::Hold, true, 2)
    );
    // Each must-pass case by name, then the whole side; no pass-rate "regression".
    assert_eq!(v.reasons.len(), 4, "{:#?}", v.reasons);
    assert!(
        v.reasons[..3]
            .iter()
            .all(|r| r.contains("could not run on the candidate"))
    );
    assert_eq!(
        v.reasons[3],
        format!("no case could run on the candidate (20 of 20): {down}")
    );
    assert!(!v.reasons.iter().any(|r| r.starts_with("pass rate")));
    // The baseline down alone: the candidate's numbers cannot be compared.
    let mut runs = healthy();
    for r in &mut runs {
        r.baseline = vec![error("HTTP 503: upstream down (after 3 attempts)")];
    }
    let v = decide(&runs, true, &budgets());
    assert_eq!(v.exit_code(), 2, "{:#?}", v.reasons);
    assert!(v.reasons[0].starts_with("no case could run on the baseline (20 of 20)"));
}

#[test]
fn evidence_against_the_candidate_is_a_real_hold_even_with_the_target_flaky() {
    let mut runs = healthy();
    runs[0].candidate = vec![fail("the workflow refused")];
    runs[1].candidate = vec![error("timed out after 30000 ms")];
    let v = decide(&runs, true, &budgets());
    assert_eq!((v.could_not_run, v.exit_code()), (false, 1));
    assert!(v.reasons[0].contains("c00") && v.reasons[0].contains("fails"));
    assert!(
        v.reasons
            .iter()
            .any(|r| r.contains("c01") && r.contains("could not run"))
    );
}

#[test]
fn an_answer_that_is_an_error_is_the_candidates_doing() {
    let mut runs = healthy();
    runs[2].candidate = vec![answer_error("the workflow reported an error: tool crashed")];
    let v = decide(&runs, true, &budgets());
    assert_eq!((v.could_not_run, v.exit_code()), (false, 1));
    assert_eq!(
        v.reasons,
        [
            "must-pass case c02 \"case c02\" answers with an error on the candidate: the \
          workflow reported an error: tool crashed"
        ]
    );
    // In the pass rate it counts as not passing: two broad ones hold.
    let mut runs = healthy();
    runs[10].candidate = vec![answer_error("response has no output at \"/output\"")];
    runs[11].candidate = vec![answer_error("response has no output at \"/output\"")];
    let v = decide(&runs, true, &budgets());
    assert_eq!(v.exit_code(), 1);
    assert!(v.reasons[0].contains("down 10.0 points"), "{:?}", v.reasons);
}

#[test]
fn the_pass_rate_rule_compares_only_cases_that_ran_on_both() {
    // Four broad cases unreached on the candidate: the other sixteen all pass, so no
    // drop among them; counted against the candidate they would be 20 points: no verdict.
    let mut runs = healthy();
    for r in &mut runs[10..14] {
        r.candidate = vec![error("HTTP 502: bad gateway (after 3 attempts)")];
    }
    let v = decide(&runs, true, &budgets());
    assert_eq!(v.exit_code(), 2, "{:#?}", v.reasons);
    assert_eq!(v.reasons.len(), 1);
    assert!(
        v.reasons[0].starts_with("4 case(s) could not run on the candidate and 0 on the baseline")
            && v.reasons[0].contains("down 20.0 points"),
        "{}",
        v.reasons[0]
    );
    // A real drop among the cases that ran holds for itself, and says over how many.
    runs[15].candidate = vec![fail("x")];
    runs[16].candidate = vec![fail("y")];
    let v = decide(&runs, true, &budgets());
    assert_eq!(v.exit_code(), 1, "{:#?}", v.reasons);
    assert!(
        v.reasons[0].contains("(over the 16 cases that ran on both): down 12.5 points"),
        "{}",
        v.reasons[0]
    );
}

#[test]
fn a_pass_rate_drop_beyond_the_margin_holds() {
    let mut runs = healthy();
    runs[10].candidate = vec![fail("x")];
    let v = decide(&runs, true, &budgets());
    assert_eq!(
        v.decision,
        Decision::Ship,
        "one in twenty is exactly 5 points"
    );
    runs[11].candidate = vec![fail("y")];
    let v = decide(&runs, true, &budgets());
    assert_eq!(v.decision, Decision::Hold);
    assert!(v.reasons[0].contains("down 10.0 points"), "{:?}", v.reasons);
    assert_eq!(v.regressions, ["c10", "c11"]);
}

#[test]
fn fixes_offset_regressions() {
    let mut runs = healthy();
    runs[10].candidate = vec![fail("x")];
    runs[11].candidate = vec![fail("y")];
    runs[12].baseline = vec![fail("old bug")];
    runs[13].baseline = vec![fail("old bug")];
    let v = decide(&runs, true, &budgets());
    assert_eq!(v.fixes, ["c12", "c13"]);
    assert_eq!(v.decision, Decision::Ship, "{:?}", v.reasons);
}

#[test]
fn latency_and_cost_budgets() {
    let mut runs = healthy();
    for r in &mut runs {
        r.candidate = vec![attempt(Outcome::Pass, 130.0, 0.001)];
    }
    let v = decide(&runs, true, &budgets());
    assert_eq!(v.decision, Decision::Hold);
    assert_eq!(v.latency_ms.ratio, Some(1.3));
    assert!(
        v.reasons[0].contains("median latency ×1.30"),
        "{:?}",
        v.reasons
    );
    for r in &mut runs {
        r.candidate = vec![attempt(Outcome::Pass, 110.0, 0.002)];
    }
    let v = decide(&runs, true, &budgets());
    assert_eq!(v.reasons.len(), 1);
    assert!(v.reasons[0].contains("mean cost ×2.00"), "{:?}", v.reasons);
}

#[test]
fn flaky_cases_are_named() {
    let mut runs = healthy();
    runs[15].candidate = vec![pass(), fail("sometimes"), pass()];
    let v = decide(&runs, true, &budgets());
    assert_eq!(v.flaky, ["c15"]);
}

#[test]
fn without_a_baseline_only_the_candidate_is_judged() {
    let mut runs = healthy();
    for r in &mut runs {
        r.baseline.clear();
    }
    runs[10].candidate = vec![fail("x")];
    runs[11].candidate = vec![fail("y")];
    let v = decide(&runs, false, &budgets());
    assert_eq!(v.decision, Decision::Ship);
    assert!(v.baseline.is_none() && v.regressions.is_empty());
    runs[0].candidate = vec![fail("must")];
    assert_eq!(decide(&runs, false, &budgets()).decision, Decision::Hold);
}

#[test]
fn an_empty_suite_holds() {
    let v = decide(&[], true, &budgets());
    assert_eq!(v.decision, Decision::Hold);
    assert!(v.reasons[0].contains("no cases"));
}
