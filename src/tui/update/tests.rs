//! Update logic without a terminal or a database.

use std::sync::Arc;

use ratatui::layout::Rect;

use super::*;
use crate::store::query::{Buckets, TraceRow, VersionRow};
use crate::tui::data::{OverviewData, PAGE_SIZE, Seek};
use crate::tui::fixtures;
use crate::tui::keymap::Keymap;
use crate::workspace::Workspace;

fn state() -> State {
    let ws = Workspace {
        config_path: "relops.toml".into(),
        config: Default::default(),
        db_path: "/nonexistent.db".into(),
        readonly: false,
    };
    State::new(
        &ws,
        Arc::new(Keymap::default_map()),
        0,
        Rect::new(0, 0, 120, 40),
    )
}

fn version(rowid: i64, label: &str) -> VersionRow {
    fixtures::version(rowid, label, &format!("{label:0>12}"), 1)
}

fn rows(n: usize) -> Vec<TraceRow> {
    (0..n as i64)
        .map(|i| fixtures::trace_row(i, 10_000 - i))
        .collect()
}

/// A state whose list holds its first page, with `count` rows in all.
fn with_list(count: usize) -> State {
    let mut s = state();
    let _ = start(&mut s);
    let g = s.list.generation;
    let _ = update(
        &mut s,
        Action::Loaded(Loaded::Rebased {
            generation: g,
            max_pk: 10_000,
            rows: rows(PAGE_SIZE.min(count)),
        }),
    );
    let _ = update(
        &mut s,
        Action::Loaded(Loaded::Count {
            generation: g,
            count,
        }),
    );
    s.pane = Pane::Traces;
    s
}

fn loads(fx: &[Effect]) -> Vec<&Request> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Load(r) => Some(r),
            _ => None,
        })
        .collect()
}

#[test]
fn start_loads_overview_and_the_list() {
    let mut s = state();
    let fx = start(&mut s);
    let reqs = loads(&fx);
    assert!(matches!(reqs[0], Request::Overview { buckets: 24, .. }));
    assert!(matches!(reqs[1], Request::Drift { .. }));
    assert!(matches!(reqs[2], Request::Rollout { .. }));
    assert!(matches!(reqs[3], Request::Rebase { .. }));
}

#[test]
fn drift_recomputes_every_refresh_when_shown_and_less_often_when_hidden() {
    let mut s = state();
    let drift_loads = |fx: &[Effect]| {
        loads(fx)
            .iter()
            .filter(|r| matches!(r, Request::Drift { .. }))
            .count()
    };
    let hidden: usize = (0..10)
        .map(|_| drift_loads(&update(&mut s, Action::AutoRefresh)))
        .sum();
    assert_eq!(hidden, 2, "every fifth refresh while hidden");
    update(&mut s, Action::ShowPane(Pane::Drift));
    assert_eq!(drift_loads(&update(&mut s, Action::AutoRefresh)), 1);
}

#[test]
fn drift_window_key_asks_for_the_next_window() {
    let mut s = state();
    let fx = update(&mut s, Action::DriftWindow);
    match loads(&fx)[0] {
        Request::Drift { request, .. } => {
            assert_eq!(request.window, Some(crate::period::Period::hours(72)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rebased_page_asks_for_the_count() {
    let mut s = state();
    let _ = start(&mut s);
    let g = s.list.generation;
    let fx = update(
        &mut s,
        Action::Loaded(Loaded::Rebased {
            generation: g,
            max_pk: 7,
            rows: rows(3),
        }),
    );
    assert!(matches!(loads(&fx)[..], [Request::Count { max_pk: 7, .. }]));
    assert_eq!(s.list.len(), 3);
}

#[test]
fn paging_down_emits_the_next_page_by_key() {
    let mut s = with_list(100_000);
    let mut requested = None;
    for _ in 0..10 {
        for e in update(&mut s, Action::PageDown) {
            if let Effect::Load(Request::Page { page, seek, .. }) = e {
                requested = Some((page, seek));
            }
        }
    }
    let (page, seek) = requested.expect("a page request");
    assert_eq!(page, 1);
    assert!(matches!(seek, Seek::After(_)));
}

#[test]
fn bottom_jumps_by_offset_and_top_returns() {
    let mut s = with_list(100_000);
    let fx = update(&mut s, Action::Bottom);
    assert_eq!(s.list.selected, 99_999);
    assert!(matches!(
        loads(&fx)[..],
        [Request::Page {
            page: 499,
            seek: Seek::Offset(99_800),
            ..
        }]
    ));
    let _ = update(&mut s, Action::Top);
    assert_eq!((s.list.selected, s.list.offset), (0, 0));
}

#[test]
fn stale_generation_replies_are_dropped() {
    let mut s = with_list(500);
    let old = s.list.generation;
    let _ = update(&mut s, Action::SetFilter("refusal".into()));
    let _ = update(
        &mut s,
        Action::Loaded(Loaded::Page {
            generation: old,
            page: 1,
            rows: rows(5),
        }),
    );
    assert!(s.list.pages.is_empty());
}

#[test]
fn enter_opens_the_detail_and_esc_goes_back() {
    let mut s = with_list(10);
    let _ = update(&mut s, Action::Down);
    let fx = update(&mut s, Action::Open);
    let id = format!("{:032x}", 1);
    assert_eq!(
        loads(&fx),
        vec![&Request::Detail {
            trace_id: id.clone()
        }]
    );
    assert_eq!(s.detail.as_ref().map(|d| d.trace_id.clone()), Some(id));
    let _ = update(&mut s, Action::Back);
    assert!(s.detail.is_none());
}

#[test]
fn filter_prompt_applies_on_submit_and_keeps_bad_text() {
    let mut s = with_list(10);
    s.overview.data = Some(OverviewData {
        versions: vec![version(1, "v1"), version(3, "v3")],
        ..OverviewData::default()
    });
    let _ = update(&mut s, Action::OpenFilter);
    for c in "v:v9".chars() {
        let _ = update(&mut s, Action::Insert(c));
    }
    assert!(loads(&update(&mut s, Action::Submit)).is_empty());
    assert!(matches!(&s.overlay, Overlay::Filter(p) if p.text == "v:v9"));
    assert!(
        s.status
            .as_ref()
            .is_some_and(|st| st.error && st.text.contains("known versions: v1, v3"))
    );

    let _ = update(&mut s, Action::DeleteChar);
    let _ = update(&mut s, Action::Insert('3'));
    for c in " refusal".chars() {
        let _ = update(&mut s, Action::Insert(c));
    }
    let fx = update(&mut s, Action::Submit);
    let Some(Request::Rebase { filter, .. }) = loads(&fx).first().copied() else {
        panic!("expected a rebase");
    };
    assert_eq!((filter.version, filter.refusals), (Some(3), true));
    assert_eq!(s.overlay, Overlay::None);
    assert_eq!(s.list.spec.to_string(), "v:v3 refusal");
}

#[test]
fn palette_runs_prefix_matches_with_arguments() {
    let mut s = state();
    let _ = update(&mut s, Action::OpenPalette);
    for c in "tra".chars() {
        let _ = update(&mut s, Action::Insert(c));
    }
    let _ = update(&mut s, Action::Submit);
    assert_eq!(s.pane, Pane::Traces);

    let _ = update(&mut s, Action::OpenPalette);
    for c in "fil error".chars() {
        let _ = update(&mut s, Action::Insert(c));
    }
    let fx = update(&mut s, Action::Submit);
    assert!(matches!(loads(&fx)[..], [Request::Rebase { filter, .. }] if filter.errors));
}

#[test]
fn palette_tab_completes_the_chosen_command() {
    let mut s = state();
    let _ = update(&mut s, Action::OpenPalette);
    let _ = update(&mut s, Action::Insert('q'));
    let _ = update(&mut s, Action::Complete);
    assert!(matches!(&s.overlay, Overlay::Palette(p) if p.text == "quit "));
    let fx = update(&mut s, Action::Submit);
    assert_eq!(fx, vec![Effect::Quit]);
    assert!(s.quit);
}

#[test]
fn tab_cycles_panes_and_numbers_jump() {
    let mut s = state();
    let _ = update(&mut s, Action::NextPane);
    assert_eq!(s.pane, Pane::Traces);
    let _ = update(&mut s, Action::NextPane);
    assert_eq!(s.pane, Pane::Drift);
    let _ = update(&mut s, Action::NextPane);
    assert_eq!(s.pane, Pane::Diff);
    let _ = update(&mut s, Action::NextPane);
    assert_eq!(s.pane, Pane::Sources);
    let fx = update(&mut s, Action::NextPane);
    assert_eq!(s.pane, Pane::Incidents);
    assert!(matches!(loads(&fx)[..], [Request::Incidents { .. }]));
    let fx = update(&mut s, Action::NextPane);
    assert_eq!(s.pane, Pane::Gate);
    assert!(matches!(loads(&fx)[..], [Request::GateRuns]));
    let fx = update(&mut s, Action::NextPane);
    assert_eq!(s.pane, Pane::Rollout);
    assert!(matches!(loads(&fx)[..], [Request::Rollout { .. }]));
    let fx = update(&mut s, Action::NextPane);
    assert_eq!(s.pane, Pane::Review);
    assert!(matches!(loads(&fx)[..], [Request::ReviewSample { .. }]));
    let _ = update(&mut s, Action::NextPane);
    assert_eq!(s.pane, Pane::Overview);
    let _ = update(&mut s, Action::ShowPane(Pane::Traces));
    assert_eq!(s.pane, Pane::Traces);
}

#[test]
fn new_rows_are_followed_only_at_the_top() {
    let mut s = with_list(500);
    let g = s.list.generation;
    let _ = update(&mut s, Action::Down);
    let fx = update(
        &mut s,
        Action::Loaded(Loaded::Head {
            generation: g,
            new_rows: 4,
        }),
    );
    assert!(fx.is_empty());
    assert_eq!(s.list.new_rows, 4);
    let fx = update(&mut s, Action::Top);
    assert!(matches!(loads(&fx)[..], [Request::Rebase { .. }]));

    let mut s = with_list(500);
    let g = s.list.generation;
    let fx = update(
        &mut s,
        Action::Loaded(Loaded::Head {
            generation: g,
            new_rows: 4,
        }),
    );
    assert!(
        matches!(loads(&fx)[..], [Request::Rebase { .. }]),
        "following the head"
    );
}

#[test]
fn auto_refresh_polls_overview_and_head() {
    let mut s = with_list(5);
    let fx = update(&mut s, Action::AutoRefresh);
    let reqs = loads(&fx);
    assert!(matches!(
        reqs[..],
        [
            Request::Overview { .. },
            Request::Head { max_pk: 10_000, .. },
            // The trigger banner shows on every pane.
            Request::Rollout { .. }
        ]
    ));
}

#[test]
fn load_errors_go_to_the_status_line_and_clear_on_success() {
    let mut s = state();
    let _ = update(
        &mut s,
        Action::Loaded(Loaded::Failed {
            what: "overview",
            error: "disk on fire".into(),
        }),
    );
    assert!(
        s.status
            .as_ref()
            .is_some_and(|st| st.error && st.text == "overview: disk on fire")
    );
    let _ = update(&mut s, Action::Loaded(Loaded::Overview(Box::default())));
    assert_eq!(s.status, None);
}

#[test]
fn overview_enter_filters_traces_by_the_selected_version() {
    let mut s = state();
    let mut series = std::collections::BTreeMap::new();
    series.insert(1, Buckets::default());
    series.insert(2, Buckets::default());
    s.overview.data = Some(OverviewData {
        versions: vec![version(1, "v1"), version(2, "v2")],
        series,
        ..OverviewData::default()
    });
    let _ = update(&mut s, Action::Down);
    let fx = update(&mut s, Action::Open);
    assert!(
        matches!(loads(&fx)[..], [Request::Rebase { filter, .. }] if filter.version == Some(2))
    );
    assert_eq!(s.pane, Pane::Traces);
}

#[test]
fn clicks_select_rows_and_switch_tabs() {
    let mut s = with_list(50);
    let rows = layout::list_rows(layout::areas(s.size).body);
    let _ = update(
        &mut s,
        Action::Click {
            col: 5,
            row: rows.y + 3,
        },
    );
    assert_eq!(s.list.selected, 3);
    let fx = update(
        &mut s,
        Action::Click {
            col: 5,
            row: rows.y + 3,
        },
    );
    assert!(
        matches!(loads(&fx)[..], [Request::Detail { .. }]),
        "second click opens"
    );
    let _ = update(&mut s, Action::Back);
    let (_, overview, _) = layout::tabs(s.size.width, s.pane).remove(0);
    let _ = update(
        &mut s,
        Action::Click {
            col: overview.start,
            row: 0,
        },
    );
    assert_eq!(s.pane, Pane::Overview);
}

#[test]
fn help_scroll_is_bounded() {
    let mut s = state();
    let _ = update(&mut s, Action::ToggleHelp);
    for _ in 0..1000 {
        let _ = update(&mut s, Action::PageDown);
    }
    let Overlay::Help { scroll } = s.overlay else {
        panic!("help is open");
    };
    assert!(scroll < views::help::line_count(&s.keymap, false));
    let _ = update(&mut s, Action::ToggleHelp);
    assert_eq!(s.overlay, Overlay::None);
}

/// A list whose first trace is a v3 trace, with versions v1..v3 known.
fn with_versions() -> State {
    let mut s = with_list(5);
    s.overview.data = Some(OverviewData {
        versions: vec![version(1, "v1"), version(2, "v2"), version(3, "v3")],
        ..Default::default()
    });
    s.list.store(
        0,
        rows(5)
            .into_iter()
            .enumerate()
            .map(|(i, mut r)| {
                if i == 0 {
                    r.version = "v3".into();
                }
                r
            })
            .collect(),
    );
    s
}

#[test]
fn r_picks_the_previous_version_and_enter_starts_a_replay_off_the_ui() {
    let mut s = with_versions();
    assert!(update(&mut s, Action::PickReplay).is_empty());
    let Overlay::Versions(p) = &s.overlay else {
        panic!("picker open")
    };
    assert_eq!((p.choices.len(), p.choice), (3, 1), "v2 is v3's baseline");
    let fx = update(&mut s, Action::Submit);
    assert_eq!(
        fx,
        [Effect::Replay {
            trace_id: format!("{:032x}", 0),
            versions: vec!["v2".into()]
        }]
    );
    assert_eq!(s.overlay, Overlay::None);
    assert_eq!(s.replays_running, 1);
    assert!(s.status.as_ref().unwrap().text.contains("replaying"));
}

#[test]
fn readonly_refuses_replay() {
    let mut s = with_versions();
    s.readonly = true;
    assert!(update(&mut s, Action::PickReplay).is_empty());
    assert_eq!(s.overlay, Overlay::None);
    assert!(s.status.as_ref().unwrap().text.contains("readonly"));
}

#[test]
fn a_finished_replay_opens_its_diff_and_a_failed_one_says_why() {
    let mut s = with_versions();
    let id = format!("{:032x}", 0);
    let outcome = |error: Option<&str>| crate::replay::Outcome {
        replay: "r:7".into(),
        trace_id: id.clone(),
        version: "v2".into(),
        target: "demo".into(),
        attempts: 1,
        latency_ms: Some(10.0),
        tokens_in: None,
        tokens_out: None,
        cost_usd: None,
        output: None,
        error: error.map(Into::into),
    };
    s.replays_running = 1;
    let fx = update(
        &mut s,
        Action::Replayed {
            trace_id: id.clone(),
            result: Ok(vec![outcome(None)]),
        },
    );
    assert_eq!(s.pane, Pane::Diff);
    assert!(s.diff.loading);
    assert!(matches!(
        loads(&fx)[..],
        [Request::Diff {
            a: crate::replay::ExecRef::Trace(_),
            b: crate::replay::ExecRef::Replay(7),
            ..
        }]
    ));
    s.pane = Pane::Traces;
    let fx = update(
        &mut s,
        Action::Replayed {
            trace_id: id.clone(),
            result: Ok(vec![outcome(Some("HTTP 503: down"))]),
        },
    );
    assert!(fx.is_empty());
    let st = s.status.as_ref().unwrap();
    assert!(
        st.error && st.text.contains("HTTP 503: down"),
        "{}",
        st.text
    );
    assert_eq!(s.replays_running, 0);
}

#[test]
fn n_and_shift_n_jump_between_changes_and_tabs_reset_the_scroll() {
    let mut s = state();
    s.pane = Pane::Diff;
    let mut d = crate::replay::diff::tests_support::empty();
    d.output = crate::replay::diff::text_diff("a\nb\nc\nd\ne\nf\n", "a\nB\nc\nd\nE\nf\n");
    let _ = update(
        &mut s,
        Action::Loaded(Loaded::Diff(crate::tui::data::DiffBox(Arc::new(d)))),
    );
    assert_eq!(s.diff.layout.changes, [1, 4]);
    let _ = update(&mut s, Action::DiffNext);
    assert_eq!(s.diff.scroll, 1);
    let _ = update(&mut s, Action::DiffNext);
    assert_eq!(s.diff.scroll, 4);
    let _ = update(&mut s, Action::DiffPrev);
    assert_eq!(s.diff.scroll, 1);
    let _ = update(&mut s, Action::DiffTab(1));
    assert_eq!(
        (s.diff.tab, s.diff.scroll),
        (crate::tui::views::diff::DiffTab::Spans, 0)
    );
}

#[test]
fn d_without_a_replay_says_so_and_stays_on_the_trace() {
    let mut s = with_versions();
    let fx = update(&mut s, Action::DiffLatest);
    assert!(matches!(loads(&fx)[..], [Request::Diff { .. }]));
    assert_eq!(s.pane, Pane::Diff);
    let _ = update(
        &mut s,
        Action::Loaded(Loaded::Failed {
            what: "diff",
            error: "trace 0 has no replay yet".into(),
        }),
    );
    assert_eq!(s.pane, Pane::Traces);
    assert!(s.status.as_ref().unwrap().text.contains("no replay yet"));
}

#[test]
fn sync_events_are_logged_and_a_page_reloads_the_overview() {
    let mut s = state();
    let page = crate::sync::Event::Page {
        source: "px".into(),
        records: 3,
        rows: 3,
        rejected: 0,
    };
    let fx = update(&mut s, Action::Synced(page));
    assert!(
        matches!(fx[..], [Effect::Load(Request::Overview { .. })]),
        "{fx:?}"
    );
    let idle = crate::sync::Event::CaughtUp {
        source: "px".into(),
    };
    assert!(update(&mut s, Action::Synced(idle)).is_empty());
    assert_eq!(s.sync_log.back().map(String::as_str), Some("px: caught up"));
    for _ in 0..300 {
        let _ = update(
            &mut s,
            Action::Synced(crate::sync::Event::CaughtUp {
                source: "px".into(),
            }),
        );
    }
    assert_eq!(s.sync_log.len(), 200, "the log keeps the latest lines only");
}

fn incidents_shown() -> State {
    let mut s = state();
    let fx = update(&mut s, Action::ShowPane(Pane::Incidents));
    assert!(matches!(loads(&fx)[..], [Request::Incidents { .. }]));
    let rows = vec![
        fixtures::incident(2, None),
        fixtures::incident(1, Some(9_999)),
    ];
    let fx = update(&mut s, Action::Loaded(Loaded::Incidents(rows.clone())));
    assert!(
        matches!(loads(&fx)[..], [Request::Timeline { incident: 2, .. }]),
        "the first incident's timeline: {fx:?}"
    );
    let t = fixtures::timeline(rows[0].clone());
    let fx = update(&mut s, Action::Loaded(Loaded::Timeline(Box::new(t))));
    assert!(fx.is_empty());
    s
}

#[test]
fn incidents_follow_the_selection_and_enter_walks_into_the_timeline() {
    let mut s = incidents_shown();
    assert_eq!(s.modes()[0], crate::tui::keymap::Mode::Incidents);
    // Moving asks for the next timeline; a late reply for the old one is dropped.
    let fx = update(&mut s, Action::Down);
    assert!(matches!(
        loads(&fx)[..],
        [Request::Timeline { incident: 1, .. }]
    ));
    let old = fixtures::timeline(fixtures::incident(2, None));
    update(&mut s, Action::Loaded(Loaded::Timeline(Box::new(old))));
    assert!(s.incidents.current().is_none());
    let t = fixtures::timeline(fixtures::incident(1, Some(9_999)));
    update(&mut s, Action::Loaded(Loaded::Timeline(Box::new(t))));
    assert_eq!(s.incidents.current().unwrap().incident.id, 1);
    // The same counts again: no reload of the timeline.
    let rows = vec![
        fixtures::incident(2, None),
        fixtures::incident(1, Some(9_999)),
    ];
    let fx = update(&mut s, Action::Loaded(Loaded::Incidents(rows)));
    assert!(fx.is_empty(), "{fx:?}");

    // Enter: into the timeline; the cursor walks its rows and stops at the last.
    update(&mut s, Action::Open);
    assert_eq!(s.modes()[0], crate::tui::keymap::Mode::Timeline);
    update(&mut s, Action::Bottom);
    assert_eq!(s.incidents.cursor, 3);
    update(&mut s, Action::Down);
    assert_eq!(s.incidents.cursor, 3);
    // Enter on the trace row opens its detail; Esc closes it, Esc again leaves the
    // timeline.
    update(&mut s, Action::Top);
    update(&mut s, Action::Down);
    let fx = update(&mut s, Action::Open);
    let id = format!("{:032x}", 1);
    assert_eq!(
        loads(&fx),
        [&Request::Detail {
            trace_id: id.clone()
        }]
    );
    assert_eq!(s.modes()[0], crate::tui::keymap::Mode::Detail);
    assert!(
        s.detail.is_none(),
        "the Traces pane's detail stays as it was"
    );
    update(&mut s, Action::Back);
    assert!(s.incidents.detail.is_none());
    assert_eq!(s.incidents.focus, crate::tui::state::Focus::Rows);
    update(&mut s, Action::Back);
    assert_eq!(s.incidents.focus, crate::tui::state::Focus::List);
}

#[test]
fn r_on_an_incident_trace_drafts_a_case_linked_to_the_incident() {
    let mut s = incidents_shown();
    update(&mut s, Action::Open);
    update(&mut s, Action::Down); // the trace row
    let fx = update(&mut s, Action::NewCase);
    assert_eq!(
        fx,
        [Effect::SuggestCase {
            trace_id: format!("{:032x}", 2),
            now_ns: 0,
            incident: Some(2),
        }]
    );
    // `r` on it picks a version for a replay, like in the Traces pane.
    s.overview.data = Some(OverviewData {
        versions: vec![version(1, "v2"), version(2, "v3")],
        ..Default::default()
    });
    update(&mut s, Action::PickReplay);
    assert!(matches!(&s.overlay, Overlay::Versions(p) if p.choices[p.baseline] == "v2"));
    update(&mut s, Action::Cancel);
    // The opened row is about no trace.
    update(&mut s, Action::Down);
    let fx = update(&mut s, Action::NewCase);
    assert!(fx.is_empty());
    assert!(s.status.as_ref().unwrap().error);
    // A replay row opens its diff against the trace; Esc in the Diff pane comes back.
    update(&mut s, Action::Down);
    let fx = update(&mut s, Action::Open);
    assert!(matches!(
        loads(&fx)[..],
        [Request::Diff {
            b: crate::replay::ExecRef::Replay(7),
            ..
        }]
    ));
    assert_eq!(s.pane, Pane::Diff);
    update(&mut s, Action::Back);
    assert_eq!(s.pane, Pane::Incidents);
    assert_eq!(s.incidents.focus, crate::tui::state::Focus::Rows);
}

#[test]
fn a_version_row_lists_its_traces_and_a_saved_case_reloads_the_counts() {
    let mut s = incidents_shown();
    s.overview.data = Some(OverviewData {
        versions: vec![version(1, "v2"), version(2, "v3")],
        ..Default::default()
    });
    update(&mut s, Action::Open);
    let fx = update(&mut s, Action::Open); // the version row
    assert_eq!(s.pane, Pane::Traces);
    assert_eq!(s.list.spec.to_string(), "v:v3");
    assert!(matches!(loads(&fx)[..], [Request::Rebase { .. }]));
    let fx = update(&mut s, Action::CaseSaved(Ok("evals/cases/x.json".into())));
    assert!(matches!(loads(&fx)[..], [Request::Incidents { .. }]));
}

#[test]
fn readonly_keeps_cases_and_gates_out_of_reach() {
    let mut s = incidents_shown();
    s.readonly = true;
    update(&mut s, Action::Open);
    update(&mut s, Action::Down);
    let hints = s.keymap.hints(&s.modes(), true);
    assert!(!hints.iter().any(|(k, _)| k == "R"), "{hints:?}");
    assert!(update(&mut s, Action::NewCase).is_empty());
    let gate = Action::RunGate {
        candidate: Some("v3".into()),
        baseline: None,
    };
    assert!(update(&mut s, gate).is_empty());
    assert!(s.gate.running.is_none());
    update(&mut s, Action::ShowPane(Pane::Gate));
    let hints = s.keymap.hints(&s.modes(), true);
    assert!(!hints.iter().any(|(k, _)| k == "g"), "{hints:?}");
}

fn gate_shown() -> State {
    use crate::gate::Decision;
    let mut s = state();
    update(&mut s, Action::ShowPane(Pane::Gate));
    let runs = vec![
        fixtures::gate_run(2, Some(Decision::Hold)),
        fixtures::gate_run(1, Some(Decision::Ship)),
    ];
    let fx = update(&mut s, Action::Loaded(Loaded::GateRuns(runs.clone())));
    assert!(matches!(loads(&fx)[..], [Request::GateRun { id: 2, .. }]));
    let detail = fixtures::gate_detail(runs[0].clone());
    update(&mut s, Action::Loaded(Loaded::GateRun(Box::new(detail))));
    s
}

#[test]
fn a_gate_case_drills_into_its_diff_when_its_replays_were_kept() {
    let mut s = gate_shown();
    assert_eq!(s.modes()[0], crate::tui::keymap::Mode::Gate);
    update(&mut s, Action::Open);
    assert_eq!(s.modes()[0], crate::tui::keymap::Mode::GateRun);
    // Baseline on the left, candidate on the right.
    let fx = update(&mut s, Action::Open);
    assert!(matches!(
        loads(&fx)[..],
        [Request::Diff {
            a: crate::replay::ExecRef::Replay(11),
            b: crate::replay::ExecRef::Replay(10),
            ..
        }]
    ));
    assert_eq!(s.pane, Pane::Diff);
    update(&mut s, Action::Back);
    assert_eq!(s.pane, Pane::Gate);
    // A case whose replays were not kept says so.
    update(&mut s, Action::Down);
    assert!(update(&mut s, Action::Open).is_empty());
    let status = s.status.clone().unwrap();
    assert!(
        status.error && status.text.contains("kept no replays"),
        "{}",
        status.text
    );
    update(&mut s, Action::Back);
    assert_eq!(s.gate.focus, crate::tui::state::Focus::List);
}

#[test]
fn a_console_gate_reports_progress_and_its_run_is_selected_when_done() {
    use crate::gate::Decision;
    use crate::tui::action::{GateDone, GateProgress};
    let mut s = gate_shown();
    // `g` runs the selected pair again.
    let fx = update(
        &mut s,
        Action::RunGate {
            candidate: None,
            baseline: None,
        },
    );
    assert_eq!(
        fx,
        [Effect::RunGate {
            candidate: "v3".into(),
            baseline: Some("v2".into()),
        }]
    );
    // One at a time.
    let again = Action::RunGate {
        candidate: Some("v2".into()),
        baseline: None,
    };
    assert!(update(&mut s, again).is_empty());
    assert!(s.status.as_ref().unwrap().error);
    let p = GateProgress {
        done: 3,
        total: 20,
        passed: 2,
        failed: 1,
        errors: 0,
    };
    update(&mut s, Action::GateProgress(p));
    assert_eq!(s.gate.running.as_ref().unwrap().progress, p);
    let done = GateDone {
        run_id: 3,
        candidate: "v3".into(),
        baseline: Some("v2".into()),
        decision: "hold".into(),
    };
    let fx = update(&mut s, Action::GateFinished(Ok(done)));
    assert!(s.gate.running.is_none());
    assert!(matches!(loads(&fx)[..], [Request::GateRuns]));
    assert!(s.status.as_ref().unwrap().text.contains("HOLD"));
    let runs = vec![
        fixtures::gate_run(1, Some(Decision::Ship)),
        fixtures::gate_run(3, None),
        fixtures::gate_run(2, Some(Decision::Hold)),
    ];
    let fx = update(&mut s, Action::Loaded(Loaded::GateRuns(runs)));
    assert_eq!(s.gate.selected, 1, "the new run is selected");
    assert!(matches!(loads(&fx)[..], [Request::GateRun { id: 3, .. }]));
    // A failed run says why and frees the slot.
    update(
        &mut s,
        Action::RunGate {
            candidate: Some("v9".into()),
            baseline: None,
        },
    );
    update(
        &mut s,
        Action::GateFinished(Err("no version \"v9\"".into())),
    );
    assert!(s.gate.running.is_none());
    assert!(s.status.as_ref().unwrap().text.contains("v9"));
}

#[test]
fn gate_without_runs_takes_the_newest_version_and_the_palette_names_both() {
    let mut s = state();
    assert!(
        update(
            &mut s,
            Action::RunGate {
                candidate: None,
                baseline: None
            }
        )
        .is_empty()
    );
    assert!(s.status.as_ref().unwrap().error, "no versions yet");
    s.overview.data = Some(OverviewData {
        versions: vec![version(1, "v2"), version(2, "v3")],
        ..Default::default()
    });
    let fx = update(
        &mut s,
        Action::RunGate {
            candidate: None,
            baseline: None,
        },
    );
    assert_eq!(
        fx,
        [Effect::RunGate {
            candidate: "v3".into(),
            baseline: None,
        }]
    );
    assert_eq!(s.pane, Pane::Gate);
    update(&mut s, Action::GateFinished(Err("x".into())));
    update(&mut s, Action::OpenPalette);
    for c in "gate v2 v1".chars() {
        update(&mut s, Action::Insert(c));
    }
    let fx = update(&mut s, Action::Submit);
    assert_eq!(
        fx,
        [Effect::RunGate {
            candidate: "v2".into(),
            baseline: Some("v1".into()),
        }]
    );
}

#[test]
fn clicks_select_incidents_and_timeline_rows_and_open_the_selection() {
    // 120×40: the list's rows start on screen row 3, the timeline's on row 8.
    let mut s = incidents_shown();
    let fx = update(&mut s, Action::Click { col: 10, row: 4 });
    assert_eq!(s.incidents.selected, 1);
    assert!(matches!(
        loads(&fx)[..],
        [Request::Timeline { incident: 1, .. }]
    ));
    let t = fixtures::timeline(fixtures::incident(1, Some(9_999)));
    update(&mut s, Action::Loaded(Loaded::Timeline(Box::new(t))));
    update(&mut s, Action::Click { col: 10, row: 9 });
    assert_eq!(s.incidents.focus, crate::tui::state::Focus::Rows);
    assert_eq!(s.incidents.cursor, 1);
    let fx = update(&mut s, Action::Click { col: 10, row: 9 });
    assert!(matches!(loads(&fx)[..], [Request::Detail { .. }]));
    assert!(s.incidents.detail.is_some());
}

#[test]
fn clicks_select_gate_runs_and_cases() {
    let mut s = gate_shown();
    let fx = update(&mut s, Action::Click { col: 10, row: 4 });
    assert_eq!(s.gate.selected, 1);
    assert!(matches!(loads(&fx)[..], [Request::GateRun { id: 1, .. }]));
    let detail = fixtures::gate_detail(fixtures::gate_run(1, Some(crate::gate::Decision::Ship)));
    update(&mut s, Action::Loaded(Loaded::GateRun(Box::new(detail))));
    update(&mut s, Action::Click { col: 10, row: 8 });
    assert_eq!(s.gate.focus, crate::tui::state::Focus::Rows);
    assert_eq!(s.gate.cursor, 0);
    let fx = update(&mut s, Action::Click { col: 10, row: 8 });
    assert!(matches!(loads(&fx)[..], [Request::Diff { .. }]));
}

// The Review pane.

use crate::review::sample::{Item, Sample};
use crate::review::store::TraceReview;

/// The Review pane on a drawn round of two traces, with a two-criterion rubric.
fn reviewing() -> State {
    let mut s = state();
    let mut config = crate::config::Config::default();
    let criterion = |name: &str, scale| crate::review::Criterion {
        name: name.into(),
        scale,
        description: String::new(),
    };
    config.rubric.criteria = vec![criterion("grounded", 5), criterion("tone", 3)];
    s.config = crate::tui::data::SharedConfig(Arc::new(config));
    let fx = update(&mut s, Action::ShowPane(Pane::Review));
    assert!(matches!(
        loads(&fx)[..],
        [Request::ReviewSample { round: 1, .. }]
    ));
    let items = (1..=2)
        .map(|pk| Item {
            trace: fixtures::trace_row(pk, pk),
            flags: Vec::new(),
            reserved: false,
        })
        .collect();
    let sample = Sample {
        round: 1,
        seed: 1,
        reviewer: "ana".into(),
        window_start: None,
        window_end: None,
        requested: 2,
        flagged_share: 0.4,
        skipped: 0,
        strata: Vec::new(),
        items,
    };
    let fx = update(
        &mut s,
        Action::Loaded(Loaded::ReviewSample(Box::new(sample))),
    );
    assert!(
        matches!(loads(&fx)[..], [Request::Detail { .. }]),
        "the trace's text"
    );
    s
}

fn review_write(fx: &[Effect]) -> &crate::tui::action::ReviewWrite {
    match fx {
        [Effect::Review(w)] => w,
        other => panic!("expected one review write: {other:?}"),
    }
}

#[test]
fn a_digit_scores_the_selected_criterion_and_moves_to_the_next() {
    let mut s = reviewing();
    let fx = update(&mut s, Action::Score(4));
    let w = review_write(&fx);
    let got = (
        w.trace_pk,
        w.scores[0].criterion.as_str(),
        w.scores[0].score,
    );
    assert_eq!((got, w.scores[0].scale), ((1, "grounded", 4), 5));
    assert_eq!(s.review.criterion, 1);
    // `tone` is scored 1..=3: a 4 is refused, naming the criterion.
    assert!(update(&mut s, Action::Score(4)).is_empty());
    let status = s.status.clone().unwrap();
    assert!(
        status.error && status.text.contains("tone: 4 is outside 1..=3"),
        "{status:?}"
    );
    // The writer's answer is what the pane shows.
    let stored = TraceReview {
        scores: [("grounded".to_string(), 4)].into(),
        note: None,
    };
    let result = Ok(stored.clone());
    update(
        &mut s,
        Action::Reviewed {
            trace_pk: 1,
            result,
        },
    );
    assert_eq!(s.review.reviews[&1], stored);
    // Moving on asks for the next trace's text.
    let fx = update(&mut s, Action::Down);
    assert!(matches!(loads(&fx)[..], [Request::Detail { trace_id }] if trace_id.ends_with('2')));
}

#[test]
fn a_note_before_the_first_score_goes_with_it() {
    let mut s = reviewing();
    update(&mut s, Action::EditNote);
    for c in "vague".chars() {
        update(&mut s, Action::Insert(c));
    }
    assert!(
        update(&mut s, Action::Submit).is_empty(),
        "kept until scored"
    );
    let fx = update(&mut s, Action::Score(2));
    assert_eq!(review_write(&fx).note.as_deref(), Some("vague"));
    let stored = TraceReview {
        scores: [("grounded".to_string(), 2)].into(),
        note: Some("vague".into()),
    };
    update(
        &mut s,
        Action::Reviewed {
            trace_pk: 1,
            result: Ok(stored),
        },
    );
    // Once scored, a note is stored at once.
    update(&mut s, Action::EditNote);
    update(&mut s, Action::Insert('!'));
    let fx = update(&mut s, Action::Submit);
    let w = review_write(&fx);
    assert!(w.scores.is_empty());
    assert_eq!(w.note.as_deref(), Some("vague!"));
}

#[test]
fn a_new_round_asks_for_the_next_and_readonly_refuses_scores() {
    let mut s = reviewing();
    let fx = update(&mut s, Action::NewRound);
    assert!(matches!(
        loads(&fx)[..],
        [Request::ReviewSample { round: 2, .. }]
    ));
    s.readonly = true;
    assert!(update(&mut s, Action::Score(3)).is_empty());
    assert!(s.status.as_ref().unwrap().error);
    assert!(update(&mut s, Action::EditNote).is_empty());
    assert_eq!(s.overlay, Overlay::None);
}
