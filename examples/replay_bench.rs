//! Figures for `bench/replay.sh`: diff + layout of two 200 KB outputs, and 200 replays
//! at concurrency 16 against a local target that answers in 50 ms. Prints, asserts
//! nothing.

use std::time::{Duration, Instant};

use relops::replay::Replayer;
use relops::replay::diff::sample::execution;
use relops::tui::views::diff::{DiffTab, column_width, layout};
use relops::workspace::Workspace;

fn main() {
    diff_and_layout();
    replays();
}

/// About 200 KB of prose-like lines; `edit` changes a word every 37 lines, drops every
/// 101st line and inserts one every 89.
fn text(edit: bool) -> String {
    let words = [
        "refund", "order", "shipping", "warranty", "account", "status", "ticket",
    ];
    let mut out = String::new();
    let mut i = 0;
    while out.len() < 200_000 {
        i += 1;
        if edit && i % 101 == 0 {
            continue;
        }
        let w = words[i % words.len()];
        let mut line = format!(
            "{i:05} The customer asked about the {w} of item {} and was told to wait for email.",
            i * 7
        );
        if edit && i % 37 == 0 {
            line = line.replace("wait for", "expect an");
        }
        out.push_str(&line);
        out.push('\n');
        if edit && i % 89 == 0 {
            out.push_str("An inserted line that only the second output has.\n");
        }
    }
    out
}

fn diff_and_layout() {
    let (a, b) = (text(false), text(true));
    let mut best = Duration::MAX;
    let mut rows = 0;
    for _ in 0..5 {
        let (x, y) = (execution("a", &a, vec![]), execution("b", &b, vec![]));
        let started = Instant::now();
        let d = relops::replay::diff(x, y);
        let l = layout(&d, DiffTab::Output, column_width(158));
        best = best.min(started.elapsed());
        rows = l.rows.len();
    }
    println!(
        "diff+layout  {} KB vs {} KB  {rows} rows at 160 columns  best of 5: {:.1} ms  (aim < 50 ms)",
        a.len() / 1000,
        b.len() / 1000,
        best.as_secs_f64() * 1000.0
    );
}

fn replays() {
    let dir = tempfile::tempdir().unwrap();
    let report = relops::demo::build(&relops::demo::DemoOptions {
        dir: dir.path().join("demo"),
        seed: 1,
        traces: 200,
        now: relops::clock::now(),
    })
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        let app = axum::Router::new().route(
            "/{v}",
            axum::routing::post(|| async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                axum::Json(serde_json::json!({"output": "ok"}))
            }),
        );
        axum::serve(listener, app).await.unwrap();
    });
    let mut config = std::fs::read_to_string(&report.config_path).unwrap();
    config = config.replace("default_target = \"demo\"", "default_target = \"bench\"");
    config.push_str(&format!(
        "\n[replay.targets.bench]\nkind = \"http\"\nurl = \"http://{addr}/{{version}}\"\nconcurrency = 16\n"
    ));
    std::fs::write(&report.config_path, config).unwrap();
    let ws = Workspace::open(Some(&report.config_path), None, false).unwrap();
    let conn = relops::store::open_reader(&ws.db_path).unwrap();
    let trace = relops::store::query::traces_page(
        &conn,
        &Default::default(),
        relops::store::query::Seek::Offset(0),
        1,
    )
    .unwrap()
    .remove(0)
    .id;
    let replayer = Replayer::new(&ws, None).unwrap();
    let labels = vec!["v2".to_string(); 200];
    let started = Instant::now();
    let out = replayer.replay_blocking(&rt, &trace, &labels).unwrap();
    let took = started.elapsed().as_secs_f64() * 1000.0;
    let failed = out.iter().filter(|o| o.error.is_some()).count();
    let ideal = 200.0 * 50.0 / 16.0;
    println!(
        "replays      200 at concurrency 16, target 50 ms: {took:.0} ms incl. planning and storing \
         ({:.2}x of {ideal:.0} ms ideal; aim <= 1.2x), {failed} failed",
        took / ideal
    );
}
