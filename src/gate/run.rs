//! Running a suite on the candidate and the baseline through a replay target: every
//! case × version × attempt is one call (at most the target's concurrency at once), each
//! answer judged by the case's assertions. Nothing is stored yet (see the module note).

use super::verdict::{Attempt, CaseRun, Outcome};
use crate::cases::{Loaded, live};
use crate::config::Config;
use crate::replay::Replayer;

/// Runs every case `repeat` times on `candidate` and (if given) `baseline`, at most
/// `concurrency` calls at once (and never more than the target's own limit).
pub async fn run(
    replayer: &Replayer,
    config: &Config,
    cases: &[Loaded],
    candidate: &str,
    baseline: Option<&str>,
    repeat: usize,
    concurrency: Option<usize>,
) -> Vec<CaseRun> {
    let limit = concurrency.map(|n| std::sync::Arc::new(tokio::sync::Semaphore::new(n.max(1))));
    let one = |l: &Loaded, label: String| {
        let input = l.case.input.clone();
        let case = l.case.clone();
        let limit = limit.clone();
        async move {
            let _permit = match &limit {
                Some(s) => s.clone().acquire_owned().await.ok(),
                None => None,
            };
            let rec = replayer.run_input(&label, &input).await;
            let outcome = match rec
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|r| live::observed(config, r))
            {
                Err(e) => Outcome::Error { error: e },
                Ok(o) => {
                    let failed: Vec<String> = live::evaluate(&case, &o)
                        .into_iter()
                        .filter(|(_, v)| !v.pass)
                        .map(|(a, v)| format!("{a}: {}", v.reason))
                        .collect();
                    if failed.is_empty() {
                        Outcome::Pass
                    } else {
                        Outcome::Fail { reasons: failed }
                    }
                }
            };
            let rec = rec.ok();
            Attempt {
                outcome,
                latency_ms: rec.as_ref().and_then(|r| r.latency_ms),
                cost_usd: rec.as_ref().and_then(|r| r.cost_usd),
            }
        }
    };
    let mut futures = Vec::new();
    for l in cases {
        for label in std::iter::once(candidate).chain(baseline) {
            for _ in 0..repeat.max(1) {
                futures.push(one(l, label.to_string()));
            }
        }
    }
    let mut done = futures::future::join_all(futures).await.into_iter();
    let sides = if baseline.is_some() { 2 } else { 1 };
    cases
        .iter()
        .map(|l| {
            let mut take = || (&mut done).take(repeat.max(1)).collect::<Vec<_>>();
            let candidate = take();
            let baseline = if sides == 2 { take() } else { Vec::new() };
            CaseRun {
                id: l.case.id.clone(),
                title: l.case.title.clone(),
                must_pass: l.case.must_pass,
                candidate,
                baseline,
            }
        })
        .collect()
}
