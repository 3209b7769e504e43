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

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

#[test]
fn bootstrap_is_reproducible_and_covers_the_truth() {
    let fx = fixture();
    let (a, b) = (sorted(&sample(&fx, "lat_a")), sorted(&sample(&fx, "lat_b")));
    let one = bootstrap_quantile_ratio(&a, &b, 0.5, 1000, 7);
    assert_eq!(one, bootstrap_quantile_ratio(&a, &b, 0.5, 1000, 7));
    assert!(one.interval.low < one.interval.high);
    assert_eq!(one.resamples(), 1000);
    assert!(one.mc_low > 0.0 && one.mc_high > 0.0);
    // The same sample against itself: the interval holds 1.
    let same = bootstrap_quantile_ratio(&a, &a, 0.95, 1000, 7).interval;
    assert!(same.low < 1.0 && same.high > 1.0, "{same:?}");
    // A doubled sample: the interval holds 2 and not 1, and the p-values agree.
    let doubled: Vec<f64> = a.iter().map(|v| v * 2.0).collect();
    let twice = bootstrap_quantile_ratio(&doubled, &a, 0.5, 1000, 7);
    let iv = twice.interval;
    assert!(iv.low > 1.2 && iv.low < 2.0 && iv.high > 2.0, "{iv:?}");
    assert!(twice.p_above(1.2) < 0.01);
    assert!(twice.p_above(3.0) > 0.99);
    assert!(twice.p_below(3.0) < 0.01);
}

/// The order-statistic draw is the bootstrap: its replicate quantiles have the
/// distribution of quantiles of real resamples (compared on moments and deciles).
#[test]
fn order_statistic_draws_match_real_resamples() {
    use rand::{RngExt, SeedableRng};
    let fx = fixture();
    let x = sorted(&sample(&fx, "lat_b"));
    let n = x.len();
    let reps = 40_000;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    for q in [0.5, 0.95] {
        let mut brute: Vec<f64> = (0..reps)
            .map(|_| {
                let mut r: Vec<f64> = (0..n).map(|_| x[rng.random_range(0..n)]).collect();
                r.sort_by(f64::total_cmp);
                quantile(&r, q)
            })
            .collect();
        // Replicate quantiles of the candidate arm: a ratio against an arm of one
        // constant value (whose every resample quantile is 1).
        let one = vec![1.0; n];
        let boot = bootstrap_quantile_ratio(&x, &one, q, reps, 5);
        brute.sort_by(f64::total_cmp);
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let sd = {
            let m = mean(&brute);
            (brute.iter().map(|v| (v - m).powi(2)).sum::<f64>() / reps as f64).sqrt()
        };
        let draws = &boot.ratios;
        assert!(
            (mean(draws) - mean(&brute)).abs() < 0.05 * sd,
            "q {q}: mean {} vs {} (sd {sd})",
            mean(draws),
            mean(&brute)
        );
        for d in [0.1, 0.25, 0.5, 0.75, 0.9] {
            let (a, b) = (quantile(draws, d), quantile(&brute, d));
            assert!(
                (a - b).abs() < 0.1 * sd,
                "q {q}, decile {d}: {a} vs {b} (sd {sd})"
            );
        }
    }
}

#[test]
fn fieller_matches_its_formula_and_its_test() {
    let fx = fixture();
    for c in fx["fieller"].as_array().unwrap() {
        let (x, y) = (
            sample(&fx, c["x"].as_str().unwrap()),
            sample(&fx, c["y"].as_str().unwrap()),
        );
        let m = MeanRatio::of(&x, &y);
        let iv = m.interval.unwrap();
        close(iv.low, f(&c["low"]), 1e-10, "fieller low");
        close(iv.high, f(&c["high"]), 1e-10, "fieller high");
        let limit = f(&c["limit"]);
        close(m.p_above(limit), f(&c["p_above"]), 1e-9, "fieller p");
        // At the interval's lower end the one-sided p is exactly 2.5 %.
        close(m.p_above(iv.low), 0.025, 1e-9, "p at the end");
    }
}

#[test]
fn min_n_ok_is_where_no_change_clears_the_margin() {
    for c in fixture()["min_n_ok"].as_array().unwrap() {
        let n = min_n_ok_rate(f(&c["p"]), f(&c["margin"])).unwrap();
        assert_eq!(n, u(&c["n"]), "{c}");
    }
}

/// Exact: the median of every pairwise difference, sorted the slow way.
fn hl_brute(x: &[f64], y: &[f64]) -> f64 {
    let mut d: Vec<f64> = x
        .iter()
        .flat_map(|a| y.iter().map(move |b| a - b))
        .collect();
    median(&mut d)
}

#[test]
fn hodges_lehmann_selects_the_exact_median_without_sorting_every_pair() {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    // Small and odd sizes, ties, constant arms, and sizes that pass the direct cut-off.
    let sizes = [
        (1, 1),
        (1, 2),
        (2, 3),
        (7, 5),
        (40, 33),
        (150, 151),
        (300, 257),
    ];
    for (n, m) in sizes {
        for ties in [false, true] {
            let draw = |rng: &mut rand_chacha::ChaCha8Rng, k: usize| -> Vec<f64> {
                (0..k)
                    .map(|_| {
                        if ties {
                            rng.random_range(0..6) as f64
                        } else {
                            rng.random::<f64>() * 1000.0
                        }
                    })
                    .collect()
            };
            let (x, y) = (draw(&mut rng, n), draw(&mut rng, m));
            assert_eq!(
                hodges_lehmann(&x, &y),
                hl_brute(&x, &y),
                "{n}x{m} ties {ties}"
            );
        }
    }
    assert_eq!(hodges_lehmann(&[5.0; 300], &[2.0; 300]), 3.0);
    // Large enough that the selection rounds run (90,000 pairs > the direct cut-off).
    let x: Vec<f64> = (0..300)
        .map(|_| rng.random::<f64>().powi(3) * 50.0)
        .collect();
    let y: Vec<f64> = (0..301).map(|_| rng.random::<f64>() * 20.0).collect();
    assert_eq!(hodges_lehmann(&x, &y), hl_brute(&x, &y));
}

#[test]
fn mann_whitney_on_sorted_arms_is_the_same_test() {
    let fx = fixture();
    for (a, b) in [("lat_a", "lat_b"), ("ties_a", "ties_b")] {
        let (x, y) = (sample(&fx, a), sample(&fx, b));
        let m = mann_whitney(&x, &y);
        assert_eq!(m, mann_whitney_sorted(&sorted(&x), &sorted(&y)));
    }
    // Identical arms: no evidence at all.
    let x = sample(&fx, "ties_a");
    assert_eq!(mann_whitney(&x, &x).p_value, 1.0);
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
fn subsamples_are_without_replacement_sorted_and_only_above_the_cap() {
    let v: Vec<f64> = (0..10_000).map(f64::from).collect();
    let s = subsample_sorted(&v, 100, 3);
    assert_eq!(s.len(), 100);
    assert_eq!(s, subsample_sorted(&v, 100, 3));
    assert!(s.windows(2).all(|w| w[0] < w[1]), "distinct and sorted");
    assert!(matches!(
        subsample_sorted(&v, 10_000, 3),
        std::borrow::Cow::Borrowed(_)
    ));
    let p = Pairwise::of_sorted(&v, &v, 1);
    assert!(!p.subsampled && p.shift == 0.0);
}
