//! Figures for `bench/scrub.sh`: the CPU that secret scrubbing and escaping add to a
//! 300-case gate (two replays per case, each answer and error stored through the
//! scrubber, the Markdown, JSON and JUnit reports scrubbed and escaped once) and to a
//! 1M-span import (the trace text printed back by `relops traces` passes the CLI's
//! filter). Prints `scrub_gate SECONDS` and `scrub_import SECONDS`. Registers five secrets, as a workspace with sources, a replay target, a
//! notifier and a procedure would. Asserts nothing.
//!
//!   cargo run --release --example scrub_bench [CASES] [SPANS]

use std::hint::black_box;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let cases: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(300);
    let spans: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    for s in [
        "phx-token-3b1f9c0e6d",
        "sk-lf-5c2e8a71-0b9d-4f3e",
        "sk-proj-Q2x9vR7mT4kL8pN1",
        "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
        "deploy-token-77f1a2",
    ] {
        relops::secret::register(s);
    }
    relops::secret::register_basic("pk-lf-0f1e2d3c", "sk-lf-5c2e8a71-0b9d-4f3e");

    // The gate: an answer of demo length per replay, and a report line per case.
    let answer = "Your refund for order A-1042 has been issued and should reach your card \
                  within 5 business days. Anything else I can help with?";
    let mut report = String::new();
    for i in 0..cases {
        report.push_str(&format!(
            "| {i:08x} bench case {i} |  | pass; FAIL: max_latency_ms 1000: latency 1200 ms > \
             1000 ms | pass; pass |\n"
        ));
    }
    let started = Instant::now();
    for _ in 0..cases * 2 {
        black_box(relops::secret::scrub(black_box(answer)));
    }
    // Markdown, JSON and JUnit: three documents of about the report's size.
    for _ in 0..3 {
        black_box(relops::secret::scrub(black_box(&report)));
    }
    black_box(relops::text::markdown(black_box(&report)));
    let gate = started.elapsed().as_secs_f64();
    println!("scrub_gate {gate:.6}");

    // The import stores span text as it came (trace data is not a secret's place); what
    // it prints back through the CLI passes `shown`: a line per span of `relops traces`.
    let line = "0af7651916cd43dd8448eb211c80319c  v3  2026-11-20 11:59:58  1.24s  refund my order";
    let started = Instant::now();
    for _ in 0..spans {
        let clean = relops::secret::scrub(black_box(line));
        black_box(relops::text::printable(&clean));
    }
    let import = started.elapsed().as_secs_f64();
    println!("scrub_import {import:.6}");
}
