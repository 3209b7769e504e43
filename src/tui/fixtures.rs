//! Rows and versions for the console's unit tests.

use crate::store::query::{TraceRow, VersionRow};

/// A plain successful trace row; `key` orders it (newer rows have larger keys).
pub fn trace_row(id: i64, key: i64) -> TraceRow {
    TraceRow::bare(id, key)
}

/// A version with a label and fingerprint id, nothing else known.
pub fn version(rowid: i64, label: &str, id: &str, traces: i64) -> VersionRow {
    VersionRow::bare(rowid, label, id, traces)
}

/// An incident with counts; open unless `closed_ns` is given.
pub fn incident(id: i64, closed_ns: Option<i64>) -> crate::tui::data::incidents::IncidentRow {
    crate::tui::data::incidents::IncidentRow {
        id,
        title: format!("incident {id}"),
        severity: "sev2".into(),
        status: if closed_ns.is_some() {
            "closed"
        } else {
            "open"
        }
        .into(),
        opened_ns: 1_000 * id,
        opened_by: "alice".into(),
        closed_ns,
        traces: 1,
        replays: 1,
        cases: 0,
    }
}

/// A timeline: v3 first seen, a refusal trace, opened, a replay of that trace.
pub fn timeline(
    row: crate::tui::data::incidents::IncidentRow,
) -> crate::tui::data::incidents::Timeline {
    use crate::tui::data::incidents::{Event, EventKind, Timeline};
    let trace_id = format!("{:032x}", row.id);
    let events = vec![
        Event {
            at_ns: 1,
            kind: EventKind::Version {
                label: "v3".into(),
                fingerprint: "000000000v3".into(),
            },
        },
        Event {
            at_ns: 2,
            kind: EventKind::Trace {
                trace_id: trace_id.clone(),
                version: "v3".into(),
                error: false,
                refusal: true,
                tool_errors: 0,
                safety_events: 0,
                duration_ms: 12.0,
            },
        },
        Event {
            at_ns: row.opened_ns,
            kind: EventKind::Opened { by: "alice".into() },
        },
        Event {
            at_ns: row.opened_ns + 1,
            kind: EventKind::Replay {
                id: 7,
                trace_id,
                version: "v2".into(),
                error: None,
                latency_ms: Some(5.0),
            },
        },
    ];
    Timeline {
        incident: row,
        events,
        bad_case_files: 0,
    }
}

/// A stored gate run of v3 against v2 (`None`: it broke off).
pub fn gate_run(
    id: i64,
    decision: Option<crate::gate::Decision>,
) -> crate::gate::store::RunSummary {
    use crate::gate::store::{Counts, RunSummary};
    RunSummary {
        id,
        started_at: String::new(),
        finished_at: None,
        candidate: "v3".into(),
        candidate_fingerprint: "000000000v3".into(),
        baseline: Some("v2".into()),
        baseline_fingerprint: Some("000000000v2".into()),
        decision,
        reasons: Vec::new(),
        cases: 2,
        must_pass: 1,
        candidate_counts: Counts {
            pass: 1,
            fail: 1,
            error: 0,
        },
        baseline_counts: Some(Counts {
            pass: 2,
            fail: 0,
            error: 0,
        }),
        suite: None,
        target: None,
        repeat: 1,
        started_ns: id,
        candidate_pk: 2,
        baseline_pk: Some(1),
    }
}

/// A run's cases: a must-pass regression with replays kept (r:10 on the candidate,
/// r:11 on the baseline), and a passing case without replays.
pub fn gate_detail(summary: crate::gate::store::RunSummary) -> crate::gate::store::RunDetail {
    use crate::gate::store::{CaseResult, RunDetail};
    use crate::gate::verdict::{Attempt, Outcome, Standing};
    let attempt = |outcome: Outcome, replay_id| Attempt {
        outcome,
        latency_ms: Some(10.0),
        cost_usd: None,
        replay_id,
    };
    let refused = || Outcome::Fail {
        reasons: vec!["not_refusal: refused".into()],
    };
    RunDetail {
        summary,
        verdict: None,
        results: vec![
            CaseResult {
                case_id: "aaaa0001".into(),
                title: "refund refused".into(),
                must_pass: true,
                candidate: Standing::Fail,
                baseline: Standing::Pass,
                candidate_attempts: vec![attempt(refused(), Some(10))],
                baseline_attempts: vec![attempt(Outcome::Pass, Some(11))],
            },
            CaseResult {
                case_id: "aaaa0002".into(),
                title: "greeting".into(),
                must_pass: false,
                candidate: Standing::Pass,
                baseline: Standing::Pass,
                candidate_attempts: vec![attempt(Outcome::Pass, None)],
                baseline_attempts: vec![attempt(Outcome::Pass, None)],
            },
        ],
        report: None,
    }
}
