//! The console rendered headless (ratatui `TestBackend`) on a small demo workspace,
//! loaded through the same requests and queries the background loader runs.

use std::path::PathBuf;
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

/// One demo for the whole file, in a directory named `demo` so the title is stable.
fn demo_config() -> &'static PathBuf {
    static DEMO: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, config) = DEMO.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let report = build(&DemoOptions {
            dir: tmp.path().join("demo"),
            seed: 7,
            traces: 3000,
            now: now(),
        })
        .expect("demo builds");
        (tmp, report.config_path)
    });
    config
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
    static SERVER: OnceLock<()> = OnceLock::new();
    SERVER.get_or_init(|| {
        let ws = Workspace::open(Some(demo_config()), None, false).unwrap();
        let addr = ws.config.demo.unwrap().server;
        let listener = std::net::TcpListener::bind(&addr).expect("demo port free");
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let l = tokio::net::TcpListener::from_std(listener).unwrap();
                relops::demo::serve(l).await.unwrap();
            });
        });
    });
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
