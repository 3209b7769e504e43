//! Rows and versions for the console's unit tests.

use crate::store::query::{TraceRow, VersionRow};

/// A plain successful trace row; `key` orders it (newer rows have larger keys).
pub fn trace_row(id: i64, key: i64) -> TraceRow {
    TraceRow {
        id: format!("{id:032x}"),
        version: "v1".into(),
        version_id: "x".into(),
        name: "t".into(),
        started_at: String::new(),
        duration_ms: 1.0,
        status: "ok",
        refusal: false,
        safety_events: 0,
        tool_calls: 0,
        tool_errors: 0,
        tokens_in: 0,
        tokens_out: 0,
        cost_usd: 0.0,
        source: "s".into(),
        pk: key,
        start_ns: key,
    }
}

/// A version with a label and fingerprint id, nothing else known.
pub fn version(rowid: i64, label: &str, id: &str, traces: i64) -> VersionRow {
    VersionRow {
        id: id.into(),
        label: label.into(),
        prompt_hash: None,
        config_hash: None,
        model: None,
        index_version: None,
        tools: Default::default(),
        first_seen: None,
        last_seen: None,
        traces,
        rowid,
        first_seen_ns: None,
        last_seen_ns: None,
    }
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

/// A stored gate run of v3 against v2.
pub fn gate_run(
    id: i64,
    verdict: crate::tui::data::gate::GateVerdict,
) -> crate::tui::data::gate::GateRunRow {
    use crate::tui::data::gate::{GateRunRow, Tally};
    GateRunRow {
        id,
        candidate: "v3".into(),
        baseline: Some("v2".into()),
        started_ns: id,
        finished_ns: Some(id + 1),
        verdict,
        cases: 2,
        must_pass: 1,
        on_candidate: Tally {
            pass: 1,
            fail: 1,
            error: 0,
        },
        on_baseline: Some(Tally {
            pass: 2,
            fail: 0,
            error: 0,
        }),
    }
}

/// A run's cases: a must-pass regression with replays kept (r:10 on the candidate,
/// r:11 on the baseline), and a passing case without replays.
pub fn gate_detail(
    row: crate::tui::data::gate::GateRunRow,
) -> crate::tui::data::gate::GateRunDetail {
    use crate::tui::data::gate::{GateCaseRow, GateRunDetail, Side, Standing};
    let side = |standing, replay, reasons: &[&str]| Side {
        standing,
        attempts: 1,
        reasons: reasons.iter().map(|r| r.to_string()).collect(),
        replay,
        latency_ms: Some(10.0),
    };
    GateRunDetail {
        run: row,
        cases: vec![
            GateCaseRow {
                id: "aaaa0001".into(),
                title: Some("refund refused".into()),
                must_pass: true,
                candidate: Some(side(Standing::Fail, Some(10), &["not_refusal: refused"])),
                baseline: Some(side(Standing::Pass, Some(11), &[])),
            },
            GateCaseRow {
                id: "aaaa0002".into(),
                title: Some("greeting".into()),
                must_pass: false,
                candidate: Some(side(Standing::Pass, None, &[])),
                baseline: Some(side(Standing::Pass, None, &[])),
            },
        ],
    }
}
