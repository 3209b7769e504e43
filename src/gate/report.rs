//! The gate's Markdown report: the verdict and why first, then the evidence.

use std::fmt::Write;

use super::verdict::{CaseRun, Decision, Delta, Outcome, Verdict};

/// Which versions were compared, with their fingerprint ids when known.
#[derive(Debug, Clone)]
pub struct Versions {
    pub candidate: String,
    pub candidate_fingerprint: Option<String>,
    pub baseline: Option<String>,
    pub baseline_fingerprint: Option<String>,
}

pub fn markdown(v: &Verdict, runs: &[CaseRun], versions: &Versions) -> String {
    let mut md = String::new();
    let decision = match v.decision {
        Decision::Ship => "SHIP",
        Decision::Hold => "HOLD",
    };
    let fp = |f: &Option<String>| f.as_deref().map_or(String::new(), |f| format!(" ({f})"));
    let _ = writeln!(
        md,
        "# Gate: {decision}: candidate {}{} vs baseline {}\n",
        versions.candidate,
        fp(&versions.candidate_fingerprint),
        versions
            .baseline
            .as_deref()
            .map_or("none".to_string(), |b| format!(
                "{b}{}",
                fp(&versions.baseline_fingerprint)
            )),
    );
    if v.reasons.is_empty() {
        let _ = writeln!(md, "Every rule passed.\n");
    } else {
        let _ = writeln!(md, "## Why\n");
        for r in &v.reasons {
            let _ = writeln!(md, "- {r}");
        }
        md.push('\n');
    }
    let _ = writeln!(md, "## Summary\n");
    let _ = writeln!(
        md,
        "- {} cases ({} must-pass)\n- candidate: {} pass, {} fail, {} error ({:.1}%)",
        v.cases,
        v.must_pass,
        v.candidate.pass,
        v.candidate.fail,
        v.candidate.error,
        v.candidate.pass_rate * 100.0
    );
    if let Some(b) = &v.baseline {
        let _ = writeln!(
            md,
            "- baseline: {} pass, {} fail, {} error ({:.1}%)",
            b.pass,
            b.fail,
            b.error,
            b.pass_rate * 100.0
        );
    }
    let _ = writeln!(md, "- median latency: {}", delta(&v.latency_ms, "ms", 0));
    let _ = writeln!(md, "- mean cost: {}\n", delta(&v.cost_usd, "USD", 6));
    for (title, ids) in [
        (
            "Regressions (pass on baseline, not on candidate)",
            &v.regressions,
        ),
        ("Fixes (fail on baseline, pass on candidate)", &v.fixes),
        ("Flaky across repeats", &v.flaky),
    ] {
        if ids.is_empty() {
            continue;
        }
        let _ = writeln!(md, "## {title}\n");
        for id in ids {
            let run = runs.iter().find(|r| &r.id == id);
            let _ = writeln!(
                md,
                "- {id} {}",
                run.map_or(String::new(), |r| format!("\"{}\"", r.title))
            );
        }
        md.push('\n');
    }
    if !v.risks.is_empty() {
        let _ = writeln!(md, "## Risks\n");
        for r in &v.risks {
            let _ = writeln!(md, "- {r}");
        }
        md.push('\n');
    }
    let _ = writeln!(md, "## Cases\n");
    let _ = writeln!(md, "| case | must-pass | candidate | baseline |");
    let _ = writeln!(md, "|---|---|---|---|");
    for r in runs {
        let _ = writeln!(
            md,
            "| {} {} | {} | {} | {} |",
            r.id,
            r.title.replace('|', "\\|"),
            if r.must_pass { "yes" } else { "" },
            cell(&r.candidate),
            cell(&r.baseline)
        );
    }
    md
}

fn cell(attempts: &[super::verdict::Attempt]) -> String {
    if attempts.is_empty() {
        return "-".into();
    }
    attempts
        .iter()
        .map(|a| match &a.outcome {
            Outcome::Pass => "pass".to_string(),
            Outcome::Fail { reasons } => format!(
                "FAIL: {}",
                reasons
                    .first()
                    .map_or("", String::as_str)
                    .replace('|', "\\|")
            ),
            Outcome::Error { error } => format!("ERROR: {}", error.replace('|', "\\|")),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn delta(d: &Delta, unit: &str, places: usize) -> String {
    let n = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.places$}"));
    match d.ratio {
        Some(r) => format!("{} → {} {unit} (×{r:.2})", n(d.baseline), n(d.candidate)),
        None => format!("{} → {} {unit}", n(d.baseline), n(d.candidate)),
    }
}

/// JUnit XML: one test suite per gate, one test case per regression case (its candidate
/// attempts); a failing case is a `<failure>`, one that could not run an `<error>`.
pub fn junit(v: &Verdict, runs: &[CaseRun], versions: &Versions) -> String {
    let failures = v.candidate.fail;
    let errors = v.candidate.error;
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"relops gate\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">",
        runs.len()
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">",
        xml(&format!(
            "gate {} vs {}: {}",
            versions.candidate,
            versions.baseline.as_deref().unwrap_or("none"),
            match v.decision {
                Decision::Ship => "ship",
                Decision::Hold => "hold",
            }
        )),
        runs.len()
    );
    for r in runs {
        let secs: f64 = r.candidate.iter().filter_map(|a| a.latency_ms).sum::<f64>() / 1000.0;
        let _ = write!(
            x,
            "    <testcase classname=\"relops.cases{}\" name=\"{} {}\" time=\"{secs:.3}\"",
            if r.must_pass { ".must_pass" } else { "" },
            xml(&r.id),
            xml(&r.title)
        );
        let error = r.candidate.iter().find_map(|a| match &a.outcome {
            Outcome::Error { error } => Some(error.clone()),
            _ => None,
        });
        let failed: Vec<String> = r
            .candidate
            .iter()
            .filter_map(|a| match &a.outcome {
                Outcome::Fail { reasons } => Some(reasons.join("; ")),
                _ => None,
            })
            .collect();
        if let Some(e) = error {
            let _ = writeln!(
                x,
                ">\n      <error message=\"{}\"/>\n    </testcase>",
                xml(&e)
            );
        } else if let Some(f) = failed.first() {
            let _ = writeln!(
                x,
                ">\n      <failure message=\"{}\"/>\n    </testcase>",
                xml(f)
            );
        } else {
            x.push_str("/>\n");
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

fn xml(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            '\n' => "&#10;".to_string(),
            c => c.to_string(),
        })
        .collect()
}
