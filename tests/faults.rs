//! A real Arize Phoenix behind a fault-injecting proxy (tests/common/fault_proxy.rs):
//! 500s, 429s with Retry-After, stalls, cut bodies, repeated pages and, at the start of
//! the second pass, the previous pass's last page served again. ONE `sync --once` per
//! pass must complete and leave exactly what a clean sync leaves: the same span ids,
//! none lost, none doubled. The fault schedule is seeded.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::fault_proxy::{Fault, FaultProxy};
use common::peers::Phoenix;
use serde_json::{Value, json};

/// The pinned clock of the first pass; the second pass runs an hour later.
const T0: &str = "2026-11-20T12:00:00Z";
const T1: &str = "2026-11-20T13:00:00Z";
const TRACES: u64 = 40;
const SEED: u64 = 0x5eed_2026_1120;

fn ns(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap()
}

/// Trace `i` of this run: a root and two children, starting 4.5 min after trace
/// `i - 1`, from two hours before T0 to an hour after it (so each pass has its own).
fn turn(run: u64, i: u64) -> Value {
    let trace_id = format!("{run:016x}{i:016x}");
    let id = |k: u64| format!("{:016x}", run.wrapping_add(i * 3 + k));
    let t0 = ns(T0) - 7_200_000_000_000 + i as i64 * 270_000_000_000;
    let at = |ms: i64| t0 + ms * 1_000_000;
    let attrs = |kind: &str| json!({"service.version": "v1", "openinference.span.kind": kind});
    json!({"trace_id": trace_id, "spans": [
        {"span_id": id(0), "parent_id": null, "name": "support-turn", "start_ns": at(0),
         "end_ns": at(2500), "status": "ok", "attributes": attrs("CHAIN")},
        {"span_id": id(1), "parent_id": id(0), "name": "ChatCompletion", "start_ns": at(100),
         "end_ns": at(1200), "status": "ok", "attributes": attrs("LLM")},
        {"span_id": id(2), "parent_id": id(0), "name": "lookup_order", "start_ns": at(1300),
         "end_ns": at(1400), "status": if i.is_multiple_of(3) { "error" } else { "ok" },
         "attributes": attrs("TOOL")},
    ]})
}

fn write_config(dir: &Path, endpoint: &str) -> std::path::PathBuf {
    let config = dir.join("relops.toml");
    std::fs::write(
        &config,
        format!(
            "[workspace]\ncache = \"cache.db\"\n\n[[source]]\nname = \"phoenix\"\n\
             kind = \"phoenix\"\nendpoint = \"{endpoint}\"\nproject = \"faults\"\n\
             page_size = 4\nbackfill = \"1d\"\noverlap = \"5m\"\ntimeout_ms = 1500\n\
             retries = 5\nbackoff_ms = 50\n"
        ),
    )
    .unwrap();
    config
}

/// One `sync --once` at `now`, bounded in time; its exit code and report.
fn sync(config: &Path, now: &str) -> (i32, Value) {
    let out = common::relops(config)
        .env("RELOPS_NOW", now)
        .args(["sync", "--once", "--json"])
        .timeout(Duration::from_secs(180))
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "sync printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

/// Every (trace id, span id) in the cache, and how many span rows there are.
fn cached(config: &Path) -> (BTreeSet<(String, String)>, usize) {
    let conn = rusqlite::Connection::open(config.parent().unwrap().join("cache.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT t.trace_id, s.span_id FROM spans s JOIN traces t ON t.id = s.trace_pk")
        .unwrap();
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let n = rows.len();
    (rows.into_iter().collect(), n)
}

#[test]
#[cfg_attr(
    skip_phoenix,
    ignore = "Arize Phoenix is not installed (RELOPS_ALLOW_SKIP=1)"
)]
fn one_sync_per_pass_completes_under_faults_with_exactly_the_clean_data() {
    let phoenix = Phoenix::start();
    let started = Instant::now();
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        & 0x0fff_ffff_ffff_ffff;
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.json");
    let traces: Vec<Value> = (0..TRACES).map(|i| turn(run, i)).collect();
    std::fs::write(&feed, json!({ "traces": traces }).to_string()).unwrap();
    phoenix.feed("faults", &feed);

    // The clean sync: straight from Phoenix, two passes.
    let clean_dir = dir.path().join("clean");
    std::fs::create_dir(&clean_dir).unwrap();
    let clean = write_config(&clean_dir, &phoenix.url);
    assert_eq!(sync(&clean, T0).0, 0);
    let (after_first, _) = cached(&clean);
    assert_eq!(sync(&clean, T1).0, 0);
    let (want, want_rows) = cached(&clean);
    assert!(
        after_first.len() > 60 && want.len() > after_first.len(),
        "each pass brings its own spans: {} then {}",
        after_first.len(),
        want.len()
    );

    // Through the proxy: every fault kind early on, then 30 % of requests at random.
    let proxy = FaultProxy::start(&phoenix.url, SEED, 0.3, Duration::from_millis(2000));
    proxy.force(&[
        Fault::None,
        Fault::Error,
        Fault::Throttle,
        Fault::Stall(Duration::from_millis(2000)),
        Fault::CutWithLength,
        Fault::CutWithoutLength,
        Fault::Repeat,
    ]);
    let faulty_dir = dir.path().join("faulty");
    std::fs::create_dir(&faulty_dir).unwrap();
    let faulty = write_config(&faulty_dir, &proxy.addr);
    let (code, report) = sync(&faulty, T0);
    assert_eq!(code, 0, "one run completes: {report}");
    assert_eq!(cached(&faulty).0, after_first, "the first pass, exactly");
    assert!(report[0]["retried"].as_u64() > Some(0), "{report}");

    // The second pass opens with the first pass's last page, served again (no next
    // cursor): taken as "complete", it would move the window past the new spans.
    proxy.force(&[Fault::Repeat]);
    let before = proxy.seen().len();
    let (code, report) = sync(&faulty, T1);
    assert_eq!(code, 0, "one run completes: {report}");
    let (got, got_rows) = cached(&faulty);
    let lost: Vec<_> = want.difference(&got).collect();
    assert!(lost.is_empty(), "{} spans lost: {lost:?}", lost.len());
    assert_eq!(got, want, "nothing more either");
    assert_eq!(got_rows, want_rows, "no span doubled");

    let seen = proxy.seen();
    let faults = seen.iter().filter(|s| s.fault != Fault::None).count();
    let stale = &seen[before];
    eprintln!(
        "Phoenix behind the fault proxy: {} spans, {} requests, {faults} faults, {:.1} s",
        got.len(),
        seen.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(faults >= 8, "the schedule served faults: {seen:?}");
    assert!(
        stale.fault == Fault::Repeat && !stale.target.contains("cursor="),
        "the second pass's first page was the stale one: {stale:?}"
    );
}
