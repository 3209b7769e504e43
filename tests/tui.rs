//! The console rendered headless (ratatui `TestBackend`) on a small demo workspace,
//! loaded through the same requests and queries the background loader runs.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use relops::demo::{DemoOptions, build};
use relops::tui::{Headless, Pane};
use relops::workspace::Workspace;

/// The pinned clock: the demo's week ends here and ages are computed from it.
const NOW: &str = "2026-11-20T12:00:00Z";
const WIDTH: u16 = 160;
const HEIGHT: u16 = 45;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .with_timezone(&Utc)
}

/// A demo workspace in a directory named `demo` so the title is stable.
fn new_demo() -> (tempfile::TempDir, PathBuf) {
    demo_of(3000)
}

fn demo_of(traces: u64) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let report = build(&DemoOptions {
        dir: tmp.path().join("demo"),
        seed: 7,
        traces,
        now: now(),
    })
    .expect("demo builds");
    (tmp, report.config_path)
}

/// One demo for most of the file.
fn demo_config() -> &'static PathBuf {
    static DEMO: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DEMO.get_or_init(new_demo).1
}

/// The screen with unstable text cut.
fn screen(h: &Headless) -> String {
    stable(&h.render())
}

fn console(readonly: bool) -> Headless {
    let ws = Workspace::open(Some(demo_config()), None, readonly).unwrap();
    let now_ns = now().timestamp_nanos_opt().unwrap();
    Headless::open(&ws, WIDTH, HEIGHT, now_ns).expect("console opens")
}

/// Import ages depend on the wall clock at build time, not on the pinned one: the
/// `· imported … ago` segment is cut and the line padded back to its width.
fn stable(screen: &str) -> String {
    let cut = |line: &str| -> String {
        let Some(at) = line.find("· imported ") else {
            return line.to_string();
        };
        let end = line[at..].find(" ago ").map_or(line.len(), |e| at + e + 5);
        let width = line[at..end].chars().count();
        let rest = &line[end..];
        let (body, border) = rest.split_at(rest.rfind('│').unwrap_or(rest.len()));
        format!("{}{body}{}{border}", &line[..at], " ".repeat(width))
    };
    screen.lines().map(cut).collect::<Vec<_>>().join("\n")
}

#[test]
fn overview() {
    let h = console(false);
    let screen = screen(&h);
    assert!(screen.contains("p95 latency"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn traces_list() {
    let mut h = console(false);
    h.press("2");
    assert_eq!(h.state.pane, Pane::Traces);
    assert_eq!(h.state.list.count, Some(3000));
    insta::assert_snapshot!(screen(&h));
}

#[test]
fn trace_detail() {
    let mut h = console(false);
    h.press("2");
    // The first trace with a failed tool call shows the tool section.
    h.press("/");
    h.type_text("tool");
    h.press("enter");
    h.press("enter");
    let detail = h.state.detail.as_ref().expect("detail open");
    assert!(detail.data.is_some(), "detail loaded");
    let screen = screen(&h);
    assert!(screen.contains("Tool calls"), "{screen}");
    insta::assert_snapshot!(screen);
    h.press("esc");
    assert!(h.state.detail.is_none());
    assert_eq!(
        h.state.list.spec.to_string(),
        "tool",
        "back keeps the filter"
    );
}

#[test]
fn help_overlay() {
    let mut h = console(false);
    h.press("?");
    insta::assert_snapshot!(screen(&h));
    h.press("esc");
    assert!(!h.render().contains("Help · Esc closes"));
}

#[test]
fn filter_by_version_and_refusal() {
    let mut h = console(false);
    h.press("2");
    h.press("/");
    h.type_text("v:v3 refusal");
    h.press("enter");
    let list = &h.state.list;
    let n = list.count.expect("counted");
    assert!(n > 0 && n < 3000, "{n}");
    for i in 0..list.len().min(200) {
        let row = list.row(i).expect("loaded");
        assert_eq!(row.version, "v3");
        assert!(row.refusal);
    }
    insta::assert_snapshot!(screen(&h));
}

#[test]
fn palette_lists_matches() {
    let mut h = console(false);
    h.press(":");
    h.type_text("f");
    insta::assert_snapshot!(screen(&h));
    h.type_text("ilter error");
    h.press("enter");
    assert!(h.state.list.filter.errors);
    assert_eq!(h.state.pane, Pane::Traces);
}

#[test]
fn scrolling_to_the_bottom_loads_only_nearby_pages() {
    let mut h = console(false);
    h.press("2");
    h.press("G");
    let list = &h.state.list;
    assert_eq!(list.selected, 2999);
    assert!(list.selected_row().is_some(), "the last page is loaded");
    assert!(list.pages.len() <= 9, "{} pages held", list.pages.len());
    // Back up across a page boundary: the previous page comes by key.
    for _ in 0..300 {
        h.press("k");
    }
    assert!(h.state.list.selected_row().is_some());
    h.press("g");
    assert_eq!(h.state.list.selected, 0);
}

#[test]
fn drift_pane_judges_and_drills_into_traces() {
    let mut h = console(false);
    h.press("3");
    assert_eq!(h.state.pane, Pane::Drift);
    let report = h.state.drift.report.as_deref().expect("drift judged");
    assert_eq!(report.candidate.label, "v3");
    assert_eq!(
        report.baseline.as_ref().map(|b| b.label.as_str()),
        Some("v2")
    );
    insta::assert_snapshot!(screen(&h));
    // The first signal is the refusal rate: Enter lists v3's refusals.
    h.press("enter");
    assert_eq!(h.state.pane, Pane::Traces);
    assert_eq!(h.state.list.spec.to_string(), "v:v3 refusal");
    // `w` steps the window and recomputes.
    h.press("3");
    h.press("w");
    let report = h.state.drift.report.as_deref().expect("drift judged");
    assert_eq!(report.window, "3d");
    // `b` moves the baseline, never onto the candidate.
    h.press("b");
    let report = h.state.drift.report.as_deref().expect("drift judged");
    assert_eq!(
        report.baseline.as_ref().map(|b| b.label.as_str()),
        Some("v1")
    );
}

#[test]
fn the_tab_bar_never_runs_into_the_title_at_any_width() {
    let ws = Workspace::open(Some(demo_config()), None, true).unwrap();
    let now_ns = now().timestamp_nanos_opt().unwrap();
    let mut headers = Vec::new();
    for (w, h) in [(80, 24), (100, 30), (120, 40), (160, 48)] {
        let mut console = Headless::open(&ws, w, h, now_ns).unwrap();
        console.press("3");
        let screen = console.render();
        let header = screen.lines().next().unwrap().trim_matches('"').to_string();
        assert_eq!(header.chars().count(), usize::from(w), "{header}");
        // Every pane has its number, the active one its name, and the tabs end with
        // their separator before anything on the right begins.
        for n in 1..=9 {
            assert!(header.contains(&format!(" {n} ")), "{w}: tab {n}: {header}");
        }
        assert!(header.contains(" 3 Drift │"), "{w}: {header}");
        let tabs_end = header.rfind('│').unwrap();
        let right = header[tabs_end..].trim_start_matches('│');
        assert!(right.starts_with(' '), "{w}: collision: {header}");
        assert!(
            header.contains("READONLY"),
            "{w}: the badge stays: {header}"
        );
        assert!(header.contains(" ago"), "{w}: freshness stays: {header}");
        headers.push(format!("{w:>3}: {header}"));
    }
    insta::assert_snapshot!(headers.join("\n"));
}

#[test]
fn the_drift_table_at_80_columns_keeps_whole_signal_names() {
    let ws = Workspace::open(Some(demo_config()), None, false).unwrap();
    let now_ns = now().timestamp_nanos_opt().unwrap();
    let mut console = Headless::open(&ws, 80, 24, now_ns).unwrap();
    console.press("3");
    let screen = stable(&console.render());
    assert!(screen.contains("95% INTERVAL"), "{screen}");
    for name in [
        "refusal rate",
        "latency p50",
        "latency p95",
        "tool error rate",
    ] {
        assert!(screen.contains(name), "{name} cut at 80 columns: {screen}");
    }
    insta::assert_snapshot!(screen);
}

#[test]
fn readonly_shows_a_badge() {
    let h = console(true);
    let first_line = h.render().lines().next().unwrap_or_default().to_string();
    assert!(first_line.contains("READONLY"), "{first_line}");
}

#[test]
fn quit_keys() {
    let mut h = console(false);
    h.press("q");
    assert!(h.state.quit);
    let mut h = console(false);
    h.press("/");
    h.press("q");
    assert!(!h.state.quit, "q types into the filter prompt");
    h.press("ctrl-c");
    assert!(h.state.quit);
}

#[test]
fn empty_cache_explains_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("relops.toml");
    std::fs::write(&config, "[workspace]\ncache = \"cache.db\"\n").unwrap();
    let ws = Workspace::open(Some(&config), None, false).unwrap();
    drop(relops::store::open_writer(&ws.db_path).unwrap());
    let h = Headless::open(&ws, 100, 20, 0).unwrap();
    let screen = h.render();
    assert!(screen.contains("No traces in the cache yet"), "{screen}");
}

/// The demo workflow server of the shared demo, in this process, on its configured port.
fn demo_server() {
    serve(demo_config());
}

/// A demo's workflow server, once per demo, in this process on its configured port.
fn serve(config: &Path) {
    static STARTED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let ws = Workspace::open(Some(config), None, false).unwrap();
    let addr = ws.config.demo.unwrap().server;
    let mut started = STARTED.lock().unwrap();
    if started.contains(&addr) {
        return;
    }
    let listener = std::net::TcpListener::bind(&addr).expect("demo port free");
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            relops::demo::serve(l).await.unwrap();
        });
    });
    started.push(addr);
}

#[test]
fn replaying_a_refusal_opens_the_diff_pane() {
    demo_server();
    let mut h = console(false);
    h.press("2");
    h.press("/");
    h.type_text("v:v3 refusal refund");
    h.press("enter");
    h.press("r");
    let picker = screen(&h);
    assert!(picker.contains("v2  (baseline)"), "{picker}");
    insta::assert_snapshot!("replay_version_picker", picker);

    h.press("enter"); // the headless console runs the replay to completion
    assert_eq!(h.state.pane, Pane::Diff);
    let output = screen(&h);
    assert!(output.contains("refusal → answer"), "{output}");
    assert!(output.contains("tools.refund"), "{output}");
    insta::assert_snapshot!("diff_output", output);

    h.press("l");
    h.press("l");
    let tools = screen(&h);
    assert!(
        tools.contains("(not called)") && tools.contains("refund("),
        "{tools}"
    );
    insta::assert_snapshot!("diff_tool_calls", tools);

    h.press("l");
    insta::assert_snapshot!("diff_meta", screen(&h));

    // Back on the trace, `d` finds the same replay again.
    h.press("esc");
    h.press("d");
    assert_eq!(h.state.pane, Pane::Diff);
    assert!(h.state.diff.data.as_ref().unwrap().b.id.starts_with("r:"));

    // `R` in the Diff pane drafts a case from the diffed trace, with the good v2 answer
    // as its reference.
    h.press("R");
    let relops::tui::state::Overlay::CaseForm(f) = &h.state.overlay else {
        panic!("R in the Diff pane opens the case form");
    };
    let kinds: Vec<&str> = f.draft.case.assertions.iter().map(|a| a.kind()).collect();
    assert_eq!(kinds, ["not_refusal", "similar_to_reference"]);
    assert!(f.draft.case.reference.is_some());
    assert_eq!(
        Some(&f.draft.case.source.as_ref().unwrap().trace_id),
        h.state.diff.data.as_ref().unwrap().a.trace_id.as_ref()
    );
    h.press("esc");
}

#[test]
fn readonly_offers_no_replay() {
    let mut h = console(true);
    h.press("2");
    let s = screen(&h);
    assert!(!s.contains("replay the trace"), "{s}");
    h.press("r");
    assert_eq!(h.state.overlay, relops::tui::state::Overlay::None);
}

/// `R` on a trace: the form with suggested assertions; space drops one, Enter saves the
/// file into the suite and the status line shows where.
#[test]
fn r_turns_a_trace_into_a_case_file() {
    let mut h = console(false);
    h.press("2");
    h.press("/");
    h.type_text("v:v3 tool");
    h.press("enter");
    h.press("enter"); // the detail view: `R` works there as in the list
    assert!(h.state.detail.is_some());
    h.press("R");
    let form = screen(&h);
    assert!(form.contains("New case from trace"), "{form}");
    assert!(form.contains("[x] no_tool_errors"), "{form}");
    assert!(form.contains("[x] tool_called"), "{form}");
    assert!(form.contains("[x] must-pass"), "{form}");
    insta::assert_snapshot!("case_form", form);

    // Edit the title (printable keys type, even `q` and `j`), drop the first suggestion.
    h.press("backspace");
    h.type_text("3 (quick)");
    h.press("down");
    h.press("space");
    let relops::tui::state::Overlay::CaseForm(f) = &h.state.overlay else {
        panic!("the form stays open while editing");
    };
    assert!(
        f.draft.case.title.ends_with("v3 (quick)"),
        "{}",
        f.draft.case.title
    );
    assert!(!f.keep[0]);
    let kept = f.keep.iter().filter(|k| **k).count();
    h.press("enter");
    assert_eq!(h.state.overlay, relops::tui::state::Overlay::None);
    let status = h.state.status.clone().unwrap();
    assert!(!status.error, "{}", status.text);
    let path = status.text.strip_prefix("case saved: ").expect("a path");
    assert!(path.contains("evals/cases/"), "{path}");
    let case: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(case["must_pass"], true);
    assert_eq!(case["assertions"].as_array().unwrap().len(), kept);
    assert!(case["assertions"][0]["type"] != "no_tool_errors");
    assert_eq!(case["source"]["version"], "v3");
    // The cache's case index has it too: the Incidents and Gate panes join to it.
    let ws = Workspace::open(Some(demo_config()), None, true).unwrap();
    let conn = rusqlite::Connection::open(&ws.db_path).unwrap();
    let indexed: i64 = conn
        .query_row(
            "SELECT count(*) FROM cases WHERE id = ?1",
            [case["id"].as_str().unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexed, 1);
}

#[test]
fn readonly_offers_no_case() {
    let mut h = console(true);
    h.press("2");
    let s = screen(&h);
    assert!(!s.contains("regression case"), "{s}");
    h.press("R");
    assert_eq!(h.state.overlay, relops::tui::state::Overlay::None);
}

#[test]
fn esc_discards_the_case_draft() {
    let mut h = console(false);
    h.press("2");
    h.press("R");
    assert!(matches!(
        h.state.overlay,
        relops::tui::state::Overlay::CaseForm(_)
    ));
    h.press("esc");
    assert_eq!(h.state.overlay, relops::tui::state::Overlay::None);
    assert_eq!(h.state.status.as_ref().unwrap().text, "case discarded");
}

/// A workspace with two sources: one synced, one failing since its last pull.
#[test]
fn sources_pane_shows_state_lag_and_the_last_error() {
    use relops::store::{self, sync as state};
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("relops.toml");
    std::fs::write(
        &config,
        "[workspace]\nname = \"sources\"\ncache = \"cache.db\"\n\n\
         [[source]]\nname = \"phoenix\"\nkind = \"phoenix\"\nendpoint = \"http://127.0.0.1:6006\"\nproject = \"support\"\n\n\
         [[source]]\nname = \"metrics\"\nkind = \"prometheus\"\nendpoint = \"http://127.0.0.1:9090\"\nsignals = { up = \"up\" }\n",
    )
    .unwrap();
    let now_ns = now().timestamp_nanos_opt().unwrap();
    let min = 60_000_000_000;
    let mut writer = store::open_writer(&dir.path().join("cache.db")).unwrap();
    writer
        .transaction(|tx| {
            let progress = state::Progress {
                source: "phoenix",
                kind: "phoenix",
                cursor: "{}",
                high_water_ns: Some(now_ns - 3 * min),
                rows: 1204,
                rejected: 0,
                now_ns: now_ns - min,
            };
            state::save_progress(tx, &progress)
        })
        .unwrap();
    let refused = "HTTP 401: the credentials were refused; check the environment variables named in [source.auth]";
    state::record_error(
        writer.connection(),
        "metrics",
        "prometheus",
        refused,
        now_ns - 2 * min,
    )
    .unwrap();
    drop(writer);

    let ws = Workspace::open(Some(&config), None, false).unwrap();
    let mut h = Headless::open(&ws, WIDTH, 16, now_ns).expect("console opens");
    h.press("5");
    insta::assert_snapshot!(stable(&h.render()));
    h.press("1");
    assert!(
        h.render().contains("sources failing: metrics"),
        "{}",
        h.render()
    );
}

// Incidents and the gate. These panes read what the tests write (incidents, cases, gate
// runs), so they get demos of their own: the snapshots above never see them.

const MIN_NS: i64 = 60_000_000_000;
const HOUR_NS: i64 = 60 * MIN_NS;

fn now_ns() -> i64 {
    now().timestamp_nanos_opt().unwrap()
}

/// Trace ids of v3 (or another version) matching a condition, oldest first.
fn traces_where(conn: &rusqlite::Connection, label: &str, cond: &str, n: usize) -> Vec<String> {
    // `cond` is a constant of this file, never data.
    let sql = format!(
        "SELECT t.trace_id FROM traces t JOIN versions v ON v.id = t.version_id
         WHERE v.label = ?1 AND t.input LIKE '%refund%' AND {cond} ORDER BY t.start_ns LIMIT ?2"
    );
    let mut stmt = conn.prepare(&sql).unwrap();
    stmt.query_map(rusqlite::params![label, n as i64], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn version_pk(conn: &rusqlite::Connection, label: &str) -> i64 {
    relops::store::query::resolve_version(conn, label)
        .unwrap()
        .rowid
}

/// The ops demo: an open sev1 incident with two v3 refusals attached, a replay of one on
/// v2 and a must-pass case made for it; a closed incident; and two stored gate runs
/// (v3 vs v2 holds on that case, v2 vs v1 ships).
fn ops_config() -> &'static PathBuf {
    static OPS: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &OPS.get_or_init(|| {
        let (tmp, config) = new_demo();
        seed_ops(&config);
        (tmp, config)
    })
    .1
}

fn seed_ops(config: &Path) {
    use relops::gate::run::{CaseReplay, Side};
    use relops::gate::{Attempt, CaseRun, Outcome, decide, report, store as gate_store};
    use relops::{cases, incident, store};
    let ws = Workspace::open(Some(config), None, false).unwrap();
    let now = now_ns();
    let writer = store::open_writer(&ws.db_path).unwrap();
    let conn = writer.connection();
    let refusals = traces_where(conn, "v3", "t.refusal = 1", 2);
    assert_eq!(refusals.len(), 2, "the demo has v3 refund refusals");
    let older = traces_where(conn, "v2", "t.refusal = 0", 1);

    let closed = incident::open(
        conn,
        "slow order lookups",
        "sev3",
        "oncall",
        now - 96 * HOUR_NS,
    )
    .unwrap();
    incident::attach(conn, closed, &older, "oncall", now - 95 * HOUR_NS).unwrap();
    incident::close(conn, closed, "oncall", now - 72 * HOUR_NS).unwrap();
    let open = incident::open(
        conn,
        "v3 refuses refund requests",
        "sev1",
        "oncall",
        now - 3 * HOUR_NS,
    )
    .unwrap();
    incident::attach(conn, open, &refusals, "oncall", now - 170 * MIN_NS).unwrap();

    let trace = relops::store::query::trace_detail(conn, &refusals[0])
        .unwrap()
        .unwrap();
    let v2 = version_pk(conn, "v2");
    store::replays::insert(
        conn,
        &[store::replays::NewReplay {
            trace_pk: Some(trace.row.pk),
            case_id: None,
            input: None,
            version_pk: v2,
            target: "demo".into(),
            started_ns: now - 2 * HOUR_NS,
            latency_ms: Some(840.0),
            output: Some("Your refund has been issued.".into()),
            spans: None,
            tokens_in: Some(40),
            tokens_out: Some(12),
            cost_usd: Some(0.0004),
            error: None,
        }],
    )
    .unwrap();
    let opts = cases::suggest::Options {
        incident: Some(open),
        must_pass: true,
        now: relops::clock::rfc3339(now - HOUR_NS),
        ..Default::default()
    };
    let draft = cases::suggest::from_trace(conn, &ws.config, &refusals[0], &opts).unwrap();
    cases::save(&ws.suite_dir(), &draft.case).unwrap();

    // Two stored runs; the v3 one kept its replays (what a case drills into).
    let attempt = |outcome: Outcome, ms: f64| Attempt {
        outcome,
        latency_ms: Some(ms),
        cost_usd: Some(0.0004),
        replay_id: None,
    };
    let pass = || Outcome::Pass;
    let refused = || Outcome::Fail {
        reasons: vec!["not_refusal: the answer is a refusal".into()],
    };
    let v3_vs_v2 = vec![
        CaseRun {
            id: draft.case.id.clone(),
            title: draft.case.title.clone(),
            must_pass: true,
            candidate: vec![attempt(refused(), 900.0)],
            baseline: vec![attempt(pass(), 850.0)],
        },
        CaseRun {
            id: "0000beef".into(),
            title: "a case since removed".into(),
            must_pass: false,
            candidate: vec![attempt(
                Outcome::Error {
                    error: "timed out after 5000 ms".into(),
                    cause: relops::gate::Cause::Unreached,
                },
                5000.0,
            )],
            baseline: vec![attempt(pass(), 700.0)],
        },
    ];
    let record = |side: Side, output: &str, ms: f64| CaseReplay {
        case: 0,
        side,
        attempt: 0,
        record: store::replays::NewReplay {
            trace_pk: None,
            case_id: Some(draft.case.id.clone()),
            input: Some(draft.case.input.clone()),
            version_pk: 0,
            target: "demo".into(),
            started_ns: now - 30 * MIN_NS,
            latency_ms: Some(ms),
            output: Some(output.into()),
            spans: None,
            tokens_in: Some(40),
            tokens_out: Some(20),
            cost_usd: Some(0.0004),
            error: None,
        },
    };
    let v3_replays = [
        record(
            Side::Candidate,
            "I'm sorry, but I can't help with refunds in this chat.",
            900.0,
        ),
        record(
            Side::Baseline,
            "Your refund has been issued; you'll see it in 3-5 business days.",
            850.0,
        ),
    ];
    let v2_vs_v1: Vec<CaseRun> = v3_vs_v2
        .iter()
        .map(|r| CaseRun {
            candidate: vec![attempt(pass(), 800.0)],
            baseline: vec![attempt(pass(), 810.0)],
            ..r.clone()
        })
        .collect();
    let stored = [
        ("v2", "v1", v2_vs_v1, &[][..], now - 30 * HOUR_NS),
        ("v3", "v2", v3_vs_v2, &v3_replays[..], now - 30 * MIN_NS),
    ];
    for (c, b, mut runs, replays, at) in stored {
        let verdict = decide(&runs, true, &ws.config.gate);
        let versions = report::Versions {
            candidate: c.into(),
            candidate_fingerprint: None,
            baseline: Some(b.into()),
            baseline_fingerprint: None,
            fields: Vec::new(),
            audit_head: None,
        };
        gate_store::save(
            conn,
            &gate_store::Finished {
                candidate_pk: version_pk(conn, c),
                baseline_pk: Some(version_pk(conn, b)),
                started_ns: at,
                finished_ns: at + 12 * 1_000_000_000,
                suite: "evals/cases",
                target: "demo",
                repeat: 1,
                verdict: &verdict,
                replays,
            },
            &mut runs,
            |runs| report::markdown(&verdict, runs, &versions),
        )
        .unwrap();
    }
}

fn ops_console(readonly: bool) -> Headless {
    let ws = Workspace::open(Some(ops_config()), None, readonly).unwrap();
    Headless::open(&ws, WIDTH, HEIGHT, now_ns()).expect("console opens")
}

/// Presses `j` until the timeline's cursor is on the first attached trace.
fn to_first_trace(h: &mut Headless) {
    use relops::tui::data::incidents::EventKind;
    let at = h
        .state
        .incidents
        .current()
        .expect("timeline loaded")
        .events
        .iter()
        .position(|e| matches!(e.kind, EventKind::Trace { .. }))
        .expect("a trace on the timeline");
    for _ in 0..at {
        h.press("j");
    }
}

#[test]
fn incidents_pane_shows_the_timeline_and_turns_a_trace_into_a_linked_case() {
    let mut h = ops_console(false);
    h.press("6");
    assert_eq!(h.state.pane, Pane::Incidents);
    let list = screen(&h);
    for what in [
        "v3 refuses refund requests",
        "sev1",
        "v3 first seen",
        "refusal",
        "incident opened by oncall",
        "r:1 of",
        "must-pass",
    ] {
        assert!(list.contains(what), "{what}: {list}");
    }
    insta::assert_snapshot!("incidents_pane", list);

    // Into the timeline; Enter on a trace opens the trace detail, Esc comes back.
    h.press("enter");
    to_first_trace(&mut h);
    h.press("enter");
    let trace = h.state.incidents.detail.as_ref().expect("detail open");
    assert!(trace.data.is_some(), "detail loaded");
    assert!(screen(&h).contains("Spans"));
    h.press("esc");
    assert!(h.state.incidents.detail.is_none());
    insta::assert_snapshot!("incident_timeline_focused", screen(&h));

    // `R` drafts a case pre-linked to the incident (discarded: the suite stays as seeded).
    h.press("R");
    let relops::tui::state::Overlay::CaseForm(f) = &h.state.overlay else {
        panic!("R on a timeline trace opens the case form: {}", screen(&h));
    };
    assert_eq!(f.draft.case.incident, Some(2));
    assert!(f.draft.case.tags.contains(&"incident".to_string()));
    assert!(screen(&h).contains("for incident 2"));
    h.press("esc");

    // The closed incident sits below the open one.
    h.press("esc");
    h.press("j");
    let s = screen(&h);
    assert!(
        s.contains("slow order lookups") && s.contains("incident closed"),
        "{s}"
    );
}

#[test]
fn readonly_incidents_offer_no_case() {
    let mut h = ops_console(true);
    h.press("6");
    h.press("enter");
    to_first_trace(&mut h);
    let s = screen(&h);
    assert!(!s.contains("new regression case"), "{s}");
    h.press("R");
    assert_eq!(h.state.overlay, relops::tui::state::Overlay::None);
}

#[test]
fn gate_pane_lists_runs_and_a_runs_cases() {
    let mut h = ops_console(false);
    h.press("7");
    assert_eq!(h.state.pane, Pane::Gate);
    let runs = screen(&h);
    assert!(runs.contains("HOLD") && runs.contains("SHIP"), "{runs}");
    insta::assert_snapshot!("gate_pane", runs);
    h.press("enter");
    let cases = screen(&h);
    assert!(
        cases.contains("not_refusal: the answer is a refusal"),
        "{cases}"
    );
    assert!(cases.contains("a case since removed"), "{cases}");
    insta::assert_snapshot!("gate_run_cases", cases);
    // The must-pass case kept its replays: Enter diffs baseline against candidate, Esc
    // comes back to the cases.
    h.press("enter");
    assert_eq!(h.state.pane, Pane::Diff);
    let diff = screen(&h);
    assert!(diff.contains("answer → refusal"), "{diff}");
    insta::assert_snapshot!("gate_case_diff", diff);
    h.press("esc");
    assert_eq!(h.state.pane, Pane::Gate);
    // The removed case kept no replay on the candidate (it errored): said, not drilled.
    h.press("j");
    h.press("enter");
    assert_eq!(h.state.pane, Pane::Gate);
    assert!(h.state.status.as_ref().unwrap().error);
}

/// The bar as a run goes: driven with the progress actions the background task sends.
#[test]
fn gate_progress_bar_mid_run() {
    use relops::tui::{Action, GateProgress};
    let mut h = ops_console(false);
    h.press("7");
    h.state.gate.running = Some(relops::tui::state::GateRunning {
        candidate: "v3".into(),
        baseline: Some("v2".into()),
        progress: GateProgress::default(),
    });
    for done in 1..=7 {
        h.dispatch(Action::GateProgress(GateProgress {
            done,
            total: 20,
            passed: done.saturating_sub(2),
            failed: 1.min(done),
            errors: usize::from(done > 4),
        }));
    }
    let s = screen(&h);
    assert!(s.contains("7/20 calls") && s.contains("5 passed"), "{s}");
    insta::assert_snapshot!(s);
}

/// `:gate v3 v2` on the demo's own suite against the demo server: the run goes through
/// the replay target, is stored, shows in the list selected, holds on its must-pass
/// cases (listed first), and a failing one drills into its diff; `:gate v2 v1` ships.
#[test]
fn palette_gate_runs_against_the_demo_server() {
    static GATE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let config = &GATE.get_or_init(new_demo).1;
    serve(config);
    let ws = Workspace::open(Some(config), None, false).unwrap();
    let mut h = Headless::open(&ws, WIDTH, HEIGHT, now_ns()).unwrap();
    h.press(":");
    h.type_text("gate v3 v2");
    h.press("enter");
    assert_eq!(h.state.pane, Pane::Gate);
    assert!(h.state.gate.running.is_none(), "finished");
    let status = h.state.status.clone().unwrap();
    assert!(!status.error, "{}", status.text);
    assert!(status.text.contains("v3 vs v2 → HOLD"), "{}", status.text);
    let run = h.state.gate.selected_row().expect("the run is listed");
    assert!(
        run.must_pass > 0 && run.candidate_counts.fail > 0,
        "{run:?}"
    );
    assert!(!run.reasons.is_empty(), "a hold says why");
    // Must-pass first, failures first among them: the first case fails on v3.
    let detail = h.state.gate.current().expect("the run's cases");
    let first = &detail.results[0];
    assert!(first.must_pass, "{first:?}");
    assert_ne!(first.candidate, relops::gate::verdict::Standing::Pass);
    // The run kept its replays: Enter drills into the diff, Esc comes back.
    h.press("enter");
    h.press("enter");
    assert_eq!(h.state.pane, Pane::Diff);
    let diff = h.state.diff.data.as_ref().expect("the diff loaded");
    assert!(diff.a.id.starts_with("r:") && diff.b.id.starts_with("r:"));
    assert_eq!(
        (diff.a.version.as_str(), diff.b.version.as_str()),
        ("v2", "v3")
    );
    h.press("esc");
    assert_eq!(h.state.pane, Pane::Gate);

    h.press(":");
    h.type_text("gate v2 v1");
    h.press("enter");
    let status = h.state.status.clone().unwrap();
    assert!(status.text.contains("v2 vs v1 → SHIP"), "{}", status.text);
    assert_eq!(h.state.gate.runs.as_ref().map(Vec::len), Some(2));
    assert_eq!(h.state.gate.selected, 0, "the newest run is selected");
}

/// `relops` on a workspace under the pinned clock, as the operator's shell would run it.
fn cli(config: &Path, args: &[&str]) -> std::process::Output {
    assert_cmd::Command::cargo_bin("relops")
        .unwrap()
        .env("RELOPS_NOW", NOW)
        .env("RELOPS_OPERATOR", "ana")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn rollout_pane_fires_the_trigger_and_rolls_back_after_the_typed_confirmation() {
    let (_tmp, config) = demo_of(20_000);
    // No live feed here: the canary is judged over the seeded days, and the
    // verification gives up after two seconds, honestly.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("window = \"30m\"", "window = \"2d\"")
        .replace("within = \"3m\"", "within = \"2s\"");
    std::fs::write(&config, text).unwrap();
    serve(&config);
    assert!(
        cli(&config, &["runbook", "rehearse", "rollback"])
            .status
            .success()
    );
    let start = [
        "rollout",
        "start",
        "canary",
        "--release",
        "v3",
        "--previous",
        "v2",
    ];
    assert!(cli(&config, &start).status.success());
    cli(&config, &["rollout", "tick"]);
    let fired = cli(&config, &["rollout", "tick"]);
    let said = String::from_utf8_lossy(&fired.stdout);
    assert_eq!(fired.status.code(), Some(1), "{said}");

    let ws = Workspace::open(Some(&config), None, false).unwrap();
    let now_ns = now().timestamp_nanos_opt().unwrap();
    let mut h = Headless::open(&ws, WIDTH, 30, now_ns).expect("console opens");
    let overview = screen(&h);
    assert!(
        overview.contains("TRIGGERED v3"),
        "banner on every pane: {overview}"
    );
    h.press("8");
    let pane = screen(&h);
    for want in [
        "TRIGGERED refusal spike: refusal_rate 0.",
        "over 0.04 (n ",
        "triggered 0s ago · approvals",
        "R rolls back to v2 with rollback, tested",
        "● canary 5%",
        "[!] refusals hold",
        "2 in a row (fires at 2)",
    ] {
        assert!(pane.contains(want), "{want:?} in {pane}");
    }
    insta::assert_snapshot!("rollout_triggered", pane);
    // At 80x24 the checklist stacks above the procedures: no row is cut.
    let mut narrow = Headless::open(&ws, 80, 24, now_ns).expect("console opens");
    narrow.press("8");
    let small = screen(&narrow);
    for want in [
        "[!] refusals hold",
        "refusal_rate",
        "2 in a row (fires at 2)",
        "Procedures",
    ] {
        assert!(small.contains(want), "{want:?} at 80x24: {small}");
    }
    insta::assert_snapshot!("rollout_triggered_80x24", small);

    h.press("R");
    h.type_text("v3");
    h.press("enter");
    assert!(
        screen(&h).contains("not confirmed"),
        "a wrong version runs nothing"
    );
    h.press("R");
    insta::assert_snapshot!("rollout_confirm", screen(&h));
    h.type_text("v2");
    h.press("enter"); // the headless console runs the procedure to its end
    let after = screen(&h);
    for want in [
        "ROLLED BACK",
        "ok   1. switch the active version",
        "HTTP 200: {\"stable\":\"v2\",\"canary\":null}",
        "rolled back",
        "NOT recovered",
    ] {
        assert!(after.contains(want), "{want:?} in {after}");
    }
    let audit = cli(&config, &["audit", "verify"]);
    assert!(audit.status.success(), "{audit:?}");
}

#[test]
fn readonly_rollout_pane_hides_and_refuses_actions() {
    let mut h = console(true);
    h.press("8");
    let pane = screen(&h);
    assert!(pane.contains("No rollout in this cache"), "{pane}");
    assert!(!pane.contains("roll back (type"), "no action hints: {pane}");
    h.press("R");
    assert_eq!(h.state.overlay, relops::tui::state::Overlay::None);
}

// The Review pane: the test that scores gets a demo of its own (scores leave traces out
// of later rounds); the reviewer is pinned so the title is stable.

fn reviewer(h: &mut Headless) {
    h.state.review.reviewer = "ana".into();
}

#[test]
fn review_pane_scores_a_round_and_turns_a_trace_into_a_case() {
    let (_tmp, config) = new_demo();
    let ws = Workspace::open(Some(&config), None, false).unwrap();
    let mut h = Headless::open(&ws, WIDTH, HEIGHT, now_ns()).unwrap();
    reviewer(&mut h);
    h.press("9");
    assert_eq!(h.state.pane, Pane::Review);
    let sample = h.state.review.sample.clone().expect("a round drawn");
    assert_eq!(sample.items.len(), 12);
    let versions: std::collections::BTreeSet<&str> = sample
        .items
        .iter()
        .map(|i| i.trace.version.as_str())
        .collect();
    assert_eq!(versions.into_iter().collect::<Vec<_>>(), ["v1", "v2", "v3"]);
    let flagged = sample.items.iter().filter(|i| !i.flags.is_empty()).count();
    assert!(flagged >= 5, "{flagged} refusals or errors of 12");
    assert!(h.state.review.current().is_some(), "the first trace's text");
    insta::assert_snapshot!("review_pane", screen(&h));

    // Four digits score the four criteria in turn; a note; then re-score the first.
    for key in ["4", "5", "3", "2"] {
        h.press(key);
    }
    h.press("n");
    h.type_text("cites the order");
    h.press("enter");
    for _ in 0..3 {
        h.press("h");
    }
    h.press("2");
    let pk = sample.items[0].trace.pk;
    let stored = &h.state.review.reviews[&pk];
    let scores: Vec<(&str, u8)> = stored
        .scores
        .iter()
        .map(|(c, n)| (c.as_str(), *n))
        .collect();
    assert_eq!(
        scores,
        [("grounded", 2), ("policy", 2), ("resolved", 5), ("tone", 3)]
    );
    assert_eq!(stored.note.as_deref(), Some("cites the order"));
    insta::assert_snapshot!("review_pane_scored", screen(&h));

    // What the weekly memo reads.
    let conn = relops::store::open_reader(&ws.db_path).unwrap();
    let averages = relops::review::store::averages(&conn, 0, i64::MAX).unwrap();
    assert_eq!(averages.len(), 4);
    assert!(
        averages
            .iter()
            .all(|a| a.version == sample.items[0].trace.version && a.scores == 1)
    );

    // `R`: a regression case from the trace under review.
    h.press("R");
    let relops::tui::state::Overlay::CaseForm(form) = &h.state.overlay else {
        panic!("the case form opens");
    };
    let source = form
        .draft
        .case
        .source
        .as_ref()
        .expect("drafted from a trace");
    assert_eq!(source.trace_id, sample.items[0].trace.id);
    h.press("esc");

    // `N`: the next round leaves the scored trace out.
    h.press("N");
    let next = h.state.review.sample.as_deref().expect("round two");
    assert_eq!((next.round, next.skipped), (2, 1));
    assert!(next.items.iter().all(|i| i.trace.pk != pk));
}

#[test]
fn readonly_review_hides_scoring_and_digits_switch_panes() {
    let mut h = console(true);
    reviewer(&mut h);
    h.press("9");
    let s = screen(&h);
    assert!(s.contains("Rubric (readonly)"), "{s}");
    assert!(!s.contains("score the criterion"), "{s}");
    h.press("n");
    assert_eq!(h.state.overlay, relops::tui::state::Overlay::None);
    h.press("4");
    assert_eq!(h.state.pane, Pane::Diff);
}
