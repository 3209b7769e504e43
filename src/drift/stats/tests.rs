//! Every statistic against the scipy / statsmodels reference fixture.

use serde_json::Value;

use super::*;

fn fixture() -> Value {
    serde_json::from_str(include_str!("../../../tests/fixtures/drift_reference.json"))
        .expect("reference fixture is JSON")
}

fn f(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

fn u(v: &Value) -> u64 {
    v.as_u64().expect("count")
}

fn close(actual: f64, expected: f64, tol: f64, what: &str) {
    let err = (actual - expected).abs() / expected.abs().max(1e-12);
    assert!(
        err <= tol || (actual - expected).abs() < 1e-15,
        "{what}: {actual} vs reference {expected} (relative error {err:e})"
    );
}

fn sample(fx: &Value, name: &str) -> Vec<f64> {
    fx["samples"][name]
        .as_array()
        .expect("sample")
        .iter()
        .map(f)
        .collect()
}

#[test]
fn normal_cdf_and_ppf() {
    let fx = fixture();
    for c in fx["normal_cdf"].as_array().unwrap() {
        close(normal_cdf(f(&c["x"])), f(&c["cdf"]), 1e-12, "cdf");
    }
    for c in fx["normal_ppf"].as_array().unwrap() {
        close(normal_ppf(f(&c["p"])), f(&c["x"]), 1e-9, "ppf");
    }
}

#[test]
fn wilson_matches_statsmodels() {
    for c in fixture()["wilson"].as_array().unwrap() {
        let w = wilson(u(&c["x"]), u(&c["n"]));
        close(w.low, f(&c["low"]), 1e-9, "wilson low");
        close(w.high, f(&c["high"]), 1e-9, "wilson high");
    }
}

#[test]
fn newcombe_matches_statsmodels() {
    for c in fixture()["newcombe"].as_array().unwrap() {
        let i = newcombe(u(&c["x1"]), u(&c["n1"]), u(&c["x2"]), u(&c["n2"]));
        close(i.low, f(&c["low"]), 1e-9, "newcombe low");
        close(i.high, f(&c["high"]), 1e-9, "newcombe high");
    }
}

#[test]
fn fisher_matches_scipy() {
    for c in fixture()["fisher"].as_array().unwrap() {
        let p = fisher_exact(u(&c["x1"]), u(&c["n1"]), u(&c["x2"]), u(&c["n2"]));
        close(p, f(&c["p"]), 1e-9, &format!("fisher {c}"));
    }
}

#[test]
fn two_proportion_z_matches_statsmodels() {
    for c in fixture()["ztest"].as_array().unwrap() {
        let p = two_proportion_p(u(&c["x1"]), u(&c["n1"]), u(&c["x2"]), u(&c["n2"]));
        close(p, f(&c["p"]), 1e-9, "z-test");
    }
}

#[test]
fn mann_whitney_and_hodges_lehmann_match_scipy_and_numpy() {
    let fx = fixture();
    for c in fx["mann_whitney"].as_array().unwrap() {
        let (x, y) = (
            sample(&fx, c["x"].as_str().unwrap()),
            sample(&fx, c["y"].as_str().unwrap()),
        );
        let m = mann_whitney(&x, &y);
        close(m.u, f(&c["u"]), 1e-12, "U");
        close(m.p_value, f(&c["p"]), 1e-9, "MWU p");
        close(hodges_lehmann(&x, &y), f(&c["hl"]), 1e-12, "HL");
    }
}

#[test]
fn psi_matches_the_numpy_definition() {
    let fx = fixture();
    for c in fx["psi"].as_array().unwrap() {
        let (a, e) = (
            sample(&fx, c["actual"].as_str().unwrap()),
            sample(&fx, c["expected"].as_str().unwrap()),
        );
        close(psi(&a, &e), f(&c["psi"]), 1e-9, "psi");
    }
}

#[test]
fn holm_matches_statsmodels() {
    let fx = fixture();
    let p: Vec<f64> = fx["holm"]["p"].as_array().unwrap().iter().map(f).collect();
    let expected: Vec<f64> = fx["holm"]["adjusted"]
        .as_array()
        .unwrap()
        .iter()
        .map(f)
        .collect();
    for (a, e) in holm(&p).iter().zip(&expected) {
        close(*a, *e, 1e-12, "holm");
    }
}

#[test]
fn min_sample_matches_the_formula_in_scipy() {
    for c in fixture()["min_sample"].as_array().unwrap() {
        assert_eq!(
            min_sample_rate(f(&c["p"]), f(&c["delta"]), 0.05, 0.8),
            u(&c["n"]),
            "{c}"
        );
    }
}

#[test]
fn quantiles_interpolate_like_numpy() {
    let fx = fixture();
    let mut lat = sample(&fx, "lat_a");
    lat.sort_by(f64::total_cmp);
    for c in fx["quantile"].as_array().unwrap() {
        close(
            quantile(&lat, f(&c["q"])),
            f(&c["value"]),
            1e-12,
            "quantile",
        );
    }
}

#[test]
fn unsorted_statistics_agree_with_sorted_ones() {
    let fx = fixture();
    let lat = sample(&fx, "lat_a");
    let mut sorted = lat.clone();
    sorted.sort_by(f64::total_cmp);
    for stat in [
        Statistic::Mean,
        Statistic::P50,
        Statistic::P95,
        Statistic::P99,
    ] {
        let mut scratch = lat.clone();
        close(
            stat.of_unsorted(&mut scratch),
            stat.of(&sorted),
            1e-12,
            "statistic",
        );
    }
}

#[test]
fn bootstrap_is_reproducible_and_covers_the_truth() {
    let fx = fixture();
    let (a, b) = (sample(&fx, "lat_a"), sample(&fx, "lat_b"));
    let one = bootstrap_ratio(&a, &b, Statistic::P50, 1000, 7);
    assert_eq!(one, bootstrap_ratio(&a, &b, Statistic::P50, 1000, 7));
    assert!(one.interval.low < one.interval.high);
    // The same sample against itself: the interval holds 1.
    let same = bootstrap_ratio(&a, &a, Statistic::Mean, 1000, 7).interval;
    assert!(same.low < 1.0 && same.high > 1.0, "{same:?}");
    // A doubled sample: the interval holds 2 and not 1, and the p-values agree.
    let doubled: Vec<f64> = a.iter().map(|v| v * 2.0).collect();
    let twice = bootstrap_ratio(&doubled, &a, Statistic::Mean, 1000, 7);
    let iv = twice.interval;
    assert!(iv.low > 1.2 && iv.low < 2.0 && iv.high > 2.0, "{iv:?}");
    assert!(twice.p_above(1.2) < 0.01);
    assert!(twice.p_above(3.0) > 0.99);
    assert!(twice.p_below(3.0) < 0.01);
}

#[test]
fn cusum_finds_where_a_rate_rose() {
    // 2 % for ten buckets of 200 requests, then 8 %; a bucket's sd under no change is
    // sqrt(0.02 * 0.98 / 200) = 0.0099.
    let series: Vec<Option<f64>> = (0..20)
        .map(|t| Some(if t < 10 { 0.02 } else { 0.08 }))
        .collect();
    let threshold = 4.0 * (0.02f64 * 0.98 / 200.0).sqrt();
    assert_eq!(cusum_onset(&series, 0.02, 0.005, threshold), Some(10));
    let mut gappy = series.clone();
    gappy[3] = None;
    assert_eq!(cusum_onset(&gappy, 0.02, 0.005, threshold), Some(10));
    let flat = vec![Some(0.02); 20];
    assert_eq!(cusum_onset(&flat, 0.02, 0.005, threshold), None);
    assert_eq!(cusum_onset(&[], 0.02, 0.005, threshold), None);
}

#[test]
fn subsample_is_deterministic_and_bounded() {
    let v: Vec<f64> = (0..10_000).map(f64::from).collect();
    let s = subsample(&v, 100, 3);
    assert_eq!(s.len(), 100);
    assert_eq!(s, subsample(&v, 100, 3));
    assert_eq!(subsample(&v[..50], 100, 3).len(), 50);
}
