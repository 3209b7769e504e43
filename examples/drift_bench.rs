//! Figures for `bench/drift_stats.sh`: the CPU of one full drift verdict (every signal,
//! exact statistics on the full arms, Holm across the family) on two arms of
//! `REQUESTS` requests each, drawn with a 20 % latency regression in the candidate.
//! Prints `relops_cpu_ms BEST` over five runs and writes the arms as JSON to `OUT` for
//! the scipy anchor. Asserts nothing.
//!
//!   cargo run --release --example drift_bench [REQUESTS] [OUT]

use std::collections::{BTreeMap, HashMap};

use rand::RngExt;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use relops::drift::arms::ArmData;
use relops::drift::catalogue::{Rate, Sample};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(30_000);
    let out = args.next();
    let base = arm(n, 1.0, 11);
    let cand = arm(n, 1.2, 12);
    let config = relops::config::Drift::default();
    let levels = relops::drift::levels(&config);
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let before = cpu_ms();
        let judged = relops::drift::judge_arms_with(&config, levels, &cand, &base);
        best = best.min(cpu_ms() - before);
        std::hint::black_box(judged);
    }
    println!("relops_cpu_ms {best:.1}");
    if let Some(path) = out {
        std::fs::write(
            path,
            serde_json::json!({"candidate": dump(&cand), "baseline": dump(&base)}).to_string(),
        )
        .expect("write the arms");
    }
}

/// Process CPU (user + system, all threads) in milliseconds.
fn cpu_ms() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    ms(u.ru_utime) + ms(u.ru_stime)
}

/// A lognormal draw with median `median` and shape `sigma`.
fn lognormal(rng: &mut ChaCha8Rng, median: f64, sigma: f64) -> f64 {
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    median * (sigma * z).exp()
}

fn arm(n: usize, slower: f64, seed: u64) -> ArmData {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut samples: HashMap<Sample, Vec<f64>> = HashMap::new();
    let mut push = |s: Sample, v: f64| samples.entry(s).or_default().push(v);
    let (mut refusals, mut tool_errors, mut empty) = (0, 0, 0);
    for _ in 0..n {
        push(Sample::Latency, lognormal(&mut rng, 1800.0 * slower, 0.5));
        push(Sample::Cost, lognormal(&mut rng, 0.00023, 0.3));
        push(Sample::TokensIn, lognormal(&mut rng, 1100.0, 0.2).round());
        push(Sample::TokensOut, lognormal(&mut rng, 180.0, 0.4).round());
        push(Sample::OutputChars, lognormal(&mut rng, 700.0, 0.4).round());
        push(Sample::RetrievalScore, rng.random_range(0.4..0.95));
        push(
            Sample::SpanLatency("llm"),
            lognormal(&mut rng, 1200.0 * slower, 0.5),
        );
        push(Sample::SpanLatency("tool"), lognormal(&mut rng, 150.0, 0.6));
        push(
            Sample::SpanLatency("retriever"),
            lognormal(&mut rng, 80.0, 0.4),
        );
        refusals += u64::from(rng.random::<f64>() < 0.03);
        tool_errors += u64::from(rng.random::<f64>() < 0.01);
        empty += u64::from(rng.random::<f64>() < 0.02);
    }
    let n64 = n as u64;
    let rates = HashMap::from([
        (Rate::Refusal, (refusals, n64)),
        (Rate::Safety, (refusals / 3, n64)),
        (Rate::ToolError, (tool_errors, n64)),
        (Rate::RetrievalEmpty, (empty, n64)),
    ]);
    let mut a = ArmData {
        requests: n64,
        rates,
        samples,
        tools: BTreeMap::from([
            ("lookup_order".to_string(), (tool_errors / 2, n64 / 2)),
            (
                "issue_refund".to_string(),
                (tool_errors - tool_errors / 2, n64 / 2),
            ),
        ]),
        series: BTreeMap::new(),
    };
    a.sort();
    a
}

fn dump(a: &ArmData) -> serde_json::Value {
    let samples: BTreeMap<String, &Vec<f64>> = a
        .samples
        .iter()
        .map(|(s, v)| (format!("{s:?}"), v))
        .collect();
    let rates: BTreeMap<String, (u64, u64)> = a
        .rates
        .iter()
        .map(|(r, c)| (format!("{r:?}"), *c))
        .collect();
    serde_json::json!({"samples": samples, "rates": rates})
}
