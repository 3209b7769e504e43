//! Fixtures are real answers of Prometheus 2.42 (`tests/fixtures/prometheus/`).

use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/prometheus/", $name))
    };
}

fn reply(code: u16, body: &str) -> Response {
    Response {
        status: StatusCode::from_u16(code).unwrap(),
        body: body.as_bytes().to_vec(),
    }
}

const URL: &str = "http://prom/api/v1/query_range";

fn read(signal: &str, body: &str) -> Result<Read, PullError> {
    let (data, _) = answer::<Data>(Some(signal), "q", URL, reply(200, body))?;
    read_result(signal, data, Some("version"))
}

fn refusal(code: u16, body: &str) -> PullError {
    answer::<Data>(
        Some("refusal_rate"),
        "sum(rate(x[5m]",
        URL,
        reply(code, body),
    )
    .expect_err("an error")
}

#[test]
fn a_matrix_becomes_samples_with_canonical_labels() {
    let r = read("requests", fixture!("query_range_matrix.json")).unwrap();
    assert_eq!((r.series, r.samples.len(), r.versioned), (2, 10, 0));
    let first = &r.samples[0];
    assert_eq!(
        first.labels,
        r#"{"__name__":"relops_requests_total","instance":"127.0.0.1:19101","job":"relops-fake","model":"gpt-4o","route":"/chat"}"#
    );
    assert_eq!(
        (first.ts_ns, first.value, first.version.as_deref()),
        (1_795_798_505_500_000_000, 45.0, None)
    );
    assert_eq!(r.samples[9].value, 14.0);
    assert!(r.notes.is_empty());
}

#[test]
fn the_version_label_names_the_version() {
    let r = read("refusal_ratio", fixture!("query_range_versions.json")).unwrap();
    let per_version: Vec<(Option<&str>, f64)> = r
        .samples
        .iter()
        .step_by(3)
        .map(|s| (s.version.as_deref(), s.value))
        .collect();
    assert_eq!(
        per_version,
        [(Some("v1"), 0.02), (Some("v2"), 0.05), (Some("v3"), 0.125)]
    );
    assert_eq!(r.versioned, 3);
    let (data, _) = answer::<Data>(
        None,
        "q",
        URL,
        reply(200, fixture!("query_range_versions.json")),
    )
    .unwrap();
    let unlabelled = read_result("x", data, None).unwrap();
    assert!(unlabelled.samples.iter().all(|s| s.version.is_none()));
}

#[test]
fn a_vector_and_a_scalar_give_one_point_per_series() {
    let v = read("latency", fixture!("query_vector.json")).unwrap();
    assert_eq!(
        (v.samples.len(), v.samples[0].value, v.samples[0].ts_ns),
        (1, 0.28, 1_795_798_512_000_000_000)
    );
    let s = read("half_depth", fixture!("query_scalar.json")).unwrap();
    assert_eq!(s.samples.len(), 1);
    assert_eq!(
        (s.samples[0].labels.as_str(), s.samples[0].value),
        ("{}", 3.5)
    );
    assert_eq!(s.samples[0].ts_ns, 1_795_798_862_431_000_000);
}

#[test]
fn a_string_result_is_refused_by_signal_name() {
    let err = read("greeting", fixture!("query_string.json"))
        .err()
        .unwrap();
    assert!(matches!(err, PullError::Refused(_)), "{err:?}");
    assert!(err.to_string().contains("signal greeting"), "{err}");
}

#[test]
fn nan_is_skipped_and_counted_while_infinities_are_kept() {
    let r = read("ratio", fixture!("query_range_nan_inf.json")).unwrap();
    assert_eq!(r.samples.len(), 9);
    assert!(r.samples.iter().all(|s| !s.value.is_nan()));
    let by_version = |v: &str| -> Vec<f64> {
        r.samples
            .iter()
            .filter(|s| s.version.as_deref() == Some(v))
            .map(|s| s.value)
            .collect()
    };
    assert_eq!(by_version("v1"), [f64::NEG_INFINITY; 3]);
    assert_eq!(by_version("v3"), [f64::INFINITY; 3]);
    assert!(by_version("v2").is_empty());
    assert_eq!(r.notes.len(), 1);
    assert!(
        r.notes[0].contains("signal ratio: 3 NaN points in 1 series skipped"),
        "{:?}",
        r.notes
    );
}

#[test]
fn values_that_are_not_numbers_and_native_histograms_are_noted() {
    let body = r#"{"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{"version":"v1"},"values":[[10,"1"],[11,"one"]]},
        {"metric":{"version":"v2"},"histograms":[[10,{"count":"3","sum":"1","buckets":[]}]]}]}}"#;
    let r = read("x", body).unwrap();
    assert_eq!(r.samples.len(), 1);
    assert_eq!(r.notes.len(), 2, "{:?}", r.notes);
    assert!(r.notes[0].contains("1 values are not numbers (first: \"one\")"));
    assert!(r.notes[1].contains("native histogram"));
}

#[test]
fn an_empty_result_is_no_samples_and_no_notes() {
    let r = read("x", fixture!("query_range_empty.json")).unwrap();
    assert!(r.samples.is_empty() && r.notes.is_empty());
}

#[test]
fn bad_promql_is_refused_naming_the_signal_and_the_query() {
    let err = refusal(400, fixture!("error_bad_query.json"));
    let PullError::Refused(m) = &err else {
        panic!("{err:?}")
    };
    assert!(m.starts_with("signal refusal_rate: "), "{m}");
    assert!(m.contains("\"sum(rate(x[5m]\""), "{m}");
    assert!(
        m.contains("bad_data): 1:26: parse error: unclosed left parenthesis"),
        "{m}"
    );
    assert!(
        m.ends_with("fix the PromQL in the source's `signals`"),
        "{m}"
    );
}

#[test]
fn execution_errors_and_too_many_points_are_refused_with_their_text() {
    let err = refusal(422, fixture!("error_execution.json"));
    assert!(matches!(err, PullError::Refused(_)), "{err:?}");
    assert!(err.to_string().contains("many-to-many matching"), "{err}");
    let err = refusal(400, fixture!("error_too_many_points.json"));
    assert!(err.to_string().contains("11,000 points"), "{err}");
    assert!(
        err.to_string()
            .ends_with("raise the source's `step` or narrow the query")
    );
}

#[test]
fn a_query_prometheus_gave_up_on_is_unavailable() {
    let body = r#"{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}"#;
    let err = refusal(503, body);
    assert!(matches!(err, PullError::Unavailable(_)), "{err:?}");
}

#[test]
fn a_wrong_endpoint_says_to_check_it() {
    let err = refusal(404, "404 page not found");
    assert!(err.to_string().contains("check `endpoint`"), "{err}");
    let err = refusal(401, "Unauthorized");
    assert!(err.to_string().contains("credentials"), "{err}");
}

#[test]
fn a_cut_body_is_malformed() {
    let full = fixture!("query_range_matrix.json");
    let err = answer::<Data>(Some("x"), "q", URL, reply(200, &full[..full.len() / 2]))
        .err()
        .unwrap();
    assert!(matches!(err, PullError::Malformed(_)), "{err:?}");
}

#[test]
fn warnings_are_passed_on() {
    let body = r#"{"status":"success","warnings":["remote read: store down"],
        "data":{"resultType":"matrix","result":[]}}"#;
    let (_, warnings) = answer::<Data>(Some("x"), "q", URL, reply(200, body)).unwrap();
    assert_eq!(warnings, ["remote read: store down"]);
}

#[test]
fn buildinfo_gives_the_version() {
    let (info, _) = answer::<BuildInfo>(
        None,
        "buildinfo",
        URL,
        reply(200, fixture!("buildinfo.json")),
    )
    .unwrap();
    assert_eq!(info.version, "2.42.0+ds");
}

#[test]
fn the_step_is_the_floor_raised_to_fit_the_backfill() {
    let d = |days: u64| Period::secs(days * 86_400);
    assert_eq!(choose_step(None, d(1)), 15);
    // 604,800 s / 10,999 intervals = 54.99 s: 11,000 points of 55 s cover the week.
    assert_eq!(choose_step(None, d(7)), 55);
    assert_eq!(choose_step(Some(Period::secs(1)), Period::secs(120)), 1);
    assert_eq!(choose_step(Some(Period::secs(300)), d(7)), 300);
    assert_eq!(choose_step(Some(Period::secs(0)), Period::secs(60)), 1);
    for days in [1, 7, 30, 365] {
        let step = choose_step(None, d(days));
        assert!(d(days).as_secs() as i64 / step < MAX_POINTS, "{days} d");
    }
}

fn span(now: i64) -> Span {
    Span {
        step: 60,
        backfill: 3600,
        overlap: 300,
        now,
    }
}

fn signals(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_first_pass_reaches_back_the_backfill_on_step_multiples() {
    let now = 1_795_798_862;
    let (planned, chunks) = Cursor::default().plan(&signals(&["a", "b"]), span(now));
    let until = 1_795_798_860;
    assert_eq!(planned.until, Some(until));
    assert_eq!(chunks.len(), 2);
    assert_eq!(
        (chunks[0].start, chunks[0].end),
        (1_795_795_320, until),
        "now - 1 h = ...262, aligned up to ...320"
    );
    let (next, more) = planned.advance(&chunks, span(now));
    assert!(!more);
    assert_eq!(next.until, None);
    assert_eq!(next.next["a"], until - 300);
    // The saved cursor reads back the same.
    let text = serde_json::to_string(&next).unwrap();
    assert_eq!(Cursor::read(Some(&text)).unwrap(), next);
    // The next pass re-reads the overlap and ends at the new now.
    let (_, again) = next.plan(&signals(&["a", "b"]), span(now + 120));
    assert_eq!((again[0].start, again[0].end), (until - 300, until + 120));
}

#[test]
fn a_long_range_is_read_in_chunks_of_at_most_11000_points() {
    let now = 1_795_798_862;
    let month_ago = now - 30 * 86_400;
    let mut cursor = Cursor {
        until: None,
        next: [("a".to_string(), month_ago)].into(),
    };
    let names = signals(&["a"]);
    let mut read: Vec<(i64, i64)> = Vec::new();
    let mut pages = 0;
    loop {
        let (planned, chunks) = cursor.plan(&names, span(now + pages));
        assert_eq!(chunks.len(), 1);
        read.push((chunks[0].start, chunks[0].end));
        let (next, more) = planned.advance(&chunks, span(now + pages));
        cursor = next;
        pages += 1;
        if !more {
            break;
        }
        assert!(
            cursor.until.is_some(),
            "the pass keeps its end across pages"
        );
    }
    // 43,200 points a minute apart: 11,000 + 11,000 + 11,000 + 10,200.
    assert_eq!(pages, 4);
    let points: Vec<i64> = read.iter().map(|(s, e)| (e - s) / 60 + 1).collect();
    assert_eq!(points, [11_000, 11_000, 11_000, 10_200]);
    for pair in read.windows(2) {
        assert_eq!(
            pair[1].0,
            pair[0].1 + 60,
            "no gap, no overlap inside a pass"
        );
    }
    assert_eq!(read.last().unwrap().1, 1_795_798_860);
}

#[test]
fn signals_new_to_the_config_start_at_the_backfill_and_gone_ones_are_dropped() {
    let now = 1_795_798_862;
    let cursor = Cursor {
        until: None,
        next: [
            ("old".to_string(), now - 600),
            ("kept".to_string(), now - 120),
        ]
        .into(),
    };
    let (planned, chunks) = cursor.plan(&signals(&["kept", "new"]), span(now));
    assert_eq!(planned.next.keys().collect::<Vec<_>>(), ["kept", "new"]);
    let starts: Vec<(&str, i64)> = chunks
        .iter()
        .map(|c| (c.signal.as_str(), c.start))
        .collect();
    assert_eq!(starts, [("kept", 1_795_798_800), ("new", 1_795_795_320)]);
}

#[test]
fn an_unreadable_cursor_is_an_error_not_a_restart() {
    let err = Cursor::read(Some("{oops")).unwrap_err();
    assert!(matches!(err, PullError::Malformed(_)), "{err:?}");
}

fn config(extra: &str) -> SourceConfig {
    toml::from_str(&format!(
        "name = 'prom'\nkind = 'prometheus'\nendpoint = 'http://127.0.0.1:9090'\n\
         signals = {{ refusal_rate = 'x' }}\n{extra}"
    ))
    .unwrap()
}

#[test]
fn building_checks_step_queries_and_endpoint() {
    assert!(Prometheus::new(&config("")).is_ok());
    let err = Prometheus::new(&config("step = '0s'")).err().unwrap();
    assert!(err.contains("step"), "{err}");
    let mut c = config("");
    c.signals.insert("blank".into(), " ".into());
    assert!(Prometheus::new(&c).err().unwrap().contains("signal blank"));
    c = config("");
    c.endpoint = Some("127.0.0.1:9090".into());
    assert!(Prometheus::new(&c).err().unwrap().contains("http://"));
    c = config("");
    c.endpoint = Some("http://h:9090/api/v1/".into());
    assert_eq!(Prometheus::new(&c).unwrap().api, "http://h:9090/api/v1");
}

#[test]
fn the_shipped_example_has_a_prometheus_source_that_builds() {
    let text = include_str!("../../../assets/relops.example.toml");
    let c =
        crate::config::Config::parse(text, std::path::Path::new("relops.example.toml")).unwrap();
    let prom = c
        .sources
        .iter()
        .find(|s| s.kind == super::super::SourceKind::Prometheus)
        .expect("a prometheus example");
    assert_eq!(prom.version_label.as_deref(), Some("version"));
    assert!(Prometheus::new(prom).is_ok());
}
